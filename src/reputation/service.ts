import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { notFound } from "../errors.js";
import { multiplierFor } from "./tiers.js";
import { recordEpochAnchor } from "./anchoring.js";
import { decayed, scoreToUint, updated, NEUTRAL_SCORE } from "./score.js";

/** Leaf encoding shared with ReputationAnchor.verify: (agent, score ×100, tasks, epoch). */
export const LEAF_ENCODING = ["address", "uint256", "uint256", "uint256"] as const;

export type ReputationService = {
  /** Records one finished attempt inside the caller's transaction. */
  record(t: Queryable, e: { agent: string; capability: string; taskId: string | null; ok: boolean; responseMs: number | null }): Promise<void>;
  /** Score (decayed to now), tier, multiplier, per-capability scores and recent history. */
  get(agent: string): Promise<ReturnType<typeof view> & { byCapability: ReturnType<typeof view>[]; history: unknown[] }>;
  /**
   * Closes the next epoch: builds a standard Merkle tree (OpenZeppelin) of every agent's
   * (agent, score, tasks, epoch) and stores root and tree. Epochs are 1, 2, 3, …
   */
  snapshot(): Promise<{ epoch: number; root: string; leaves: number }>;
  /** Snapshots when the last one is older than REPUTATION_EPOCH_MS. */
  snapshotIfDue(): Promise<{ epoch: number; root: string; leaves: number } | undefined>;
  /** @throws 404 EPOCH_NOT_FOUND | AGENT_NOT_IN_EPOCH */
  proof(agent: string, epoch?: number): Promise<{
    epoch: number; root: string; anchored: boolean; anchoredTx: string | null;
    leaf: { agent: string; score: string; tasks: string; epoch: string }; leafHash: string; proof: string[];
  }>;
};

type StatRow = { capability: string; successes: number; failures: number; response_ms_total: string; score: number; scored_at: Date };

function view(rows: StatRow[], now: number, capability?: string) {
  const successes = rows.reduce((a, r) => a + r.successes, 0);
  const failures = rows.reduce((a, r) => a + r.failures, 0);
  const total = successes + failures;
  const responseMs = rows.reduce((a, r) => a + Number(r.response_ms_total), 0);
  // The overall score weights each capability's decayed score by its task count.
  const score = total === 0
    ? rows.length ? decayed(rows[0]!.score, now - rows[0]!.scored_at.getTime()) : NEUTRAL_SCORE
    : rows.reduce((a, r) => a + decayed(r.score, now - r.scored_at.getTime()) * (r.successes + r.failures), 0) / total;
  const tier = multiplierFor(successes, failures);
  return {
    ...(capability ? { capability } : {}),
    score: Math.round(score * 100) / 100,
    tier: tier.tier,
    multiplierBps: Number(tier.multiplierBps),
    successes,
    failures,
    successRate: total ? successes / total : null,
    meanResponseMs: successes ? Math.round(responseMs / successes) : null,
  };
}

