/**
 * `npm run bench:indexer`: how fast the indexer backfills, and how far it trails the head.
 *
 * Starts a hardhat node with the contracts deployed (test/service/chain-harness.ts), generates
 * N events — PaymentChannels deposits from the node's accounts #5–#19, packed 50 per block
 * (automine off, JSON-RPC batches, `hardhat_mine`), and a share of `VoucherSettled` events from
 * `settleBatch` calls of 250 signed vouchers each — then:
 *
 * 1. **Backfill**: an indexer (CONFIRMATIONS=0, no event handlers) starts on a fresh Postgres
 *    schema and applies everything from the deployment block; figures: events per second from
 *    start to caught up (target ≥ 10,000/s), and what one `eth_getLogs` over the whole range
 *    costs on its own (the node's share).
 * 2. **Head lag**: while the indexer follows the head, single deposits are sent (automine: the
 *    block is mined when the send returns) and Postgres is polled every 2 ms for the event;
 *    figures: p50/p95/max of mined → stored, for each polling interval asked.
 *
 * Figures are printed, never asserted (the machine is shared and noisy).
 *
 * Flags: --events 20000 --voucher-share 0.1 --samples 40 --poll-ms 500,50 --batch-blocks 2000 --keep (schema)
 * Env: DATABASE_URL (default postgres://127.0.0.1:5432/aicp), LOG_LEVEL.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Interface, JsonRpcProvider, Wallet, ZeroAddress, toBeHex, type InterfaceAbi } from "ethers";
import { loadConfig } from "../src/config.js";
import { createDb, dropSchema, ensureDatabase, migrate } from "../src/db/index.js";
import { createLogger } from "../src/logger.js";
import { createMetrics } from "../src/metrics.js";
import { connectEvm } from "../src/chain/evm/chain.js";
import { encodeSettleBatch } from "../src/chain/evm/vouchers.js";
import { voucherDomain, VOUCHER_TYPES, type SignedVoucher } from "../src/protocol/eip712.js";
import { createIndexer, type Indexer } from "../src/indexer/indexer.js";
import { createEvmSource } from "../src/chain/evm/source.js";
import { createEventRegistry } from "../src/settlement/events.js";
import { checkChainInvariants } from "../src/chain/evm/invariants.js";
import { HARDHAT_KEYS, startChain, type TestChain } from "../test/service/chain-harness.js";

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "20000" },
    "voucher-share": { type: "string", default: "0.1" },
    samples: { type: "string", default: "40" },
    "poll-ms": { type: "string", default: "500,50" },
    "batch-blocks": { type: "string", default: "2000" },
    keep: { type: "boolean", default: false },
  },
  strict: true,
});
const N = Number(flags.events);
const VOUCHER_SHARE = Number(flags["voucher-share"]);
const SAMPLES = Number(flags.samples);
const POLLS = flags["poll-ms"].split(",").map(Number);
const BATCH_BLOCKS = Number(flags["batch-blocks"]);
if (!Number.isInteger(N) || N < 1 || !(VOUCHER_SHARE >= 0 && VOUCHER_SHARE < 1) || !Number.isInteger(SAMPLES) || POLLS.some((x) => !(x >= 10)))
  throw new Error("bad flags: --events N≥1 --voucher-share [0,1) --samples N --poll-ms a,b (≥ 10)");

const BURST = 50; // transactions per block: EDR's mempool gets slow beyond a few dozen pending
const VOUCHERS_PER_BATCH = 250; // ~13 M gas, under the 16.7 M transaction gas cap
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function rpcBatch(url: string, calls: { method: string; params: unknown[] }[]): Promise<unknown[]> {
  const body = calls.map((c, i) => ({ jsonrpc: "2.0", id: i, ...c }));
  const res = (await (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).json()) as { result?: unknown; error?: { message: string } }[];
  return res.map((r) => {
    if (r.error) throw new Error(r.error.message);
    return r.result!;
  });
}

/** Native deposits from the node's unlocked accounts #5–#19, BURST per block. */
async function deposits(chain: TestChain, channels: string, iface: Interface, n: number): Promise<void> {
  const accounts = (await chain.provider.send("eth_accounts", [])) as string[];
  const from = accounts.slice(5);
  await chain.provider.send("evm_setAutomine", [false]);
  try {
    for (let i = 0; i < n; i += BURST) {
      const calls = [];
      for (let j = i; j < Math.min(n, i + BURST); j++) {
        const value = 10n ** 15n + BigInt(j);
        calls.push({ method: "eth_sendTransaction", params: [{ from: from[j % from.length], to: channels, value: toBeHex(value), gas: toBeHex(120_000), data: iface.encodeFunctionData("deposit", [ZeroAddress, value]) }] });
      }
      await rpcBatch(chain.url, calls);
      await chain.mine(1);
      if ((i / BURST) % 40 === 0) process.stdout.write(`\r  deposits ${fmt(i)}/${fmt(n)}`);
    }
  } finally {
    await chain.provider.send("evm_setAutomine", [true]);
  }
  process.stdout.write(`\r  deposits ${fmt(n)}/${fmt(n)}\n`);
}

