import { z } from "zod";
import type { Api } from "../http/api.js";
import type { DashboardService } from "./service.js";

const Figures = z
  .object({
    at: z.string(),
    windowMs: z.number(),
    rates: z.object({ postedPerSecond: z.number(), awardedPerSecond: z.number(), paidPerSecond: z.number() }),
    openAuctions: z.number(),
    closeToAwardP95Ms: z.number().nullable(),
    settlement: z.object({ batches: z.number(), gasTotal: z.string(), gasPerBatch: z.string().nullable(), pendingTransactions: z.number() }),
    chain: z.object({ head: z.number().nullable(), indexedBlock: z.number().nullable(), indexerLagBlocks: z.number().nullable() }),
    breakersOpen: z.number(),
    queues: z.record(z.string(), z.object({ waiting: z.number(), active: z.number(), delayed: z.number(), failed: z.number() })),
  })
  .openapi("DashboardFigures");

/** The live marketplace figures: one sample as JSON, or a sample per second as server-sent events. */
export function registerDashboardRoutes(api: Api, dashboard: DashboardService) {
  api.route({
    method: "get",
    path: "/v1/dashboard",
    summary: "Live marketplace figures now: tasks posted/awarded/paid per second, open auctions, close→award p95, settlement batches and gas, chain head and indexer lag, open breakers, queue depths and failed jobs",
    tags: ["dashboard"],
    access: "public",
    response: Figures,
    handler: () => dashboard.sample(),
  });
  api.route({
    method: "get",
    path: "/v1/dashboard/stream",
    summary: "The same figures as server-sent events (`event: figures`, one per second)",
    tags: ["dashboard"],
    access: "public",
    contentType: "text/event-stream",
    response: z.string().openapi({ description: "`event: figures` / `data: DashboardFigures` (JSON) every second" }),
    handler: async ({ req, res }) => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", connection: "keep-alive", "x-accel-buffering": "no" });
      res.write(": connected\n\n");
      const unsub = dashboard.subscribe((f) => res.write(`event: figures\ndata: ${JSON.stringify(f)}\n\n`));
      await new Promise<void>((resolve) => req.on("close", resolve));
      unsub();
    },
  });
}
