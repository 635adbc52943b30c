import type { Queryable } from "../db/index.js";

/**
 * Kinds of coordinator transaction (the payloads are JSON; amounts as decimal strings):
 * - `escrow.award`   { taskId, agent, price }
 * - `escrow.deliver` { taskId, resultHash }      (attestation of delivery)
 * - `escrow.release` { taskId }                  (after the acceptance window)
 * - `escrow.refund`  { taskId }                  (agent failed / no bid)
 * - `channels.settleBatch` { vouchers: [{ payer, payee, token, cumulative, signature }] }
 * - `channels.claimDelivered` { authorization: { payer, token, salt, maxAmount, expiry }, signature, claims: [{ payee, amount, settledBefore }] }
 * - `anchor.anchor`  { epoch, root, uri }
 * - `disputes.finalize` { disputeId }             (a ruling past its appeal window, or an appeal's)
 * - `disputes.reassign` { disputeId }             (no ruling by the rule deadline)
 */
export type IntentKind = "escrow.award" | "escrow.deliver" | "escrow.release" | "escrow.refund" | "channels.settleBatch" | "channels.claimDelivered" | "anchor.anchor" | "disputes.finalize" | "disputes.reassign";

export type Intent = { intent: string; kind: IntentKind; payload: Record<string, unknown>; chain?: string };

/**
 * Records a coordinator transaction to send, inside the caller's database transaction (the
 * transactional outbox): it is sent if and only if the state change commits, and a given
 * `intent` key (e.g. `award:<task>:<agent>`) is recorded at most once.
 * @returns the outbox id (the existing one when the intent was already recorded)
 */
export async function enqueueIntent(t: Queryable, i: Intent): Promise<{ id: string; created: boolean }> {
  const r = await t.query<{ id: string }>(
    `INSERT INTO chain_outbox (chain, intent, kind, payload) VALUES ($1, $2, $3, $4)
     ON CONFLICT (intent) DO NOTHING RETURNING id::text`,
    [i.chain ?? "evm", i.intent, i.kind, JSON.stringify(i.payload)],
  );
  if (r.rows[0]) return { id: r.rows[0].id, created: true };
  const e = await t.query<{ id: string }>("SELECT id::text FROM chain_outbox WHERE intent = $1", [i.intent]);
  return { id: e.rows[0]!.id, created: false };
}

export type OutboxRow = {
  id: string;
  chain: string;
  intent: string;
  kind: IntentKind;
  payload: Record<string, unknown>;
  status: string;
  nonce: string | null;
  tx_hash: string | null;
  raw_tx: string | null;
  attempts: number;
  last_error: string | null;
  block_number: string | null;
  gas_used: string | null;
  created_at: Date;
  sent_at: Date | null;
  confirmed_at: Date | null;
  /** Multi-step rows (Substrate): the steps signed so far. */
  steps?: unknown[];
};

/** A reaction to a row's end, run in the database transaction that records it. */
export type SenderHook = (t: Queryable, row: OutboxRow) => Promise<void>;

/**
 * Where domains subscribe to the end of their intents (the chain's transaction sender calls
 * them; src/chain/evm/sender.ts).
 */
export type OutboxHooks = {
  /**
   * Runs `handler` inside the transaction that marks a row of `kind` confirmed; a throw rolls the
   * confirmation back and it is retried, so handlers must be idempotent only across crashes of the
   * database transaction (they run once per committed confirmation).
   */
  onConfirmed(kind: IntentKind, handler: SenderHook): void;
  /** Like `onConfirmed`, for rows that end `reverted` (on-chain or at estimation) or `failed`. */
  onReverted(kind: IntentKind, handler: SenderHook): void;
};

/** The NOTIFY channel of the outbox of the schema in `search_path` (tests share one database). */
const CHANNEL_SQL = "'aicp_outbox_' || current_schema()";

/**
 * Records an intent in the caller's transaction and, when that transaction commits, tells the
 * sender (a Postgres NOTIFY, delivered only on commit) so it queues the transaction at once.
 * Usable without a sender instance (e.g. from a domain service); without a running sender the
 * row waits in the outbox.
 * @returns the outbox id; `created` false when the intent was already recorded (nothing happens)
 */
