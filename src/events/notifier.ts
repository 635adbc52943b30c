import type { Queue } from "bullmq";
import type { WebhookJob } from "../queue/index.js";
import type { EventBus, Outgoing } from "./bus.js";

/** Sends participant-facing messages after a commit: Redis pub/sub (long-poll, SSE) and, for agents with an endpoint, signed webhooks. */
export type Notifier = {
  /** Publishes every message; queues a webhook job (deterministic id: one per event, task and agent) for those marked `webhook`. */
  send(out: Outgoing[]): Promise<void>;
};

/**
 * @param deps.endpoints the webhook URL of each agent address that has one (src/agents)
 */
export function createNotifier(deps: { bus: EventBus; webhooks: Queue<WebhookJob>; endpoints(addresses: string[]): Promise<Map<string, string>> }): Notifier {
  return {
    async send(out) {
      if (out.length === 0) return;
      await deps.bus.publishMany(out);
      const hooks = out.filter((o) => o.webhook);
      if (hooks.length === 0) return;
      const url = await deps.endpoints(hooks.map((h) => h.address));
      const jobs = hooks
        .filter((h) => url.has(h.address))
        .map((h) => ({
          name: h.event.type,
          data: { agent: h.address, url: url.get(h.address)!, event: h.event },
          opts: { jobId: `${h.event.type}-${String(h.event.data["auctionId"] ?? h.event.data["taskId"])}-${h.address}` },
        }));
      if (jobs.length) await deps.webhooks.addBulk(jobs);
    },
  };
}
