import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { badRequest, conflict, forbidden, notFound, notYet, unavailable } from "../errors.js";
import type { Intent, IntentKind, OutboxHooks, OutboxRow } from "../settlement/outbox-store.js";
import { resendOrphaned } from "../settlement/outbox-store.js";
import { taskIdFromKey } from "../protocol/keys.js";
import type { AuctionService } from "../auction/service.js";
import type { Outgoing } from "../events/bus.js";
import type { ChainEvent, EventRegistry } from "../settlement/events.js";
import type { TaskTxHookBus } from "../tasks/hooks.js";
import { taskTransitions } from "../tasks/transitions.js";
import { disputeRepository } from "../disputes/repository.js";
import type { SettlementChain, SubstrateCall } from "../protocol/settlement.js";
import { escrowRepository as repo } from "./repository.js";

/**
 * An unsigned call for the user's own wallet to send: on the EVM the EIP-1193
 * `eth_sendTransaction` shape; on Substrate the SCALE-encoded call (src/protocol/settlement.ts).
 */
export type WalletCall = { to: string; data: string; value: string; description: string } | SubstrateCall;

/** TaskEscrow's record of one task as the chain holds it now (amounts in token base units). */
export type ChainEscrow = {
  /** `ITaskEscrow.State`, lower-case: none, funded, awarded, delivered, disputed, released, refunded, resolved. */
  state: string;
  buyer: string | null;
  agent: string | null;
  /** The awarded price (0 before the award). */
  price: bigint;
  /** The budget funded. */
  amount: bigint;
};

/** What the escrow route needs from the settlement backend (see src/settlement/backend.ts). */
export type EscrowBackend = {
  /**
   * The calls (with the coordinator's funding authorization) that fund the task's escrow from
   * the buyer's wallet (src/protocol/settlement.ts `FundingPlan`); amount in token base units.
   */
  fundingPlan(task: { id: string; buyer: string; token: string; amount: bigint; deadline: Date }): Promise<unknown>;
  /** TaskEscrow's current state of the task's escrow (a chain read; rejects when the RPC is down). */
  escrowOf(taskId: string): Promise<ChainEscrow>;
  /** Unsigned `release`, `dispute(evidenceURI)` or `reclaim` call on TaskEscrow for a task. */
  callFor(kind: "release" | "dispute" | "reclaim", taskId: string, args?: { evidenceURI?: string }): WalletCall | Promise<WalletCall>;
  /** Timestamp (ms) of the chain's latest block: TaskEscrow's clock for the acceptance window. */
  chainTime(): Promise<number>;
  /**
   * Substrate: the buyer's acceptance executes the payout the coordinator proposed at delivery,
   * so the release call can only be built once that proposal is on-chain (absent on the EVM).
   * @throws 409 ESCROW_NOT_CONFIRMED while the proposal is not on-chain yet
   */
  releaseCallFor?(taskId: string): Promise<WalletCall>;
};

