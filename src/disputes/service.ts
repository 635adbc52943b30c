import type { Db } from "../db/index.js";
import { forbidden, notFound } from "../errors.js";
import { disputeRepository as repo } from "./repository.js";

/** Who reads: a signed-in wallet (lower-case address) or the operator. */
export type Reader = { address?: string; operator: boolean };

/**
 * Disputes as arbitrators and the parties read them: DisputeResolver's projection with the
 * ERC-1497 evidence of both sides (texts given over the API and URIs from the chain).
 */
export type DisputeService = {
  /** Disputes assigned to `arbitrator`, newest first, optionally of one status (`awaiting_ruling`, `ruled`, `finalized`). */
  assignedTo(arbitrator: string, f: { status?: string; limit: number; offset: number }): Promise<unknown[]>;
  /**
   * One dispute with the disputed task (input, output, result hash) and every piece of evidence.
   * @throws 404 DISPUTE_NOT_FOUND, 403 NOT_A_PARTY (only its arbitrator, the buyer, the agent or the operator may read it)
   */
  get(disputeId: number, reader: Reader): Promise<{ dispute: unknown; task: unknown; evidence: unknown[] }>;
};

export function createDisputeService(db: Db): DisputeService {
  return {
    assignedTo: (arbitrator, f) => repo.assignedTo(db, arbitrator, f),
    async get(disputeId, reader) {
      const d = await repo.get(db, disputeId);
      if (!d) throw notFound("DISPUTE_NOT_FOUND", `No dispute ${disputeId}.`);
      const allowed = reader.operator || (reader.address !== undefined && [d.arbitrator, d.buyer, d.agent].includes(reader.address));
      if (!allowed) throw forbidden("NOT_A_PARTY", "Only the arbitrator, the parties or the operator may read this dispute.");
      const [evidence, task] = await Promise.all([repo.evidence(db, d.task_id), repo.task(db, d.task_id)]);
      return { dispute: d, task: task ?? null, evidence };
    },
  };
}
