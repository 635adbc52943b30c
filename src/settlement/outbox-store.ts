import type { Queryable } from "../db/index.js";

/**
 * Kinds of coordinator transaction (the payloads are JSON; amounts as decimal strings):
 * - `escrow.award`   { taskId, agent, price }
 * - `escrow.deliver` { taskId, resultHash }      (attestation of delivery)
 * - `escrow.release` { taskId }                  (after the acceptance window)
 * - `escrow.refund`  { taskId }                  (agent failed / no bid)
 * - `channels.settleBatch` { vouchers: [{ payer, payee, token, cumulative, signature }] }
 * - `anchor.anchor`  { epoch, root, uri }
 */
export type IntentKind = "escrow.award" | "escrow.deliver" | "escrow.release" | "escrow.refund" | "channels.settleBatch" | "anchor.anchor";

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
  id: string; chain: string; intent: string; kind: IntentKind; payload: Record<string, unknown>; status: string;
  nonce: string | null; tx_hash: string | null; raw_tx: string | null; attempts: number; last_error: string | null;
  block_number: string | null; gas_used: string | null; created_at: Date; sent_at: Date | null; confirmed_at: Date | null;
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