/** `n` vouchers from the payers #5–#9 to fresh payees, settled VOUCHERS_PER_BATCH per transaction. */
async function vouchers(chain: TestChain, provider: JsonRpcProvider, channels: string, iface: Interface, n: number): Promise<void> {
  const payers = [5, 6, 7, 8, 9].map((i) => new Wallet(HARDHAT_KEYS[i]!, provider));
  const domain = voucherDomain(chain.deployment.chainId, channels);
  const submitter = (await chain.provider.send("eth_accounts", []))[1] as string;
  for (let i = 0; i < n; i += VOUCHERS_PER_BATCH) {
    const batch: SignedVoucher[] = [];
    for (let j = i; j < Math.min(n, i + VOUCHERS_PER_BATCH); j++) {
      const payer = payers[j % payers.length]!;
      const v = { payer: payer.address, payee: `0x${randomBytes(20).toString("hex")}`, token: ZeroAddress, cumulativeAmount: 1000n + BigInt(j) };
      batch.push({ ...v, signature: await payer.signTypedData(domain, VOUCHER_TYPES, v) });
    }
    batch.sort((a, b) => a.payer.localeCompare(b.payer));
    const { addresses, entries } = encodeSettleBatch(batch);
    const [hash] = await rpcBatch(chain.url, [{ method: "eth_sendTransaction", params: [{ from: submitter, to: channels, gas: toBeHex(16_000_000), data: iface.encodeFunctionData("settleBatch", [addresses, entries]) }] }]);
    await provider.waitForTransaction(hash as string);
    process.stdout.write(`\r  vouchers ${fmt(Math.min(n, i + VOUCHERS_PER_BATCH))}/${fmt(n)}`);
  }
  process.stdout.write("\n");
}

