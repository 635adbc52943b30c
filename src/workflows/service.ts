import type { AppContext } from "../context.js";
import type { Queryable } from "../db/index.js";
import { badRequest, notFound, forbidden } from "../errors.js";
import type { AuctionRule } from "../protocol/tasks.js";
import type { TaskService } from "../tasks/service.js";
import type { FinishedTask } from "../scheduling/execution.js";
import type { Urgency } from "../protocol/tasks.js";
import { checkDag, criticalPath, descendants, referencedKeys, resolveInputs, type DagNode } from "./dag.js";
import { workflowRepository as repo, type WorkflowRow } from "./repository.js";

export type WorkflowNodeSpec = {
  key: string;
  capability: string;
  input: unknown;
  complexity: number;
  urgency: Urgency;
  /** Budget of this node in token base units (its auction's reserve price). */
  budget: bigint;
  dependsOn: string[];
  auction?: { rule: AuctionRule; windowMs: number };
};

export type WorkflowSpec = {
  nodes: WorkflowNodeSpec[];
  /** Total budget in token base units: Σ node budgets + reserve must not exceed it. */
  totalBudget: bigint;
  /** Reserve for overruns, base units; default WORKFLOW_RESERVE_BPS of the total. */
  reserve?: bigint;
  token: string;
  deadline: Date;
  route: "auto" | "channel" | "escrow";
};

export type WorkflowService = {
  /**
   * Accepts a DAG of tasks, holds its budgets in the workflow ledger and auctions the ready
   * nodes at once; children are auctioned as soon as all their parents are done, in parallel.
   * @throws 400 TOO_MANY_NODES | DUPLICATE_KEY | UNKNOWN_DEPENDENCY | CYCLE | BUDGET_MISMATCH | BAD_INPUT_REFERENCE
   */
  create(buyer: string, spec: WorkflowSpec): Promise<WorkflowView>;
  /** Per-node state, agent, price and timings, the critical path, the ledger and the overall state. */
  get(id: string, viewer: { address?: string; operator: boolean }): Promise<WorkflowView>;
  /** Listener for the execution service: advances the workflow of a finished task. */
  onTaskFinished(t: FinishedTask): Promise<void>;
};

export type WorkflowView = Awaited<ReturnType<typeof loadView>>;

async function loadView(q: Queryable, id: string) {
  const w = await repo.get(q, id);
  if (!w) throw notFound("WORKFLOW_NOT_FOUND", `No workflow ${id}.`);
  const nodes = await repo.nodesWithTasks(q, id);
  const ledger = await repo.ledgerTotals(q, id);
  const dur = (n: (typeof nodes)[number]) =>
    n.started_at && n.finished_at ? n.finished_at.getTime() - n.started_at.getTime() : n.started_at ? Date.now() - n.started_at.getTime() : (n.eta_ms ?? 0);
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const cp = criticalPath(nodes.map((n) => ({ key: n.key, dependsOn: n.depends_on })), (k) => dur(byKey.get(k)!));
  const end = w.finished_at ?? (nodes.some((n) => !n.finished_at) ? null : new Date(Math.max(...nodes.map((n) => n.finished_at!.getTime()))));
  return {
    id: w.id,
    buyer: w.buyer,
    status: w.status,
    totalBudget: w.total_budget,
    reserve: w.reserve,
    reserveUsed: w.reserve_used,
    token: w.token,
    route: w.route,
    deadline: w.deadline.toISOString(),
    createdAt: w.created_at.toISOString(),
    finishedAt: end?.toISOString() ?? null,
    wallMs: end ? end.getTime() - w.created_at.getTime() : null,
    criticalPath: { nodes: cp.path, ms: cp.ms },
    ledger: Object.fromEntries(["hold", "spend", "release", "reserve_draw"].map((k) => [k, ledger.find((l) => l.kind === k)?.total ?? "0"])),
    nodes: nodes.map((n) => ({
      key: n.key,
      status: n.status,
      dependsOn: n.depends_on,
      capability: n.spec.capability,
      budget: n.budget,
      taskId: n.task_id,
      taskStatus: n.task_status,
      // An escrow-route node waits for the buyer's funding: where its funding plan is (again).
      funding: n.task_id && n.task_status === "funding" ? `/v1/tasks/${n.task_id}/funding` : null,
      agent: n.agent,
      price: n.price,
      attempts: n.attempts,
      failureReason: n.failure_reason,
      startedAt: n.started_at?.toISOString() ?? null,
      finishedAt: n.finished_at?.toISOString() ?? null,
      durationMs: n.started_at && n.finished_at ? n.finished_at.getTime() - n.started_at.getTime() : null,
    })),
  };
}

