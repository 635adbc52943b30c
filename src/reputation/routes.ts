import { z } from "zod";
import type { Api } from "../http/api.js";
import { Address } from "../http/schemas.js";
import type { ReputationService } from "./service.js";

const Score = z.object({
  capability: z.string().optional(),
  score: z.number().openapi({ description: "0–100, decayed to now" }),
  tier: z.string(),
  multiplierBps: z.number().int().openapi({ description: "Price multiplier, bps (10 000 = ×1)" }),
  successes: z.number().int(),
  failures: z.number().int(),
  successRate: z.number().nullable(),
  meanResponseMs: z.number().nullable(),
});
const ReputationView = Score.extend({
  byCapability: z.array(Score),
  history: z.array(z.object({ capability: z.string(), taskId: z.string().nullable(), outcome: z.string(), responseMs: z.number().nullable(), scoreAfter: z.number(), at: z.string() })),
}).openapi("Reputation");
const ProofView = z
  .object({
    epoch: z.number().int(),
    root: z.string().openapi({ description: "The epoch's Merkle root (bytes32), anchored in ReputationAnchor" }),
    anchored: z.boolean(),
    anchoredTx: z.string().nullable(),
    leaf: z.object({ agent: z.string(), score: z.string().openapi({ description: "score × 100" }), tasks: z.string(), epoch: z.string() }),
    leafHash: z.string(),
    proof: z.array(z.string()),
  })
  .openapi("ReputationProof");

export function registerReputationRoutes(api: Api, reputation: ReputationService) {
  api.route({
    method: "get",
    path: "/v1/agents/:address/reputation",
    summary: "An agent's score (0–100, decayed toward 50 at λ = 0.1/day, floor 20), tier, multiplier, per-capability scores and history",
    tags: ["reputation"],
    access: "public",
    params: z.object({ address: Address }),
    response: ReputationView,
    handler: ({ params }) => reputation.get(params.address),
  });
  api.route({
    method: "get",
    path: "/v1/agents/:address/reputation/proof",
    summary: "Merkle proof of the agent's (agent, score×100, tasks, epoch) leaf in an epoch's standard tree (latest when epoch is omitted)",
    tags: ["reputation"],
    access: "public",
    params: z.object({ address: Address }),
    query: z.object({ epoch: z.coerce.number().int().min(1).optional() }),
    response: ProofView,
    handler: ({ params, query }) => reputation.proof(params.address, query.epoch),
  });
  api.route({
    method: "post",
    path: "/v1/reputation/epochs",
    summary: "Close the current reputation epoch now and snapshot its Merkle root (operator)",
    tags: ["reputation", "operator"],
    access: "operator",
    status: 201,
    response: z.object({ epoch: z.number().int(), root: z.string(), leaves: z.number().int() }),
    handler: () => reputation.snapshot(),
  });
}
