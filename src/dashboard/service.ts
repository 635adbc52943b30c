import type { AppContext } from "../context.js";
import { dashboardStore } from "./store.js";
import type { DashboardFigures } from "../protocol/dashboard.js";

export type { DashboardFigures };

export type DashboardService = {
  /** Reads one sample now. */
  sample(): Promise<DashboardFigures>;
  /**
   * Calls `onSample` with a sample every `intervalMs` (one sampler shared by all subscribers of this process).
   * @returns unsubscribe
   */
  subscribe(onSample: (f: DashboardFigures) => void): () => void;
};

/**
 * The dashboard's figures: Postgres for the marketplace (every replica's work), BullMQ for the
 * queues, the chain's head against the indexer's cursor.
 * @param breakersOpen how many agents' circuit breakers are open now
 */
export function createDashboardService(ctx: AppContext, breakersOpen: () => Promise<number>, opts: { intervalMs?: number; windowMs?: number } = {}): DashboardService {
  const intervalMs = opts.intervalMs ?? 1_000;
  const windowMs = opts.windowMs ?? 5_000;
  const subscribers = new Set<(f: DashboardFigures) => void>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;

  async function sample(): Promise<DashboardFigures> {
    const [m, head, open, queues] = await Promise.all([
      dashboardStore.sample(ctx.db, windowMs, "evm"),
      ctx.chain.deployment ? ctx.chain.ping().catch(() => null) : Promise.resolve(null),
      breakersOpen().catch(() => 0),
      Promise.all(
        (["auctionClose", "execution", "chainTx", "webhooks"] as const).map(async (k) => {
          const c = await ctx.queues[k].getJobCounts("waiting", "active", "delayed", "failed");
          return [ctx.queues[k].name, { waiting: c["waiting"] ?? 0, active: c["active"] ?? 0, delayed: c["delayed"] ?? 0, failed: c["failed"] ?? 0 }] as const;
        }),
      ),
    ]);
    const perSecond = (n: number) => Math.round((n * 1000 * 100) / windowMs) / 100;
    return {
      at: new Date().toISOString(),
      windowMs,
      rates: { postedPerSecond: perSecond(m.posted), awardedPerSecond: perSecond(m.awarded), paidPerSecond: perSecond(m.paid) },
      openAuctions: m.openAuctions,
      closeToAwardP95Ms: m.closeToAwardP95Ms,
      settlement: { batches: m.batches, gasTotal: m.batchGas, gasPerBatch: m.batches ? (BigInt(m.batchGas) / BigInt(m.batches)).toString() : null, pendingTransactions: m.pendingTx },
      chain: { head, indexedBlock: m.indexedBlock, indexerLagBlocks: head !== null && m.indexedBlock !== null ? Math.max(0, head - m.indexedBlock) : null },
      breakersOpen: open,
      queues: Object.fromEntries(queues),
    };
  }

  async function tick() {
    if (running) return; // a slow sample is not stacked under the next
    running = true;
    try {
      const f = await sample();
      for (const s of subscribers) s(f);
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, "dashboard sample failed");
    } finally {
      running = false;
    }
  }

  return {
    sample,
    subscribe(onSample) {
      subscribers.add(onSample);
      if (!timer) {
        timer = setInterval(() => void tick(), intervalMs);
        timer.unref();
      }
      void tick();
      return () => {
        subscribers.delete(onSample);
        if (subscribers.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
  };
}
