import type { Queryable } from "../db/index.js";

/** SQL of the reputation domain: per-agent, per-capability statistics, history and epochs. */
export const reputationRepository = {
  /** An agent's success and failure counts for one capability (zeros when it has none). */
  async record(q: Queryable, agent: string, capability: string): Promise<{ successes: number; failures: number }> {
    const r = await q.query<{ successes: number; failures: number }>("SELECT successes, failures FROM reputation_stats WHERE agent = $1 AND capability = $2", [agent, capability]);
    return r.rows[0] ?? { successes: 0, failures: 0 };
  },
};
