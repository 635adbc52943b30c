import { Counter } from "prom-client";
import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { postMovements } from "../ledger/store.js";
import { enqueue, type OutboxHooks, type OutboxRow } from "../settlement/outbox-store.js";
import type { ChainEvent, EventRegistry } from "../settlement/events.js";
import { taskTransitions } from "../tasks/transitions.js";
import { claimsStore as store, type ClaimCandidate } from "./claims-store.js";

/**
 * Delivered but unpaid channel-route work gets paid (issue 11, item 5). A buyer's channel-route
 * promises draw on its EIP-712 DeliveryAuthorization (src/protocol/eip712.ts); the coordinator
 * claims a delivered task's price with `PaymentChannels.claimDelivered` when
 * - the buyer asked for its deposit back (`WithdrawalRequested`): at once, within the challenge
 *   period, so that the withdrawal can only take what no delivered result is owed;
 * - the buyer stayed silent for CHANNEL_PAYMENT_WINDOW_S after the delivery (no voucher); or
 * - the authorization expires within CLAIM_MARGIN_S.
 * A claim is recorded (promises `claiming`, a `channels.claimDelivered` intent in the outbox) only
 * for pairs with no voucher outstanding, and carries the pair's settled amount: the contract
 * refuses it if a voucher settled in between, so a claim and a voucher never pay the same work
 * twice. The confirmed `DeliveryClaimed` event (in the indexer's transaction) settles the tasks
 * and releases their outputs; a reverted claim returns its promises to `held` for a later try
 * (at most MAX_CLAIM_ATTEMPTS). `DepositWithdrawn` fails the tasks still drawing on the deposit,
 * so the available balance never goes negative.
 */
export type DeliveryClaims = {
  /**
   * Records the claims due now (one `claimDelivered` per authorization), inside `t`.
   * @param only one payer's account (the watchtower on WithdrawalRequested)
   * @returns how many tasks they pay
   */
  record(t: Queryable, only?: { payer: string; token: string }): Promise<number>;
};

/** Before an authorization's expiry, the claims it still owes go out (seconds). */
export const CLAIM_MARGIN_S = 3600;

