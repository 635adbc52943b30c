import { expect } from "chai";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { Client, newUser, startHarness, until, ZERO, type Harness } from "./harness.js";
import { spawnAgent, type AgentProc } from "./agents-harness.js";
import { checkDag, criticalPath, resolveInputs } from "../../src/workflows/dag.js";
import { decayed, updated } from "../../src/reputation/score.js";

describe("DAG workflows over HTTP", function () {
  this.timeout(60_000);
  let h: Harness;
  let buyer: Client;
  const procs: AgentProc[] = [];
  const cap = "wf.step";
  before(async () => {
    h = await startHarness({ WORKFLOW_WINDOW_MS: "3000", EXEC_RETRY_BASE_MS: "20", EXEC_GRACE_MS: "300", EXEC_TIMEOUT_FACTOR: "1" });
    buyer = await newUser(h.url);
    for (let i = 0; i < 3; i++) procs.push(await spawnAgent(h.url, cap, "succeed", { price: String(10 + i), etaMs: 100, delayMs: 50 }));
    procs.push(await spawnAgent(h.url, "wf.broken", "fail", { price: "10" }));
  });
  after(async () => {
    for (const p of procs) p.stop();
    await h?.stop();
  });

  const node = (key: string, dependsOn: string[] = [], over: Record<string, unknown> = {}) => ({
    key, capability: cap, input: { n: 0 }, complexity: 2, budget: "100", dependsOn, ...over,
  });
  const submit = (nodes: unknown[], extra: Record<string, unknown> = {}) =>
    buyer.post("/v1/workflows", { nodes, totalBudget: String(nodes.length * 100 + 1000), token: ZERO, deadline: new Date(Date.now() + 3600_000).toISOString(), route: "auto", ...extra });
  const finished = (id: string) =>
    until(async () => {
      const w = (await buyer.get(`/v1/workflows/${id}`)).body;
      return w.status !== "running" && w;
    }, 40_000, 50);

  it("runs a chain, passing each node's output to its child", async () => {
    const r = await submit([
      node("a"),
      node("b", ["a"], { input: { n: { $from: "a", path: "n" } } }),
      node("c", ["b"], { input: { n: { $from: "b", path: "n" }, whole: { $from: "b" } } }),
    ]);
    expect(r.status).to.equal(201);
    const w = await finished(r.body.id);
    expect(w.status).to.equal("completed");
    const c = w.nodes.find((n: { key: string }) => n.key === "c");
    const out = (await buyer.get(`/v1/tasks/${c.taskId}`)).body.output;
    expect(out.n).to.equal(3); // 0 → a:1 → b:2 → c:3
    expect(w.criticalPath.nodes).to.deep.equal(["a", "b", "c"]);
    // Ledger: spent the prices, released the rest: hold = spend + release.
    expect(BigInt(w.ledger.hold)).to.equal(BigInt(w.totalBudget));
    expect(BigInt(w.ledger.spend) + BigInt(w.ledger.release)).to.equal(BigInt(w.totalBudget));
  });

  it("runs a diamond and a wide fan-out in parallel", async () => {
    const d = await submit([node("top"), node("left", ["top"]), node("right", ["top"]), node("join", ["left", "right"], { input: { l: { $from: "left", path: "n" }, r: { $from: "right", path: "n" } } })]);
    const fan = await submit([node("root"), ...Array.from({ length: 12 }, (_, i) => node(`leaf${i}`, ["root"]))]);
    const wd = await finished(d.body.id);
    const wf = await finished(fan.body.id);
    expect(wd.status).to.equal("completed");
    expect(wf.status).to.equal("completed");
    const leaves = wf.nodes.filter((n: { key: string }) => n.key.startsWith("leaf"));
    // Parallel: the leaves' run intervals overlap (all start before any of them ends).
    const firstEnd = Math.min(...leaves.map((n: { finishedAt: string }) => Date.parse(n.finishedAt)));
    const lastStart = Math.max(...leaves.map((n: { startedAt: string }) => Date.parse(n.startedAt)));
    expect(lastStart).to.be.lessThan(firstEnd);
    expect(BigInt(wf.ledger.spend) + BigInt(wf.ledger.release)).to.equal(BigInt(wf.totalBudget));
  });

  it("a failing middle node cancels its descendants and releases their budgets; other branches finish", async () => {
    const r = await submit([
      node("start"),
      node("broken", ["start"], { capability: "wf.broken" }),
      node("after1", ["broken"]),
      node("after2", ["after1"]),
      node("side", ["start"]),
    ]);
    const w = await finished(r.body.id);
    expect(w.status).to.equal("failed");
    const st = Object.fromEntries(w.nodes.map((n: { key: string; status: string }) => [n.key, n.status]));
    expect(st).to.deep.equal({ start: "done", broken: "failed", after1: "cancelled", after2: "cancelled", side: "done" });
    const rows = await h.c.ctx.db.query<{ node_key: string; kind: string; amount: string }>(
      "SELECT node_key, kind, amount::text FROM workflow_ledger WHERE workflow_id = $1 AND node_key IN ('after1', 'after2', 'broken') ORDER BY id",
      [r.body.id],
    );
    for (const k of ["after1", "after2", "broken"]) {
      const release = rows.rows.filter((x) => x.node_key === k && x.kind === "release").reduce((a, x) => a + BigInt(x.amount), 0n);
      expect(release, k).to.equal(100n);
    }
    expect(BigInt(w.ledger.hold)).to.equal(BigInt(w.totalBudget));
    expect(BigInt(w.ledger.spend) + BigInt(w.ledger.release)).to.equal(BigInt(w.totalBudget));
  });

  it("draws on the reserve when a node gets no proposal under its budget", async () => {
    const r = await submit([node("cheap", [], { budget: "10", auction: { rule: "first-price", windowMs: 300 } })], { totalBudget: "1000", reserve: "500" });
    const w = await finished(r.body.id);
    expect(w.status).to.equal("completed");
    expect(BigInt(w.reserveUsed)).to.be.greaterThan(0n);
    expect(BigInt(w.ledger.reserve_draw)).to.equal(BigInt(w.reserveUsed));
    expect(BigInt(w.ledger.spend) + BigInt(w.ledger.release)).to.equal(1000n);
  });

  it("rejects cycles (naming them), unknown keys, duplicate keys, bad budgets, stray references and oversize workflows", async () => {
    const cyc = await submit([node("a", ["c"]), node("b", ["a"]), node("c", ["b"])]);
    expect(cyc.status).to.equal(400);
    expect(cyc.body.error.code).to.equal("CYCLE");
    expect(cyc.body.error.message).to.match(/a → c → b → a|c → b → a → c|b → a → c → b/);
    expect((await submit([node("a", ["zz"])])).body.error.code).to.equal("UNKNOWN_DEPENDENCY");
    expect((await submit([node("a"), node("a")])).body.error.code).to.equal("DUPLICATE_KEY");
    expect((await submit([node("a"), node("b")], { totalBudget: "150" })).body.error.code).to.equal("BUDGET_MISMATCH");
    expect((await submit([node("a"), node("b", [], { input: { x: { $from: "a" } } })])).body.error.code).to.equal("BAD_INPUT_REFERENCE");
    const big = await submit(Array.from({ length: 201 }, (_, i) => node(`n${i}`)));
    expect(big.body.error.code).to.equal("TOO_MANY_NODES");
    const other = await newUser(h.url);
    const ok = await submit([node("solo")]);
    expect((await other.get(`/v1/workflows/${ok.body.id}`)).body.error.code).to.equal("NOT_BUYER");
    await finished(ok.body.id);
  });

  it("DAG helpers: cycle detection, critical path, input resolution", () => {
    expect(checkDag([{ key: "x", dependsOn: ["x"] }])).to.deep.equal({ code: "CYCLE", cycle: ["x", "x"] });
    const cp = criticalPath(
      [{ key: "a", dependsOn: [] }, { key: "b", dependsOn: ["a"] }, { key: "c", dependsOn: ["a"] }, { key: "d", dependsOn: ["b", "c"] }],
      (k) => ({ a: 1, b: 5, c: 2, d: 1 })[k]!,
    );
    expect(cp).to.deep.equal({ path: ["a", "b", "d"], ms: 7 });
    expect(resolveInputs({ a: [{ $from: "p", path: "x.y" }], b: { $from: "q" } }, { p: { x: { y: 7 } }, q: "all" })).to.deep.equal({ a: [7], b: "all" });
  });
});

