import type { Queryable } from "../db/index.js";
import { taskIdFromKey } from "../protocol/keys.js";
import { addr, optionalDate, secondsToDate, type ContractProjection } from "../settlement/projection.js";

/**
 * DisputeResolver's projection: `disputes` (`status` after `IDisputeResolver.Status`:
 * awaiting_ruling, ruled, finalized) and `dispute_evidence` rows with source `chain` from
 * ERC-1497 `Evidence` events (the evidence group id is the dispute id).
 */
export const disputeProjection: ContractProjection = {
  contract: "DisputeResolver",
  bind(t) {
    return {
      async apply(ev) {
        const a = ev.args;
        switch (ev.name) {
          case "DisputeOpened":
            if (a["buyer"] === undefined) {
              // Substrate: the dispute exists only if the escrow projection took the memo (the
              // escrow names the parties and now carries this dispute id).
              await t.query(
                `INSERT INTO disputes (dispute_id, task_id, buyer, agent, opened_by, arbitrator, status, rule_deadline, opened_at, updated_block)
                 SELECT $1, e.task_id, e.buyer, e.agent, $3, $4, 'awaiting_ruling', $5, $6, $7 FROM escrows e WHERE e.task_id = $2 AND e.dispute_id = $1
                 ON CONFLICT (dispute_id) DO NOTHING`,
                [String(a["disputeId"]), taskIdFromKey(String(a["taskId"])), addr(a["openedBy"]), addr(a["arbitrator"]), secondsToDate(a["ruleDeadline"]), new Date(ev.timestamp), ev.blockNumber],
              );
              return;
            }
            await t.query(
              `INSERT INTO disputes (dispute_id, task_id, buyer, agent, opened_by, arbitrator, status, rule_deadline, opened_at, updated_block)
             VALUES ($1, $2, $3, $4, $5, $6, 'awaiting_ruling', $7, $8, $9)
             ON CONFLICT (dispute_id) DO UPDATE SET task_id = EXCLUDED.task_id, buyer = EXCLUDED.buyer, agent = EXCLUDED.agent,
               opened_by = EXCLUDED.opened_by, arbitrator = EXCLUDED.arbitrator, status = 'awaiting_ruling', agent_share_bps = NULL,
               appealed = FALSE, rule_deadline = EXCLUDED.rule_deadline, appeal_deadline = NULL, opened_at = EXCLUDED.opened_at,
               updated_block = EXCLUDED.updated_block`,
              [
                String(a["disputeId"]),
                taskIdFromKey(String(a["taskId"])),
                addr(a["buyer"]),
                addr(a["agent"]),
                addr(a["openedBy"]),
                addr(a["arbitrator"]),
                secondsToDate(a["ruleDeadline"]),
                new Date(ev.timestamp),
                ev.blockNumber,
              ],
            );
            return;
          case "DisputeRuled":
            await t.query(
              `UPDATE disputes SET status = 'ruled', arbitrator = $2, agent_share_bps = $3, appeal_deadline = $4, updated_block = $5 WHERE dispute_id = $1 AND status = 'awaiting_ruling'`,
              [String(a["disputeId"]), addr(a["arbitrator"]), Number(a["agentShareBps"]), optionalDate(a["appealDeadline"]), ev.blockNumber],
            );
            return;
          case "DisputeAppealed":
            await t.query(
              `UPDATE disputes SET status = 'awaiting_ruling', appealed = TRUE, arbitrator = $2, rule_deadline = $3, appeal_deadline = NULL, updated_block = $4
              WHERE dispute_id = $1`,
              [String(a["disputeId"]), addr(a["arbitrator"]), secondsToDate(a["ruleDeadline"]), ev.blockNumber],
            );
            return;
          case "DisputeReassigned":
            await t.query(`UPDATE disputes SET status = 'awaiting_ruling', arbitrator = $2, rule_deadline = $3, updated_block = $4 WHERE dispute_id = $1`, [
              String(a["disputeId"]),
              addr(a["arbitrator"]),
              secondsToDate(a["ruleDeadline"]),
              ev.blockNumber,
            ]);
            return;
          case "DisputeFinalized":
            await t.query(`UPDATE disputes SET status = 'finalized', agent_share_bps = $2, updated_block = $3 WHERE dispute_id = $1`, [
              String(a["disputeId"]),
              Number(a["agentShareBps"]),
              ev.blockNumber,
            ]);
            return;
          case "Evidence":
            // ERC-1497: the evidence group is the dispute id; the dispute row exists (DisputeOpened
            // comes first in the same transaction when evidence is given at opening).
            await t.query(
              `INSERT INTO dispute_evidence (task_id, party, uri, source, tx_hash, log_index, at)
             SELECT d.task_id, $2, $3, 'chain', $4, $5, $6 FROM disputes d WHERE d.dispute_id = $1
             ON CONFLICT (tx_hash, log_index) DO NOTHING`,
              [String(a["_evidenceGroupID"]), addr(a["_party"]), String(a["_evidence"]), ev.txHash, ev.logIndex, new Date(ev.timestamp)],
            );
            return;
          default:
            return;
        }
      },
    };
  },
  async reset(t: Queryable) {
    await t.query("DELETE FROM dispute_evidence WHERE source = 'chain'");
    await t.query("DELETE FROM disputes");
  },
};
