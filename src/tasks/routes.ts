import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import { Account, Amount, Token, Capability, FundingPlanSchema, IdParams, Pagination } from "../http/schemas.js";
import { AUCTION_RULES, ROUTES, URGENCIES } from "../protocol/tasks.js";
import type { TaskService } from "./service.js";

const MAX_INPUT_BYTES = 64 * 1024;

export const TaskSpecBody = z
  .object({
    capability: Capability,
    input: z
      .unknown()
      .refine((v) => v !== undefined, "is required")
      .refine((v) => JSON.stringify(v ?? null).length <= MAX_INPUT_BYTES, `must serialise to at most ${MAX_INPUT_BYTES} bytes`)
      .openapi({ description: "Task input (any JSON)" }),
    complexity: z.number().int().min(1).max(10),
    urgency: z.enum(URGENCIES).default("normal"),
    budget: Amount(1n),
    token: Token.openapi({ description: "ERC-20 address, or 0x000…000 for the native currency (EVM buyers); \"native\" or \"asset:<id>\" (Substrate buyers)" }),
    deadline: z.iso.datetime({ offset: true }).transform((s) => new Date(s)).openapi({ type: "string", format: "date-time" }),
    auction: z.object({ rule: z.enum(AUCTION_RULES as [string, ...string[]]), windowMs: z.number().int().min(0) }).strict(),
    route: z.enum(ROUTES).default("auto"),
    quantity: z.number().int().min(1).default(1),
  })
  .strict()
  .openapi("TaskSpec");

const Instant = z.string().openapi({ format: "date-time" });
const Base = z.string().openapi({ description: "token base units (decimal string)" });
const TaskView = z
  .object({
    id: z.string().openapi({ format: "uuid" }),
    auctionId: z.string(),
    lotIndex: z.number().int(),
    buyer: z.string(),
    capability: z.string(),
    input: z.unknown().optional().openapi({ description: "Shown to the buyer, invited and assigned agents, the task's arbitrator and the operator" }),
    complexity: z.number().int(),
    urgency: z.string(),
    budget: Base,
    token: z.string(),
    deadline: Instant,
    route: z.enum(["auto", "channel", "escrow"]).openapi({ description: "The route the buyer asked for" }),
    settlement: z.enum(["channel", "escrow", "offchain"]).openapi({ description: "The route the task settles on" }),
    chain: z.enum(["evm", "substrate"]).openapi({ description: "The chain the task settles on: the kind of the buyer's account" }),
    status: z.string(),
    agent: z.string().nullable(),
    price: Base.nullable(),
    auction: z.object({
      rule: z.string(),
      windowMs: z.number().int(),
      quantity: z.number().int(),
      status: z.string(),
      eligible: z.number().int(),
      proposals: z.number().int().openapi({ description: "How many agents have proposed (sealed: the count, not the prices, until the close)" }),
      closesAt: Instant,
      closedAt: Instant.nullable(),
      closeReason: z.string().nullable(),
    }),
    runnerUps: z.array(z.object({ agent: z.string(), price: Base })).nullable(),
    execution: z.object({
      attempts: z.number().int(),
      failovers: z.number().int(),
      startedAt: Instant.nullable(),
      deliveredAt: Instant.nullable(),
      resultHash: z.string().nullable().openapi({ description: "keccak256 of the canonical output, attested on-chain" }),
      failureReason: z.string().nullable(),
    }),
    workflowId: z.string().nullable(),
    nodeKey: z.string().nullable(),
    funding: z
      .object({ planUrl: z.string().nullable(), escrowState: z.string().nullable() })
      .extend(FundingPlanSchema.partial().shape)
      .nullable()
      .openapi({ description: "Escrow route: where the funding plan is while in funding, and the escrow's state; the POST answer carries the plan inline" }),
    dispute: z
      .object({ id: z.string(), status: z.string(), agentShareBps: z.number().int().nullable(), appealed: z.boolean(), arbitrator: z.string() })
      .nullable()
      .openapi({ description: "The task's dispute (escrow route), if one was opened" }),
    output: z.unknown().optional().openapi({ description: "The delivered output, to the buyer, the agent, the arbitrator and the operator once delivered" }),
    createdAt: Instant,
    awardedAt: Instant.nullable(),
    proposals: z.array(z.object({ agent: z.string(), price: Base, etaMs: z.number(), outcome: z.string() })).optional().openapi({ description: "Sealed until the close: then to the buyer; each agent sees its own" }),
  })
  .openapi("Task");

export function registerTaskRoutes(api: Api, tasks: TaskService) {
  api.route({
    method: "post",
    path: "/v1/tasks",
    summary: "Post a task (or a lot of identical tasks) and open its sealed-bid auction",
    tags: ["tasks"],
    access: "buyer",
    status: 201,
    body: TaskSpecBody,
    response: z.object({ tasks: z.array(TaskView) }),
    handler: async ({ body, principal }) => ({ tasks: await tasks.post(walletOf(principal), body as never) }),
  });
  api.route({
    method: "get",
    path: "/v1/tasks/:id",
    summary: "A task; its proposals are visible to the buyer after the close, to each agent its own",
    tags: ["tasks"],
    access: "user",
    params: IdParams,
    response: TaskView,
    handler: ({ params, principal }) => tasks.get(params.id, principal),
  });
  api.route({
    method: "get",
    path: "/v1/tasks",
    summary: "List tasks by status, buyer, agent or capability (the input only for its buyer, invited and assigned agents, its arbitrator and the operator)",
    tags: ["tasks"],
    access: "user",
    query: Pagination.extend({
      status: z.string().max(32).optional(),
      buyer: Account.optional(),
      agent: Account.optional(),
      capability: Capability.optional(),
    }),
    response: z.object({ items: z.array(TaskView), total: z.number() }),
    handler: ({ query, principal }) => tasks.list(query, principal),
  });
  api.route({
    method: "post",
    path: "/v1/tasks/:id/cancel",
    summary: "Cancel the task's auction before the award (buyer)",
    tags: ["tasks"],
    access: "buyer",
    params: IdParams,
    response: TaskView,
    handler: ({ params, principal }) => tasks.cancel(params.id, walletOf(principal)),
  });
}

/**
 * POST /v1/tasks/:id/accept without a settlement backend (no chain configured): the buyer
 * accepts a delivered off-chain task. With a chain the escrow routes serve this path.
 */
export function registerOffchainAcceptRoute(api: Api, tasks: TaskService) {
  api.route({
    method: "post",
    path: "/v1/tasks/:id/accept",
    summary: "Accept a delivered result (buyer); without a chain, tasks settle off-chain and nothing is returned to send",
    tags: ["settlement"],
    access: "buyer",
    params: IdParams,
    response: z.object({ taskId: z.string(), status: z.string(), call: z.null() }),
    handler: ({ params, principal }) => tasks.acceptOffchain(params.id, walletOf(principal)),
  });
}
