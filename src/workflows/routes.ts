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
  .openapi("WorkflowSpec");

const Amt = z.string().openapi({ description: "token base units (decimal string)" });
const WorkflowView = z
  .object({
    id: z.string(),
    buyer: z.string(),
    status: z.string(),
    totalBudget: Amt,
    reserve: Amt,
    reserveUsed: Amt,
    token: z.string(),
    route: z.string(),
    deadline: z.string(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
    wallMs: z.number().nullable(),
    criticalPath: z.object({ nodes: z.array(z.string()), ms: z.number() }),
    ledger: z.object({ hold: Amt, spend: Amt, release: Amt, reserve_draw: Amt }),
    nodes: z.array(
      z.object({
        key: z.string(),
        status: z.string(),
        dependsOn: z.array(z.string()),
        capability: z.string(),
        budget: Amt,
        taskId: z.string().nullable(),
        taskStatus: z.string().nullable(),
        funding: z.string().nullable().openapi({ description: "Escrow-route node in funding: the path of its funding plan" }),
        agent: z.string().nullable(),
        price: Amt.nullable(),
        attempts: z.number().nullable(),
        failureReason: z.string().nullable(),
        startedAt: z.string().nullable(),
        finishedAt: z.string().nullable(),
        durationMs: z.number().nullable(),
      }),
    ),
  })
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
    response: WorkflowView,
    handler: ({ body, principal }) => workflows.create(walletOf(principal), body as never),
  });
  api.route({
    method: "get",
    path: "/v1/workflows/:id",
    summary: "Per-node state, agent, price and timings, the critical path, the budget ledger and the overall state",
    tags: ["workflows"],
    access: "user",
    params: IdParams,
    response: WorkflowView,
    handler: ({ params, principal }) => workflows.get(params.id, principal),
  });
}
