import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { JsonRpcProvider, Wallet, ZeroAddress, id as keccakId, toBeHex } from "ethers";
import { startHarness, until, type Harness } from "./harness.js";
import { HARDHAT_KEYS, authorizeFunding, startChain, type TestChain } from "./chain-harness.js";
import { loadConfig } from "../../src/config.js";
import { connectEvm, type EvmChain } from "../../src/chain/evm/chain.js";
import { taskKey } from "../../src/protocol/keys.js";
import { encodeSettleBatch } from "../../src/chain/evm/vouchers.js";
import { voucherDomain, VOUCHER_TYPES } from "../../src/protocol/eip712.js";
import { checkChainInvariants } from "../../src/chain/evm/invariants.js";
import { rebuildProjections } from "../../src/indexer/projections.js";
import { unbalancedGroups } from "../../src/ledger/store.js";
import type { Indexer } from "../../src/indexer/indexer.js";

/**
 * The indexer against a real hardhat node, Postgres and Redis: backfill from the deployment
 * block, following the head, idempotency, resuming from the cursor, the confirmation depth, a
 * reorg (snapshot, revert, other transactions) and the one-indexer-per-chain lock. Money is
 * checked against the chain with checkChainInvariants after each scenario.
 */
describe("indexer (hardhat node + Postgres + Redis)", function () {
  this.timeout(180_000);
  let chain: TestChain;
  let evm: EvmChain;
  /** No request cache (ethers caches identical calls for 250 ms: stale nonces, heads and balances). */
  let p: JsonRpcProvider;
  let c: Pick<EvmChain, "escrow" | "resolver" | "channels" | "anchor"> & { token: NonNullable<EvmChain["token"]> };
  const wallet = (i: number) => new Wallet(HARDHAT_KEYS[i]!, p);
  let token: string;
  const harnesses: Harness[] = [];

  const env = (over: Record<string, string> = {}) => ({
    CHAIN_RPC_URL: chain.url,
    DEPLOYMENTS_FILE: chain.deploymentsFile,
    CONFIRMATIONS: "0",
    INDEXER_POLL_MS: "50",
    ...over,
  });
  const start = async (over: Record<string, string> = {}) => {
    const h = await startHarness(env(over));
    harnesses.push(h);
    return h;
  };
  const stop = async (h: Harness, keepSchema = false) => {
    harnesses.splice(harnesses.indexOf(h), 1);
    await h.stop({ keepSchema });
  };
  const ix = (h: Harness): Indexer => h.c.indexer!;
  const q = async <T = Record<string, string>>(h: Harness, sql: string, params: unknown[] = []) => (await h.c.ctx.db.query(sql, params)).rows as T[];
  const count = async (h: Harness, sql: string, params: unknown[] = []) => Number((await q<{ n: string }>(h, sql, params))[0]!.n);
  /** Resolves when the indexer has applied every block up to head − confirmations. */
  const caughtUp = (h: Harness, confirmations = 0) =>
    until(async () => {
      const head = await p.getBlockNumber();
      const s = ix(h).status();
      return s.applied !== null && s.applied >= head - confirmations;
    }, 60_000, 25);
  const hasTx = async (h: Harness, tx: string) => (await count(h, "SELECT count(*) AS n FROM chain_events WHERE tx_hash = $1", [tx.toLowerCase()])) > 0;
  const wait = async (p: Promise<{ wait(): Promise<unknown> }>) => (await (await p).wait()) as { hash: string; blockNumber: number };
  const latestTime = async () => (await p.getBlock("latest"))!.timestamp;
  const deployBlock = () => Math.min(...["TaskEscrow", "DisputeResolver", "PaymentChannels", "ReputationAnchor"].map((n) => chain.deployment.contracts[n]!.blockNumber));
  const followed = () => ["TaskEscrow", "DisputeResolver", "PaymentChannels", "ReputationAnchor"].map((n) => chain.deployment.contracts[n]!.address);
  const rawLogCount = async (to: number) =>
    ((await p.send("eth_getLogs", [{ fromBlock: toBeHex(deployBlock()), toBlock: toBeHex(to), address: followed() }])) as unknown[]).length;

  /**
   * Many native deposits packed into few blocks (automine off, bursts of 50 per block) from the
   * node's unlocked accounts #5–#9. @returns the transaction hashes
   */
  async function burstDeposits(n: number, amountBase = 1000n): Promise<string[]> {
    const accounts = (await p.send("eth_accounts", [])) as string[];
    const hashes: string[] = [];
    await p.send("evm_setAutomine", [false]);
    try {
      for (let i = 0; i < n; i += 50) {
        const batch = [];
        for (let j = i; j < Math.min(n, i + 50); j++) {
          const value = amountBase + BigInt(j);
          batch.push({
            jsonrpc: "2.0", id: j, method: "eth_sendTransaction",
            params: [{ from: accounts[5 + (j % 5)], to: evm.address("PaymentChannels"), value: toBeHex(value), gas: toBeHex(120_000),
              data: c.channels.interface.encodeFunctionData("deposit", [ZeroAddress, value]) }],
          });
        }
        const res = (await (await fetch(chain.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(batch) })).json()) as { result?: string; error?: unknown }[];
        for (const r of res) {
          if (r.error) throw new Error(JSON.stringify(r.error));
          hashes.push(r.result!);
        }
        await chain.mine(1);
      }
    } finally {
      await p.send("evm_setAutomine", [true]);
    }
    return hashes;
  }

  async function depositOf(payer: string, tok = ZeroAddress): Promise<bigint> {
    return (await c.channels.depositOf(payer, tok))[0];
  }

  /**
   * Every kind of money movement once: an escrow awarded, re-awarded at a higher price,
   * delivered, released and withdrawn by agent, buyer and treasury; a disputed escrow with
   * evidence from both sides, a split ruling and finalisation; ERC-20 and native deposits, a
   * settleBatch of vouchers, a payee withdrawal and a withdrawal request.
   */
  async function lifecycle() {
    const [coordinator, arbA, arbB, buyer, agent, agent2, payer, payee] = [1, 2, 3, 5, 6, 7, 8, 9].map((i) => wallet(i)) as Wallet[];
    const deadline = BigInt((await latestTime()) + 30 * 86400);
    const escrow = c.escrow;
    // Task A: award, re-award higher (within the held budget), deliver, release, withdrawals.
    const a = randomUUID();
    await wait(escrow.connect(buyer!).fund(taskKey(a), ZeroAddress, 10n ** 15n, deadline, await authorizeFunding(evm, { taskId: taskKey(a), buyer: buyer!.address, token: ZeroAddress, amount: 10n ** 15n, deadline }), { value: 10n ** 15n }));
    await wait(escrow.connect(coordinator!).award(taskKey(a), agent!.address, 6n * 10n ** 14n));
    await wait(escrow.connect(coordinator!).award(taskKey(a), agent2!.address, 8n * 10n ** 14n));
    await wait(escrow.connect(agent2!).deliver(taskKey(a), keccakId("result-a")));
    await wait(escrow.connect(buyer!).release(taskKey(a)));
    await wait(escrow.connect(agent2!).withdraw(ZeroAddress));
    // The treasury (node account #4) through the node's unlocked account: chain-harness.ts's key #4 is not it.
    const treasury = (await escrow.treasury()).toLowerCase();
    const wtx = (await p.send("eth_sendTransaction", [{ from: treasury, to: evm.address("TaskEscrow"), data: escrow.interface.encodeFunctionData("withdraw", [ZeroAddress]) }])) as string;
    await p.waitForTransaction(wtx);
    // Task B: dispute with evidence from both sides, a 60/40 split, appeal window over, finalise.
    const b = randomUUID();
    await wait(escrow.connect(buyer!).fund(taskKey(b), ZeroAddress, 5n * 10n ** 14n, deadline, await authorizeFunding(evm, { taskId: taskKey(b), buyer: buyer!.address, token: ZeroAddress, amount: 5n * 10n ** 14n, deadline }), { value: 5n * 10n ** 14n }));
    await wait(escrow.connect(coordinator!).award(taskKey(b), agent!.address, 4n * 10n ** 14n));
    await wait(escrow.connect(agent!).deliver(taskKey(b), keccakId("result-b")));
    await wait(escrow.connect(buyer!).dispute(taskKey(b), "ipfs://evidence/buyer-b"));
    const disputeId = await c.resolver.disputeOfTask(taskKey(b));
    await wait(c.resolver.connect(agent!).submitEvidence(disputeId, "ipfs://evidence/agent-b"));
    const arbitrator = (await c.resolver.disputeOf(disputeId)).arbitrator.toLowerCase();
    const arb = [arbA!, arbB!].find((w) => w.address.toLowerCase() === arbitrator)!;
    await wait(c.resolver.connect(arb).rule(disputeId, 6000));
    await p.send("evm_increaseTime", [86_401]);
    await chain.mine(1);
    await wait(c.resolver.connect(buyer!).finalize(disputeId));
    await wait(escrow.connect(agent!).withdraw(ZeroAddress));
    await wait(escrow.connect(buyer!).withdraw(ZeroAddress));
    // Channels: an ERC-20 deposit, native deposits, vouchers settled in one batch, a payee's
    // withdrawal and a payer's withdrawal request.
    const t = c.token;
    await wait(t.connect(wallet(0)).mint(payer!.address, 10n ** 9n));
    await wait(t.connect(payer!).approve(evm.address("PaymentChannels"), 10n ** 9n));
    await wait(c.channels.connect(payer!).deposit(token, 10n ** 9n));
    await wait(c.channels.connect(payer!).deposit(ZeroAddress, 10n ** 15n, { value: 10n ** 15n }));
    const domain = voucherDomain(evm.chainId, evm.address("PaymentChannels"));
    const vouchers = [];
    for (const [to, tok, cumulative] of [[payee!.address, ZeroAddress, 3n * 10n ** 14n], [agent!.address, ZeroAddress, 10n ** 14n], [payee!.address, token, 5n * 10n ** 8n]] as const) {
      const v = { payer: payer!.address, payee: to, token: tok, cumulativeAmount: cumulative };
      vouchers.push({ ...v, signature: await payer!.signTypedData(domain, VOUCHER_TYPES, v) });
    }
    const { addresses, entries } = encodeSettleBatch(vouchers);
    await wait(c.channels.connect(coordinator!).settleBatch(addresses, entries));
    await wait(c.channels.connect(payee!).withdraw(ZeroAddress));
    await wait(c.channels.connect(payer!).requestWithdrawal(token));
    return { a, b, disputeId: disputeId.toString(), buyer: buyer!, agent: agent!, agent2: agent2!, payer: payer!, payee: payee! };
  }

  let life: Awaited<ReturnType<typeof lifecycle>>;

  before(async () => {
    chain = await startChain();
    evm = connectEvm(loadConfig({ CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile }));
    p = new JsonRpcProvider(chain.url, evm.chainId, { staticNetwork: true, cacheTimeout: -1 });
    c = { escrow: evm.escrow.connect(p), resolver: evm.resolver.connect(p), channels: evm.channels.connect(p), anchor: evm.anchor.connect(p), token: evm.token!.connect(p) };
    token = evm.address("AICPTestToken");
    // History to backfill: a few hundred deposits packed into blocks, then every money path.
    await burstDeposits(300);
    life = await lifecycle();
  });
  after(async () => {
    for (const h of [...harnesses]) await h.stop().catch(() => undefined);
    evm?.close();
    p?.destroy();
    await chain?.stop();
  });

  for (const [label, over] of [
    ["", {}],
    [" in small pipelined ranges, mostly below the kept blocks (boundary checks only)", { INDEXER_BATCH_BLOCKS: "4", INDEXER_KEEP_BLOCKS: "5" }],
  ] as const)
  it(`backfills every event from the deployment block${label} and projects escrows, disputes, channels and the ledger`, async () => {
    const h = await start(over);
    await caughtUp(h);
    const applied = ix(h).status().applied!;
    expect(ix(h).status().holdsLock).to.equal(true);
    const stored = await count(h, "SELECT count(*) AS n FROM chain_events WHERE chain = 'evm'");
    expect(stored).to.be.greaterThan(300);
    expect(stored).to.equal(await rawLogCount(applied));
    expect(await count(h, "SELECT count(*) AS n FROM chain_events WHERE name = 'Deposited'")).to.equal(302);

    // Escrows and disputes match the contracts' view.
    const escrows = await q(h, "SELECT task_id, state, agent, price::text, dispute_id::text, result_hash FROM escrows ORDER BY task_id");
    const byTask = new Map(escrows.map((e) => [e["task_id"], e]));
    expect(byTask.get(life.a)).to.include({ state: "released", agent: life.agent2.address.toLowerCase(), price: (8n * 10n ** 14n).toString(), result_hash: keccakId("result-a") });
    expect(byTask.get(life.b)).to.include({ state: "resolved", dispute_id: life.disputeId });
    const [d] = await q<Record<string, unknown>>(h, "SELECT task_id, status, agent_share_bps, opened_by FROM disputes WHERE dispute_id = $1", [life.disputeId]);
    expect(d).to.deep.include({ task_id: life.b, status: "finalized", agent_share_bps: 6000, opened_by: life.buyer.address.toLowerCase() });
    const evidence = await q(h, "SELECT party, uri FROM dispute_evidence WHERE task_id = $1 AND source = 'chain' ORDER BY id", [life.b]);
    expect(evidence).to.deep.equal([
      { party: life.buyer.address.toLowerCase(), uri: "ipfs://evidence/buyer-b" },
      { party: life.agent.address.toLowerCase(), uri: "ipfs://evidence/agent-b" },
    ]);

    // Channel deposits and settled pairs match the contract.
    for (const i of [5, 6, 7, 8, 9]) {
      const payer = wallet(i).address.toLowerCase();
      const [row] = await q(h, "SELECT deposit::text FROM channel_accounts WHERE payer = $1 AND token = $2", [payer, ZeroAddress]);
      expect(row?.["deposit"], `deposit of #${i}`).to.equal((await depositOf(payer)).toString());
    }
    const [erc] = await q(h, "SELECT deposit::text, withdrawal_available_at FROM channel_accounts WHERE payer = $1 AND token = $2", [life.payer.address.toLowerCase(), token]);
    expect(erc?.["deposit"]).to.equal((await depositOf(life.payer.address, token)).toString());
    expect(erc?.["withdrawal_available_at"]).to.be.instanceOf(Date);
    const pairs = await q(h, "SELECT payee, token, settled::text, accepted::text FROM channel_pairs WHERE payer = $1 ORDER BY payee, token", [life.payer.address.toLowerCase()]);
    expect(pairs).to.have.length(3);
    for (const p of pairs) {
      expect(p["settled"]).to.equal((await c.channels.settledOf(life.payer.address, p["payee"]!, p["token"]!)).toString());
      expect(p["accepted"]).to.equal(p["settled"]);
    }

    // The ledger: what each account can still withdraw on-chain, and the money invariants.
    const credit = async (acct: string, tok = ZeroAddress) =>
      (await q<{ s: string | null }>(h, "SELECT sum(amount)::text AS s FROM ledger_entries WHERE account = $1 AND token = $2", [acct, tok]))[0]!.s ?? "0";
    for (const w of [life.buyer, life.agent, life.agent2]) expect(await credit(`escrow-credit:${w.address.toLowerCase()}`)).to.equal((await c.escrow.balanceOf(w.address, ZeroAddress)).toString());
    expect(await credit("treasury")).to.equal((await c.escrow.balanceOf(await c.escrow.treasury(), ZeroAddress)).toString());
    expect(await credit(`escrow:${life.a}`)).to.equal("0");
    expect(await credit(`channel-claimable:${life.payee.address.toLowerCase()}`)).to.equal("0"); // withdrawn
    expect(await credit(`channel-claimable:${life.agent.address.toLowerCase()}`)).to.equal((10n ** 14n).toString());
    expect(await credit(`channel-claimable:${life.payee.address.toLowerCase()}`, token)).to.equal((5n * 10n ** 8n).toString());
    expect(await checkChainInvariants(h.c.ctx.db, evm)).to.deep.equal([]);

    // Rebuilding the projections (and this chain's ledger groups) from chain_events gives the same state.
    const snapshot = async () => JSON.stringify(await Promise.all([
      q(h, "SELECT * FROM escrows ORDER BY task_id"),
      q(h, "SELECT * FROM disputes ORDER BY dispute_id"),
      q(h, "SELECT payer, token, deposit::text, withdrawal_available_at, updated_block::text FROM channel_accounts ORDER BY payer, token"),
      q(h, "SELECT payer, payee, token, settled::text FROM channel_pairs ORDER BY payer, payee, token"),
      q(h, "SELECT party, uri, tx_hash, log_index, at FROM dispute_evidence ORDER BY tx_hash, log_index"),
      q(h, "SELECT entry_group, account, token, amount::text, kind, block_number::text FROM ledger_entries ORDER BY entry_group, account, amount"),
    ]));
    await ix(h).stop();
    const before = await snapshot();
    const r = await h.c.ctx.db.tx((t) => rebuildProjections(t, { chain: "evm", ledger: true }));
    expect(r.events).to.equal(stored);
    expect(await snapshot()).to.equal(before);
    await stop(h);
  });

  it("follows the head: a new deposit and a reputation anchor are applied within a few polls", async () => {
    const h = await start();
    await caughtUp(h);
    const payer = wallet(7);
    const before = await count(h, "SELECT count(*) AS n FROM chain_events");
    const tx = await wait(c.channels.connect(payer).deposit(ZeroAddress, 12345n, { value: 12345n }));
    await until(() => hasTx(h, tx.hash), 10_000, 20);
    expect(await count(h, "SELECT count(*) AS n FROM chain_events")).to.equal(before + 1);
    const [row] = await q(h, "SELECT deposit::text, updated_block::text FROM channel_accounts WHERE payer = $1 AND token = $2", [payer.address.toLowerCase(), ZeroAddress]);
    expect(row).to.deep.equal({ deposit: (await depositOf(payer.address)).toString(), updated_block: String(tx.blockNumber) });

    // RootAnchored marks the epoch whose root matches (and not one with another root).
    const epoch = Number(await c.anchor.latestEpoch()) + 1;
    const root = keccakId(`root-${epoch}`);
    await h.c.ctx.db.query("INSERT INTO reputation_epochs (epoch, root, tree, leaves) VALUES ($1, $2, '{}', 0), ($3, $4, '{}', 0)", [epoch, root, epoch + 1, root]);
    const anchored = await wait(c.anchor.connect(wallet(1)).anchor(epoch, root, "aicp://test"));
    await until(async () => (await q(h, "SELECT anchored_tx FROM reputation_epochs WHERE epoch = $1", [epoch]))[0]?.["anchored_tx"] === anchored.hash.toLowerCase(), 10_000, 20);
    expect((await q(h, "SELECT anchored_tx FROM reputation_epochs WHERE epoch = $1", [epoch + 1]))[0]?.["anchored_tx"]).to.equal(null);
    expect(ix(h).status().lag).to.be.at.most(1);
    expect(await checkChainInvariants(h.c.ctx.db, evm)).to.deep.equal([]);
    await stop(h);
  });

  it("is idempotent: re-applying the whole history from a rewound cursor changes nothing", async () => {
    const h = await start();
    await caughtUp(h);
    await ix(h).stop();
    const state = async () => JSON.stringify(await Promise.all([
      q(h, "SELECT count(*) AS n FROM chain_events"),
      q(h, "SELECT entry_group, account, amount::text FROM ledger_entries ORDER BY id"),
      q(h, "SELECT payer, token, deposit::text FROM channel_accounts ORDER BY payer, token"),
      q(h, "SELECT task_id, state FROM escrows ORDER BY task_id"),
      q(h, "SELECT count(*) AS n FROM dispute_evidence"),
    ]));
    const before = await state();
    // From the deployment block, and from just before the voucher settlement (whose deposit
    // change is a delta: applied twice, it would show).
    const [settled] = await q(h, "SELECT block_number::text FROM chain_events WHERE name = 'VoucherSettled' ORDER BY block_number LIMIT 1");
    for (const from of [deployBlock() - 1, Number(settled!["block_number"]) - 1]) {
      const hash = (await p.getBlock(from))!.hash;
      await h.c.ctx.db.query("UPDATE indexer_cursors SET block_number = $1, block_hash = $2 WHERE chain = 'evm'", [from, hash]);
      await ix(h).start();
      await caughtUp(h);
      await ix(h).stop();
      // It did read the rewound cursor and went over the blocks again.
      expect((await q(h, "SELECT block_number::text FROM indexer_cursors"))[0]!["block_number"]).to.equal(String(ix(h).status().applied));
      expect(ix(h).status().events, "events applied twice").to.equal(0);
      expect(await state()).to.equal(before);
    }
    await stop(h);
  });

  it("resumes from its cursor after a restart and picks up what happened while it was down", async () => {
    const h1 = await start();
    await caughtUp(h1);
    const schema = h1.config.DATABASE_SCHEMA;
    const prefix = h1.config.QUEUE_PREFIX;
    // Forget one old event: a restart that re-read history from the deployment block would bring it back.
    const [old] = await q(h1, "SELECT tx_hash, log_index FROM chain_events WHERE name = 'Deposited' ORDER BY block_number LIMIT 1");
    await h1.c.ctx.db.query("DELETE FROM chain_events WHERE tx_hash = $1 AND log_index = $2", [old!["tx_hash"], old!["log_index"]]);
    const cursorBefore = ix(h1).status().applied!;
    await stop(h1, true);

    const hashes = await burstDeposits(60, 7000n);
    const h2 = await start({ DATABASE_SCHEMA: schema, QUEUE_PREFIX: prefix });
    await caughtUp(h2);
    for (const tx of hashes) expect(await hasTx(h2, tx), tx).to.equal(true);
    expect(await count(h2, "SELECT count(*) AS n FROM chain_events WHERE tx_hash = $1", [old!["tx_hash"]])).to.equal(0);
    expect(ix(h2).status().events).to.equal(60);
    expect(ix(h2).status().applied).to.be.greaterThan(cursorBefore);
    expect(await checkChainInvariants(h2.c.ctx.db, evm)).to.deep.equal([]);
    await stop(h2);
  });

  it("applies a block only CONFIRMATIONS blocks after it was mined", async () => {
    const h = await start({ CONFIRMATIONS: "2" });
    await caughtUp(h, 2);
    const tx = await wait(c.channels.connect(wallet(6)).deposit(ZeroAddress, 777n, { value: 777n }));
    const settle = () => new Promise((r) => setTimeout(r, 300)); // six polls
    await settle();
    expect(await hasTx(h, tx.hash), "applied at depth 0").to.equal(false);
    await chain.mine(1);
    await settle();
    expect(await hasTx(h, tx.hash), "applied at depth 1").to.equal(false);
    await chain.mine(1);
    await until(() => hasTx(h, tx.hash), 10_000, 20);
    expect(ix(h).status().applied).to.equal(tx.blockNumber);
    expect(await checkChainInvariants(h.c.ctx.db, evm)).to.deep.equal([]);
    await stop(h);
  });

  it("lets only one indexer per chain run: a second instance waits for the lock and takes over", async () => {
    const h1 = await start();
    await caughtUp(h1);
    const h2 = await start({ DATABASE_SCHEMA: h1.config.DATABASE_SCHEMA });
    expect(ix(h1).status().holdsLock).to.equal(true);
    expect(ix(h2).status().holdsLock).to.equal(false);
    const tx = await wait(c.channels.connect(wallet(8)).deposit(ZeroAddress, 4242n, { value: 4242n }));
    await until(() => hasTx(h1, tx.hash), 10_000, 20);
    await new Promise((r) => setTimeout(r, 200));
    expect(ix(h2).status()).to.include({ holdsLock: false, applied: null, events: 0 });
    await stop(h1, true);
    await until(async () => ix(h2).status().holdsLock, 10_000, 50);
    const tx2 = await wait(c.channels.connect(wallet(8)).deposit(ZeroAddress, 4343n, { value: 4343n }));
    await until(() => hasTx(h2, tx2.hash), 10_000, 20);
    expect(ix(h2).status().events).to.equal(1);
    await stop(h2);
  });

  it("asks for fewer blocks when the node refuses a large eth_getLogs, and catches up after the node was down", async () => {
    // A JSON-RPC proxy in front of the node: caps eth_getLogs at 5 blocks, and can play dead.
    let down = false;
    let refused = 0;
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (down) return res.destroy();
      const body = Buffer.concat(chunks).toString();
      const calls = JSON.parse(body) as { id: number; method: string; params: { fromBlock: string; toBlock: string }[] } | { id: number; method: string; params: { fromBlock: string; toBlock: string }[] }[];
      const one = Array.isArray(calls) ? undefined : calls;
      if (one?.method === "eth_getLogs" && Number(one.params[0]!.toBlock) - Number(one.params[0]!.fromBlock) + 1 > 5) {
        refused++;
        res.setHeader("content-type", "application/json");
        return res.end(JSON.stringify({ jsonrpc: "2.0", id: one.id, error: { code: -32005, message: "query exceeds max block range 5" } }));
      }
      const upstream = await fetch(chain.url, { method: "POST", headers: { "content-type": "application/json" }, body });
      res.setHeader("content-type", "application/json");
      res.end(await upstream.text());
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const h = await start({ CHAIN_RPC_URL: url, INDEXER_BATCH_BLOCKS: "64" });
      await caughtUp(h);
      expect(refused).to.be.greaterThan(0);
      expect(await count(h, "SELECT count(*) AS n FROM chain_events")).to.equal(await rawLogCount(ix(h).status().applied!));

      down = true;
      const tx = await wait(c.channels.connect(wallet(9)).deposit(ZeroAddress, 31337n, { value: 31337n }));
      await until(async () => ix(h).status().lastError !== undefined, 10_000, 20);
      await new Promise((r) => setTimeout(r, 500));
      expect(await hasTx(h, tx.hash)).to.equal(false);
      down = false;
      await until(() => hasTx(h, tx.hash), 20_000, 50);
      expect(ix(h).status().lastError).to.equal(undefined);
      expect(await checkChainInvariants(h.c.ctx.db, evm)).to.deep.equal([]);
      await stop(h);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it("keeps running while the node is unreachable, and reports why", async () => {
    const h = await start({ CHAIN_RPC_URL: "http://127.0.0.1:1" });
    await until(async () => ix(h).status().lastError !== undefined, 10_000, 20);
    expect(ix(h).status()).to.include({ running: true, holdsLock: true, applied: null });
    expect(ix(h).status().lastError).to.match(/unreachable/);
    await stop(h);
  });

  for (const [label, over] of [
    ["", {}],
    [" deeper than the kept block hashes (found through the blocks that carried events)", { INDEXER_KEEP_BLOCKS: "2" }],
  ] as const)
  it(`rolls back a reorg${label}: orphaned deposits and escrows disappear, the canonical ones are applied, the ledger matches the chain`, async () => {
    const h = await start(over);
    await caughtUp(h);
    const [w5, w6, w7] = [5, 6, 7].map((i) => wallet(i)) as Wallet[];
    const deadline = BigInt((await latestTime()) + 30 * 86400);
    const snap = await chain.snapshot();
    const depositBefore = await depositOf(w5!.address);

    // The fork that will be orphaned: a deposit, an escrow funding, a voucher settlement.
    const orphanTask = randomUUID();
    const o1 = await wait(c.channels.connect(w5!).deposit(ZeroAddress, 111_111n, { value: 111_111n }));
    const o2 = await wait(c.escrow.connect(w6!).fund(taskKey(orphanTask), ZeroAddress, 222_222n, deadline, await authorizeFunding(evm, { taskId: taskKey(orphanTask), buyer: w6!.address, token: ZeroAddress, amount: 222_222n, deadline }), { value: 222_222n }));
    const v = { payer: w5!.address, payee: w7!.address, token: ZeroAddress, cumulativeAmount: 3n * 10n ** 15n };
    const sig = await w5!.signTypedData(voucherDomain(evm.chainId, evm.address("PaymentChannels")), VOUCHER_TYPES, v);
    const batch = encodeSettleBatch([{ ...v, signature: sig }]);
    const o3 = await wait(c.channels.connect(wallet(1)).settleBatch(batch.addresses, batch.entries));
    await chain.mine(3);
    const oldHead = await p.getBlockNumber();
    await caughtUp(h);
    for (const tx of [o1, o2, o3]) expect(await hasTx(h, tx.hash)).to.equal(true);
    expect(await count(h, "SELECT count(*) AS n FROM escrows WHERE task_id = $1", [orphanTask])).to.equal(1);
    expect(await count(h, "SELECT count(*) AS n FROM ledger_entries WHERE entry_group LIKE $1", [`evm:${o1.hash.toLowerCase()}:%`])).to.equal(2);

    // The canonical chain: other transactions from the same accounts, past the old height.
    await chain.revert(snap);
    const canonTask = randomUUID();
    const c1 = await wait(c.channels.connect(w5!).deposit(ZeroAddress, 999n, { value: 999n }));
    const c2 = await wait(c.escrow.connect(w6!).fund(taskKey(canonTask), ZeroAddress, 333_333n, deadline, await authorizeFunding(evm, { taskId: taskKey(canonTask), buyer: w6!.address, token: ZeroAddress, amount: 333_333n, deadline }), { value: 333_333n }));
    const c3 = await wait(c.channels.connect(w7!).deposit(ZeroAddress, 5555n, { value: 5555n }));
    await chain.mine(oldHead - (await p.getBlockNumber()) + 2);
    await until(async () => ix(h).status().reorgs >= 1, 20_000, 20);
    await caughtUp(h);

    for (const tx of [o1, o2, o3]) expect(await hasTx(h, tx.hash), `orphan ${tx.hash}`).to.equal(false);
    for (const tx of [c1, c2, c3]) expect(await hasTx(h, tx.hash), `canonical ${tx.hash}`).to.equal(true);
    expect(await count(h, "SELECT count(*) AS n FROM escrows WHERE task_id = $1", [orphanTask])).to.equal(0);
    expect(await count(h, "SELECT count(*) AS n FROM escrows WHERE task_id = $1 AND state = 'funded'", [canonTask])).to.equal(1);
    const [acct] = await q(h, "SELECT deposit::text FROM channel_accounts WHERE payer = $1 AND token = $2", [w5!.address.toLowerCase(), ZeroAddress]);
    expect(acct?.["deposit"]).to.equal((depositBefore + 999n).toString());
    expect(acct?.["deposit"]).to.equal((await depositOf(w5!.address)).toString());
    const [pair] = await q(h, "SELECT settled::text FROM channel_pairs WHERE payer = $1 AND payee = $2", [w5!.address.toLowerCase(), w7!.address.toLowerCase()]);
    expect(pair?.["settled"] ?? "0").to.equal("0");
    for (const tx of [o1, o2, o3]) expect(await count(h, "SELECT count(*) AS n FROM ledger_entries WHERE entry_group LIKE $1", [`evm:${tx.hash.toLowerCase()}:%`])).to.equal(0);
    expect(await count(h, "SELECT count(*) AS n FROM ledger_entries WHERE entry_group LIKE $1", [`evm:${c2.hash.toLowerCase()}:%`])).to.equal(2);
    const blocks = await q(h, "SELECT number::text, hash FROM indexed_blocks WHERE number > $1 ORDER BY number", [oldHead - 8]);
    for (const b of blocks) expect(b["hash"], `block ${b["number"]}`).to.equal((await p.getBlock(Number(b["number"])))!.hash);
    expect(await unbalancedGroups(h.c.ctx.db)).to.deep.equal([]);
    expect(await checkChainInvariants(h.c.ctx.db, evm)).to.deep.equal([]);
    await stop(h);
  });
});