const t0 = Date.now();
console.log(`bench:indexer — ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}; ${fmt(N)} events (${Math.round(VOUCHER_SHARE * 100)}% VoucherSettled)`);
const chain = await startChain();
const provider = new JsonRpcProvider(chain.url, chain.deployment.chainId, { staticNetwork: true, cacheTimeout: -1 });
const schema = `bench_indexer_${process.pid}_${randomBytes(3).toString("hex")}`;
const config = loadConfig({ ...process.env, DATABASE_SCHEMA: schema, CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "0", INDEXER_BATCH_BLOCKS: String(BATCH_BLOCKS), LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn" });
const log = createLogger(config.LOG_LEVEL, "bench-indexer");
let db: ReturnType<typeof createDb> | undefined;
let indexer: Indexer | undefined;
const evm = connectEvm(config);
try {
  console.log(`hardhat node at ${chain.url} (${((Date.now() - t0) / 1000).toFixed(1)} s); generating events…`);
  const channels = evm.address("PaymentChannels");
  const iface = new Interface(chain.deployment.contracts["PaymentChannels"]!.abi as InterfaceAbi);
  const nVouchers = Math.floor(N * VOUCHER_SHARE);
  const g0 = Date.now();
  await deposits(chain, channels, iface, N - nVouchers);
  if (nVouchers) await vouchers(chain, provider, channels, iface, nVouchers);
  const head = await provider.getBlockNumber();
  const first = Math.min(...["TaskEscrow", "DisputeResolver", "PaymentChannels", "ReputationAnchor"].map((c) => chain.deployment.contracts[c]!.blockNumber));
  console.log(`generated in ${((Date.now() - g0) / 1000).toFixed(1)} s; blocks ${first}…${head}`);

  // The node's share: one eth_getLogs over the whole range, raw.
  const addresses = ["TaskEscrow", "DisputeResolver", "PaymentChannels", "ReputationAnchor"].map((c) => evm.address(c as "TaskEscrow"));
  const l0 = performance.now();
  const logs = (await rpcBatch(chain.url, [{ method: "eth_getLogs", params: [{ fromBlock: toBeHex(first), toBlock: toBeHex(head), address: addresses }] }]))[0] as unknown[];
  const getLogsMs = performance.now() - l0;

  await ensureDatabase(config.DATABASE_URL, schema);
  await migrate(config.DATABASE_URL, schema, log);
  db = createDb({ url: config.DATABASE_URL, schema, poolSize: 4, log });
  const ctx = { config, log, db, metrics: createMetrics() };

  // 1. Backfill into a fresh schema.
  indexer = createIndexer(ctx, { source: createEvmSource(evm, ctx.log), registry: createEventRegistry() });
  const b0 = performance.now();
  await indexer.start();
  while ((indexer.status().applied ?? -1) < head) {
    if (indexer.status().lastError) throw new Error(`indexer failed: ${indexer.status().lastError}`);
    await sleep(2);
  }
  const backfillMs = performance.now() - b0;
  const stored = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM chain_events")).rows[0]!.n);
  const ledgerRows = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM ledger_entries")).rows[0]!.n);
  const violations = await checkChainInvariants(db, evm);
  console.log("\nbackfill (CONFIRMATIONS=0, no handlers, INDEXER_BATCH_BLOCKS=" + BATCH_BLOCKS + ")");
  console.log(`  events stored          ${fmt(stored)} (node returned ${fmt(logs.length)}), ledger entries ${fmt(ledgerRows)}`);
  console.log(`  start → caught up      ${fmt(backfillMs)} ms`);
  console.log(`  events per second      ${fmt((stored / backfillMs) * 1000)}   (target ≥ 10,000)`);
  console.log(`  of which the node      ${fmt(getLogsMs)} ms for one eth_getLogs of every log (${fmt((logs.length / getLogsMs) * 1000)} logs/s alone)`);
  console.log(`  invariants             ${violations.length ? violations.map((v) => v.message).join("; ") : "hold (ledger = on-chain balances)"}`);
  await indexer.stop();

  // 2. Head lag while following.
  const sender = new Wallet(HARDHAT_KEYS[9]!, provider);
  console.log(`\nhead lag (CONFIRMATIONS=0; mined → in chain_events; ${SAMPLES} single deposits, sent at random phases)`);
  for (const pollMs of POLLS) {
    indexer = createIndexer(ctx, { source: createEvmSource(evm, ctx.log), registry: createEventRegistry(), pollMs });
    await indexer.start();
    const lags: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      await sleep(Math.random() * pollMs);
      const tx = await sender.sendTransaction({ to: channels, value: 1000n + BigInt(i), data: iface.encodeFunctionData("deposit", [ZeroAddress, 1000n + BigInt(i)]) });
      const mined = performance.now(); // automine: the block exists when the send returns
      const hash = tx.hash.toLowerCase();
      for (;;) {
        const r = await db.query("SELECT 1 FROM chain_events WHERE tx_hash = $1", [hash]);
        if (r.rowCount) break;
        await sleep(2);
      }
      lags.push(performance.now() - mined);
    }
    await indexer.stop();
    console.log(`  INDEXER_POLL_MS=${String(pollMs).padEnd(5)} p50 ${fmt(pct(lags, 50))} ms   p95 ${fmt(pct(lags, 95))} ms   max ${fmt(Math.max(...lags))} ms`);
  }
  indexer = undefined;
} finally {
  await indexer?.stop();
  await db?.close();
  if (!flags.keep) await dropSchema(config.DATABASE_URL, schema).catch(() => undefined);
  else console.log(`schema kept: ${schema}`);
  evm.close();
  provider.destroy();
  await chain.stop();
}
