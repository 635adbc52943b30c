import { expect } from "chai";
import { createServer } from "node:net";
import type { ApiPromise } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { stringToU8a, u8aToHex } from "@polkadot/util";
import { startHarness, until, type Harness } from "./harness.js";
import { connectSubstrate, createSubmitter, type Submitter } from "../../src/chain/substrate/client.js";
import { devPair, seedLocalSubstrate, startLocalSubstrate, TEST_ASSET, type LocalSubstrate } from "../../src/chain/substrate/local-chain.js";
import { decodeMemo, encodeMemo, toAccountHex } from "../../src/chain/substrate/codec.js";
import { custodyOf } from "../../src/chain/substrate/custody.js";
import { rulingSplit } from "../../src/protocol/disputes.js";
import { createSession, type Session } from "../../src/sdk/session.js";
import { createReferenceAgent } from "../../src/agents-ref/kinds.js";
import type { Agent } from "../../src/sdk/agent.js";
import { unbalancedGroups } from "../../src/ledger/store.js";
import { enqueue } from "../../src/settlement/outbox-store.js";
import { createSubstrateBuyer } from "../../src/sdk/substrate-buyer.js";
import { voucherPayload } from "../../src/chain/substrate/vouchers.js";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

const UNIT = 10n ** 12n;
const TOKEN = `asset:${TEST_ASSET.id}`;
const FEE_BPS = 250;
const ACCEPTANCE_S = 600;
const APPEAL_S = 300;

/**
 * The marketplace on the Substrate backend, over HTTP, the way its users drive it: a buyer signed
 * in with Sign-In with Substrate posts an escrow task in tUSD, funds it from their own account
 * with the plan's call, a reference agent signed in with an sr25519 account wins and delivers,
 * and the escrow settles through the buyer's custody multisig — accepted by the buyer, released
 * by silence (the arbitrator's co-signer after the window), refunded when nobody can do the
 * task, and split by the arbitrator's ruling after a dispute; an epoch's reputation root anchored
 * by a remark. Balances are checked to the base unit and every custody account against the ledger.
 */
