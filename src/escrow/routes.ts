import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import { FundingPlanSchema, IdParams, WalletCallSchema } from "../http/schemas.js";
import type { EscrowService } from "./service.js";

const Call = WalletCallSchema;
const Evidence = z
  .object({
    evidenceUri: z.string().min(3).max(2048).openapi({ example: "ipfs://bafy…/evidence.json", description: "ERC-1497 evidence URI" }),
    text: z.string().max(10_000).optional(),
  })
  .strict();

export function registerEscrowRoutes(api: Api, escrow: EscrowService) {
  api.route({
    method: "post",
    path: "/v1/tasks/:id/accept",
    summary: "Accept a delivered result (buyer); escrow route: returns the release call for your wallet",
    tags: ["settlement"],
    access: "buyer",
    params: IdParams,
    response: z.object({ taskId: z.string(), status: z.string(), call: Call.nullable() }),
    handler: ({ params, principal }) => escrow.accept(params.id, walletOf(principal)),
  });
  // Reject and dispute are one action on-chain (TaskEscrow.dispute): reject is the buyer's
  // name for it, dispute is open to the buyer and the awarded agent.
  for (const [verb, summary] of [
    ["reject", "Reject a delivered escrow result (buyer): opens a dispute; returns the dispute call for your wallet"],
    ["dispute", "Dispute a delivered escrow task (buyer or awarded agent) with evidence; returns the dispute call for your wallet"],
  ] as const) {
    api.route({
      method: "post",
      path: `/v1/tasks/:id/${verb}`,
      summary,
      tags: ["settlement"],
      access: "buyer",
      params: IdParams,
      body: Evidence,
      response: z.object({ taskId: z.string(), call: Call }),
      handler: ({ params, body, principal }) => escrow.dispute(params.id, walletOf(principal), { uri: body.evidenceUri, text: body.text }),
    });
  }
  api.route({
    method: "get",
    path: "/v1/tasks/:id/funding",
    summary: "The escrow funding plan (buyer): the calls for your wallet, with the coordinator's EIP-712 funding authorization; available while the task is in funding",
    tags: ["settlement"],
    access: "buyer",
    params: IdParams,
    response: z.object({ taskId: z.string(), plan: FundingPlanSchema }),
    handler: ({ params, principal }) => escrow.funding(params.id, walletOf(principal)),
  });
  api.route({
    method: "post",
    path: "/v1/tasks/:id/reclaim",
    summary: "The reclaim call for your wallet (buyer), for after the deadline when nothing was delivered",
    tags: ["settlement"],
    access: "buyer",
    params: IdParams,
    response: z.object({ taskId: z.string(), call: Call }),
    handler: ({ params, principal }) => escrow.reclaim(params.id, walletOf(principal)),
  });
}
