/**
 * The demo's report: what it did and whether money was conserved. Every amount is a decimal
 * string of token base units (so the report serialises to JSON as it is); gas in gas units;
 * latencies in ms. {@link formatReport} renders it as the text `npm run demo` prints.
 */
import { formatUnits } from "../sdk/buyer-amounts.js";
import type { PlannedTask } from "./plan.js";

/** One check of the report. `invariant` checks make the demo fail (exit 1) when they do not hold. */
export type Check = { name: string; ok: boolean; detail: string; invariant: boolean };

/** Σ deposits = held + paid + refunded + fees, for the demo's own flows on one route. */
export type Conservation = {
  route: "channel" | "escrow";
  deposits: string;
  held: string;
  paid: string;
  refunded: string;
  fees: string;
  ok: boolean;
  /** How the figures were obtained. */
  source: string;
};

export type DemoReport = {
  /** Every invariant check holds. */
  ok: boolean;
  startedAt: string;
  wallMs: number;
  coordinator: string;
  chain: { rpcUrl: string; chainId: number; fromBlock: number; toBlock: number; timeTravel: { seconds: number; why: string }[] };
  token: { address: string; symbol: string; decimals: number };
  participants: { role: string; label: string; address: string; note?: string }[];
  tasks: {
    planned: number;
    posted: number;
    /** Of those, hash tasks beyond the asked number, for the flaky agent's phase. */
    extra: number;
    postErrors: string[];
    /** Demo tasks (standalone and workflow nodes) by final status. */
    byState: Record<string, number>;
    byRoute: Record<string, Record<string, number>>;
    byCapability: Record<string, Record<string, number>>;
    byAgent: { label: string; address: string; tasks: number; failedOverFrom: number }[];
    /** Tasks that moved to a runner-up at least once, and failovers in all. */
    withFailover: number;
    failovers: number;
    workflows: { id: string; name: string; status: string; nodes: number; wallMs: number | null; criticalPathMs: number; nodeMs: number }[];
  };
  flaky: {
    address: string;
    transitions: { atMs: number; state: string; consecutiveFailures: number; reopenings: number }[];
    opened: boolean;
    finalState: string;
    reputation: { successes: number; failures: number; tier: string } | null;
    tasksFailedOver: number;
    rejectedByOpenBreaker: number;
  } | null;
  dispute: {
    taskId: string;
    disputeId: string;
    arbitrator: string;
    evidence: number;
    agentShareBps: number;
    /** The award price, token base units. */
    price: string;
    /** What the escrow held (the whole budget), token base units: agent + buyer + fee add up to it. */
    amount: string;
    agentAmount: string;
    buyerAmount: string;
    fee: string;
    expected: { agentAmount: string; buyerAmount: string; fee: string };
    status: string;
  } | null;
  silence: { taskIds: string[]; settled: number };
  settlement: { batches: number; confirmed: number; vouchers: number; demoVouchers: number };
  reputation: { epoch: number; root: string; anchoredTx: string | null; proofs: { label: string; agent: string; score: string; tasks: string; verified: boolean }[] } | null;
  withdrawals: { label: string; address: string; contract: "TaskEscrow" | "PaymentChannels"; amount: string; txHash: string }[];
  money: {
    ledger: { account: string; label: string; balance: string }[];
    contracts: { name: string; onChain: string; ledger: string }[];
    participants: { label: string; address: string; wallet: string; escrowCredit: string; channelDeposit: string; claimable: string }[];
    conservation: Conservation[];
    invariantViolations: string[];
  };
  gas: { route: string; kind: string; count: number; total: string; mean: string; per: string }[];
  gasPerTask: { route: string; tasks: number; gas: string; perTask: string }[];
  latency: { route: string; step: string; n: number; p50Ms: number; p95Ms: number }[];
  checks: Check[];
  notes: string[];
};

