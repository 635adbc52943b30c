/**
 * `npm run bench:settle`: what batch settlement of channel vouchers costs on-chain and how long
 * a voucher waits for its confirmed settlement. Prints figures, asserts nothing.
 *
 * Setup: a hardhat node with the contracts deployed (test/service/chain-harness.ts) mining a
 * block every --block-ms (interval mining: a settlement waits for a real block), and a
 * coordinator in this process (`startCoordinator`, role all: API, workers, sender, indexer) on a
 * fresh Postgres schema with CONFIRMATIONS=--confirmations. Payers are funded random wallets
 * that deposit native currency into PaymentChannels from their own wallet; each has 10 payees.
 * Delivered channel-route tasks are inserted directly into Postgres (documented shortcut: the
 * auctions are not what is measured), `--rounds` per pair, delivered one round at a time; after
 * each round every payer pays every payee with a real EIP-712 voucher through
 * POST /v1/vouchers/batch, so each pair's latest voucher covers `rounds` micro-payments.
 *
 * 1. **Gas**, for batches of 10, 100 and 500 pairs (--sizes): one settleBatch recorded on demand
 *    after the last round; figures: gas of the transaction, per settled voucher (pair) and per
 *    micro-payment (task paid), next to a single-voucher settleBatch for reference.
 * 2. **Latency**, the natural path: a second coordinator with SETTLE_INTERVAL_MS=--interval-ms
 *    settles by its repeatable job; figures: from each voucher's acceptance to its settlement
 *    being applied by the indexer after the confirmation depth (p50/p95/max), and where the time
 *    went (waiting for the job, recorded → sent, sent → confirmed, confirmed → applied).
 *
 * Flags: --sizes 10,100,500 --rounds 5 --block-ms 1000 --confirmations 1 --interval-ms 2000
 *        --latency-pairs 50 --keep (keep the schema)
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/aicp), REDIS_URL.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Contract, JsonRpcProvider, Wallet, parseEther, type InterfaceAbi } from "ethers";
import { secp256k1 } from "@noble/curves/secp256k1";
import { loadConfig } from "../src/config.js";
import { dropSchema } from "../src/db/index.js";
import { startCoordinator, type Coordinator } from "../src/app/coordinator.js";
import { domainSeparator, voucherDigest } from "../src/channels/verify.js";
import { HARDHAT_KEYS, startChain, type TestChain } from "../test/service/chain-harness.js";

const { values: flags } = parseArgs({
  options: {
    sizes: { type: "string", default: "10,100,500" },
    rounds: { type: "string", default: "5" },
    "block-ms": { type: "string", default: "1000" },
    confirmations: { type: "string", default: "1" },
    "interval-ms": { type: "string", default: "2000" },
    "latency-pairs": { type: "string", default: "50" },
    keep: { type: "boolean", default: false },
  },
  strict: true,
});
const SIZES = flags.sizes.split(",").map((s) => Number(s.trim()));
if (SIZES.some((n) => !Number.isInteger(n) || n < 1 || n > 2000)) throw new Error("--sizes: integers 1..2000");
const num = (k: keyof typeof flags) => {
  const v = Number(flags[k]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${k} must be a non-negative integer`);
  return v;
};
const ROUNDS = Math.max(1, num("rounds"));
const BLOCK_MS = num("block-ms");
const CONFIRMATIONS = num("confirmations");
const INTERVAL_MS = Math.max(50, num("interval-ms"));
const LATENCY_PAIRS = Math.max(1, num("latency-pairs"));

const DATABASE_URL = process.env["DATABASE_URL"] || "postgres://postgres@127.0.0.1:5432/aicp";
const SCHEMA = `bench_settle_${process.pid}`;
const PREFIX = `aicp-bench-settle-${process.pid}-${Date.now().toString(36)}`;
const ZERO = "0x0000000000000000000000000000000000000000";
const PRICE = 1_000n;
const PAYEES_PER_PAYER = 10;
/** The agents paid: every payer pays the same ten (as buyers of a marketplace share its agents). */
const PAYEES = Array.from({ length: PAYEES_PER_PAYER }, () => `0x${randomBytes(20).toString("hex")}`);

const fmt = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "–");
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};

