/**
 * `npm run demo` end to end, small: the demo's core (runDemo) against a stack this test builds —
 * a hardhat node with the contracts, a coordinator (API, workers, indexer) on Postgres and
 * Redis — with the six reference agents started by the demo in-process (none is online), the
 * flaky one failing every task so that its breaker trips at once.
 */
import { expect } from "chai";
import { startChain, type TestChain } from "./chain-harness.js";
import { startHarness, type Harness } from "./harness.js";
import { formatReport, runDemo } from "../../src/demo/run.js";
import { planTasks, planWorkflows, UNIT } from "../../src/demo/plan.js";
import { handlers } from "../../src/agents-ref/handlers.js";
import { checkDag, referencedKeys } from "../../src/workflows/dag.js";

describe("the demo's plan", () => {
  it("gives every task a real input its reference handler accepts, on both routes, with the flaky agent's share", async () => {
    const plan = planTasks({ tasks: 200, buyers: 3, escrowShare: 0.1, escrowThreshold: 100n * UNIT, flakyReserve: 50 });
    expect(plan.regular.length + plan.reserve.length).to.equal(200);
    expect(plan.regular.filter((p) => p.purpose === "escrow" || p.purpose === "above-threshold").length).to.equal(15);
    expect(plan.regular.filter((p) => p.purpose === "above-threshold").map((p) => [p.route, p.budget])).to.deep.equal([["auto", 101n * UNIT]]);
    expect(plan.reserve.every((p) => p.capability.startsWith("hash."))).to.equal(true);
    for (const p of [...plan.regular, ...plan.reserve]) {
      expect(p.budget > 0n).to.equal(true);
      await handlers[p.capability]!(p.input);
    }
    expect(new Set(plan.regular.map((p) => p.capability)).size).to.equal(10);
  });

  it("plans workflows the coordinator accepts: acyclic, inputs read only their parents, budgets within the total", () => {
    const flows = planWorkflows(5, 3);
    expect(flows[0]!.nodes.map((n) => n.key)).to.deep.equal(["fetch", "label", "extract", "analyse", "combine"]);
    for (const w of flows) {
      expect(checkDag(w.nodes), w.name).to.equal(undefined);
      for (const n of w.nodes) for (const ref of referencedKeys(n.input)) expect(n.dependsOn, `${w.name}: ${n.key} reads ${ref}`).to.include(ref);
      expect(w.nodes.reduce((a, n) => a + n.budget, 0n) + w.reserve <= w.totalBudget).to.equal(true);
    }
  });
});

