import type { Db } from "../db/index.js";
import { conflict, forbidden, notFound } from "../errors.js";
import { disputeRepository as repo, type DisputeSummary } from "./repository.js";

/** Who reads: a signed-in wallet (lower-case address) or the operator. */
export type Reader = { address?: string; operator: boolean };

/**
 * Disputes as arbitrators and the parties read them: DisputeResolver's projection with the
 * ERC-1497 evidence of both sides (texts given over the API and URIs from the chain).
 */
export type DisputeService = {
  /**
   * The case list: disputes assigned to `reader` (an arbitrator), or every dispute (the operator),
   * newest first, optionally of one status (`awaiting_ruling`, `ruled`, `finalized`) or case list
   * (`open`, `appealed`, `timed_out`).
   */
  cases(reader: Reader, f: { status?: string; limit: number; offset: number }): Promise<DisputeSummary[]>;
  /**
   * One dispute with the disputed task (input, output, result hash) and every piece of evidence.
   * @throws 404 DISPUTE_NOT_FOUND, 403 NOT_A_PARTY (only its arbitrator, the buyer, the agent or the operator may read it)
   */
  get(disputeId: number, reader: Reader): Promise<{ dispute: DisputeSummary & { resultHash: string | null }; task: unknown; evidence: unknown[] }>;
  /**
   * Substrate disputes: the assigned arbitrator's ruling as a call for their own account — one
   * `utility.batchAll` of the `rule` remark and the `multisig.approveAsMulti` of the split's payout
   * from the buyer's custody (rulingSplit of the price: the agent `agentShareBps` of it less the
   * fee, the rest of the budget to the buyer). The coordinator executes it after the appeal window.
   * EVM disputes are ruled on DisputeResolver from the wallet.
   * @throws 404 DISPUTE_NOT_FOUND, 403 NOT_YOUR_CASE, 409 NOT_AWAITING_RULING | RULE_ON_CHAIN (an EVM dispute)
   */
  rulingCall(disputeId: number, arbitrator: string, agentShareBps: number): Promise<{ disputeId: string; split: { agent: string; fee: string; buyer: string }; call: unknown }>;
};

/**
 * What the dispute domain needs of the Substrate backend: the arbitrator's ruling call of a
 * dispute (split amounts in token base units).
 */
export type SubstrateRulings = {
  rulingCall(d: { taskId: string; disputeId: string }, agentShareBps: number): Promise<{ split: { agent: bigint; fee: bigint; buyer: bigint }; call: unknown }>;
};

export function createDisputeService(db: Db, substrate?: SubstrateRulings): DisputeService {
  return {
    async rulingCall(disputeId, arbitrator, agentShareBps) {
      const d = await repo.get(db, disputeId);
      if (!d) throw notFound("DISPUTE_NOT_FOUND", `No dispute ${disputeId}.`);
      if (d.arbitrator !== arbitrator) throw forbidden("NOT_YOUR_CASE", "Only the dispute's assigned arbitrator may rule on it.");
      if (d.status !== "awaiting_ruling") throw conflict("NOT_AWAITING_RULING", `The dispute is ${d.status}.`);
      if (d.buyer.length !== 66 || !substrate) throw conflict("RULE_ON_CHAIN", "This dispute is on the EVM: rule on DisputeResolver from your wallet (rule(disputeId, agentShareBps)).");
      const r = await substrate.rulingCall({ taskId: d.taskId, disputeId: d.id }, agentShareBps);
      return { disputeId: d.id, split: { agent: r.split.agent.toString(), fee: r.split.fee.toString(), buyer: r.split.buyer.toString() }, call: r.call };
    },
    cases: (reader, f) => repo.assignedTo(db, reader.operator ? null : (reader.address ?? ""), f),
    async get(disputeId, reader) {
      const d = await repo.get(db, disputeId);
      if (!d) throw notFound("DISPUTE_NOT_FOUND", `No dispute ${disputeId}.`);
      const allowed = reader.operator || (reader.address !== undefined && [d.arbitrator, d.buyer, d.agent].includes(reader.address));
      if (!allowed) throw forbidden("NOT_A_PARTY", "Only the arbitrator, the parties or the operator may read this dispute.");
      const [evidence, task] = await Promise.all([repo.evidence(db, d.taskId), repo.task(db, d.taskId)]);
      return { dispute: d, task: task ?? null, evidence };
    },
  };
}
