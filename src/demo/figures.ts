/**
 * The demo's figures, read after the run from the chain (receipts, events, balances) and from the
 * coordinator's Postgres (task timestamps, the ledger, the outbox's gas), and the checks on them:
 * money conserved to the base unit on both routes, the ledger equal to the chain, every task in a
 * final state, the dispute's split as ruled, every anchored proof verified.
 */
import type { JsonRpcProvider, Log } from "ethers";
import type { EvmChain } from "../chain/evm/chain.js";
import { taskKey } from "../protocol/keys.js";
import type { AgentKind } from "../agents-ref/kinds.js";
import { FINAL_TASK_STATUSES, type Workflow } from "../sdk/buyer.js";
import { demoStore, type AuditClient, type TaskRow } from "./store.js";
import { percentile, type Check, type Conservation, type DemoReport, type Tracked } from "./report.js";

/** What the run recorded for its report. */
export type DemoRecord = {
  startedAt: number;
  url: string;
  /** The demo's own transactions: route, what they did, hash. */
  txs: { route: string; kind: string; hash: string }[];
  postErrors: string[];
  /** In plan order (the first is fetch → (label, extract, analyse) → combine). */
  workflows: { id: string; name: string; index: number; buyer: number; status: string; view?: Workflow }[];
  flakyTransitions: { atMs: number; state: string; consecutiveFailures: number; reopenings: number }[];
  silence: string[];
  withdrawals: DemoReport["withdrawals"];
  notes: string[];
  fromBlock: number;
  toBlock: number;
  timeTravel: { seconds: number; why: string }[];
  tracked: Map<string, Tracked>;
  buyers: { index: number; account: number; label: string; address: string }[];
  agents: { kind: AgentKind; account: number; address: string; key: string; inProcess: boolean }[];
  arbitrators: { account: number; address: string; key: string }[];
  /** Each buyer's PaymentChannels deposit at `fromBlock`, base units. */
  openingDeposits: Map<string, bigint>;
  vouchers: number;
  tasksPlanned: number;
  tasksPosted: number;
  /** Hash tasks posted beyond the asked number for the flaky agent's phase. */
  extraTasks: number;
  dispute: { taskId: string; disputeId: string; arbitrator: string; arbitratorKey: string; evidence: number; agentShareBps: number } | undefined;
  epoch: { epoch: number; root: string; anchoredTx: string | null; proofs: { label: string; agent: string; score: string; tasks: string; verified: boolean }[] } | undefined;
  flaky: string | undefined;
};


const FINAL = new Set<string>(FINAL_TASK_STATUSES);
const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);

/**
 * Reads everything the report needs and checks the invariants.
 * @param env.token the demo's token (lower-case); env.threshold its escrow threshold, base units
 */