export async function enqueue(t: Queryable, intent: Intent): Promise<{ id: string; created: boolean }> {
  const r = await enqueueIntent(t, intent);
  if (r.created) await t.query(`SELECT pg_notify(${CHANNEL_SQL}, $1)`, [r.id]);
  return r;
}

/**
 * After a reorg dropped blocks ≥ `fromBlock`: records again, in `t`, every confirmed intent of
 * `kinds` mined in those blocks (in nonce order, intent `<intent>:reorg:<id>`), since its
 * transaction may be gone from the chain. Sending one whose transaction the new branch kept
 * reverts harmlessly (the caller's revert handler finds the chain consistent).
 * @returns the intents recorded again
 */
export async function resendOrphaned(t: Queryable, kinds: readonly IntentKind[], fromBlock: number): Promise<{ intent: string; kind: string }[]> {
  const r = await t.query<{ id: string; intent: string; kind: IntentKind; payload: Record<string, unknown>; chain: string }>(
    `SELECT id::text, intent, kind, payload, chain FROM chain_outbox
      WHERE status = 'confirmed' AND kind = ANY($1::text[]) AND block_number >= $2 ORDER BY nonce, id`,
    [kinds, fromBlock],
  );
  const out: { intent: string; kind: string }[] = [];
  for (const row of r.rows) {
    const again = await enqueue(t, { intent: `${row.intent}:reorg:${row.id}`, kind: row.kind, payload: row.payload, chain: row.chain });
    if (again.created) out.push({ intent: row.intent, kind: row.kind });
  }
  return out;
}

type Status = "pending" | "signed" | "sent" | "confirmed" | "reverted" | "failed";

/**
 * SQL of the transactional outbox's rows as a chain's transaction sender drives them:
 * pending → signed (nonce, raw transaction and hash stored before broadcasting) → sent →
 * confirmed | reverted | failed. Every change is guarded by the row's current status.
 */
