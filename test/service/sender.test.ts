/**
 * The chain transaction sender and the EVM settlement backend against a real hardhat node,
 * Postgres and Redis. The coordinator reaches the node through an HTTP proxy the test controls,
 * so the chain can "go down", refuse broadcasts, or lose the answer of a broadcast that did
 * reach it.
 */
import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { randomBytes, randomUUID } from "node:crypto";
import { Contract, NonceManager, Transaction, ZeroAddress, hexlify, type InterfaceAbi, type Wallet } from "ethers";
import { startChain, type TestChain } from "./chain-harness.js";
import { Client, startHarness, until, type Harness } from "./harness.js";
import type { Intent } from "../../src/settlement/outbox-store.js";
import type { OutboxRow } from "../../src/settlement/outbox-store.js";
import { taskKey } from "../../src/protocol/keys.js";
import type { TxSender } from "../../src/chain/evm/sender.js";
import type { EvmSettlementBackend } from "../../src/chain/evm/backend.js";

const State = { None: 0n, Funded: 1n, Awarded: 2n, Delivered: 3n, Released: 5n, Refunded: 6n } as const;

/** An HTTP JSON-RPC proxy: up/down, and per-method faults ("refuse" = drop the request; "lose-answer" = forward, then drop the reply). */
type Proxy = { url: string; open(): Promise<void>; close(): Promise<void>; rules: Map<string, "refuse" | "lose-answer"> };

async function startProxy(target: string): Promise<Proxy> {
  const rules = new Map<string, "refuse" | "lose-answer">();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const calls = ([] as { method: string }[]).concat(JSON.parse(body));
    const rule = calls.map((c) => rules.get(c.method)).find(Boolean);
    if (rule === "refuse") return req.socket.destroy();
    try {
      const r = await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body });
      const text = await r.text();
      if (rule === "lose-answer") return req.socket.destroy();
      res.writeHead(r.status, { "content-type": "application/json" });
      res.end(text);
    } catch {
      req.socket.destroy();
    }
  };
  const proxy: Proxy = {
    url: "",
    rules,
    async open() {
      if (server) return;
      server = createServer((req, res) => void handle(req, res));
      server.on("connection", (s) => {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
      });
      await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", () => resolve()));
      port = (server.address() as { port: number }).port;
      proxy.url = `http://127.0.0.1:${port}`;
    },
    async close() {
      const s = server;
      server = undefined;
      if (!s) return;
      const closed = new Promise((r) => s.close(r));
      for (const so of sockets) so.destroy();
      await closed;
    },
  };
  await proxy.open();
  return proxy;
}