export type EscrowService = {
  /**
   * Buyer accepts a delivered escrow task: records the acceptance and returns the `release`
   * call to send from the wallet (the coordinator releases anyway once the acceptance window
   * has passed: silence is acceptance).
   * @throws 404 TASK_NOT_FOUND, 403 NOT_BUYER, 409 NOT_DELIVERED
   */
  accept(taskId: string, buyer: string): Promise<{ taskId: string; status: string; call: WalletCall | null }>;
  /**
   * Buyer rejects, or buyer or agent disputes, a delivered escrow task within the acceptance
   * window: stores the evidence (ERC-1497 style: a URI and optional text) and returns the
   * `dispute(taskId, evidenceURI)` call to send from the caller's wallet; the indexer moves the
   * task to `disputed` when TaskEscrow emits EscrowDisputed.
   * @throws 404 TASK_NOT_FOUND, 403 NOT_A_PARTY, 409 NOT_DELIVERED | NOT_ESCROW | ACCEPTANCE_WINDOW_CLOSED
   */
  dispute(taskId: string, caller: string, evidence: { uri: string; text?: string }): Promise<{ taskId: string; call: WalletCall }>;
  /**
   * The funding plan of a task (or a workflow's escrow node) still waiting in `funding`, as often
   * as the buyer asks, until the indexer has seen the escrow funded.
   * @throws 404 TASK_NOT_FOUND, 403 NOT_BUYER, 409 NOT_ESCROW | NOT_FUNDING
   */
  funding(taskId: string, buyer: string): Promise<{ taskId: string; plan: unknown }>;
  /**
   * The buyer's `reclaim` call after the deadline when nothing was delivered.
   * @throws 409 ESCROW_NOT_CONFIRMED | DEADLINE_NOT_REACHED (Retry-After) while the call would revert
   */
  reclaim(taskId: string, buyer: string): Promise<{ taskId: string; call: WalletCall }>;
  /** Records release intents for delivered escrows whose acceptance window has passed on-chain. */
  releaseDue(): Promise<number>;
  /**
   * Moves disputes on so that none sticks: finalizes rulings past their appeal window (the
   * escrow then executes the split) and reassigns disputes with no ruling past their rule
   * deadline (DisputeResolver's finalize and reassign, open to anyone), by the chain's clock.
   * @returns how many intents it recorded
   */
  disputesDue(): Promise<number>;
};


/**
 * The escrow route (DESIGN.md "Task lifecycle" steps 2 and 5): the task waits in `funding`
 * until the indexer has seen EscrowFunded confirmed, then its auction opens; the coordinator
 * attests award and delivery, releases after the acceptance window, and refunds on failure —
 * every transaction through the outbox, in the same database transaction as the task change.
 */