type Pair = { payer: Wallet; payee: string };

async function main() {
  console.log(`bench:settle — sizes ${SIZES.join(", ")} pairs × ${ROUNDS} micro-payments each; blocks every ${BLOCK_MS} ms, ${CONFIRMATIONS} confirmation(s)`);
  const chain: TestChain = await startChain();
  const provider = new JsonRpcProvider(chain.url, chain.deployment.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
  const admin = new Wallet(HARDHAT_KEYS[0], provider);
  const pc = chain.deployment.contracts["PaymentChannels"]!;
  const channels = new Contract(pc.address, pc.abi as InterfaceAbi, provider);
  const sep = domainSeparator(chain.deployment.chainId, pc.address);
  const env = (interval: number, maxPairs: number) =>
    loadConfig({
      ...process.env,
      PORT: "0",
      LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn",
      DATABASE_URL,
      DATABASE_SCHEMA: SCHEMA,
      QUEUE_PREFIX: PREFIX,
      CHAIN_RPC_URL: chain.url,
      DEPLOYMENTS_FILE: chain.deploymentsFile,
      CONFIRMATIONS: String(CONFIRMATIONS),
      INDEXER_POLL_MS: "100",
      SETTLE_INTERVAL_MS: String(interval),
      SETTLE_MAX_PAIRS: String(maxPairs),
      RATE_LIMIT_PER_MINUTE: "0",
    });
  let c: Coordinator | undefined;
  try {
    // Setup runs on automine; measurements on interval mining.
    c = await startCoordinator(env(24 * 3600_000, 2000), "all");
    // Reassigned when the second coordinator starts (same schema, its own pool).
    let db = c.ctx.db;

    /** N pairs: ⌈N/10⌉ funded payers with a deposit each, 10 payees each. */
    async function makePairs(n: number): Promise<Pair[]> {
      const payers: Wallet[] = [];
      for (let i = 0; i < Math.ceil(n / PAYEES_PER_PAYER); i++) {
        const w = new Wallet(`0x${randomBytes(32).toString("hex")}`, provider);
        await (await admin.sendTransaction({ to: w.address, value: parseEther("1") })).wait();
        const amount = PRICE * BigInt(2 * ROUNDS + 1) * BigInt(PAYEES_PER_PAYER);
        await (await (channels.connect(w) as Contract).getFunction("deposit")(ZERO, amount, { value: amount })).wait();
        payers.push(w);
      }
      const pairs: Pair[] = [];
      for (let i = 0; i < n; i++) pairs.push({ payer: payers[Math.floor(i / PAYEES_PER_PAYER)]!, payee: PAYEES[i % PAYEES_PER_PAYER]! });
      const want = payers.map((p) => p.address.toLowerCase());
      // Automine makes blocks only for transactions: bury the deposits under the confirmation depth.
      await provider.send("hardhat_mine", [`0x${(CONFIRMATIONS + 1).toString(16)}`]);
      for (const deadline = Date.now() + 60_000; ; ) {
        const r = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM channel_accounts WHERE payer = ANY($1) AND deposit > 0", [want]);
        if (r.rows[0]!.n === want.length) break;
        if (Date.now() > deadline) throw new Error("deposits not indexed in 60 s");
        await sleep(100);
      }
      // Tasks for every round, undelivered ('running') until their round comes.
      await db.query(
        `WITH a AS (INSERT INTO auctions (buyer, capability, rule, window_ms, quantity, budget, closes_at, status, closed_at)
                    SELECT DISTINCT p, 'bench.settle', 'first-price', 0, 1, $4::numeric, now(), 'closed', now() FROM unnest($1::text[]) AS p RETURNING id, buyer)
         INSERT INTO tasks (auction_id, lot_index, buyer, capability, input, complexity, urgency, budget, token, deadline, route, status, agent, price,
                            settlement, awarded_at, node_key)
         SELECT a.id, 0, x.payer, 'bench.settle', '{}', 1, 'normal', $4::numeric, $3, now() + interval '1 day', 'channel', 'running', x.payee, $4::numeric, 'channel', now(), r::text
           FROM unnest($1::text[], $2::text[]) AS x(payer, payee) JOIN a ON a.buyer = x.payer CROSS JOIN generate_series(1, $5) AS r`,
        [pairs.map((p) => p.payer.address.toLowerCase()), pairs.map((p) => p.payee), ZERO, PRICE.toString(), 2 * ROUNDS],
      );
      await db.query(
        "INSERT INTO channel_promises (task_id, payer, token, amount) SELECT id, buyer, token, price FROM tasks WHERE capability = 'bench.settle' AND buyer = ANY($1) ON CONFLICT DO NOTHING",
        [want],
      );
      return pairs;
    }

    /** Delivers round r of every pair's tasks, then pays it with one voucher per pair over HTTP. */
    async function payRound(pairs: Pair[], r: number, url: string) {
      await db.query(
        "UPDATE tasks SET status = 'delivered', delivered_at = now(), output = '{\"ok\":true}' WHERE capability = 'bench.settle' AND node_key = $1 AND buyer = ANY($2)",
        [String(r), [...new Set(pairs.map((p) => p.payer.address.toLowerCase()))]],
      );
      const vouchers = pairs.map((p) => {
        const v = { payer: p.payer.address.toLowerCase(), payee: p.payee, token: ZERO, cumulativeAmount: PRICE * BigInt(r) };
        const s = secp256k1.sign(voucherDigest(sep, v), Buffer.from(p.payer.privateKey.slice(2), "hex"));
        return { ...v, cumulativeAmount: v.cumulativeAmount.toString(), signature: `0x${s.r.toString(16).padStart(64, "0")}${s.s.toString(16).padStart(64, "0")}${(27 + s.recovery).toString(16)}` };
      });
      for (let i = 0; i < vouchers.length; i += 250) {
        const res = await fetch(`${url}/v1/vouchers/batch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ vouchers: vouchers.slice(i, i + 250) }) });
        const body = (await res.json()) as { results: { ok: boolean; error?: { code: string } }[] };
        const bad = body.results?.filter((x) => !x.ok) ?? [];
        if (!res.ok || bad.length) throw new Error(`vouchers refused: ${res.status} ${JSON.stringify(bad[0] ?? body)}`);
      }
    }

    async function waitSettled(payers: string[]) {
      for (const deadline = Date.now() + 300_000; ; ) {
        const r = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM vouchers WHERE payer = ANY($1) AND status IN ('accepted', 'settling')", [payers]);
        if (r.rows[0]!.n === 0) return;
        if (Date.now() > deadline) throw new Error("vouchers not settled in 300 s");
        await sleep(100);
      }
    }

    const mining = async (on: boolean) => {
      if (on) {
        await provider.send("evm_setAutomine", [false]);
        await provider.send("evm_setIntervalMining", [BLOCK_MS]);
      } else {
        await provider.send("evm_setIntervalMining", [0]);
        await provider.send("evm_setAutomine", [true]);
      }
    };

    // ---- 1. gas per batch size ----
    /** Gas of the settleBatch transactions recorded after settlement id `after`. */
    const gasSince = async (after: number) => {
      const o = await db.query<{ tx_hash: string }>("SELECT o.tx_hash FROM channel_settlements s JOIN chain_outbox o ON o.id = s.outbox_id WHERE s.id > $1", [after]);
      let gas = 0;
      for (const row of o.rows) gas += Number((await provider.getTransactionReceipt(row.tx_hash))!.gasUsed);
      return { gas, txs: o.rows.length };
    };
    console.log(`\n1. gas of one settleBatch (native token; ${ROUNDS} micro-payments per voucher; every payer pays the same ${PAYEES_PER_PAYER} agents)`);
    console.log("   pairs   settlement   micro-payments         gas            gas/voucher   gas/micro-payment   recorded → applied");
    for (const n of [1, ...SIZES]) {
      const pairs = await makePairs(n);
      const payers = [...new Set(pairs.map((p) => p.payer.address.toLowerCase()))];
      for (const [k, label] of ["first", "repeat"].entries()) {
        for (let r = k * ROUNDS + 1; r <= (k + 1) * ROUNDS; r++) await payRound(pairs, r, c.url!);
        await mining(true);
        const t0 = Date.now();
        const last = Number((await db.query<{ m: string | null }>("SELECT max(id)::text AS m FROM channel_settlements")).rows[0]!.m ?? 0);
        // Batches are cut to fit one transaction's gas (EIP-7825: 2^24): record until all are in
        // (the job may take some too: SETTLE_MAX_PAIRS vouchers accepted trigger it).
        for (const deadline = Date.now() + 120_000; ; ) {
          const left = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM vouchers WHERE payer = ANY($1) AND status = 'accepted'", [payers]);
          if (left.rows[0]!.n === 0) break;
          if (Date.now() > deadline) throw new Error(`${left.rows[0]!.n} vouchers could not be batched in 120 s`);
          if ((await c.services.channelSettlement.runOnce("interval")) === 0) await sleep(100);
        }
        await waitSettled(payers);
        const applied = Date.now() - t0;
        await mining(false);
        const { gas, txs } = await gasSince(last);
        console.log(
          `   ${String(n).padStart(5)}   ${label.padEnd(10)}   ${String(n * ROUNDS).padStart(14)}   ${String(gas).padStart(9)}${txs > 1 ? ` (${txs} txs)` : "         "}   ${String(Math.round(gas / n)).padStart(11)}   ${String(Math.round(gas / (n * ROUNDS))).padStart(17)}   ${fmt(applied)}`,
        );
      }
      const settled = (await channels.getFunction("settledOf")(pairs[0]!.payer.address, pairs[0]!.payee, ZERO)) as bigint;
      if (settled !== PRICE * BigInt(2 * ROUNDS)) throw new Error(`settledOf = ${settled}, expected ${PRICE * BigInt(2 * ROUNDS)}`);
    }
    console.log("   (first: the pair's slot is written for the first time; repeat: pairs settled before. A batch of 1 is the reference.)");

    // ---- 2. latency through the repeatable job ----
    await c.close();
    c = undefined;
    c = await startCoordinator(env(INTERVAL_MS, 2000), "all");
    db = c.ctx.db;
    const pairs = await makePairs(LATENCY_PAIRS);
    const payers = [...new Set(pairs.map((p) => p.payer.address.toLowerCase()))];
    await mining(true);
    await payRound(pairs, 1, c.url!);
    await waitSettled(payers);
    await mining(false);
    const rows = await db.query<{ received: Date; settled: Date; created: Date; sent: Date | null }>(
      `SELECT v.received_at AS received, v.settled_at AS settled, s.created_at AS created, o.sent_at AS sent
         FROM vouchers v JOIN channel_settlements s ON s.id = v.settlement_id JOIN chain_outbox o ON o.id = v.outbox_id
        WHERE v.payer = ANY($1) AND v.status = 'settled'`,
      [payers],
    );
    const total = rows.rows.map((r) => r.settled.getTime() - r.received.getTime());
    const wait = rows.rows.map((r) => r.created.getTime() - r.received.getTime());
    const send = rows.rows.map((r) => (r.sent?.getTime() ?? NaN) - r.created.getTime());
    const chainPart = rows.rows.map((r) => r.settled.getTime() - (r.sent?.getTime() ?? NaN));
    console.log(`\n2. voucher accepted → settlement applied, through the repeatable job (SETTLE_INTERVAL_MS=${INTERVAL_MS}), ${rows.rows.length} vouchers`);
    console.log(`   total:                          p50 ${fmt(q(total, 0.5))}  p95 ${fmt(q(total, 0.95))}  max ${fmt(Math.max(...total))}`);
    console.log(`   waiting for the job:            p50 ${fmt(q(wait, 0.5))}  max ${fmt(Math.max(...wait))}`);
    console.log(`   batch recorded → tx sent:       p50 ${fmt(q(send, 0.5))}`);
    console.log(`   tx sent → applied by indexer:   p50 ${fmt(q(chainPart, 0.5))}  (next block every ${BLOCK_MS} ms, ${CONFIRMATIONS} confirmation(s), indexer polling 100 ms)`);
    console.log(`\nmachine: ${availableParallelism()} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  } finally {
    await c?.close();
    provider.destroy();
    if (!flags.keep) await dropSchema(DATABASE_URL, SCHEMA);
    await chain.stop();
  }
}

await main();
