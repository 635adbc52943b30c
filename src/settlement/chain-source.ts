import type { ChainEvent } from "./events.js";

/** A block as the indexer keeps it for reorg detection (timestamp in ms since epoch). */
export type BlockRef = { number: number; hash: string; parentHash: string; timestamp: number };

/** The node refused a range (providers cap blocks or results per query): ask for fewer blocks. */
export class RangeRefused extends Error {}

/**
 * What the indexer (src/indexer) needs from a settlement chain: heads, block headers and the
 * chain's decoded settlement events. Chain-neutral: the EVM's is src/chain/evm/source.ts
 * (eth_getLogs over the deployment's contracts); a Substrate one would read finalized blocks'
 * events the same way. Hashes are lower-case hex.
 */
export type ChainSource = {
  /** The first block worth reading (the earliest deployment block). */
  readonly startBlock: number;
  /** Connects (called when the indexer starts). */
  open(): void;
  /** Releases the connection (called when the indexer stops). */
  close(): void;
  /** The node's head block number. */
  head(): Promise<number>;
  /** Headers by number, one round trip; null where the node has no such block. */
  headers(numbers: number[]): Promise<Map<number, BlockRef | null>>;
  /**
   * The settlement events of blocks `from`..`to` (inclusive), decoded, with the hash of the block
   * each came from; `timestamp` 0 when the node did not say (the indexer takes the header's).
   * Events the source cannot decode are skipped.
   * @param chain the name stored with each event
   * @throws RangeRefused when the node refuses the range as too large
   */
  events(from: number, to: number, chain: string): Promise<ChainEvent[]>;
};
