import type { Queryable } from "../db/index.js";
import { DECAY_PER_DAY } from "./score.js";

/** One agent's statistics for one capability (score 0–100, decayed from `scored_at`). */
export type StatRow = {
  agent: string; capability: string; successes: number; failures: number; response_ms_total: string; score: number; scored_at: Date;
  /** The counts decayed at λ per day as of `counts_at` (see migration 010). */
  successes_decayed: number; failures_decayed: number; counts_at: Date;
};

/** SQL of the reputation domain: per-agent, per-capability statistics, history and epochs. */
/**
 * SQL factor e^(−λ·whole UTC days) from a row's `counts_at` to `at` (λ = DECAY_PER_DAY), for the
 * decayed counts (as `decayedCount` in src/reputation/score.ts).
 */
export const DECAY_SQL = (at: string, table = "reputation_stats") =>
  `exp(-${DECAY_PER_DAY} * GREATEST(0, floor(extract(epoch FROM ${at}) / 86400) - floor(extract(epoch FROM ${table}.counts_at) / 86400)))`;

/** `successes` and `failures` of `table` (reputation_stats or an alias of it) decayed to now, as floats. */
export const DECAYED_COUNTS_SQL = (table: string) =>
  `${table}.successes_decayed * ${DECAY_SQL("now()", table)} AS successes, ${table}.failures_decayed * ${DECAY_SQL("now()", table)} AS failures`;

