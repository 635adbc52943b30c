import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { CLOSED, observe, permit, record, type BreakerState } from "./breaker.js";

type Row = {
  state: BreakerState["state"];
  failures: number;
  reopen_count: number;
  retry_at: Date | null;
  trials_started: number;
  trial_successes: number;
};

const fromRow = (r: Row | undefined): BreakerState =>
  r
    ? { state: r.state, failures: r.failures, reopenCount: r.reopen_count, retryAt: r.retry_at?.getTime() ?? null, trialsStarted: r.trials_started, trialSuccesses: r.trial_successes }
    : { ...CLOSED };

/**
 * Circuit breakers stored in Postgres so every coordinator replica sees the same state; each
 * transition runs under a row lock.
 */
export type BreakerStore = {
  /** Asks to call `agent` now; false means OPEN (no network call should be made). */
  permit(agent: string): Promise<boolean>;
  /** Records a call's outcome; returns the new state name. */
  record(agent: string, ok: boolean): Promise<BreakerState["state"]>;
  /** The state as of now (OPEN past its timeout reads HALF_OPEN). */
  get(agent: string): Promise<BreakerState>;
  /** Every non-closed breaker, for /metrics. */
  snapshot(): Promise<{ agent: string; state: BreakerState["state"] }[]>;
};

export function createBreakerStore(ctx: AppContext): BreakerStore {
  const { db } = ctx;

  async function transition<T>(agent: string, f: (s: BreakerState, now: number) => { next: BreakerState; out: T }): Promise<T> {
    return db.tx(async (t: Queryable) => {
      await t.query("INSERT INTO agent_breakers (agent) VALUES ($1) ON CONFLICT DO NOTHING", [agent]);
      const r = await t.query<Row>("SELECT * FROM agent_breakers WHERE agent = $1 FOR UPDATE", [agent]);
      const now = ctx.now();
      const { next, out } = f(fromRow(r.rows[0]), now);
      await t.query(
        `UPDATE agent_breakers SET state = $2, failures = $3, reopen_count = $4, retry_at = $5, trials_started = $6,
                trial_successes = $7, opened_at = CASE WHEN $2 = 'open' AND state <> 'open' THEN now() ELSE opened_at END, updated_at = now()
          WHERE agent = $1`,
        [agent, next.state, next.failures, next.reopenCount, next.retryAt === null ? null : new Date(next.retryAt), next.trialsStarted, next.trialSuccesses],
      );
      return out;
    });
  }

  return {
    async permit(agent) {
      // Fast path without a lock: a CLOSED or absent breaker always permits.
      const r = await db.query<Row>("SELECT * FROM agent_breakers WHERE agent = $1", [agent]);
      const s = observe(fromRow(r.rows[0]), ctx.now());
      if (s.state === "closed") return true;
      if (s.state === "open") return false;
      return transition(agent, (cur, now) => {
        const p = permit(cur, now);
        return { next: p.next, out: p.allowed };
      });
    },
    async record(agent, ok) {
      if (ok) {
        const r = await db.query<Row>("SELECT * FROM agent_breakers WHERE agent = $1", [agent]);
        const s = fromRow(r.rows[0]);
        if (s.state === "closed" && s.failures === 0) return "closed"; // nothing to change
      }
      return transition(agent, (cur, now) => {
        const next = record(cur, ok, now);
        return { next, out: next.state };
      });
    },
    async get(agent) {
      const r = await db.query<Row>("SELECT * FROM agent_breakers WHERE agent = $1", [agent]);
      return observe(fromRow(r.rows[0]), ctx.now());
    },
    async snapshot() {
      const r = await db.query<Row & { agent: string }>("SELECT * FROM agent_breakers WHERE state <> 'closed'");
      return r.rows.map((x) => ({ agent: x.agent, state: observe(fromRow(x), ctx.now()).state }));
    },
  };
}
