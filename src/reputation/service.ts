import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { notFound } from "../errors.js";
import { multiplierFor } from "./tiers.js";
import { reputationRepository as repo, type StatRow } from "./repository.js";
import { recordEpochAnchor } from "./anchoring.js";
import { decayed, decayedCount, scoreToUint, updated, NEUTRAL_SCORE } from "./score.js";

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


function view(rows: Omit<StatRow, "agent">[], now: number, capability?: string) {
  const successes = rows.reduce((a, r) => a + r.successes, 0);
  const failures = rows.reduce((a, r) => a + r.failures, 0);
  const total = successes + failures;
  const responseMs = rows.reduce((a, r) => a + Number(r.response_ms_total), 0);
  // The overall score weights each capability's decayed score by its task count.
  const score = total === 0
    ? rows.length ? decayed(rows[0]!.score, now - rows[0]!.scored_at.getTime()) : NEUTRAL_SCORE
    : rows.reduce((a, r) => a + decayed(r.score, now - r.scored_at.getTime()) * (r.successes + r.failures), 0) / total;
  // The tier follows the decayed counts (recent record), the shown counts are lifetime.
  const tier = multiplierFor(
    rows.reduce((a, r) => a + decayedCount(r.successes_decayed, r.counts_at.getTime(), now), 0),
    rows.reduce((a, r) => a + decayedCount(r.failures_decayed, r.counts_at.getTime(), now), 0),
  );
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

/**
 * @param anchorChains the chains each epoch's root is anchored on (ReputationAnchor on the EVM,
 *   a coordinator remark on Substrate); default the EVM only
 */
export function createReputationService(ctx: AppContext, anchorChains: readonly string[] = ["evm"]): ReputationService {
  const { db } = ctx;

  async function snapshot() {
    return db.tx(async (t) => {
      // One snapshot at a time across replicas.
      await repo.lockSnapshot(t);
      const epoch = (await repo.lastEpoch(t)) + 1;
      const byAgent = new Map<string, StatRow[]>();
      // Leaves are (address, …): EVM agents only. Substrate agents' 32-byte accounts do not fit an
      // address leaf; their scores are served by the API but not in the anchored tree yet.
      for (const r of await repo.allStats(t)) if (r.agent.length === 42) byAgent.set(r.agent, [...(byAgent.get(r.agent) ?? []), r]);
      const now = ctx.now();
      const values: [string, string, string, string][] = [...byAgent.entries()].map(([agent, rows]) => {
        const v = view(rows, now);
        return [agent, scoreToUint(v.score).toString(), String(v.successes + v.failures), String(epoch)];
      });
      // A tree needs at least one leaf; an empty epoch commits to the zero address' neutral leaf.
      if (values.length === 0) values.push(["0x0000000000000000000000000000000000000000", scoreToUint(NEUTRAL_SCORE).toString(), "0", String(epoch)]);
      const tree = StandardMerkleTree.of(values, [...LEAF_ENCODING]);
      await repo.insertEpoch(t, { epoch, root: tree.root, tree: tree.dump(), leaves: values.length });
      // Anchored on-chain by the transaction sender once this commits (transactional outbox).
      await recordEpochAnchor(t, { epoch, root: tree.root }, anchorChains);
      return { epoch, root: tree.root, leaves: values.length };
    });
  }

  return {
    async record(t, e) {
      const now = ctx.now();
      const prev = await repo.lockStats(t, e.agent, e.capability);
      const score = updated(prev.score, now - prev.scored_at.getTime(), e.ok);
      await repo.addOutcome(t, { agent: e.agent, capability: e.capability, taskId: e.taskId, ok: e.ok, responseMs: e.responseMs, score, at: new Date(now) });
    },

    async get(agent) {
      const [rows, history] = await Promise.all([repo.stats(db, agent), repo.history(db, agent)]);
      const now = ctx.now();
      return {
        ...view(rows, now),
        byCapability: rows.map((row) => view([row], now, row.capability)),
        history: history.map((x) => ({ capability: x.capability, taskId: x.task_id, outcome: x.outcome, responseMs: x.response_ms, scoreAfter: Math.round(x.score_after * 100) / 100, at: x.at.toISOString() })),
      };
    },

    snapshot,

    async snapshotIfDue() {
      // The first epoch starts with the first recorded outcome.
      const since = await repo.epochStart(db);
      if (!since || ctx.now() - since.getTime() < ctx.config.REPUTATION_EPOCH_MS) return undefined;
      return snapshot();
    },

    async proof(agent, epoch) {
      const row = await repo.epoch(db, epoch);
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
