import { Counter, Gauge, type Registry } from "prom-client";
import type { AppContext } from "../context.js";
import { rollbackFrom } from "../ledger/store.js";
import { beforeRollback, projectorFor, rebuildProjections } from "./projections.js";
import { RangeRefused, type ChainSource } from "../settlement/chain-source.js";
import { indexerRepository as repo, type BlockRow, type Cursor } from "./repository.js";
import type { ChainEvent, EventRegistry } from "../settlement/events.js";

/**
 * The reorg-safe indexer of the EVM settlement contracts (TaskEscrow, DisputeResolver,
 * PaymentChannels, ReputationAnchor).
 *
 * - **Backfill** from the lowest deployment block in ranges of INDEXER_BATCH_BLOCKS, one
 *   `eth_getLogs` per range for the four addresses; then **follow** the head, polling every
 *   INDEXER_POLL_MS. Only blocks at or below head − CONFIRMATIONS are applied.
 * - **One transaction per range**: the raw events (chain_events, idempotent on chain, tx hash and
 *   log index), the applied blocks' hashes and parent hashes (indexed_blocks, the last
 *   INDEXER_KEEP_BLOCKS), the projections and ledger postings (src/indexer/projections.ts: one module per contract),
 *   the registry's handlers of the new events in block/log order, and the cursor
 *   (indexer_cursors). Handlers' after-commit callbacks run after the commit.
 * - **Reorgs**: a range is applied only if its first block's parent hash is the cursor's hash.
 *   Within INDEXER_KEEP_BLOCKS of the head every header is fetched and the parent-hash chain and
 *   the logs' block hashes are checked; deeper (backfill) only the range's boundary, so backfill
 *   costs one getLogs and two headers per range. On a mismatch the indexer walks back over the
 *   stored block hashes (then the blocks that carried events) to the last block the node still
 *   has, and in one transaction deletes the events, blocks and ledger entries (ledger.rollbackFrom)
 *   above it, rebuilds the projections by replaying the remaining events, runs the registry's
 *   roll-back handlers and moves the cursor back; the canonical blocks are then applied as usual.
 * - **One indexer per chain**: a Postgres session advisory lock (`pg_try_advisory_lock` on a
 *   dedicated connection, keyed by schema and chain). Without it the instance waits and retries.
 * - **Failures** (node down, Postgres down, a handler throwing): logged, retried with a bounded
 *   exponential backoff (INDEXER_POLL_MS × 2^n, at most 30 s); the loop never throws.
 */
export type Indexer = {
  /** Takes the lock if free (otherwise keeps trying in the background) and starts the loop. */
  start(): Promise<void>;
  /** Stops the loop after the step in flight, releases the lock (and the chain connection it owns). */
  stop(): Promise<void>;
  status(): IndexerStatus;
};

export type IndexerStatus = {
  chain: string;
  running: boolean;
  /** Whether this instance holds the chain's advisory lock (only the holder indexes). */
  holdsLock: boolean;
  /** The node's head block when last polled. */
  head: number | null;
  /** The last applied block (the cursor). */
  applied: number | null;
  /** head − applied, in blocks (≥ CONFIRMATIONS when caught up). */
  lag: number | null;
  confirmations: number;
  /** Events newly applied by this instance since it (last) started. */
  events: number;
  /** Reorgs this instance rolled back since it (last) started. */
  reorgs: number;
  /** The last failure, cleared by the next successful step. */
  lastError?: string;
};

export type IndexerOptions = {
  /** The chain's heads, headers and decoded settlement events. */
  source: ChainSource;
  registry: EventRegistry;
  /** Name of the chain in chain_events, indexer_cursors and ledger groups (default `evm`). */
  name?: string;
  /** Overrides of the config (tests and benchmarks). */
  confirmations?: number;
  batchBlocks?: number;
  pollMs?: number;
  keepBlocks?: number;
  /** How often an instance without the lock tries again, ms (default max(1 s, pollMs)). */
  lockRetryMs?: number;
  /** Runs once the indexer has stopped (the caller releases what it connected for the source). */
  onStop?: () => void;
};

type IndexerContext = Pick<AppContext, "config" | "log" | "db" | "metrics">;
type LockClient = Awaited<ReturnType<AppContext["db"]["connect"]>>;

/** The first block of a range does not descend from the cursor: the chain reorganised. */
class ReorgDetected extends Error {}
/** Two reads disagree (the node's chain changed between them): read the range again. */
class ChainMoved extends Error {}

const MAX_BACKOFF_MS = 30_000;

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * Creates an indexer for one chain (not started).
 * @param ctx config (CONFIRMATIONS, INDEXER_BATCH_BLOCKS, INDEXER_POLL_MS, INDEXER_KEEP_BLOCKS), logger, database, metrics
 * @param opts.source the chain's heads, headers and decoded events (src/chain/evm/source.ts for the EVM)
 * @param opts.registry the domains' event handlers
 * @throws Error when a followed contract is missing from the deployment
 */
