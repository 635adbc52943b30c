import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { badRequest, conflict, forbidden, notFound } from "../errors.js";
import type { Intent } from "../settlement/outbox-store.js";
import { taskIdFromKey } from "../protocol/keys.js";
import type { AuctionService } from "../auction/service.js";
import type { Outgoing } from "../events/bus.js";
import type { ChainEvent, EventRegistry } from "../settlement/events.js";
import type { TaskTxHookBus } from "../tasks/hooks.js";
import { taskTransitions } from "../tasks/transitions.js";
import { disputeRepository } from "../disputes/repository.js";
import { escrowRepository as repo } from "./repository.js";

/** An unsigned call for the user's own wallet to send (EIP-1193 `eth_sendTransaction` shape). */
export type WalletCall = { to: string; data: string; value: string; description: string };

/** What the escrow route needs from the settlement backend (see src/settlement/backend.ts). */
export type EscrowBackend = {
  /** Unsigned `release`, `dispute(evidenceURI)` or `reclaim` call on TaskEscrow for a task. */
  callFor(kind: "release" | "dispute" | "reclaim", taskId: string, args?: { evidenceURI?: string }): WalletCall | Promise<WalletCall>;
  /** Timestamp (ms) of the chain's latest block: TaskEscrow's clock for the acceptance window. */
  chainTime(): Promise<number>;
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
   * @throws 404 TASK_NOT_FOUND, 403 NOT_A_PARTY, 409 NOT_DELIVERED | NOT_ESCROW
   */
  dispute(taskId: string, caller: string, evidence: { uri: string; text?: string }): Promise<{ taskId: string; call: WalletCall }>;
  /** The buyer's `reclaim` call after the deadline when nothing was delivered. */
  reclaim(taskId: string, buyer: string): Promise<{ taskId: string; call: WalletCall }>;
  /** Records release intents for delivered escrows whose acceptance window has passed on-chain. */
  releaseDue(): Promise<number>;
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
    backend: EscrowBackend;
    /** Records a coordinator transaction in the outbox inside `t` (the sender's `enqueue`). */
    enqueue(t: Queryable, intent: Intent): Promise<unknown>;
  },
): EscrowService {
  const { db, log } = ctx;
  const isEscrow = async (t: Queryable, id: string, settlement?: string) =>
    (settlement ?? (await repo.settlementOf(t, id))) === "escrow";

  // --- coordinator attestations, recorded with the task transitions ---
  deps.txHooks.subscribe({
    async awarded(t, task) {
      if (!(await isEscrow(t, task.id, task.settlement))) return;
      await deps.enqueue(t, { intent: `award:${task.id}:${task.agent}`, kind: "escrow.award", payload: { taskId: task.id, agent: task.agent, price: task.price.toString() } });
    },
    async delivered(t, task) {
      if (!(await isEscrow(t, task.id, task.settlement))) return;
      await deps.enqueue(t, { intent: `deliver:${task.id}`, kind: "escrow.deliver", payload: { taskId: task.id, resultHash: task.resultHash } });
    },
    async ended(t, task) {
      if (!(await isEscrow(t, task.id))) return;
      // Refund only what was funded: a task cancelled while still `funding` holds nothing yet.
      if (await repo.holdsFunds(t, task.id)) await deps.enqueue(t, { intent: `refund:${task.id}`, kind: "escrow.refund", payload: { taskId: task.id } });
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
    const s = await repo.spec(t, id);
    const ok =
      task.status === "funding" &&
      task.settlement === "escrow" &&
      String(ev.args["buyer"]) === task.buyer &&
      String(ev.args["token"]) === s.token &&
      BigInt(String(ev.args["amount"])) >= BigInt(s.budget);
    if (!ok) {
      log.warn({ task: id, status: task.status }, "escrow funded for a task that cannot open; refunding");
      await deps.enqueue(t, { intent: `refund:${id}`, kind: "escrow.refund", payload: { taskId: id } });
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
    const buyer = await taskTransitions.escrowOutcome(t, id, status);
    if (buyer) return () => deps.auction.dispatch([{ address: buyer, event: { type: "task", data: { taskId: id, status } } }]);
  };
  deps.events.on("TaskEscrow", "EscrowReleased", finalState("settled"));
  deps.events.on("TaskEscrow", "EscrowRefunded", finalState("refunded"));
  deps.events.on("TaskEscrow", "EscrowReclaimed", finalState("refunded"));
  deps.events.on("TaskEscrow", "EscrowDisputed", finalState("disputed"));
  deps.events.on("TaskEscrow", "RulingExecuted", finalState("resolved"));

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
      await taskTransitions.accept(db, taskId);
      const call = t.settlement === "escrow" ? await deps.backend.callFor("release", taskId) : null;
      return { taskId, status: "accepted", call };
    },

    async dispute(taskId, caller, evidence) {
      const t = await party(taskId);
      if (caller !== t.buyer && caller !== t.agent) throw forbidden("NOT_A_PARTY", "Only the buyer or the awarded agent may dispute a task.");
      if (t.settlement !== "escrow") throw conflict("NOT_ESCROW", "Only escrow-route tasks can be disputed; channel results are paid per voucher.");
      if (!["delivered", "accepted"].includes(t.status)) throw conflict("NOT_DELIVERED", `The task is ${t.status}; a dispute needs a delivered result.`);
      if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(evidence.uri)) throw badRequest("BAD_EVIDENCE_URI", "evidenceUri must be a URI (ipfs://…, https://…).");
      await disputeRepository.addEvidence(db, { taskId, party: caller, uri: evidence.uri, text: evidence.text ?? null });
      return { taskId, call: await deps.backend.callFor("dispute", taskId, { evidenceURI: evidence.uri }) };
    },

    async reclaim(taskId, buyer) {
      const t = await party(taskId);
      if (t.buyer !== buyer) throw forbidden("NOT_BUYER", "Only the buyer may reclaim the escrow.");
      if (t.settlement !== "escrow") throw conflict("NOT_ESCROW", "Only escrow-route tasks hold funds to reclaim.");
      return { taskId, call: await deps.backend.callFor("reclaim", taskId) };
    },

    async releaseDue() {
      const now = await deps.backend.chainTime();
      const due = await repo.releasable(db, new Date(now));
      for (const r of due)
        await db.tx((t) => deps.enqueue(t, { intent: `release:${r.task_id}`, kind: "escrow.release", payload: { taskId: r.task_id } }));
      return due.length;
    },
  };
}
