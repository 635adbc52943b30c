import { keccak256, toUtf8Bytes } from "ethers";
import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { badRequest, conflict, forbidden, notFound } from "../errors.js";
import type { Outgoing } from "../events/bus.js";
import type { ReputationService } from "../reputation/service.js";
import type { BreakerStore } from "./breaker-store.js";
import { postJson } from "./post.js";
import { signWebhookBody } from "./webhook.js";
import type { TaskTxHooks } from "../tasks/hooks.js";
import { taskTransitions as transitions } from "../tasks/transitions.js";
import { schedulingRepository as repo } from "./repository.js";

/** A task that reached a final execution state (delivered or failed), for the workflow engine. */
export type FinishedTask = { id: string; status: "delivered" | "failed" | "expired" | "cancelled"; workflowId: string | null; nodeKey: string | null; output: unknown; price: string | null };

export type ExecutionService = {
  /**
   * Dispatches freshly awarded tasks (first attempt) at once in this process, and queues a
   * delayed dispatch job with the same deterministic id as the crash-safe backstop.
   */
  onAwarded(tasks: { id: string; agent: string }[]): Promise<void>;
  /** Waits for this process's in-flight direct dispatches (graceful shutdown). */
  idle(): Promise<void>;
  /** Runs one execution job (dispatch or deadline check). Idempotent per (task, agent, attempt). */
  runJob(job: { kind: "dispatch" | "deadline"; taskId: string; attempt: number; agent: string }): Promise<string>;
  /**
   * The awarded agent delivers its output (FIPA `inform-done`). The result hash is keccak256 of
   * the output's canonical JSON (sorted keys); a supplied hash must match it.
   * @throws 404 TASK_NOT_FOUND, 403 NOT_AWARDED_AGENT, 409 NOT_RUNNING, 400 RESULT_HASH_MISMATCH
   */
  deliver(taskId: string, agent: string, output: unknown, resultHash?: string): Promise<{ id: string; status: string; resultHash: string }>;
  /** The awarded agent reports that it failed (FIPA `failure`): counts as a failed attempt. */
  reportFailure(taskId: string, agent: string, reason: string): Promise<{ id: string; status: string }>;
  /** Registers a listener for tasks reaching a final execution state. */
  onFinished(listener: (t: FinishedTask) => Promise<void>): void;
  /** Lets other domains (auction close) announce final states too. */
  finished(t: FinishedTask): Promise<void>;
};

/** keccak256 of the canonical JSON (object keys sorted, no whitespace) of `value`. */
export function resultHashOf(value: unknown): string {
  return keccak256(toUtf8Bytes(canonicalJson(value)));
}

export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
}

/** Delay of the backstop job queued with each direct first-attempt dispatch, ms. */
const DISPATCH_BACKSTOP_MS = 1_000;


