import type { Queryable } from "../db/index.js";
import { DECAYED_COUNTS_SQL } from "../reputation/repository.js";
import type { AuctionRule } from "../protocol/tasks.js";

/** An auction row (budget in token base units). */
export type AuctionRow = {
  id: string; buyer: string; capability: string; rule: AuctionRule; quantity: number; budget: string; status: string; eligible: number; closes_at: Date;
};

/** A proposal as the close ranks it, with the bidder's load, reputation counts (decayed to now) and whether it has a webhook. */
export type ClosingProposal = { agent: string; price: string; updated_at: Date; load: number; max_concurrency: number; successes: number | null; failures: number | null; webhook: boolean };

/** What one propose statement saw and did (see {@link auctionRepository.propose}). */
export type ProposeRow = {
  auction_id: string; status: string; closes_at: Date; budget: string; eligible: number; invited: boolean; min_price: string | null;
  inserted: boolean | null; n: number;
};

/** An open call for proposals addressed to an agent, with the agent's own proposal if any. */
export type OpenCfpRow = {
  id: string; capability: string; budget: string; rule: string; quantity: number; closes_at: Date;
  task_ids: string[]; input: unknown; complexity: number; urgency: string; token: string; deadline: Date;
  my_price: string | null; my_eta: number | null;
};

