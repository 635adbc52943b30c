/** The dashboard's wire type, shared by the coordinator and the web app. */

/**
 * One sample of the live marketplace figures (GET /v1/dashboard, and each SSE message of
 * /v1/dashboard/stream). Rates are per second over the last `windowMs`; durations in ms; gas in
 * gas units (decimal string).
 */
export type DashboardFigures = {
  at: string;
  windowMs: number;
  rates: { postedPerSecond: number; awardedPerSecond: number; paidPerSecond: number };
  openAuctions: number;
  /** p95 of an auction's close to the award of its tasks, over the last 5 minutes (null without awards). */
  closeToAwardP95Ms: number | null;
  settlement: { batches: number; gasTotal: string; gasPerBatch: string | null; pendingTransactions: number };
  chain: { head: number | null; indexedBlock: number | null; indexerLagBlocks: number | null };
  breakersOpen: number;
  /** BullMQ job counts per queue. */
  queues: Record<string, { waiting: number; active: number; delayed: number; failed: number }>;
};