describe("reputation", function () {
  this.timeout(60_000);

  it("decays toward neutral at λ = 0.1 per day with a floor of 20, and recovers through successes", () => {
    const day = 86_400_000;
    expect(decayed(90, 0)).to.equal(90);
    expect(decayed(90, 10 * day)).to.be.closeTo(50 + 40 * Math.exp(-1), 1e-9);
    expect(decayed(10, 0)).to.equal(20);
    let s = 50;
    for (let i = 0; i < 30; i++) s = updated(s, 0, false);
    expect(s).to.equal(20);
    for (let i = 0; i < 30; i++) s = updated(s, 0, true);
    expect(s).to.be.greaterThan(90);
  });

  it("snapshots an epoch as a standard Merkle tree whose proofs verify with the library", async () => {
    const h = await startHarness();
    try {
      const agents = ["0x" + "11".repeat(20), "0x" + "22".repeat(20)];
      await h.c.ctx.db.query(
        "INSERT INTO reputation_stats (agent, capability, successes, failures, successes_decayed, failures_decayed, score) VALUES ($1, 'x', 9, 1, 9, 1, 80), ($2, 'x', 1, 1, 1, 1, 45)",
        agents,
      );
      const op = new Client(h.url);
      op.adminKey = h.config.ADMIN_API_KEY;
      const snap = await op.post("/v1/reputation/epochs");
      expect(snap.status).to.equal(201);
      expect(snap.body.epoch).to.equal(1);
      const p = (await op.get(`/v1/agents/${agents[0]}/reputation/proof?epoch=1`)).body;
      expect(p.root).to.equal(snap.body.root);
      expect(p.anchored).to.equal(false);
      expect(p.leaf.tasks).to.equal("10");
      const leaf = [p.leaf.agent, p.leaf.score, p.leaf.tasks, p.leaf.epoch];
      expect(StandardMerkleTree.verify(p.root, ["address", "uint256", "uint256", "uint256"], leaf, p.proof)).to.equal(true);
      leaf[1] = "9999";
      expect(StandardMerkleTree.verify(p.root, ["address", "uint256", "uint256", "uint256"], leaf, p.proof)).to.equal(false);
      expect((await op.get(`/v1/agents/0x${"33".repeat(20)}/reputation/proof?epoch=1`)).status).to.equal(404);
      expect((await op.get(`/v1/agents/${agents[0]}/reputation/proof?epoch=9`)).body.error.code).to.equal("EPOCH_NOT_FOUND");
      const rep = (await op.get(`/v1/agents/${agents[0]}/reputation`)).body;
      expect(rep).to.include({ tier: "expert", multiplierBps: 18000, successes: 9, failures: 1 });
    } finally {
      await h.stop();
    }
  });
});
