import type { Queryable } from "../db/index.js";

/** A dispute as the API shows it (amounts in token base units, decimal strings; instants as Date). */
export type DisputeSummary = {
  id: string;
  taskId: string;
  buyer: string;
  agent: string;
  arbitrator: string;
  openedBy: string;
  status: "awaiting_ruling" | "ruled" | "finalized";
  agentShareBps: number | null;
  appealed: boolean;
  ruleDeadline: Date | null;
  appealDeadline: Date | null;
  openedAt: Date;
  timedOut: boolean;
  token: string | null;
  price: string | null;
  amount: string | null;
};

/** SQL of the disputes domain: the DisputeResolver projection (disputes) and dispute_evidence. */
export const disputeRepository = {
  /**
   * Disputes the coordinator moves on (DisputeResolver's finalize and reassign are open to
   * anyone): ruled ones whose appeal window passed (or an appeal's ruling, final at once), and
   * ones awaiting a ruling past their rule deadline — without an open intent for them already.
   * @param now the chain's time
   */
  async due(q: Queryable, now: Date, chain = "evm"): Promise<{ finalize: string[]; reassign: string[] }> {
    const r = await q.query<{ id: string; action: "finalize" | "reassign" }>(
      `SELECT d.dispute_id::text AS id, CASE WHEN d.status = 'ruled' THEN 'finalize' ELSE 'reassign' END AS action
         FROM disputes d JOIN tasks t ON t.id = d.task_id AND t.chain = $2
        WHERE ((d.status = 'ruled' AND (d.appeal_deadline IS NULL OR d.appeal_deadline < $1))
               OR (d.status = 'awaiting_ruling' AND d.rule_deadline IS NOT NULL AND d.rule_deadline < $1))
          AND NOT EXISTS (SELECT 1 FROM chain_outbox o WHERE o.kind IN ('disputes.finalize', 'disputes.reassign')
                             AND o.payload->>'disputeId' = d.dispute_id::text AND o.status IN ('pending', 'signed', 'sent'))
        ORDER BY d.dispute_id LIMIT 100`,
      [now, chain],
    );
    return { finalize: r.rows.filter((x) => x.action === "finalize").map((x) => x.id), reassign: r.rows.filter((x) => x.action === "reassign").map((x) => x.id) };
  },

  /**
   * Disputes assigned to `arbitrator` (every dispute when null: the operator), newest first.
   * `status` is a projection status (`awaiting_ruling`, `ruled`, `finalized`) or a case list:
   * `open` (awaiting a ruling within its deadline), `appealed`, `timed_out` (awaiting a ruling past
   * its deadline: the coordinator reassigns it).
   */
  async assignedTo(q: Queryable, arbitrator: string | null, f: { status?: string; limit: number; offset: number }) {
    const r = await q.query(
      `SELECT d.dispute_id::text AS id, d.task_id AS "taskId", d.buyer, d.agent, d.arbitrator, d.opened_by AS "openedBy", d.status,
              d.agent_share_bps AS "agentShareBps", d.appealed, d.rule_deadline AS "ruleDeadline", d.appeal_deadline AS "appealDeadline",
              d.opened_at AS "openedAt", (d.status = 'awaiting_ruling' AND d.rule_deadline < now()) AS "timedOut",
              e.token, e.price::text AS price, e.amount::text AS amount
         FROM disputes d LEFT JOIN escrows e ON e.task_id = d.task_id
        WHERE ($1::text IS NULL OR d.arbitrator = $1)
          AND CASE $2::text
                WHEN 'open' THEN d.status = 'awaiting_ruling' AND (d.rule_deadline IS NULL OR d.rule_deadline >= now())
                WHEN 'appealed' THEN d.appealed
                WHEN 'timed_out' THEN d.status = 'awaiting_ruling' AND d.rule_deadline < now()
                ELSE $2::text IS NULL OR d.status = $2
              END
        ORDER BY d.dispute_id DESC LIMIT $3 OFFSET $4`,
      [arbitrator, f.status ?? null, f.limit, f.offset],
    );
    return r.rows as DisputeSummary[];
  },

  /** One dispute with its escrow's token, price (token base units) and result hash. */
  async get(q: Queryable, disputeId: number) {
    const r = await q.query<DisputeSummary & { resultHash: string | null }>(
      `SELECT d.dispute_id::text AS id, d.task_id AS "taskId", d.buyer, d.agent, d.arbitrator, d.opened_by AS "openedBy", d.status,
              d.agent_share_bps AS "agentShareBps", d.appealed, d.rule_deadline AS "ruleDeadline", d.appeal_deadline AS "appealDeadline",
              d.opened_at AS "openedAt", (d.status = 'awaiting_ruling' AND d.rule_deadline < now()) AS "timedOut",
              e.token, e.price::text AS price, e.amount::text AS amount, e.result_hash AS "resultHash"
         FROM disputes d LEFT JOIN escrows e ON e.task_id = d.task_id WHERE d.dispute_id = $1`,
      [disputeId],
    );
    return r.rows[0];
  },

  /** The evidence of a task's dispute, in the order it was given. */
  async evidence(q: Queryable, taskId: string) {
    const r = await q.query('SELECT party, uri, text, source, tx_hash AS "txHash", at FROM dispute_evidence WHERE task_id = $1 ORDER BY id', [taskId]);
    return r.rows;
  },

  /** What the arbitrator needs of the disputed task: its input, output and result hash. */
  async task(q: Queryable, taskId: string) {
    const r = await q.query('SELECT id, capability, input, output, result_hash AS "resultHash", status FROM tasks WHERE id = $1', [taskId]);
    return r.rows[0];
  },

  /** Stores evidence given over the API (ERC-1497 style: a URI and an optional text). */
  async addEvidence(q: Queryable, e: { taskId: string; party: string; uri: string; text: string | null }): Promise<void> {
    await q.query("INSERT INTO dispute_evidence (task_id, party, uri, text, source) VALUES ($1, $2, $3, $4, 'api')", [e.taskId, e.party, e.uri, e.text]);
  },
};
