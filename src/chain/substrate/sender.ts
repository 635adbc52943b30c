import type { KeyringPair } from "@polkadot/keyring/types";
import type { EventRecord } from "@polkadot/types/interfaces";
import type { AppContext } from "../../context.js";
import type { Db, Queryable } from "../../db/index.js";
import { AppError } from "../../errors.js";
import { enqueue, outboxStore as outbox, type Intent, type OutboxHooks, type OutboxRow, type SenderHook } from "../../settlement/outbox-store.js";
import { failureOf, type Extrinsic } from "./client.js";
import { toAccountHex } from "./codec.js";
import type { Custody } from "./custody.js";
import type { EscrowTerms, SubstrateSettlement } from "./settlement.js";

/**
 * What the Substrate sender and the arbitrator's co-signer read before they sign: the escrow and
 * dispute state as the indexer confirmed it from the chain (Postgres projections), never what
 * the coordinator merely decided. Amounts in token base units.
 */
export type CustodyFacts = {
  /** The task's escrow with the task's own fields, or undefined before the indexer saw it funded. */
  escrow(taskId: string): Promise<EscrowFacts | undefined>;
  /** A dispute of the DisputeResolver projection (Substrate disputes included). */
  dispute(disputeId: string): Promise<{ taskId: string; status: string; agentShareBps: number | null; appealDeadline: Date | null } | undefined>;
  /** The last block the Substrate indexer applied. */
  indexedBlock(): Promise<number>;
  /** What the indexer confirmed settled per channel pair (`payer|payee|token` → cumulative, base units). */
  settledOf(pairs: { payer: string; payee: string; token: string }[]): Promise<Map<string, bigint>>;
};

export type EscrowFacts = {
  taskId: string;
  /** The escrow projection's state: funded, awarded, delivered, disputed, released, refunded, resolved. */
  state: string;
  buyer: string;
  agent: string | null;
  token: string;
  /** Funded amount. */
  amount: bigint;
  /** Awarded price, 0 before the award. */
  price: bigint;
  acceptanceEndsAt: Date | null;
  disputeId: string | null;
  /** The task's status in Postgres (tasks.status) and what it asked for. */
  taskStatus: string;
  taskToken: string;
  budget: bigint;
};

/** A stored step of a Substrate outbox row (chain_outbox.steps). */
type Step = {
  signer: "coordinator" | "arbitrator";
  what: string;
  nonce: number;
  hash: string;
  raw: string;
  /** The best block when it was signed: inclusion is searched from there. */
  fromBlock: number;
  status: "signed" | "included" | "dropped";
  block?: number;
  error?: string;
};

/** What to do next for a row. */
type Plan =
  | { step: { signer: Step["signer"]; what: string; tx: Extrinsic } }
  | { done: true }
  | { wait: string }
  | { refuse: string };

export type SubstrateSender = OutboxHooks & {
  readonly chain: "substrate";
  /** Records an intent for this chain in the caller's transaction (see `enqueue`). */
  enqueue(t: Queryable, intent: Intent): Promise<{ id: string; created: boolean }>;
  /** The outbox backlog of this chain, for /ready. */
  status(): Promise<{ chain: string; chainOk: boolean; head: number | null; backlog: number; pending: number; signed: number; sent: number; oldestOpenAt: string | null; lastError: string | null }>;
  /** One pass over the pending rows (tests drive it directly). */
  advance(): Promise<void>;
  /** Starts the loop (every `pollMs`, and at once on a NOTIFY of a new intent). @returns stop */
  start(): () => Promise<void>;
};

