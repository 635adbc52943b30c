import { createHmac } from "node:crypto";
import { UnrecoverableError, type Job } from "bullmq";
import type { AppContext } from "./context.js";
import type { Services } from "./services.js";
import { QUEUE_NAMES, type AuctionCloseJob, type WebhookJob } from "./queue/index.js";

/**
 * Signs a webhook body: `X-AICP-Signature: t=<ms>,v1=<hex HMAC-SHA256(secret, "<ms>.<body>")>`.
 * The agent verifies it with the `webhookSecret` it received at registration and rejects
 * stale timestamps.
 */
export function signWebhook(secret: string, timestampMs: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${timestampMs}.${body}`).digest("hex");
  return `t=${timestampMs},v1=${mac}`;
}

/**
 * Starts this process's background work: auction closes (delayed jobs), webhook deliveries,
 * and a sweeper that recovers auctions whose close job was lost.
 * @returns a function that stops them, letting in-flight jobs finish
 */
export function startWorkers(ctx: AppContext, services: Services, opts: { sweepMs?: number } = {}) {
  const { queues, log, metrics } = ctx;

  const closer = queues.worker<AuctionCloseJob>(
    QUEUE_NAMES.auctionClose,
    async (job: Job<AuctionCloseJob>) => {
      const { auctionId } = job.data;
      if (await services.auction.close(auctionId, "window")) return "closed";
      // Ran early (timer skew between processes)? Wait for the scheduled time, then once more.
      const r = await ctx.db.query<{ status: string; closes_at: Date }>("SELECT status, closes_at FROM auctions WHERE id = $1", [auctionId]);
      const a = r.rows[0];
      if (!a || a.status !== "open") return "not-open";
      await new Promise((res) => setTimeout(res, Math.max(0, a.closes_at.getTime() - ctx.now()) + 5));
      return (await services.auction.close(auctionId, "window")) ? "closed" : "not-open";
    },
    8,
  );

  const hooks = queues.worker<WebhookJob>(
    QUEUE_NAMES.webhooks,
    async (job: Job<WebhookJob>) => {
      const { agent, url, event } = job.data;
      const ep = await services.agents.endpointOf(agent);
      if (!ep?.url) return "no-endpoint";
      const body = JSON.stringify(event);
      const ts = Date.now();
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "x-aicp-event": event.type, "x-aicp-signature": signWebhook(ep.secret, ts, body) },
          body,
          signal: AbortSignal.timeout(ctx.config.WEBHOOK_TIMEOUT_MS),
        });
      } catch (err) {
        metrics.webhookFailures.inc();
        throw new Error(`webhook to ${url} failed: ${(err as Error).message}`);
      }
      if (res.status >= 400 && res.status < 500 && res.status !== 429) {
        metrics.webhookFailures.inc();
        throw new UnrecoverableError(`agent endpoint answered ${res.status}`);
      }
      if (!res.ok) {
        metrics.webhookFailures.inc();
        throw new Error(`agent endpoint answered ${res.status}`);
      }
      return res.status;
    },
    16,
  );

  for (const w of [closer, hooks]) w.on("failed", (job, err) => log.warn({ queue: w.name, jobId: job?.id, err: err.message }, "job failed"));

  const sweep = () =>
    services.auction.sweep().then(
      (n) => n && log.info({ closed: n }, "sweeper closed overdue auctions"),
      (err) => log.warn({ err }, "sweep failed"),
    );
  void sweep();
  const timer = setInterval(sweep, opts.sweepMs ?? 5_000);

  return async () => {
    clearInterval(timer);
    await Promise.all([closer.close(), hooks.close()]);
  };
}
