import type { Queryable } from "../db/index.js";
import { AppError } from "../errors.js";
import type { TaskStatus } from "../protocol/tasks.js";

/**
 * The one owner of `tasks.status`: the table of allowed status changes (DESIGN.md "Task
 * lifecycle", FIPA Contract Net terms) and the only code that writes the column. Auction,
 * scheduling, escrow, channels and workflows change a task's status only through the functions
 * below, each of which names its row of the table.
 *
 * Every write is a guarded `UPDATE … WHERE status = ANY(<from>)` (or an INSERT for a new task),
 * run in the caller's transaction, so a change that the table allows but the row's current
 * status does not is simply not made: the functions return what they changed and the caller
 * names the reason. Asking for a change the table does not hold at all is a bug and throws
 * {@link TaskTransitionRefused}.
 */

/** What causes a change, and who may cause it. */
export type TransitionCause = keyof typeof TRANSITIONS;

type Rule = { from: readonly TaskStatus[] | "any"; to: readonly TaskStatus[]; by: string };

/**
 * from → to, by cause. `from: []` is the creation of a task; `"any"` is the chain's word (the
 * escrow contract's state is the truth on the escrow route, whatever Postgres thought).
 */
export const TRANSITIONS = {
  post: { from: [], to: ["funding", "open"], by: "buyer: POST /v1/tasks (escrow route waits in funding)" },
  "escrow-funded": { from: ["funding"], to: ["open"], by: "indexer: TaskEscrow.EscrowFunded confirmed" },
  cancel: { from: ["funding", "open"], to: ["cancelled"], by: "buyer: POST /v1/tasks/:id/cancel before the award" },
  "auction-close": { from: ["open"], to: ["awarded", "expired"], by: "auction: the window closed or every invited agent proposed" },
  retry: { from: ["awarded", "running"], to: ["awarded"], by: "scheduling: a failed attempt is retried with backoff" },
  failover: { from: ["awarded", "running"], to: ["awarded"], by: "scheduling: attempts exhausted, the next runner-up at its own proposal" },
  exhausted: { from: ["awarded", "running"], to: ["failed"], by: "scheduling: attempts exhausted and no runner-up left" },
  start: { from: ["awarded"], to: ["running"], by: "scheduling: the dispatch reached the awarded agent" },
  deliver: { from: ["awarded", "running"], to: ["delivered"], by: "agent: POST /v1/tasks/:id/result (the awarded agent only)" },
  accept: { from: ["delivered", "accepted"], to: ["accepted"], by: "buyer: POST /v1/tasks/:id/accept" },
  "voucher-paid": { from: ["delivered"], to: ["accepted"], by: "buyer: an EIP-712 voucher covering the price (channel route)" },
  "voucher-settled": { from: ["accepted"], to: ["settled"], by: "indexer: PaymentChannels.VoucherSettled confirmed" },
  "settlement-orphaned": { from: ["settled"], to: ["accepted"], by: "indexer: a reorg dropped the settlement" },
  "delivery-claimed": {
    from: ["delivered"],
    to: ["settled"],
    by: "indexer: PaymentChannels.DeliveryClaimed confirmed (the coordinator claimed the price under the buyer's delivery authorization: the buyer withdrew or stayed silent)",
  },
  "claim-orphaned": { from: ["settled"], to: ["delivered"], by: "indexer: a reorg dropped the DeliveryClaimed that settled the task (it is claimed again)" },
  "deposit-withdrawn": {
    from: ["open", "awarded", "running", "delivered"],
    to: ["failed"],
    by: "indexer: PaymentChannels.DepositWithdrawn confirmed while the task still drew on that deposit",
  },
  "chain-refused": {
    from: ["awarded", "running", "delivered", "accepted"],
    to: ["failed"],
    by: "escrow: TaskEscrow refused the award or delivery attestation and its state names another agent or price (reconciled from the chain)",
  },
  "escrow-outcome": {
    from: "any",
    to: ["settled", "refunded", "disputed", "resolved"],
    by: "indexer: EscrowReleased, EscrowRefunded, EscrowReclaimed, EscrowDisputed or RulingExecuted confirmed",
  },
} as const satisfies Record<string, Rule>;

/** A status change that the transitions table does not allow (a bug in the caller). */
export class TaskTransitionRefused extends AppError {
  constructor(cause: string, to: string) {
    super("TASK_TRANSITION_REFUSED", `A task cannot become ${to} by ${cause}.`, 409, false);
  }
}

/**
 * The statuses a task may be in for `cause` to move it to `to`.
 * @throws TaskTransitionRefused when the table has no such change
 */