describe("Substrate route: tasks, escrows, disputes and anchors over HTTP (chopsticks Asset Hub)", function () {
  this.timeout(300_000);
  let chain: LocalSubstrate;
  let api: ApiPromise;
  let sub: Submitter;
  let h: Harness;
  let buyer: KeyringPair, arbitrator: KeyringPair, agentKey: KeyringPair, stranger: KeyringPair, treasury: KeyringPair, coordinator: KeyringPair;
  let buyerSession: Session, arbitratorSession: Session;
  let agent: Agent;
  const hex = (p: KeyringPair) => toAccountHex(p.address);
  const signer = (p: KeyringPair) => ({ kind: "substrate" as const, address: p.address, signRaw: async (m: string) => u8aToHex(p.sign(stringToU8a(m))) });
  const tusd = async (who: string) => {
    const a = await api.query.assets.account(TEST_ASSET.id, toAccountHex(who));
    return a.isSome ? a.unwrap().balance.toBigInt() : 0n;
  };
  const q = async <T = Record<string, string>>(sql: string, params: unknown[] = []) => (await h.c.ctx.db.query(sql, params)).rows as T[];
  /** Signs and submits a call the coordinator handed out (SubstrateCall.call) from `who`'s account. */
  const send = (call: { call: string; genesisHash: string }, who: KeyringPair) => {
    expect(call.genesisHash).to.equal(api.genesisHash.toHex());
    return sub.submit(api.tx(api.createType("Call", call.call)), who);
  };
  const task = (id: string) => buyerSession.request<{ status: string; chain: string; agent: string | null; price: string | null; funding: { escrowState: string | null } }>("GET", `/v1/tasks/${id}`);
  const statusIs = (id: string, ...want: string[]) =>
    until(async () => want.includes((await task(id)).status) && (await task(id)), 60_000, 200).catch(async (err: Error) => {
      const due = await h.c.services.escrow!.releaseDue().catch((e: Error) => e.message);
      const rows = await q("SELECT id, intent, kind, status, last_error FROM chain_outbox WHERE payload->>'taskId' = $1 ORDER BY id", [id]);
      throw new Error(`releaseDue now: ${due}; task ${id} is ${(await task(id)).status}, not ${want.join("|")} (${err.message}); outbox: ${JSON.stringify(rows, null, 1)}; escrow: ${JSON.stringify(await q("SELECT state, acceptance_ends_at, delivered_at FROM escrows WHERE task_id = $1", [id]))}; chain time ${new Date((await api.query.timestamp.now()).toNumber()).toISOString()}`);
    });
  /** Moves the chain's clock (chopsticks dev_timeTravel) and builds a block at the new time. */
  async function travel(seconds: number) {
    const target = (await api.query.timestamp.now()).toNumber() + seconds * 1000;
    // A block built at the same moment (another extrinsic) would start from the old clock: again then.
    for (let i = 0; i < 5 && (await api.query.timestamp.now()).toNumber() < target; i++) {
      await api.rpc("dev_timeTravel" as never, target as never);
      await api.rpc("dev_newBlock" as never);
    }
    expect((await api.query.timestamp.now()).toNumber()).to.be.at.least(target);
  }
  /** The outbox row of `intent` once it has ended (confirmed, reverted, failed). */
  const ended = (intent: string) =>
    until(async () => {
      const r = (await q<{ status: string; last_error: string; tx_hash: string | null; steps: { status: string; hash: string }[] }>("SELECT status, last_error, tx_hash, steps FROM chain_outbox WHERE intent = $1", [intent]))[0];
      return r && r.status !== "pending" && r;
    }, 30_000, 100);
  /** The coordinator's anchor remarks of `epoch` in blocks after `from`. */
  async function anchorRemarks(epoch: string, from: number) {
    let n = 0;
    const head = (await api.rpc.chain.getHeader()).number.toNumber();
    for (let b = from + 1; b <= head; b++) {
      const blk = await api.rpc.chain.getBlock(await api.rpc.chain.getBlockHash(b));
      for (const x of blk.block.extrinsics)
        if (x.method.section === "system" && x.method.method === "remarkWithEvent" && decodeMemo(x.method.args[0]!.toU8a(true))?.op === "anchor" && (decodeMemo(x.method.args[0]!.toU8a(true)) as { epoch: string }).epoch === epoch) n++;
    }
    return n;
  }
  /** Each custody account's tUSD on-chain equals what the ledger says it holds. */
  async function conservation() {
    await until(async () => {
      const head = (await api.rpc.chain.getHeader()).number.toNumber();
      return (h.c.substrateIndexer!.status().applied ?? 0) >= head;
    }, 30_000, 50);
    const c = custodyOf(buyer.address, coordinator.address, arbitrator.address);
    const held = await q<{ s: string }>(
      `SELECT COALESCE(SUM(e.amount), 0)::text AS s FROM ledger_entries e
        WHERE e.token = $1 AND e.entry_group LIKE 'substrate:%'
          AND (e.account IN ($2, $3) OR e.account IN (SELECT 'escrow:' || task_id FROM escrows WHERE buyer = $4))`,
      [TOKEN, `channel-deposit:${hex(buyer)}`, `custody-reserve:${hex(buyer)}`, hex(buyer)],
    );
    expect(await tusd(c.account), "custody tUSD = ledger").to.equal(BigInt(held[0]!.s));
    expect(await unbalancedGroups(h.c.ctx.db)).to.deep.equal([]);
  }
  /** Posts an escrow task as the buyer and funds it with the plan's call; returns its id. */
  async function postFunded(over: Record<string, unknown> = {}) {
    const r = await buyerSession.request<{ tasks: { id: string; chain: string; settlement: string; funding: { calls: { call: string; genesisHash: string }[]; amount: string; opening: string; custody: string } }[] }>("POST", "/v1/tasks", {
      capability: "math.evaluate",
      input: { expression: "2 + 3 * 4" },
      complexity: 2,
      budget: "2000000",
      token: TOKEN,
      deadline: new Date(Date.now() + 3_600_000).toISOString(),
      auction: { rule: "second-price", windowMs: 300 },
      route: "escrow",
      ...over,
    });
    const t = r.tasks[0]!;
    expect(t.chain).to.equal("substrate");
    expect(t.settlement).to.equal("escrow");
    await send(t.funding.calls[0]!, buyer);
    return { id: t.id, plan: t.funding };
  }

  before(async () => {
    chain = await startLocalSubstrate(await freePort());
    api = await connectSubstrate(chain.url);
    sub = createSubmitter(api);
    [coordinator, arbitrator, treasury, buyer, agentKey, stranger] = (await Promise.all(["//Bob", "//Charlie", "//Dave", "//Eve", "//Agent1", "//Mallory"].map((u) => devPair(u)))) as [KeyringPair, KeyringPair, KeyringPair, KeyringPair, KeyringPair, KeyringPair];
    await seedLocalSubstrate(api, sub, {
      accounts: [coordinator, arbitrator, treasury, buyer, agentKey, stranger].map((k) => k.address),
      native: 1000n * UNIT,
      admin: await devPair("//Alice"),
      assetHolders: [buyer.address, stranger.address],
      assetAmount: 1_000_000_000n,
    });
    h = await startHarness(
      {
        SUBSTRATE_RPC_URL: chain.url,
        SUBSTRATE_ARBITRATOR_URI: "//Charlie",
        SUBSTRATE_ACCEPTANCE_WINDOW_S: String(ACCEPTANCE_S),
        SUBSTRATE_APPEAL_WINDOW_S: String(APPEAL_S),
        ESCROW_THRESHOLD: "1000000",
        INDEXER_POLL_MS: "100",
        LOG_LEVEL: process.env["TEST_LOG_LEVEL"] ?? "silent",
      },
      "all",
      { sweepMs: 250 },
    );
    buyerSession = createSession({ baseUrl: h.url, wallet: signer(buyer) });
    arbitratorSession = createSession({ baseUrl: h.url, wallet: signer(arbitrator) });
    agent = createReferenceAgent("math", { baseUrl: h.url, wallet: signer(agentKey), maxConcurrency: 4, pollWaitMs: 1_000 });
    await agent.start();
  });
  after(async () => {
    await agent?.stop({ drainMs: 0 });
    await h?.stop();
    await api?.disconnect();
    await chain?.stop();
  });

  it("refuses a Substrate buyer's EVM token, and lists the chain's routes and windows", async () => {
    const r = await buyerSession
      .request("POST", "/v1/tasks", {
        capability: "math.evaluate", input: {}, complexity: 1, budget: "2000000", token: "0x0000000000000000000000000000000000000000",
        deadline: new Date(Date.now() + 3_600_000).toISOString(), auction: { rule: "second-price", windowMs: 300 },
      })
      .catch((e: { status: number; code: string }) => e);
    expect(r).to.include({ status: 400, code: "TOKEN_CHAIN_MISMATCH" });
    const n = (await (await fetch(`${h.url}/v1/network`)).json()) as { chains: { kind: string; windows?: unknown; routes?: string[] }[] };
    const s = n.chains.find((c) => c.kind === "substrate")!;
    expect(s.windows).to.deep.equal({ acceptance: ACCEPTANCE_S, rule: 3 * 86400, appeal: APPEAL_S });
    expect(s.routes).to.deep.equal(["escrow", "channel"]);
  });

  it("escrow accepted by the buyer: funded from the buyer's account, awarded to the Substrate agent, paid from custody exactly", async () => {
    const [b0, a0, t0] = await Promise.all([tusd(buyer.address), tusd(agentKey.address), tusd(treasury.address)]);
    const { id, plan } = await postFunded();
    const opening = BigInt(plan.opening);
    expect(await tusd(buyer.address)).to.equal(b0 - 2_000_000n - opening);
    const delivered = await statusIs(id, "delivered");
    expect(delivered.agent).to.equal(hex(agentKey));
    const price = BigInt(delivered.price!);
    // The release call exists once the coordinator's payout proposal (sent with the delivery attestation) is on-chain.
    const accept = await until(async () => {
      const r = await buyerSession.request<{ call: { call: string; genesisHash: string } }>("POST", `/v1/tasks/${id}/accept`).catch((e: { code: string }) => (e.code === "ESCROW_NOT_CONFIRMED" ? undefined : Promise.reject(e)));
      return r;
    }, 30_000, 200);
    await send(accept.call, buyer);
    await statusIs(id, "settled");
    const split = rulingSplit(price, 2_000_000n, 10_000, FEE_BPS);
    expect(await tusd(agentKey.address)).to.equal(a0 + split.agent);
    expect(await tusd(treasury.address)).to.equal(t0 + split.fee);
    expect(await tusd(buyer.address)).to.equal(b0 - 2_000_000n - opening + split.buyer);
    await conservation();
  });

  it("escrow released by silence: the arbitrator's co-signer executes the payout only after the acceptance window", async () => {
    const a0 = await tusd(agentKey.address);
    const { id } = await postFunded();
    const d = await statusIs(id, "delivered");
    await until(async () => (await q("SELECT 1 FROM escrows WHERE task_id = $1 AND state = 'delivered'", [id])).length > 0, 30_000, 100);
    // Before the window: a release intent (as a confused coordinator might record) is refused by the co-signer.
    await h.c.ctx.db.tx((t) => enqueue(t, { intent: `early-release:${id}`, kind: "escrow.release", payload: { taskId: id }, chain: "substrate" }));
    const early = await ended(`early-release:${id}`);
    expect(early.status).to.equal("reverted");
    expect(early.last_error).to.match(/acceptance window has not passed/);
    expect((await task(id)).status).to.equal("delivered");
    await travel(ACCEPTANCE_S + 5);
    await statusIs(id, "settled");
    expect(await tusd(agentKey.address)).to.equal(a0 + rulingSplit(BigInt(d.price!), 2_000_000n, 10_000, FEE_BPS).agent);
    await conservation();
  });

  it("escrow refunded when the task cannot be done: proposed by the coordinator, co-signed by the arbitrator", async () => {
    const b0 = await tusd(buyer.address);
    const { id, plan } = await postFunded({ capability: "nobody.offers.this" });
    await statusIs(id, "refunded");
    expect(await tusd(buyer.address)).to.equal(b0 - BigInt(plan.opening));
    await conservation();
  });

  it("a dispute split by the arbitrator's ruling, executed after the appeal window; a stranger's dispute memo changes nothing", async () => {
    const [b0, a0, t0] = await Promise.all([tusd(buyer.address), tusd(agentKey.address), tusd(treasury.address)]);
    const { id, plan } = await postFunded();
    const d = await statusIs(id, "delivered");
    const price = BigInt(d.price!);
    await until(async () => (await q("SELECT 1 FROM escrows WHERE task_id = $1 AND state = 'delivered'", [id])).length > 0, 30_000, 100);
    // A stranger's dispute remark names the task but is not a party's: the escrow stays delivered.
    await sub.submit(api.tx.system.remarkWithEvent(u8aToHex(encodeMemo({ op: "dispute", task: id, evidenceUri: "ipfs://bafy-stranger" }))), stranger);
    await until(async () => (h.c.substrateIndexer!.status().applied ?? 0) >= (await api.rpc.chain.getHeader()).number.toNumber(), 30_000, 50);
    expect((await q<{ state: string }>("SELECT state FROM escrows WHERE task_id = $1", [id]))[0]!.state).to.equal("delivered");
    // The buyer's own dispute counts.
    const r = await buyerSession.request<{ call: { call: string; genesisHash: string } }>("POST", `/v1/tasks/${id}/dispute`, { evidenceUri: "ipfs://bafy-buyer-evidence", text: "wrong answer" });
    await send(r.call, buyer);
    await statusIs(id, "disputed");
    const cases = await until(async () => {
      const c = (await arbitratorSession.request<{ items: { id: string; taskId: string; status: string }[] }>("GET", "/v1/disputes")).items.find((x) => x.taskId === id);
      return c;
    }, 30_000, 200);
    expect(cases.status).to.equal("awaiting_ruling");
    // Only the assigned arbitrator gets the ruling call; the buyer is refused.
    const notMine = await buyerSession.request("POST", `/v1/disputes/${cases.id}/ruling`, { agentShareBps: 6000 }).catch((e: { status: number; code: string }) => e);
    expect(notMine).to.include({ status: 403 });
    const ruling = await arbitratorSession.request<{ split: { agent: string; fee: string; buyer: string }; call: { call: string; genesisHash: string } }>("POST", `/v1/disputes/${cases.id}/ruling`, { agentShareBps: 6000 });
    const split = rulingSplit(price, 2_000_000n, 6000, FEE_BPS);
    expect(ruling.split).to.deep.equal({ agent: split.agent.toString(), fee: split.fee.toString(), buyer: split.buyer.toString() });
    await send(ruling.call, arbitrator);
    await until(async () => (await q<{ status: string }>("SELECT status FROM disputes WHERE dispute_id = $1", [cases.id]))[0]?.status === "ruled", 30_000, 100);
    expect((await task(id)).status).to.equal("disputed"); // the appeal window holds the split back
    // The coordinator executes the ruling only after the appeal window, by the chain's clock.
    await h.c.ctx.db.tx((t) => enqueue(t, { intent: `early-finalize:${cases.id}`, kind: "disputes.finalize", payload: { disputeId: cases.id }, chain: "substrate" }));
    const early = await ended(`early-finalize:${cases.id}`);
    expect(early).to.include({ status: "reverted" });
    expect(early.last_error).to.match(/appeal window has not passed/);
    await travel(APPEAL_S + 5);
    await statusIs(id, "resolved");
    expect((await q<{ status: string; agent_share_bps: number }>("SELECT status, agent_share_bps FROM disputes WHERE dispute_id = $1", [cases.id]))[0]).to.deep.equal({ status: "finalized", agent_share_bps: 6000 });
    expect(await tusd(agentKey.address)).to.equal(a0 + split.agent);
    expect(await tusd(treasury.address)).to.equal(t0 + split.fee);
    expect(await tusd(buyer.address)).to.equal(b0 - 2_000_000n - BigInt(plan.opening) + split.buyer);
    const evidence = await q<{ uri: string; source: string }>("SELECT uri, source FROM dispute_evidence WHERE task_id = $1 ORDER BY at", [id]);
    expect(evidence.map((e) => e.uri)).to.include("ipfs://bafy-buyer-evidence");
    expect(evidence.map((e) => e.uri)).to.not.include("ipfs://bafy-stranger");
    await conservation();
  });

  it("the SDK's Substrate buyer posts, funds from its account and accepts; a call for another chain is not sent", async () => {
    const b = createSubstrateBuyer({ baseUrl: h.url, pair: buyer, pollMs: 200 });
    try {
      const funding: string[] = [];
      const t = await b.postTask(
        { capability: "math.evaluate", input: { expression: "7 * 6" }, complexity: 1, budget: 2_000_000n, token: TOKEN, deadline: new Date(Date.now() + 3_600_000), auction: { rule: "second-price", windowMs: 300 }, route: "escrow" },
        { onFunding: (d) => funding.push(d) },
      );
      expect(funding).to.have.length(1);
      await b.waitTask(t.id, "delivered", { timeoutMs: 60_000 });
      const r = await b.accept(t.id);
      expect(r.txHash).to.match(/^0x[0-9a-f]{64}$/);
      await statusIs(t.id, "settled");
      const wrong = await b.send({ chain: "substrate", genesisHash: `0x${"00".repeat(32)}`, call: "0x00", description: "x" }).catch((e: { code: string }) => e);
      expect(wrong).to.include({ code: "WRONG_CHAIN" });
    } finally {
      await b.close();
    }
  });

  it("channel route: a deposit into custody, a task paid by an sr25519 voucher, settled by the batch through custody exactly; a forged voucher is refused", async () => {
    const a0 = await tusd(agentKey.address);
    // Bad input: a 400 with the field named, and no call handed out.
    for (const bad of [{ token: "0x5fbdb2315678afecb367f032d93f642f64180aa3", amount: "5" }, { token: TOKEN, amount: "0" }, { token: TOKEN, amount: "1.5" }, { token: TOKEN, amount: "5", extra: 1 }]) {
      const e = await buyerSession.request("POST", "/v1/channels/deposit-call", bad).catch((x: { status: number; code: string; message: string }) => x);
      expect(e, JSON.stringify(bad)).to.include({ status: 400, code: "VALIDATION_FAILED" });
      expect((e as { message: string }).message).to.match(/body/);
    }
    const dep = await buyerSession.request<{ call: { call: string; genesisHash: string }; opening: string }>("POST", "/v1/channels/deposit-call", { token: TOKEN, amount: "5000000" });
    await send(dep.call, buyer);
    type View = { accounts: { token: string; deposit: string; available: string }[]; pairs: { payee: string; token: string; due: string; nextCumulativeAmount: string; dueTaskIds: string[] }[] };
    const view = () => buyerSession.request<View>("GET", `/v1/channels/${hex(buyer)}`);
    await until(async () => BigInt((await view()).accounts.find((x) => x.token === TOKEN)?.deposit ?? "0") >= 5_000_000n, 30_000, 100);
    const r = await buyerSession.request<{ tasks: { id: string; settlement: string; chain: string }[] }>("POST", "/v1/tasks", {
      capability: "math.evaluate", input: { expression: "9 * 9" }, complexity: 1, budget: "500000", token: TOKEN,
      deadline: new Date(Date.now() + 3_600_000).toISOString(), auction: { rule: "second-price", windowMs: 300 }, route: "channel",
    });
    const t = r.tasks[0]!;
    expect(t).to.include({ settlement: "channel", chain: "substrate" });
    const d = await statusIs(t.id, "delivered");
    const pair = await until(async () => (await view()).pairs.find((p) => p.dueTaskIds.includes(t.id)), 30_000, 100);
    expect(pair.payee).to.equal(hex(agentKey));
    const v = { payer: hex(buyer), payee: pair.payee, token: TOKEN, cumulative: BigInt(pair.nextCumulativeAmount) };
    // Signed by someone else: refused, nothing written.
    const forged = await buyerSession
      .request("POST", "/v1/vouchers", { payer: v.payer, payee: v.payee, token: TOKEN, cumulativeAmount: pair.nextCumulativeAmount, signature: u8aToHex(stranger.sign(voucherPayload(v, api.genesisHash.toHex()))) })
      .catch((e: { status: number; code: string }) => e);
    expect(forged).to.include({ status: 400, code: "VOUCHER_FORGED" });
    const receipt = await buyerSession.request<{ increase: string; taskIds: string[] }>("POST", "/v1/vouchers", {
      payer: v.payer, payee: v.payee, token: TOKEN, cumulativeAmount: pair.nextCumulativeAmount, signature: u8aToHex(buyer.sign(voucherPayload(v, api.genesisHash.toHex()))),
    });
    expect(receipt.taskIds).to.deep.equal([t.id]);
    expect(receipt.increase).to.equal(d.price);
    await statusIs(t.id, "settled");
    expect(await tusd(agentKey.address)).to.equal(a0 + BigInt(d.price!)); // no fee on the channel route
    const rows = await q<{ kind: string; status: string; steps: { what: string }[] }>("SELECT kind, status, steps FROM chain_outbox WHERE kind = 'channels.settleBatch' AND chain = 'substrate'");
    expect(rows.map((x) => x.status)).to.deep.equal(["confirmed"]);
    expect(rows[0]!.steps.map((s) => s.what)).to.deep.equal(["propose-settle", "settle"]);
    await conservation();
  });

  it("the co-signer refuses to refund an escrow that was paid out", async () => {
    const settled = (await q<{ task_id: string }>("SELECT task_id FROM escrows WHERE state = 'released' LIMIT 1"))[0]!.task_id;
    await h.c.ctx.db.tx((t) => enqueue(t, { intent: `late-refund:${settled}`, kind: "escrow.refund", payload: { taskId: settled }, chain: "substrate" }));
    const r = await ended(`late-refund:${settled}`);
    expect(r.status).to.equal("reverted");
    expect(r.last_error).to.match(/only an undelivered escrow is refunded/);
    expect(r.steps).to.deep.equal([]); // nothing was signed
  });

  it("after a crash between storing and broadcasting a step, the stored extrinsic goes out once; a step whose nonce another extrinsic took is planned afresh", async () => {
    const root = `0x${"ab".repeat(32)}`;
    const head = async () => (await api.rpc.chain.getHeader()).number.toNumber();
    const stored = async (epoch: string, nonce: number) => {
      const from = await head();
      const tx = await api.tx.system.remarkWithEvent(u8aToHex(encodeMemo({ op: "anchor", epoch, root, uri: "aicp://test" }))).signAsync(coordinator, { nonce, era: 0 });
      return { from, step: { signer: "coordinator", what: "anchor", nonce, hash: tx.hash.toHex(), raw: tx.toHex(), fromBlock: from, status: "signed" } };
    };
    const insert = (intent: string, epoch: string, step: unknown) =>
      q("INSERT INTO chain_outbox (chain, intent, kind, payload, steps) VALUES ('substrate', $1, 'anchor.anchor', $2, $3)", [intent, JSON.stringify({ epoch, root, uri: "aicp://test" }), JSON.stringify([step])]);
    // 1. Signed and stored, never broadcast (the process died): the sender re-broadcasts those bytes.
    const a = await stored("9001", (await api.rpc.system.accountNextIndex(coordinator.address)).toNumber());
    await insert("crash-anchor:9001", "9001", a.step);
    const r1 = await ended("crash-anchor:9001");
    expect(r1.status).to.equal("confirmed");
    expect(r1.tx_hash).to.equal(a.step.hash);
    expect(await anchorRemarks("9001", a.from)).to.equal(1);
    // 2. Signed and stored, but its nonce went to another extrinsic of the coordinator: dropped, signed anew, sent once.
    const nonce = (await api.rpc.system.accountNextIndex(coordinator.address)).toNumber();
    const b = await stored("9002", nonce);
    await sub.submit(api.tx.system.remarkWithEvent("0x00"), coordinator);
    await insert("crash-anchor:9002", "9002", b.step);
    const r2 = await ended("crash-anchor:9002");
    expect(r2.status).to.equal("confirmed");
    expect(r2.steps.map((s) => s.status)).to.deep.equal(["dropped", "included"]);
    expect(r2.tx_hash).to.not.equal(b.step.hash);
    expect(await anchorRemarks("9002", b.from)).to.equal(1);
  });

  it("anchors a reputation epoch's root with a coordinator remark, indexed back as RootAnchored", async () => {
    const s = await h.c.services.reputation.snapshot();
    const anchored = await until(async () => (await q<{ anchored_tx: string | null }>("SELECT anchored_tx FROM reputation_epochs WHERE epoch = $1", [s.epoch]))[0]?.anchored_tx, 30_000, 100);
    expect(anchored).to.match(/^0x[0-9a-f]{64}$/);
    const ev = await until(async () => (await q<{ args: { root: string; epoch: string } }>("SELECT args FROM chain_events WHERE chain = 'substrate' AND name = 'RootAnchored' AND args->>'epoch' = $1", [String(s.epoch)]))[0], 30_000, 100);
    expect(ev.args).to.include({ root: s.root.toLowerCase(), epoch: String(s.epoch) });
  });
});
