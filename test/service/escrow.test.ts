import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { TestContractWallet__factory } from "../../types/ethers-contracts/index.js";
import { Client, newAgent, newUser, startHarness, taskBody, until, type Harness } from "./harness.js";
import { startChain, type TestChain } from "./chain-harness.js";
import { spawnAgent, type AgentProc } from "./agents-harness.js";
import { checkChainInvariants } from "../../src/chain/evm/invariants.js";
import { connectEvm } from "../../src/chain/evm/chain.js";
import { taskKey } from "../../src/protocol/keys.js";

/**
 * The escrow route end to end: the buyer funds TaskEscrow from the wallet, the indexer opens the
 * auction, the coordinator attests award and delivery through its outbox, the buyer releases
 * (or stays silent), disputes go to an arbitrator who rules with a split, and everyone
 * withdraws on-chain; money is conserved to the base unit on-chain and in the ledger.
 */
describe("escrow route end to end (hardhat node + Postgres + Redis)", function () {
  this.timeout(180_000);
  let chain: TestChain;
  let h: Harness;
  const procs: AgentProc[] = [];
  let token: string;

  before(async () => {
    chain = await startChain();
    h = await startHarness({
      CHAIN_RPC_URL: chain.url,
      DEPLOYMENTS_FILE: chain.deploymentsFile,
      CONFIRMATIONS: "0",
      INDEXER_POLL_MS: "100",
      EXEC_GRACE_MS: "2000",
    }, "all", { sweepMs: 300 });
    token = chain.deployment.contracts["AICPTestToken"]!.address.toLowerCase();
    const t = connectEvm(h.config).token!;
    for (const i of [5, 6, 7, 8]) await (await t.connect(chain.wallet(0)).mint(chain.wallet(i).address, 10n ** 12n)).wait();
  });
  after(async () => {
    for (const p of procs) p.stop();
    await h?.stop();
    await chain?.stop();
  });

  const cap = () => `esc.${Math.random().toString(36).slice(2, 8)}`;
  const send = async (w: Wallet, call: { to: string; data: string; value: string }) =>
    (await w.sendTransaction({ to: call.to, data: call.data, value: BigInt(call.value) })).wait();
  const task = (c: Client, id: string) => c.get(`/v1/tasks/${id}`).then((r) => r.body);
  const status = (c: Client, id: string, s: string) => until(async () => (await task(c, id)).status === s, 60_000, 100);

  async function fundedTask(buyer: Client, wallet: Wallet, capability: string, over: Record<string, unknown> = {}) {
    // Deadlines far ahead: some tests move the chain's clock forward.
    const deadline = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const r = await buyer.post("/v1/tasks", taskBody({ capability, budget: "5000000", token, route: "escrow", deadline, auction: { rule: "first-price", windowMs: 1500 }, ...over }));
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    const t = r.body.tasks[0];
    expect(t.status).to.equal("funding");
    expect(t.funding.calls.map((c: { description: string }) => c.description).join(" ")).to.match(/approve/i);
    for (const call of t.funding.calls) await send(wallet, call);
    // The auction opens once the indexer has seen EscrowFunded (it may then move on at once).
    await until(async () => (await task(buyer, t.id)).status !== "funding", 60_000, 100);
    return t as { id: string };
  }

  /** A wallet call handed out once the indexer has confirmed the chain state it needs (409 ESCROW_NOT_CONFIRMED + Retry-After until then). */
  const handedOut = (c: Client, path: string, body?: unknown) =>
    until(async () => {
      const r = await c.post(path, body);
      return (r.status !== 409 || r.body.error?.code !== "ESCROW_NOT_CONFIRMED") && r;
    }, 30_000, 200);

  it("funds from the wallet, opens on EscrowFunded, attests award and delivery, releases on the buyer's call; agent and buyer withdraw", async () => {
    const capability = cap();
    const buyerWallet = chain.wallet(5);
    const buyer = await newUser(h.url, buyerWallet);
    const agentWallet = chain.wallet(6);
    procs.push(await spawnAgent(h.url, capability, "succeed", { price: "3000000", wallet: agentWallet }));
    const t = await fundedTask(buyer, buyerWallet, capability);
    await status(buyer, t.id, "delivered");
    // Award and delivery attested on-chain by the coordinator.
    const evm = connectEvm(h.config);
    await until(async () => Number((await evm.escrow.escrowOf(taskKey(t.id))).state) === 3, 60_000, 200);
    const onchain = await evm.escrow.escrowOf(taskKey(t.id));
    expect(onchain.agent.toLowerCase()).to.equal(agentWallet.address.toLowerCase());
    expect(onchain.price).to.equal(3_000_000n);
    const acc = await handedOut(buyer, `/v1/tasks/${t.id}/accept`);
    expect(acc.status).to.equal(200);
    await send(buyerWallet, acc.body.call);
    await status(buyer, t.id, "settled");
    // Pull payouts: the agent (price − 2.5% fee) and the buyer (budget − price, refunded at award).
    const before = await evm.token!.balanceOf(agentWallet.address);
    await (await evm.escrow.connect(agentWallet).withdraw(token)).wait();
    expect((await evm.token!.balanceOf(agentWallet.address)) - before).to.equal(3_000_000n - 75_000n);
    await (await evm.escrow.connect(buyerWallet).withdraw(token)).wait();
    await until(async () => (await checkChainInvariants(h.c.ctx.db, evm)).length === 0, 30_000, 200);
  });

  it("fails over to the runner-up at its higher price: the chain pays the runner-up who did the work, not the agent that failed", async () => {
    // The reproduction: X wins at 3 tUSD and fails every attempt; Y, the runner-up at 4 tUSD, is
    // re-awarded and delivers. The escrow holds the whole 5 tUSD budget until it ends, so the
    // re-award above X's price succeeds whatever the buyer withdrew meanwhile.
    const capability = cap();
    const buyerWallet = chain.wallet(5);
    const buyer = await newUser(h.url, buyerWallet);
    const x = await spawnAgent(h.url, capability, "fail", { price: "3000000" });
    const y = await spawnAgent(h.url, capability, "succeed", { price: "4000000" });
    procs.push(x, y);
    const t = await fundedTask(buyer, buyerWallet, capability);
    const evm = connectEvm(h.config);
    await status(buyer, t.id, "delivered");
    const view = await task(buyer, t.id);
    expect([view.agent, view.price]).to.deep.equal([y.address, "4000000"]);
    expect(view.execution.failovers).to.equal(1);
    // The chain names Y at 4 tUSD once the re-award is confirmed; only then is the release call handed out.
    await until(async () => {
      const e = await evm.escrow.escrowOf(taskKey(t.id));
      return e.agent.toLowerCase() === y.address && e.price === 4_000_000n && Number(e.state) === 3;
    }, 60_000, 200);
    let acc = await buyer.post(`/v1/tasks/${t.id}/accept`);
    await until(async () => {
      acc = await buyer.post(`/v1/tasks/${t.id}/accept`);
      return acc.status === 200;
    }, 30_000, 200);
    await send(buyerWallet, acc.body.call);
    await status(buyer, t.id, "settled");
    expect(await evm.escrow.balanceOf(y.address, token)).to.equal(4_000_000n - 100_000n);
    expect(await evm.escrow.balanceOf(x.address, token)).to.equal(0n);
    const settled = await task(buyer, t.id);
    expect([settled.agent, settled.price]).to.deep.equal([y.address, "4000000"]);
    await until(async () => (await checkChainInvariants(h.c.ctx.db, evm)).length === 0, 30_000, 200);
  });

  it("hands out a dispute call only once the delivery is confirmed on-chain, and the funding plan again until funded", async () => {
    const buyer = await newUser(h.url, chain.wallet(5));
    const stranger = await newUser(h.url);
    const deadline = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const r = await buyer.post("/v1/tasks", taskBody({ capability: cap(), budget: "5000000", token, route: "escrow", deadline }));
    const id = r.body.tasks[0].id;
    const again = await buyer.get(`/v1/tasks/${id}/funding`);
    expect(again.status, JSON.stringify(again.body)).to.equal(200);
    expect(again.body.plan.taskKey).to.equal(taskKey(id));
    expect(again.body.plan.authorization).to.match(/^0x[0-9a-f]{130}$/);
    expect((await stranger.get(`/v1/tasks/${id}/funding`)).body.error.code).to.equal("NOT_BUYER");
    // A stranger cannot squat the key with the buyer's own authorization (TaskEscrowUnauthorizedFunding).
    const evm = connectEvm(h.config);
    const squat = await evm.escrow
      .connect(chain.wallet(9))
      .fund.staticCall(taskKey(id), "0x0000000000000000000000000000000000000000", 1n, Math.floor(Date.parse(deadline) / 1000), again.body.plan.authorization, { value: 1n })
      .then(() => "accepted", (err: Error) => err.message);
    expect(squat).to.match(/TaskEscrowUnauthorizedFunding|reverted/);
  });

  it("signs in a contract wallet by ERC-1271 (SIWE): its owner's signature over the message is accepted, another key's refused", async () => {
    const owner = chain.wallet(9);
    const contractWallet = await new TestContractWallet__factory(chain.wallet(0)).deploy(owner.address);
    await contractWallet.waitForDeployment();
    const address = await contractWallet.getAddress();
    const c = new Client(h.url);
    const { nonce } = (await c.get("/v1/auth/nonce")).body as { nonce: string };
    const host = new URL(h.url).host;
    const message = new SiweMessage({ domain: host, address, statement: "Sign in to AICP", uri: `http://${host}`, version: "1", chainId: 31337, nonce, issuedAt: new Date().toISOString() }).prepareMessage();
    const refused = await c.post("/v1/auth/login", { message, signature: await chain.wallet(8).signMessage(message) });
    expect(refused.status).to.equal(401);
    expect(refused.body.error.code).to.equal("SIWE_BAD_SIGNATURE");
    const ok = await c.post("/v1/auth/login", { message, signature: await owner.signMessage(message) });
    expect(ok.status, JSON.stringify(ok.body)).to.equal(200);
    expect(ok.body.address).to.equal(address.toLowerCase());
    c.token = ok.body.token;
    expect((await c.get("/v1/auth/session")).body).to.deep.equal({ address: address.toLowerCase(), roles: ["buyer"] });
  });

  it("refunds the whole budget when the auction gets no proposal", async () => {
    const buyerWallet = chain.wallet(7);
    const buyer = await newUser(h.url, buyerWallet);
    const t = await fundedTask(buyer, buyerWallet, cap(), { auction: { rule: "first-price", windowMs: 200 } });
    await status(buyer, t.id, "refunded");
    expect((await task(buyer, t.id)).auction.closeReason).to.be.oneOf(["all-proposed", "window"]);
    const evm = connectEvm(h.config);
    expect(await evm.escrow.balanceOf(buyerWallet.address, token)).to.be.greaterThanOrEqual(5_000_000n);
  });

  it("a reorg that drops the coordinator's award and delivery attestations: they are sent again, in order, and the escrow names the same agent and price", async () => {
    const capability = cap();
    const buyerWallet = chain.wallet(7);
    const buyer = await newUser(h.url, buyerWallet);
    procs.push(await spawnAgent(h.url, capability, "succeed", { price: "2500000" }));
    await newAgent(h.url, { [capability]: 0 }); // invited, never proposes: the auction runs its window
    const t = await fundedTask(buyer, buyerWallet, capability, { auction: { rule: "first-price", windowMs: 6000 } });
    const evm = connectEvm(h.config);
    const state = async () => Number((await evm.escrow.escrowOf(taskKey(t.id))).state);
    const snap = await chain.snapshot();
    const forkedAt = await chain.provider.getBlockNumber();
    expect(await state()).to.equal(1); // funded, the auction still open
    await until(async () => (await state()) === 3, 60_000, 100); // award and delivery attested
    const confirmed = async () => (await h.c.ctx.db.query("SELECT count(*)::int AS n FROM chain_outbox WHERE intent LIKE $1 AND status = 'confirmed'", [`%${t.id}%`])).rows[0]!["n"] as number;
    await until(async () => (await confirmed()) >= 2, 30_000, 100);
    const oldHead = await chain.provider.getBlockNumber();
    await chain.revert(snap);
    expect(await state()).to.equal(1); // the attestations are gone
    await chain.mine(oldHead - forkedAt + 2);
    await until(async () => (await state()) === 3, 60_000, 200);
    const e = await evm.escrow.escrowOf(taskKey(t.id));
    const row = (await task(buyer, t.id)) as { agent: string; price: string; status: string };
    expect(e.agent.toLowerCase()).to.equal(row.agent);
    expect(e.price.toString()).to.equal(row.price);
    const resent = await h.c.ctx.db.query("SELECT kind FROM chain_outbox WHERE intent LIKE $1 AND intent LIKE '%:reorg:%' ORDER BY id", [`%${t.id}%`]);
    expect(resent.rows.map((r) => r["kind"])).to.deep.equal(["escrow.award", "escrow.deliver"]);
    evm.close();
  });

  it("goes to dispute with evidence, the arbitrator rules a split, the escrow executes it", async () => {
    const capability = cap();
    const buyerWallet = chain.wallet(8);
    const buyer = await newUser(h.url, buyerWallet);
    const agentWallet = chain.wallet(9);
    procs.push(await spawnAgent(h.url, capability, "succeed", { price: "4000000", wallet: agentWallet }));
    const t = await fundedTask(buyer, buyerWallet, capability);
    const evm = connectEvm(h.config);
    await until(async () => Number((await evm.escrow.escrowOf(taskKey(t.id))).state) === 3, 60_000, 200);
    // The call is handed out once the indexer has confirmed the delivery (409 + Retry-After until then).
    const d = await until(async () => {
      const r = await buyer.post(`/v1/tasks/${t.id}/dispute`, { evidenceUri: "ipfs://bafy-evidence", text: "The summary misses the main point." });
      if (r.status === 409) expect(r.body.error.code).to.equal("ESCROW_NOT_CONFIRMED");
      return r.status === 200 && r;
    }, 30_000, 200);
    expect(d.status, JSON.stringify(d.body)).to.equal(200);
    await send(buyerWallet, d.body.call);
    await status(buyer, t.id, "disputed");
    const disputeId = await evm.resolver.disputeOfTask(taskKey(t.id));
    const info = await evm.resolver.disputeOf(disputeId);
    const arbWallet = [chain.wallet(2), chain.wallet(3)].find((w) => w.address === info.arbitrator)!;
    const arb = await newUser(h.url, arbWallet);
    const list = await arb.get("/v1/disputes");
    expect(list.status).to.equal(200);
    expect(list.body.items.map((x: { taskId: string }) => x.taskId)).to.include(t.id);
    const one = await arb.get(`/v1/disputes/${disputeId}`);
    expect(one.body.evidence.map((e: { source: string }) => e.source).sort()).to.deep.equal(["api", "chain"]);
    expect((await buyer.get("/v1/disputes")).body.error.code).to.equal("ARBITRATOR_ONLY");
    await (await evm.resolver.connect(arbWallet).rule(disputeId, 6000)).wait();
    await chain.provider.send("evm_increaseTime", [86_401]);
    await chain.mine(1);
    // Past the appeal window the coordinator finalizes the ruling itself (nobody has to).
    await status(buyer, t.id, "resolved");
    const finalized = async () => (await h.c.ctx.db.query("SELECT status FROM chain_outbox WHERE kind = 'disputes.finalize' AND payload->>'disputeId' = $1", [disputeId.toString()])).rows.map((r) => r["status"]);
    await until(async () => (await finalized()).includes("confirmed"), 30_000, 200).catch(async () => expect(await finalized()).to.include("confirmed"));
    // 60% of 4 tUSD to the agent less the 2.5% fee on that share; 40% back to the buyer.
    expect(await evm.escrow.balanceOf(agentWallet.address, token)).to.equal(2_400_000n - 60_000n);
    await until(async () => (await checkChainInvariants(h.c.ctx.db, evm)).length === 0, 30_000, 200);
  });

  it("releases by silence after the acceptance window (the coordinator attests the release)", async () => {
    const capability = cap();
    const buyerWallet = chain.wallet(5);
    const buyer = await newUser(h.url, buyerWallet);
    procs.push(await spawnAgent(h.url, capability, "succeed", { price: "1000000" }));
    const t = await fundedTask(buyer, buyerWallet, capability);
    const evm = connectEvm(h.config);
    await until(async () => Number((await evm.escrow.escrowOf(taskKey(t.id))).state) === 3, 60_000, 200);
    await chain.provider.send("evm_increaseTime", [3601]);
    await chain.mine(1);
    await status(buyer, t.id, "settled");
    const released = await h.c.ctx.db.query<{ status: string }>("SELECT status FROM chain_outbox WHERE intent = $1", [`release:${t.id}`]);
    expect(released.rows[0]?.status).to.equal("confirmed");
  });

  it("refunds the buyer when the agent fails and no runner-up is left", async () => {
    const capability = cap();
    const buyerWallet = chain.wallet(7);
    const buyer = await newUser(h.url, buyerWallet);
    procs.push(await spawnAgent(h.url, capability, "fail", { price: "1000000" }));
    const evm = connectEvm(h.config);
    const credit = await evm.escrow.balanceOf(buyerWallet.address, token);
    const t = await fundedTask(buyer, buyerWallet, capability);
    await status(buyer, t.id, "refunded");
    expect((await evm.escrow.balanceOf(buyerWallet.address, token)) - credit).to.equal(5_000_000n);
    await until(async () => (await checkChainInvariants(h.c.ctx.db, evm)).length === 0, 30_000, 200);
  });

  it("hears one appeal from the losing side before a different arbitrator", async () => {
    const capability = cap();
    const buyerWallet = chain.wallet(5);
    const buyer = await newUser(h.url, buyerWallet);
    procs.push(await spawnAgent(h.url, capability, "succeed", { price: "2000000" }));
    const t = await fundedTask(buyer, buyerWallet, capability);
    const evm = connectEvm(h.config);
    await until(async () => Number((await evm.escrow.escrowOf(taskKey(t.id))).state) === 3, 60_000, 200);
    const d = await handedOut(buyer, `/v1/tasks/${t.id}/dispute`, { evidenceUri: "ipfs://appeal-case" });
    await send(buyerWallet, d.body.call);
    await status(buyer, t.id, "disputed");
    const id = await evm.resolver.disputeOfTask(taskKey(t.id));
    const first = (await evm.resolver.disputeOf(id)).arbitrator;
    const arbs = [chain.wallet(2), chain.wallet(3)];
    await (await evm.resolver.connect(arbs.find((w) => w.address === first)!).rule(id, 9000)).wait();
    // The buyer lost (90% to the agent) and appeals; a different arbitrator hears it.
    await (await evm.resolver.connect(buyerWallet).appeal(id)).wait();
    const second = (await evm.resolver.disputeOf(id)).arbitrator;
    expect(second).to.not.equal(first);
    await until(async () => (await h.c.ctx.db.query<{ appealed: boolean }>("SELECT appealed FROM disputes WHERE dispute_id = $1", [id.toString()])).rows[0]?.appealed === true, 30_000, 200);
    await (await evm.resolver.connect(arbs.find((w) => w.address === second)!).rule(id, 2000)).wait();
    // The appeal's ruling is final at once: the coordinator finalizes it.
    await status(buyer, t.id, "resolved");
    await until(async () => (await checkChainInvariants(h.c.ctx.db, evm)).length === 0, 30_000, 200);
  });

  it("reassigns a dispute nobody ruled on by its deadline to another arbitrator (the coordinator's sweep)", async () => {
    const capability = cap();
    const buyerWallet = chain.wallet(6);
    const buyer = await newUser(h.url, buyerWallet);
    procs.push(await spawnAgent(h.url, capability, "succeed", { price: "2000000" }));
    const t = await fundedTask(buyer, buyerWallet, capability);
    const evm = connectEvm(h.config);
    await until(async () => Number((await evm.escrow.escrowOf(taskKey(t.id))).state) === 3, 60_000, 200);
    const d = await handedOut(buyer, `/v1/tasks/${t.id}/dispute`, { evidenceUri: "ipfs://silent-arbitrator" });
    await send(buyerWallet, d.body.call);
    await status(buyer, t.id, "disputed");
    const id = await evm.resolver.disputeOfTask(taskKey(t.id));
    const first = (await evm.resolver.disputeOf(id)).arbitrator;
    await chain.provider.send("evm_increaseTime", [3 * 86_400 + 1]);
    await chain.mine(1);
    await until(async () => (await evm.resolver.disputeOf(id)).arbitrator !== first, 30_000, 200);
    await until(async () => (await h.c.ctx.db.query<{ arbitrator: string }>("SELECT arbitrator FROM disputes WHERE dispute_id = $1", [id.toString()])).rows[0]?.arbitrator !== first.toLowerCase(), 30_000, 200);
    // The sender marks its transaction confirmed on its own schedule (the indexer may see the event first).
    const reassigned = async () => (await h.c.ctx.db.query("SELECT status FROM chain_outbox WHERE kind = 'disputes.reassign' AND payload->>'disputeId' = $1", [id.toString()])).rows.map((r) => r["status"]);
    await until(async () => (await reassigned()).includes("confirmed"), 30_000, 200).catch(async () => expect(await reassigned()).to.include("confirmed"));
    evm.close();
  });

  it("lets the buyer reclaim after the deadline when nothing was delivered", async () => {
    const capability = cap();
    const buyerWallet = chain.wallet(8);
    const buyer = await newUser(h.url, buyerWallet);
    procs.push(await spawnAgent(h.url, capability, "hang", { price: "1000000", etaMs: 1_000_000_000 }));
    const t = await fundedTask(buyer, buyerWallet, capability);
    await status(buyer, t.id, "running");
    const evm = connectEvm(h.config);
    await until(async () => Number((await evm.escrow.escrowOf(taskKey(t.id))).state) === 2, 60_000, 200);
    await chain.provider.send("evm_increaseTime", [31 * 86_400]);
    await chain.mine(1);
    // The call is handed out once the indexer has confirmed the escrow and the deadline has passed on-chain.
    let rc = await buyer.post(`/v1/tasks/${t.id}/reclaim`);
    await until(async () => {
      rc = await buyer.post(`/v1/tasks/${t.id}/reclaim`);
      if (rc.status === 409) expect(rc.headers.get("retry-after")).to.match(/^\d+$/);
      return rc.status === 200;
    }, 30_000, 200);
    await send(buyerWallet, rc.body.call);
    await status(buyer, t.id, "refunded");
    expect(Number((await evm.escrow.escrowOf(taskKey(t.id))).state)).to.equal(6);
  });

  it("validates accept, dispute and reclaim callers", async () => {
    const buyer = await newUser(h.url, chain.wallet(5));
    const stranger = await newUser(h.url);
    const r = await buyer.post("/v1/tasks", taskBody({ capability: cap(), budget: "5000000", token, route: "escrow" }));
    const id = r.body.tasks[0].id;
    expect((await stranger.post(`/v1/tasks/${id}/accept`)).body.error.code).to.equal("NOT_BUYER");
    expect((await buyer.post(`/v1/tasks/${id}/accept`)).body.error.code).to.equal("NOT_DELIVERED");
    expect((await stranger.post(`/v1/tasks/${id}/dispute`, { evidenceUri: "ipfs://x" })).body.error.code).to.equal("NOT_A_PARTY");
    // Nothing is funded yet: a reclaim call would revert, so none is handed out (409 with Retry-After).
    const rc = await buyer.post(`/v1/tasks/${id}/reclaim`);
    expect([rc.status, rc.body.error.code]).to.deep.equal([409, "ESCROW_NOT_CONFIRMED"]);
    expect(Number(rc.headers.get("retry-after"))).to.be.greaterThan(0);
    expect((await buyer.post("/v1/tasks", taskBody({ capability: cap(), budget: "5000000", token, route: "escrow", quantity: 2, auction: { rule: "uniform-price", windowMs: 1000 } }))).body.error.code).to.equal("LOT_ESCROW");
  });

  it("reconciles a reverted award or delivery attestation with the chain: the task fails and the buyer is refunded (metric counted)", async () => {
    // The chain's clock is already ahead (the reclaim test); fund with a deadline valid there, then
    // move the chain past it: TaskEscrow refuses the award, or the delivery attestation when the
    // award was mined first (TaskEscrowDeadlinePassed); either is reconciled the same way.
    const capability = cap();
    const buyerWallet = chain.wallet(7);
    const buyer = await newUser(h.url, buyerWallet);
    procs.push(await spawnAgent(h.url, capability, "succeed", { price: "1000000" }));
    const deadline = new Date(Date.now() + 90 * 86_400_000).toISOString();
    const r = await buyer.post("/v1/tasks", taskBody({ capability, budget: "5000000", token, route: "escrow", deadline, auction: { rule: "first-price", windowMs: 3000 } }));
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    const id = r.body.tasks[0].id;
    for (const call of r.body.tasks[0].funding.calls) await send(buyerWallet, call);
    await until(async () => (await task(buyer, id)).status !== "funding", 60_000, 100);
    await chain.provider.send("evm_increaseTime", [120 * 86_400]);
    await chain.mine(1);
    await status(buyer, id, "refunded");
    const evm = connectEvm(h.config);
    expect(Number((await evm.escrow.escrowOf(taskKey(id))).state)).to.equal(6);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    const rows = (await h.c.ctx.db.query("SELECT kind, status, last_error FROM chain_outbox WHERE payload->>'taskId' = $1 ORDER BY id", [id])).rows;
    expect(metrics, JSON.stringify(rows) + metrics.split("\n").filter((l) => l.includes("escrow_intent")).join("\n")).to.match(/aicp_escrow_intent_reverted_total\{kind="escrow.(award|deliver)",outcome="task-failed"\} [1-9]/);
    await until(async () => (await checkChainInvariants(h.c.ctx.db, evm)).length === 0, 30_000, 200);
  });

  it("publishes every route's response in an OpenAPI 3.1 document that Redocly lints with 0 errors and 0 warnings", async () => {
    const doc = (await new Client(h.url).get("/openapi.json")).body;
    const file = join(mkdtempSync(join(tmpdir(), "aicp-openapi-")), "openapi.json");
    writeFileSync(file, JSON.stringify(doc));
    const lint = spawnSync(process.execPath, ["node_modules/@redocly/cli/bin/cli.js", "lint", file, "--format", "json"], { encoding: "utf8" });
    const report = JSON.parse(lint.stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string }[] };
    expect(report.totals, JSON.stringify(report.problems.slice(0, 5))).to.deep.include({ errors: 0, warnings: 0 });
    expect(lint.status).to.equal(0);
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>))
      for (const [method, op] of Object.entries(ops)) expect(Object.values(op.responses).every((r) => r.content), `${method} ${path} has a response schema`).to.equal(true);
    expect(Object.keys(doc.components.schemas.Task.properties)).to.include.members(["route", "settlement", "funding", "execution", "output", "dispute"]);
    expect(Object.keys(doc.components.schemas.Task.properties.execution.properties)).to.include("resultHash");
  });
});
