import { chainOfAccount } from "../protocol/settlement.js";
import { setTimeout as sleep } from "node:timers/promises";
import { Counter, Histogram } from "prom-client";
import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { AppError, badRequest, unavailable } from "../errors.js";
import type { TaskTxHookBus, TaskTxHooks } from "../tasks/hooks.js";
import { accountKey, channelRepository as repo, pairKey, type AcceptedVoucher, type AuthorizationRow, type DueTask } from "./repository.js";
import { createSignatureVerifier, type SignatureVerifier } from "./verifier.js";
import type { RawVoucher } from "./verify.js";
import { TypedDataEncoder, verifyTypedData } from "ethers";
import { DELIVERY_AUTHORIZATION_TYPES, voucherDomain } from "../protocol/eip712.js";
import { CLAIM_MARGIN_S } from "./claims.js";

/**
 * The channel route (DESIGN.md "Task lifecycle" 2 and 5): a buyer deposits into PaymentChannels
 * once; each channel-route task promises its budget out of the deposit; on delivery the result
 * is held (the buyer sees its hash) until the buyer's EIP-712 voucher for the cumulative amount
 * owed to that agent arrives and verifies; then the output is released, and the voucher waits
 * for batch settlement (settlement.ts).
 *
 * Amounts of one payer and token:
 *   deposit   — on-chain balance in PaymentChannels (indexed; settlements already deducted)
 *   settled   — Σ over the payer's pairs of what settled on-chain
 *   owed      — Σ (accepted − settled): vouched for, not yet settled
 *   promised  — Σ held promises (budgets of open tasks, prices of awarded and delivered ones)
 *   available — deposit − owed − promised: what a new task may promise
 */
export type ChannelService = {
  /** A payer's channels per token, and per payee what is due now (GET /v1/channels/:payer). */
  view(payer: string): Promise<ChannelView>;
  /**
   * Promises `amountPerTask` of the buyer's deposit to each new channel-route task, inside the
   * posting transaction (serialised per payer and token by a row lock on the account).
   * Ledger: channel-deposit:<payer> → channel-promise:<task>, group `promise:<task>`.
   * The promise draws on the buyer's delivery authorization for the token (the one expiring
   * first that outlives the deadline plus the payment window and has room).
   * @throws 402 INSUFFICIENT_DEPOSIT (details: available, required), 402
   *   DELIVERY_AUTHORIZATION_REQUIRED (details: token, required, expiresAfter) — nothing is written
   */
  promise(t: Queryable, p: { buyer: string; token: string; taskIds: string[]; amountPerTask: bigint; deadline: Date }): Promise<void>;
  /**
   * Registers the buyer's EIP-712 DeliveryAuthorization (POST /v1/channels/authorizations):
   * channel-route promises draw on it, and the coordinator may claim delivered work under it
   * (src/channels/claims.ts). Idempotent on the authorization's digest.
   * @throws 400 AUTHORIZATION_FORGED (not the payer's signature for this chain and contract),
   *   400 AUTHORIZATION_EXPIRED (expiry not in the future); 503 CHANNELS_UNAVAILABLE
   */
  authorize(payer: string, a: { token: string; salt: string; maxAmount: bigint; expiry: bigint; signature: string }): Promise<AuthorizationView>;
  /**
   * Whether one of the buyer's delivery authorizations for `token` has room for `amount` (token
   * base units) and outlives `deadline` plus the payment window (nothing is committed).
   * @throws 402 DELIVERY_AUTHORIZATION_REQUIRED (details: token, required, expiresAfter)
   */
  authorizationRoom(p: { buyer: string; token: string; amount: bigint; deadline: Date }): Promise<void>;
  /** Reactions to award (promise shrinks), delivery (promise = price) and ending without delivery (released). */
  txHooks: TaskTxHooks;
  /**
   * Accepts one voucher (POST /v1/vouchers). Checks, in order: the signature (VOUCHER_FORGED,
   * VOUCHER_WRONG_DOMAIN), the amount against the pair's last accepted voucher
   * (VOUCHER_REPLAYED, VOUCHER_STALE; the identical last voucher again is an idempotent
   * success), the increase against what is due (VOUCHER_WRONG_AMOUNT) and against the deposit
   * (VOUCHER_OVERDRAWN). A rejected voucher writes nothing.
   * @throws AppError with one of those codes
   */
  submit(v: VoucherInput): Promise<VoucherReceipt>;
  /** Many vouchers in one call, each accepted or refused on its own (POST /v1/vouchers/batch). */
  submitMany(list: VoucherInput[]): Promise<VoucherOutcome[]>;
  /**
   * Called after vouchers commit, with their pairs (`payer|payee|token`); `urgent` when one of
   * their payers has a withdrawal pending (the settlement must not wait).
   */
  onAccepted(listener: (pairs: string[], urgent: boolean) => void): void;
  close(): Promise<void>;
};

