import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import { Amount, IdParams } from "../http/schemas.js";
import type { AuctionService } from "./service.js";

/** The agents' side of the sealed-bid auction: proposals (FIPA `propose`) and calls for proposals. */
export function registerAuctionRoutes(api: Api, auction: AuctionService) {
  api.route({
    method: "post",
    path: "/v1/tasks/:id/proposals",
    summary: "Submit or replace your sealed proposal (FIPA propose) before the close",
    tags: ["auctions"],
    access: "agent",
    status: 201,
    params: IdParams,
    body: z.object({ price: Amount(), etaMs: z.number().int().min(1).max(20 * 24 * 3600 * 1000) }).strict().openapi("Proposal"),
    response: z.object({
      auctionId: z.string(), taskId: z.string(), agent: z.string(), price: z.string(), etaMs: z.number(), replaced: z.boolean(), auctionClosed: z.boolean(),
    }),
    handler: ({ params, body, principal }) => auction.propose(params.id, walletOf(principal), body.price, body.etaMs),
  });
  api.route({
    method: "get",
    path: "/v1/cfps",
    summary: "Open calls for proposals addressed to you; long-polls up to waitMs when there are none",
    tags: ["auctions"],
    access: "agent",
    query: z.object({
      waitMs: z.coerce.number().int().min(0).max(60_000).default(0),
      status: z.enum(["unanswered", "all"]).default("unanswered").openapi({ description: "`unanswered`: only calls you have not proposed on yet" }),
    }),
    response: z.object({ items: z.array(z.object({ auctionId: z.string(), taskIds: z.array(z.string()) }).passthrough()) }),
    handler: async ({ query, principal, req }) => {
      const ac = new AbortController();
      req.on("close", () => ac.abort());
      return { items: await auction.cfpsFor(walletOf(principal), query.waitMs, ac.signal, query.status === "unanswered") };
    },
  });
}
