import { z } from "zod";
import type { Api } from "../http/api.js";
import { Token } from "../http/schemas.js";
import type { AppContext } from "../context.js";
import type { AuditAnswer } from "../protocol/audit.js";
import { balances } from "../ledger/store.js";
import { checkChainInvariants } from "../chain/evm/invariants.js";
import type { EvmChain } from "../chain/evm/chain.js";
import { auditStore } from "./audit-store.js";

const PARTS = ["tasks", "failedOver", "outbox", "openOutbox", "ledgerByAccount", "balances", "violations", "indexedBlock"] as const;

/**
 * POST /v1/admin/audit (operator): what a run did, read from the coordinator's own records —
 * the tasks, failovers, coordinator transactions since a moment, the ledger per account, the
 * money invariants between the ledger and the chain, the indexer's block. `npm run demo` builds
 * its report from it, so it needs only the coordinator's URL (and the operator key).
 */
export function registerAuditRoute(api: Api, ctx: AppContext, evm: EvmChain | undefined) {
  api.route({
    method: "post",
    path: "/v1/admin/audit",
    summary: "Operator audit: tasks, failovers, coordinator transactions since a time, ledger per account and token, chain invariants, the indexer's block (the parts asked for)",
    tags: ["admin"],
    access: "operator",
    body: z
      .object({
        parts: z.array(z.enum(PARTS)).min(1),
        taskIds: z.array(z.string().uuid()).max(20_000).default([]),
        since: z.iso.datetime({ offset: true }).optional(),
        token: Token.optional(),
        chain: z.enum(["evm", "substrate"]).default("evm").openapi({ description: "The chain of indexedBlock" }),
      })
      .strict(),
    response: z
      .object({
        tasks: z.array(z.record(z.string(), z.unknown())).optional(),
        failedOver: z.array(z.object({ agent: z.string(), tasks: z.number() })).optional(),
        outbox: z.array(z.record(z.string(), z.unknown())).optional(),
        openOutbox: z.number().optional(),
        ledgerByAccount: z.array(z.object({ account: z.string(), amount: z.string() })).optional(),
        balances: z.array(z.object({ account: z.string(), token: z.string(), balance: z.string() })).optional(),
        violations: z.array(z.object({ kind: z.string(), message: z.string() })).optional(),
        indexedBlock: z.number().nullable().optional(),
      })
      .openapi("Audit"),
    handler: async ({ body }) => {
      const { db } = ctx;
      const want = new Set(body.parts);
      const since = new Date(body.since ?? 0);
      const out: AuditAnswer = {};
      if (want.has("tasks")) out.tasks = await auditStore.tasks(db, body.taskIds);
      if (want.has("failedOver")) out.failedOver = await auditStore.failedOver(db, body.taskIds);
      if (want.has("outbox")) out.outbox = await auditStore.outboxSince(db, since);
      if (want.has("openOutbox")) out.openOutbox = await auditStore.openOutboxSince(db, since);
      if (want.has("ledgerByAccount") && body.token)
        out.ledgerByAccount = (await auditStore.ledgerByAccount(db, body.taskIds, body.token)).map((x) => ({ account: x.account, amount: x.amount.toString() }));
      if (want.has("balances"))
        out.balances = (await balances(db)).filter((b) => !body.token || b.token === body.token).map((b) => ({ account: b.account, token: b.token, balance: b.balance.toString() }));
      if (want.has("violations")) out.violations = evm ? (await checkChainInvariants(db, evm)).map((v) => ({ kind: v.kind, message: v.message })) : [];
      if (want.has("indexedBlock")) out.indexedBlock = (await auditStore.indexedBlock(db, body.chain)) ?? null;
      return out;
    },
  });
}