export function createReputationService(ctx: AppContext): ReputationService {
  const { db } = ctx;

  async function snapshot() {
    return db.tx(async (t) => {
      // One snapshot at a time across replicas.
      await t.query("SELECT pg_advisory_xact_lock(hashtext('aicp.reputation.snapshot'))");
      const last = await t.query<{ epoch: string }>("SELECT max(epoch)::text AS epoch FROM reputation_epochs");
      const epoch = Number(last.rows[0]?.epoch ?? 0) + 1;
      const stats = await t.query<StatRow & { agent: string }>("SELECT * FROM reputation_stats ORDER BY agent, capability");
      const byAgent = new Map<string, StatRow[]>();
      for (const r of stats.rows) byAgent.set(r.agent, [...(byAgent.get(r.agent) ?? []), r]);
      const now = ctx.now();
      const values: [string, string, string, string][] = [...byAgent.entries()].map(([agent, rows]) => {
        const v = view(rows, now);
        return [agent, scoreToUint(v.score).toString(), String(v.successes + v.failures), String(epoch)];
      });
      // A tree needs at least one leaf; an empty epoch commits to the zero address' neutral leaf.
      if (values.length === 0) values.push(["0x0000000000000000000000000000000000000000", scoreToUint(NEUTRAL_SCORE).toString(), "0", String(epoch)]);
      const tree = StandardMerkleTree.of(values, [...LEAF_ENCODING]);
      await t.query("INSERT INTO reputation_epochs (epoch, root, tree, leaves) VALUES ($1, $2, $3, $4)", [epoch, tree.root, JSON.stringify(tree.dump()), values.length]);
      // Anchored on-chain by the transaction sender once this commits (transactional outbox).
      await recordEpochAnchor(t, { epoch, root: tree.root });
      return { epoch, root: tree.root, leaves: values.length };
    });
  }

  return {
    async record(t, e) {
      const now = ctx.now();
      const r = await t.query<{ score: number; scored_at: Date }>(
        `INSERT INTO reputation_stats (agent, capability) VALUES ($1, $2) ON CONFLICT (agent, capability) DO UPDATE SET agent = EXCLUDED.agent
         RETURNING score, scored_at`,
        [e.agent, e.capability],
      );
      const prev = r.rows[0]!;
      const score = updated(prev.score, now - prev.scored_at.getTime(), e.ok);
      // The counters and the history in one statement.
      await t.query(
        `WITH s AS (
           UPDATE reputation_stats SET successes = successes + $3, failures = failures + $4,
                  response_ms_total = response_ms_total + $5, score = $6, scored_at = $7, updated_at = now()
            WHERE agent = $1 AND capability = $2)
         INSERT INTO reputation_events (agent, capability, task_id, outcome, response_ms, score_after) VALUES ($1, $2, $8, $9, $10, $6)`,
        [e.agent, e.capability, e.ok ? 1 : 0, e.ok ? 0 : 1, e.ok ? (e.responseMs ?? 0) : 0, score, new Date(now), e.taskId, e.ok ? "success" : "failure", e.responseMs],
      );
    },

    async get(agent) {
      const r = await db.query<StatRow>("SELECT * FROM reputation_stats WHERE agent = $1 ORDER BY capability", [agent]);
      const h = await db.query<{ capability: string; task_id: string | null; outcome: string; response_ms: number | null; score_after: number; at: Date }>(
        "SELECT capability, task_id, outcome, response_ms, score_after, at FROM reputation_events WHERE agent = $1 ORDER BY id DESC LIMIT 50",
        [agent],
      );
      const now = ctx.now();
      return {
        ...view(r.rows, now),
        byCapability: r.rows.map((row) => view([row], now, row.capability)),
        history: h.rows.map((x) => ({ capability: x.capability, taskId: x.task_id, outcome: x.outcome, responseMs: x.response_ms, scoreAfter: Math.round(x.score_after * 100) / 100, at: x.at.toISOString() })),
      };
    },

    snapshot,

    async snapshotIfDue() {
      // The first epoch starts with the first recorded outcome.
      const r = await db.query<{ since: Date | null }>(
        "SELECT COALESCE((SELECT max(created_at) FROM reputation_epochs), (SELECT min(at) FROM reputation_events)) AS since",
      );
      const since = r.rows[0]?.since;
      if (!since || ctx.now() - since.getTime() < ctx.config.REPUTATION_EPOCH_MS) return undefined;
      return snapshot();
    },

    async proof(agent, epoch) {
      const r = await db.query<{ epoch: string; root: string; tree: unknown; anchored_tx: string | null }>(
        epoch === undefined
          ? "SELECT epoch::text, root, tree, anchored_tx FROM reputation_epochs ORDER BY epoch DESC LIMIT 1"
          : "SELECT epoch::text, root, tree, anchored_tx FROM reputation_epochs WHERE epoch = $1",
        epoch === undefined ? [] : [epoch],
      );
      const row = r.rows[0];
      if (!row) throw notFound("EPOCH_NOT_FOUND", epoch === undefined ? "No reputation epoch has been snapshotted yet." : `No reputation epoch ${epoch}.`);
      const tree = StandardMerkleTree.load(row.tree as never) as StandardMerkleTree<[string, string, string, string]>;
      for (const [i, v] of tree.entries()) {
        if (v[0].toLowerCase() === agent) {
          return {
            epoch: Number(row.epoch),
            root: row.root,
            anchored: row.anchored_tx !== null,
            anchoredTx: row.anchored_tx,
            leaf: { agent: v[0], score: v[1], tasks: v[2], epoch: v[3] },
            leafHash: tree.leafHash(v),
            proof: tree.getProof(i),
          };
        }
      }
      throw notFound("AGENT_NOT_IN_EPOCH", `Agent ${agent} has no record in epoch ${row.epoch}.`);
    },
  };
}
