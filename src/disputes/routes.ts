import { z } from "zod";
import type { Db } from "../db/index.js";
import { forbidden, notFound } from "../errors.js";
import { walletOf, type Api, type Principal } from "../http/api.js";
import { Pagination } from "../http/schemas.js";
import { disputeRepository as repo } from "./repository.js";

/**
 * Disputes as arbitrators and the parties read them (DisputeResolver's projection, with the
 * ERC-1497 evidence of both sides: texts given over the API and URIs from the chain).
 */
export function registerDisputeRoutes(api: Api, db: Db) {
  const canSee = async (p: Principal, d: { arbitrator: string; buyer: string; agent: string }) =>
    p.operator || (p.address !== undefined && [d.arbitrator, d.buyer, d.agent].includes(p.address));

  api.route({
    method: "get",
    path: "/v1/disputes",
    summary: "Disputes assigned to you (arbitrator), or all of them (operator)",
    tags: ["disputes"],
    access: "arbitrator",
    query: Pagination.extend({ status: z.string().max(32).optional() }),
    handler: async ({ query, principal }) => {
      return { items: await repo.assignedTo(db, walletOf(principal), query) };
    },
  });
  api.route({
    method: "get",
    path: "/v1/disputes/:id",
    summary: "A dispute with the evidence from both sides (API texts and on-chain ERC-1497 URIs); arbitrator, parties or operator",
    tags: ["disputes"],
    access: "user",
    params: z.object({ id: z.coerce.number().int().min(1).max(2 ** 53) }),
    handler: async ({ params, principal }) => {
      const d = await repo.get(db, params.id);
      if (!d) throw notFound("DISPUTE_NOT_FOUND", `No dispute ${params.id}.`);
      if (!(await canSee(principal, d))) throw forbidden("NOT_A_PARTY", "Only the arbitrator, the parties or the operator may read this dispute.");
      const [evidence, task] = await Promise.all([repo.evidence(db, d.task_id), repo.task(db, d.task_id)]);
      return { dispute: d, task: task ?? null, evidence };
    },
  });
}