export async function collectReport(r: DemoRecord, env: { db: AuditClient; evm: EvmChain; provider: JsonRpcProvider; token: string; threshold: bigint }): Promise<DemoReport> {
  const { db, evm, provider, token } = env;
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string, invariant = true) => checks.push({ name, ok, detail, invariant });
  const at = { blockTag: r.toBlock };
  const ids = [...r.tracked.keys()];
  const buyerSet = new Set(r.buyers.map((b) => b.address));
  const treasury = ((await evm.escrow.treasury()) as string).toLowerCase();

  // ---- who is who --------------------------------------------------------------------------
  const labels = new Map<string, string>();
  for (const b of r.buyers) labels.set(b.address, `${b.label} (#${b.account})`);
  for (const a of r.agents) labels.set(a.address, `agent ${a.kind} (#${a.account})`);
  for (const a of r.arbitrators) labels.set(a.address, `arbitrator (#${a.account})`);
  labels.set(treasury, "treasury");
  labels.set(evm.operator.address.toLowerCase(), "coordinator (#1)");
  const who = (address: string | null | undefined) => (address ? (labels.get(address.toLowerCase()) ?? address.slice(0, 10)) : "-");
  const accountLabel = (account: string) => {
    const [kind, ...rest] = account.split(":");
    if (kind === "escrow" || kind === "channel-promise") return `task ${rest[0]?.slice(0, 8)}`;
    if (kind === "channel-owed") return `${who(rest[0])} → ${who(rest[1])}`;
    return rest[0] ? who(rest[0]) : kind!;
  };

  // ---- tasks --------------------------------------------------------------------------------
  const rows = await demoStore.tasks(db, ids);
  const byState: Record<string, number> = {};
  const byRoute: Record<string, Record<string, number>> = {};
  const byCapability: Record<string, Record<string, number>> = {};
  const perAgent = new Map<string, number>();
  for (const t of rows) {
    byState[t.status] = (byState[t.status] ?? 0) + 1;
    const route = `${t.settlement}${t.workflow_id ? " (workflow nodes)" : ""}`;
    (byRoute[route] ??= {})[t.status] = (byRoute[route]![t.status] ?? 0) + 1;
    (byCapability[t.capability] ??= {})[t.status] = (byCapability[t.capability]![t.status] ?? 0) + 1;
    if (t.agent) perAgent.set(t.agent, (perAgent.get(t.agent) ?? 0) + 1);
  }
  const failedOver = await demoStore.failedOver(db, ids);

  const failedFrom = new Map(failedOver.map((x) => [x.agent, x.tasks]));
  const byAgent = [...new Set([...perAgent.keys(), ...failedFrom.keys()])]
    .map((a) => ({ label: who(a), address: a, tasks: perAgent.get(a) ?? 0, failedOverFrom: failedFrom.get(a) ?? 0 }))
    .sort((a, b) => a.label.localeCompare(b.label));
  const notFinal = rows.filter((t) => !FINAL.has(t.status));
  check("every task reached a final state", notFinal.length === 0 && rows.length === ids.length,
    notFinal.length === 0 ? `${rows.length} tasks: ${Object.entries(byState).map(([s, n]) => `${s} ${n}`).join(", ")}` : `${notFinal.length} not final: ${notFinal.slice(0, 5).map((t) => `${t.id.slice(0, 8)} ${t.status}`).join(", ")}`);
  check("every planned task was posted", r.postErrors.length === 0 && r.tasksPosted === r.tasksPlanned, `${r.tasksPosted}/${r.tasksPlanned} posted${r.postErrors.length ? `; ${r.postErrors.length} errors, first: ${r.postErrors[0]}` : ""}`);

  const workflows = [...r.workflows].sort((a, b) => a.index - b.index).map((w) => ({
    id: w.id, name: w.name, status: w.status, nodes: w.view?.nodes.length ?? 0, wallMs: w.view?.wallMs ?? null,
    criticalPathMs: w.view?.criticalPath.ms ?? 0, nodeMs: (w.view?.nodes ?? []).reduce((a, n) => a + (n.durationMs ?? 0), 0),
  }));
  const done = workflows.filter((w) => w.status === "completed").length;
  check("workflows completed", done === workflows.length && workflows.length > 0, `${done}/${workflows.length} completed${workflows[0] ? `, including "${workflows[0].name}" (${workflows[0].status})` : ""}`, false);

  // ---- flaky agent ---------------------------------------------------------------------------
  let flaky: DemoReport["flaky"] = null;
  if (r.flaky) {
    const view = (await fetch(`${r.url}/v1/agents/${r.flaky}`).then((x) => (x.ok ? x.json() : undefined)).catch(() => undefined)) as
      | { reputation: { successes: number; failures: number; tier: string }; health: { breaker: { state: string } } }
      | undefined;
    const mine = rows.filter((t) => t.failure_reason === "circuit breaker open").length;
    flaky = {
      address: r.flaky,
      transitions: r.flakyTransitions,
      opened: r.flakyTransitions.some((t) => t.state === "open"),
      finalState: view?.health.breaker.state ?? "unknown",
      reputation: view?.reputation ?? null,
      tasksFailedOver: failedFrom.get(r.flaky) ?? 0,
      rejectedByOpenBreaker: mine,
    };
    check("the flaky agent tripped its breaker and its tasks failed over", flaky.opened && flaky.tasksFailedOver > 0,
      `breaker ${flaky.opened ? "opened" : "never opened"}; ${flaky.tasksFailedOver} tasks failed over to runner-ups`, false);
  }

  // ---- chain events of the run -----------------------------------------------------------------
  const logs = async (address: string): Promise<Log[]> => provider.getLogs({ address, fromBlock: r.fromBlock + 1, toBlock: r.toBlock });
  const escrowIface = evm.escrow.interface;
  const channelsIface = evm.channels.interface;
  const escrowTasks = rows.filter((t) => t.settlement === "escrow");
  const escrowKeys = new Map(escrowTasks.map((t) => [taskKey(t.id), t.id]));
  const escrowEvents = (await logs(evm.address("TaskEscrow")))
    .map((l) => ({ l, e: escrowIface.parseLog({ topics: [...l.topics], data: l.data }) }))
    .filter((x) => x.e && x.e.args.length > 0 && "taskId" in x.e.args.toObject() && escrowKeys.has(String(x.e.args.getValue("taskId")).toLowerCase()));
  const channelEvents = (await logs(evm.address("PaymentChannels")))
    .map((l) => channelsIface.parseLog({ topics: [...l.topics], data: l.data }))
    .filter((e) => e !== null);

  // ---- dispute -------------------------------------------------------------------------------
  let dispute: DemoReport["dispute"] = null;
  if (r.dispute) {
    const d = r.dispute;
    const e = (await evm.escrow.escrowOf(taskKey(d.taskId), at)) as unknown as { price: bigint; amount: bigint; feeBps: bigint };
    const share = (e.price * BigInt(d.agentShareBps)) / 10_000n;
    const fee = (share * BigInt(e.feeBps)) / 10_000n;
    const expected = { agentAmount: (share - fee).toString(), buyerAmount: (e.amount - share).toString(), fee: fee.toString() };
    const ruling = escrowEvents.find((x) => x.e!.name === "RulingExecuted" && String(x.e!.args.getValue("taskId")).toLowerCase() === taskKey(d.taskId));
    const got = ruling
      ? { agentAmount: String(ruling.e!.args.getValue("agentAmount")), buyerAmount: String(ruling.e!.args.getValue("buyerAmount")), fee: String(ruling.e!.args.getValue("fee")) }
      : { agentAmount: "0", buyerAmount: "0", fee: "0" };
    const status = rows.find((t) => t.id === d.taskId)?.status ?? "unknown";
    dispute = { taskId: d.taskId, disputeId: d.disputeId, arbitrator: d.arbitrator, evidence: d.evidence, agentShareBps: d.agentShareBps, price: e.price.toString(), amount: e.amount.toString(), ...got, expected, status };
    const same = ruling !== undefined && got.agentAmount === expected.agentAmount && got.buyerAmount === expected.buyerAmount && got.fee === expected.fee;
    check("the dispute's split was executed as ruled", same && status === "resolved",
      ruling ? `RulingExecuted: agent ${got.agentAmount}, buyer ${got.buyerAmount}, fee ${got.fee} (expected ${expected.agentAmount}, ${expected.buyerAmount}, ${expected.fee}); task ${status}` : `no RulingExecuted for task ${d.taskId}; task ${status}`);
  } else check("a dispute was ruled by an arbitrator with a split", false, "no escrow task reached a ruled dispute in this run", false);

  const silenceSettled = r.silence.filter((id) => rows.find((t) => t.id === id)?.status === "settled").length;
  if (r.silence.length) check("escrows released by silence after the acceptance window", silenceSettled === r.silence.length, `${silenceSettled}/${r.silence.length} settled by the coordinator's release`, false);

  // ---- settlement batches, anchor ---------------------------------------------------------------
  const outbox = await demoStore.outboxSince(db, new Date(r.startedAt));
  const batches = outbox.filter((x) => x.kind === "channels.settleBatch");
  const settlement = {
    batches: batches.length,
    confirmed: batches.filter((b) => b.status === "confirmed").length,
    vouchers: batches.reduce((a, b) => a + (b.payload.vouchers?.length ?? 0), 0),
    demoVouchers: batches.reduce((a, b) => a + (b.payload.vouchers ?? []).filter((v) => buyerSet.has(v.payer.toLowerCase())).length, 0),
  };
  check("vouchers settled in confirmed settleBatch transactions", settlement.confirmed > 0 && settlement.confirmed === settlement.batches, `${settlement.confirmed}/${settlement.batches} batches confirmed, ${settlement.demoVouchers} of the demo's vouchers`, false);
  if (r.epoch) {
    const verified = r.epoch.proofs.filter((p) => p.verified).length;
    check("reputation proofs verified on-chain (ReputationAnchor.verify)", r.epoch.anchoredTx !== null && verified === r.epoch.proofs.length && verified > 0,
      `epoch ${r.epoch.epoch} ${r.epoch.anchoredTx ? "anchored" : "NOT anchored"}; ${verified}/${r.epoch.proofs.length} proofs verify`);
  } else check("a reputation epoch was anchored", false, "no epoch was snapshotted", false);
  check("agents withdrew their payouts on-chain", r.withdrawals.some((w) => w.label.startsWith("agent")), `${r.withdrawals.filter((w) => w.label.startsWith("agent")).length} agent withdrawals`, false);

  // ---- money ---------------------------------------------------------------------------------
  const ledgerRows = await demoStore.balances(db, token);
  const ledger = ledgerRows.map((b) => ({ account: b.account, label: accountLabel(b.account), balance: b.balance.toString() }));
  const ledgerSum = (f: (a: string) => boolean) => sum(ledgerRows.filter((b) => f(b.account)).map((b) => b.balance));
  const tokenC = evm.token!;
  const contracts = [
    { name: "TaskEscrow", onChain: ((await tokenC.balanceOf(evm.address("TaskEscrow"), at)) as bigint).toString(), ledger: ledgerSum((a) => a.startsWith("escrow:") || a.startsWith("escrow-credit:") || a === "treasury").toString() },
    { name: "PaymentChannels", onChain: ((await tokenC.balanceOf(evm.address("PaymentChannels"), at)) as bigint).toString(), ledger: ledgerSum((a) => a.startsWith("channel-")).toString() },
  ];
  const people = [...r.buyers.map((b) => b.address), ...r.agents.map((a) => a.address), treasury];
  const participants = await Promise.all(
    people.map(async (address) => ({
      label: who(address),
      address,
      wallet: ((await tokenC.balanceOf(address, at)) as bigint).toString(),
      escrowCredit: ((await evm.escrow.balanceOf(address, token, at)) as bigint).toString(),
      channelDeposit: ((await evm.channels.depositOf(address, token, at))[0] as bigint).toString(),
      claimable: ((await evm.channels.claimableOf(address, token, at)) as bigint).toString(),
    })),
  );

  // Channel route: the demo's buyers' deposits in PaymentChannels over the run.
  const opening = sum([...r.openingDeposits.values()]);
  const closing = sum(await Promise.all(r.buyers.map(async (b) => (await evm.channels.depositOf(b.address, token, at))[0] as bigint)));
  const mineCh = channelEvents.filter((e) => buyerSet.has(String(e.args.getValue("payer")).toLowerCase()) && String(e.args.getValue("token")).toLowerCase() === token);
  const deposited = sum(mineCh.filter((e) => e.name === "Deposited").map((e) => e.args.getValue("amount") as bigint));
  const settled = sum(mineCh.filter((e) => e.name === "VoucherSettled").map((e) => e.args.getValue("increase") as bigint));
  const withdrawn = sum(mineCh.filter((e) => e.name === "DepositWithdrawn").map((e) => e.args.getValue("amount") as bigint));
  const channel: Conservation = {
    route: "channel", deposits: (opening + deposited).toString(), held: closing.toString(), paid: settled.toString(), refunded: withdrawn.toString(), fees: "0",
    ok: opening + deposited === closing + settled + withdrawn,
    source: `the buyers' PaymentChannels deposits: opening ${opening} + Deposited ${deposited} = closing depositOf ${closing} + VoucherSettled ${settled} + DepositWithdrawn ${withdrawn} (no fee on this route)`,
  };
  const channelPrices = sum(rows.filter((t) => t.settlement === "channel" && t.status === "settled").map((t) => BigInt(t.price ?? "0")));
  check("channel route: money conserved (deposits = held + paid + refunded)", channel.ok, channel.source);
  check("channel route: settled on-chain = the prices of the settled channel tasks", settled === channelPrices, `VoucherSettled ${settled} vs Σ prices ${channelPrices}`);

  // Escrow route: every escrow of the demo's tasks, from its events, against the ledger.
  const ev = (name: string, field: string) => sum(escrowEvents.filter((x) => x.e!.name === name).map((x) => x.e!.args.getValue(field) as bigint));
  const funded = ev("EscrowFunded", "amount");
  const paid = ev("EscrowReleased", "agentAmount") + ev("RulingExecuted", "agentAmount");
  const refunded = ev("EscrowReleased", "buyerAmount") + ev("EscrowRefunded", "amount") + ev("EscrowReclaimed", "amount") + ev("RulingExecuted", "buyerAmount");
  const fees = ev("EscrowReleased", "fee") + ev("RulingExecuted", "fee");
  const heldEach = await Promise.all(
    escrowTasks.map(async (t) => {
      const e = (await evm.escrow.escrowOf(taskKey(t.id), at)) as unknown as { state: bigint; amount: bigint; price: bigint };
      const s = Number(e.state);
      // Funded, Awarded, Delivered and Disputed escrows hold the whole budget until they end.
      return s >= 1 && s <= 4 ? e.amount : 0n;
    }),
  );
  const held = sum(heldEach);
  const byAccount = await demoStore.ledgerByAccount(db, escrowTasks.map((t) => t.id), token);
  const lsum = (f: (a: string) => boolean) => sum(byAccount.filter((x) => f(x.account)).map((x) => x.amount));
  const ledgerEscrow = {
    funded: -lsum((a) => a.startsWith("wallet:")),
    held: lsum((a) => a.startsWith("escrow:")),
    paid: lsum((a) => a.startsWith("escrow-credit:") && !buyerSet.has(a.slice("escrow-credit:".length))),
    refunded: lsum((a) => a.startsWith("escrow-credit:") && buyerSet.has(a.slice("escrow-credit:".length))),
    fees: lsum((a) => a === "treasury"),
  };
  const chainEq = funded === held + paid + refunded + fees;
  const ledgerEq = ledgerEscrow.funded === funded && ledgerEscrow.held === held && ledgerEscrow.paid === paid && ledgerEscrow.refunded === refunded && ledgerEscrow.fees === fees;
  const escrow: Conservation = {
    route: "escrow", deposits: funded.toString(), held: held.toString(), paid: paid.toString(), refunded: refunded.toString(), fees: fees.toString(), ok: chainEq && ledgerEq,
    source: `${escrowTasks.length} escrows: EscrowFunded = held (escrowOf) + agent payouts + buyer refunds + fees (EscrowAwarded/Released/Refunded/RulingExecuted); the ledger's postings for these tasks ${ledgerEq ? "agree" : `DISAGREE (funded ${ledgerEscrow.funded}, held ${ledgerEscrow.held}, paid ${ledgerEscrow.paid}, refunded ${ledgerEscrow.refunded}, fees ${ledgerEscrow.fees})`}`,
  };
  check("escrow route: money conserved (deposits = held + paid + refunded + fees), chain = ledger", escrow.ok, escrow.source);

  const violations = await demoStore.violations(db);
  check("ledger = chain (checkChainInvariants)", violations.length === 0, violations.length === 0 ? "TaskEscrow and PaymentChannels balances equal the ledger's accounts; every ledger group sums to zero" : violations.map((v) => v.message).join("; "));

  // ---- gas -----------------------------------------------------------------------------------
  const receipts = new Map<string, bigint>();
  await Promise.all(
    [...new Set(r.txs.map((t) => t.hash))].map(async (h) => {
      const rc = await provider.getTransactionReceipt(h);
      if (rc) receipts.set(h, rc.gasUsed);
    }),
  );
  type GasRow = { route: string; kind: string; gas: bigint[]; units?: number; unit?: string };
  const groups = new Map<string, GasRow>();
  const add = (route: string, kind: string, gas: bigint, units?: { n: number; unit: string }) => {
    const k = `${route}|${kind}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { route, kind, gas: [], ...(units ? { units: 0, unit: units.unit } : {}) }));
    g.gas.push(gas);
    if (units) g.units = (g.units ?? 0) + units.n;
  };
  for (const t of r.txs) {
    const g = receipts.get(t.hash);
    if (g !== undefined) add(t.route, t.kind, g);
  }
  const demoIds = new Set(ids);
  let settleShare = 0n;
  for (const x of outbox) {
    if (x.gas_used === null) continue;
    const g = BigInt(x.gas_used);
    if (x.kind.startsWith("escrow.") && x.payload.taskId && demoIds.has(x.payload.taskId))
      add("escrow", x.kind === "escrow.release" ? "release after the acceptance window (coordinator)" : `${x.kind.slice("escrow.".length)} (coordinator)`, g);
    else if (x.kind === "channels.settleBatch") {
      const vs = x.payload.vouchers ?? [];
      add("channel", "settleBatch (coordinator)", g, { n: vs.length, unit: "voucher" });
      if (vs.length) settleShare += (g * BigInt(vs.filter((v) => buyerSet.has(v.payer.toLowerCase())).length)) / BigInt(vs.length);
    } else if (x.kind === "anchor.anchor" && r.epoch && Number(x.payload.epoch) === r.epoch.epoch) add("reputation", "anchor (coordinator)", g);
  }
  const order = ["setup", "channel", "escrow", "reputation", "payouts"];
  const gas = [...groups.values()]
    .sort((a, b) => order.indexOf(a.route) - order.indexOf(b.route) || a.kind.localeCompare(b.kind))
    .map((g) => {
      const total = sum(g.gas);
      return {
        route: g.route, kind: g.kind, count: g.gas.length, total: total.toString(), mean: (total / BigInt(g.gas.length)).toString(),
        per: g.units ? `${(total / BigInt(Math.max(1, g.units))).toLocaleString("en-US")} per ${g.unit} (${g.units})` : "per transaction",
      };
    });
  const routeGas = (route: string, skip: (kind: string) => boolean = () => false) => sum([...groups.values()].filter((g) => g.route === route && !skip(g.kind)).flatMap((g) => g.gas));
  const channelTasks = rows.filter((t) => t.settlement === "channel" && t.status === "settled").length;
  const channelGas = routeGas("channel", (k) => k.startsWith("settleBatch")) + settleShare;
  const escrowGas = routeGas("escrow");
  const gasPerTask = [
    { route: "channel (deposits + the demo's share of settleBatch)", tasks: channelTasks, gas: channelGas.toString(), perTask: (channelTasks ? channelGas / BigInt(channelTasks) : 0n).toString() },
    { route: "escrow (approve, fund, attestations, release/dispute)", tasks: escrowTasks.length, gas: escrowGas.toString(), perTask: (escrowTasks.length ? escrowGas / BigInt(escrowTasks.length) : 0n).toString() },
  ];

  // ---- latency -------------------------------------------------------------------------------
  const steps: [string, (t: TaskRow) => [Date | null, Date | null]][] = [
    ["post → award", (t) => [t.created_at, t.awarded_at]],
    ["award → delivered", (t) => [t.awarded_at, t.delivered_at]],
    ["delivered → paid (voucher / accept)", (t) => [t.delivered_at, t.accepted_at]],
    ["paid → settled on-chain", (t) => [t.accepted_at, t.settled_at]],
  ];
  const latency: DemoReport["latency"] = [];
  for (const route of ["channel", "escrow"])
    for (const [step, f] of steps) {
      const xs = rows
        .filter((t) => t.settlement === route)
        .map(f)
        .filter((p): p is [Date, Date] => p[0] !== null && p[1] !== null)
        .map(([a, b]) => b.getTime() - a.getTime());
      if (xs.length) latency.push({ route, step, n: xs.length, p50Ms: percentile(xs, 50), p95Ms: percentile(xs, 95) });
    }

  const notes = [...r.notes];
  notes.push("escrow post → award includes funding from the wallet and the funding's confirmations; award → delivered counts from the last award (after a failover, the runner-up's).");
  const participantsList: DemoReport["participants"] = [
    ...r.buyers.map((b) => ({ role: "buyer", label: `${b.label} (#${b.account})`, address: b.address })),
    ...r.agents.map((a) => ({ role: "agent", label: `${a.kind} (#${a.account})`, address: a.address, note: a.inProcess ? "started by the demo (in-process, pull mode)" : "online (webhook)" })),
    ...r.arbitrators.map((a) => ({ role: "arbitrator", label: `#${a.account}`, address: a.address })),
    { role: "treasury", label: "fees", address: treasury },
    { role: "coordinator", label: "operator key (#1)", address: evm.operator.address.toLowerCase() },
  ];
  const info = await evm.token!.decimals().then(async (d) => ({ decimals: Number(d), symbol: (await evm.token!.symbol()) as string }));
  return {
    ok: checks.every((c) => c.ok || !c.invariant),
    startedAt: new Date(r.startedAt).toISOString(),
    wallMs: Date.now() - r.startedAt,
    coordinator: r.url,
    chain: { rpcUrl: provider._getConnection().url, chainId: evm.chainId, fromBlock: r.fromBlock, toBlock: r.toBlock, timeTravel: r.timeTravel },
    token: { address: token, ...info },
    participants: participantsList,
    tasks: { planned: r.tasksPlanned, posted: r.tasksPosted, extra: r.extraTasks, postErrors: r.postErrors, byState, byRoute, byCapability, byAgent, withFailover: rows.filter((t) => t.failovers > 0).length, failovers: rows.reduce((a, t) => a + t.failovers, 0), workflows },
    flaky,
    dispute,
    silence: { taskIds: r.silence, settled: silenceSettled },
    settlement,
    reputation: r.epoch ?? null,
    withdrawals: r.withdrawals,
    money: { ledger, contracts, participants, conservation: [channel, escrow], invariantViolations: violations.map((v) => v.message) },
    gas,
    gasPerTask,
    latency,
    checks,
    notes,
  };
}
