import { z } from "zod";
import type { Api } from "../http/api.js";
import { Pagination } from "../http/schemas.js";
import type { DisputeService } from "./service.js";

const Instant = z.string().openapi({ format: "date-time" });

/** A dispute of DisputeResolver's projection (amounts in token base units, decimal strings). */
export const DisputeView = z
  .object({
    id: z.string().openapi({ description: "DisputeResolver dispute id (uint256, decimal)" }),
    taskId: z.string().openapi({ format: "uuid" }),
    buyer: z.string(),
    agent: z.string(),
    arbitrator: z.string().openapi({ description: "The arbitrator assigned now (changes on appeal or reassignment)" }),
    openedBy: z.string(),
    status: z.enum(["awaiting_ruling", "ruled", "finalized"]),
    agentShareBps: z.number().int().nullable().openapi({ description: "The ruling's share of the price to the agent, bps (null until ruled)" }),
    appealed: z.boolean(),
    ruleDeadline: Instant.nullable(),
    appealDeadline: Instant.nullable(),
    openedAt: Instant,
    timedOut: z.boolean().openapi({ description: "Awaiting a ruling past its deadline: the coordinator reassigns it" }),
    token: z.string().nullable(),
    price: z.string().nullable().openapi({ description: "The awarded price, token base units" }),
    amount: z.string().nullable().openapi({ description: "The escrowed amount (the whole budget), token base units" }),
  })
  .openapi("Dispute");

const EvidenceView = z
  .object({
    party: z.string(),
    uri: z.string().nullable().openapi({ description: "ERC-1497 evidence URI (data:, ipfs:// or https://)" }),
    text: z.string().nullable(),
    source: z.enum(["api", "chain"]),
    txHash: z.string().nullable(),
    at: Instant,
  })
  .openapi("Evidence");

/**
 * Disputes as arbitrators and the parties read them (DisputeResolver's projection, with the
 * ERC-1497 evidence of both sides: texts given over the API and URIs from the chain).
 */
export function registerDisputeRoutes(api: Api, disputes: DisputeService) {
  api.route({
    method: "get",
    path: "/v1/disputes",
    summary: "The case list: disputes assigned to you (arbitrator), or all of them (operator); status = awaiting_ruling | ruled | finalized | open | appealed | timed_out",
    tags: ["disputes"],
    access: "arbitrator",
    query: Pagination.extend({ status: z.enum(["awaiting_ruling", "ruled", "finalized", "open", "appealed", "timed_out"]).optional() }),
    response: z.object({ items: z.array(DisputeView) }),
    handler: async ({ query, principal }) => ({ items: await disputes.cases(principal, query) }),
  });
  api.route({
    method: "get",
    path: "/v1/disputes/:id",
    summary: "A dispute with the evidence from both sides (API texts and on-chain ERC-1497 URIs); arbitrator, parties or operator",
    tags: ["disputes"],
    access: "user",
    params: z.object({ id: z.coerce.number().int().min(1).max(2 ** 53) }),
    response: z.object({
      dispute: DisputeView.extend({ resultHash: z.string().nullable() }),
      task: z.object({ id: z.string(), capability: z.string(), input: z.unknown(), output: z.unknown(), resultHash: z.string().nullable(), status: z.string() }).nullable(),
      evidence: z.array(EvidenceView),
    }),
    handler: ({ params, principal }) => disputes.get(params.id, principal),
  });
  api.route({
    method: "post",
    path: "/v1/disputes/:id/ruling",
    summary: "Substrate disputes: your ruling (assigned arbitrator) as a call for your account — the rule remark and the approval of the split's payout from the buyer's custody; the coordinator executes it after the appeal window",
    tags: ["disputes"],
    access: "arbitrator",
    params: z.object({ id: z.coerce.number().int().min(1).max(2 ** 53) }),
    body: z.object({ agentShareBps: z.number().int().min(0).max(10_000).openapi({ description: "The agent's share of the price, bps" }) }).strict(),
    response: z.object({
      disputeId: z.string(),
      split: z.object({ agent: z.string(), fee: z.string(), buyer: z.string() }).openapi({ description: "token base units" }),
      call: z.object({ chain: z.literal("substrate"), genesisHash: z.string(), call: z.string(), description: z.string() }),
    }),
    handler: ({ params, body, principal }) => disputes.rulingCall(params.id, principal.address!, body.agentShareBps),
  });
}