/** The nearest-rank percentile of `xs` (ms); NaN for an empty list. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** A plain text table: columns padded, numbers right-aligned. */
export function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const width = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => /^-?[\d.,]+( \w+)?$|^-$|^n\/a$/.test(String(r[i] ?? ""))));
  const fmt = (r: string[]) => r.map((c, i) => (numeric[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join("  ").trimEnd();
  return [fmt(head), width.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(fmt)].map((l) => `  ${l}`).join("\n");
}

const ms = (x: number) => (Number.isNaN(x) ? "-" : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`);

/** Renders the report as text. */
export function formatReport(r: DemoReport): string {
  const amt = (s: string) => `${formatUnits(BigInt(s), r.token.decimals)}`;
  const gas = (s: string) => BigInt(s).toLocaleString("en-US");
  const out: string[] = [];
  const section = (t: string) => out.push("", t, "=".repeat(t.length));

  out.push(`AICP demo report — ${r.startedAt}, ${(r.wallMs / 1000).toFixed(1)} s, coordinator ${r.coordinator}, chain ${r.chain.rpcUrl} (id ${r.chain.chainId}, blocks ${r.chain.fromBlock}–${r.chain.toBlock})`);
  out.push(`Amounts in ${r.token.symbol} (${r.token.decimals} decimals, token ${r.token.address}).`);
  for (const t of r.chain.timeTravel) out.push(`Local chain: the demo moved the chain's clock forward by ${t.seconds} s (evm_increaseTime): ${t.why}.`);

  section("Participants");
  out.push(table(["role", "who", "address", "note"], r.participants.map((p) => [p.role, p.label, p.address, p.note ?? ""])));

  section("Tasks by state");
  const states = [...new Set(Object.values(r.tasks.byRoute).flatMap((m) => Object.keys(m)))].sort();
  out.push(
    table(
      ["route", ...states, "total"],
      Object.entries(r.tasks.byRoute).map(([route, m]) => [route, ...states.map((s) => m[s] ?? 0), Object.values(m).reduce((a, b) => a + b, 0)]),
    ),
  );
  out.push(`  ${r.tasks.posted}/${r.tasks.planned} standalone tasks posted${r.tasks.extra ? ` (${r.tasks.planned - r.tasks.extra} asked for + ${r.tasks.extra} extra hash tasks until the flaky agent's breaker opened)` : ""}, plus ${r.tasks.workflows.reduce((a, w) => a + w.nodes, 0)} workflow nodes; ${r.tasks.withFailover} tasks failed over to a runner-up (${r.tasks.failovers} failovers).`);
  for (const e of r.tasks.postErrors.slice(0, 5)) out.push(`  post error: ${e}`);
  out.push("", "  by capability:");
  const capStates = [...new Set(Object.values(r.tasks.byCapability).flatMap((m) => Object.keys(m)))].sort();
  out.push(table(["capability", ...capStates], Object.entries(r.tasks.byCapability).sort().map(([c, m]) => [c, ...capStates.map((s) => m[s] ?? 0)])));
  out.push("", "  by agent (the agent that holds the task at the end):");
  out.push(table(["agent", "address", "tasks", "failed over from it"], r.tasks.byAgent.map((a) => [a.label, a.address, a.tasks, a.failedOverFrom])));

  section("Workflows (DAG)");
  out.push(table(["workflow", "status", "nodes", "wall", "critical path", "Σ node time"], r.tasks.workflows.map((w) => [w.name, w.status, w.nodes, w.wallMs === null ? "-" : ms(w.wallMs), ms(w.criticalPathMs), ms(w.nodeMs)])));

  section("Flaky agent and its circuit breaker");
  if (!r.flaky) out.push("  (no flaky agent in this run)");
  else {
    const f = r.flaky;
    out.push(`  ${f.address}: breaker ${f.opened ? "OPENED" : "never opened"} during the run; now ${f.finalState}. Reputation ${f.reputation ? `${f.reputation.successes} ok / ${f.reputation.failures} failed (${f.reputation.tier})` : "n/a"}.`);
    out.push(`  ${f.tasksFailedOver} of its tasks failed over to runner-ups; ${f.rejectedByOpenBreaker} were rejected at once by the open breaker (GET /v1/agents/:address).`);
    if (f.transitions.length) out.push(table(["at", "breaker", "consecutive failures", "reopenings"], f.transitions.map((t) => [`+${(t.atMs / 1000).toFixed(1)} s`, t.state, t.consecutiveFailures, t.reopenings])));
  }

  section("Dispute");
  if (!r.dispute) out.push("  (no dispute in this run)");
  else {
    const d = r.dispute;
    out.push(`  task ${d.taskId} — dispute #${d.disputeId}, ${d.evidence} pieces of evidence read by arbitrator ${d.arbitrator} (GET /v1/disputes/${d.disputeId}), ruled ${d.agentShareBps / 100}% to the agent on-chain; ${d.status}.`);
    out.push(`  price ${amt(d.price)} of ${amt(d.amount)} held: agent ${amt(d.agentAmount)} (expected ${amt(d.expected.agentAmount)}), buyer ${amt(d.buyerAmount)} (expected ${amt(d.expected.buyerAmount)}), fee ${amt(d.fee)} (expected ${amt(d.expected.fee)}).`);
  }
  out.push(`  Released by silence after the acceptance window: ${r.silence.settled}/${r.silence.taskIds.length} escrow task(s) (${r.silence.taskIds.map((t) => t.slice(0, 8)).join(", ") || "none"}).`);

  section("Batch settlement, reputation anchor, withdrawals");
  out.push(`  settleBatch: ${r.settlement.confirmed}/${r.settlement.batches} batches confirmed, ${r.settlement.vouchers} vouchers (${r.settlement.demoVouchers} of this demo's buyers).`);
  if (r.reputation) {
    const ok = r.reputation.proofs.filter((p) => p.verified).length;
    out.push(`  reputation epoch ${r.reputation.epoch}: root ${r.reputation.root}, anchored in ${r.reputation.anchoredTx ?? "(not yet)"}; ${ok}/${r.reputation.proofs.length} proofs verified on-chain by ReputationAnchor.verify.`);
    out.push(table(["agent", "score×100", "tasks", "verify"], r.reputation.proofs.map((p) => [p.label, p.score, p.tasks, p.verified ? "true" : "FALSE"])));
  }
  out.push("", table(["who", "contract", "amount", "tx"], r.withdrawals.map((w) => [w.label, w.contract, amt(w.amount), w.txHash])));

  section("Money by account");
  out.push("  ledger (double entry, Postgres; non-zero balances):");
  out.push(table(["account", "who", "balance"], r.money.ledger.map((l) => [l.account, l.label, amt(l.balance)])));
  out.push("", "  contracts (on-chain token balance vs the ledger's accounts for them):");
  out.push(table(["contract", "on-chain", "ledger"], r.money.contracts.map((c) => [c.name, amt(c.onChain), amt(c.ledger)])));
  out.push("", "  participants (on-chain):");
  out.push(table(["who", "address", "wallet", "escrow credit", "channel deposit", "claimable"], r.money.participants.map((p) => [p.label, p.address, amt(p.wallet), amt(p.escrowCredit), amt(p.channelDeposit), amt(p.claimable)])));
  out.push("", "  conservation of the demo's own flows: deposits = held + paid + refunded + fees");
  out.push(
    table(
      ["route", "deposits", "held", "paid", "refunded", "fees", "holds"],
      r.money.conservation.map((c) => [c.route, amt(c.deposits), amt(c.held), amt(c.paid), amt(c.refunded), amt(c.fees), c.ok ? "yes" : "NO"]),
    ),
  );
  for (const c of r.money.conservation) out.push(`  ${c.route}: ${c.source}`);
  out.push(`  checkChainInvariants (ledger vs on-chain balances, double entry): ${r.money.invariantViolations.length === 0 ? "hold" : `${r.money.invariantViolations.length} VIOLATION(S)`}`);
  for (const v of r.money.invariantViolations) out.push(`    ${v}`);

  section("Gas per route");
  out.push(table(["route", "transaction", "count", "gas total", "gas mean", "per"], r.gas.map((g) => [g.route, g.kind, g.count, gas(g.total), gas(g.mean), g.per])));
  out.push("");
  out.push(table(["route", "tasks", "gas", "gas per task"], r.gasPerTask.map((g) => [g.route, g.tasks, gas(g.gas), gas(g.perTask)])));

  section("Latency per step");
  out.push(table(["route", "step", "n", "p50", "p95"], r.latency.map((l) => [l.route, l.step, l.n, ms(l.p50Ms), ms(l.p95Ms)])));

  section("Checks");
  for (const c of r.checks) out.push(`  [${c.ok ? "ok" : c.invariant ? "FAIL" : "warn"}] ${c.name}: ${c.detail}`);
  for (const n of r.notes) out.push(`  note: ${n}`);
  out.push("", r.ok ? "Every invariant holds." : `INVARIANTS FAILED: ${r.checks.filter((c) => c.invariant && !c.ok).map((c) => c.name).join("; ")}`);
  return out.join("\n");
}

/** One task the demo follows, by the buyer (account index) that posted it. */
export type Tracked = {
  id: string;
  buyer: number;
  purpose: PlannedTask["purpose"] | "workflow";
  capability: string;
  settlement: string;
  status: string;
  workflowId: string | null;
  /** Holds a slot of the in-flight limit until it is delivered or over. */
  slot: boolean;
  action?: "accept" | "silence" | "dispute";
};