export function createDeliveryClaims(ctx: AppContext, deps: { events?: EventRegistry; sender?: OutboxHooks }): DeliveryClaims {
  const { log, config } = ctx;
  const claimsTotal = new Counter({
    name: "aicp_channel_claims_total",
    help: "Delivery claims (PaymentChannels.claimDelivered), by outcome (recorded, confirmed, reverted) and reason",
    labelNames: ["outcome", "reason"] as const,
    registers: [ctx.metrics.registry],
  });
  const str = (v: unknown) => String(v).toLowerCase();

  async function record(t: Queryable, only?: { payer: string; token: string }): Promise<number> {
    const due = await store.candidates(t, { now: new Date(ctx.now()), paymentWindowS: config.CHANNEL_PAYMENT_WINDOW_S, marginS: CLAIM_MARGIN_S, only, limit: 500 });
    if (due.length === 0) return 0;
    // One transaction per authorization; one claim per payee in it (the pair's settled amount
    // before it, which the contract checks).
    const byAuth = new Map<string, ClaimCandidate[]>();
    for (const c of due) byAuth.set(c.digest, [...(byAuth.get(c.digest) ?? []), c]);
    let tasks = 0;
    for (const [digest, list] of byAuth) {
      const first = list[0]!;
      const byPayee = new Map<string, ClaimCandidate[]>();
      for (const c of list) byPayee.set(c.payee, [...(byPayee.get(c.payee) ?? []), c]);
      const rows = [...byPayee.values()].map((cs) => ({
        digest, payer: first.payer, payee: cs[0]!.payee, token: first.token, reason: cs[0]!.reason,
        amount: cs.reduce((a, c) => a + BigInt(c.price), 0n), settledBefore: BigInt(cs[0]!.settled), taskIds: cs.map((c) => c.task_id),
      }));
      const ids = await store.insert(t, rows);
      const { id: outboxId } = await enqueue(t, {
        intent: `channels.claim:${ids[0]}`,
        kind: "channels.claimDelivered",
        payload: {
          authorization: { payer: first.payer, token: first.token, salt: first.salt, maxAmount: first.max_amount, expiry: first.expiry },
          signature: first.signature,
          claims: rows.map((r) => ({ payee: r.payee, amount: r.amount.toString(), settledBefore: r.settledBefore.toString() })),
        },
      });
      await store.linkOutbox(t, ids, outboxId);
      for (const r of rows) claimsTotal.inc({ outcome: "recorded", reason: r.reason });
      tasks += list.length;
      log.info({ authorization: digest, payer: first.payer, token: first.token, claims: rows.length, tasks: list.length, reason: first.reason, outboxId }, "delivery claims recorded");
    }
    return tasks;
  }

  async function onClaimed(t: Queryable, ev: ChainEvent) {
    const payee = str(ev.args["payee"]);
    const digest = str(ev.args["authorization"]);
    const c = await store.confirmed(t, { digest, payee, cumulative: String(ev.args["cumulativeAmount"]), txHash: ev.txHash });
    if (!c) {
      log.error({ payee, authorization: digest, txHash: ev.txHash }, "DeliveryClaimed that this coordinator did not record");
      return;
    }
    // Ledger: the promise goes back to the deposit; the projection then moves the claimed amount
    // from the deposit to the payee's claimable balance (src/channels/projection.ts).
    await postMovements(
      t,
      c.promises.map((p) => ({
        group: `channel-claim:${ev.chain}:${ev.txHash}:${ev.logIndex}:${p.task_id}`,
        token: c.token,
        kind: "channel.claim-promise",
        taskId: p.task_id,
        block: ev.blockNumber,
        entries: [
          { account: `channel-promise:${p.task_id}`, amount: -BigInt(p.amount) },
          { account: `channel-deposit:${c.payer}`, amount: BigInt(p.amount) },
        ],
      })),
    );
    const settled = await taskTransitions.claimed(t, c.task_ids);
    claimsTotal.inc({ outcome: "confirmed", reason: "-" });
    if (settled.length < c.task_ids.length) log.warn({ claim: c.id, tasks: c.task_ids, settled }, "a delivery claim paid tasks that had already ended otherwise");
  }

  async function onDepositWithdrawn(t: Queryable, ev: ChainEvent) {
    const payer = str(ev.args["payer"]);
    const token = str(ev.args["token"]);
    const open = await store.openPromises(t, payer, token);
    if (open.length === 0) return;
    const ids = open.map((p) => p.task_id);
    await store.release(t, ids);
    await postMovements(
      t,
      open.map((p) => ({
        group: `channel-withdrawn-promise:${ev.chain}:${ev.txHash}:${ev.logIndex}:${p.task_id}`,
        token,
        kind: "channel-promise-release",
        taskId: p.task_id,
        block: ev.blockNumber,
        entries: [
          { account: `channel-promise:${p.task_id}`, amount: -BigInt(p.amount) },
          { account: `channel-deposit:${payer}`, amount: BigInt(p.amount) },
        ],
      })),
    );
    const failed = await taskTransitions.depositWithdrawn(t, ids, "The buyer withdrew the channel deposit this task drew on");
    const unpaid = open.filter((p) => p.status === "claiming").length;
    log[unpaid ? "error" : "warn"]({ payer, token, failed: failed.length, claimsInFlight: unpaid }, "deposit withdrawn: tasks still drawing on it failed");
  }

  if (deps.events) {
    deps.events.on("PaymentChannels", "DeliveryClaimed", onClaimed);
    deps.events.on("PaymentChannels", "DepositWithdrawn", onDepositWithdrawn);
    // A reorg dropped confirmed claims: their tasks are delivered and unpaid again, and the next
    // sweep claims them again (the ledger movements were rolled back with their blocks).
    deps.events.onRollback?.(async (t) => {
      const orphaned = await store.orphaned(t);
      if (orphaned.length === 0) return;
      await taskTransitions.unclaim(t, orphaned.flatMap((c) => c.task_ids));
      claimsTotal.inc({ outcome: "orphaned", reason: "-" }, orphaned.length);
      log.warn({ claims: orphaned.length }, "chain reorganisation: delivery claims dropped; their tasks will be claimed again");
    });
  }
  if (deps.sender) {
    deps.sender.onReverted("channels.claimDelivered", async (t: Queryable, row: OutboxRow) => {
      const back = await store.reverted(t, row.id);
      claimsTotal.inc({ outcome: "reverted", reason: "-" }, back.length);
      log.error({ outboxId: row.id, claims: back.length, tasks: back.flatMap((c) => c.task_ids), error: row.last_error }, "claimDelivered did not go through; its tasks wait for a later claim or the buyer's voucher");
    });
  }
  return { record };
}
