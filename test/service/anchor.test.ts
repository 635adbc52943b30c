/**
 * Reputation anchoring end to end: an epoch snapshotted over HTTP is anchored on
 * ReputationAnchor by the transaction sender, the proof endpoint then says so, and the served
 * proof of a real agent's leaf verifies on-chain.
 */
import { expect } from "chai";
import { Contract, type InterfaceAbi } from "ethers";
import { startChain, type TestChain } from "./chain-harness.js";
import { Client, newAgent, startHarness, until, type Harness } from "./harness.js";
import { markEpochAnchored } from "../../src/reputation/anchoring.js";

describe("reputation anchoring (hardhat node)", function () {
  this.timeout(120_000);
  let chain: TestChain;
  let h: Harness;
  let anchor: Contract;
  let operator: Client;

  before(async () => {
    chain = await startChain();
    h = await startHarness({ CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "0", INDEXER_POLL_MS: "50" });
    const a = chain.deployment.contracts["ReputationAnchor"]!;
    anchor = new Contract(a.address, a.abi as InterfaceAbi, chain.provider);
    operator = new Client(h.url);
    operator.adminKey = h.config.ADMIN_API_KEY;
  });

  after(async () => {
    await h?.stop();
    await chain?.stop();
  });

  /** Records outcomes through the reputation service, as execution does when attempts finish. */
  async function outcomes(agent: string, ok: number, failed: number) {
    await h.c.ctx.db.tx(async (t) => {
      for (let i = 0; i < ok + failed; i++)
        await h.c.services.reputation.record(t, { agent, capability: "text.summarize", taskId: null, ok: i < ok, responseMs: 150 + i });
    });
  }

  it("anchors each snapshotted epoch; the proof endpoint says anchored and the proof verifies on-chain", async () => {
    const good = await newAgent(h.url);
    const poor = await newAgent(h.url);
    await outcomes(good.address, 9, 1);
    await outcomes(poor.address, 2, 3);

    const snap = await operator.post("/v1/reputation/epochs");
    expect(snap.status).to.equal(201);
    const { epoch, root } = snap.body as { epoch: number; root: string };

    const ep = await h.c.ctx.db.query<{ anchor_outbox_id: string }>("SELECT anchor_outbox_id::text FROM reputation_epochs WHERE epoch = $1", [epoch]);
    const outbox = await h.c.ctx.db.query<{ intent: string; kind: string; payload: Record<string, unknown> }>("SELECT intent, kind, payload FROM chain_outbox WHERE id = $1", [ep.rows[0]!.anchor_outbox_id]);
    expect(outbox.rows[0]).to.deep.equal({ intent: `anchor:${epoch}`, kind: "anchor.anchor", payload: { epoch, root, uri: `aicp://reputation/epoch/${epoch}` } });

    const proof = await until(async () => {
      const r = await new Client(h.url).get(`/v1/agents/${good.address}/reputation/proof?epoch=${epoch}`);
      return r.status === 200 && r.body.anchored === true && r.body;
    }, 20_000, 50);
    // The indexer (RootAnchored) and the sender (its receipt) each see the anchor at the
    // confirmation depth, in either order: wait for the sender's confirmation too.
    const sent = await until(async () => {
      const r = await h.c.ctx.db.query<{ tx_hash: string; status: string }>("SELECT tx_hash, status FROM chain_outbox WHERE intent = $1", [`anchor:${epoch}`]);
      return r.rows[0]?.status === "confirmed" && r;
    }, 20_000, 50);
    expect(sent.rows[0]!.status).to.equal("confirmed");
    expect(proof.anchoredTx).to.equal(sent.rows[0]!.tx_hash);
    expect(proof.root).to.equal(root);
    expect(await anchor.getFunction("rootOf")(epoch)).to.equal(root);
    const receipt = (await chain.provider.getTransactionReceipt(proof.anchoredTx))!;
    expect(receipt.to!.toLowerCase()).to.equal(chain.deployment.contracts["ReputationAnchor"]!.address.toLowerCase());

    const { leaf } = proof as { leaf: { agent: string; score: string; tasks: string } };
    expect(leaf.tasks).to.equal("10");
    const verify = anchor.getFunction("verify");
    expect(await verify(epoch, leaf.agent, leaf.score, leaf.tasks, proof.proof)).to.equal(true);
    expect(await verify(epoch, leaf.agent, BigInt(leaf.score) + 1n, leaf.tasks, proof.proof), "a higher score than anchored").to.equal(false);
    const other = (await new Client(h.url).get(`/v1/agents/${poor.address}/reputation/proof?epoch=${epoch}`)).body;
    expect(await verify(epoch, other.leaf.agent, other.leaf.score, other.leaf.tasks, other.proof)).to.equal(true);
    expect(await verify(epoch, other.leaf.agent, leaf.score, other.leaf.tasks, other.proof), "another agent's score").to.equal(false);

    // The next epoch is anchored after it, and both stay verifiable.
    await outcomes(poor.address, 5, 0);
    const next = await operator.post("/v1/reputation/epochs");
    expect(next.body.epoch).to.equal(epoch + 1);
    const p2 = await until(async () => {
      const r = await new Client(h.url).get(`/v1/agents/${poor.address}/reputation/proof`);
      return r.body.epoch === epoch + 1 && r.body.anchored === true && r.body;
    }, 20_000, 50);
    expect(p2.leaf.tasks).to.equal("10");
    expect(await anchor.getFunction("latestEpoch")()).to.equal(BigInt(epoch + 1));
    expect(await verify(epoch + 1, p2.leaf.agent, p2.leaf.score, p2.leaf.tasks, p2.proof)).to.equal(true);
    expect(await verify(epoch, leaf.agent, leaf.score, leaf.tasks, proof.proof)).to.equal(true);
  });

  it("marks an epoch anchored once, for its own root only (sender hook and indexer share it)", async () => {
    const snap = await operator.post("/v1/reputation/epochs");
    const { epoch, root } = snap.body as { epoch: number; root: string };
    const row = await until(async () => {
      const r = await h.c.ctx.db.query<{ anchored_tx: string | null; anchored_at: Date | null }>("SELECT anchored_tx, anchored_at FROM reputation_epochs WHERE epoch = $1", [epoch]);
      const x = r.rows[0];
      return x?.anchored_tx ? x : undefined;
    }, 20_000, 50);
    const db = h.c.ctx.db;
    // The indexer seeing RootAnchored afterwards changes nothing, even with a later time.
    expect(await markEpochAnchored(db, { epoch, root, txHash: row.anchored_tx!, at: new Date(Date.now() + 60_000) })).to.equal(false);
    expect(await markEpochAnchored(db, { epoch, root, txHash: `0x${"ab".repeat(32)}` })).to.equal(false);
    const after = await db.query<{ anchored_tx: string; anchored_at: Date }>("SELECT anchored_tx, anchored_at FROM reputation_epochs WHERE epoch = $1", [epoch]);
    expect(after.rows[0]).to.deep.equal(row);

    // An unanchored epoch: a RootAnchored of another root (another deployment) is not ours.
    await db.query("INSERT INTO reputation_epochs (epoch, root, tree, leaves) VALUES (1000, $1, '{}', 0)", [`0x${"11".repeat(32)}`]);
    expect(await markEpochAnchored(db, { epoch: 1000, root: `0x${"22".repeat(32)}`, txHash: `0x${"cd".repeat(32)}` })).to.equal(false);
    expect(await markEpochAnchored(db, { epoch: 1000, root: `0x${"11".repeat(32)}`, txHash: `0x${"cd".repeat(32)}`, at: new Date(0) })).to.equal(true);
    const marked = await db.query<{ anchored_tx: string; anchored_at: Date }>("SELECT anchored_tx, anchored_at FROM reputation_epochs WHERE epoch = 1000");
    expect([marked.rows[0]!.anchored_tx, marked.rows[0]!.anchored_at.getTime()]).to.deep.equal([`0x${"cd".repeat(32)}`, 0]);
  });
});
