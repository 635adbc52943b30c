import type { Db } from "../db/index.js";
import { forbidden, notFound } from "../errors.js";
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
};

export function createDisputeService(db: Db): DisputeService {
  return {
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