/** SQL of the auction domain: auctions, calls for proposals (cfps) and proposals. */
export const auctionRepository = {
  /** Cancels an auction still open or funding and rejects its proposals. @returns false when it was not cancellable */
  async cancel(t: Queryable, auctionId: string): Promise<boolean> {
    const r = await t.query("UPDATE auctions SET status = 'cancelled', closed_at = now(), close_reason = 'cancelled' WHERE id = $1 AND status IN ('open', 'funding')", [auctionId]);
    if (r.rowCount !== 1) return false;
    await t.query("UPDATE proposals SET outcome = 'rejected' WHERE auction_id = $1", [auctionId]);
    return true;
  },

  /** A funded escrow task's auction: funding → open, closing at `closesAt`. */
  async openFunded(t: Queryable, auctionId: string, closesAt: Date): Promise<void> {
    await t.query("UPDATE auctions SET status = 'open', opened_at = now(), closes_at = $2 WHERE id = $1 AND status = 'funding'", [auctionId, closesAt]);
  },

  /** The auction's status and closing time. */
  async status(q: Queryable, auctionId: string): Promise<{ status: string; closes_at: Date } | undefined> {
    return (await q.query<{ status: string; closes_at: Date }>("SELECT status, closes_at FROM auctions WHERE id = $1", [auctionId])).rows[0];
  },

  /** The agents the auction's call for proposals went to. */
  async invited(q: Queryable, auctionId: string): Promise<string[]> {
    const r = await q.query<{ agent: string }>("SELECT agent FROM cfps WHERE auction_id = $1", [auctionId]);
    return r.rows.map((x) => x.agent);
  },

  /**
   * The auction row, locked (proposals hold it shared until they commit), with its tasks (fixed
   * at posting); proposals read in a later statement then include every one committed before
   * the lock was granted.
   */
  async lockWithTasks(t: Queryable, auctionId: string) {
    const r = await t.query<AuctionRow & { tasks: { id: string; lot_index: number; workflow_id: string | null; node_key: string | null; settlement: string }[] | null }>(
      `SELECT a.*, (SELECT json_agg(json_build_object('id', x.id, 'lot_index', x.lot_index, 'workflow_id', x.workflow_id, 'node_key', x.node_key, 'settlement', x.settlement)
                                   ORDER BY x.lot_index) FROM tasks x WHERE x.auction_id = a.id) AS tasks
        FROM auctions a WHERE a.id = $1 FOR UPDATE OF a`,
      [auctionId],
    );
    return r.rows[0];
  },

  /**
   * Locks the rows of the auction's bidders (in address order: closes that share bidders take
   * turns without deadlock; NO KEY UPDATE does not block proposals' foreign-key checks), so that
   * the load read next, in a new statement, stays true until the close commits: the concurrency
   * cap holds at the award.
   */
  async lockBidders(t: Queryable, auctionId: string): Promise<void> {
    await t.query("SELECT 1 FROM agents WHERE address IN (SELECT agent FROM proposals WHERE auction_id = $1) ORDER BY address FOR NO KEY UPDATE", [auctionId]);
  },

  /** The auction's proposals with what the award rule and the tie-breaks need (after `lockBidders`). */
  async closingProposals(t: Queryable, auctionId: string, capability: string): Promise<ClosingProposal[]> {
    const r = await t.query<ClosingProposal>(
      `SELECT p.agent, p.price::text, p.updated_at,
              (SELECT count(*)::int FROM tasks x WHERE x.agent = p.agent AND x.status IN ('awarded', 'running')) AS load,
              ag.max_concurrency, ${DECAYED_COUNTS_SQL("r")}, (ag.endpoint_url IS NOT NULL) AS webhook
         FROM proposals p LEFT JOIN reputation_stats r ON r.agent = p.agent AND r.capability = $2
              LEFT JOIN agents ag ON ag.address = p.agent
        WHERE p.auction_id = $1`,
      [auctionId, capability],
    );
    return r.rows;
  },

  /** Open calls for proposals addressed to `agent` (with `unanswered`, only those it has not proposed on), soonest close first. */
  async openCfps(q: Queryable, agent: string, unanswered: boolean): Promise<OpenCfpRow[]> {
    const r = await q.query<OpenCfpRow>(
      `SELECT a.id, a.capability, a.budget::text, a.rule, a.quantity, a.closes_at,
              (SELECT array_agg(t.id ORDER BY t.lot_index) FROM tasks t WHERE t.auction_id = a.id) AS task_ids,
              t0.input, t0.complexity, t0.urgency, t0.token, t0.deadline,
              p.price::text AS my_price, p.eta_ms AS my_eta
         FROM cfps c
         JOIN auctions a ON a.id = c.auction_id AND a.status = 'open'
         JOIN tasks t0 ON t0.auction_id = a.id AND t0.lot_index = 0
         LEFT JOIN proposals p ON p.auction_id = a.id AND p.agent = c.agent
        WHERE c.agent = $1 AND ($2::boolean IS FALSE OR p.agent IS NULL)
        ORDER BY a.closes_at
        LIMIT 500`,
      [agent, unanswered],
    );
    return r.rows;
  },

  /**
   * One statement (one round trip, atomic): locks the auction row (proposals to one auction take
   * turns; a close waits for them), upserts the proposal only if every check passes, and counts
   * a new proposer in `auctions.proposed`; the caller re-runs the checks on the returned row,
   * with the same clock reading, to name the error.
   * @param p.price token base units
   */
  async propose(q: Queryable, p: { taskId: string; agent: string; price: bigint; etaMs: number; now: Date }): Promise<ProposeRow | undefined> {
    const r = await q.query<ProposeRow>(
      `WITH a AS (
          SELECT a.id AS auction_id, a.status, a.closes_at, a.budget, a.eligible, a.proposed,
                 EXISTS (SELECT 1 FROM cfps c WHERE c.auction_id = a.id AND c.agent = $2) AS invited,
                 (SELECT ac.min_price FROM agent_capabilities ac WHERE ac.agent = $2 AND ac.capability = a.capability) AS min_price
            FROM tasks t JOIN auctions a ON a.id = t.auction_id
           WHERE t.id = $1
           FOR NO KEY UPDATE OF a),
        up AS (
          INSERT INTO proposals (auction_id, agent, price, eta_ms)
          -- eta_ms is an INTEGER column: the CASE keeps the planner from folding the cast of
          -- the parameter, so it is cast (and may overflow) only when a row is inserted.
          SELECT a.auction_id, $2::text, $3::numeric, CASE WHEN a.invited THEN $4::bigint END FROM a
           WHERE a.invited AND a.status = 'open' AND a.closes_at > $5 AND $3::numeric < a.budget
             AND (a.min_price IS NULL OR $3::numeric >= a.min_price)
          ON CONFLICT (auction_id, agent) DO UPDATE SET price = EXCLUDED.price, eta_ms = EXCLUDED.eta_ms, updated_at = clock_timestamp()
          RETURNING (xmax = 0) AS inserted),
        n AS (
          UPDATE auctions SET proposed = proposed + 1
           WHERE id = (SELECT auction_id FROM a) AND EXISTS (SELECT 1 FROM up WHERE up.inserted)
          RETURNING proposed)
        SELECT a.auction_id, a.status, a.closes_at, a.budget::text, a.eligible, a.invited, a.min_price::text,
               (SELECT inserted FROM up) AS inserted, COALESCE((SELECT proposed FROM n), a.proposed) AS n
          FROM a`,
      [p.taskId, p.agent, p.price.toString(), p.etaMs, p.now],
    );
    return r.rows[0];
  },

  /** Every open auction with its close time (the sweeper). */
  async openAuctions(q: Queryable): Promise<{ id: string; closes_at: Date }[]> {
    return (await q.query<{ id: string; closes_at: Date }>("SELECT id, closes_at FROM auctions WHERE status = 'open'")).rows;
  },
};