export function createExecutionService(
  ctx: AppContext,
  deps: { breakers: BreakerStore; reputation: ReputationService; dispatch(out: Outgoing[]): Promise<void>; tx?: TaskTxHooks },
): ExecutionService {
  const { db, queues, config, log } = ctx;
  const { breakers, reputation } = deps;
  const listeners: ((t: FinishedTask) => Promise<void>)[] = [];
  const inFlight = new Set<Promise<unknown>>();

  async function finished(t: FinishedTask) {
    for (const l of listeners) await l(t).catch((err) => log.error({ err, task: t.id }, "finished-task listener failed"));
  }

  const lock = async (t: Queryable, id: string) =>
    repo.lockTask(t, id);

  async function enqueueDispatch(taskId: string, agent: string, attempt: number, delay = 0) {
    await queues.execution.add("dispatch", { kind: "dispatch", taskId, agent, attempt }, { jobId: `dispatch-${taskId}-${agent}-${attempt}`, delay });
  }

  /**
   * Records a failed attempt and decides what follows: a retry with exponential backoff, a
   * failover to the next runner-up at its own proposal, or `failed` (DESIGN.md step 6).
   */
  async function fail(taskId: string, agent: string, attempt: number, reason: string): Promise<string> {
    const out: Outgoing[] = [];
    let next: { agent: string; attempt: number; delay: number } | undefined;
    let final: FinishedTask | undefined;
    const result = await db.tx(async (t) => {
      const task = await lock(t, taskId);
      if (!task || !["awarded", "running"].includes(task.status) || task.agent !== agent || task.attempts !== attempt) return "stale";
      const responseMs = task.started_at ? ctx.now() - task.started_at.getTime() : null;
      await reputation.record(t, { agent, capability: task.capability, taskId, ok: false, responseMs });
      if (attempt < config.EXEC_MAX_ATTEMPTS) {
        // Clearing dispatched_at voids an in-flight dispatch of this attempt: if the agent reported
        // the failure before its webhook call returned, that call must not mark the task running.
        await transitions.retry(t, taskId, reason);
        next = { agent, attempt: attempt + 1, delay: config.EXEC_RETRY_BASE_MS * 2 ** attempt };
        return "retry";
      }
      // Fail over: the next runner-up that is not suspended, below its concurrency limit, and whose breaker is not open.
      const queue = [...task.runner_ups];
      while (queue.length) {
        const cand = queue.shift()!;
        // The concurrency cap holds at failover too (not only at bid): a saturated runner-up is skipped.
        if (!(await repo.canTakeOver(t, cand.agent))) continue;
        if ((await breakers.get(cand.agent)).state === "open") continue;
        await transitions.failover(t, taskId, { agent: cand.agent, price: cand.price, runnerUps: queue, reason });
        await repo.acceptProposal(t, task.auction_id, cand.agent);
        await deps.tx?.awarded?.(t, { id: taskId, agent: cand.agent, price: BigInt(cand.price), failover: true, settlement: task.settlement });
        out.push({ address: cand.agent, webhook: true, event: { type: "accept-proposal", data: { auctionId: task.auction_id, taskId, price: cand.price, failover: true } } });
        out.push({ address: task.buyer, event: { type: "task", data: { taskId, status: "awarded", agent: cand.agent, price: cand.price, failoverFrom: agent } } });
        next = { agent: cand.agent, attempt: 1, delay: 0 };
        return "failover";
      }
      await transitions.fail(t, taskId, reason);
      await deps.tx?.ended?.(t, { id: taskId, status: "failed" });
      out.push({ address: task.buyer, event: { type: "task", data: { taskId, status: "failed", reason } } });
      final = { id: taskId, status: "failed", workflowId: task.workflow_id, nodeKey: task.node_key, output: null, price: null };
      return "failed";
    });
    if (result === "stale") return result;
    await breakers.record(agent, false);
    if (next) await enqueueDispatch(taskId, next.agent, next.attempt, next.delay);
    await deps.dispatch(out);
    if (final) await finished(final);
    return result;
  }

  async function dispatch(taskId: string, agent: string, attempt: number): Promise<string> {
    // The claim, in one statement (one round trip, atomic under the row lock the UPDATE takes):
    // only while the task is awarded to this agent with attempt − 1 attempts made; it records
    // the attempt with the agent's estimate from its proposal, and reads the agent's endpoint
    // and whether its breaker is plainly closed (then no further read is needed to permit).
    const row = await repo.claim(db, taskId, agent, attempt);
    if (!row) return "stale";
    const claim = { task: row, etaMs: row.eta_ms, endpoint: row.endpoint_url, secret: row.webhook_secret ?? "" };
    // An open breaker rejects at once: no network call, straight to failover.
    if (!row.breaker_closed && !(await breakers.permit(agent))) {
      await repo.exhaustAttempts(db, taskId, config.EXEC_MAX_ATTEMPTS);
      return fail(taskId, agent, config.EXEC_MAX_ATTEMPTS, "circuit breaker open");
    }
    const { task, etaMs, endpoint, secret } = claim;
    const assignment = { taskId, auctionId: task.auction_id, capability: task.capability, input: task.input, price: task.price, deadline: task.deadline.toISOString(), attempt };
    if (endpoint) {
      const body = JSON.stringify({ type: "task-assigned", data: assignment });
      try {
        const status = await postJson(
          endpoint,
          { "content-type": "application/json", "x-aicp-event": "task-assigned", "x-aicp-signature": signWebhookBody(secret, Date.now(), body) },
          body,
          config.WEBHOOK_TIMEOUT_MS,
        );
        if (status < 200 || status >= 300) return fail(taskId, agent, attempt, `agent endpoint answered ${status}`);
      } catch (err) {
        return fail(taskId, agent, attempt, `agent endpoint unreachable: ${(err as Error).message}`);
      }
    }
    const timeout = Math.min(task.deadline.getTime() - ctx.now(), Math.round(etaMs * config.EXEC_TIMEOUT_FACTOR) + config.EXEC_GRACE_MS);
    const started = await transitions.start(db, taskId, agent, attempt, new Date(ctx.now() + Math.max(0, timeout)));
    if (!started) return "stale"; // delivered (or failed) while the webhook was in flight
    await queues.execution.add("deadline", { kind: "deadline", taskId, agent, attempt }, { jobId: `deadline-${taskId}-${agent}-${attempt}`, delay: Math.max(0, timeout) });
    if (!endpoint) await deps.dispatch([{ address: agent, event: { type: "task-assigned", data: assignment } }]);
    return "running";
  }

  return {
    async onAwarded(tasks) {
      if (tasks.length === 0) return;
      // The queued job (same deterministic id as before) is the durable backstop: if this
      // process dies before the direct dispatch below claims the task, a worker dispatches it.
      // It is delayed so that it normally runs after the direct dispatch and finds the task
      // claimed ("stale"); the claim (row lock + attempts check) lets only one of them send.
      await queues.execution.addBulk(
        tasks.map((t) => ({
          name: "dispatch",
          data: { kind: "dispatch" as const, taskId: t.id, agent: t.agent, attempt: 1 },
          opts: { jobId: `dispatch-${t.id}-${t.agent}-1`, delay: DISPATCH_BACKSTOP_MS },
        })),
      );
      // Direct dispatch: saves the queue's pick-up latency between the award and the agent.
      // Once it has the task running, the backstop job has nothing left to do: removed (if it
      // stays, it finds the task claimed).
      for (const t of tasks) {
        const p = dispatch(t.id, t.agent, 1)
          .then((r) => {
            if (r === "running") void queues.execution.remove(`dispatch-${t.id}-${t.agent}-1`).catch(() => undefined);
          })
          .catch((err) => log.warn({ err, task: t.id }, "direct dispatch failed; the queued job will retry"))
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    },

    async idle() {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },

    async runJob(job) {
      if (job.kind === "dispatch") return dispatch(job.taskId, job.agent, job.attempt);
      if (!(await repo.isRunning(db, job.taskId, job.agent, job.attempt))) return "done";
      return fail(job.taskId, job.agent, job.attempt, "deadline missed");
    },

    async deliver(taskId, agent, output, resultHash) {
      const hash = resultHashOf(output);
      if (resultHash !== undefined && resultHash.toLowerCase() !== hash)
        throw badRequest("RESULT_HASH_MISMATCH", `resultHash must be keccak256 of the output's canonical JSON (${hash}).`);
      let fin: FinishedTask | undefined;
      const out: Outgoing[] = [];
      let attempt = 0;
      let breakerClean = false;
      await db.tx(async (t) => {
        // Delivered only while awarded to this agent (or running): one conditional UPDATE under
        // the row lock; when it matches nothing, a read names the reason.
        const task = await transitions.deliver(t, taskId, agent, output, hash);
        if (!task) {
          const cur = await repo.state(t, taskId);
          if (!cur) throw notFound("TASK_NOT_FOUND", `No task ${taskId}.`);
          if (cur.agent !== agent) throw forbidden("NOT_AWARDED_AGENT", "Only the agent the task is awarded to may deliver it.");
          throw conflict("NOT_RUNNING", `The task is ${cur.status}; only an awarded or running task can be delivered.`);
        }
        attempt = task.attempts;
        breakerClean = task.breaker_clean;
        const since = (task.started_at ?? task.awarded_at ?? new Date(ctx.now())).getTime();
        await reputation.record(t, { agent, capability: task.capability, taskId, ok: true, responseMs: ctx.now() - since });
        await deps.tx?.delivered?.(t, { id: taskId, agent, price: BigInt(task.price ?? "0"), resultHash: hash, settlement: task.settlement });
        out.push({ address: task.buyer, event: { type: "task", data: { taskId, status: "delivered", agent, resultHash: hash } } });
        fin = { id: taskId, status: "delivered", workflowId: task.workflow_id, nodeKey: task.node_key, output, price: task.price };
      });
      // A success changes a breaker only when it is not plainly closed (read with the delivery).
      if (!breakerClean) await breakers.record(agent, true);
      // The attempt's deadline check has nothing left to do (if it stays, it finds the task delivered).
      void queues.execution.remove(`deadline-${taskId}-${agent}-${attempt}`).catch(() => undefined);
      await deps.dispatch(out);
      await finished(fin!);
      return { id: taskId, status: "delivered", resultHash: hash };
    },

    async reportFailure(taskId, agent, reason) {
      const task = await repo.state(db, taskId);
      if (!task) throw notFound("TASK_NOT_FOUND", `No task ${taskId}.`);
      if (task.agent !== agent) throw forbidden("NOT_AWARDED_AGENT", "Only the agent the task is awarded to may report on it.");
      if (!["awarded", "running"].includes(task.status)) throw conflict("NOT_RUNNING", `The task is ${task.status}.`);
      await fail(taskId, agent, task.attempts, `agent reported: ${reason}`);
      return { id: taskId, status: (await repo.state(db, taskId))!.status };
    },

    onFinished(l) {
      listeners.push(l);
    },
    finished,
  };
}
