import type { Queryable } from "../db/index.js";

export type TaskRow = {
  id: string;
  auction_id: string;
  lot_index: number;
  buyer: string;
  capability: string;
  input: unknown;
  complexity: number;
  urgency: string;
  budget: string;
  token: string;
  deadline: Date;
  route: string;
  status: string;
  agent: string | null;
  price: string | null;
  runner_ups: { agent: string; price: string }[];
  created_at: Date;
  awarded_at: Date | null;
  updated_at: Date;
  settlement: "channel" | "escrow" | "offchain";
  /** The chain the task settles on (by the kind of the buyer's account). */
  chain: "evm" | "substrate";
  accepted_at: Date | null;
  settled_at: Date | null;
  attempts: number;
  failovers: number;
  started_at: Date | null;
  delivered_at: Date | null;
  output: unknown;
  result_hash: string | null;
  failure_reason: string | null;
  workflow_id: string | null;
  node_key: string | null;
  // joined from the auction
  rule: string;
  window_ms: number;
  quantity: number;
  auction_status: string;
  closes_at: Date;
  closed_at: Date | null;
  close_reason: string | null;
  eligible: number;
  /** How many agents have proposed (sealed: the count, never the prices, before the close). */
  proposed: number;
  /** Set when read for a viewer: may it see the input (invited to bid, or an arbitrator of its dispute)? */
  viewer_invited?: boolean;
  viewer_arbitrates?: boolean;
  /** Set when read for a view: the escrow's state (escrow route) and the task's dispute, if any. */
  escrow_state?: string | null;
  dispute?: { id: string; status: string; agentShareBps: number | null; appealed: boolean; arbitrator: string } | null;
};

/**
 * Per-row flags of what `$n` (a viewer's address, or NULL) may see beyond the buyer and the
 * assigned agent: the input if it was invited to bid (a call for proposals went to it), input and
 * output if it arbitrates the task's dispute; and what a view shows of the other routes' state
 * (the escrow's state, the dispute).
 */
const viewerFlags = (n: number) => `,
    EXISTS (SELECT 1 FROM cfps c WHERE c.auction_id = t.auction_id AND c.agent = $${n}) AS viewer_invited,
    EXISTS (SELECT 1 FROM disputes d WHERE d.task_id = t.id AND d.arbitrator = $${n}) AS viewer_arbitrates,
    (SELECT e.state FROM escrows e WHERE e.task_id = t.id) AS escrow_state,
    (SELECT jsonb_build_object('id', d.dispute_id::text, 'status', d.status, 'agentShareBps', d.agent_share_bps, 'appealed', d.appealed, 'arbitrator', d.arbitrator)
       FROM disputes d WHERE d.task_id = t.id ORDER BY d.dispute_id DESC LIMIT 1) AS dispute`;

const SELECT_TASK = `
  SELECT t.*, a.rule, a.window_ms, a.quantity, a.status AS auction_status, a.closes_at, a.closed_at, a.close_reason, a.eligible, a.proposed
    FROM tasks t JOIN auctions a ON a.id = t.auction_id`;

export type TaskFilter = { status?: string; buyer?: string; agent?: string; capability?: string; limit: number; offset: number };

/** SQL of the tasks domain. */
export const taskRepository = {
  async get(q: Queryable, id: string): Promise<TaskRow | undefined> {
    const r = await q.query<TaskRow>(`${SELECT_TASK} WHERE t.id = $1`, [id]);
    return r.rows[0];
  },

  /** The task with the viewer flags of `viewer` (lower-case address; null for nobody). */
  async getFor(q: Queryable, id: string, viewer: string | null): Promise<TaskRow | undefined> {
    const r = await q.query<TaskRow>(`${SELECT_TASK.replace("a.eligible", `a.eligible${viewerFlags(2)}`)} WHERE t.id = $1`, [id, viewer]);
    return r.rows[0];
  },

  async byAuction(q: Queryable, auctionId: string): Promise<TaskRow[]> {
    const r = await q.query<TaskRow>(`${SELECT_TASK} WHERE t.auction_id = $1 ORDER BY t.lot_index`, [auctionId]);
    return r.rows;
  },

  /** A page of tasks, each with the viewer flags of `viewer` (lower-case address; null for nobody). */
  async list(q: Queryable, f: TaskFilter, viewer: string | null = null): Promise<{ rows: TaskRow[]; total: number }> {
    const cond: string[] = [];
    const params: unknown[] = [];
    for (const [col, v] of [["t.status", f.status], ["t.buyer", f.buyer], ["t.agent", f.agent], ["t.capability", f.capability]] as const) {
      if (v !== undefined) {
        params.push(v);
        cond.push(`${col} = $${params.length}`);
      }
    }
    const where = cond.length ? `WHERE ${cond.join(" AND ")}` : "";
    const total = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks t ${where}`, params);
    params.push(f.limit, f.offset, viewer);
    const r = await q.query<TaskRow>(
      `${SELECT_TASK.replace("a.eligible", `a.eligible${viewerFlags(params.length)}`)} ${where} ORDER BY t.created_at DESC, t.id LIMIT $${params.length - 2} OFFSET $${params.length - 1}`,
      params,
    );
    return { rows: r.rows, total: total.rows[0]!.n };
  },

  async proposals(q: Queryable, auctionId: string, agent?: string) {
    const r = await q.query<{ agent: string; price: string; eta_ms: number; outcome: string; created_at: Date; updated_at: Date }>(
      `SELECT p.agent, p.price::text AS price, p.eta_ms, p.outcome, p.created_at, p.updated_at FROM proposals p
        WHERE p.auction_id = $1 ${agent ? "AND p.agent = $2" : ""} ORDER BY p.price, p.updated_at, p.agent`,
      agent ? [auctionId, agent] : [auctionId],
    );
    return r.rows;
  },
};
