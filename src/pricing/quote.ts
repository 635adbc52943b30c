import { multiplierFor, type Tier } from "../reputation/tiers.js";
import { URGENCIES, type Urgency } from "../protocol/tasks.js";

export { URGENCIES, type Urgency };

/** Urgency levels' price multipliers in basis points. */
export const URGENCY_BPS: Record<Urgency, bigint> = { low: 8_000n, normal: 10_000n, high: 15_000n, critical: 20_000n };

const TIER_BPS: Record<Exclude<Tier, "new">, bigint> = {
  elite: 20_000n,
  expert: 18_000n,
  proficient: 15_000n,
  standard: 12_000n,
  probation: 5_000n,
};

/**
 * Suggested price = base rate × complexity × urgency × reputation multiplier (DESIGN.md).
 * @param baseRate token base units per complexity point
 * @param complexity 1–10
 * @param urgency one of `URGENCY_BPS`
 * @param multiplierBps reputation multiplier in bps (10_000 = neutral)
 * @returns price in token base units, rounded down
 */
export function suggestedPrice(baseRate: bigint, complexity: number, urgency: Urgency, multiplierBps: bigint): bigint {
  return (baseRate * BigInt(complexity) * URGENCY_BPS[urgency] * multiplierBps) / 100_000_000n;
}

/** The quote for a neutral agent and for each reputation tier (and one agent, when known). */
export function quote(
  baseRate: bigint,
  complexity: number,
  urgency: Urgency,
  agentRecord?: { successes: number; failures: number },
) {
  const byTier = Object.fromEntries(
    Object.entries(TIER_BPS).map(([tier, bps]) => [tier, suggestedPrice(baseRate, complexity, urgency, bps).toString()]),
  );
  const agent = agentRecord ? multiplierFor(agentRecord.successes, agentRecord.failures) : undefined;
  return {
    price: suggestedPrice(baseRate, complexity, urgency, 10_000n).toString(),
    byTier,
    ...(agent
      ? { agent: { tier: agent.tier, multiplierBps: Number(agent.multiplierBps), price: suggestedPrice(baseRate, complexity, urgency, agent.multiplierBps).toString() } }
      : {}),
  };
}
