import type { Queryable } from "../db/index.js";

/** A task as the scheduler reads it under its row lock (amounts in token base units). */
export type TaskRow = {
  id: string; buyer: string; capability: string; status: string; agent: string | null; price: string | null; attempts: number;
  runner_ups: { agent: string; price: string }[]; auction_id: string; input: unknown; deadline: Date; awarded_at: Date | null;
  started_at: Date | null; workflow_id: string | null; node_key: string | null; failovers: number; token: string; budget: string; settlement: string;
};

/** What a dispatch claim returns: the assignment, the agent's estimate (ms), endpoint and breaker. */
export type ClaimRow = {
  auction_id: string; capability: string; input: unknown; price: string | null; deadline: Date; eta_ms: number;
  endpoint_url: string | null; webhook_secret: string | null; breaker_closed: boolean;
};

/** SQL of scheduling: dispatch claims, attempts, the sweeper's reads (task status itself: src/tasks/transitions.ts). */
export const schedulingRepository = {
  async lockTask(t: Queryable, id: string): Promise<TaskRow | undefined> {
    return (await t.query<TaskRow>("SELECT * FROM tasks WHERE id = $1 FOR UPDATE", [id])).rows[0];
  },

  /** The task's agent, status and attempts made. */
  async state(q: Queryable, id: string): Promise<{ agent: string | null; status: string; attempts: number } | undefined> {
    return (await q.query<{ agent: string | null; status: string; attempts: number }>("SELECT agent, status, attempts FROM tasks WHERE id = $1", [id])).rows[0];
  },

  /** Whether the agent is suspended; undefined when it is not registered. */
  async suspended(q: Queryable, agent: string): Promise<boolean | undefined> {
    return (await q.query<{ suspended: boolean }>("SELECT suspended FROM agents WHERE address = $1", [agent])).rows[0]?.suspended;
  },

  /**
   * Whether a failover may go to `agent`: registered, not suspended, and below its concurrency
   * limit (`max_concurrency` tasks awarded or running), read under the agent row's lock so two
   * failovers cannot both take its last slot.
   */
  async canTakeOver(q: Queryable, agent: string): Promise<boolean> {
    const r = await q.query<{ ok: boolean }>(
      `SELECT NOT a.suspended AND (SELECT count(*) FROM tasks t WHERE t.agent = a.address AND t.status IN ('awarded', 'running')) < a.max_concurrency AS ok
         FROM agents a WHERE a.address = $1 FOR UPDATE OF a`,
      [agent],
    );
    return r.rows[0]?.ok === true;
  },

  /** Failover: the runner-up's proposal is now the accepted one. */
  async acceptProposal(t: Queryable, auctionId: string, agent: string): Promise<void> {
    await t.query("UPDATE proposals SET outcome = 'accepted' WHERE auction_id = $1 AND agent = $2", [auctionId, agent]);
  },

  /**
   * The claim of attempt `attempt`, in one statement (one round trip, atomic under the row lock
   * the UPDATE takes): only while the task is awarded to this agent with attempt − 1 attempts
   * made; it records the attempt with the agent's estimate from its proposal, and reads the
   * agent's endpoint and whether its breaker is plainly closed.
   * @returns undefined when the attempt is not this caller's to make (stale)
   */
  async claim(q: Queryable, taskId: string, agent: string, attempt: number): Promise<ClaimRow | undefined> {
    const r = await q.query<ClaimRow>(
      `WITH c AS (
         UPDATE tasks t SET attempts = $3,
                eta_ms = COALESCE((SELECT p.eta_ms FROM proposals p WHERE p.auction_id = t.auction_id AND p.agent = $2), 60000),
                dispatched_at = now(), updated_at = now()
          WHERE t.id = $1 AND t.status = 'awarded' AND t.agent = $2 AND t.attempts = $3 - 1
         RETURNING t.auction_id, t.capability, t.input, t.price::text AS price, t.deadline, t.eta_ms)
       SELECT c.auction_id, c.capability, c.input, c.price, c.deadline, c.eta_ms, a.endpoint_url, a.webhook_secret,
              (b.agent IS NULL OR b.state = 'closed') AS breaker_closed
         FROM c LEFT JOIN agents a ON a.address = $2 LEFT JOIN agent_breakers b ON b.agent = $2`,
      [taskId, agent, attempt],
    );
    return r.rows[0];
  },

  /** Spends the remaining attempts of the current agent (an open breaker: straight to failover). */
  async exhaustAttempts(q: Queryable, taskId: string, maxAttempts: number): Promise<void> {
    await q.query("UPDATE tasks SET attempts = $2 WHERE id = $1", [taskId, maxAttempts]);
  },

  /** Whether the attempt is still running (its deadline check has something to do). */
  async isRunning(q: Queryable, taskId: string, agent: string, attempt: number): Promise<boolean> {
    const r = await q.query<{ n: number }>("SELECT count(*)::int AS n FROM tasks WHERE id = $1 AND agent = $2 AND attempts = $3 AND status = 'running'", [taskId, agent, attempt]);
    return r.rows[0]!.n > 0;
  },

  /** Awarded tasks not dispatched for 10 s (their job lost): the sweeper dispatches the next attempt. */
  async undispatched(q: Queryable): Promise<{ id: string; agent: string; attempts: number }[]> {
    return (await q.query<{ id: string; agent: string; attempts: number }>(`SELECT id, agent, attempts FROM tasks WHERE status = 'awarded' AND updated_at < now() - interval '10 seconds' LIMIT 100`)).rows;
  },

  /** Running tasks 5 s past their deadline (the deadline job lost): the sweeper fails the attempt. */
  async overdue(q: Queryable): Promise<{ id: string; agent: string; attempts: number }[]> {
    return (await q.query<{ id: string; agent: string; attempts: number }>(`SELECT id, agent, attempts FROM tasks WHERE status = 'running' AND run_deadline < now() - interval '5 seconds' LIMIT 500`)).rows;
  },
};