/** A voucher as submitted: lower-case addresses, the cumulative amount in token base units. */
export type VoucherInput = { payer: string; payee: string; token: string; cumulativeAmount: bigint; signature: string };

export type VoucherReceipt = {
  payer: string;
  payee: string;
  token: string;
  cumulativeAmount: string;
  /** What this voucher added to the pair, token base units. */
  increase: string;
  /** The tasks it paid for; their outputs are now released to the buyer. */
  taskIds: string[];
  /** True when this exact voucher had been accepted before (nothing changed). */
  idempotent: boolean;
};

export type VoucherOutcome = { ok: true; receipt: VoucherReceipt } | { ok: false; error: { code: string; message: string; status: number; details?: unknown } };

/** A delivery authorization as the API shows it (amounts in token base units, decimal strings). */
export type AuthorizationView = { digest: string; token: string; salt: string; maxAmount: string; committed: string; claimed: string; expiresAt: string };

export type ChannelView = {
  payer: string;
  /** The payer's delivery authorizations, newest first: what promises drew on (committed) and what was claimed under them. */
  authorizations: AuthorizationView[];
  accounts: {
    token: string;
    deposit: string;
    settled: string;
    owed: string;
    promised: string;
    /** deposit − owed − promised; negative when the deposit no longer covers what is owed and promised. */
    available: string;
    /** A pending withdrawal request: the deposit leaves at `availableAt` (unsettled vouchers are settled first). */
    withdrawal: { availableAt: string } | null;
  }[];
  pairs: {
    payee: string;
    token: string;
    accepted: string;
    settled: string;
    /** Σ prices of delivered, unpaid tasks: the next voucher's increase. */
    due: string;
    /** accepted + due: the cumulative amount the next voucher to this payee must carry. */
    nextCumulativeAmount: string;
    dueTaskIds: string[];
  }[];
};

const MAX_UINT128 = 2n ** 128n - 1n;
/** Most vouchers written in one transaction (group commit). */
const FLUSH_MAX = 1000;
/** Group-commit transactions in flight at once (lanes by payer; default). */
const FLUSH_PARALLEL = 4;

const authorizationView = (a: AuthorizationRow): AuthorizationView => ({
  digest: a.digest, token: a.token, salt: a.salt, maxAmount: a.max_amount, committed: a.committed, claimed: a.claimed, expiresAt: a.expiry.toISOString(),
});

const authorizationRequired = (token: string, required: bigint, notBefore: Date) =>
  new AppError(
    "DELIVERY_AUTHORIZATION_REQUIRED",
    `Channel-route tasks draw on a delivery authorization: sign an EIP-712 DeliveryAuthorization for ${token} covering ${required} more base units, expiring after ${notBefore.toISOString()}, and POST it to /v1/channels/authorizations.`,
    402,
    false,
    { details: { token, required: required.toString(), expiresAfter: notBefore.toISOString() } },
  );

const voucherError = (code: string, status: number, message: string, details?: unknown) => new AppError(code, message, status, false, { details });

type Job = { v: VoucherInput; resolve(o: VoucherOutcome): void };

/**
 * @param deps.verifyThreads worker threads for signature checks (0 = on the event loop)
 * @param deps.txHooks the task-transition hooks to subscribe the promise bookkeeping to
 */
/**
 * @param deps.substrateVouchers verifies a Substrate payer's voucher (SCALE `(payer, payee, asset,
 *   cumulative, genesis hash)` signed with its sr25519/ed25519 key), when a Substrate chain is configured
 */