/**
 * The transaction sender of the Substrate backend: it executes the transactional outbox rows of
 * chain `substrate` with the coordinator's key and, for the custody operations that need a
 * second signature, the arbitrator's co-signer (when this process holds the arbitrator's key,
 * SUBSTRATE_ARBITRATOR_URI; otherwise those rows wait for the arbitrator's own process).
 *
 * | intent | extrinsics |
 * |---|---|
 * | `escrow.award` | coordinator: remark(award) |
 * | `escrow.deliver` | coordinator: batchAll[remark(deliver), approveAsMulti(payout)] — the buyer's acceptance executes that payout |
 * | `escrow.release` | arbitrator (co-signer): asMulti(payout), only once the acceptance window has passed on-chain with no dispute |
 * | `escrow.refund` | coordinator: approveAsMulti(refund); arbitrator (co-signer): asMulti(refund), only for an undelivered escrow of a task that ended |
 * | `disputes.finalize` | coordinator: asMulti of the split the arbitrator proposed with its ruling, once the appeal window has passed |
 * | `anchor.anchor` | coordinator: remark(anchor) with the epoch's Merkle root |
 *
 * At most once: each extrinsic is signed (immortal era, explicit nonce) and stored in the row's
 * `steps` before it is broadcast; after a crash the stored bytes go out again, and a step whose
 * nonce another extrinsic used is dropped and planned afresh from the chain's state (a pending
 * multisig proposal already approved is not approved twice). The co-signer's rules read the
 * indexer's projections only after the indexer has applied every block an earlier step of ours
 * landed in, so it never acts on a state that misses our own last execution.
 *
 * One process sends at a time (a Postgres advisory lock per schema), one row at a time in id
 * order; a row whose facts are not there yet (the indexer has not seen the award) waits without
 * holding up the rows behind it.
 */
