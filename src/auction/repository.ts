import type { Queryable } from "../db/index.js";

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
};
