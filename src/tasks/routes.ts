import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import { Address, Amount, Capability, IdParams, Pagination } from "../http/schemas.js";
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
    token: Address.openapi({ description: "ERC-20 address, or 0x000…000 for the native currency" }),
    deadline: z.iso.datetime({ offset: true }).transform((s) => new Date(s)).openapi({ type: "string", format: "date-time" }),
    auction: z.object({ rule: z.enum(AUCTION_RULES as [string, ...string[]]), windowMs: z.number().int().min(0) }).strict(),
    route: z.enum(ROUTES).default("auto"),
    quantity: z.number().int().min(1).default(1),
  })
  .strict()
  .openapi("TaskSpec");

const TaskView = z
  .object({
    id: z.string(),
    auctionId: z.string(),
    lotIndex: z.number(),
    buyer: z.string(),
    capability: z.string(),
    status: z.string(),
    budget: z.string(),
    agent: z.string().nullable(),
    price: z.string().nullable(),
    proposals: z.array(z.object({ agent: z.string(), price: z.string(), etaMs: z.number(), outcome: z.string() })).optional(),
  })
  .passthrough()
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
      buyer: Address.optional(),
      agent: Address.optional(),
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