export const reputationRepository = {
  /** An agent's success and failure counts for one capability, decayed to now (zeros when it has none). */
  async record(q: Queryable, agent: string, capability: string): Promise<{ successes: number; failures: number }> {
    const r = await q.query<{ successes: number; failures: number }>(
      `SELECT ${DECAYED_COUNTS_SQL("reputation_stats")} FROM reputation_stats WHERE agent = $1 AND capability = $2`,
      [agent, capability],
    );
    return r.rows[0] ?? { successes: 0, failures: 0 };
  },

  /** One snapshot at a time across replicas (a transaction-scoped advisory lock). */
  async lockSnapshot(t: Queryable): Promise<void> {
    await t.query("SELECT pg_advisory_xact_lock(hashtext('aicp.reputation.snapshot'))");
  },

  /** The latest snapshotted epoch (0 before the first). */
  async lastEpoch(q: Queryable): Promise<number> {
    return Number((await q.query<{ epoch: string | null }>("SELECT max(epoch)::text AS epoch FROM reputation_epochs")).rows[0]?.epoch ?? 0);
  },

  async allStats(q: Queryable): Promise<StatRow[]> {
    return (await q.query<StatRow>("SELECT * FROM reputation_stats ORDER BY agent, capability")).rows;
  },

  async stats(q: Queryable, agent: string): Promise<StatRow[]> {
    return (await q.query<StatRow>("SELECT * FROM reputation_stats WHERE agent = $1 ORDER BY capability", [agent])).rows;
  },

  /** The last 50 outcomes of an agent, newest first. */
  async history(q: Queryable, agent: string) {
    const r = await q.query<{ capability: string; task_id: string | null; outcome: string; response_ms: number | null; score_after: number; at: Date }>(
      "SELECT capability, task_id, outcome, response_ms, score_after, at FROM reputation_events WHERE agent = $1 ORDER BY id DESC LIMIT 50",
      [agent],
    );
    return r.rows;
  },

  async insertEpoch(t: Queryable, e: { epoch: number; root: string; tree: unknown; leaves: number }): Promise<void> {
    await t.query("INSERT INTO reputation_epochs (epoch, root, tree, leaves) VALUES ($1, $2, $3, $4)", [e.epoch, e.root, JSON.stringify(e.tree), e.leaves]);
  },

  /** The row of (agent, capability), created when missing and locked; its score and when it was scored. */
  async lockStats(t: Queryable, agent: string, capability: string): Promise<{ score: number; scored_at: Date }> {
    const r = await t.query<{ score: number; scored_at: Date }>(
      `INSERT INTO reputation_stats (agent, capability) VALUES ($1, $2) ON CONFLICT (agent, capability) DO UPDATE SET agent = EXCLUDED.agent
       RETURNING score, scored_at`,
      [agent, capability],
    );
    return r.rows[0]!;
  },

  /** The counters and the history of one outcome, in one statement (`responseMs` in ms). */
  async addOutcome(t: Queryable, e: { agent: string; capability: string; taskId: string | null; ok: boolean; responseMs: number | null; score: number; at: Date }): Promise<void> {
    await t.query(
      `WITH s AS (
         UPDATE reputation_stats SET successes = successes + $3, failures = failures + $4,
                successes_decayed = successes_decayed * ${DECAY_SQL("$7::timestamptz")} + $3,
                failures_decayed = failures_decayed * ${DECAY_SQL("$7::timestamptz")} + $4,
                counts_at = GREATEST(counts_at, $7::timestamptz),
                response_ms_total = response_ms_total + $5, score = $6, scored_at = $7, updated_at = now()
          WHERE agent = $1 AND capability = $2)
       INSERT INTO reputation_events (agent, capability, task_id, outcome, response_ms, score_after) VALUES ($1, $2, $8, $9, $10, $6)`,
      [e.agent, e.capability, e.ok ? 1 : 0, e.ok ? 0 : 1, e.ok ? (e.responseMs ?? 0) : 0, e.score, e.at, e.taskId, e.ok ? "success" : "failure", e.responseMs],
    );
  },

  /** When the current epoch began: the last snapshot, or the first recorded outcome. */
  async epochStart(q: Queryable): Promise<Date | null> {
    return (await q.query<{ since: Date | null }>("SELECT COALESCE((SELECT max(created_at) FROM reputation_epochs), (SELECT min(at) FROM reputation_events)) AS since")).rows[0]?.since ?? null;
  },

  /** An epoch's root and Merkle tree dump (the latest when `epoch` is undefined). */
  async epoch(q: Queryable, epoch?: number) {
    const r = await q.query<{ epoch: string; root: string; tree: unknown; anchored_tx: string | null }>(
      epoch === undefined
        ? "SELECT e.epoch::text AS epoch, e.root, e.tree, e.anchored_tx FROM reputation_epochs e ORDER BY e.epoch DESC LIMIT 1"
        : "SELECT epoch::text, root, tree, anchored_tx FROM reputation_epochs WHERE epoch = $1",
      epoch === undefined ? [] : [epoch],
    );
    return r.rows[0];
  },

  /** Links the epoch to its `anchor.anchor` outbox row. */
  async linkAnchor(t: Queryable, epoch: number, outboxId: string): Promise<void> {
    await t.query("UPDATE reputation_epochs SET anchor_outbox_id = $2 WHERE epoch = $1", [epoch, outboxId]);
  },

  /**
   * Marks the epoch anchored by `txHash` once, only when `root` is the epoch's own. The mark is
   * ReputationAnchor's (where proofs are verified on-chain): an anchor on another chain marks
   * the epoch only when it was not sent to the EVM at all (a Substrate-only coordinator).
   * @returns whether this call marked it
   */
  async markAnchored(t: Queryable, a: { epoch: number | bigint; root: string; txHash: string; at?: Date; chain?: string }): Promise<boolean> {
    const r = await t.query(
      `UPDATE reputation_epochs SET anchored_tx = $3, anchored_at = COALESCE($4, now())
        WHERE epoch = $1 AND lower(root) = lower($2) AND anchored_tx IS NULL
          AND ($5 = 'evm' OR NOT EXISTS (SELECT 1 FROM chain_outbox o WHERE o.kind = 'anchor.anchor' AND o.chain = 'evm' AND o.payload->>'epoch' = $1::text))`,
      [String(a.epoch), a.root, a.txHash.toLowerCase(), a.at ?? null, a.chain ?? "evm"],
    );
    return (r.rowCount ?? 0) > 0;
  },

  /** Un-marks the epochs anchored by RootAnchored events of blocks ≥ `fromBlock` of `chain` (a reorg orphaned them). @returns how many */
  async forgetAnchorsFrom(t: Queryable, chain: string, fromBlock: number): Promise<number> {
    const r = await t.query(
      `UPDATE reputation_epochs e SET anchored_tx = NULL, anchored_at = NULL
       FROM chain_events c
      WHERE c.chain = $1 AND c.block_number >= $2 AND c.contract = 'ReputationAnchor' AND c.name = 'RootAnchored'
        AND e.anchored_tx = c.tx_hash`,
      [chain, fromBlock],
    );
    return r.rowCount ?? 0;
  },
};
