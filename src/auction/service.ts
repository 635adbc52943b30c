import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { badRequest, conflict, forbidden, notFound } from "../errors.js";
import { agentRepository } from "../agents/repository.js";
import type { Outgoing } from "../events/bus.js";
import type { Notifier } from "../events/notifier.js";
import type { CallForProposals } from "../protocol/tasks.js";
import { multiplierFor } from "../reputation/tiers.js";
import { decideAuction, type Bid } from "./rules.js";
import type { TaskTxHooks } from "../tasks/hooks.js";
import { taskTransitions as transitions } from "../tasks/transitions.js";
import { auctionRepository as repo } from "./repository.js";

export type ProposalResult = {
  auctionId: string;
  taskId: string;
  agent: string;
  price: string;
  etaMs: number;
  replaced: boolean;
  auctionClosed: boolean;
};

export type AuctionService = {
  /**
   * Opens the auction inside the caller's transaction: snapshots the eligible agents as the
   * call-for-proposals recipients (FIPA Contract Net `cfp`). The buyer is never invited to
   * its own auction. Returns the messages to send after the commit.
   */
  open(t: Queryable, auction: { id: string; buyer: string; capability: string }, cfp: Omit<CallForProposals, "myProposal">): Promise<Outgoing[]>;
  /** Sends post-commit messages: Redis pub/sub for long-poll and SSE, BullMQ jobs for webhooks. */
  dispatch(out: Outgoing[]): Promise<void>;
  /** Schedules the close at `closesAt` (a delayed BullMQ job with a deterministic id). */
  scheduleClose(auctionId: string, closesAt: number): Promise<void>;
  /**
   * Submits or replaces the agent's sealed proposal (FIPA `propose`). Closes the auction at
   * once when every invited agent has proposed.
   * @param price token base units; must be below the budget and at least the agent's minimum
   * @throws 404 TASK_NOT_FOUND, 403 NOT_INVITED, 409 AUCTION_CLOSED, 400 PRICE_AT_OR_ABOVE_BUDGET |
   *   PRICE_BELOW_MINIMUM
   */
  propose(taskId: string, agent: string, price: bigint, etaMs: number): Promise<ProposalResult>;
  /**
   * Closes an open auction and awards it under its rule (idempotent: a closed or cancelled
   * auction is left alone). Winners get `accept-proposal`, the others `reject-proposal`; no
   * valid proposal → the tasks become `expired`. Ranked runner-ups are stored for failover.
   * @returns false when the auction was not open
   */
  close(auctionId: string, reason: "window" | "all-proposed"): Promise<boolean>;
  /** Open calls for proposals addressed to `agent`, waiting up to `waitMs` for one to arrive. */
  /**
   * Open calls for proposals addressed to `agent`; with `unanswered`, only those it has not
   * proposed on yet. Waits up to `waitMs` (long-poll) when there are none.
   */
  cfpsFor(agent: string, waitMs: number, signal?: AbortSignal, unanswered?: boolean): Promise<CallForProposals[]>;
  /**
   * Recovery after a crash between commit and enqueue: closes overdue open auctions and makes
   * sure the others have a close job. Returns how many it closed.
   */
  sweep(): Promise<number>;
  /** Cancels an auction still open or funding, inside `t`, rejecting its proposals. @returns false when it was not */
  cancel(t: Queryable, auctionId: string): Promise<boolean>;
  /** Opens a funded escrow task's auction (funding → open) inside `t`, closing at `closesAt` (ms since epoch). */
  reopen(t: Queryable, auctionId: string, closesAt: number): Promise<void>;
  /** After a cancel committed: tells the invited agents (`cfp-cancelled`) and drops the close job. */
  cancelled(auctionId: string): Promise<void>;
};


/** What a close decided, for the execution service (dispatch) and the workflow engine. */
export type CloseResult = {
  awarded: { id: string; agent: string }[];
  expired: { id: string; workflowId: string | null; nodeKey: string | null }[];
};

