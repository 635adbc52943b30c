import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import { Address, Amount, Capability, IdParams } from "../http/schemas.js";
import { AUCTION_RULES } from "../auction/rules.js";
import { URGENCIES } from "../pricing/quote.js";
import type { WorkflowService } from "./service.js";

const NodeKey = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-'");

const WorkflowBody = z
  .object({
    nodes: z
      .array(
        z
          .object({
            key: NodeKey,
            capability: Capability,
            input: z.unknown().refine((v) => JSON.stringify(v ?? null).length <= 64 * 1024, "must serialise to at most 64 KiB").openapi({ description: 'Any JSON; `{ "$from": "<parent key>", "path": "a.b" }` is replaced by the parent\'s output' }),
            complexity: z.number().int().min(1).max(10),
            urgency: z.enum(URGENCIES).default("normal"),
            budget: Amount(1n),
            dependsOn: z.array(NodeKey).max(100).default([]),
            auction: z.object({ rule: z.enum(AUCTION_RULES.filter((r) => r !== "uniform-price") as [string, ...string[]]), windowMs: z.number().int().min(0).max(3_600_000) }).strict().optional(),
          })
          .strict(),
      )
      .min(1)
      .max(10_000),
    totalBudget: Amount(1n),
    reserve: Amount().optional(),
    token: Address,
    deadline: z.iso.datetime({ offset: true }).transform((s) => new Date(s)).openapi({ type: "string", format: "date-time" }),
    route: z.enum(["auto", "channel", "escrow"]).default("auto"),
  })
  .strict()
  .openapi("Workflow");

export function registerWorkflowRoutes(api: Api, workflows: WorkflowService) {
  api.route({
    method: "post",
    path: "/v1/workflows",
    summary: "Post a DAG workflow: ready nodes are auctioned and run in parallel, children when their parents are done",
    tags: ["workflows"],
    access: "buyer",
    status: 201,
    body: WorkflowBody,
    handler: ({ body, principal }) => workflows.create(walletOf(principal), body as never),
  });
  api.route({
    method: "get",
    path: "/v1/workflows/:id",
    summary: "Per-node state, agent, price and timings, the critical path, the budget ledger and the overall state",
    tags: ["workflows"],
    access: "user",
    params: IdParams,
    handler: ({ params, principal }) => workflows.get(params.id, principal),
  });
}
