import type { AuditAnswer, AuditOutboxRow, AuditTaskRow } from "../protocol/audit.js";

/** A demo task as the report reads it (price in token base units). */
export type TaskRow = AuditTaskRow;

/** A coordinator transaction of the run. */
export type DemoOutboxRow = AuditOutboxRow;

/** The coordinator's operator audit over HTTP (POST /v1/admin/audit): the demo reads its figures there, not from the database. */
export type AuditClient = { ask(parts: string[], body?: { taskIds?: string[]; since?: Date; token?: string }): Promise<AuditAnswer> };

/** @param adminKey the operator key (X-Admin-Key) of the coordinator at `url` */
export function createAuditClient(url: string, adminKey: string): AuditClient {
  return {
    async ask(parts, body = {}) {
      const res = await fetch(`${url.replace(/\/+$/, "")}/v1/admin/audit`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-admin-key": adminKey },
        body: JSON.stringify({ parts, taskIds: body.taskIds ?? [], ...(body.since ? { since: body.since.toISOString() } : {}), ...(body.token ? { token: body.token } : {}) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`POST /v1/admin/audit answered ${res.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as AuditAnswer;
    },
  };
}

const date = (v: unknown) => (v === null || v === undefined ? null : new Date(String(v)));

/** The demo's reads of the coordinator's records, through the operator audit (it writes nothing). */
export const demoStore = {
  /** Resolves when the operator audit answers (the operator key is right). */
  async ping(c: AuditClient): Promise<void> {
    await c.ask(["indexedBlock"]);
  },

  async tasks(c: AuditClient, ids: string[]): Promise<TaskRow[]> {
    const rows = (await c.ask(["tasks"], { taskIds: ids })).tasks ?? [];
    return rows.map((r) => ({
      ...r,
      created_at: new Date(String(r.created_at)),
      awarded_at: date(r.awarded_at), delivered_at: date(r.delivered_at), accepted_at: date(r.accepted_at), settled_at: date(r.settled_at),
    }));
  },

  /** Per agent, how many of `ids` it failed and another agent took over. */
  async failedOver(c: AuditClient, ids: string[]): Promise<{ agent: string; tasks: number }[]> {
    return (await c.ask(["failedOver"], { taskIds: ids })).failedOver ?? [];
  },

  async outboxSince(c: AuditClient, since: Date): Promise<DemoOutboxRow[]> {
    return (await c.ask(["outbox"], { since })).outbox ?? [];
  },

  /** Coordinator transactions of the run still open (pending, signed or sent). */
  async openOutboxSince(c: AuditClient, since: Date): Promise<number> {
    return (await c.ask(["openOutbox"], { since })).openOutbox ?? 0;
  },

  /** The ledger's balance of each account over the tasks `ids`, in `token` (base units). */
  async ledgerByAccount(c: AuditClient, ids: string[], token: string): Promise<{ account: string; amount: bigint }[]> {
    return ((await c.ask(["ledgerByAccount"], { taskIds: ids, token })).ledgerByAccount ?? []).map((x) => ({ account: x.account, amount: BigInt(x.amount) }));
  },

  /** Every ledger account's balance in `token`. */
  async balances(c: AuditClient, token: string): Promise<{ account: string; token: string; balance: bigint }[]> {
    return ((await c.ask(["balances"], { token })).balances ?? []).map((b) => ({ account: b.account, token: b.token, balance: BigInt(b.balance) }));
  },

  /** The money invariants between the ledger and the chain, as the coordinator checks them. */
  async violations(c: AuditClient): Promise<{ kind: string; message: string }[]> {
    return (await c.ask(["violations"])).violations ?? [];
  },

  /** The indexer's applied block of `chain`, or undefined before its first. */
  async indexedBlock(c: AuditClient, _chain: string): Promise<number | undefined> {
    return (await c.ask(["indexedBlock"])).indexedBlock ?? undefined;
  },
};
