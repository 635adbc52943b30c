import { DelayedError, type Job, type Queue } from "bullmq";
import { Transaction, type FeeData, type TransactionRequest } from "ethers";
import type { AppContext } from "../../context.js";
import type { Db, Queryable } from "../../db/index.js";
import { AppError } from "../../errors.js";
import type { SettlementBackend, TxRequest } from "../../settlement/backend.js";
import type { EvmChain } from "./chain.js";
import { enqueue, outboxStore as outbox, type Intent, type OutboxHooks, type OutboxRow, type SenderHook } from "../../settlement/outbox-store.js";
import { QUEUE_NAMES, type ChainTxJob } from "../../queue/index.js";

/**
 * The one transaction sender of the coordinator: it executes the transactional outbox
 * (`chain_outbox`, see src/chain/outbox.ts) with the operator key.
 *
 * Life of a row: `pending` → (estimate gas; a deterministic revert ends it as `reverted`) →
 * `signed` (nonce, raw transaction and hash stored BEFORE broadcasting) → `sent` → `confirmed`
 * (receipt with status 1, `CONFIRMATIONS` blocks deep) or `reverted` (status 0). Rows that cannot
 * become a transaction at all (malformed payload, more gas than TX_MAX_GAS) end as `failed`.
 *
 * Why it cannot send an intent twice: the intent key is unique in the outbox; a row gets its
 * nonce and signature once, and everything after a crash re-broadcasts that same signed
 * transaction, so at most one transaction per intent can ever be mined (a second one would need
 * a second signature). Nonces are the operator's pending nonce on the chain or one above the
 * highest nonce of an open row in Postgres, whichever is higher, so a restart neither reuses nor
 * skips one. One process sends at a time (a Postgres advisory lock), one row at a time, in id
 * order.
 *
 * Driving it: a BullMQ queue `chain-tx` with one job per row (`tx-<outboxId>`, so duplicates
 * collapse); a job sends the pending rows (its own among them, in id order), then waits for its
 * row to end, re-checking every poll interval (delayed, without using up attempts); the job of the
 * earliest sent row polls the chain for receipts and confirms the sent rows in nonce order.
 * Network errors retry with BullMQ's exponential backoff; a sweep (every second by default) re-creates the job
 * of every open row (so nothing depends on a Redis job surviving) and `LISTEN`s for intents
 * committed by {@link enqueue}, which queue at once.
 */
export type TxSender = OutboxHooks & {
  readonly backend: SettlementBackend<TxRequest>;
  /**
   * Records an intent in the caller's transaction (see `enqueueIntent`); the sender is told when
   * that transaction commits (Postgres NOTIFY), so the transaction goes out at once.
   * @returns the outbox id, and whether this call created it (false: the intent already existed, a no-op)
   */
  enqueue(t: Queryable, intent: Intent): Promise<{ id: string; created: boolean }>;
  /** Queues the job of an outbox row (idempotent). */
  nudge(outboxId: string): Promise<void>;
  /** The outbox backlog and the chain's health, for `/ready`. */
  status(): Promise<SenderStatus>;
  /**
   * Starts this process's sending worker (concurrency 1), the sweep and the NOTIFY listener.
   * @returns a function that stops them, letting the job in progress finish
   */
  start(): () => Promise<void>;
};


export type SenderStatus = {
  chain: string;
  /** Whether the RPC answered just now. */
  chainOk: boolean;
  head: number | null;
  /** Open rows: pending + signed + sent. */
  backlog: number;
  pending: number;
  signed: number;
  sent: number;
  /** Creation time of the oldest open row (ISO 8601). */
  oldestOpenAt: string | null;
  /** The last error this process's sender met, or the last recorded on an open row. */
  lastError: string | null;
};

export type SenderOptions = {
  /** How often a job re-checks its row while waiting (receipt, confirmations), ms. Default INDEXER_POLL_MS. */
  pollMs?: number;
  /** How often the sweep re-queues open rows, ms. Default 1 000. */
  sweepMs?: number;
  /** A sent transaction the node no longer knows is re-broadcast after this long, ms. Default 10 × pollMs, at least 1 000. */
  rebroadcastAfterMs?: number;
  /** Timeout of one RPC call, ms. Default 10 000. */
  rpcTimeoutMs?: number;
};

const OPEN = ["pending", "signed", "sent"] as const;
const FINAL = new Set(["confirmed", "reverted", "failed"]);