describe("npm run demo (a small run against a hardhat node, a coordinator and the reference agents)", function () {
  this.timeout(240_000);
  let chain: TestChain;
  let h: Harness;

  before(async () => {
    chain = await startChain();
    h = await startHarness(
      { CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "0", INDEXER_POLL_MS: "100", SETTLE_INTERVAL_MS: "500", WORKFLOW_WINDOW_MS: "1000" },
      "all",
      { sweepMs: 300 },
    );
  });
  after(async () => {
    await h?.stop();
    await chain?.stop();
  });

  it("posts tasks on both routes and two workflows, rules a dispute, fails over the flaky agent, settles, anchors, withdraws; every invariant holds", async () => {
    const started = Date.now();
    const report = await runDemo({
      url: h.url,
      config: h.config,
      tasks: 20,
      workflows: 2,
      escrowShare: 0.2,
      silentEscrows: 1,
      flakyReserveShare: 0.1,
      flakyFailureRate: 1,
      progress: "silent",
      stepTimeoutMs: 90_000,
    });
    const text = formatReport(report);
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    expect(report.ok, `${failed.join("\n")}\n${report.notes.join("\n")}`).to.equal(true);
    expect(failed, text).to.deep.equal([]);

    // Every task of the demo (20 standalone, the workflows' nodes) ended in a final state.
    expect(report.tasks.posted).to.equal(20);
    const total = Object.values(report.tasks.byState).reduce((a, b) => a + b, 0);
    expect(total).to.be.greaterThan(20);
    for (const s of Object.keys(report.tasks.byState)) expect(["settled", "refunded", "resolved", "expired", "failed", "cancelled"], text).to.include(s);
    expect(Object.keys(report.tasks.byRoute).some((r) => r.startsWith("channel"))).to.equal(true);
    expect(report.tasks.byRoute["escrow"]?.["settled"], text).to.be.greaterThanOrEqual(2);

    // Both workflows completed, the first one being fetch → (label, extract, analyse) → combine.
    expect(report.tasks.workflows.map((w) => w.status)).to.deep.equal(["completed", "completed"]);
    expect(report.tasks.workflows[0]!.name).to.match(/fetch → \(label, extract, analyse\) → combine/);
    expect(report.tasks.workflows[0]!.nodes).to.equal(5);

    // The dispute: the arbitrator's 60 % split executed by the escrow after the appeal window.
    expect(report.dispute, text).to.not.equal(null);
    const d = report.dispute!;
    expect(d.status).to.equal("resolved");
    expect(d.agentShareBps).to.equal(6000);
    expect(d.agentAmount).to.equal(d.expected.agentAmount);
    expect(d.buyerAmount).to.equal(d.expected.buyerAmount);
    expect(BigInt(d.agentAmount) + BigInt(d.buyerAmount) + BigInt(d.fee)).to.equal(BigInt(d.amount));
    expect(d.evidence).to.be.greaterThanOrEqual(2);
    expect(report.chain.timeTravel[0]!.seconds).to.be.greaterThan(86_400);
    expect(report.silence.settled).to.equal(report.silence.taskIds.length).and.to.be.greaterThan(0);

    // The flaky agent tripped its breaker and its tasks went to runner-ups.
    expect(report.flaky?.opened, text).to.equal(true);
    expect(report.flaky!.tasksFailedOver).to.be.greaterThan(0);
    expect(report.tasks.withFailover).to.be.greaterThan(0);

    // Vouchers settled in confirmed batches; the anchor's proofs verified on-chain; payouts withdrawn.
    expect(report.settlement.confirmed).to.be.greaterThan(0);
    expect(report.settlement.confirmed).to.equal(report.settlement.batches);
    expect(report.reputation?.anchoredTx, text).to.match(/^0x[0-9a-f]{64}$/);
    expect(report.reputation!.proofs.length).to.be.greaterThanOrEqual(5);
    expect(report.reputation!.proofs.every((p) => p.verified)).to.equal(true);
    expect(report.withdrawals.filter((w) => w.label.startsWith("agent") && w.contract === "PaymentChannels").length).to.be.greaterThan(0);
    expect(report.withdrawals.filter((w) => w.label.startsWith("agent") && w.contract === "TaskEscrow").length).to.be.greaterThan(0);
    // The buyers took their unused channel deposits back after the challenge period.
    expect(report.withdrawals.filter((w) => w.label.startsWith("buyer") && w.contract === "PaymentChannels").length).to.equal(3);
    expect(report.money.conservation[0]!.held).to.equal("0");
    expect(BigInt(report.money.conservation[0]!.refunded)).to.be.greaterThan(0n);

    // Money: both routes conserved, the ledger equal to the chain.
    expect(report.money.conservation.map((c) => c.ok)).to.deep.equal([true, true]);
    expect(report.money.invariantViolations).to.deep.equal([]);
    for (const c of report.money.contracts) expect(c.onChain, c.name).to.equal(c.ledger);
    expect(report.gas.some((g) => g.kind.startsWith("settleBatch"))).to.equal(true);
    expect(report.latency.some((l) => l.route === "channel" && l.step.startsWith("paid"))).to.equal(true);
    expect(text).to.match(/Every invariant holds\./);
    expect(Date.now() - started).to.be.lessThan(150_000);
  });
});
