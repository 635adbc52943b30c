import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import { Pagination } from "../http/schemas.js";
import type { DisputeService } from "./service.js";

/**
 * Disputes as arbitrators and the parties read them (DisputeResolver's projection, with the
 * ERC-1497 evidence of both sides: texts given over the API and URIs from the chain).
 */
export function registerDisputeRoutes(api: Api, disputes: DisputeService) {
  api.route({
    method: "get",
    path: "/v1/disputes",
    summary: "Disputes assigned to you (arbitrator), or all of them (operator)",
    tags: ["disputes"],
    access: "arbitrator",
    query: Pagination.extend({ status: z.string().max(32).optional() }),
    handler: async ({ query, principal }) => ({ items: await disputes.assignedTo(walletOf(principal), query) }),
  });
  api.route({
    method: "get",
    path: "/v1/disputes/:id",
    summary: "A dispute with the evidence from both sides (API texts and on-chain ERC-1497 URIs); arbitrator, parties or operator",
    tags: ["disputes"],
    access: "user",
    params: z.object({ id: z.coerce.number().int().min(1).max(2 ** 53) }),
    handler: ({ params, principal }) => disputes.get(params.id, principal),
  });
}
