import { z } from "zod";
import type { Api } from "../api/http.js";
import { Address, Capability } from "../api/schemas.js";
import type { AppContext } from "../context.js";
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
        const r = await ctx.db.query<{ successes: number; failures: number }>(
          "SELECT successes, failures FROM reputation_stats WHERE agent = $1 AND capability = $2",
          [query.agent, query.capability],
        );
        record = r.rows[0] ?? { successes: 0, failures: 0 };
      }
      return { capability: query.capability, ...quote(BigInt(ctx.config.PRICING_BASE_RATE), query.complexity, query.urgency as Urgency, record) };
    },
  });
}
