import { z } from "zod";
import { walletOf, type Api, type Principal } from "../http/api.js";
import { IdParams, Pagination } from "../http/schemas.js";
import type { AppContext } from "../context.js";
import { forbidden, notFound } from "../errors.js";
import type { EscrowService } from "./service.js";

const Call = z.object({ to: z.string(), data: z.string(), value: z.string(), description: z.string() }).openapi("WalletCall");
const Evidence = z
  .object({
    evidenceUri: z.string().min(3).max(2048).openapi({ example: "ipfs://bafy…/evidence.json", description: "ERC-1497 evidence URI" }),
    text: z.string().max(10_000).optional(),
  })
  .strict();

export function registerEscrowRoutes(api: Api, escrow: EscrowService, ctx: AppContext) {
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
    method: "post",
    path: "/v1/tasks/:id/reclaim",
    summary: "The reclaim call for your wallet (buyer), for after the deadline when nothing was delivered",
    tags: ["settlement"],
    access: "buyer",
    params: IdParams,
    response: z.object({ taskId: z.string(), call: Call }),
    handler: ({ params, principal }) => escrow.reclaim(params.id, walletOf(principal)),
  });

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
      const r = await ctx.db.query(
        `SELECT d.dispute_id::text AS id, d.task_id AS "taskId", d.buyer, d.agent, d.arbitrator, d.opened_by AS "openedBy", d.status,
                d.agent_share_bps AS "agentShareBps", d.appealed, d.rule_deadline AS "ruleDeadline", d.appeal_deadline AS "appealDeadline",
                e.token, e.price::text AS price
           FROM disputes d LEFT JOIN escrows e ON e.task_id = d.task_id
          WHERE d.arbitrator = $1 AND ($2::text IS NULL OR d.status = $2)
          ORDER BY d.dispute_id DESC LIMIT $3 OFFSET $4`,
        [walletOf(principal), query.status ?? null, query.limit, query.offset],
      );
      return { items: r.rows };
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
      const r = await ctx.db.query<{ task_id: string; arbitrator: string; buyer: string; agent: string }>(
        "SELECT d.*, d.dispute_id::text AS dispute_id, e.token, e.price::text AS price, e.result_hash FROM disputes d LEFT JOIN escrows e ON e.task_id = d.task_id WHERE d.dispute_id = $1",
        [params.id],
      );
      const d = r.rows[0];
      if (!d) throw notFound("DISPUTE_NOT_FOUND", `No dispute ${params.id}.`);
      if (!(await canSee(principal, d))) throw forbidden("NOT_A_PARTY", "Only the arbitrator, the parties or the operator may read this dispute.");
      const ev = await ctx.db.query(
        "SELECT party, uri, text, source, tx_hash AS \"txHash\", at FROM dispute_evidence WHERE task_id = $1 ORDER BY id",
        [d.task_id],
      );
      const task = await ctx.db.query("SELECT id, capability, input, output, result_hash AS \"resultHash\", status FROM tasks WHERE id = $1", [d.task_id]);
      return { dispute: d, task: task.rows[0] ?? null, evidence: ev.rows };
    },
  });
}
