import { z } from "zod";
import type { Api } from "../http/api.js";
import { Address, Capability } from "../http/schemas.js";
import type { AppContext } from "../context.js";
import { reputationRepository } from "../reputation/repository.js";
import { quote, URGENCIES, type Urgency } from "./quote.js";

export function registerPricingRoutes(api: Api, ctx: AppContext) {
  api.route({
    method: "get",
    path: "/v1/pricing/quote",
    summary: "Suggested price = base rate × complexity × urgency × reputation multiplier, in token base units",
    tags: ["pricing"],
    access: "public",
    query: z.object({
      capability: Capability,
      complexity: z.coerce.number().int().min(1).max(10),
      urgency: z.enum(URGENCIES).default("normal"),
      agent: Address.optional(),
    }),
    response: z.object({
      capability: z.string(),
      price: z.string(),
      byTier: z.record(z.string(), z.string()),
      agent: z.object({ tier: z.string(), multiplierBps: z.number(), price: z.string() }).optional(),
    }),
    handler: async ({ query }) => {
      let record: { successes: number; failures: number } | undefined;
      if (query.agent) {
        record = await reputationRepository.record(ctx.db, query.agent, query.capability);
      }
      return { capability: query.capability, ...quote(BigInt(ctx.config.PRICING_BASE_RATE), query.complexity, query.urgency as Urgency, record) };
    },
  });
}
