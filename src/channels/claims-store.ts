import type { Queryable } from "../db/index.js";

/**
 * SQL of delivery claims (migration 009): `channel_claims` (one row per authorization and payee
 * of a `PaymentChannels.claimDelivered` transaction), the promises they pay (`channel_promises`
 * held → claiming → claimed) and the authorizations they draw on (`channel_authorizations`).
 * Amounts are NUMERIC(78,0), read as decimal strings.
 */

/** A delivered, unpaid channel-route task that is due a claim, with what the claim needs. */
export type ClaimCandidate = {
  task_id: string;
  payer: string;
  payee: string;
  token: string;
  /** The task's price, token base units. */
  price: string;
  digest: string;
  salt: string;
  max_amount: string;
  /** Unix seconds. */
  expiry: string;
  signature: string;
  /** The pair's settled amount on-chain (= what the coordinator accepted: no voucher outstanding). */
  settled: string;
  reason: "withdrawal" | "silence" | "expiry";
};

export type ClaimRow = { id: string; payer: string; payee: string; token: string; amount: string; task_ids: string[]; authorization_digest: string; status: string };

/** Claims of one task that reverted before it is left to the operator. */
export const MAX_CLAIM_ATTEMPTS = 3;

export const claimsStore = {
  /**
   * Delivered channel-route tasks with a held promise under a live authorization whose buyer has
   * a withdrawal pending, stayed silent for `paymentWindowS` since the delivery, or whose
   * authorization expires within `marginS` — on pairs with no voucher outstanding (accepted =
   * settled) and no claim in flight, and fewer than MAX_CLAIM_ATTEMPTS reverted claims.
   */
  async candidates(t: Queryable, p: { now: Date; paymentWindowS: number; marginS: number; only?: { payer: string; token: string }; limit: number }): Promise<ClaimCandidate[]> {
    const r = await t.query<ClaimCandidate>(
      `SELECT p.task_id, p.payer, t.agent AS payee, p.token, t.price::text AS price, a.digest, a.salt, a.max_amount::text AS max_amount,
              extract(epoch FROM a.expiry)::bigint::text AS expiry, a.signature, COALESCE(cp.settled, 0)::text AS settled,
              CASE WHEN acc.withdrawal_available_at IS NOT NULL THEN 'withdrawal'
                   WHEN a.expiry < $1::timestamptz + make_interval(secs => $3) THEN 'expiry' ELSE 'silence' END AS reason
         FROM channel_promises p
         JOIN tasks t ON t.id = p.task_id AND t.status = 'delivered' AND t.settlement = 'channel'
         JOIN channel_authorizations a ON a.digest = p.authorization_digest
         LEFT JOIN channel_accounts acc ON acc.payer = p.payer AND acc.token = p.token
         LEFT JOIN channel_pairs cp ON cp.payer = p.payer AND cp.payee = t.agent AND cp.token = p.token
        WHERE p.status = 'held' AND a.expiry > $1::timestamptz
          AND (acc.withdrawal_available_at IS NOT NULL
               OR t.delivered_at < $1::timestamptz - make_interval(secs => $2)
               OR a.expiry < $1::timestamptz + make_interval(secs => $3))
          AND COALESCE(cp.accepted, 0) = COALESCE(cp.settled, 0)
          AND NOT EXISTS (SELECT 1 FROM channel_claims c WHERE c.payer = p.payer AND c.payee = t.agent AND c.token = p.token AND c.status = 'sending')
          AND (SELECT count(*) FROM channel_claims c WHERE p.task_id = ANY(c.task_ids) AND c.status = 'reverted') < ${MAX_CLAIM_ATTEMPTS}
          AND ($4::text IS NULL OR (p.payer = $4 AND p.token = $5))
        ORDER BY p.payer, p.token, t.delivered_at, p.task_id
        LIMIT $6`,
      [p.now, p.paymentWindowS, p.marginS, p.only?.payer ?? null, p.only?.token ?? null, p.limit],
    );
    return r.rows;
  },

  /** Records the claims of one transaction and moves their tasks' promises to `claiming`. @returns the claim ids, in order */
  async insert(
    t: Queryable,
    rows: { digest: string; payer: string; payee: string; token: string; amount: bigint; settledBefore: bigint; taskIds: string[]; reason: string }[],
  ): Promise<string[]> {
    const r = await t.query<{ id: string }>(
      `WITH ins AS (
         INSERT INTO channel_claims (authorization_digest, payer, payee, token, amount, settled_before, task_ids, reason)
         SELECT x.digest, x.payer, x.payee, x.token, x.amount::numeric, x.settled_before::numeric, x.task_ids, x.reason
           FROM jsonb_to_recordset($1::jsonb) AS x(digest text, payer text, payee text, token text, amount text, settled_before text, task_ids uuid[], reason text)
         RETURNING id),
       pr AS (
         UPDATE channel_promises SET status = 'claiming', updated_at = now() WHERE task_id = ANY($2::uuid[]) AND status = 'held')
       SELECT ins.id::text AS id FROM ins ORDER BY ins.id`,
      [
        JSON.stringify(rows.map((x) => ({ digest: x.digest, payer: x.payer, payee: x.payee, token: x.token, amount: x.amount.toString(), settled_before: x.settledBefore.toString(), task_ids: x.taskIds, reason: x.reason }))),
        rows.flatMap((x) => x.taskIds),
      ],
    );
    return r.rows.map((x) => x.id);
  },

  async linkOutbox(t: Queryable, ids: string[], outboxId: string): Promise<void> {
    await t.query("UPDATE channel_claims SET outbox_id = $2, updated_at = now() WHERE id = ANY($1::bigint[])", [ids, outboxId]);
  },

  /** The claims of a reverted transaction → reverted; their promises back to held (a later sweep tries again). */
  async reverted(t: Queryable, outboxId: string): Promise<ClaimRow[]> {
    const r = await t.query<ClaimRow>(
      `WITH c AS (
         UPDATE channel_claims SET status = 'reverted', updated_at = now() WHERE outbox_id = $1 AND status = 'sending'
         RETURNING id::text, payer, payee, token, amount::text, task_ids::text[], authorization_digest, status),
       pr AS (
         UPDATE channel_promises SET status = 'held', updated_at = now() WHERE task_id IN (SELECT unnest(task_ids::uuid[]) FROM c) AND status = 'claiming')
       SELECT * FROM c`,
      [outboxId],
    );
    return r.rows;
  },

  /**
   * A confirmed DeliveryClaimed: its claim (by authorization, payee and the pair's cumulative
   * amount after it) → confirmed, the promises it paid → claimed. A claim that had been given up
   * as reverted is confirmed too (the chain is the truth). @returns the claim with its promises' amounts, or undefined
   */
  async confirmed(t: Queryable, e: { digest: string; payee: string; cumulative: string; txHash: string }): Promise<(ClaimRow & { promises: { task_id: string; amount: string }[] }) | undefined> {
    const r = await t.query<ClaimRow & { promises: { task_id: string; amount: string }[] }>(
      `WITH c AS (
         UPDATE channel_claims SET status = 'confirmed', updated_at = now()
          -- The claim whose transaction this is, else (sent by an earlier attempt) the newest open one.
          WHERE id = (SELECT k.id FROM channel_claims k WHERE k.authorization_digest = $1 AND k.payee = $2 AND k.settled_before + k.amount = $3::numeric AND k.status <> 'confirmed'
                      ORDER BY (k.outbox_id IN (SELECT o.id FROM chain_outbox o WHERE lower(o.tx_hash) = lower($4))) DESC, (k.status = 'sending') DESC, k.id DESC LIMIT 1)
         RETURNING id::text, payer, payee, token, amount::text, task_ids::text[], authorization_digest, status),
       pr AS (
         UPDATE channel_promises SET status = 'claimed', updated_at = now() WHERE task_id IN (SELECT unnest(task_ids::uuid[]) FROM c) AND status IN ('claiming', 'held')
         RETURNING task_id::text, amount::text)
       SELECT c.*, COALESCE((SELECT json_agg(json_build_object('task_id', pr.task_id, 'amount', pr.amount)) FROM pr), '[]') AS promises FROM c`,
      [e.digest, e.payee, e.cumulative, e.txHash],
    );
    return r.rows[0];
  },

  /**
   * After a reorg rebuilt the projections: confirmed claims whose DeliveryClaimed event is no
   * longer among the chain's events → orphaned, their promises back to held. @returns them
   */
  async orphaned(t: Queryable): Promise<ClaimRow[]> {
    const r = await t.query<ClaimRow>(
      `WITH c AS (
         UPDATE channel_claims k SET status = 'orphaned', updated_at = now()
          WHERE k.status = 'confirmed' AND NOT EXISTS (
                SELECT 1 FROM chain_events e
                 WHERE e.contract = 'PaymentChannels' AND e.name = 'DeliveryClaimed'
                   AND lower(e.args->>'authorization') = k.authorization_digest AND lower(e.args->>'payee') = k.payee
                   AND (e.args->>'cumulativeAmount')::numeric = k.settled_before + k.amount)
         RETURNING k.id::text AS id, k.payer, k.payee, k.token, k.amount::text AS amount, k.task_ids::text[] AS task_ids, k.authorization_digest, k.status),
       pr AS (
         UPDATE channel_promises SET status = 'held', updated_at = now() WHERE task_id IN (SELECT unnest(task_ids::uuid[]) FROM c) AND status = 'claimed'),
       -- The claim had raised the pair's accepted amount (as settled); back to what vouchers accepted.
       pairs AS (
         UPDATE channel_pairs p
            SET accepted = GREATEST(p.settled, COALESCE((SELECT max(v.cumulative) FROM vouchers v WHERE v.payer = p.payer AND v.payee = p.payee AND v.token = p.token), 0)),
                updated_at = now()
          WHERE (p.payer, p.payee, p.token) IN (SELECT payer, payee, token FROM c))
       SELECT * FROM c`,
    );
    return r.rows;
  },

  /** The tasks still drawing on a payer's deposit of `token` (held or claiming promises). */
  async openPromises(t: Queryable, payer: string, token: string): Promise<{ task_id: string; amount: string; status: string }[]> {
    const r = await t.query<{ task_id: string; amount: string; status: string }>(
      "SELECT task_id::text, amount::text, status FROM channel_promises WHERE payer = $1 AND token = $2 AND status IN ('held', 'claiming') ORDER BY task_id FOR UPDATE",
      [payer, token],
    );
    return r.rows;
  },

  /** Releases the given promises (→ released). */
  async release(t: Queryable, taskIds: string[]): Promise<void> {
    await t.query("UPDATE channel_promises SET status = 'released', updated_at = now() WHERE task_id = ANY($1::uuid[]) AND status IN ('held', 'claiming')", [taskIds]);
  },
};
