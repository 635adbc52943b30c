import { unrecoverableOnFinal } from "../queue/index.js";
import { Queue, Worker, type Job } from "bullmq";
import { Counter, Histogram } from "prom-client";
import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { enqueue, type OutboxHooks } from "../settlement/outbox-store.js";
import type { OutboxRow } from "../settlement/outbox-store.js";
import type { ChainEvent, EventRegistry } from "../settlement/events.js";
import { postMovements, totalOf } from "../ledger/store.js";
import { accountKey } from "./repository.js";
import { chainOfAccount, type SettlementChain } from "../protocol/settlement.js";
import { settlementStore as store, type Candidate } from "./settlement-store.js";
import { taskTransitions } from "../tasks/transitions.js";
import type { ChannelService } from "./service.js";
import { createDeliveryClaims } from "./claims.js";

/**
 * Batch settlement of accepted vouchers (issue 5 "Batch settlement") and the watchtower.
 *
 * A repeatable BullMQ job (every SETTLE_INTERVAL_MS, and at once when SETTLE_MAX_PAIRS vouchers
 * were accepted since the last batch, or when a payer with a pending withdrawal pays) takes the
 * latest accepted voucher of each pair whose cumulative amount is above what settled, and in
 * ONE database transaction records a `channels.settleBatch` intent in the transactional outbox
 * (intent `channels.settle:<channel_settlements.id>`), marks those vouchers `settling` and the
 * older accepted ones of the same pairs `superseded`. The sender sends the intent once.
 *
 * Vouchers become `settled` only when the indexer applies the confirmed `VoucherSettled` event
 * (the handlers below run inside its transaction); their tasks become `settled`. An entry the
 * contract skipped: `Stale` (a later voucher of the pair settled first) → `superseded`;
 * `Overdrawn` → back to `accepted` for a later batch; `BadSignature` → `skipped`, logged and
 * counted (it verified here, so it is a bug). A batch whose transaction reverted (or could not be
 * sent) returns its vouchers to `accepted`. A crash anywhere in between neither loses a voucher
 * (it stays `accepted` or `settling` in Postgres) nor settles one twice (one outbox row per
 * batch, sent once; the contract pays a pair only above its settled amount).
 *
 * Watchtower: `WithdrawalRequested` records, in the indexer's transaction, a batch of every
 * outstanding voucher of that payer and token, long before the challenge period ends; a payer
 * with a pending withdrawal also goes first in every later batch.
 */
export type ChannelSettlement = {
  /**
   * Records one settleBatch now (at most SETTLE_MAX_PAIRS pairs).
   * @returns the number of vouchers in it (0: nothing to settle, or another batcher is busy)
   */
  runOnce(reason: "interval" | "pairs" | "watchtower", only?: { payer: string; token: string }): Promise<number>;
  /** Asks a worker to run a batch now (deduplicated). */
  kick(reason: "pairs" | "watchtower"): Promise<void>;
  /** Starts this process's settlement worker and the repeatable job; returns a stopper. */
  start(): () => Promise<void>;
  close(): Promise<void>;
};

export const SETTLE_QUEUE = "channel-settle";

/**
 * The gas a settleBatch may need, by entry (measured with `npm run bench:settle` on
 * PaymentChannels, rounded up): a base per transaction, per entry, and the extra of a first
 * write to a storage slot (a pair's first settlement; a payee's claimable balance from zero).
 * A batch is cut so that its estimate, with the sender's 25 % headroom, stays within
 * TX_MAX_GAS and EIP-7825's per-transaction cap of 2^24 gas; an oversized batch would fail at
 * every attempt.
 */
const GAS = { base: 60_000, entry: 16_000, newPair: 17_500, newCredit: 22_500, cap: 16_777_216, headroom: 1.25 };
type SettleJob = { reason: "interval" | "pairs" | "watchtower" };

/** The contract's SkipReason enum (IPaymentChannels). */
const SKIP = ["BadSignature", "Stale", "Overdrawn"] as const;


/**
 * @param deps.channels told about accepted vouchers (to settle sooner)
 * @param deps.events the indexer's registry: VoucherSettled, VoucherSkipped and
 *   WithdrawalRequested handlers and a reorg roll-back handler are registered on it
 * @param deps.sender the outbox sender: its revert/confirm hooks of `channels.settleBatch`
 */
/**
 * @param deps.chains the chains with a sender (default the EVM): a batch holds one chain's pairs
 *   (a Substrate payer's, 32-byte, settle through its custody account)
 */
