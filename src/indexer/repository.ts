import type { Queryable } from "../db/index.js";
import type { ChainEvent } from "../settlement/events.js";

/**
 * SQL of the indexer (tables of migrations 003 and 004): `indexer_cursors` (the last applied
 * block per chain), `indexed_blocks` (recent applied blocks with their parent hashes, for reorg
 * detection) and `chain_events` (every decoded event, keyed by chain, tx hash and log index).
 */

export type Cursor = { number: number; hash: string };
export type BlockRow = { number: number; hash: string; parentHash: string; timestamp: number };

/** Rows per multi-row INSERT: keeps each statement's parameter arrays a few MB at most. */
const CHUNK = 10_000;

export const indexerRepository = {
  /** The chains with stored events other than `except`, by name. */
  async otherChains(q: Queryable, except: string): Promise<string[]> {
    return (await q.query<{ chain: string }>("SELECT DISTINCT chain FROM chain_events WHERE chain <> $1 ORDER BY chain", [except])).rows.map((r) => r.chain);
  },

  async cursor(q: Queryable, chain: string): Promise<Cursor | undefined> {
    const r = await q.query<{ block_number: string; block_hash: string }>("SELECT block_number::text, block_hash FROM indexer_cursors WHERE chain = $1", [chain]);
    const row = r.rows[0];
    return row ? { number: Number(row.block_number), hash: row.block_hash } : undefined;
  },

  async setCursor(t: Queryable, chain: string, c: Cursor): Promise<void> {
    await t.query(
      `INSERT INTO indexer_cursors (chain, block_number, block_hash, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (chain) DO UPDATE SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash, updated_at = now()`,
      [chain, c.number, c.hash],
    );
  },

  /**
   * Inserts events, skipping those already stored (idempotent on chain, tx hash, log index).
   * @returns the keys `<txHash>:<logIndex>` of the events that were new
   */
  async insertEvents(t: Queryable, events: readonly ChainEvent[]): Promise<Set<string>> {
    const fresh = new Set<string>();
    for (let i = 0; i < events.length; i += CHUNK) {
      const xs = events.slice(i, i + CHUNK);
      const r = await t.query<{ tx_hash: string; log_index: number }>(
        `INSERT INTO chain_events (chain, tx_hash, log_index, block_number, block_hash, contract, name, args, block_time)
         SELECT u.chain, u.tx, u.li, u.bn, u.bh, u.c, u.n, u.a::jsonb, to_timestamp(u.ts / 1000.0)
           FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::float8[])
             AS u(chain, tx, li, bn, bh, c, n, a, ts)
         ON CONFLICT (chain, tx_hash, log_index) DO NOTHING
         RETURNING tx_hash, log_index`,
        [
          xs.map((e) => e.chain),
          xs.map((e) => e.txHash),
          xs.map((e) => e.logIndex),
          xs.map((e) => e.blockNumber),
          xs.map((e) => e.blockHash),
          xs.map((e) => e.contract),
          xs.map((e) => e.name),
          xs.map((e) => JSON.stringify(e.args)),
          xs.map((e) => e.timestamp),
        ],
      );
      for (const row of r.rows) fresh.add(`${row.tx_hash}:${row.log_index}`);
    }
    return fresh;
  },

  /** Stores applied blocks and forgets those more than `keep` blocks below `upTo`. */
  async storeBlocks(t: Queryable, chain: string, blocks: readonly BlockRow[], upTo: number, keep: number): Promise<void> {
    if (blocks.length)
      await t.query(
        `INSERT INTO indexed_blocks (chain, number, hash, parent_hash, timestamp)
         SELECT $1, u.n, u.h, u.p, to_timestamp(u.ts / 1000.0) FROM unnest($2::bigint[], $3::text[], $4::text[], $5::float8[]) AS u(n, h, p, ts)
         ON CONFLICT (chain, number) DO UPDATE SET hash = EXCLUDED.hash, parent_hash = EXCLUDED.parent_hash, timestamp = EXCLUDED.timestamp`,
        [chain, blocks.map((b) => b.number), blocks.map((b) => b.hash), blocks.map((b) => b.parentHash), blocks.map((b) => b.timestamp)],
      );
    await t.query("DELETE FROM indexed_blocks WHERE chain = $1 AND number <= $2", [chain, upTo - keep]);
  },

  /** Stored blocks at or below `below`, newest first (reorg: where the chains agree). */
  async blocksBelow(q: Queryable, chain: string, below: number, limit: number): Promise<Cursor[]> {
    const r = await q.query<{ number: string; hash: string }>(
      // Ordered by the BIGINT column (an ORDER BY on the text alias would sort "9" above "16").
      "SELECT b.number::text AS number, b.hash FROM indexed_blocks b WHERE b.chain = $1 AND b.number <= $2 ORDER BY b.number DESC LIMIT $3",
      [chain, below, limit],
    );
    return r.rows.map((x) => ({ number: Number(x.number), hash: x.hash }));
  },

  /** Blocks that carried events, at or below `below`, newest first (a reorg deeper than the kept blocks). */
  async eventBlocksBelow(q: Queryable, chain: string, below: number, limit: number): Promise<Cursor[]> {
    const r = await q.query<{ block_number: string; block_hash: string }>(
      `SELECT DISTINCT block_number, block_hash FROM chain_events WHERE chain = $1 AND block_number <= $2
        ORDER BY block_number DESC LIMIT $3`,
      [chain, below, limit],
    );
    return r.rows.map((x) => ({ number: Number(x.block_number), hash: x.block_hash }));
  },

  /** Deletes the events and blocks above `ancestor` (reorg roll-back). */
  async deleteAbove(t: Queryable, chain: string, ancestor: number): Promise<number> {
    const r = await t.query("DELETE FROM chain_events WHERE chain = $1 AND block_number > $2", [chain, ancestor]);
    await t.query("DELETE FROM indexed_blocks WHERE chain = $1 AND number > $2", [chain, ancestor]);
    return r.rowCount ?? 0;
  },
};

type StoredEvent = {
  chain: string; contract: ChainEvent["contract"]; name: string; args: ChainEvent["args"]; block_number: string;
  block_hash: string; tx_hash: string; log_index: number; block_time: Date | null;
};

/** Reads a chain's stored events in block/log order, a page at a time (keyset pagination). */
export async function* storedEvents(t: Queryable, chain: string, pageSize = 10_000): AsyncGenerator<ChainEvent[]> {
  let after: [string, number] = ["-1", 0];
  for (;;) {
    const r = await t.query<StoredEvent>(
      // ORDER BY the BIGINT columns (e.block_number), not the text alias: "10" sorts before "9".
      `SELECT e.chain, e.contract, e.name, e.args, e.block_number::text AS block_number, e.block_hash, e.tx_hash, e.log_index, e.block_time FROM chain_events e
        WHERE e.chain = $1 AND (e.block_number, e.log_index) > ($2::bigint, $3::int) ORDER BY e.block_number, e.log_index LIMIT $4`,
      [chain, after[0], after[1], pageSize],
    );
    if (r.rows.length === 0) return;
    yield r.rows.map((x) => ({
      chain: x.chain, contract: x.contract, name: x.name, args: x.args, blockNumber: Number(x.block_number), blockHash: x.block_hash,
      txHash: x.tx_hash, logIndex: x.log_index, timestamp: x.block_time?.getTime() ?? 0,
    }));
    const last = r.rows[r.rows.length - 1]!;
    after = [last.block_number, last.log_index];
    if (r.rows.length < pageSize) return;
  }
}