export function createWorkflowService(ctx: AppContext, tasks: TaskService): WorkflowService {
  const { db, config, log } = ctx;

  async function ledger(t: Queryable, workflowId: string, nodeKey: string | null, kind: string, amount: bigint) {
    if (amount > 0n) await repo.addLedger(t, { workflowId, nodeKey, kind, amount });
  }

  /** Auctions nodes already marked `auctioning` (outside the workflow lock). */
  async function post(w: WorkflowRow, keys: string[], extraBudget: Map<string, bigint> = new Map()) {
    if (keys.length === 0) return;
    const nodes = await repo.nodes(db, w.id);
    const outputs: Record<string, unknown> = {};
    const doneTasks = nodes.filter((n) => n.status === "done" && n.task_id);
    if (doneTasks.length) {
      const out = await repo.outputs(db, doneTasks.map((n) => n.task_id!));
      for (const n of doneTasks) outputs[n.key] = out.get(n.task_id!);
    }
    await Promise.all(
      keys.map(async (key) => {
        const n = nodes.find((x) => x.key === key)!;
        try {
          const [task] = await tasks.post(w.buyer, {
            capability: n.spec.capability,
            input: resolveInputs(n.spec.input, outputs),
            complexity: n.spec.complexity,
            urgency: n.spec.urgency,
            budget: BigInt(n.budget) + (extraBudget.get(key) ?? 0n),
            token: w.token,
            deadline: w.deadline,
            auction: n.spec.auction ?? { rule: "second-price", windowMs: config.WORKFLOW_WINDOW_MS },
            route: w.route as "auto",
            quantity: 1,
            workflow: { id: w.id, nodeKey: key },
          });
          // The auction may already be over (no eligible agent): then the listener has run.
          await repo.linkTask(db, w.id, key, task!.id);
        } catch (err) {
          log.error({ err, workflow: w.id, node: key }, "could not auction a workflow node");
          await settleNode(w.id, key, null, "failed", null);
        }
      }),
    );
  }

  /**
   * Applies a node's final state under the workflow lock, then auctions the children that
   * became ready (or re-auctions an expired node with budget drawn from the reserve).
   */
  async function settleNode(workflowId: string, key: string, taskId: string | null, status: FinishedTask["status"], price: string | null) {
    const toPost: string[] = [];
    const extra = new Map<string, bigint>();
    let wf: WorkflowRow | undefined;
    await db.tx(async (t) => {
      const w = await repo.get(t, workflowId, { lock: true });
      if (!w) return;
      wf = w;
      const nodes = await repo.nodes(t, workflowId);
      const n = nodes.find((x) => x.key === key);
      if (!n || !["auctioning", "running"].includes(n.status)) return;
      if (taskId && n.task_id && n.task_id !== taskId) return; // a stale task of an earlier attempt
      const budget = BigInt(n.budget);
      if (status === "delivered") {
        const paid = BigInt(price ?? "0");
        await repo.finishNodes(t, workflowId, [key], "done");
        n.status = "done";
        // The node's hold (its budget plus any reserve drawn) is spent up to the price; an
        // overrun beyond the budget was covered by the reserve draw.
        const held = budget + (await repo.reserveDrawn(t, workflowId, key));
        await ledger(t, workflowId, key, "spend", paid);
        await ledger(t, workflowId, key, "release", held - paid);
        for (const c of nodes)
          if (c.status === "pending" && c.depends_on.includes(key) && c.depends_on.every((d) => nodes.find((x) => x.key === d)!.status === "done")) {
            toPost.push(c.key);
            c.status = "auctioning";
          }
      } else {
        const remaining = BigInt(w.reserve) - BigInt(w.reserve_used);
        if (status === "expired" && n.attempts < 2 && remaining > 0n) {
          // No proposal under the budget: raise it once from the reserve (an overrun).
          const draw = remaining < budget / 2n + 1n ? remaining : budget / 2n + 1n;
          await repo.useReserve(t, workflowId, draw);
          await ledger(t, workflowId, key, "reserve_draw", draw);
          await repo.reauction(t, workflowId, key);
          extra.set(key, await repo.reserveDrawn(t, workflowId, key));
          toPost.push(key);
        } else {
          await repo.finishNodes(t, workflowId, [key], "failed");
          n.status = "failed";
          await ledger(t, workflowId, key, "release", budget + (await repo.reserveDrawn(t, workflowId, key)));
          // A failed node cancels its descendants and releases their budgets to the buyer.
          const dag: DagNode[] = nodes.map((x) => ({ key: x.key, dependsOn: x.depends_on }));
          for (const d of descendants(dag, key)) {
            const dn = nodes.find((x) => x.key === d)!;
            if (dn.status !== "pending") continue;
            await repo.finishNodes(t, workflowId, [d], "cancelled");
            dn.status = "cancelled";
            await ledger(t, workflowId, d, "release", BigInt(dn.budget));
          }
        }
      }
      if (nodes.every((x) => ["done", "failed", "cancelled"].includes(x.status))) {
        const ok = nodes.every((x) => x.status === "done");
        await repo.finish(t, workflowId, ok ? "completed" : "failed");
        const unused = BigInt(w.reserve) - BigInt(w.reserve_used);
        await ledger(t, workflowId, null, "release", unused);
      }
      if (toPost.length)
        await repo.startNodes(t, workflowId, toPost);
    });
    if (wf && toPost.length) await post(wf, toPost, extra);
  }

  return {
    async create(buyer, spec) {
      if (spec.nodes.length === 0) throw badRequest("EMPTY_WORKFLOW", "A workflow needs at least one node.");
      tasks.checkRoute(spec.route); // no silent downgrade, and no workflow that can never start its nodes
      if (spec.nodes.length > config.WORKFLOW_MAX_NODES)
        throw badRequest("TOO_MANY_NODES", `A workflow holds at most ${config.WORKFLOW_MAX_NODES} nodes.`);
      const problem = checkDag(spec.nodes);
      if (problem?.code === "DUPLICATE_KEY") throw badRequest("DUPLICATE_KEY", `Node key "${problem.key}" is used twice.`);
      if (problem?.code === "UNKNOWN_DEPENDENCY")
        throw badRequest("UNKNOWN_DEPENDENCY", `Node "${problem.key}" depends on "${problem.dependsOn}", which is not a node of this workflow.`);
      if (problem?.code === "CYCLE")
        throw badRequest("CYCLE", `The workflow has a cycle: ${problem.cycle.join(" → ")}.`, { cycle: problem.cycle });
      for (const n of spec.nodes)
        for (const ref of referencedKeys(n.input))
          if (!n.dependsOn.includes(ref))
            throw badRequest("BAD_INPUT_REFERENCE", `Node "${n.key}" reads the output of "${ref}" but does not depend on it.`);
      const reserve = spec.reserve ?? (spec.totalBudget * BigInt(config.WORKFLOW_RESERVE_BPS)) / 10_000n;
      const sum = spec.nodes.reduce((a, n) => a + n.budget, 0n);
      if (sum + reserve > spec.totalBudget)
        throw badRequest("BUDGET_MISMATCH", `Node budgets (${sum}) plus the reserve (${reserve}) exceed the total budget (${spec.totalBudget}).`);
      if (spec.deadline.getTime() <= ctx.now()) throw badRequest("DEADLINE_TOO_SOON", "The deadline must be in the future.");
      // Channel-route nodes draw on a delivery authorization when they are posted: refuse now,
      // with what to sign, rather than fail the nodes later.
      await tasks.checkChannelFunding(buyer, { token: spec.token, route: spec.route, budgets: spec.nodes.map((n) => n.budget), reserve, deadline: spec.deadline });
      // Channel-route nodes draw on a delivery authorization when they are posted: refuse now,
      // with what to sign, rather than fail the nodes later.
      const ready = spec.nodes.filter((n) => n.dependsOn.length === 0).map((n) => n.key);
      const id = await db.tx(async (t) => {
        const id = await repo.insert(t, {
          buyer, totalBudget: spec.totalBudget, reserve, token: spec.token, route: spec.route, deadline: spec.deadline, ready,
          nodes: spec.nodes.map((n) => ({
            key: n.key, budget: n.budget, dependsOn: n.dependsOn,
            spec: { capability: n.capability, input: n.input, complexity: n.complexity, urgency: n.urgency, ...(n.auction ? { auction: n.auction } : {}) },
          })),
        });
        for (const n of spec.nodes) await ledger(t, id, n.key, "hold", n.budget);
        // The whole total is held; whatever the nodes and the reserve do not claim goes back
        // to the buyer at once, so that in the end Σ hold = Σ spend + Σ release = total.
        await ledger(t, id, null, "hold", spec.totalBudget - sum);
        await ledger(t, id, null, "release", spec.totalBudget - sum - reserve);
        return id;
      });
      const w = (await repo.get(db, id))!;
      await post(w, ready);
      return loadView(db, id);
    },

    async get(id, viewer) {
      const v = await loadView(db, id);
      if (!viewer.operator && viewer.address !== v.buyer) throw forbidden("NOT_BUYER", "Only the buyer who posted the workflow may read it.");
      return v;
    },

    async onTaskFinished(t) {
      if (!t.workflowId || !t.nodeKey) return;
      await settleNode(t.workflowId, t.nodeKey, t.id, t.status, t.price);
    },
  };
}