export function allowedFrom(cause: TransitionCause, to: TaskStatus): readonly TaskStatus[] | "any" {
  const rule: Rule | undefined = TRANSITIONS[cause];
  if (!rule || !rule.to.includes(to)) throw new TaskTransitionRefused(cause, to);
  return rule.from;
}

/** SQL condition and parameter for the `from` list of a change (parameter `$n`). */
function guard(cause: TransitionCause, to: TaskStatus, n: number): { sql: string; param: string[] } {
  const from = allowedFrom(cause, to);
  return from === "any" ? { sql: "TRUE", param: [] } : { sql: `status = ANY($${n}::text[])`, param: [...from] };
}

/** One row of the bulk award at an auction's close. */
export type CloseOutcome = { id: string; status: "awarded" | "expired"; agent: string | null; price: string | null };

/** The delivered task as the scheduler needs it afterwards. */
export type DeliveredRow = {
  buyer: string; capability: string; price: string | null; settlement: string; started_at: Date | null; awarded_at: Date | null;
  workflow_id: string | null; node_key: string | null; attempts: number;
  /** Whether the agent's circuit breaker is plainly closed with no failures (read in the same statement, so the scheduler needs no second read). */
  breaker_clean: boolean;
};

export const taskTransitions = {
  /**
   * `post`: inserts the auction and its tasks (one per lot unit) in one statement, in `funding`
   * (escrow route) or `open`.
   * @param a.budget token base units (decimal string)
   * @returns the new task ids in lot order, with the auction id
   */
  async post(
    t: Queryable,
    a: {
      buyer: string; capability: string; rule: string; windowMs: number; quantity: number; budget: string; closesAt: Date;
      status: "funding" | "open"; input: unknown; complexity: number; urgency: string; token: string; deadline: Date; route: string;
      workflowId: string | null; nodeKey: string | null; settlement: string; chain?: "evm" | "substrate";
    },
  ): Promise<{ auctionId: string; ids: string[] }> {
    allowedFrom("post", a.status);
    const r = await t.query<{ id: string; auction_id: string }>(
      `WITH a AS (
         INSERT INTO auctions (buyer, capability, rule, window_ms, quantity, budget, closes_at, status)
         VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8) RETURNING id)
       INSERT INTO tasks (auction_id, lot_index, buyer, capability, input, complexity, urgency, budget, token, deadline, route, status, workflow_id, node_key, settlement, chain)
       SELECT a.id, i, $1, $2, $9, $10, $11, $6::numeric, $12, $13, $14, $8, $15, $16, $17, $18 FROM a CROSS JOIN generate_series(0, $5 - 1) AS i
       ORDER BY i
       RETURNING id, auction_id`,
      [
        a.buyer, a.capability, a.rule, a.windowMs, a.quantity, a.budget, a.closesAt, a.status,
        JSON.stringify(a.input), a.complexity, a.urgency, a.token, a.deadline, a.route, a.workflowId, a.nodeKey, a.settlement, a.chain ?? "evm",
      ],
    );
    return { auctionId: r.rows[0]!.auction_id, ids: r.rows.map((x) => x.id) };
  },

  /** `escrow-funded`: funding → open. @returns whether the task moved */
  async open(t: Queryable, id: string): Promise<boolean> {
    const g = guard("escrow-funded", "open", 2);
    const r = await t.query(`UPDATE tasks SET status = 'open', updated_at = now() WHERE id = $1 AND ${g.sql}`, [id, g.param]);
    return r.rowCount === 1;
  },

  /** `cancel`: every task of the auction → cancelled. @returns the cancelled task ids */
  async cancelAuction(t: Queryable, auctionId: string): Promise<string[]> {
    const g = guard("cancel", "cancelled", 2);
    const r = await t.query<{ id: string }>(`UPDATE tasks SET status = 'cancelled', updated_at = now() WHERE auction_id = $1 AND ${g.sql} RETURNING id`, [auctionId, g.param]);
    return r.rows.map((x) => x.id);
  },

  /**
   * `auction-close`: each task of the closed auction → awarded (with its agent and price in
   * token base units) or expired, `runnerUps` (ranked, for failover) on every task — in one
   * statement with the auction's own close (status, reason, clearing price) and its proposals'
   * outcomes (`winners` accepted, the others rejected), so that a close is one round trip.
   */
  async close(
    t: Queryable,
    auction: { id: string; reason: string; clearing: bigint | null; winners: string[] },
    outcomes: CloseOutcome[],
    runnerUps: { agent: string; price: string }[],
  ): Promise<void> {
    for (const o of outcomes) allowedFrom("auction-close", o.status);
    const g = guard("auction-close", "awarded", 10);
    // closed_at is the moment of the close (clock_timestamp), not the transaction's start (now()),
    // which may precede the end of the window the close waited for.
    await t.query(
      `WITH a AS (
         UPDATE auctions SET status = 'closed', closed_at = clock_timestamp(), close_reason = $7, clearing_price = $8::numeric WHERE id = $6),
       p AS (
         UPDATE proposals SET outcome = CASE WHEN agent = ANY($9::text[]) THEN 'accepted' ELSE 'rejected' END WHERE auction_id = $6)
       UPDATE tasks t SET status = u.status, agent = u.agent, price = u.price::numeric, runner_ups = $5::jsonb,
              awarded_at = CASE WHEN u.status = 'awarded' THEN now() END, updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, status, agent, price)
        WHERE t.id = u.id AND t.${g.sql}`,
      [
        outcomes.map((o) => o.id), outcomes.map((o) => o.status), outcomes.map((o) => o.agent), outcomes.map((o) => o.price), JSON.stringify(runnerUps),
        auction.id, auction.reason, auction.clearing?.toString() ?? null, auction.winners, g.param,
      ],
    );
  },

  /**
   * `retry`: back to awarded for the next attempt. Clearing dispatched_at voids an in-flight
   * dispatch of this attempt (it must not mark the task running).
   */
  async retry(t: Queryable, id: string, reason: string): Promise<void> {
    const g = guard("retry", "awarded", 3);
    await t.query(`UPDATE tasks SET status = 'awarded', dispatched_at = NULL, failure_reason = $2, updated_at = now() WHERE id = $1 AND ${g.sql}`, [id, reason, g.param]);
  },

  /** `failover`: re-awarded to `agent` at its own proposal `price` (token base units), attempts reset. */
  async failover(t: Queryable, id: string, next: { agent: string; price: string; runnerUps: { agent: string; price: string }[]; reason: string }): Promise<void> {
    const g = guard("failover", "awarded", 6);
    await t.query(
      `UPDATE tasks SET agent = $2, price = $3, attempts = 0, failovers = failovers + 1, runner_ups = $4::jsonb, status = 'awarded',
              awarded_at = now(), started_at = NULL, run_deadline = NULL, failure_reason = $5, updated_at = now()
        WHERE id = $1 AND ${g.sql}`,
      [id, next.agent, next.price, JSON.stringify(next.runnerUps), next.reason, g.param],
    );
  },

  /** `exhausted`: → failed, no runner-ups left. */
  async fail(t: Queryable, id: string, reason: string): Promise<void> {
    const g = guard("exhausted", "failed", 3);
    await t.query(`UPDATE tasks SET status = 'failed', failure_reason = $2, runner_ups = '[]', updated_at = now() WHERE id = $1 AND ${g.sql}`, [id, reason, g.param]);
  },

  /**
   * `chain-refused`: → failed, because TaskEscrow refused the coordinator's award or delivery
   * attestation and its escrow does not name this task's agent and price (the chain is the truth).
   * @returns whether the task changed (false when it already ended)
   */
  async chainRefused(t: Queryable, id: string, reason: string): Promise<boolean> {
    const g = guard("chain-refused", "failed", 3);
    const r = await t.query(`UPDATE tasks SET status = 'failed', failure_reason = $2, runner_ups = '[]', updated_at = now() WHERE id = $1 AND ${g.sql}`, [id, reason, g.param]);
    return (r.rowCount ?? 0) > 0;
  },

  /**
   * `start`: awarded → running, only for this agent's claimed attempt (dispatched_at set).
   * @param runDeadline when the attempt times out
   * @returns false when the task was delivered or failed while the dispatch was in flight
   */
  async start(t: Queryable, id: string, agent: string, attempt: number, runDeadline: Date): Promise<boolean> {
    const g = guard("start", "running", 5);
    const r = await t.query(
      `UPDATE tasks SET status = 'running', started_at = COALESCE(started_at, now()), run_deadline = $4, updated_at = now()
        WHERE id = $1 AND agent = $2 AND attempts = $3 AND ${g.sql} AND dispatched_at IS NOT NULL`,
      [id, agent, attempt, runDeadline, g.param],
    );
    return r.rowCount === 1;
  },

  /**
   * `deliver`: awarded/running → delivered with the output and its keccak256 result hash, only
   * for the awarded `agent`. @returns the delivered row, or undefined when nothing matched
   */
  async deliver(t: Queryable, id: string, agent: string, output: unknown, resultHash: string): Promise<DeliveredRow | undefined> {
    const g = guard("deliver", "delivered", 5);
    const r = await t.query<DeliveredRow>(
      `UPDATE tasks SET status = 'delivered', output = $2, result_hash = $3, delivered_at = now(), run_deadline = NULL, updated_at = now()
        WHERE id = $1 AND agent = $4 AND ${g.sql}
       RETURNING buyer, capability, price::text AS price, settlement, started_at, awarded_at, workflow_id, node_key, attempts,
                 NOT EXISTS (SELECT 1 FROM agent_breakers b WHERE b.agent = $4 AND (b.state <> 'closed' OR b.failures <> 0)) AS breaker_clean`,
      [id, JSON.stringify(output ?? null), resultHash, agent, g.param],
    );
    return r.rows[0];
  },

  /** `accept`: the buyer accepts a delivered result (idempotent on accepted). */
  async accept(t: Queryable, id: string): Promise<void> {
    const g = guard("accept", "accepted", 2);
    await t.query(`UPDATE tasks SET status = 'accepted', accepted_at = COALESCE(accepted_at, now()), updated_at = now() WHERE id = $1 AND ${g.sql}`, [id, g.param]);
  },

  /** `voucher-paid`: delivered channel tasks that a verified voucher pays → accepted. */
  async paid(t: Queryable, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const g = guard("voucher-paid", "accepted", 2);
    await t.query(`UPDATE tasks SET status = 'accepted', accepted_at = now(), updated_at = now() WHERE id = ANY($1::uuid[]) AND ${g.sql}`, [ids, g.param]);
  },

  /** `voucher-settled`: the accepted tasks paid by the pair's vouchers up to `cumulative` (base units) → settled. */
  async settledByVouchers(t: Queryable, pair: { payer: string; payee: string; token: string; cumulative: string }): Promise<void> {
    const g = guard("voucher-settled", "settled", 5);
    await t.query(
      `UPDATE tasks SET status = 'settled', settled_at = now(), updated_at = now()
        WHERE id IN (SELECT unnest(task_ids) FROM vouchers WHERE payer = $1 AND payee = $2 AND token = $3 AND cumulative <= $4::numeric)
          AND ${g.sql}`,
      [pair.payer, pair.payee, pair.token, pair.cumulative, g.param],
    );
  },

  /** `delivery-claimed`: delivered channel tasks paid by a confirmed claim → settled (the output is released). @returns the ids changed */
  async claimed(t: Queryable, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const g = guard("delivery-claimed", "settled", 2);
    const r = await t.query<{ id: string }>(
      `UPDATE tasks SET status = 'settled', accepted_at = COALESCE(accepted_at, now()), settled_at = now(), updated_at = now()
        WHERE id = ANY($1::uuid[]) AND settlement = 'channel' AND ${g.sql} RETURNING id`,
      [ids, g.param],
    );
    return r.rows.map((x) => x.id);
  },

  /** `claim-orphaned`: channel tasks settled by a claim that a reorg dropped → delivered (claimed again). */
  async unclaim(t: Queryable, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const g = guard("claim-orphaned", "delivered", 2);
    await t.query(`UPDATE tasks SET status = 'delivered', settled_at = NULL, updated_at = now() WHERE id = ANY($1::uuid[]) AND settlement = 'channel' AND ${g.sql}`, [ids, g.param]);
  },

  /** `deposit-withdrawn`: channel tasks still drawing on a withdrawn deposit → failed. @returns the ids changed */
  async depositWithdrawn(t: Queryable, ids: string[], reason: string): Promise<string[]> {
    if (ids.length === 0) return [];
    const g = guard("deposit-withdrawn", "failed", 3);
    const r = await t.query<{ id: string }>(
      `UPDATE tasks SET status = 'failed', failure_reason = $2, runner_ups = '[]', updated_at = now()
        WHERE id = ANY($1::uuid[]) AND settlement = 'channel' AND ${g.sql} RETURNING id`,
      [ids, reason, g.param],
    );
    return r.rows.map((x) => x.id);
  },

  /** `settlement-orphaned`: settled tasks whose settlement a reorg dropped → accepted again. */
  async unsettle(t: Queryable, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const g = guard("settlement-orphaned", "accepted", 2);
    await t.query(`UPDATE tasks SET status = 'accepted', settled_at = NULL, updated_at = now() WHERE id = ANY($1::uuid[]) AND ${g.sql}`, [ids, g.param]);
  },

  /**
   * `escrow-outcome`: the escrow contract's final word on an escrow-route task (settled_at set
   * except for `disputed`). @returns the task's buyer, or undefined for a task that is not ours
   */
  async escrowOutcome(t: Queryable, id: string, to: "settled" | "refunded" | "disputed" | "resolved"): Promise<string | undefined> {
    allowedFrom("escrow-outcome", to);
    const r = await t.query<{ buyer: string }>(
      `UPDATE tasks SET status = $2, settled_at = CASE WHEN $2 = 'disputed' THEN settled_at ELSE COALESCE(settled_at, now()) END, updated_at = now()
        WHERE id = $1 AND settlement = 'escrow' RETURNING buyer`,
      [id, to],
    );
    return r.rows[0]?.buyer;
  },
};
