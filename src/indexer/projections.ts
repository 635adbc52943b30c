import type { Queryable } from "../db/index.js";
import { channelProjection } from "../channels/projection.js";
import { disputeProjection } from "../disputes/projection.js";
import { escrowProjection } from "../escrow/projection.js";
import { anchorProjection } from "../reputation/projection.js";
import { createProjector, type ContractProjection, type Projector, type ProjectorOptions } from "../settlement/projection.js";
import { deleteLedgerGroups } from "../ledger/store.js";
import { indexerRepository, storedEvents } from "./repository.js";

/** One projection module per contract (each the store of the tables derived from its events). */
export const PROJECTIONS: readonly ContractProjection[] = [escrowProjection, disputeProjection, channelProjection, anchorProjection];

/** A projector of every contract's projection, bound to the indexer's transaction `t`. */
export const projectorFor = (t: Queryable, opts: ProjectorOptions = {}): Projector => createProjector(t, PROJECTIONS, opts);

/** Before a reorg deletes the events of blocks ≥ `fromBlock`: what replay cannot rebuild (reputation anchors). */
export async function beforeRollback(t: Queryable, chain: string, fromBlock: number): Promise<void> {
  for (const p of PROJECTIONS) await p.beforeRollback?.(t, chain, fromBlock);
}

/**
 * Rebuilds the chain-derived projections from the stored chain_events of `chain`, replaying
 * them in block/log order: clears escrows, disputes, chain evidence and channel accounts,
 * resets channel_pairs.settled to 0, then re-projects. With `ledger: true` it also deletes and
 * re-posts this chain's ledger groups (`<chain>:%`); the indexer's reorg path keeps them
 * (they were rolled back by block with ledger.rollbackFrom) and passes false.
 * Reputation anchors are not cleared here (see {@link forgetAnchorsFrom}); replay re-marks
 * epochs still unmarked.
 * @returns how many events were replayed
 */
export async function rebuildProjections(t: Queryable, opts: { chain?: string; ledger?: boolean } = {}): Promise<{ events: number }> {
  const chain = opts.chain ?? "evm";
  for (const p of PROJECTIONS) await p.reset(t);
  if (opts.ledger) await deleteLedgerGroups(t, chain);
  // The projection tables hold every chain's rows (tasks settle on their buyer's chain), so
  // every chain is replayed; only `chain`'s ledger groups are re-posted.
  const others = await indexerRepository.otherChains(t, chain);
  let events = 0;
  for (const c of [chain, ...others]) {
    const p = projectorFor(t, { chain: c, ledger: opts.ledger === true && c === chain });
    for await (const page of storedEvents(t, c)) {
      for (const ev of page) await p.apply(ev);
      await p.flush();
      events += page.length;
    }
  }
  return { events };
}