export function createChannelSettlement(ctx: AppContext, deps: { channels: ChannelService; events?: EventRegistry; sender?: OutboxHooks; chains?: readonly SettlementChain[] }): ChannelSettlement {
  const chains = deps.chains ?? ["evm"];
  const { db, log, config } = ctx;
  const registry = ctx.metrics.registry;
  const settledTotal = new Counter({ name: "aicp_channel_vouchers_settled_total", help: "Vouchers confirmed settled on-chain", registers: [registry] });
  const skippedTotal = new Counter({ name: "aicp_channel_vouchers_skipped_total", help: "settleBatch entries the contract skipped, by reason", labelNames: ["reason"] as const, registers: [registry] });
  const batchesTotal = new Counter({ name: "aicp_channel_settle_batches_total", help: "settleBatch intents recorded, by reason", labelNames: ["reason"] as const, registers: [registry] });
  const latency = new Histogram({
    name: "aicp_channel_voucher_to_settlement_seconds",
    help: "From a voucher's acceptance to its confirmed settlement",
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 300, 900],
    registers: [registry],
  });
  const queue = new Queue<SettleJob>(SETTLE_QUEUE, { connection: ctx.redis, prefix: config.QUEUE_PREFIX, defaultJobOptions: { attempts: 5, backoff: { type: "exponential", delay: 500 }, removeOnComplete: true, removeOnFail: 1000 } });
  const lockKey = `${db.schema}.aicp.channels.settle`;
  /** Pairs with a voucher accepted (in this process) since the last batch. */
  const pendingPairs = new Set<string>();
  // Shrinks (halves, down to 1/16) after a batch failed for gas, grows back after confirmations.
  let gasFactor = 1;
  const claims = createDeliveryClaims(ctx, { events: deps.events, sender: deps.sender });

  /** Builds and records one batch of `chain`'s payers inside `t`; returns its size (0 if busy or nothing to do). */
  async function record(t: Queryable, reason: SettleJob["reason"], chain: SettlementChain, only?: { payer: string; token: string }): Promise<number> {
    // One batcher at a time (per schema); a busy lock means another one is at it right now.
    if (!(await store.tryLock(t, lockKey))) return 0;
    const max = config.SETTLE_MAX_PAIRS;
    const r = await store.candidates(t, max * 4, chain, only);
    if (r.length === 0) return 0;
    // What batches in flight will still draw from each deposit.
    const inflight = await store.inflight(t);
    const room = new Map<string, bigint>(inflight.map((x) => [accountKey(x.payer, x.token), -BigInt(x.s)]));
    // Payees with a claimable balance on-chain (per the ledger): crediting them again is cheaper.
    const credited = await store.creditedPayees(t, [...new Set(r.map((c) => `channel-claimable:${c.payee}`))]);
    const warm = new Set(credited.map((x) => `${x.account.slice("channel-claimable:".length)}|${x.token}`));
    const budget = (Math.min(config.TX_MAX_GAS, GAS.cap) / GAS.headroom) * gasFactor;
    let gas = GAS.base;
    const chosen: Candidate[] = [];
    for (const c of r) {
      if (chosen.length >= max) break;
      const increase = BigInt(c.cumulative) - BigInt(c.settled);
      if (increase <= 0n) continue; // settled by someone else already; the event handler marks it
      const k = accountKey(c.payer, c.token);
      const left = BigInt(c.deposit) + (room.get(k) ?? 0n);
      // The contract would skip it as Overdrawn: leave it accepted until the deposit covers it.
      if (increase > left) continue;
      const credit = `${c.payee}|${c.token}`;
      const cost = GAS.entry + (BigInt(c.settled) === 0n ? GAS.newPair : 0) + (warm.has(credit) ? 0 : GAS.newCredit);
      if (gas + cost > budget) break; // the rest go in the next batch
      gas += cost;
      warm.add(credit);
      room.set(k, (room.get(k) ?? 0n) - increase);
      chosen.push(c);
    }
    log.debug({ candidates: r.length, chosen: chosen.length, gas, budget, reason }, "voucher settlement batch built");
    if (chosen.length === 0) return 0;
    // Entries sharing a payer and token next to each other: the contract then touches each
    // deposit slot once (see encodeSettleBatch).
    chosen.sort((a, b) => (a.payer === b.payer ? (a.token === b.token ? (a.payee < b.payee ? -1 : 1) : a.token < b.token ? -1 : 1) : a.payer < b.payer ? -1 : 1));
    const id = await store.insertBatch(t, reason, chosen.length);
    const { id: outboxId } = await enqueue(t, {
      intent: `channels.settle:${id}`,
      kind: "channels.settleBatch",
      payload: { vouchers: chosen.map((c) => ({ payer: c.payer, payee: c.payee, token: c.token, cumulative: c.cumulative, signature: c.signature })) },
      chain,
    });
    await store.linkBatch(t, id, outboxId);
    await store.markSettling(t, chosen, id, outboxId);
    batchesTotal.inc({ reason });
    log.info({ settlement: id, outboxId, pairs: chosen.length, reason }, "voucher settlement batch recorded");
    return chosen.length;
  }

  /** One batch per chain (a batch is one chain's transaction), each in its own database transaction. */
  async function runOnce(reason: SettleJob["reason"], only?: { payer: string; token: string }) {
    let n = 0;
    for (const chain of only ? chains.filter((c) => c === chainOfAccount(only.payer)) : chains) n += await db.tx((t) => record(t, reason, chain, only));
    return n;
  }

  async function kick(reason: "pairs" | "watchtower") {
    await queue.add("settle", { reason }, { jobId: `settle-now-${reason}` });
  }

  // The batcher is told about accepted vouchers (in this process): once SETTLE_MAX_PAIRS pairs
  // wait, or a payer whose deposit is about to leave pays, a batch goes out now instead of at
  // the interval.
  deps.channels.onAccepted((pairs, urgent) => {
    for (const p of pairs) pendingPairs.add(p);
    if (urgent) void kick("watchtower").catch((err) => log.warn({ err }, "settlement kick failed"));
    else if (pendingPairs.size >= config.SETTLE_MAX_PAIRS) {
      pendingPairs.clear();
      void kick("pairs").catch((err) => log.warn({ err }, "settlement kick failed"));
    }
  });

  // --- chain events, applied by the indexer inside its transaction after the confirmation depth ---
  const str = (v: unknown) => String(v).toLowerCase();

  async function onSettled(t: Queryable, ev: ChainEvent) {
    const payer = str(ev.args["payer"]);
    const payee = str(ev.args["payee"]);
    const token = str(ev.args["token"]);
    const cumulative = String(ev.args["cumulativeAmount"]);
    const increase = BigInt(String(ev.args["increase"]));
    const done = await store.settled(t, { payer, payee, token, cumulative });
    await taskTransitions.settledByVouchers(t, { payer, payee, token, cumulative });
    // Ledger: the indexer posts channel-deposit:<payer> → channel-claimable:<payee> for every
    // VoucherSettled (src/channels/projection.ts); what this coordinator had moved out of the
    // deposit as owed for the pair goes back to the deposit, so the payee is credited once. A
    // settlement above what was owed here (a voucher this coordinator never accepted, settled by
    // someone else) draws only on the deposit. Tagged with the block: a reorg rolls it back.
    const owedNow = await totalOf(t, `channel-owed:${payer}:${payee}`, token);
    const back = owedNow <= 0n ? 0n : owedNow < increase ? owedNow : increase;
    await postMovements(t, [
      {
        group: `channel-owed-settled:${ev.chain}:${ev.txHash}:${ev.logIndex}`,
        token,
        kind: "channel.owed-settled",
        block: ev.blockNumber,
        entries: [
          { account: `channel-owed:${payer}:${payee}`, amount: -back },
          { account: `channel-deposit:${payer}`, amount: back },
        ],
      },
    ]);
    for (const v of done)
      if (v.status === "settled") {
        settledTotal.inc();
        latency.observe(Math.max(0, Date.now() - v.received_at.getTime()) / 1000);
      }
    // A payer on its way out: with its vouchers settled, the claims of its delivered, unpaid
    // work can go (after this commit, so that they see the pair's new settled amount).
    if (await store.withdrawalPending(t, payer, token)) return () => kick("watchtower");
  }

  async function onSkipped(t: Queryable, ev: ChainEvent) {
    const payer = str(ev.args["payer"]);
    const payee = str(ev.args["payee"]);
    const token = str(ev.args["token"]);
    const cumulative = String(ev.args["cumulativeAmount"]);
    const reason = SKIP[Number(ev.args["reason"])] ?? `Unknown(${String(ev.args["reason"])})`;
    skippedTotal.inc({ reason });
    const pair = { payer, payee, token, cumulative };
    if (reason === "Stale") {
      await store.skipped(t, pair, "superseded", "Stale");
    } else if (reason === "Overdrawn") {
      // The deposit shrank between the batch and the block; the voucher waits for a later batch
      // (the batcher only takes it again once the indexed deposit covers it).
      await store.skipped(t, pair, "accepted", "Overdrawn");
      log.warn({ payer, payee, token, cumulative, txHash: ev.txHash }, "settleBatch skipped a voucher as Overdrawn; it stays accepted");
    } else {
      await store.skipped(t, pair, "skipped", reason);
      log.error({ payer, payee, token, cumulative, reason, txHash: ev.txHash }, "settleBatch skipped a voucher the coordinator had verified");
    }
  }

  if (deps.events) {
    deps.events.on("PaymentChannels", "VoucherSettled", onSettled);
    deps.events.on("PaymentChannels", "VoucherSkipped", onSkipped);
    deps.events.on("PaymentChannels", "WithdrawalRequested", async (t, ev) => {
      const payer = str(ev.args["payer"]);
      const token = str(ev.args["token"]);
      // In the indexer's transaction: the batch is recorded together with the event, so it
      // cannot be lost. If another batcher holds the lock now, a worker runs it after the commit
      // (the pending withdrawal also puts this payer first in every batch).
      let n = 0;
      try {
        await t.query("SAVEPOINT channels_watchtower");
        n = chains.includes(chainOfAccount(payer)) ? await record(t, "watchtower", chainOfAccount(payer), { payer, token }) : 0;
        await t.query("RELEASE SAVEPOINT channels_watchtower");
      } catch (err) {
        await t.query("ROLLBACK TO SAVEPOINT channels_watchtower");
        log.warn({ err, payer, token }, "watchtower batch failed in the indexer transaction; queued instead");
      }
      // Delivered, unpaid work of this payer is claimed under its delivery authorizations (pairs
      // whose vouchers are still settling follow at the next run, once those have settled).
      let claimed = 0;
      try {
        await t.query("SAVEPOINT channels_claims");
        if (await store.tryLock(t, `${lockKey}.claims`)) claimed = await claims.record(t, { payer, token });
        await t.query("RELEASE SAVEPOINT channels_claims");
      } catch (err) {
        await t.query("ROLLBACK TO SAVEPOINT channels_claims");
        log.warn({ err, payer, token }, "delivery claims failed in the indexer transaction; the next run records them");
      }
      log.info({ payer, token, availableAt: ev.args["availableAt"], vouchers: n, claimedTasks: claimed }, "watchtower: withdrawal requested, outstanding vouchers and delivered work recorded for settlement");
      return () => kick("watchtower");
    });
  }

  // A reorg orphaned settlements: the projections were rebuilt from the canonical events, so a
  // voucher marked settled above its pair's settled amount is not settled any more. It goes back
  // to `accepted` (the next batch settles it again; if its old transaction is mined on the new
  // branch too, the contract skips the second as Stale), and so do the tasks it paid.
  deps.events?.onRollback?.(async (t) => {
    const orphaned = await store.unsettleOrphaned(t);
    await taskTransitions.unsettle(t, orphaned.flatMap((x) => x.task_ids));
    if (orphaned.length) log.warn({ vouchers: orphaned.length }, "chain reorganisation: settled vouchers are accepted again");
  });

  if (deps.sender) {
    deps.sender.onReverted("channels.settleBatch", async (t: Queryable, row: OutboxRow) => {
      const vouchers = await store.batchEnded(t, row.id, "reverted");
      if (/gas/i.test(row.last_error ?? "")) gasFactor = Math.max(1 / 16, gasFactor / 2);
      log.warn({ outboxId: row.id, vouchers, error: row.last_error }, "settleBatch did not go through; its vouchers are accepted again");
    });
    deps.sender.onConfirmed("channels.settleBatch", async (t: Queryable, row: OutboxRow) => {
      await store.batchEnded(t, row.id, "confirmed");
      gasFactor = Math.min(1, gasFactor * 2);
    });
  }

  return {
    runOnce,
    kick,
    start() {
      // Its own connection (BullMQ blocks on it); closed here: BullMQ leaves a given one open.
      const connection = ctx.redis.duplicate();
      const worker = new Worker<SettleJob>(
        SETTLE_QUEUE,
        unrecoverableOnFinal(async (job: Job<SettleJob>) => {
          let total = 0;
          // Full batches: there may be more; go on (bounded, the next run continues).
          for (let i = 0; i < 20; i++) {
            const n = await runOnce(job.data.reason);
            total += n;
            if (n < config.SETTLE_MAX_PAIRS) break;
          }
          pendingPairs.clear();
          // Delivered work the buyer did not pay (withdrawal pending, silence, expiring authorization).
          total += await db.tx(async (t) => ((await store.tryLock(t, `${lockKey}.claims`)) ? claims.record(t) : 0));
          return total;
        }),
        { connection, prefix: config.QUEUE_PREFIX, concurrency: 1 },
      );
      worker.on("failed", (job, err) => log.warn({ jobId: job?.id, err: err.message }, "settlement job failed"));
      const scheduled = queue.upsertJobScheduler("channel-settle-interval", { every: config.SETTLE_INTERVAL_MS }, { name: "settle", data: { reason: "interval" } });
      scheduled.catch((err) => log.warn({ err }, "could not schedule the settlement job"));
      return async () => {
        await worker.close();
        connection.disconnect();
      };
    },
    async close() {
      await queue.close();
    },
  };
}
