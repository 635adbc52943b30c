import { z } from "zod";
import type { Api } from "../http/api.js";
import { Address } from "../http/schemas.js";
import type { ReputationService } from "./service.js";

export function registerReputationRoutes(api: Api, reputation: ReputationService) {
  api.route({
    method: "get",
    path: "/v1/agents/:address/reputation",
    summary: "An agent's score (0–100, decayed toward 50 at λ = 0.1/day, floor 20), tier, multiplier, per-capability scores and history",
    tags: ["reputation"],
    access: "public",
    params: z.object({ address: Address }),
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
    handler: ({ params, query }) => reputation.proof(params.address, query.epoch),
  });
  api.route({
    method: "post",
    path: "/v1/reputation/epochs",
    summary: "Close the current reputation epoch now and snapshot its Merkle root (operator)",
    tags: ["reputation", "operator"],
    access: "operator",
    status: 201,
    handler: () => reputation.snapshot(),
  });
}