type Client = Awaited<ReturnType<Db["connect"]>>;

/**
 * Creates the sender of `backend`'s chain (rows whose `chain` column is `backend.chain`).
 * @param chain the EVM connection whose operator wallet signs and whose provider broadcasts
 */
export function createTxSender(ctx: AppContext, backend: SettlementBackend<TxRequest>, chain: EvmChain, opts: SenderOptions = {}): TxSender {
  const { db, log, config } = ctx;
  const queue = ctx.queues.chainTx as Queue<ChainTxJob>;
  const pollMs = opts.pollMs ?? config.INDEXER_POLL_MS;
  const sweepMs = opts.sweepMs ?? 1_000;
  const rebroadcastAfterMs = opts.rebroadcastAfterMs ?? Math.max(10 * pollMs, 1_000);
  const rpcTimeoutMs = opts.rpcTimeoutMs ?? 10_000;
  const name = backend.chain;
  const operator = chain.operator.address;
  const lockKey = `${db.schema}.aicp.sender.${name}`;
  const channel = `aicp_outbox_${db.schema}`;
  const hooks = { confirmed: new Map<string, SenderHook[]>(), reverted: new Map<string, SenderHook[]>() };
  let lastError: { message: string; at: number } | null = null;

  const noteError = (message: string) => {
    lastError = { message, at: Date.now() };
  };

  /** One RPC call with a timeout (ethers' own is five minutes). */
  async function rpc<T>(what: string, f: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        f(),
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new Error(`${what}: no answer in ${rpcTimeoutMs} ms`)), rpcTimeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  const p = chain.provider;

  async function loadRow(id: string): Promise<OutboxRow | undefined> {
    return outbox.get(db, id);
  }

  /**
   * Ends a row (confirmed, reverted, failed) and runs the hooks in the same transaction.
   * @param from the statuses the row may be in (a guard against a concurrent change)
   */
  async function finish(row: OutboxRow, status: "confirmed" | "reverted" | "failed", from: string[], extra: { error?: string | null; block?: number; gasUsed?: bigint } = {}) {
    await db.tx(async (t) => {
      const done = await outbox.end(t, row.id, status, from, extra);
      if (!done) return;
      for (const h of (status === "confirmed" ? hooks.confirmed : hooks.reverted).get(done.kind) ?? []) await h(t, done);
    });
    const level = status === "confirmed" ? "info" : "warn";
    log[level]({ outboxId: row.id, intent: row.intent, kind: row.kind, status, txHash: row.tx_hash, error: extra.error }, `chain transaction ${status}`);
  }

  /** Back to `pending` (new nonce, new signature): only when this row's transaction can never be mined. */
  async function resetToPending(row: OutboxRow, why: string) {
    await outbox.resetToPending(db, row.id, why);
    log.warn({ outboxId: row.id, intent: row.intent, nonce: row.nonce, txHash: row.tx_hash }, why);
  }

  /** Whether a transaction of ours (signed or sent) is not mined yet: a revert at estimation may then be an ordering artefact. */
  async function inFlight(): Promise<boolean> {
    const max = await outbox.maxOpenNonce(db, name);
    if (max === null) return false;
    const mined = await rpc("getTransactionCount", () => p.getTransactionCount(operator, "latest"));
    return BigInt(mined) <= BigInt(max);
  }

  /** The next nonce: the chain's pending count, or above every open row's nonce if higher (mempools may forget). */
  async function nextNonce(): Promise<number> {
    const [onChain, max] = await Promise.all([rpc("getTransactionCount", () => p.getTransactionCount(operator, "pending")), outbox.maxOpenNonce(db, name)]);
    const fromDb = max === null ? 0 : Number(max) + 1;
    return Math.max(onChain, fromDb);
  }

  /** Whether the node has this transaction (mempool or mined). */
  async function known(hash: string): Promise<boolean> {
    const [tx, receipt] = await Promise.all([rpc("getTransaction", () => p.getTransaction(hash)), rpc("getTransactionReceipt", () => p.getTransactionReceipt(hash))]);
    return tx !== null || receipt !== null;
  }

  /** Broadcasts a signed row's raw transaction (again) and marks it sent. */
  async function broadcast(row: OutboxRow): Promise<"sent" | "reset"> {
    try {
      await rpc("sendRawTransaction", () => p.send("eth_sendRawTransaction", [row.raw_tx]));
    } catch (err) {
      await outbox.noteError(db, row.id, `broadcast failed: ${(err as Error).message}`.slice(0, 2000));
      // Sent before a crash, or our answer was lost on the way back: the node knows it already.
      if (!(await known(row.tx_hash!))) {
        const code = (err as { code?: string }).code;
        // A gap below our nonce that no open row of ours will fill (a reorg dropped our mined
        // transactions; the outbox had them confirmed): this one is signed again at the chain's nonce.
        if (/nonce too high/i.test((err as Error).message ?? "")) {
          const pending = await rpc("getTransactionCount", () => p.getTransactionCount(operator, "pending"));
          if (BigInt(row.nonce!) > BigInt(pending) && !(await outbox.openBelow(db, name, row.nonce!))) {
            await resetToPending(row, `nonce ${row.nonce} is above the chain's ${pending} with nothing of ours in between (a reorg dropped our transactions); signing again`);
            return "reset";
          }
        }
        if (code === "NONCE_EXPIRED") {
          const mined = await rpc("getTransactionCount", () => p.getTransactionCount(operator, "latest"));
          if (BigInt(mined) > BigInt(row.nonce!) && !(await known(row.tx_hash!))) {
            await resetToPending(row, `nonce ${row.nonce} was used by another transaction of the operator; signing again`);
            return "reset";
          }
        }
        throw err;
      }
    }
    await outbox.markSent(db, row.id);
    log.info({ outboxId: row.id, intent: row.intent, nonce: row.nonce, txHash: row.tx_hash }, "chain transaction sent");
    return "sent";
  }

  /** What one pass of `advance` (under the lock) fetches once: the next nonce and the fee data. */
  type Pass = { nonce?: number; fees?: FeeData };

  /** Estimates, signs (stored first) and broadcasts one pending row. */
  async function sendPending(row: OutboxRow, pass: Pass): Promise<"sent" | "ended" | "wait"> {
    let tx: TxRequest;
    try {
      tx = backend.buildTx(row.kind, row.payload);
    } catch (err) {
      if (err instanceof AppError && !err.retryable) {
        await finish(row, "failed", ["pending"], { error: `${err.code}: ${err.message}` });
        return "ended";
      }
      throw err;
    }
    let estimate: bigint;
    try {
      // Against the pending state, so that our own transactions still in the mempool count.
      estimate = BigInt(await rpc("estimateGas", () => p.send("eth_estimateGas", [{ from: operator, to: tx.to, data: tx.data, value: `0x${tx.value.toString(16)}` }, "pending"])));
    } catch (err) {
      const reason = backend.revertReason(err);
      if (reason === undefined) throw err;
      // A revert is deterministic only against a state that includes all our earlier transactions.
      if (await inFlight()) return "wait";
      await finish(row, "reverted", ["pending"], { error: reason });
      return "ended";
    }
    const max = BigInt(config.TX_MAX_GAS);
    if (estimate > max) {
      await finish(row, "failed", ["pending"], { error: `TX_MAX_GAS: the transaction needs ${estimate} gas, above the limit of ${max}` });
      return "ended";
    }
    const gasLimit = (estimate * 125n) / 100n < max ? (estimate * 125n) / 100n : max;
    // Under the lock nobody else signs, so within a pass the nonce simply counts up.
    if (pass.nonce === undefined || pass.fees === undefined) [pass.nonce, pass.fees] = await Promise.all([nextNonce(), rpc("getFeeData", () => p.getFeeData())]);
    const { nonce, fees } = pass;
    const req: TransactionRequest = { to: tx.to, data: tx.data, value: tx.value, nonce, gasLimit, chainId: backend.chainId };
    if (fees.maxFeePerGas !== null && fees.maxPriorityFeePerGas !== null) Object.assign(req, { type: 2, maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas });
    else Object.assign(req, { type: 0, gasPrice: fees.gasPrice });
    const raw = await chain.operator.signTransaction(req);
    const hash = Transaction.from(raw).hash!;
    // Stored before it leaves the process: after a crash the same transaction goes out, never a second one.
    const signed = await outbox.markSigned(db, row.id, { nonce, raw, hash });
    if (!signed) return "wait";
    if ((await broadcast(signed)) !== "sent") return "wait";
    pass.nonce = nonce + 1;
    return "sent";
  }

  /**
   * Brings the outbox forward: re-broadcasts signed rows (a crash or a lost answer between
   * signing and sending), then sends pending rows in id order (at most `batch` per pass),
   * stopping at the first that must wait.
   */
  async function advance(batch = 100) {
    for (const row of await outbox.byStatus(db, name, "signed")) await broadcast(row);
    const pass: Pass = {};
    for (const row of await outbox.byStatus(db, name, "pending", batch)) if ((await sendPending(row, pass)) === "wait") return;
  }

  /** Follows a sent row: receipt and depth → final; missing from the node → re-broadcast. */
  async function track(row: OutboxRow, pass: { head?: number } = {}): Promise<string> {
    const receipt = await rpc("getTransactionReceipt", () => p.getTransactionReceipt(row.tx_hash!));
    if (receipt) {
      if (config.CONFIRMATIONS > 0) {
        pass.head ??= await rpc("getBlockNumber", () => p.getBlockNumber());
        if (pass.head - receipt.blockNumber < config.CONFIRMATIONS) return "sent";
      }
      // Rows end in nonce order, so the hooks see the chain's order (award before deliver…).
      if (await outbox.openBelow(db, name, row.nonce!)) return "sent";
      const ok = receipt.status === 1;
      await finish(row, ok ? "confirmed" : "reverted", ["sent"], {
        block: receipt.blockNumber,
        gasUsed: receipt.gasUsed,
        error: ok ? null : `reverted on-chain in block ${receipt.blockNumber} (status 0)`,
      });
      return ok ? "confirmed" : "reverted";
    }
    if (await rpc("getTransaction", () => p.getTransaction(row.tx_hash!))) return "sent";
    if (row.sent_at && Date.now() - row.sent_at.getTime() < rebroadcastAfterMs) return "sent";
    const mined = await rpc("getTransactionCount", () => p.getTransactionCount(operator, "latest"));
    if (BigInt(mined) <= BigInt(row.nonce!)) {
      // Dropped from the mempool (or the node restarted): the same signed transaction again.
      try {
        await rpc("sendRawTransaction", () => p.send("eth_sendRawTransaction", [row.raw_tx]));
      } catch (err) {
        if (!(await known(row.tx_hash!))) throw err;
      }
      await outbox.rebroadcast(db, row.id);
      log.warn({ outboxId: row.id, txHash: row.tx_hash, nonce: row.nonce }, "chain transaction missing from the node; re-broadcast");
      return "sent";
    }
    // The nonce is used but not by our transaction (nor is ours known): ours can never be mined.
    if (!(await known(row.tx_hash!))) await resetToPending(row, `nonce ${row.nonce} was used by another transaction of the operator; signing again`);
    return "pending";
  }

  /**
   * Follows the sent rows in nonce order, ending each that is deep enough; stops at the first
   * still waiting (a later nonce cannot be mined before it, nor end before it).
   */
  async function trackSent(batch = 100) {
    const pass = {};
    for (const row of await outbox.byStatus(db, name, "sent", batch)) if (!FINAL.has(await track(row, pass))) return;
  }

  const BUSY = Symbol("busy");

  /** Runs `f` holding the sender's advisory lock (one sending process per chain and schema); BUSY if another holds it. */
  async function withLock<T>(f: () => Promise<T>): Promise<T | typeof BUSY> {
    const client: Client = await db.connect();
    let broken: Error | undefined;
    try {
      const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS ok", [lockKey]);
      if (!r.rows[0]?.ok) return BUSY;
      try {
        return await f();
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [lockKey]).catch((err: Error) => {
          broken = err;
        });
      }
    } finally {
      // A client whose unlock failed is destroyed, which drops its session lock.
      client.release(broken);
    }
  }

  async function later(job: Job<ChainTxJob>, token: string | undefined, ms: number): Promise<never> {
    await job.moveToDelayed(Date.now() + ms, token);
    throw new DelayedError();
  }

  async function processJob(job: Job<ChainTxJob>, token?: string): Promise<string> {
    const id = job.data.outboxId;
    let result: string | typeof BUSY;
    try {
      result = await withLock(async () => {
        try {
          await advance();
        } catch (err) {
          // New rows cannot go out (e.g. "nonce too high": a reorg or a mempool dropped one of
          // ours): the sent rows are still followed, so the dropped one is re-broadcast and the
          // gap closes before the retry.
          await trackSent().catch((e: Error) => log.warn({ err: e.message }, "chain transaction sender: tracking failed too"));
          throw err;
        }
        let row = await loadRow(id);
        if (!row) return "missing";
        if (row.chain !== name) return "other-chain"; // another chain's sender follows it (one NOTIFY channel)
        if (row.status === "sent") {
          // One job polls the chain for all sent rows: the one of the earliest (others wait on the database).
          if ((await outbox.firstSent(db, name)) === row.id) {
            await trackSent();
            row = (await loadRow(id))!;
          }
        }
        return row.status;
      });
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      const message = (err as Error).message ?? String(err);
      noteError(message);
      log.warn({ outboxId: id, err: message }, "chain transaction sender: will retry");
      throw err; // a non-retryable AppError ends the job (src/queue maps it)
    }
    if (result !== BUSY) lastError = null;
    if (result === "missing" || result === "other-chain" || (typeof result === "string" && FINAL.has(result))) return result;
    return later(job, token, pollMs);
  }

  async function nudge(outboxId: string) {
    await queue.add("tx", { outboxId }, { jobId: `tx-${outboxId}` });
  }

  /** Makes sure an open row has a live job: re-creates a lost one, retries a failed one. */
  async function ensureJob(outboxId: string) {
    const job = await queue.getJob(`tx-${outboxId}`);
    if (!job) return nudge(outboxId);
    const state = await job.getState();
    if (state === "failed") await job.retry("failed");
    else if (state === "completed" || state === "unknown") {
      await job.remove().catch(() => undefined);
      await nudge(outboxId);
    }
  }

  return {
    backend,

    enqueue: (t, intent) => enqueue(t, { ...intent, chain: intent.chain ?? name }),

    nudge,

    onConfirmed(kind, handler) {
      hooks.confirmed.set(kind, [...(hooks.confirmed.get(kind) ?? []), handler]);
    },

    onReverted(kind, handler) {
      hooks.reverted.set(kind, [...(hooks.reverted.get(kind) ?? []), handler]);
    },

    async status() {
      const [counts, head] = await Promise.all([
        outbox.backlog(db, name),
        backend.ping(1_500).then(() => backend.headBlock()).catch(() => null),
      ]);
      const by = Object.fromEntries(counts.rows.map((r) => [r.status, r]));
      const n = (s: string) => by[s]?.n ?? 0;
      const oldest = counts.rows.reduce<Date | null>((a, r) => (a === null || r.oldest < a ? r.oldest : a), null);
      return {
        chain: name,
        chainOk: head !== null,
        head,
        backlog: n("pending") + n("signed") + n("sent"),
        pending: n("pending"),
        signed: n("signed"),
        sent: n("sent"),
        oldestOpenAt: oldest?.toISOString() ?? null,
        lastError: lastError?.message ?? counts.rows.find((r) => r.last_error)?.last_error ?? null,
      };
    },

    start() {
      const worker = ctx.queues.worker<ChainTxJob>(QUEUE_NAMES.chainTx, processJob, 1);
      worker.on("failed", (job, err) => log.warn({ jobId: job?.id, err: err.message }, "chain transaction job failed"));
      let listener: Client | undefined;
      let stopped = false;

      async function listen() {
        if (listener || stopped) return;
        const c = await db.connect();
        const drop = (err?: Error) => {
          if (listener !== c) return;
          listener = undefined;
          c.release(err ?? new Error("listener closed"));
        };
        c.on("notification", (msg) => {
          if (msg.channel === channel && msg.payload) void nudge(msg.payload).catch((err: Error) => log.warn({ err: err.message }, "cannot queue chain transaction"));
        });
        c.on("error", drop);
        c.on("end", () => drop());
        listener = c;
        // The schema name is validated by the config (lower-case identifier), so quoting is safe.
        await c.query(`LISTEN "${channel}"`).catch((err: Error) => drop(err));
      }

      let sweeping = false;
      async function sweep() {
        if (sweeping || stopped) return;
        sweeping = true;
        try {
          await listen();
          for (const row of await outbox.open(db, name, OPEN)) await ensureJob(row.id);
        } catch (err) {
          log.warn({ err: (err as Error).message }, "chain outbox sweep failed");
        } finally {
          sweeping = false;
        }
      }
      void sweep();
      const timer = setInterval(() => void sweep(), sweepMs);

      return async () => {
        stopped = true;
        clearInterval(timer);
        await worker.close();
        const c = listener;
        listener = undefined;
        // Destroyed rather than returned to the pool: it carries our LISTEN and handlers.
        c?.release(true);
      };
    },
  };
}