export function createAuctionService(
  ctx: AppContext,
  hooks: { notifier: Notifier; afterClose?(r: CloseResult): Promise<void>; tx?: TaskTxHooks },
): AuctionService {
  const { db, queues, bus, metrics, log } = ctx;

  const dispatch = (out: Outgoing[]) => hooks.notifier.send(out);

  // A local timer closes the auction on time in the process that opened it (BullMQ's delayed
  // jobs fire tens of ms late); the delayed job is the durable backstop that survives a crash.
  // Whichever runs first closes; the other finds the auction closed.
  const timers = new Map<string, NodeJS.Timeout>();
  async function scheduleClose(auctionId: string, closesAt: number) {
    const delay = Math.max(0, closesAt - ctx.now());
    await queues.auctionClose.add("close", { auctionId }, { jobId: `close-${auctionId}`, delay });
    if (!timers.has(auctionId) && delay < 24 * 3600_000) {
      const timer = setTimeout(() => {
        timers.delete(auctionId);
        close(auctionId, "window").catch((err) => log.warn({ err, auctionId }, "timed close failed; the queued job will retry"));
      }, delay);
      timer.unref();
      timers.set(auctionId, timer);
    }
  }

  // The last bidders of an auction each see every proposal and each call close(); without this,
  // each would open a transaction and queue on the auction's row lock only to find it closed.
  // Within this process one close per (auction, reason) runs and the others share its outcome
  // (false: they did not close it); if it fails, each tries on its own.
  const closing = new Map<string, Promise<boolean>>();
  function close(auctionId: string, reason: "window" | "all-proposed"): Promise<boolean> {
    const key = `${reason}:${auctionId}`;
    const running = closing.get(key);
    if (running) return running.then(() => false, () => closeNow(auctionId, reason));
    const p = closeNow(auctionId, reason).finally(() => closing.delete(key));
    closing.set(key, p);
    return p;
  }

  async function closeNow(auctionId: string, reason: "window" | "all-proposed"): Promise<boolean> {
    const out: Outgoing[] = [];
    const result: CloseResult = { awarded: [], expired: [] };
    let scheduledAt = 0;
    const closed = await db.tx(async (t) => {
      // The auction row, locked (proposals hold it shared until they commit), with its tasks
      // (fixed at posting); the proposals are read in the next statement, whose snapshot then
      // includes every proposal committed before the lock was granted.
      const a = await repo.lockWithTasks(t, auctionId);
      if (!a || a.status !== "open") return false;
      const timer = timers.get(auctionId);
      if (timer && reason !== "window") {
        clearTimeout(timer);
        timers.delete(auctionId);
      }
      // Never before the window ends (a proposal may still arrive in its last milliseconds): a
      // timer or job that fired early re-arms a timer for the rest (the job also retries).
      const early = a.closes_at.getTime() - ctx.now();
      if (reason === "window" && early > 0) {
        if (!timers.has(auctionId)) {
          const timer = setTimeout(() => {
            timers.delete(auctionId);
            close(auctionId, "window").catch((err) => log.warn({ err, auctionId }, "timed close failed; the queued job will retry"));
          }, early + 1);
          timer.unref();
          timers.set(auctionId, timer);
        }
        return false;
      }
      scheduledAt = a.closes_at.getTime();
      await repo.lockBidders(t, auctionId);
      const props = await repo.closingProposals(t, auctionId, a.capability);
      // The concurrency cap holds at the award (not only at the bid): a bidder that reached its
      // limit since it proposed cannot win; the next one does (its load is read under its lock).
      const bids: Bid[] = props.filter((p) => p.load < p.max_concurrency).map((p) => ({
        agent: p.agent,
        price: BigInt(p.price),
        multiplierBps: multiplierFor(p.successes ?? 0, p.failures ?? 0).multiplierBps,
        load: p.load,
        submittedAt: p.updated_at.getTime(),
      }));
      const budget = BigInt(a.budget);
      const { winners, ranked } = decideAuction(a.rule, bids, budget, a.quantity);
      const tasks = a.tasks ?? [];
      const runnerUps = ranked.slice(winners.length).map((b) => ({ agent: b.agent, price: b.price.toString() }));
      const clearing = winners[0]?.pays ?? null;
      const ids: string[] = [];
      const statuses: string[] = [];
      const agents: (string | null)[] = [];
      const prices: (string | null)[] = [];
      tasks.forEach((task, i) => {
        const w = winners[i];
        if (w) result.awarded.push({ id: task.id, agent: w.agent });
        else result.expired.push({ id: task.id, workflowId: task.workflow_id, nodeKey: task.node_key });
        ids.push(task.id);
        statuses.push(w ? "awarded" : "expired");
        agents.push(w?.agent ?? null);
        prices.push(w?.pays.toString() ?? null);
      });
      const winnerSet = new Set(winners.map((w) => w.agent));
      // The auction, its proposals and its tasks in one statement (src/tasks/transitions.ts).
      await transitions.close(t, { id: auctionId, reason, clearing, winners: [...winnerSet] }, ids.map((id, i) => ({ id, status: statuses[i] as "awarded" | "expired", agent: agents[i]!, price: prices[i]! })), runnerUps);
      for (const [i, task] of tasks.entries()) {
        const w = winners[i];
        if (w) await hooks.tx?.awarded?.(t, { id: task.id, agent: w.agent, price: w.pays, failover: false, settlement: task.settlement });
        else await hooks.tx?.ended?.(t, { id: task.id, status: "expired" });
      }
      const webhook = new Map(props.map((p) => [p.agent, p.webhook]));
      winners.forEach((w, i) =>
        out.push({
          address: w.agent,
          webhook: webhook.get(w.agent) ?? true,
          event: { type: "accept-proposal", data: { auctionId, taskId: tasks[i]!.id, price: w.pays.toString(), bid: w.bid.toString() } },
        }),
      );
      for (const p of props)
        if (!winnerSet.has(p.agent))
          out.push({ address: p.agent, webhook: p.webhook, event: { type: "reject-proposal", data: { auctionId, taskIds: ids } } });
      out.push({
        address: a.buyer,
        event: {
          type: "auction-closed",
          data: { auctionId, taskIds: ids, outcome: winners.length ? "awarded" : "expired", winners: winners.map((w) => ({ agent: w.agent, price: w.pays.toString() })) },
        },
      });
      metrics.auctionsClosed.inc({ rule: a.rule, outcome: winners.length ? "awarded" : "expired" });
      return true;
    });
    if (closed) {
      // An early close leaves the window's timer and its delayed job with nothing to do but a
      // wasted transaction each: clear the one, remove the other (the job, if it stays, finds
      // the auction closed).
      clearTimeout(timers.get(auctionId));
      timers.delete(auctionId);
      if (reason !== "window") void queues.auctionClose.remove(`close-${auctionId}`).catch(() => undefined);
      if (reason === "window") metrics.closeToAward.observe(Math.max(0, ctx.now() - scheduledAt) / 1000);
      await dispatch(out).catch((err) => log.warn({ err, auctionId }, "post-close notifications failed"));
      await hooks.afterClose?.(result);
    }
    return closed;
  }

  async function openCfps(agent: string, unanswered: boolean): Promise<CallForProposals[]> {
    const r = await repo.openCfps(db, agent, unanswered);
    return r.map((x) => ({
      auctionId: x.id,
      taskIds: x.task_ids,
      capability: x.capability,
      input: x.input,
      complexity: x.complexity,
      urgency: x.urgency,
      budget: x.budget,
      token: x.token,
      deadline: x.deadline.toISOString(),
      rule: x.rule,
      quantity: x.quantity,
      closesAt: x.closes_at.toISOString(),
      myProposal: x.my_price === null ? null : { price: x.my_price, etaMs: x.my_eta! },
    }));
  }

  return {
    async open(t, auction, cfp) {
      const eligible = await agentRepository.invite(t, auction);
      return eligible.map((e) => ({ address: e.address, webhook: e.endpoint_url !== null, event: { type: "cfp", data: { ...cfp } } }));
    },

    dispatch,
    scheduleClose,
    close,

    async propose(taskId, agent, price, etaMs) {
      // One statement (one round trip, atomic): lock the auction row (proposals to one auction
      // take turns; a close waits for them), upsert the proposal only if every check below
      // passes, and count a new proposer in `auctions.proposed`; the checks then run again on the
      // returned row, with the same clock reading, to name the error. Under the lock the count
      // is exact: the proposal that completes the set of invited agents sees it and closes.
      const now = ctx.now();
      const a = await repo.propose(db, { taskId, agent, price, etaMs, now: new Date(now) });
      if (!a) throw notFound("TASK_NOT_FOUND", `No task ${taskId}.`);
      if (!a.invited) throw forbidden("NOT_INVITED", "This agent did not receive the call for proposals for this task.");
      if (a.status !== "open" || a.closes_at.getTime() <= now)
        throw conflict("AUCTION_CLOSED", "The auction for this task is closed; proposals are no longer accepted.");
      if (price >= BigInt(a.budget))
        throw badRequest("PRICE_AT_OR_ABOVE_BUDGET", `The price must be below the budget (${a.budget} base units).`);
      if (a.min_price !== null && price < BigInt(a.min_price))
        throw badRequest("PRICE_BELOW_MINIMUM", `The price is below your own minimum for this capability (${a.min_price}).`);
      // Every check passed on the row the statement locked, so its upsert ran.
      if (a.inserted === null) throw conflict("AUCTION_CLOSED", "The auction for this task is closed; proposals are no longer accepted.");
      const res = { auctionId: a.auction_id, inserted: a.inserted, n: a.n, eligible: a.eligible };
      metrics.proposals.inc();
      let auctionClosed = false;
      if (res.n >= res.eligible) auctionClosed = await close(res.auctionId, "all-proposed");
      return {
        auctionId: res.auctionId,
        taskId,
        agent,
        price: price.toString(),
        etaMs,
        replaced: !res.inserted,
        auctionClosed,
      };
    },

    async cfpsFor(agent, waitMs, signal, unanswered = false) {
      if (waitMs <= 0) return openCfps(agent, unanswered);
      // Subscribe before the first read: a call published between an empty read and the
      // subscription would otherwise be missed, and the agent would wait out waitMs.
      let wake: () => void = () => undefined;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const unsub = await bus.subscribe(agent, (e) => { if (e.type === "cfp") wake(); }).catch(() => undefined);
      try {
        const list = await openCfps(agent, unanswered);
        if (list.length > 0 || !unsub || signal?.aborted) return list;
        const timer = setTimeout(wake, waitMs);
        signal?.addEventListener("abort", wake, { once: true });
        await woken;
        clearTimeout(timer);
        signal?.removeEventListener("abort", wake);
        if (signal?.aborted) return [];
        return await openCfps(agent, unanswered);
      } finally {
        unsub?.();
      }
    },

    async cancel(t, auctionId) {
      return repo.cancel(t, auctionId);
    },

    async reopen(t, auctionId, closesAt) {
      await repo.openFunded(t, auctionId, new Date(closesAt));
    },

    async cancelled(auctionId) {
      const invited = await repo.invited(db, auctionId);
      await dispatch(invited.map((agent) => ({ address: agent, event: { type: "cfp-cancelled", data: { auctionId } } })));
      await queues.auctionClose.remove(`close-${auctionId}`).catch(() => undefined);
    },

    async sweep() {
      const open = await repo.openAuctions(db);
      let overdue = 0;
      for (const a of open) {
        // Overdue by more than the job's normal latency: its job was lost (crash between commit
        // and enqueue) or already spent, so close here; otherwise make sure a job is waiting.
        if (a.closes_at.getTime() < ctx.now() - 2_000) {
          if (await close(a.id, "window")) overdue++;
        } else await scheduleClose(a.id, a.closes_at.getTime());
      }
      metrics.openAuctions.set(open.length - overdue);
      return overdue;
    },
  };
}