export const outboxStore = {
  async get(q: Queryable, id: string): Promise<OutboxRow | undefined> {
    return (await q.query<OutboxRow>("SELECT * FROM chain_outbox WHERE id = $1", [id])).rows[0];
  },

  /** Rows of `chain` in `status`: pending by id, signed and sent by nonce. */
  async byStatus(q: Queryable, chain: string, status: "pending" | "signed" | "sent", limit = 10_000): Promise<OutboxRow[]> {
    const order = status === "pending" ? "id" : "nonce";
    return (await q.query<OutboxRow>(`SELECT * FROM chain_outbox WHERE chain = $1 AND status = $2 ORDER BY ${order} LIMIT $3`, [chain, status, limit])).rows;
  },

  /** Ids of the open rows (`statuses`) of `chain`, oldest first (the sweep re-queues their jobs). */
  async open(q: Queryable, chain: string, statuses: readonly string[]): Promise<{ id: string }[]> {
    return (
      await q.query<{ id: string }>("SELECT id::text AS id FROM chain_outbox WHERE chain = $1 AND status = ANY($2) ORDER BY id LIMIT 500", [chain, statuses])
    ).rows;
  },

  /** The id of the sent row with the lowest nonce (its job confirms the sent rows in order). */
  async firstSent(q: Queryable, chain: string): Promise<string | undefined> {
    return (await q.query<{ id: string }>("SELECT id FROM chain_outbox WHERE chain = $1 AND status = 'sent' ORDER BY nonce LIMIT 1", [chain])).rows[0]?.id;
  },

  /** The highest nonce of a signed or sent row (decimal string), or null. */
  async maxOpenNonce(q: Queryable, chain: string): Promise<string | null> {
    return (
      (await q.query<{ max: string | null }>("SELECT max(nonce)::text AS max FROM chain_outbox WHERE chain = $1 AND status IN ('signed', 'sent')", [chain]))
        .rows[0]?.max ?? null
    );
  },

  /** Whether a signed or sent row has a nonce below `nonce` (rows end in nonce order). */
  async openBelow(q: Queryable, chain: string, nonce: string): Promise<boolean> {
    const r = await q.query("SELECT 1 FROM chain_outbox WHERE chain = $1 AND status IN ('signed', 'sent') AND nonce < $2 LIMIT 1", [chain, nonce]);
    return (r.rowCount ?? 0) > 0;
  },

  /** pending → signed, storing the nonce, the raw transaction and its hash. @returns the row, or undefined when it was not pending */
  async markSigned(q: Queryable, id: string, tx: { nonce: number; raw: string; hash: string }): Promise<OutboxRow | undefined> {
    const r = await q.query<OutboxRow>(
      `UPDATE chain_outbox SET status = 'signed', nonce = $2, raw_tx = $3, tx_hash = $4, attempts = attempts + 1, last_error = NULL
        WHERE id = $1 AND status = 'pending' RETURNING *`,
      [id, tx.nonce, tx.raw, tx.hash],
    );
    return r.rows[0];
  },

  /** signed → sent. */
  async markSent(q: Queryable, id: string): Promise<void> {
    await q.query("UPDATE chain_outbox SET status = 'sent', sent_at = now(), last_error = NULL WHERE id = $1 AND status = 'signed'", [id]);
  },

  /** A sent row's transaction went out again (the node had dropped it). */
  async rebroadcast(q: Queryable, id: string): Promise<void> {
    await q.query("UPDATE chain_outbox SET sent_at = now(), last_error = 'missing from the node; re-broadcast' WHERE id = $1 AND status = 'sent'", [id]);
  },

  async noteError(q: Queryable, id: string, error: string): Promise<void> {
    await q.query("UPDATE chain_outbox SET last_error = $2 WHERE id = $1", [id, error]);
  },

  /** Back to pending (new nonce, new signature): only when the row's transaction can never be mined. */
  async resetToPending(q: Queryable, id: string, why: string): Promise<void> {
    await q.query(
      `UPDATE chain_outbox SET status = 'pending', nonce = NULL, raw_tx = NULL, tx_hash = NULL, sent_at = NULL, last_error = $2
        WHERE id = $1 AND status IN ('signed', 'sent')`,
      [id, why],
    );
  },

  /**
   * Ends a row from one of the statuses `from` (a guard against a concurrent change).
   * @returns the ended row, or undefined when it was no longer in `from`
   */
  async end(
    t: Queryable,
    id: string,
    status: Extract<Status, "confirmed" | "reverted" | "failed">,
    from: string[],
    extra: { error?: string | null; block?: number; gasUsed?: bigint } = {},
  ): Promise<OutboxRow | undefined> {
    const r = await t.query<OutboxRow>(
      `UPDATE chain_outbox SET status = $2, last_error = $3, block_number = $4, gas_used = $5, confirmed_at = now()
        WHERE id = $1 AND status = ANY($6) RETURNING *`,
      [id, status, extra.error ?? null, extra.block ?? null, extra.gasUsed?.toString() ?? null, from],
    );
    return r.rows[0];
  },

  /**
   * Stores a multi-step row's steps (chain_outbox.steps: the Substrate sender's signed
   * extrinsics, each stored before it is broadcast).
   */
  async saveSteps(q: Queryable, id: string, steps: unknown[]): Promise<void> {
    await q.query("UPDATE chain_outbox SET steps = $2, attempts = attempts + 1 WHERE id = $1", [id, JSON.stringify(steps)]);
  },

  /** Records the hash of the transaction that ended a row (multi-step rows: the last step's). */
  async setTxHash(q: Queryable, id: string, hash: string): Promise<void> {
    await q.query("UPDATE chain_outbox SET tx_hash = $2 WHERE id = $1", [id, hash]);
  },

  /** Open rows per status, with the oldest creation time and the newest error (for /ready). */
  async backlog(q: Queryable, chain: string) {
    return q.query<{ status: string; n: number; oldest: Date; last_error: string | null }>(
      `SELECT status, count(*)::int AS n, min(created_at) AS oldest,
              (array_agg(last_error ORDER BY id DESC) FILTER (WHERE last_error IS NOT NULL))[1] AS last_error
         FROM chain_outbox WHERE chain = $1 AND status IN ('pending', 'signed', 'sent') GROUP BY status`,
      [chain],
    );
  },
};
