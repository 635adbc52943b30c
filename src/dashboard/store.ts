import type { Queryable } from "../db/index.js";

/** What one dashboard sample reads from Postgres (shared by every replica, so the figures are the marketplace's). */
export type MarketRow = {
  posted: number;
  awarded: number;
  paid: number;
  openAuctions: number;
  closeToAwardP95Ms: number | null;
  batches: number;
  batchGas: string;
  pendingTx: number;
  indexedBlock: number | null;
};

/** SQL of the dashboard: counts over a recent window, the close→award p95, settlement batches and gas, the indexer's block. */
export const dashboardStore = {
  /**
   * @param windowMs the window the counts of posted, awarded and paid tasks cover (ending now)
   * @param chain the indexer's chain name (`evm`)
   */
  async sample(q: Queryable, windowMs: number, chain: string): Promise<MarketRow> {
    const r = await q.query<MarketRow>(
      `WITH w AS (SELECT now() - make_interval(secs => $1::float8 / 1000) AS since)
       SELECT (SELECT count(*)::int FROM tasks, w WHERE created_at >= w.since) AS posted,
              (SELECT count(*)::int FROM tasks, w WHERE awarded_at >= w.since) AS awarded,
              (SELECT count(*)::int FROM tasks, w WHERE accepted_at >= w.since) AS paid,
              (SELECT count(*)::int FROM auctions WHERE status = 'open') AS "openAuctions",
              (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM t.awarded_at - a.closed_at) * 1000)
                 FROM tasks t JOIN auctions a ON a.id = t.auction_id
                WHERE t.awarded_at >= now() - interval '5 minutes' AND a.closed_at IS NOT NULL) AS "closeToAwardP95Ms",
              (SELECT count(*)::int FROM chain_outbox WHERE kind = 'channels.settleBatch' AND status = 'confirmed') AS batches,
              (SELECT COALESCE(sum(gas_used), 0)::text FROM chain_outbox WHERE kind = 'channels.settleBatch' AND status = 'confirmed') AS "batchGas",
              (SELECT count(*)::int FROM chain_outbox WHERE status IN ('pending', 'signed', 'sent')) AS "pendingTx",
              (SELECT block_number::int FROM indexer_cursors WHERE chain = $2) AS "indexedBlock"`,
      [windowMs, chain],
    );
    const row = r.rows[0]!;
    return { ...row, closeToAwardP95Ms: row.closeToAwardP95Ms === null ? null : Math.round(Number(row.closeToAwardP95Ms)) };
  },
};