export function createEscrowService(
  ctx: AppContext,
  deps: {
    auction: AuctionService;
    events: EventRegistry;
    txHooks: TaskTxHookBus;
    /** The settlement backend of each chain this coordinator serves (a task uses its own chain's). */
    backends: Partial<Record<SettlementChain, EscrowBackend>>;
    /** Records a coordinator transaction in the outbox inside `t` (the intent names its chain). */
    enqueue(t: Queryable, intent: Intent): Promise<unknown>;
    /** Where the transaction senders report reverted and failed intents (absent in the API-only role). */
    outbox?: OutboxHooks[];
    /** Seconds a wallet is told to wait (Retry-After) for a chain state to be confirmed. */
    retryAfterSeconds?: number;
  },
): EscrowService {
  const { db, log } = ctx;
  const retryAfter = deps.retryAfterSeconds ?? 2;
  /** The task's chain when it settles on the escrow route, else undefined. */
  const escrowChain = async (t: Queryable, id: string): Promise<SettlementChain | undefined> => {
    const s = await repo.settlementOf(t, id);
    return s?.settlement === "escrow" ? s.chain : undefined;
  };
  const backendOf = (chain: SettlementChain): EscrowBackend => {
    const b = deps.backends[chain];
    if (!b) throw unavailable("SETTLEMENT_UNAVAILABLE", `This coordinator has no ${chain} settlement chain right now.`);
    return b;
  };

  // --- coordinator attestations, recorded with the task transitions ---
  deps.txHooks.subscribe({
    async awarded(t, task) {
      if (task.settlement !== undefined && task.settlement !== "escrow") return;
      const chain = await escrowChain(t, task.id);
      if (!chain) return;
      await deps.enqueue(t, { intent: `award:${task.id}:${task.agent}`, kind: "escrow.award", payload: { taskId: task.id, agent: task.agent, price: task.price.toString() }, chain });
    },
    async delivered(t, task) {
      if (task.settlement !== undefined && task.settlement !== "escrow") return;
      const chain = await escrowChain(t, task.id);
      if (!chain) return;
      await deps.enqueue(t, { intent: `deliver:${task.id}`, kind: "escrow.deliver", payload: { taskId: task.id, resultHash: task.resultHash }, chain });
    },
    async ended(t, task) {
      const chain = await escrowChain(t, task.id);
      if (!chain) return;
      // Refund only what was funded: a task cancelled while still `funding` holds nothing yet.
      if (await repo.holdsFunds(t, task.id)) await deps.enqueue(t, { intent: `refund:${task.id}`, kind: "escrow.refund", payload: { taskId: task.id }, chain });
    },
  });

  const lockTask = async (t: Queryable, id: string) =>
    repo.task(t, id, { lock: true });

  // --- chain events (applied by the indexer after the confirmation depth) ---
  const taskOf = (ev: ChainEvent) => taskIdFromKey(String(ev.args["taskId"]));

  deps.events.on("TaskEscrow", "EscrowFunded", async (t, ev) => {
    const id = taskOf(ev);
    const task = await lockTask(t, id);
    if (!task) return; // an escrow for a task this coordinator does not know: nothing to open
    if (ev.chain !== task.chain) {
      log.error({ task: id, chain: ev.chain, taskChain: task.chain }, "escrow funded on another chain than the task's; ignored");
      return;
    }
    const s = await repo.spec(t, id);
    if (String(ev.args["buyer"]).toLowerCase() !== task.buyer) {
      // TaskEscrow only accepts fundings the coordinator authorized for this buyer, so this cannot
      // happen with the deployed contract; if it ever does, it must not touch the buyer's task.
      log.error({ task: id, funder: ev.args["buyer"], buyer: task.buyer }, "escrow funded by someone other than the task's buyer; ignored");
      return;
    }
    const ok =
      task.status === "funding" &&
      task.settlement === "escrow" &&
      String(ev.args["token"]) === s.token &&
      BigInt(String(ev.args["amount"])) >= BigInt(s.budget);
    if (!ok) {
      log.warn({ task: id, status: task.status }, "escrow funded for a task that cannot open; refunding");
      await deps.enqueue(t, { intent: `refund:${id}`, kind: "escrow.refund", payload: { taskId: id }, chain: task.chain });
      return;
    }
    const closesAt = Date.now() + s.window_ms;
    await deps.auction.reopen(t, task.auction_id, closesAt);
    await taskTransitions.open(t, id);
    const out: Outgoing[] = await deps.auction.open(t, { id: task.auction_id, buyer: task.buyer, capability: s.capability }, {
      auctionId: task.auction_id,
      taskIds: [id],
      capability: s.capability,
      input: s.input,
      complexity: s.complexity,
      urgency: s.urgency,
      budget: s.budget,
      token: s.token,
      deadline: s.deadline.toISOString(),
      rule: s.rule,
      quantity: 1,
      closesAt: new Date(closesAt).toISOString(),
    });
    out.push({ address: task.buyer, event: { type: "task", data: { taskId: id, status: "open", funded: String(ev.args["amount"]) } } });
    return async () => {
      if (out.length === 1) await deps.auction.close(task.auction_id, "all-proposed");
      else await deps.auction.scheduleClose(task.auction_id, closesAt);
      await deps.auction.dispatch(out);
    };
  });

  const finalState = (status: "settled" | "refunded" | "disputed" | "resolved") => async (t: Queryable, ev: ChainEvent) => {
    const id = taskOf(ev);
    // The projection applied the event only if it fits the escrow (a Substrate dispute memo
    // names its task but is checked against the escrow's parties and window there).
    if (status === "disputed" && ev.chain === "substrate" && (await repo.escrow(t, id))?.dispute_id !== String(ev.args["disputeId"])) return;
    const buyer = await taskTransitions.escrowOutcome(t, id, status);
    if (buyer) return () => deps.auction.dispatch([{ address: buyer, event: { type: "task", data: { taskId: id, status } } }]);
  };
  // A reorg may drop the coordinator's own attestations (award, delivery, release, refund) with
  // their blocks: they are sent again, in their order, so the chain follows what was decided.
  deps.events.onRollback?.(async (t, r) => {
    const again = await resendOrphaned(t, ["escrow.award", "escrow.deliver", "escrow.release", "escrow.refund"], r.fromBlock);
    if (again.length) log.warn({ intents: again.map((x) => x.intent) }, "chain reorganisation: escrow attestations sent again");
  });
  deps.events.on("TaskEscrow", "EscrowReleased", finalState("settled"));
  deps.events.on("TaskEscrow", "EscrowRefunded", finalState("refunded"));
  deps.events.on("TaskEscrow", "EscrowReclaimed", finalState("refunded"));
  deps.events.on("TaskEscrow", "EscrowDisputed", finalState("disputed"));
  deps.events.on("TaskEscrow", "RulingExecuted", finalState("resolved"));

  // --- reverted or failed coordinator transactions: reconcile with the chain's escrow ---
  const AWARDED_OR_LATER = ["awarded", "delivered", "disputed", "released", "resolved"];
  const FINAL = ["released", "refunded", "resolved"];
  const settledTask = (status: string) => ["settled", "refunded", "resolved", "expired", "failed", "cancelled"].includes(status);

  /**
   * What to do when TaskEscrow refused a coordinator transaction: read the escrow, keep Postgres
   * and the chain naming the same agent and price (failing the task and refunding the buyer when
   * the chain cannot follow), and tell the operator (metric, log; ops/prometheus-alerts.yml).
   * @returns the outcome label of `aicp_escrow_intent_reverted_total`
   */
  async function reconcile(t: Queryable, row: OutboxRow): Promise<string> {
    const id = String(row.payload["taskId"]);
    const reason = row.last_error ?? row.status;
    let chain: ChainEscrow;
    const taskChain = row.chain as SettlementChain;
    try {
      chain = await backendOf(taskChain).escrowOf(id);
    } catch (err) {
      log.error({ err, task: id, kind: row.kind, reason }, "escrow intent reverted and the chain cannot be read to reconcile it");
      return "operator";
    }
    const task = await lockTask(t, id);
    if (!task) return "operator";
    const failTask = async (why: string) => {
      if (!settledTask(task.status) && (await taskTransitions.chainRefused(t, id, why))) {
        log.warn({ task: id, kind: row.kind, reason, chain: { ...chain, price: String(chain.price), amount: String(chain.amount) } }, "task failed to follow TaskEscrow");
      }
      if (chain.state === "funded" || chain.state === "awarded") await deps.enqueue(t, { intent: `refund:${id}`, kind: "escrow.refund", payload: { taskId: id }, chain: taskChain });
      return "task-failed";
    };
    switch (row.kind) {
      case "escrow.award": {
        const agent = String(row.payload["agent"]).toLowerCase();
        const price = BigInt(String(row.payload["price"]));
        if (AWARDED_OR_LATER.includes(chain.state) && chain.agent === agent && chain.price === price) return "consistent";
        if (FINAL.includes(chain.state) || chain.state === "disputed") return "consistent"; // the indexer applies the chain's outcome
        // A newer award of this task is still on its way: that one decides.
        if (task.agent !== agent) return "consistent";
        return failTask(`TaskEscrow refused the award to ${agent} at ${price} (${reason}); the escrow is ${chain.state}${chain.agent ? ` for ${chain.agent} at ${chain.price}` : ""}`);
      }
      case "escrow.deliver": {
        if (["delivered", "disputed", ...FINAL].includes(chain.state)) return "consistent";
        return failTask(`TaskEscrow refused the delivery attestation (${reason}); the escrow is ${chain.state}`);
      }
      case "escrow.release":
        if (FINAL.includes(chain.state) || chain.state === "disputed") return "consistent";
        // Still delivered: the sweep sends a new release once the window has passed on-chain.
        return chain.state === "delivered" ? "retry" : "operator";
      case "escrow.refund":
        if (FINAL.includes(chain.state) || chain.state === "disputed") return "consistent";
        return "operator";
      default:
        return "operator";
    }
  }

  // A refused finalize or reassign (the dispute moved on, or the windows disagree by a moment):
  // the projection says what happened; a later sweep tries again if the dispute is still due.
  for (const outbox of deps.outbox ?? [])
  for (const kind of ["disputes.finalize", "disputes.reassign"] as const satisfies readonly IntentKind[])
    outbox.onReverted(kind, async (_t, row) => {
      log.warn({ dispute: row.payload["disputeId"], kind, intent: row.intent, reason: row.last_error }, "dispute intent refused; the sweep tries again while it is due");
    });

  for (const outbox of deps.outbox ?? [])
  for (const kind of ["escrow.award", "escrow.deliver", "escrow.release", "escrow.refund"] as const satisfies readonly IntentKind[]) {
    outbox.onReverted(kind, async (t, row) => {
      const outcome = await reconcile(t, row);
      ctx.metrics.escrowReverts.inc({ kind, outcome });
      const line = { task: row.payload["taskId"], kind, intent: row.intent, status: row.status, reason: row.last_error, outcome };
      if (outcome === "operator") log.error(line, "escrow intent reverted; needs an operator");
      else log.warn(line, "escrow intent reverted; reconciled with the chain");
    });
  }

  /**
   * The task's on-chain escrow as the indexer has confirmed it (the `escrows` projection).
   * @throws 409 ESCROW_NOT_CONFIRMED (Retry-After) while it does not yet show `states` for the task's agent;
   *   409 ESCROW_STATE (no retry) once it is past them for good
   */
  async function confirmedEscrow(taskId: string, agent: string | null, states: string[], what: string) {
    const e = await repo.escrow(db, taskId);
    const order = ["funded", "awarded", "delivered", "disputed", "released", "refunded", "resolved"];
    const beyond = e !== undefined && order.indexOf(e.state) > Math.max(...states.map((x) => order.indexOf(x)));
    if (beyond) throw conflict("ESCROW_STATE", `TaskEscrow shows task ${taskId} ${e.state}: ${what} is no longer possible.`);
    if (!e || !states.includes(e.state) || (agent !== null && e.agent !== agent))
      throw notYet(
        "ESCROW_NOT_CONFIRMED",
        `TaskEscrow has not confirmed ${what} of task ${taskId} yet (it shows ${e ? `${e.state}${e.agent ? ` for ${e.agent}` : ""}` : "no escrow"}); retry shortly.`,
        retryAfter,
      );
    return e;
  }

  async function party(taskId: string) {
    const t = await repo.task(db, taskId);
    if (!t) throw notFound("TASK_NOT_FOUND", `No task ${taskId}.`);
    return t;
  }

  return {
    async accept(taskId, buyer) {
      const t = await party(taskId);
      if (t.buyer !== buyer) throw forbidden("NOT_BUYER", "Only the buyer may accept the result.");
      if (!["delivered", "accepted"].includes(t.status)) throw conflict("NOT_DELIVERED", `The task is ${t.status}; only a delivered result can be accepted.`);
      if (t.settlement === "channel")
        throw conflict("PAY_WITH_VOUCHER", "Channel-route results are accepted by paying them: POST /v1/vouchers with your EIP-712 voucher.");
      // The release call pays whoever the chain names: hand it out only once the chain names this agent.
      if (t.settlement === "escrow") await confirmedEscrow(taskId, t.agent, ["awarded", "delivered"], `the award to ${t.agent}`);
      const backend = t.settlement === "escrow" ? backendOf(t.chain) : undefined;
      // Substrate: the release executes the coordinator's payout proposal; it must be on-chain first.
      const call = backend ? await (backend.releaseCallFor ? backend.releaseCallFor(taskId) : backend.callFor("release", taskId)) : null;
      await taskTransitions.accept(db, taskId);
      return { taskId, status: "accepted", call };
    },

    async dispute(taskId, caller, evidence) {
      const t = await party(taskId);
      if (caller !== t.buyer && caller !== t.agent) throw forbidden("NOT_A_PARTY", "Only the buyer or the awarded agent may dispute a task.");
      if (t.settlement !== "escrow") throw conflict("NOT_ESCROW", "Only escrow-route tasks can be disputed; channel results are paid per voucher.");
      if (!["delivered", "accepted"].includes(t.status)) throw conflict("NOT_DELIVERED", `The task is ${t.status}; a dispute needs a delivered result.`);
      if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(evidence.uri)) throw badRequest("BAD_EVIDENCE_URI", "evidenceUri must be a URI (ipfs://…, https://…).");
      // TaskEscrow.dispute needs the delivery on-chain: until the indexer confirmed it, the call would revert.
      const e = await confirmedEscrow(taskId, t.agent, ["delivered"], "the delivery");
      // The chain refuses (or, on Substrate, the indexer ignores) a dispute after the window: say so now.
      if (e.acceptance_ends_at && e.acceptance_ends_at.getTime() < (await backendOf(t.chain).chainTime()))
        throw conflict("ACCEPTANCE_WINDOW_CLOSED", `The acceptance window of task ${taskId} closed at ${e.acceptance_ends_at.toISOString()} (chain time): the escrow is released to the agent.`);
      await disputeRepository.addEvidence(db, { taskId, party: caller, uri: evidence.uri, text: evidence.text ?? null });
      return { taskId, call: await backendOf(t.chain).callFor("dispute", taskId, { evidenceURI: evidence.uri }) };
    },

    async funding(taskId, buyer) {
      const t = await party(taskId);
      if (t.buyer !== buyer) throw forbidden("NOT_BUYER", "Only the buyer may fund the escrow.");
      if (t.settlement !== "escrow") throw conflict("NOT_ESCROW", "Only escrow-route tasks are funded from the wallet.");
      if (t.status !== "funding") throw conflict("NOT_FUNDING", `The task is ${t.status}; its escrow is already funded (or the task ended).`);
      const s = await repo.spec(db, taskId);
      const plan = await backendOf(t.chain).fundingPlan({ id: taskId, buyer: t.buyer, token: s.token, amount: BigInt(s.budget), deadline: s.deadline });
      return { taskId, plan };
    },

    async reclaim(taskId, buyer) {
      const t = await party(taskId);
      if (t.buyer !== buyer) throw forbidden("NOT_BUYER", "Only the buyer may reclaim the escrow.");
      if (t.settlement !== "escrow") throw conflict("NOT_ESCROW", "Only escrow-route tasks hold funds to reclaim.");
      const e = await confirmedEscrow(taskId, null, ["funded", "awarded"], "an undelivered escrow");
      const now = await backendOf(t.chain).chainTime();
      if (e.deadline && e.deadline.getTime() >= now)
        throw notYet("DEADLINE_NOT_REACHED", `The escrow can be reclaimed after its deadline ${e.deadline.toISOString()} (chain time).`, Math.ceil((e.deadline.getTime() - now) / 1000) + 1);
      return { taskId, call: await backendOf(t.chain).callFor("reclaim", taskId) };
    },

    async releaseDue() {
      let n = 0;
      for (const [chain, backend] of Object.entries(deps.backends) as [SettlementChain, EscrowBackend][]) {
        const now = await backend.chainTime();
        const due = await repo.releasable(db, new Date(now), chain);
        // One intent per attempt: a release the chain refused (reconciled as `retry`) is sent again.
        for (const r of due)
          await db.tx((t) => deps.enqueue(t, { intent: r.attempts === 0 ? `release:${r.task_id}` : `release:${r.task_id}:${r.attempts}`, kind: "escrow.release", payload: { taskId: r.task_id }, chain }));
        n += due.length;
      }
      return n;
    },

    async disputesDue() {
      let n = 0;
      for (const [chain, backend] of Object.entries(deps.backends) as [SettlementChain, EscrowBackend][]) {
        const now = await backend.chainTime();
        const due = await disputeRepository.due(db, new Date(now), chain);
        // One intent per dispute and chain minute: a refused one (e.g. the clocks disagreed by a
        // second) is tried again by a later sweep, never twice at once.
        const bucket = Math.floor(now / 60_000);
        for (const id of due.finalize) await db.tx((t) => deps.enqueue(t, { intent: `finalize:${id}:${bucket}`, kind: "disputes.finalize", payload: { disputeId: id }, chain }));
        // Substrate disputes have one arbitrator (the custody co-signer): nobody to reassign to.
        if (chain === "evm") for (const id of due.reassign) await db.tx((t) => deps.enqueue(t, { intent: `reassign:${id}:${bucket}`, kind: "disputes.reassign", payload: { disputeId: id }, chain }));
        n += due.finalize.length + (chain === "evm" ? due.reassign.length : 0);
      }
      return n;
    },
  };
}
