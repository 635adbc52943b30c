import type { Queryable } from "../db/index.js";
import type { AuctionRule, Urgency } from "../protocol/tasks.js";

/** A workflow node as stored (budget in token base units). */
export type NodeRow = {
  key: string; spec: { capability: string; input: unknown; complexity: number; urgency: Urgency; auction?: { rule: AuctionRule; windowMs: number } };
  budget: string; depends_on: string[]; status: string; task_id: string | null; attempts: number; started_at: Date | null; finished_at: Date | null;
};
export type WorkflowRow = { id: string; buyer: string; status: string; total_budget: string; reserve: string; reserve_used: string; token: string; route: string; deadline: Date; created_at: Date; finished_at: Date | null };

/** A node with its task's agent, price (token base units), status and timings. */
export type NodeWithTask = NodeRow & { agent: string | null; price: string | null; task_status: string | null; delivered_at: Date | null; eta_ms: number | null; failure_reason: string | null };

/** SQL of DAG workflows: workflows, their nodes and the workflow ledger (hold, spend, release, reserve_draw). */
export const workflowRepository = {
  /** The workflow, optionally locked FOR UPDATE (node changes take turns under it). */
  async get(q: Queryable, id: string, opts: { lock?: boolean } = {}): Promise<WorkflowRow | undefined> {
    return (await q.query<WorkflowRow>(`SELECT * FROM workflows WHERE id = $1${opts.lock ? " FOR UPDATE" : ""}`, [id])).rows[0];
  },

  async nodes(q: Queryable, workflowId: string): Promise<NodeRow[]> {
    return (await q.query<NodeRow>("SELECT * FROM workflow_nodes WHERE workflow_id = $1", [workflowId])).rows;
  },

  async nodesWithTasks(q: Queryable, workflowId: string): Promise<NodeWithTask[]> {
    const r = await q.query<NodeWithTask>(
      `SELECT n.*, t.agent, t.price::text AS price, t.status AS task_status, t.delivered_at, t.eta_ms, t.failure_reason
         FROM workflow_nodes n LEFT JOIN tasks t ON t.id = n.task_id WHERE n.workflow_id = $1 ORDER BY n.key`,
      [workflowId],
    );
    return r.rows;
  },

  /** Σ of each ledger kind (token base units, decimal strings). */
  async ledgerTotals(q: Queryable, workflowId: string): Promise<{ kind: string; total: string }[]> {
    return (await q.query<{ kind: string; total: string }>("SELECT kind, sum(amount)::text AS total FROM workflow_ledger WHERE workflow_id = $1 GROUP BY kind", [workflowId])).rows;
  },

  /** One ledger line; `amount` in token base units (> 0). */
  async addLedger(t: Queryable, e: { workflowId: string; nodeKey: string | null; kind: string; amount: bigint }): Promise<void> {
    await t.query("INSERT INTO workflow_ledger (workflow_id, node_key, kind, amount) VALUES ($1, $2, $3, $4)", [e.workflowId, e.nodeKey, e.kind, e.amount.toString()]);
  },

  /** What the node has drawn from the reserve so far (token base units). */
  async reserveDrawn(t: Queryable, workflowId: string, key: string): Promise<bigint> {
    const r = await t.query<{ s: string | null }>("SELECT sum(amount)::text AS s FROM workflow_ledger WHERE workflow_id = $1 AND node_key = $2 AND kind = 'reserve_draw'", [workflowId, key]);
    return BigInt(r.rows[0]?.s ?? "0");
  },

  async useReserve(t: Queryable, workflowId: string, amount: bigint): Promise<void> {
    await t.query("UPDATE workflows SET reserve_used = reserve_used + $2 WHERE id = $1", [workflowId, amount.toString()]);
  },

  /** The outputs of delivered tasks, by task id (the children's inputs). */
  async outputs(q: Queryable, taskIds: string[]): Promise<Map<string, unknown>> {
    const r = await q.query<{ id: string; output: unknown }>("SELECT id, output FROM tasks WHERE id = ANY($1)", [taskIds]);
    return new Map(r.rows.map((x) => [x.id, x.output]));
  },

  /** Links the node to the task that auctions it (unless a faster listener already did). */
  async linkTask(q: Queryable, workflowId: string, key: string, taskId: string): Promise<void> {
    await q.query("UPDATE workflow_nodes SET task_id = COALESCE(task_id, $3) WHERE workflow_id = $1 AND key = $2", [workflowId, key, taskId]);
  },

  async finishNodes(t: Queryable, workflowId: string, keys: string[], status: "done" | "failed" | "cancelled"): Promise<void> {
    await t.query("UPDATE workflow_nodes SET status = $3, finished_at = now() WHERE workflow_id = $1 AND key = ANY($2)", [workflowId, keys, status]);
  },

  /** An expired node is auctioned again (with budget drawn from the reserve). */
  async reauction(t: Queryable, workflowId: string, key: string): Promise<void> {
    await t.query("UPDATE workflow_nodes SET status = 'auctioning', task_id = NULL, attempts = attempts + 1 WHERE workflow_id = $1 AND key = $2", [workflowId, key]);
  },

  /** Ready nodes go to auction. */
  async startNodes(t: Queryable, workflowId: string, keys: string[]): Promise<void> {
    await t.query("UPDATE workflow_nodes SET status = 'auctioning', started_at = now() WHERE workflow_id = $1 AND key = ANY($2)", [workflowId, keys]);
  },

  async finish(t: Queryable, workflowId: string, status: "completed" | "failed"): Promise<void> {
    await t.query("UPDATE workflows SET status = $2, finished_at = now() WHERE id = $1", [workflowId, status]);
  },

  /**
   * A new running workflow and its nodes; `ready` nodes (no parents) start `auctioning`.
   * @param w.totalBudget, w.reserve, nodes[].budget token base units
   * @returns the workflow id
   */
  async insert(
    t: Queryable,
    w: {
      buyer: string; totalBudget: bigint; reserve: bigint; token: string; route: string; deadline: Date; ready: string[];
      nodes: { key: string; budget: bigint; dependsOn: string[]; spec: NodeRow["spec"] }[];
    },
  ): Promise<string> {
    const r = await t.query<{ id: string }>(
      "INSERT INTO workflows (buyer, status, total_budget, reserve, token, route, deadline) VALUES ($1, 'running', $2, $3, $4, $5, $6) RETURNING id",
      [w.buyer, w.totalBudget.toString(), w.reserve.toString(), w.token, w.route, w.deadline],
    );
    const id = r.rows[0]!.id;
    await t.query(
      `INSERT INTO workflow_nodes (workflow_id, key, spec, budget, depends_on, status, started_at)
       SELECT $1, u.key, u.spec::jsonb, u.budget::numeric, ARRAY(SELECT jsonb_array_elements_text(u.deps::jsonb)),
              CASE WHEN u.key = ANY($6) THEN 'auctioning' ELSE 'pending' END, CASE WHEN u.key = ANY($6) THEN now() END
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(key, spec, budget, deps)`,
      [id, w.nodes.map((n) => n.key), w.nodes.map((n) => JSON.stringify(n.spec)), w.nodes.map((n) => n.budget.toString()), w.nodes.map((n) => JSON.stringify(n.dependsOn)), w.ready],
    );
    return id;
  },
};