export function createSubstrateSender(
  ctx: AppContext,
  o: {
    settlement: SubstrateSettlement;
    coordinator: KeyringPair;
    /** The arbitrator's key, when this process runs the arbitrator's co-signer. */
    arbitrator?: KeyringPair;
    facts: CustodyFacts;
    /** Acceptance window set at delivery, s. */
    acceptanceWindowS: number;
    pollMs?: number;
    /** How long one pass waits for a broadcast extrinsic to be included, ms (default 30 000). */
    inclusionTimeoutMs?: number;
  },
): SubstrateSender {
  const { db, log } = ctx;
  const { settlement: s, facts } = o;
  const api = s.api;
  const name = "substrate";
  const pollMs = o.pollMs ?? ctx.config.INDEXER_POLL_MS;
  const inclusionTimeoutMs = o.inclusionTimeoutMs ?? 30_000;
  const rebroadcastAfterMs = 3_000;
  const lockKey = `${db.schema}.aicp.sender.${name}`;
  const channel = `aicp_outbox_${db.schema}`;
  const hooks = { confirmed: new Map<string, SenderHook[]>(), reverted: new Map<string, SenderHook[]>() };
  const keys = { coordinator: o.coordinator, arbitrator: o.arbitrator };
  const coordinator = toAccountHex(o.coordinator.address);
  const arbitrator = s.arbitrator;
  if (o.arbitrator && toAccountHex(o.arbitrator.address) !== arbitrator) throw new Error("SUBSTRATE_ARBITRATOR_URI is not the key of SUBSTRATE_ARBITRATOR");
  let lastError: string | null = null;
  /** The highest block one of our steps landed in: the co-signer waits for the indexer to pass it. */
  let landed = 0;

  const chainNow = async () => (await api.query.timestamp.now()).toNumber();
  const head = async () => (await api.rpc.chain.getHeader()).number.toNumber();

  const terms = (e: EscrowFacts): EscrowTerms => ({ taskId: e.taskId, buyer: e.buyer, agent: e.agent!, token: e.token, amount: e.amount, price: e.price });

  /** The approval step of `call` by `who` unless `who` approved it already; undefined when it has. */
  async function approveUnlessDone(c: Custody, call: Extrinsic, who: Step["signer"], what: string): Promise<Plan | undefined> {
    const p = await s.proposal(c, call);
    const me = who === "coordinator" ? coordinator : arbitrator;
    if (p?.approvals.includes(me)) return undefined;
    return { step: { signer: who, what, tx: s.approval(c, call, me) } };
  }

  /** The co-signer's execution of a proposed custody call (after the first signatory's approval). */
  async function executeBy(who: Step["signer"], c: Custody, call: Extrinsic, what: string): Promise<Plan> {
    if (who === "arbitrator" && !keys.arbitrator) return { wait: "the arbitrator's co-signer runs elsewhere (no SUBSTRATE_ARBITRATOR_URI here)" };
    const me = who === "coordinator" ? coordinator : arbitrator;
    return { step: { signer: who, what, tx: await s.execution(c, call, me) } };
  }

  /** The coordinator's proposal of a custody call (unless on-chain already), then the arbitrator co-signer's execution. */
  async function proposeThenCosign(c: Custody, call: Extrinsic, propose: string, execute: string): Promise<Plan> {
    return (await approveUnlessDone(c, call, "coordinator", propose)) ?? executeBy("arbitrator", c, call, execute);
  }

  const executed = (steps: Step[], what: string) => steps.some((x) => x.status === "included" && x.what === what && !x.error);

  /**
   * The next extrinsic of a row from its payload, the steps already included and the confirmed
   * state. Every custody execution is guarded by the rules of the signatory who adds the second
   * signature (the co-signer's for releases and refunds, the coordinator's for rulings).
   */
  async function plan(row: OutboxRow, steps: Step[]): Promise<Plan> {
    const p = row.payload;
    switch (row.kind) {
      case "escrow.award":
        if (executed(steps, "award")) return { done: true };
        return { step: { signer: "coordinator", what: "award", tx: s.remark({ op: "award", task: String(p["taskId"]), agent: toAccountHex(String(p["agent"])), price: String(p["price"]) }) } };
      case "anchor.anchor":
        if (executed(steps, "anchor")) return { done: true };
        return { step: { signer: "coordinator", what: "anchor", tx: s.remark({ op: "anchor", epoch: String(p["epoch"]), root: String(p["root"]).toLowerCase(), uri: String(p["uri"]) }) } };
      case "escrow.deliver": {
        if (executed(steps, "deliver")) return { done: true };
        const e = await facts.escrow(String(p["taskId"]));
        if (!e || e.state === "funded" || !e.agent) return { wait: "the award is not indexed yet" };
        if (e.state !== "awarded") return { refuse: `the escrow is ${e.state}; a delivery attestation needs it awarded` };
        const { call } = s.payoutCall(terms(e));
        const endsAt = Math.floor((await chainNow()) / 1000) + o.acceptanceWindowS;
        const memo = s.remark({ op: "deliver", task: e.taskId, resultHash: String(p["resultHash"]).toLowerCase(), acceptanceEndsAt: endsAt });
        const approve = await approveUnlessDone(s.custody(e.buyer), call, "coordinator", "propose-payout");
        const tx = approve && "step" in approve ? s.batch([memo, approve.step.tx]) : memo;
        return { step: { signer: "coordinator", what: "deliver", tx } };
      }
      case "escrow.release": {
        if (executed(steps, "release")) return { done: true };
        const e = await facts.escrow(String(p["taskId"]));
        if (!e) return { refuse: "no escrow is indexed for the task" };
        if (e.state !== "delivered") return { refuse: `the escrow is ${e.state}; only a delivered escrow is released by silence` };
        // The co-signer's rule: silence past the window, by the chain's clock, and no dispute.
        if (!e.acceptanceEndsAt || e.acceptanceEndsAt.getTime() >= (await chainNow())) return { refuse: "the acceptance window has not passed on-chain" };
        return proposeThenCosign(s.custody(e.buyer), s.payoutCall(terms(e)).call, "propose-payout", "release");
      }
      case "escrow.refund": {
        if (executed(steps, "refund")) return { done: true };
        const e = await facts.escrow(String(p["taskId"]));
        if (!e) return { refuse: "no escrow is indexed for the task" };
        if (e.state !== "funded" && e.state !== "awarded") return { refuse: `the escrow is ${e.state}; only an undelivered escrow is refunded` };
        // The co-signer's rule: the task ended without a delivery, or the funding never fit it.
        const ended = ["failed", "expired", "cancelled"].includes(e.taskStatus);
        const misfit = e.token !== e.taskToken || e.amount < e.budget;
        if (!ended && !misfit) return { refuse: `the task is ${e.taskStatus}: nothing to refund yet` };
        return proposeThenCosign(s.custody(e.buyer), s.refundCall({ taskId: e.taskId, buyer: e.buyer, token: e.token, amount: e.amount }), "propose-refund", "refund");
      }
      case "disputes.finalize": {
        if (executed(steps, "finalize")) return { done: true };
        const d = await facts.dispute(String(p["disputeId"]));
        if (!d || d.status !== "ruled" || d.agentShareBps === null) return { refuse: `the dispute is ${d?.status ?? "unknown"}; only a ruled dispute is finalized` };
        if (d.appealDeadline && d.appealDeadline.getTime() >= (await chainNow())) return { refuse: "the appeal window has not passed on-chain" };
        const e = await facts.escrow(d.taskId);
        if (!e || e.state !== "disputed" || e.disputeId !== String(p["disputeId"])) return { refuse: `the escrow is ${e?.state ?? "unknown"}, not disputed by this dispute` };
        const { call } = s.payoutCall(terms(e), d.agentShareBps, String(p["disputeId"]));
        const c = s.custody(e.buyer);
        const prop = await s.proposal(c, call);
        if (!prop?.approvals.includes(arbitrator)) return { refuse: "the arbitrator's ruling proposal for this split is not on-chain" };
        return executeBy("coordinator", c, call, "finalize");
      }
      case "channels.settleBatch": {
        if (executed(steps, "settle")) return { done: true };
        const vouchers = (p["vouchers"] as { payer: string; payee: string; token: string; cumulative: string; signature: string }[]).map((v) => ({
          voucher: { payer: v.payer, payee: v.payee, token: v.token, cumulative: BigInt(v.cumulative) },
          signature: v.signature,
        }));
        // Both signatories check every voucher (the payer's key, this chain, above what settled):
        // settleCalls throws on any that fails, and the batch is refused whole.
        const settled = await facts.settledOf(vouchers.map(({ voucher: v }) => ({ payer: v.payer, payee: v.payee, token: v.token })));
        const items = s.settleCalls(row.id, vouchers, settled);
        const approvals: Extrinsic[] = [];
        for (const it of items) {
          const a = await approveUnlessDone(it.custody, it.call, "coordinator", "propose-settle");
          if (a && "step" in a) approvals.push(a.step.tx);
        }
        if (approvals.length) return { step: { signer: "coordinator", what: "propose-settle", tx: approvals.length === 1 ? approvals[0]! : s.batch(approvals) } };
        if (!keys.arbitrator) return { wait: "the arbitrator's co-signer runs elsewhere (no SUBSTRATE_ARBITRATOR_URI here)" };
        const executions = await Promise.all(items.map((it) => s.execution(it.custody, it.call, arbitrator)));
        return { step: { signer: "arbitrator", what: "settle", tx: executions.length === 1 ? executions[0]! : s.batch(executions) } };
      }
      default:
        return { refuse: `NOT_ON_SUBSTRATE: ${row.kind} has no Substrate mapping` };
    }
  }

  // --------------------------------------------------------------- steps on the chain

  const stepsOf = (row: OutboxRow): Step[] => (row.steps ?? []) as Step[];
  const saveSteps = (q: Queryable, id: string, steps: Step[]) => outbox.saveSteps(q, id, steps);

  /** The block, index and events of an extrinsic (by hash) in blocks after `fromBlock`, or undefined. */
  async function findIncluded(hash: string, fromBlock: number): Promise<{ block: number; events: EventRecord[] } | undefined> {
    const top = await head();
    for (let n = fromBlock + 1; n <= top; n++) {
      const bh = await api.rpc.chain.getBlockHash(n);
      const b = await api.rpc.chain.getBlock(bh);
      const i = b.block.extrinsics.findIndex((x) => x.hash.toHex() === hash);
      if (i < 0) continue;
      const records = (await (await api.at(bh)).query.system.events()) as unknown as EventRecord[];
      return { block: n, events: records.filter((r) => r.phase.isApplyExtrinsic && r.phase.asApplyExtrinsic.toNumber() === i) };
    }
    return undefined;
  }

  /**
   * Follows a signed step until it is included (or its nonce was used by another extrinsic). A
   * step found neither in a block nor used goes out again once (the node may have lost it: a
   * crash between storing and broadcasting, a restart) after `rebroadcastAfterMs` of waiting.
   */
  async function follow(step: Step): Promise<Step | undefined> {
    const until = Date.now() + inclusionTimeoutMs;
    const rebroadcastAt = Date.now() + rebroadcastAfterMs;
    let resent = false;
    for (;;) {
      const found = await findIncluded(step.hash, step.fromBlock);
      if (found) {
        landed = Math.max(landed, found.block);
        const failed = failureOf(api, found.events);
        return { ...step, status: "included", block: found.block, ...(failed ? { error: failed.name } : {}) };
      }
      const next = (await api.rpc.system.accountNextIndex(keys[step.signer]!.address)).toNumber();
      if (next > step.nonce) {
        // Used, but not by this extrinsic (it is in no block since it was signed): it never will be.
        if (!(await findIncluded(step.hash, step.fromBlock))) return { ...step, status: "dropped" };
        continue;
      }
      if (!resent && Date.now() >= rebroadcastAt) {
        resent = true;
        await api.rpc.author.submitExtrinsic(step.raw).catch((err: Error) => {
          if (!/already imported|Priority is too low|1013/i.test(err.message)) throw err;
        });
      }
      if (Date.now() > until) return undefined;
      await new Promise((r) => setTimeout(r, Math.min(pollMs, 250)));
    }
  }

  /** Ends a row and runs the hooks in the same transaction. */
  async function finish(row: OutboxRow, status: "confirmed" | "reverted" | "failed", extra: { error?: string; block?: number; hash?: string }) {
    await db.tx(async (t) => {
      if (extra.hash) await outbox.setTxHash(t, row.id, extra.hash);
      const done = await outbox.end(t, row.id, status, ["pending"], { error: extra.error ?? null, ...(extra.block !== undefined ? { block: extra.block } : {}) });
      if (!done) return;
      for (const h of (status === "confirmed" ? hooks.confirmed : hooks.reverted).get(done.kind) ?? []) await h(t, done);
    });
    log[status === "confirmed" ? "info" : "warn"]({ outboxId: row.id, intent: row.intent, kind: row.kind, status, error: extra.error }, `substrate transaction ${status}`);
  }

  /** Brings one row forward as far as it goes now. */
  async function advanceRow(row: OutboxRow): Promise<void> {
    let steps = stepsOf(row);
    for (let guard = 0; guard < 6; guard++) {
      const open = steps.find((x) => x.status === "signed");
      if (open) {
        const r = await follow(open);
        if (!r) return; // not included yet: the next pass follows it again
        steps = steps.map((x) => (x === open ? r : x));
        await saveSteps(db, row.id, steps);
        if (r.error) return finish(row, "reverted", { error: `${r.what}: ${r.error}`, block: r.block!, hash: r.hash });
        continue;
      }
      // The co-signer reads the projections only once they include our own last step.
      if (landed > (await facts.indexedBlock())) return;
      let next: Plan;
      try {
        next = await plan(row, steps);
      } catch (err) {
        if (err instanceof AppError && !err.retryable && err.status < 500) return finish(row, "reverted", { error: `${err.code}: ${err.message}` });
        throw err;
      }
      if ("done" in next) {
        const last = [...steps].reverse().find((x) => x.status === "included");
        return finish(row, "confirmed", { ...(last ? { block: last.block!, hash: last.hash } : {}) });
      }
      if ("refuse" in next) return finish(row, next.refuse.startsWith("NOT_ON_SUBSTRATE") ? "failed" : "reverted", { error: next.refuse });
      if ("wait" in next) {
        await outbox.noteError(db, row.id, next.wait);
        return;
      }
      const pair = keys[next.step.signer]!;
      const nonce = (await api.rpc.system.accountNextIndex(pair.address)).toNumber();
      const fromBlock = await head();
      const signed = await next.step.tx.signAsync(pair, { nonce, era: 0 });
      const step: Step = { signer: next.step.signer, what: next.step.what, nonce, hash: signed.hash.toHex(), raw: signed.toHex(), fromBlock, status: "signed" };
      steps = [...steps, step];
      // Stored before it leaves the process: after a crash the same extrinsic goes out, never a second one.
      await saveSteps(db, row.id, steps);
      await api.rpc.author.submitExtrinsic(step.raw).catch(async (err: Error) => {
        // Refused outright (e.g. cannot pay the fee): the nonce was not used; the step is dropped.
        steps = steps.map((x) => (x === step ? { ...x, status: "dropped" as const, error: err.message } : x));
        await saveSteps(db, row.id, steps);
        throw err;
      });
      log.info({ outboxId: row.id, intent: row.intent, step: step.what, signer: step.signer, hash: step.hash }, "substrate transaction sent");
    }
  }

  async function advance() {
    const client = await db.connect();
    let broken: Error | undefined;
    try {
      const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS ok", [lockKey]);
      if (!r.rows[0]?.ok) return;
      try {
        for (const row of await outbox.byStatus(db, name, "pending", 200)) {
          try {
            await advanceRow(row);
            lastError = null;
          } catch (err) {
            lastError = (err as Error).message;
            log.warn({ outboxId: row.id, intent: row.intent, err: lastError }, "substrate sender: will retry");
            await outbox.noteError(db, row.id, lastError.slice(0, 2000)).catch(() => undefined);
          }
        }
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [lockKey]).catch((err: Error) => (broken = err));
      }
    } finally {
      client.release(broken);
    }
  }

  return {
    chain: name,
    enqueue: (t, intent) => enqueue(t, { ...intent, chain: name }),
    onConfirmed(kind, handler) {
      hooks.confirmed.set(kind, [...(hooks.confirmed.get(kind) ?? []), handler]);
    },
    onReverted(kind, handler) {
      hooks.reverted.set(kind, [...(hooks.reverted.get(kind) ?? []), handler]);
    },
    async status() {
      const [counts, h] = await Promise.all([outbox.backlog(db, name), head().catch(() => null)]);
      const n = (st: string) => counts.rows.find((r) => r.status === st)?.n ?? 0;
      const oldest = counts.rows.reduce<Date | null>((a, r) => (a === null || r.oldest < a ? r.oldest : a), null);
      return { chain: name, chainOk: h !== null, head: h, backlog: n("pending") + n("signed") + n("sent"), pending: n("pending"), signed: n("signed"), sent: n("sent"), oldestOpenAt: oldest?.toISOString() ?? null, lastError: lastError ?? counts.rows.find((r) => r.last_error)?.last_error ?? null };
    },
    advance,
    start() {
      let stopped = false;
      let running: Promise<void> | undefined;
      let again = false;
      const kick = () => {
        if (stopped) return;
        if (running) {
          again = true;
          return;
        }
        running = advance()
          .catch((err: Error) => log.warn({ err: err.message }, "substrate sender pass failed"))
          .finally(() => {
            running = undefined;
            if (again) {
              again = false;
              kick();
            }
          });
      };
      let listener: Awaited<ReturnType<Db["connect"]>> | undefined;
      void db
        .connect()
        .then(async (c) => {
          listener = c;
          c.on("notification", (msg) => {
            if (msg.channel === channel) kick();
          });
          c.on("error", () => undefined);
          await c.query(`LISTEN "${channel}"`);
        })
        .catch((err: Error) => log.warn({ err: err.message }, "substrate sender cannot LISTEN; polling only"));
      const timer = setInterval(kick, pollMs);
      kick();
      return async () => {
        stopped = true;
        clearInterval(timer);
        await running;
        listener?.release(true);
      };
    },
  };
}
