import { z } from "zod";
import { requireSelf, walletOf, type Api } from "../http/api.js";
import { Account, Amount, Capability, Pagination } from "../http/schemas.js";
import type { AgentService } from "./service.js";

const Offer = z.object({ capability: Capability, minPrice: Amount() });
const EndpointUrl = z
  .string()
  .url()
  .max(2048)
  .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL");

const Registration = z
  .object({
    name: z.string().min(1).max(100),
    capabilities: z.array(Offer).min(1).max(50)
      .refine((cs) => new Set(cs.map((c) => c.capability)).size === cs.length, "capabilities must be distinct"),
    endpointUrl: EndpointUrl.nullable().optional(),
    maxConcurrency: z.number().int().min(1).max(1000).optional(),
  })
  .strict()
  .openapi("AgentRegistration");

const AgentView = z
  .object({
    address: z.string(),
    name: z.string(),
    capabilities: z.array(z.object({ capability: z.string(), minPrice: z.string() })),
    endpointUrl: z.string().nullable(),
    maxConcurrency: z.number(),
    suspended: z.boolean(),
    load: z.number(),
    reputation: z.object({ successes: z.number(), failures: z.number(), tier: z.string(), multiplierBps: z.number() }),
    health: z.object({ status: z.string() }),
  })
  .openapi("Agent");

const AddressParams = z.object({ address: Account });

export function registerAgentRoutes(api: Api, agents: AgentService) {
  api.route({
    method: "post",
    path: "/v1/agents",
    summary: "Register the signed-in wallet as an agent (capabilities with minimum prices, optional webhook endpoint)",
    tags: ["agents"],
    access: "buyer",
    status: 201,
    body: Registration,
    response: AgentView.extend({ webhookSecret: z.string() }),
    handler: ({ body, principal }) => agents.register(walletOf(principal), body),
  });
  api.route({
    method: "patch",
    path: "/v1/agents/:address",
    summary: "Update your agent profile",
    tags: ["agents"],
    access: "agent",
    params: AddressParams,
    body: Registration.partial().strict(),
    response: AgentView,
    handler: ({ params, body, principal }) => agents.update(requireSelf(principal, params.address), body),
  });
  api.route({
    method: "get",
    path: "/v1/agents",
    summary: "List agents, optionally by capability",
    tags: ["agents"],
    access: "public",
    query: Pagination.extend({ capability: Capability.optional() }),
    response: z.object({ items: z.array(AgentView), total: z.number() }),
    handler: ({ query }) => agents.list(query),
  });
  api.route({
    method: "get",
    path: "/v1/agents/:address",
    summary: "An agent's profile, reputation, health and current load",
    tags: ["agents"],
    access: "public",
    params: AddressParams,
    response: AgentView,
    handler: ({ params }) => agents.get(params.address),
  });
  api.route({
    method: "post",
    path: "/v1/agents/:address/suspend",
    summary: "Suspend an agent (operator)",
    tags: ["agents", "operator"],
    access: "operator",
    params: AddressParams,
    body: z.object({ reason: z.string().min(1).max(500) }).strict(),
    response: AgentView,
    handler: ({ params, body }) => agents.setSuspended(params.address, true, body.reason),
  });
  api.route({
    method: "post",
    path: "/v1/agents/:address/reinstate",
    summary: "Reinstate a suspended agent (operator)",
    tags: ["agents", "operator"],
    access: "operator",
    params: AddressParams,
    response: AgentView,
    handler: ({ params }) => agents.setSuspended(params.address, false),
  });
}
