import type { Queryable } from "../db/index.js";
import type { AuditOutboxRow, AuditTaskRow } from "../protocol/audit.js";

/** The operator audit's reads (POST /v1/admin/audit; `npm run demo` reports from them). */
export const auditStore = {
  async tasks(q: Queryable, ids: string[]): Promise<AuditTaskRow[]> {
    const r = await q.query<AuditTaskRow>(
      `SELECT id::text, settlement, status, capability, agent, price::text AS price, failovers, failure_reason, workflow_id::text AS workflow_id,
              created_at, awarded_at, delivered_at, accepted_at, settled_at
         FROM tasks WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    return r.rows;
  },

  /** Per agent, how many of `ids` it failed and another agent took over. */
  async failedOver(q: Queryable, ids: string[]): Promise<{ agent: string; tasks: number }[]> {
    const r = await q.query<{ agent: string; tasks: number }>(
      `SELECT e.agent, count(DISTINCT e.task_id)::int AS tasks FROM reputation_events e JOIN tasks t ON t.id = e.task_id
        WHERE e.task_id = ANY($1::uuid[]) AND e.outcome = 'failure' AND t.agent IS DISTINCT FROM e.agent GROUP BY e.agent`,
      [ids],
    );
    return r.rows;
  },

  async outboxSince(q: Queryable, since: Date): Promise<AuditOutboxRow[]> {
    return (await q.query<AuditOutboxRow>("SELECT kind, intent, payload, gas_used::text, status FROM chain_outbox WHERE created_at >= $1 ORDER BY id", [since])).rows;
  },

  /** Coordinator transactions of the run still open (pending, signed or sent). */
  async openOutboxSince(q: Queryable, since: Date): Promise<number> {
    return (await q.query<{ n: number }>("SELECT count(*)::int AS n FROM chain_outbox WHERE created_at >= $1 AND status IN ('pending', 'signed', 'sent')", [since])).rows[0]!.n;
  },

  /** The ledger's balance of each account over the tasks `ids`, in `token` (base units). */
  async ledgerByAccount(q: Queryable, ids: string[], token: string): Promise<{ account: string; amount: bigint }[]> {
    const r = await q.query<{ account: string; s: string }>("SELECT account, sum(amount)::text AS s FROM ledger_entries WHERE task_id = ANY($1::uuid[]) AND token = $2 GROUP BY account", [ids, token]);
    return r.rows.map((x) => ({ account: x.account, amount: BigInt(x.s) }));
  },

  /** The indexer's applied block of `chain`, or undefined before its first. */
  async indexedBlock(q: Queryable, chain: string): Promise<number | undefined> {
    const b = (await q.query<{ b: string | null }>("SELECT block_number::text AS b FROM indexer_cursors WHERE chain = $1", [chain])).rows[0]?.b;
    return b === null || b === undefined ? undefined : Number(b);
  },
};