export function createChannelService(
  ctx: AppContext,
  deps: { verifyThreads: number; txHooks?: TaskTxHookBus; flushParallel?: number; substrateVouchers?: (v: { payer: string; payee: string; token: string; cumulative: bigint; signature: string }) => boolean },
): ChannelService {
  const { db, log, bus, config } = ctx;
  /** The earliest expiry of an authorization that still lets delivered work of a task due at `deadline` be claimed. */
  const claimableUntil = (deadline: Date) => new Date(deadline.getTime() + (config.CHANNEL_PAYMENT_WINDOW_S + CLAIM_MARGIN_S) * 1000);
  /** Blocks between the indexer's cursor (CONFIRMATIONS deep) and finality. */
  const finalityExtra = Math.max(0, config.FINALITY_DEPTH - config.CONFIRMATIONS);
  const registry = ctx.metrics.registry;
  const vouchersTotal = new Counter({ name: "aicp_vouchers_total", help: "Vouchers submitted, by outcome (accepted or the error code)", labelNames: ["outcome"] as const, registers: [registry] });
  const flushSize = new Histogram({ name: "aicp_voucher_flush_size", help: "Vouchers per group-commit transaction", buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000], registers: [registry] });
  const flushTime = new Histogram({ name: "aicp_voucher_flush_seconds", help: "Duration of a group-commit transaction of vouchers", buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [registry] });
  const listeners: ((pairs: string[], urgent: boolean) => void)[] = [];

  const deployment = ctx.chain.deployment;
  const channels = deployment?.contracts["PaymentChannels"];
  const verifier: SignatureVerifier | undefined =
    deployment && channels
      ? createSignatureVerifier({
          chainId: deployment.chainId,
          contract: channels.address,
          otherContracts: Object.entries(deployment.contracts).filter(([n]) => n !== "PaymentChannels").map(([, c]) => c.address),
          threads: deps.verifyThreads,
          log,
        })
      : undefined;

  // --- group commit: concurrent requests' vouchers are decided and written together ---
  // Lanes by payer: each lane writes one transaction at a time, and two lanes never hold the
  // same payer's account lock, so concurrent transactions of this process do not queue on each
  // other (other processes' still may, in (payer, token) order: no deadlock).
  type Lane = { pending: Job[]; busy: boolean };
  const lanes: Lane[] = Array.from({ length: Math.max(1, deps.flushParallel ?? FLUSH_PARALLEL) }, () => ({ pending: [], busy: false }));
  const laneOf = (payer: string) => {
    let h = 0;
    for (let i = payer.length - 8; i < payer.length; i++) h = (h * 31 + payer.charCodeAt(i)) >>> 0;
    return lanes[h % lanes.length]!;
  };
  const enqueue = (job: Job) => laneOf(job.v.payer).pending.push(job);
  const idle = () => lanes.every((l) => !l.busy && l.pending.length === 0);
  const kick = () => {
    for (const lane of lanes) {
      if (lane.busy || lane.pending.length === 0) continue;
      const jobs = lane.pending.splice(0, FLUSH_MAX);
      lane.busy = true;
      flush(jobs).finally(() => {
        lane.busy = false;
        kick();
      });
    }
  };

  async function flush(jobs: Job[]) {
    flushSize.observe(jobs.length);
    let decided: { outcomes: VoucherOutcome[]; accepted: AcceptedVoucher[]; urgent: boolean } | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const end = flushTime.startTimer();
        decided = await db.tx((t) => decide(t, jobs.map((j) => j.v)));
        end();
        break;
      } catch (err) {
        const code = (err as { code?: string }).code;
        // Deadlock or serialization failure against another writer: the whole batch again.
        if ((code === "40P01" || code === "40001") && attempt < 4) continue;
        log.error({ err }, "voucher batch failed");
        const e = unavailable("VOUCHERS_UNAVAILABLE", "Vouchers cannot be recorded right now; submit the same voucher again shortly.", err);
        for (const j of jobs) j.resolve({ ok: false, error: { code: e.code, message: e.message, status: e.status } });
        return;
      }
    }
    jobs.forEach((j, i) => j.resolve(decided!.outcomes[i]!));
    for (const o of decided.outcomes) vouchersTotal.inc({ outcome: o.ok ? (o.receipt.idempotent ? "idempotent" : "accepted") : o.error.code });
    if (decided.accepted.length === 0) return;
    const pairs = decided.accepted.map((v) => pairKey(v.payer, v.payee, v.token));
    for (const l of listeners) {
      try {
        l(pairs, decided.urgent);
      } catch (err) {
        log.warn({ err }, "voucher listener failed");
      }
    }
    const events = decided.accepted.flatMap((v) => [
      ...v.tasks.map((x) => ({ address: v.payer, event: { type: "task", data: { taskId: x.id, status: "accepted", cumulativeAmount: v.cumulative.toString() } } })),
      { address: v.payee, event: { type: "voucher", data: { payer: v.payer, token: v.token, cumulativeAmount: v.cumulative.toString(), increase: v.increase.toString(), taskIds: v.tasks.map((x) => x.id) } } },
    ]);
    await bus.publishMany(events).catch((err) => log.warn({ err }, "voucher notifications failed"));
  }

  /** Decides every voucher of a batch against the locked accounts, and writes the accepted ones. */
  async function decide(t: Queryable, list: VoucherInput[]) {
    const accountKeys = [...new Map(list.map((v) => [accountKey(v.payer, v.token), { payer: v.payer, token: v.token }])).values()];
    const accounts = await repo.lockAccounts(t, accountKeys);
    // Vouchers release outputs: only a final deposit backs them (FINALITY_DEPTH).
    const unfinal = await repo.unfinalDeposits(t, accountKeys, finalityExtra);
    const { owed, pairs, due, existing } = await repo.snapshot(t, list.map((v) => ({ ...v, cumulative: v.cumulativeAmount })));
    const accepted: AcceptedVoucher[] = [];
    const outcomes: VoucherOutcome[] = [];
    for (const v of list) {
      const pk = pairKey(v.payer, v.payee, v.token);
      const ak = accountKey(v.payer, v.token);
      const pair = pairs.get(pk) ?? { accepted: 0n, settled: 0n };
      const fail = (e: AppError) => outcomes.push({ ok: false, error: { code: e.code, message: e.message, status: e.status, details: e.details } });
      const receipt = (increase: bigint, taskIds: string[], idempotent: boolean) =>
        outcomes.push({ ok: true, receipt: { payer: v.payer, payee: v.payee, token: v.token, cumulativeAmount: v.cumulativeAmount.toString(), increase: increase.toString(), taskIds, idempotent } });
      if (v.cumulativeAmount <= pair.accepted) {
        const prev = existing.get(`${pk}|${v.cumulativeAmount}`);
        if (prev && v.cumulativeAmount === pair.accepted && prev.signature === v.signature) receipt(0n, prev.taskIds, true);
        else if (prev)
          fail(voucherError("VOUCHER_REPLAYED", 409, `A voucher for ${v.cumulativeAmount} to this payee was already accepted; the last accepted cumulative amount is ${pair.accepted}.`, { accepted: pair.accepted.toString() }));
        else
          fail(voucherError("VOUCHER_STALE", 409, `The cumulative amount must be above the last accepted one (${pair.accepted}).`, { accepted: pair.accepted.toString() }));
        continue;
      }
      const tasks: DueTask[] = due.get(pk) ?? [];
      const owe = tasks.reduce((a, x) => a + x.price, 0n);
      const increase = v.cumulativeAmount - pair.accepted;
      if (tasks.length === 0 || increase !== owe) {
        fail(
          voucherError(
            "VOUCHER_WRONG_AMOUNT",
            409,
            tasks.length === 0
              ? "Nothing is due to this payee: no delivered, unpaid task of yours by this agent."
              : `The voucher adds ${increase} but ${owe} is due to this payee; sign the cumulative amount ${pair.accepted + owe}.`,
            { due: owe.toString(), accepted: pair.accepted.toString(), expectedCumulativeAmount: (pair.accepted + owe).toString(), taskIds: tasks.map((x) => x.id) },
          ),
        );
        continue;
      }
      const deposit = accounts.get(ak)?.deposit ?? 0n;
      const owedNow = owed.get(ak) ?? 0n;
      const notFinal = unfinal.get(ak) ?? 0n;
      if (owedNow + increase <= deposit && owedNow + increase > deposit - notFinal) {
        fail(
          new AppError("DEPOSIT_NOT_FINAL", `${notFinal} of the deposit (${deposit}) is not final yet (${config.FINALITY_DEPTH} blocks); send the same voucher again in a moment.`, 409, true, {
            details: { deposit: deposit.toString(), notFinal: notFinal.toString(), owed: owedNow.toString(), increase: increase.toString() },
            retryAfterSeconds: 5,
          }),
        );
        continue;
      }
      if (owedNow + increase > deposit) {
        fail(
          voucherError("VOUCHER_OVERDRAWN", 402, `The deposit (${deposit}) does not cover this voucher's ${increase} on top of ${owedNow} already owed; deposit more.`, {
            deposit: deposit.toString(),
            owed: owedNow.toString(),
            increase: increase.toString(),
          }),
        );
        continue;
      }
      accepted.push({ payer: v.payer, payee: v.payee, token: v.token, cumulative: v.cumulativeAmount, signature: v.signature, increase, tasks });
      pairs.set(pk, { ...pair, accepted: v.cumulativeAmount });
      owed.set(ak, owedNow + increase);
      due.set(pk, []);
      existing.set(`${pk}|${v.cumulativeAmount}`, { signature: v.signature, taskIds: tasks.map((x) => x.id) });
      receipt(increase, tasks.map((x) => x.id), false);
    }
    await repo.accept(t, accepted);
    const urgent = accepted.some((v) => accounts.get(accountKey(v.payer, v.token))?.withdrawalAvailableAt);
    return { outcomes, accepted, urgent };
  }

  async function submitMany(list: VoucherInput[]): Promise<VoucherOutcome[]> {
    const out: (VoucherOutcome | undefined)[] = new Array(list.length);
    const toCheck: { i: number; raw: RawVoucher }[] = [];
    const jobs: Promise<void>[] = [];
    list.forEach((v, i) => {
      if (v.cumulativeAmount > MAX_UINT128 || v.cumulativeAmount === 0n)
        out[i] = { ok: false, error: { code: "VOUCHER_AMOUNT_OUT_OF_RANGE", message: "cumulativeAmount must be between 1 and 2^128 − 1 (what settleBatch can carry).", status: 400 } };
      else if (chainOfAccount(v.payer) === "substrate") {
        // A Substrate payer: its SCALE voucher, signed with its own key over the chain's genesis hash.
        const { payer, payee, token, signature } = v;
        const ok = deps.substrateVouchers?.({ payer, payee, token, cumulative: v.cumulativeAmount, signature });
        if (ok === undefined) out[i] = { ok: false, error: { code: "CHANNELS_UNAVAILABLE", message: "This coordinator has no Substrate chain to settle the voucher on.", status: 503 } };
        else if (!ok) {
          vouchersTotal.inc({ outcome: "VOUCHER_FORGED" });
          out[i] = { ok: false, error: { code: "VOUCHER_FORGED", message: "The signature is not the payer's sr25519/ed25519 signature of this voucher's SCALE payload (payer, payee, asset, cumulative, genesis hash).", status: 400 } };
        } else jobs.push(new Promise<void>((resolve) => enqueue({ v, resolve: (o) => ((out[i] = o), resolve()) })));
      } else toCheck.push({ i, raw: { payer: v.payer, payee: v.payee, token: v.token, cumulative: v.cumulativeAmount.toString(), signature: v.signature } });
    });
    if (toCheck.length && !verifier) throw unavailable("CHANNELS_UNAVAILABLE", "The channel route needs a PaymentChannels deployment; none is configured.");
    const verdicts = toCheck.length ? await verifier!.check(toCheck.map((x) => x.raw)) : [];
    toCheck.forEach(({ i }, k) => {
      const verdict = verdicts[k]!;
      const v = list[i]!;
      if (verdict.status === "ok") {
        jobs.push(new Promise<void>((resolve) => enqueue({ v: { ...v, signature: verdict.signature }, resolve: (o) => ((out[i] = o), resolve()) })));
        return;
      }
      let e: AppError;
      if (verdict.status === "wrong-domain")
        e = voucherError(
          "VOUCHER_WRONG_DOMAIN",
          400,
          `The voucher is signed by the payer for chain ${verdict.chainId} and contract ${verdict.contract}; sign it for chain ${deployment!.chainId} and PaymentChannels at ${channels!.address.toLowerCase()}.`,
          { signedChainId: verdict.chainId, signedContract: verdict.contract, chainId: deployment!.chainId, contract: channels!.address.toLowerCase() },
        );
      else if (verdict.status === "malformed")
        e = voucherError("VOUCHER_FORGED", 400, "The signature is not a valid 65-byte secp256k1 signature (r ‖ s ‖ v, low s) of the payer.");
      else e = voucherError("VOUCHER_FORGED", 400, "The signature is not the payer's signature of this voucher.", { signer: verdict.signer });
      vouchersTotal.inc({ outcome: e.code });
      out[i] = { ok: false, error: { code: e.code, message: e.message, status: e.status, details: e.details } };
    });
    kick();
    await Promise.all(jobs);
    return out as VoucherOutcome[];
  }

  const service: ChannelService = {
    async view(payer) {
      const [accounts, pairs, auths] = await Promise.all([repo.accounts(db, payer), repo.payerPairs(db, payer), repo.authorizations(db, payer)]);
      return {
        payer,
        authorizations: auths.map(authorizationView),
        accounts: accounts.map((a) => ({
          token: a.token,
          deposit: a.deposit,
          settled: a.settled,
          owed: a.owed,
          promised: a.promised,
          available: (BigInt(a.deposit) - BigInt(a.owed) - BigInt(a.promised)).toString(),
          withdrawal: a.withdrawal_available_at ? { availableAt: a.withdrawal_available_at.toISOString() } : null,
        })),
        pairs: pairs.map((p) => ({
          payee: p.payee,
          token: p.token,
          accepted: p.accepted,
          settled: p.settled,
          due: p.due,
          nextCumulativeAmount: (BigInt(p.accepted) + BigInt(p.due)).toString(),
          dueTaskIds: p.due_task_ids ?? [],
        })),
      };
    },

    async promise(t, p) {
      if (p.taskIds.length === 0) return;
      const required = p.amountPerTask * BigInt(p.taskIds.length);
      const acc = (await repo.lockAccounts(t, [{ payer: p.buyer, token: p.token }])).get(accountKey(p.buyer, p.token));
      // Read after the lock, in a new statement: sees what the previous holder committed.
      const { owed, promised } = await repo.owedAndPromised(t, p.buyer, p.token);
      // Agents work against the promise: only a final deposit backs it (FINALITY_DEPTH).
      const notFinal = (await repo.unfinalDeposits(t, [{ payer: p.buyer, token: p.token }], finalityExtra)).get(accountKey(p.buyer, p.token)) ?? 0n;
      const available = (acc?.deposit ?? 0n) - notFinal - owed - promised;
      // A deposit on its way out (withdrawal requested) takes no new promises: agents would
      // work for money that leaves before their vouchers arrive.
      if (acc?.withdrawalAvailableAt)
        throw new AppError("INSUFFICIENT_DEPOSIT", `Your deposit of ${p.token} has a withdrawal pending; cancel it (or deposit again) to post channel-route tasks.`, 402, false, {
          details: { token: p.token, available: "0", required: required.toString(), withdrawalAvailableAt: acc.withdrawalAvailableAt.toISOString() },
        });
      if (available < required)
        throw new AppError(
          "INSUFFICIENT_DEPOSIT",
          `Your available channel deposit of ${p.token} is ${available < 0n ? 0n : available} base units${notFinal ? ` (${notFinal} more is not final yet)` : ""}; this post needs ${required}. ${chainOfAccount(p.buyer) === "substrate" ? "Deposit into your custody account first (POST /v1/channels/deposit-call)" : "Deposit into PaymentChannels first"}, or use the escrow route.`,
          402,
          false,
          { details: { token: p.token, available: (available < 0n ? 0n : available).toString(), required: required.toString(), ...(notFinal ? { notFinal: notFinal.toString() } : {}) } },
        );
      // The promise draws on a delivery authorization that outlives the task's payment window,
      // so that delivered work can be claimed if the buyer leaves or stays silent.
      const notBefore = claimableUntil(p.deadline);
      const groups = p.taskIds.map((id) => ({
        group: `promise:${id}`,
        token: p.token,
        kind: "channel-promise",
        entries: [{ account: `channel-deposit:${p.buyer}`, amount: -p.amountPerTask, taskId: id }, { account: `channel-promise:${id}`, amount: p.amountPerTask, taskId: id }],
      }));
      // Substrate: the custody account's co-signers play the delivery authorization's part.
      if (chainOfAccount(p.buyer) === "substrate") return repo.insertUnbackedPromises(t, { taskIds: p.taskIds, payer: p.buyer, token: p.token, amount: p.amountPerTask }, groups);
      const authorization = await repo.insertPromises(t, { taskIds: p.taskIds, payer: p.buyer, token: p.token, amount: p.amountPerTask, notBefore }, groups);
      if (!authorization) throw authorizationRequired(p.token, required, notBefore);
    },

    txHooks: {
      // The promise shrinks to the most the task can still cost: its price, or a runner-up's
      // own bid if higher (failover pays the runner-up its bid), so a failover never needs
      // more than is promised.
      async awarded(t, task) {
        if (task.settlement !== undefined && task.settlement !== "channel") return;
        await repo.shrinkPromise(t, task.id, task.price, { runnerUps: true, groupPrefix: `promise-award:${task.id}:${task.agent}:`, withTarget: true });
      },
      async delivered(t, task) {
        if (task.settlement !== undefined && task.settlement !== "channel") return;
        await repo.shrinkPromise(t, task.id, task.price, { runnerUps: false, groupPrefix: `promise-delivered:${task.id}`, withTarget: false });
      },
      async ended(t, task) {
        const p = await repo.releasePromise(t, task.id);
        if (!p) return;
        const amount = BigInt(p.amount);
        await repo.post(t, [{ group: `promise-release:${task.id}`, token: p.token, kind: "channel-promise-release", entries: [{ account: `channel-promise:${task.id}`, amount: -amount, taskId: task.id }, { account: `channel-deposit:${p.payer}`, amount, taskId: task.id }] }]);
      },
    },

    async authorizationRoom(p) {
      const notBefore = claimableUntil(p.deadline);
      if (!(await repo.hasAuthorizationRoom(db, { payer: p.buyer, token: p.token, amount: p.amount, notBefore }))) throw authorizationRequired(p.token, p.amount, notBefore);
    },

    async authorize(payer, a) {
      if (!deployment || !channels) throw unavailable("CHANNELS_UNAVAILABLE", "The channel route needs a PaymentChannels deployment; none is configured.");
      if (a.expiry * 1000n <= BigInt(ctx.now())) throw badRequest("AUTHORIZATION_EXPIRED", "The authorization's expiry must be in the future.");
      const value = { payer, token: a.token, salt: a.salt, maxAmount: a.maxAmount, expiry: a.expiry };
      const domain = voucherDomain(deployment.chainId, channels.address);
      let signer = "";
      try {
        signer = verifyTypedData(domain, DELIVERY_AUTHORIZATION_TYPES, value, a.signature).toLowerCase();
      } catch {
        /* malformed: refused below */
      }
      if (signer !== payer)
        throw badRequest("AUTHORIZATION_FORGED", `The signature is not ${payer}'s EIP-712 DeliveryAuthorization for chain ${deployment.chainId} and PaymentChannels at ${channels.address.toLowerCase()}.`, {
          signer: signer || null,
        });
      const digest = TypedDataEncoder.hash(domain, DELIVERY_AUTHORIZATION_TYPES, value).toLowerCase();
      const row = await repo.insertAuthorization(db, { digest, payer, token: a.token, salt: a.salt.toLowerCase(), maxAmount: a.maxAmount, expiry: new Date(Number(a.expiry) * 1000), signature: a.signature });
      return authorizationView(row);
    },

    async submit(v) {
      const [o] = await submitMany([v]);
      if (!o!.ok) throw new AppError(o!.error.code, o!.error.message, o!.error.status, o!.error.status === 503, { details: o!.error.details });
      return o!.receipt;
    },
    submitMany,
    onAccepted(l) {
      listeners.push(l);
    },
    async close() {
      while (!idle()) await sleep(10);
      await verifier?.close();
    },
  };
  deps.txHooks?.subscribe(service.txHooks);
  return service;
}