export function createIndexer(ctx: IndexerContext, opts: IndexerOptions): Indexer {
  const { db, log, config } = ctx;
  const name = opts.name ?? "evm";
  const confirmations = opts.confirmations ?? config.CONFIRMATIONS;
  const batchBlocks = opts.batchBlocks ?? config.INDEXER_BATCH_BLOCKS;
  const pollMs = opts.pollMs ?? config.INDEXER_POLL_MS;
  const keep = Math.max(1, opts.keepBlocks ?? config.INDEXER_KEEP_BLOCKS);
  const lockRetryMs = opts.lockRetryMs ?? Math.max(1_000, pollMs);
  const registry = opts.registry;
  const source = opts.source;
  const lockKey = `aicp:indexer:${db.schema}:${name}`;
  const ilog = log.child({ component: "indexer", chain: name });

  const reg = ctx.metrics.registry;
  const headGauge = metric(reg, "aicp_indexer_head_block", () => new Gauge({ name: "aicp_indexer_head_block", help: "Head block of the chain when last polled", labelNames: ["chain"] as const, registers: [reg] }));
  const appliedGauge = metric(reg, "aicp_indexer_applied_block", () => new Gauge({ name: "aicp_indexer_applied_block", help: "Last block the indexer applied", labelNames: ["chain"] as const, registers: [reg] }));
  const eventsTotal = metric(reg, "aicp_indexer_events_total", () => new Counter({ name: "aicp_indexer_events_total", help: "Chain events applied", labelNames: ["chain"] as const, registers: [reg] }));
  const reorgsTotal = metric(reg, "aicp_indexer_reorgs_total", () => new Counter({ name: "aicp_indexer_reorgs_total", help: "Chain reorganisations rolled back", labelNames: ["chain"] as const, registers: [reg] }));

  const st: IndexerStatus = { chain: name, running: false, holdsLock: false, head: null, applied: null, lag: null, confirmations, events: 0, reorgs: 0 };
  let lockClient: LockClient | undefined;
  let cursor: Cursor | undefined;
  /** Blocks per range: INDEXER_BATCH_BLOCKS, halved while the node refuses that many. */
  let span = batchBlocks;
  /** The next range, being read while the current one is written (backfill). */
  let ahead: { from: number; to: number; parent: string; range: Promise<Range | Error> } | undefined;
  let stopping = false;
  let loopDone: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
    });

  // ------------------------------------------------------------------ chain reads

  const headers = (numbers: number[]): Promise<Map<number, BlockRow | null>> => source.headers(numbers);

  async function header(n: number): Promise<BlockRow | null> {
    return (await headers([n])).get(n) ?? null;
  }

  type Range = { from: number; to: number; toHash: string; events: ChainEvent[]; blocks: BlockRow[]; fetchMs: number };

  /**
   * Reads a range's logs and the headers it needs, and checks them: the first block must descend
   * from `parentHash` (else ReorgDetected); near the head every block must descend from the
   * previous one and every log must carry its block's hash (else ChainMoved).
   */
  async function fetchRange(from: number, to: number, near: boolean, parentHash: string): Promise<Range> {
    const t0 = performance.now();
    const wanted: number[] = [from, to];
    if (near) for (let n = from + 1; n < to; n++) wanted.push(n);
    const [found, hs] = await Promise.all([source.events(from, to, name), headers(wanted)]);
    // Sources that did not time their events: fetch the headers of the blocks that carry them.
    const untimed = [...new Set(found.filter((e) => e.timestamp === 0).map((e) => e.blockNumber))].filter((n) => !hs.has(n));
    if (untimed.length) for (const [n, h] of await headers(untimed)) hs.set(n, h);
    for (const [n, h] of hs) if (!h) throw new ChainMoved(`block ${n} is gone`);
    const at = (n: number) => hs.get(n) as BlockRow | undefined;
    if (at(from)!.parentHash !== parentHash) throw new ReorgDetected(`block ${from} does not descend from the cursor`);
    if (near) for (let n = from + 1; n <= to; n++) if (at(n)!.parentHash !== at(n - 1)!.hash) throw new ChainMoved(`block ${n} changed while reading`);
    const events: ChainEvent[] = [];
    for (const ev of found) {
      const h = at(ev.blockNumber);
      if (h && h.hash !== ev.blockHash) throw new ChainMoved(`logs of block ${ev.blockNumber} are from another fork`);
      events.push(h ? { ...ev, timestamp: h.timestamp } : ev);
    }
    events.sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);
    return { from, to, toHash: at(to)!.hash, events, blocks: [...hs.values()] as BlockRow[], fetchMs: Math.round(performance.now() - t0) };
  }

  // ------------------------------------------------------------------ database writes

  async function apply(r: Range): Promise<void> {
    const after: (() => Promise<void>)[] = [];
    let fresh = 0;
    const t0 = performance.now();
    const ms: Record<string, number> = {};
    const lap = (k: string, since: number) => (ms[k] = Math.round(performance.now() - since));
    await db.tx(async (t) => {
      let t1 = performance.now();
      const isNew = await repo.insertEvents(t, r.events);
      lap("events", t1);
      await repo.storeBlocks(t, name, r.blocks, r.to, keep);
      t1 = performance.now();
      const p = projectorFor(t, { chain: name });
      for (const ev of r.events) {
        if (!isNew.has(`${ev.txHash}:${ev.logIndex}`)) continue;
        fresh++;
        await p.apply(ev);
        const handlers = registry.handlersFor(ev);
        if (handlers.length === 0) continue;
        await p.flush(); // handlers read the projections
        for (const h of handlers) {
          try {
            const cb = await h(t, ev);
            if (cb) after.push(cb);
          } catch (err) {
            throw new Error(`handler of ${ev.contract}.${ev.name} (${ev.txHash}:${ev.logIndex}) failed: ${(err as Error).message}`, { cause: err });
          }
        }
      }
      await p.flush();
      lap("projections", t1);
      await repo.setCursor(t, name, { number: r.to, hash: r.toHash });
    });
    lap("total", t0);
    ilog.debug({ from: r.from, to: r.to, events: r.events.length, fresh, fetchMs: r.fetchMs, ms }, "range applied");
    cursor = { number: r.to, hash: r.toHash };
    st.applied = r.to;
    st.events += fresh;
    appliedGauge.set({ chain: name }, r.to);
    if (fresh) eventsTotal.inc({ chain: name }, fresh);
    for (const cb of after)
      try {
        await cb();
      } catch (err) {
        ilog.warn({ err }, "after-commit callback of an event handler failed");
      }
  }

  /** Finds the newest applied block the node still has and rolls everything above it back. */
  async function rollback(from: Cursor): Promise<void> {
    let ancestor: Cursor | undefined;
    for (const source of [repo.blocksBelow, repo.eventBlocksBelow]) {
      let below = from.number;
      while (!ancestor) {
        const stored = await source(db, name, below, 32);
        if (stored.length === 0) break;
        const canon = await headers(stored.map((s) => s.number));
        ancestor = stored.find((s) => canon.get(s.number)?.hash === s.hash);
        below = stored[stored.length - 1]!.number - 1;
      }
      if (ancestor) break;
    }
    if (!ancestor) {
      const n = source.startBlock - 1;
      const h = await header(n);
      if (!h) throw new ChainMoved(`block ${n} before the deployment is gone`);
      ancestor = { number: n, hash: h.hash };
    }
    if (ancestor.number === from.number && ancestor.hash === from.hash) return; // a transient disagreement
    const a = ancestor;
    let dropped = 0;
    await db.tx(async (t) => {
      await beforeRollback(t, name, a.number + 1);
      dropped = await repo.deleteAbove(t, name, a.number);
      await rollbackFrom(t, a.number + 1);
      await rebuildProjections(t, { chain: name });
      for (const h of registry.rollbackHandlers?.() ?? []) await h(t, { chain: name, fromBlock: a.number + 1 });
      await repo.setCursor(t, name, a);
    });
    cursor = a;
    ahead = undefined;
    st.applied = a.number;
    st.reorgs++;
    reorgsTotal.inc({ chain: name });
    appliedGauge.set({ chain: name }, a.number);
    ilog.warn({ cursor: from.number, ancestor: a.number, droppedEvents: dropped }, "chain reorganisation: rolled back to the common ancestor");
  }

  // ------------------------------------------------------------------ the loop

  /** Applies the next range if there is one; false when caught up. */
  async function step(): Promise<boolean> {
    const head = await source.head();
    st.head = head;
    headGauge.set({ chain: name }, head);
    if (!cursor) {
      cursor = await repo.cursor(db, name);
      if (!cursor) {
        // Nothing applied yet: start below the first deployment block.
        const n = source.startBlock - 1;
        const h = await header(n);
        if (!h) throw new ChainMoved(`block ${n} not found: is this the deployment's chain?`);
        cursor = { number: n, hash: h.hash };
      }
      st.applied = cursor.number;
    }
    const cur = cursor;
    st.lag = head - cur.number;
    const safe = head - confirmations;
    if (safe <= cur.number) {
      // Caught up: the cursor's block must still be the node's (else the chain got replaced).
      const h = head >= cur.number ? await header(cur.number) : null;
      if (h?.hash === cur.hash) return false;
      await rollback(cur);
      return true;
    }
    const from = cur.number + 1;
    const next = plan(from, head, safe);
    // Backfill is a pipeline: the next range is read while this one is written.
    const pre = ahead?.from === from && ahead.parent === cur.hash && ahead.to <= safe ? ahead : undefined;
    ahead = undefined;
    let range: Range;
    try {
      const r = pre ? await pre.range : await fetchRange(from, next.to, next.near, cur.hash);
      if (r instanceof Error) throw r;
      range = r;
    } catch (err) {
      if (err instanceof RangeRefused) {
        span = Math.max(1, Math.floor((next.to - from + 1) / 2));
        ilog.info({ from, to: next.to, span, err: err.message }, "the node refused the range; asking for fewer blocks");
        return true;
      }
      if (!(err instanceof ReorgDetected)) throw err;
      await rollback(cur);
      return true;
    }
    span = Math.min(batchBlocks, Math.ceil(span * 1.25));
    if (range.to < safe) {
      const after = plan(range.to + 1, head, safe);
      ahead = { from: range.to + 1, to: after.to, parent: range.toHash, range: fetchRange(range.to + 1, after.to, after.near, range.toHash).catch((e: Error) => e) };
    }
    await apply(range);
    st.lag = head - range.to;
    return true;
  }

  /**
   * The range starting at `from`: up to INDEXER_BATCH_BLOCKS blocks and not past `safe`; a range
   * below the last INDEXER_KEEP_BLOCKS blocks ends before them (far: boundary checks only), a
   * range within them is checked block by block (near).
   */
  function plan(from: number, head: number, safe: number): { to: number; near: boolean } {
    const nearFrom = head - keep + 1;
    const near = from >= nearFrom;
    return { near, to: near ? Math.min(safe, from + span - 1) : Math.min(safe, from + span - 1, nearFrom - 1) };
  }

  async function tryLock(): Promise<boolean> {
    const c = await db.connect();
    let ok = false;
    try {
      const r = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [lockKey]);
      ok = r.rows[0]?.ok === true;
    } catch (err) {
      c.release(err as Error);
      throw err;
    }
    if (!ok) {
      c.release();
      return false;
    }
    lockClient = c;
    st.holdsLock = true;
    cursor = undefined; // whoever held the lock before may have moved it
    ahead = undefined;
    c.on("error", (err: Error) => {
      // The session (and with it the lock) is gone: stop indexing until the lock is ours again.
      ilog.warn({ err: err.message }, "indexer lock connection failed; the lock is released");
      if (lockClient === c) {
        lockClient = undefined;
        st.holdsLock = false;
        c.release(err);
      }
    });
    return true;
  }

  async function unlock(): Promise<void> {
    const c = lockClient;
    if (!c) return;
    lockClient = undefined;
    st.holdsLock = false;
    try {
      await c.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [lockKey]);
      c.release();
    } catch (err) {
      c.release(err as Error);
    }
  }

  async function loop(): Promise<void> {
    let failures = 0;
    let waiting = false;
    while (!stopping) {
      try {
        if (!lockClient) {
          if (!(await tryLock())) {
            if (!waiting) ilog.info("another indexer holds this chain's lock; waiting");
            waiting = true;
            await sleep(lockRetryMs);
            continue;
          }
          waiting = false;
          ilog.info("indexer lock taken");
        }
        const progressed = await step();
        failures = 0;
        st.lastError = undefined;
        if (!progressed && !stopping) await sleep(pollMs);
      } catch (err) {
        if (stopping) break;
        failures++;
        cursor = undefined; // re-read from Postgres: the failed transaction may or may not have committed
        ahead = undefined;
        const message = (err as Error).message;
        st.lastError = message;
        const delay = err instanceof ChainMoved ? pollMs : Math.min(MAX_BACKOFF_MS, pollMs * 2 ** Math.min(failures, 16));
        ilog.warn({ err: message, failures, retryInMs: delay }, "indexer step failed; retrying");
        await sleep(delay);
      }
    }
  }

  return {
    async start() {
      if (st.running) return;
      stopping = false;
      Object.assign(st, { running: true, events: 0, reorgs: 0, lastError: undefined });
      source.open();
      try {
        if (await tryLock()) ilog.info("indexer lock taken");
      } catch (err) {
        ilog.warn({ err: (err as Error).message }, "indexer lock attempt failed; retrying in the background");
      }
      loopDone = loop();
    },
    async stop() {
      if (!st.running) return;
      stopping = true;
      wake?.();
      source.close();
      await loopDone;
      await unlock();
      st.running = false;
      opts.onStop?.();
    },
    status: () => ({ ...st }),
  };
}