describe("chain transaction sender (hardhat node)", function () {
  this.timeout(120_000);
  let chain: TestChain;
  let proxy: Proxy;
  let h: Harness;
  let env: Record<string, string>;
  let buyer: Wallet;
  /** Sends the buyer's transactions (ethers caches nonce lookups for 250 ms). */
  let buyerTx: NonceManager;
  let agent: Wallet;
  let escrow: Contract;
  let anchor: Contract;
  let coordinator: string;
  const seen = { confirmed: [] as OutboxRow[], reverted: [] as OutboxRow[] };

  const sender = () => h.c.services.sender!;
  const backend = () => h.c.services.backend as EvmSettlementBackend;
  const nonceOf = (a: string) => chain.provider.getTransactionCount(a, "latest");
  const rowOf = async (id: string) => (await h.c.ctx.db.query<OutboxRow>("SELECT * FROM chain_outbox WHERE id = $1", [id])).rows[0]!;
  const record = (...intents: Intent[]) => h.c.ctx.db.tx(async (t) => {
    const out: string[] = [];
    for (const i of intents) out.push((await sender().enqueue(t, i)).id);
    return out;
  });
  const final = (ids: string[], ms = 20_000) =>
    until(async () => {
      const rows = await Promise.all(ids.map(rowOf));
      return rows.every((r) => ["confirmed", "reverted", "failed"].includes(r.status)) && rows;
    }, ms, 50);

  function watch(s: TxSender) {
    for (const kind of ["escrow.award", "escrow.deliver", "escrow.refund", "anchor.anchor"] as const) {
      s.onConfirmed(kind, async (_t, row) => void seen.confirmed.push(row));
      s.onReverted(kind, async (_t, row) => void seen.reverted.push(row));
    }
  }

  async function start(extra: Record<string, string> = {}) {
    h = await startHarness({ ...env, ...extra });
    watch(sender());
  }

  /** Funds a fresh task's escrow from the buyer's wallet with the backend's native funding plan. */
  async function fundNative(amount = 10n ** 15n): Promise<string> {
    const id = randomUUID();
    const plan = await backend().fundingPlan({ id, buyer: buyer.address.toLowerCase(), token: ZeroAddress, amount, deadline: new Date(Date.now() + 86_400_000) });
    expect(plan.calls).to.have.length(1);
    for (const c of plan.calls) await (await buyerTx.sendTransaction({ to: c.to, data: c.data, value: BigInt(c.value) })).wait();
    return id;
  }

  const award = (taskId: string, price = 4n * 10n ** 14n): Intent => ({ intent: `award:${taskId}`, kind: "escrow.award", payload: { taskId, agent: agent.address, price: price.toString() } });

  before(async () => {
    chain = await startChain();
    proxy = await startProxy(chain.url);
    env = { CHAIN_RPC_URL: proxy.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "0", INDEXER_POLL_MS: "50" };
    await start();
    buyer = chain.wallet(5);
    buyerTx = new NonceManager(buyer);
    agent = chain.wallet(6);
    coordinator = chain.wallet(1).address;
    const c = chain.deployment.contracts;
    escrow = new Contract(c["TaskEscrow"]!.address, c["TaskEscrow"]!.abi as InterfaceAbi, chain.provider);
    anchor = new Contract(c["ReputationAnchor"]!.address, c["ReputationAnchor"]!.abi as InterfaceAbi, chain.provider);
  });

  after(async () => {
    await h?.stop();
    await proxy?.close();
    await chain?.stop();
  });

  describe("EVM settlement backend", () => {
    it("plans native, ERC-20 (approve + fund) and ERC-2612 permit funding that the escrow accepts", async () => {
      const token = chain.deployment.contracts["AICPTestToken"]!;
      const tUsd = new Contract(token.address, token.abi as InterfaceAbi, buyerTx);
      await (await tUsd.getFunction("mint")(buyer.address, 10n ** 12n)).wait();
      const deadline = new Date(Date.now() + 86_400_000);

      const native = await fundNative(123n);
      expect((await escrow.getFunction("escrowOf")(taskKey(native))).state).to.equal(State.Funded);

      const erc20Task = { id: randomUUID(), buyer: buyer.address.toLowerCase(), token: token.address, amount: 5_000_000n, deadline };
      const plan = await backend().fundingPlan(erc20Task);
      expect(plan.calls.map((c) => c.to)).to.deep.equal([token.address.toLowerCase(), plan.escrow]);
      expect(plan.calls.every((c) => c.value === "0")).to.equal(true);
      for (const c of plan.calls) await (await buyerTx.sendTransaction({ to: c.to, data: c.data })).wait();
      const e = await escrow.getFunction("escrowOf")(plan.taskKey);
      expect([e.state, e.amount, e.token.toLowerCase(), e.buyer]).to.deep.equal([State.Funded, 5_000_000n, token.address.toLowerCase(), buyer.address]);
      expect(e.deadline).to.equal(BigInt(plan.deadline));

      const permitTask = { ...erc20Task, id: randomUUID(), amount: 7_000_000n };
      const p = await backend().fundingPlan(permitTask);
      expect(p.permit, "the test token implements ERC-2612").to.not.equal(undefined);
      const td = p.permit!.typedData;
      const signature = await buyer.signTypedData(td.domain, td.types, td.message);
      const call = await backend().permitCall(permitTask, signature);
      const before = await tUsd.getFunction("allowance")(buyer.address, plan.escrow);
      await (await buyerTx.sendTransaction({ to: call.to, data: call.data })).wait();
      const pe = await escrow.getFunction("escrowOf")(p.taskKey);
      expect([pe.state, pe.amount]).to.deep.equal([State.Funded, 7_000_000n]);
      expect(await tUsd.getFunction("allowance")(buyer.address, plan.escrow)).to.equal(before);
      const bad = await backend().permitCall(permitTask, "0x1234").then(() => "accepted", (err: Error) => err.message);
      expect(bad).to.match(/65-byte/);
    });

    it("builds buyer calls (release, dispute with evidence URI, reclaim) and rejects malformed intents", async () => {
      const id = randomUUID();
      const iface = escrow.interface;
      const dispute = backend().callFor("dispute", id, { evidenceUri: "ipfs://evidence" });
      const parsed = iface.parseTransaction({ data: dispute.data })!;
      expect([parsed.name, parsed.args[1]]).to.deep.equal(["dispute", "ipfs://evidence"]);
      expect(iface.parseTransaction({ data: backend().callFor("release", id).data })!.name).to.equal("release");
      expect(iface.parseTransaction({ data: backend().callFor("reclaim", id).data })!.name).to.equal("reclaim");
      expect(() => backend().callFor("release", "not-a-uuid")).to.throw(/UUID/);
      expect(() => backend().buildTx("escrow.award", { taskId: id, agent: "0x12", price: "1" })).to.throw(/Malformed escrow.award/);
      expect(() => backend().buildTx("anchor.anchor", { epoch: 0, root: hexlify(randomBytes(32)), uri: "" })).to.throw(/Malformed/);
    });
  });

  it("sends intents in id order with consecutive nonces, each once, confirms them and runs the hooks", async () => {
    const [t1, t2, t3] = [await fundNative(), await fundNative(), await fundNative()];
    const n0 = await nonceOf(coordinator);
    const root = hexlify(randomBytes(32));
    const resultHash = hexlify(randomBytes(32));
    const ids = await record(
      award(t1),
      award(t2, 10n ** 15n),
      { intent: `deliver:${t1}`, kind: "escrow.deliver", payload: { taskId: t1, resultHash } },
      { intent: `refund:${t3}`, kind: "escrow.refund", payload: { taskId: t3 } },
      { intent: "anchor:test:1", kind: "anchor.anchor", payload: { epoch: 1, root, uri: "aicp://reputation/epoch/1" } },
    );
    const rows = await final(ids);
    expect(rows.map((r) => r.status)).to.deep.equal(Array(5).fill("confirmed"));
    expect(rows.map((r) => Number(r.nonce))).to.deep.equal([n0, n0 + 1, n0 + 2, n0 + 3, n0 + 4]);
    expect(await nonceOf(coordinator)).to.equal(n0 + 5);
    for (const r of rows) {
      const tx = (await chain.provider.getTransaction(r.tx_hash!))!;
      expect([tx.from, tx.nonce, Transaction.from(r.raw_tx!).hash]).to.deep.equal([coordinator, Number(r.nonce), r.tx_hash]);
      expect(tx.gasLimit <= BigInt(h.config.TX_MAX_GAS) && tx.gasLimit > BigInt(r.gas_used!)).to.equal(true);
      expect(Number(r.block_number)).to.be.greaterThan(0);
    }
    const e1 = await escrow.getFunction("escrowOf")(taskKey(t1));
    expect([e1.state, e1.agent, e1.price, e1.resultHash]).to.deep.equal([State.Delivered, agent.address, 4n * 10n ** 14n, resultHash]);
    expect((await escrow.getFunction("escrowOf")(taskKey(t2))).state).to.equal(State.Awarded);
    expect((await escrow.getFunction("escrowOf")(taskKey(t3))).state).to.equal(State.Refunded);
    expect(await anchor.getFunction("rootOf")(1)).to.equal(root);
    expect(seen.confirmed.filter((r) => ids.includes(r.id)).map((r) => r.id)).to.deep.equal(ids);

    // Re-recording an intent is a no-op: same row, no second transaction.
    const again = await h.c.ctx.db.tx((t) => sender().enqueue(t, award(t1)));
    expect(again).to.deep.equal({ id: ids[0], created: false });
    await new Promise((r) => setTimeout(r, 500));
    expect(await nonceOf(coordinator)).to.equal(n0 + 5);
    expect(seen.confirmed.filter((r) => r.id === ids[0])).to.have.length(1);

    // The buyer's own call from the backend: accepting the awarded t2 releases it.
    const release = backend().callFor("release", t2);
    await (await buyerTx.sendTransaction({ to: release.to, data: release.data })).wait();
    expect((await escrow.getFunction("escrowOf")(taskKey(t2))).state).to.equal(State.Released);
  });

  it("marks a reverting intent reverted with the custom error, without retrying it or blocking the next", async () => {
    const funded = await fundNative();
    const n0 = await nonceOf(coordinator);
    const unfunded = randomUUID();
    const ids = await record(
      award(unfunded),
      { intent: `bad:${unfunded}`, kind: "escrow.award", payload: { taskId: unfunded, agent: "nobody", price: "1" } },
      award(funded),
    );
    const [rev, bad, ok] = await final(ids);
    expect(rev!.status).to.equal("reverted");
    expect(rev!.last_error).to.match(/^TaskEscrowInvalidState\(taskId=0x[0-9a-f]{64}, state=0\)$/);
    expect([rev!.nonce, rev!.tx_hash, rev!.attempts]).to.deep.equal([null, null, 0]);
    expect(bad!.status).to.equal("failed");
    expect(bad!.last_error).to.match(/^INVALID_INTENT_PAYLOAD/);
    expect(ok!.status).to.equal("confirmed");
    expect(Number(ok!.nonce)).to.equal(n0);
    expect(await nonceOf(coordinator)).to.equal(n0 + 1);
    expect(seen.reverted.filter((r) => r.id === rev!.id || r.id === bad!.id)).to.have.length(2);
    // Not retried: the job finished, the row stays as it is.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await rowOf(rev!.id)).status).to.equal("reverted");
    expect(await (await h.c.ctx.queues.chainTx.getJob(`tx-${rev!.id}`))!.getState()).to.equal("completed");
    expect(seen.reverted.filter((r) => r.id === rev!.id)).to.have.length(1);
  });

  it("keeps intents pending while the chain is unreachable, reports degraded, and sends them after recovery", async () => {
    const [t1, t2] = [await fundNative(), await fundNative()];
    const n0 = await nonceOf(coordinator);
    await proxy.close();
    try {
      const ids = await record(award(t1), award(t2));
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await Promise.all(ids.map(rowOf))).map((r) => r.status)).to.deep.equal(["pending", "pending"]);
      const ready = await new Client(h.url).get("/ready");
      expect(ready.status).to.equal(200);
      expect(ready.body.status).to.equal("degraded");
      expect(ready.body.outbox).to.include({ chainOk: false, pending: 2, backlog: 2 });
      expect(ready.body.outbox.lastError).to.be.a("string");
      expect(await nonceOf(coordinator)).to.equal(n0);
      await proxy.open();
      const rows = await final(ids, 40_000);
      expect(rows.map((r) => [r.status, Number(r.nonce)])).to.deep.equal([["confirmed", n0], ["confirmed", n0 + 1]]);
      const after = await new Client(h.url).get("/ready");
      expect(after.body.status).to.equal("ready");
      expect(after.body.outbox).to.include({ chainOk: true, backlog: 0 });
    } finally {
      await proxy.open().catch(() => undefined);
    }
  });

  it("marks a transaction that reverts on-chain (after a good estimate) reverted, its nonce used once", async () => {
    const task = await fundNative();
    const n0 = await nonceOf(coordinator);
    const admin = new NonceManager(chain.wallet(0));
    const escrowAdmin = escrow.connect(admin) as Contract;
    await chain.provider.send("evm_setAutomine", [false]);
    let id: string;
    try {
      [id] = (await record(award(task))) as [string];
      await until(async () => (await rowOf(id)).status === "sent", 10_000);
      // The admin pauses the escrow in the same block, ahead of the award (a higher tip).
      await escrowAdmin.getFunction("pause")({ maxPriorityFeePerGas: 50_000_000_000n, maxFeePerGas: 100_000_000_000n });
      await chain.mine(1);
    } finally {
      await chain.provider.send("evm_setAutomine", [true]);
    }
    const [row] = await final([id]);
    await (await escrowAdmin.getFunction("unpause")()).wait();
    expect(row!.status).to.equal("reverted");
    expect(row!.last_error).to.match(/^reverted on-chain in block \d+/);
    expect((await chain.provider.getTransactionReceipt(row!.tx_hash!))!.status).to.equal(0);
    expect(await nonceOf(coordinator)).to.equal(n0 + 1);
    expect(seen.reverted.filter((r) => r.id === id)).to.have.length(1);
    expect((await escrow.getFunction("escrowOf")(taskKey(task))).state).to.equal(State.Funded);
  });

  it("two coordinator processes on one database send each intent once, with consecutive nonces", async () => {
    const tasks: string[] = [];
    for (let i = 0; i < 6; i++) tasks.push(await fundNative());
    const n0 = await nonceOf(coordinator);
    const second = await startHarness({ ...env, DATABASE_SCHEMA: h.config.DATABASE_SCHEMA, QUEUE_PREFIX: h.config.QUEUE_PREFIX });
    try {
      const ids = [
        ...(await record(award(tasks[0]!), award(tasks[1]!))),
        ...(await second.c.ctx.db.tx(async (t) => [
          (await second.c.services.sender!.enqueue(t, award(tasks[2]!))).id,
          (await second.c.services.sender!.enqueue(t, award(tasks[3]!))).id,
        ])),
        ...(await record(award(tasks[4]!), award(tasks[5]!))),
      ];
      const rows = await final(ids);
      expect(rows.map((r) => r.status)).to.deep.equal(Array(6).fill("confirmed"));
      expect(rows.map((r) => Number(r.nonce))).to.deep.equal([0, 1, 2, 3, 4, 5].map((i) => n0 + i));
      expect(await nonceOf(coordinator)).to.equal(n0 + 6);
    } finally {
      await second.stop({ keepSchema: true });
    }
  });

  describe("crash safety", () => {
    /** Stops the coordinator (keeping its schema and queue prefix) and starts a new one on them. */
    async function restart(extra: Record<string, string> = {}) {
      const { DATABASE_SCHEMA, QUEUE_PREFIX } = h.config;
      await h.stop({ keepSchema: true });
      await start({ DATABASE_SCHEMA, QUEUE_PREFIX, ...extra });
    }

    it("a transaction sent but not mined when the coordinator stops is confirmed by the next one, once", async () => {
      const [task, next] = [await fundNative(), await fundNative()];
      const n0 = await nonceOf(coordinator);
      await chain.provider.send("evm_setAutomine", [false]);
      try {
        const [id] = await record(award(task));
        const sent = await until(async () => {
          const r = await rowOf(id!);
          return r.status === "sent" && r;
        }, 10_000);
        expect((await chain.provider.getTransaction(sent.tx_hash!))!.blockNumber).to.equal(null);
        await restart({ CONFIRMATIONS: "1" });
        // The node forgets it (a mempool eviction, a node restart): its pending nonce is n0 again,
        // yet the next intent must not reuse n0, and the forgotten one goes out again, unchanged.
        expect(await chain.provider.send("hardhat_dropTransaction", [sent.tx_hash])).to.equal(true);
        const [id2] = await record(award(next));
        const sent2 = await until(async () => {
          const r = await rowOf(id2!);
          return r.status === "sent" && r;
        }, 10_000);
        expect(sent2.nonce).to.equal(String(n0 + 1));
        // Re-broadcast (the row says so) and back in the node's mempool.
        await until(async () => /re-broadcast/.test((await rowOf(id!)).last_error ?? "") && chain.provider.getTransaction(sent.tx_hash!), 10_000);
        await chain.mine(1);
        await new Promise((r) => setTimeout(r, 500));
        const mined = await rowOf(id!);
        expect(mined.status, "one block deep is not confirmed at CONFIRMATIONS=1").to.equal("sent");
        await chain.mine(1);
        const [row, row2] = await final([id!, id2!]);
        expect([row!.status, row!.tx_hash, row!.nonce]).to.deep.equal(["confirmed", sent.tx_hash, String(n0)]);
        expect([row2!.status, row2!.tx_hash]).to.deep.equal(["confirmed", sent2.tx_hash]);
        expect(await nonceOf(coordinator)).to.equal(n0 + 2);
      } finally {
        await chain.provider.send("evm_setAutomine", [true]);
      }
      expect((await escrow.getFunction("escrowOf")(taskKey(task))).state).to.equal(State.Awarded);
    });

    it("a transaction signed but never broadcast goes out after a restart as the same transaction", async () => {
      const task = await fundNative();
      const n0 = await nonceOf(coordinator);
      proxy.rules.set("eth_sendRawTransaction", "refuse");
      let signed: OutboxRow;
      try {
        const [id] = await record(award(task));
        signed = await until(async () => {
          const r = await rowOf(id!);
          return r.status === "signed" && r.last_error !== null && r;
        }, 10_000);
        expect(await chain.provider.getTransaction(signed.tx_hash!)).to.equal(null);
        await restart({ CONFIRMATIONS: "0" });
      } finally {
        proxy.rules.clear();
      }
      const [row] = await final([signed.id]);
      expect([row!.status, row!.tx_hash, row!.raw_tx, row!.nonce]).to.deep.equal(["confirmed", signed.tx_hash, signed.raw_tx, String(n0)]);
      expect(await nonceOf(coordinator)).to.equal(n0 + 1);
    });

    it("a broadcast whose answer was lost before the crash is not sent a second time", async () => {
      const [task, next] = [await fundNative(), await fundNative()];
      const n0 = await nonceOf(coordinator);
      // The node gets the transaction (and mines it), but the coordinator can neither hear the
      // answer nor look the transaction up, so the row stays `signed`.
      for (const m of ["eth_sendRawTransaction", "eth_getTransactionByHash", "eth_getTransactionReceipt"]) proxy.rules.set(m, "lose-answer");
      let signed: OutboxRow;
      try {
        const [id] = await record(award(task));
        signed = await until(async () => {
          const r = await rowOf(id!);
          return r.status === "signed" && r.last_error !== null && r;
        }, 10_000);
        expect((await chain.provider.getTransactionReceipt(signed.tx_hash!))!.status).to.equal(1);
        await restart();
      } finally {
        proxy.rules.clear();
      }
      const [row] = await final([signed.id]);
      expect([row!.status, row!.tx_hash, row!.nonce]).to.deep.equal(["confirmed", signed.tx_hash, String(n0)]);
      expect(await nonceOf(coordinator)).to.equal(n0 + 1);
      // The next intent takes the next nonce: nothing reused, nothing skipped.
      const [id2] = await record(award(next));
      const [row2] = await final([id2!]);
      expect([row2!.status, row2!.nonce]).to.deep.equal(["confirmed", String(n0 + 1)]);
    });
  });
});
