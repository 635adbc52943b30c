import type { Queryable } from "../db/index.js";

/** An escrow-route task as the escrow service reads it (price in token base units). */
export type EscrowTaskRow = { id: string; buyer: string; agent: string | null; status: string; settlement: string; chain: "evm" | "substrate"; auction_id: string; price: string | null };

/** The TaskEscrow projection's row of a task (amounts in token base units). */
export type EscrowRow = {
  state: string;
  buyer: string;
  agent: string | null;
  token: string;
  price: string | null;
  amount: string;
  deadline: Date | null;
  acceptance_ends_at: Date | null;
  dispute_id: string | null;
};

/** SQL of the escrow route: its reads of tasks and of the TaskEscrow projection (escrows). */
export const escrowRepository = {
  /** The task's settlement route (`escrow`, `channel` or `offchain`). */
  async settlementOf(q: Queryable, taskId: string): Promise<{ settlement: string; chain: "evm" | "substrate" } | undefined> {
    return (await q.query<{ settlement: string; chain: "evm" | "substrate" }>("SELECT settlement, chain FROM tasks WHERE id = $1", [taskId])).rows[0];
  },

  /** Whether the escrow holds the budget (funded or awarded, not yet delivered or ended). */
  async holdsFunds(q: Queryable, taskId: string): Promise<boolean> {
    const r = await q.query("SELECT 1 FROM escrows WHERE task_id = $1 AND state IN ('funded', 'awarded')", [taskId]);
    return (r.rowCount ?? 0) > 0;
  },

  /** The task, optionally locked FOR UPDATE in `q`'s transaction. */
  async task(q: Queryable, taskId: string, opts: { lock?: boolean } = {}): Promise<EscrowTaskRow | undefined> {
    const r = await q.query<EscrowTaskRow>(`SELECT id, buyer, agent, status, settlement, chain, auction_id, price::text FROM tasks WHERE id = $1${opts.lock ? " FOR UPDATE" : ""}`, [taskId]);
    return r.rows[0];
  },

  /** What the call for proposals of a funded task carries (budget in token base units). */
  async spec(q: Queryable, taskId: string) {
    const r = await q.query<{ budget: string; token: string; capability: string; input: unknown; complexity: number; urgency: string; deadline: Date; rule: string; window_ms: number }>(
      "SELECT t.budget::text, t.token, t.capability, t.input, t.complexity, t.urgency, t.deadline, a.rule, a.window_ms FROM tasks t JOIN auctions a ON a.id = t.auction_id WHERE t.id = $1",
      [taskId],
    );
    return r.rows[0]!;
  },

  /**
   * Delivered escrows whose acceptance window ended before `now` (chain time) and that have no
   * release intent open or confirmed; `attempts` counts the earlier ones the chain refused (at most 5 are retried).
   */
  async releasable(q: Queryable, now: Date, chain = "evm"): Promise<{ task_id: string; attempts: number }[]> {
    const r = await q.query<{ task_id: string; attempts: number }>(
      `SELECT e.task_id, count(o.id)::int AS attempts
         FROM escrows e
         JOIN tasks t ON t.id = e.task_id AND t.chain = $2
         LEFT JOIN chain_outbox o ON o.kind = 'escrow.release' AND o.payload->>'taskId' = e.task_id::text
        WHERE e.state = 'delivered' AND e.acceptance_ends_at < $1
        GROUP BY e.task_id
       HAVING count(o.id) FILTER (WHERE o.status NOT IN ('reverted', 'failed')) = 0 AND count(o.id) < 5
        LIMIT 200`,
      [now, chain],
    );
    return r.rows;
  },

  /** The TaskEscrow projection of a task (what the indexer confirmed), or undefined. */
  async escrow(q: Queryable, taskId: string): Promise<EscrowRow | undefined> {
    const r = await q.query<EscrowRow>(
      "SELECT state, buyer, agent, token, price::text, amount::text, deadline, acceptance_ends_at, dispute_id::text FROM escrows WHERE task_id = $1",
      [taskId],
    );
    return r.rows[0];
  },
};

/**
 * What a custody co-signer reads of a task before it signs (src/chain/substrate/sender.ts
 * CustodyFacts): the escrow projection's row joined with the task's status, token and budget.
 */
export async function custodyFacts(q: Queryable, taskId: string) {
  const r = await q.query<{
    state: string; buyer: string; agent: string | null; token: string; amount: string; price: string | null; acceptance_ends_at: Date | null; dispute_id: string | null;
    task_status: string; task_token: string; budget: string;
  }>(
    `SELECT e.state, e.buyer, e.agent, e.token, e.amount::text, e.price::text, e.acceptance_ends_at, e.dispute_id::text,
            t.status AS task_status, t.token AS task_token, t.budget::text
       FROM escrows e JOIN tasks t ON t.id = e.task_id WHERE e.task_id = $1`,
    [taskId],
  );
  const x = r.rows[0];
  if (!x) return undefined;
  return {
    taskId,
    state: x.state,
    buyer: x.buyer,
    agent: x.agent,
    token: x.token,
    amount: BigInt(x.amount),
    price: BigInt(x.price ?? "0"),
    acceptanceEndsAt: x.acceptance_ends_at,
    disputeId: x.dispute_id,
    taskStatus: x.task_status,
    taskToken: x.task_token,
    budget: BigInt(x.budget),
  };
}
