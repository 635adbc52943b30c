import type { Queryable } from "../db/index.js";
import type { Logger } from "../logger.js";
import { enqueue, type OutboxHooks } from "../settlement/outbox-store.js";
import { reputationRepository as repo } from "./repository.js";

/**
 * Anchoring of reputation epochs: each epoch's Merkle root (OpenZeppelin StandardMerkleTree of
 * (agent, score×100, tasks, epoch) leaves, see service.ts) goes on-chain through
 * `ReputationAnchor.anchor(epoch, root, uri)`, sent by the transaction sender from the outbox.
 * An epoch counts as anchored (`reputation_epochs.anchored_tx/anchored_at`) once the anchor
 * transaction is confirmed — recorded by the sender's confirmation hook, and by the indexer from
 * `RootAnchored` events; both go through {@link markEpochAnchored}, which is idempotent.
 */

/** Where an epoch's full tree is published: the proof endpoint serves it. */
export const epochUri = (epoch: number | bigint) => `aicp://reputation/epoch/${epoch}`;

/**
 * Records the `anchor.anchor` intent of a freshly snapshotted epoch, inside the snapshot's
 * database transaction (intent key `anchor:<epoch>`, so an epoch is anchored at most once), and
 * links it from `reputation_epochs.anchor_outbox_id`.
 * @param s.root the epoch's Merkle root, bytes32 hex
 * @returns the outbox id
 */
export async function recordEpochAnchor(t: Queryable, s: { epoch: number; root: string }, chains: readonly string[] = ["evm"]): Promise<string> {
  let first: string | undefined;
  for (const chain of chains) {
    // The EVM's intent keeps its historical key; other chains' carry their name.
    const intent = chain === "evm" ? `anchor:${s.epoch}` : `anchor:${chain}:${s.epoch}`;
    const { id } = await enqueue(t, { intent, kind: "anchor.anchor", payload: { epoch: s.epoch, root: s.root, uri: epochUri(s.epoch) }, chain });
    first ??= id;
  }
  if (first) await repo.linkAnchor(t, s.epoch, first);
  return first ?? "";
}

/**
 * Marks an epoch anchored by `txHash`, once: a second call (the sender's hook and the indexer's
 * `RootAnchored` handler both call it) changes nothing. The root must be the epoch's own, so an
 * anchor of the same epoch number with another root (another deployment's) is not taken for ours.
 * @param a.at when the anchor was mined (the block's time when known)
 * @returns whether this call marked it
 */
export async function markEpochAnchored(t: Queryable, a: { epoch: number | bigint; root: string; txHash: string; at?: Date; chain?: string }): Promise<boolean> {
  return repo.markAnchored(t, a);
}

/**
 * Subscribes anchoring to the sender: a confirmed `anchor.anchor` marks its epoch anchored; a
 * reverted one (e.g. `ReputationAnchorEpochNotIncreasing`: the contract already holds a later
 * epoch) is logged and leaves the epoch unanchored.
 */
export function registerAnchoring(sender: OutboxHooks, log?: Logger): void {
  sender.onConfirmed("anchor.anchor", async (t, row) => {
    const p = row.payload as { epoch: number | string; root: string };
    await markEpochAnchored(t, { epoch: BigInt(p.epoch), root: p.root, txHash: row.tx_hash!, chain: row.chain });
  });
  sender.onReverted("anchor.anchor", async (_t, row) => {
    log?.warn({ outboxId: row.id, epoch: (row.payload as { epoch: unknown }).epoch, error: row.last_error }, "reputation anchor was not accepted on-chain");
  });
}
