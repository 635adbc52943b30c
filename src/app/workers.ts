import { setTimeout as sleep } from "node:timers/promises";
import type { Job } from "bullmq";
import { AppError } from "../errors.js";
import type { AppContext } from "../context.js";
import type { Services } from "./services.js";
import { QUEUE_NAMES, type AuctionCloseJob, type ExecutionJob, type WebhookJob } from "../queue/index.js";
import { postJson } from "../scheduling/post.js";
import { signWebhookBody } from "../scheduling/webhook.js";
import { schedulingRepository } from "../scheduling/repository.js";
import { auctionRepository } from "../auction/repository.js";

export { signWebhookBody as signWebhook };

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
      const a = await auctionRepository.status(ctx.db, auctionId);
      if (!a || a.status !== "open") return "not-open";
      await sleep(Math.max(0, a.closes_at.getTime() - ctx.now()) + 5);
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
      let status: number;
      try {
        status = await postJson(
          url,
          { "content-type": "application/json", "x-aicp-event": event.type, "x-aicp-signature": signWebhookBody(ep.secret, ts, body) },
          body,
          ctx.config.WEBHOOK_TIMEOUT_MS,
        );
      } catch (err) {
        metrics.webhookFailures.inc();
        throw new Error(`webhook to ${url} failed: ${(err as Error).message}`);
      }
      if (status >= 400 && status < 500 && status !== 429) {
        metrics.webhookFailures.inc();
        throw new AppError("WEBHOOK_REFUSED", `agent endpoint answered ${status}`, 502, false);
      }
      if (status < 200 || status >= 300) {
        metrics.webhookFailures.inc();
        throw new Error(`agent endpoint answered ${status}`);
      }
      return status;
    },
    16,
  );

  const executor = queues.worker<ExecutionJob>(QUEUE_NAMES.execution, (job: Job<ExecutionJob>) => services.execution.runJob(job.data), 16);

  // The chain transaction sender (one per process; an advisory lock makes one send at a time).
  const stopSender = services.sender?.start();
  const stopSubstrateSender = services.substrateSender?.start();
  // Batch settlement of channel vouchers (repeatable job), when there is a chain to settle on.
  const stopSettlement = services.sender || services.substrateSender ? services.channelSettlement.start() : undefined;

  for (const w of [closer, hooks, executor]) w.on("failed", (job, err) => log.warn({ queue: w.name, jobId: job?.id, err: err.message }, "job failed"));

  // Recovery after a crash between a commit and the job it should have queued: overdue
  // auctions, awarded tasks never dispatched, running tasks whose deadline job was lost; and
  // the reputation epoch snapshot when one is due.
  const sweep = async () => {
    try {
      const closed = await services.auction.sweep();
      if (closed) log.info({ closed }, "sweeper closed overdue auctions");
      // Awarded but not dispatched for a while (its job lost, or deduplicated by its id):
      // dispatch the next attempt here. The claim inside makes this safe against a late job.
      for (const t of await schedulingRepository.undispatched(ctx.db)) await services.execution.runJob({ kind: "dispatch", taskId: t.id, agent: t.agent, attempt: t.attempts + 1 });
      for (const t of await schedulingRepository.overdue(ctx.db)) await services.execution.runJob({ kind: "deadline", taskId: t.id, agent: t.agent, attempt: t.attempts });
      // Escrow route: release delivered escrows whose acceptance window has passed on-chain.
      if (services.escrow) await services.escrow.releaseDue();
      // Disputes: finalize rulings past the appeal window, reassign cases past the rule deadline.
      if (services.escrow) await services.escrow.disputesDue();
      const epoch = await services.reputation.snapshotIfDue();
      if (epoch) log.info(epoch, "reputation epoch snapshotted");
    } catch (err) {
      log.warn({ err }, "sweep failed");
    }
  };
  void sweep();
  const timer = setInterval(sweep, opts.sweepMs ?? 5_000);

  return async () => {
    clearInterval(timer);
    await Promise.all([closer.close(), hooks.close(), executor.close(), stopSender?.(), stopSubstrateSender?.(), stopSettlement?.()]);
  };
}
