import type { Queryable } from "../db/index.js";
import type { SettlementChain } from "../protocol/settlement.js";

/** A pair's latest accepted voucher with what batching it needs (amounts in token base units, decimal strings). */
export type Candidate = {
  payer: string;
  payee: string;
  token: string;
  cumulative: string;
  signature: string;
  settled: string;
  deposit: string;
  urgent: boolean;
};

type Pair = { payer: string; payee: string; token: string; cumulative: string };

/** SQL of batch settlement: vouchers through settling → settled, and the batches (channel_settlements). */
export const settlementStore = {
  /** What the indexer confirmed settled per pair (`payer|payee|token` → cumulative base units); pairs never settled are absent. */
  async settledOf(q: Queryable, pairs: { payer: string; payee: string; token: string }[]): Promise<Map<string, bigint>> {
    if (pairs.length === 0) return new Map();
    const r = await q.query<{ payer: string; payee: string; token: string; settled: string }>(
      `SELECT p.payer, p.payee, p.token, p.settled::text FROM channel_pairs p
        JOIN unnest($1::text[], $2::text[], $3::text[]) AS u(payer, payee, token) ON (p.payer, p.payee, p.token) = (u.payer, u.payee, u.token)`,
      [pairs.map((x) => x.payer), pairs.map((x) => x.payee), pairs.map((x) => x.token)],
    );
    return new Map(r.rows.map((x) => [`${x.payer}|${x.payee}|${x.token}`, BigInt(x.settled)]));
  },

  /** Whether the payer has a withdrawal of `token` pending (per the projection). */
  async withdrawalPending(t: Queryable, payer: string, token: string): Promise<boolean> {
    const r = await t.query("SELECT 1 FROM channel_accounts WHERE payer = $1 AND token = $2 AND withdrawal_available_at IS NOT NULL", [payer, token]);
    return (r.rowCount ?? 0) > 0;
  },

  /** One batcher at a time (a transaction-scoped advisory lock on `key`); false when another holds it. */
  async tryLock(t: Queryable, key: string): Promise<boolean> {
    return (await t.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok", [key])).rows[0]!.ok;
  },

  /**
   * The latest accepted voucher of each pair with none settling, urgent payers (a withdrawal
   * pending) first, then oldest first, of payers on `chain`; optionally of one payer and token.
   */
  async candidates(t: Queryable, limit: number, chain: SettlementChain, only?: { payer: string; token: string }): Promise<(Candidate & { received_at: Date })[]> {
    // A payer's chain is the kind of its account (chainOfAccount): 20-byte EVM, 32-byte Substrate.
    const params: unknown[] = [limit, chain === "substrate" ? 66 : 42];
    let filter = "AND length(v.payer) = $2";
    if (only) {
      params.push(only.payer, only.token);
      filter += " AND v.payer = $3 AND v.token = $4";
    }
    const r = await t.query<Candidate & { received_at: Date }>(
      `SELECT * FROM (
         SELECT DISTINCT ON (v.payer, v.payee, v.token) v.payer, v.payee, v.token, v.cumulative::text, v.signature, v.received_at,
                COALESCE(p.settled, 0)::text AS settled, COALESCE(a.deposit, 0)::text AS deposit, a.withdrawal_available_at IS NOT NULL AS urgent
           FROM vouchers v
           LEFT JOIN channel_pairs p ON p.payer = v.payer AND p.payee = v.payee AND p.token = v.token
           LEFT JOIN channel_accounts a ON a.payer = v.payer AND a.token = v.token
          WHERE v.status = 'accepted' ${filter}
            AND NOT EXISTS (SELECT 1 FROM vouchers s WHERE s.payer = v.payer AND s.payee = v.payee AND s.token = v.token AND s.status = 'settling')
          ORDER BY v.payer, v.payee, v.token, v.cumulative DESC) x
        ORDER BY urgent DESC, received_at
        LIMIT $1`,
      params,
    );
    return r.rows;
  },

  /** What batches in flight will still draw from each deposit (token base units). */
  async inflight(t: Queryable): Promise<{ payer: string; token: string; s: string }[]> {
    return (
      await t.query<{ payer: string; token: string; s: string }>(
        `SELECT v.payer, v.token, sum(v.cumulative - COALESCE(p.settled, 0))::text AS s FROM vouchers v
         LEFT JOIN channel_pairs p ON p.payer = v.payer AND p.payee = v.payee AND p.token = v.token
        WHERE v.status = 'settling' AND v.cumulative > COALESCE(p.settled, 0) GROUP BY v.payer, v.token`,
      )
    ).rows;
  },

  /** Of `accounts` (channel-claimable:<payee>), those with a positive balance in the ledger, per token. */
  async creditedPayees(t: Queryable, accounts: string[]): Promise<{ account: string; token: string }[]> {
    return (
      await t.query<{ account: string; token: string }>(
        `SELECT account, token FROM ledger_entries WHERE account = ANY($1) GROUP BY account, token HAVING sum(amount) > 0`,
        [accounts],
      )
    ).rows;
  },

  /** A new batch of `pairs` vouchers. @returns its id */
  async insertBatch(t: Queryable, reason: string, pairs: number): Promise<string> {
    return (await t.query<{ id: string }>("INSERT INTO channel_settlements (reason, pairs) VALUES ($1, $2) RETURNING id::text", [reason, pairs])).rows[0]!.id;
  },

  async linkBatch(t: Queryable, id: string, outboxId: string): Promise<void> {
    await t.query("UPDATE channel_settlements SET outbox_id = $2 WHERE id = $1", [id, outboxId]);
  },

  /** The chosen vouchers → settling in batch `id` (outbox row `outboxId`); older accepted ones of the same pairs → superseded. */
  async markSettling(t: Queryable, chosen: Pair[], id: string, outboxId: string): Promise<void> {
    const rows = JSON.stringify(chosen.map((c) => ({ payer: c.payer, payee: c.payee, token: c.token, cumulative: c.cumulative })));
    await t.query(
      `UPDATE vouchers v SET status = 'settling', settlement_id = $2, outbox_id = $3
         FROM jsonb_to_recordset($1::jsonb) AS x(payer text, payee text, token text, cumulative text)
        WHERE v.payer = x.payer AND v.payee = x.payee AND v.token = x.token AND v.cumulative = x.cumulative::numeric AND v.status = 'accepted'`,
      [rows, id, outboxId],
    );
    await t.query(
      `UPDATE vouchers v SET status = 'superseded'
         FROM jsonb_to_recordset($1::jsonb) AS x(payer text, payee text, token text, cumulative text)
        WHERE v.payer = x.payer AND v.payee = x.payee AND v.token = x.token AND v.cumulative < x.cumulative::numeric AND v.status = 'accepted'`,
      [rows],
    );
  },

  /** VoucherSettled up to `cumulative`: that voucher → settled, older ones → superseded. @returns the vouchers changed */
  async settled(t: Queryable, p: Pair): Promise<{ cumulative: string; received_at: Date; status: string }[]> {
    const r = await t.query<{ cumulative: string; received_at: Date; status: string }>(
      `UPDATE vouchers SET status = CASE WHEN cumulative = $4::numeric THEN 'settled' ELSE 'superseded' END,
              settled_at = CASE WHEN cumulative = $4::numeric THEN now() ELSE settled_at END
        WHERE payer = $1 AND payee = $2 AND token = $3 AND cumulative <= $4::numeric AND status IN ('accepted', 'settling')
        RETURNING cumulative::text, received_at, status`,
      [p.payer, p.payee, p.token, p.cumulative],
    );
    return r.rows;
  },

  /** VoucherSkipped: the settling voucher → `status` (accepted again when Overdrawn), with the reason. */
  async skipped(t: Queryable, p: Pair, status: "superseded" | "accepted" | "skipped", reason: string): Promise<void> {
    await t.query(
      `UPDATE vouchers SET status = $5, skip_reason = $6,
              settlement_id = CASE WHEN $5 = 'accepted' THEN NULL ELSE settlement_id END,
              outbox_id = CASE WHEN $5 = 'accepted' THEN NULL ELSE outbox_id END
        WHERE payer = $1 AND payee = $2 AND token = $3 AND cumulative = $4::numeric AND status = 'settling'`,
      [p.payer, p.payee, p.token, p.cumulative, status, reason],
    );
  },

  /** After a reorg: vouchers marked settled above their pair's (rebuilt) settled amount → accepted. @returns their task ids */
  async unsettleOrphaned(t: Queryable): Promise<{ task_ids: string[] }[]> {
    const r = await t.query<{ task_ids: string[] }>(
      `UPDATE vouchers v SET status = 'accepted', settlement_id = NULL, outbox_id = NULL, settled_at = NULL
         FROM channel_pairs p
        WHERE p.payer = v.payer AND p.payee = v.payee AND p.token = v.token AND v.status = 'settled' AND v.cumulative > p.settled
        RETURNING v.task_ids::text[]`,
    );
    return r.rows;
  },

  /**
   * The batch of outbox row `outboxId` ended: confirmed, or reverted (its settling vouchers →
   * accepted, for a later batch). @returns how many vouchers went back to accepted
   */
  async batchEnded(t: Queryable, outboxId: string, status: "confirmed" | "reverted"): Promise<number> {
    let back = 0;
    if (status === "reverted")
      back =
        (
          await t.query("UPDATE vouchers SET status = 'accepted', settlement_id = NULL, outbox_id = NULL WHERE outbox_id = $1 AND status = 'settling'", [
            outboxId,
          ])
        ).rowCount ?? 0;
    await t.query("UPDATE channel_settlements SET status = $2, finished_at = now() WHERE outbox_id = $1", [outboxId, status]);
    return back;
  },
};
