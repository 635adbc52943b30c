/**
 * Reputation multiplier tiers (DESIGN.md, "Pricing and reputation"), in basis points so that
 * prices stay exact bigints: ≥95% success → 2.0, 90–95% → 1.8, 80–90% → 1.5, 70–80% → 1.2,
 * < 70% → 0.5. An agent with no finished task is neutral (1.0).
 *
 * The counts are decayed (each outcome weighs e^(−λ·age in whole UTC days), λ = 0.1 per day;
 * src/reputation/score.ts):
 * the tier follows the recent success rate, and an agent with less than MIN_EVIDENCE task's
 * worth of recent outcomes is neutral again ("new"), so old records fade toward 1.0.
 */
export type Tier = "elite" | "expert" | "proficient" | "standard" | "probation" | "new";

export const NEUTRAL_MULTIPLIER_BPS = 10_000n;

/** Decayed outcomes below this count as no record (neutral multiplier). */
export const MIN_EVIDENCE = 1;

/**
 * @param successes finished tasks that succeeded (decayed: may be fractional)
 * @param failures finished tasks that failed (decayed: may be fractional)
 * @returns the tier and its multiplier in bps (10_000 = 1.0)
 */
export function multiplierFor(successes: number, failures: number): { tier: Tier; multiplierBps: bigint } {
  const total = successes + failures;
  if (!(total >= MIN_EVIDENCE)) return { tier: "new", multiplierBps: NEUTRAL_MULTIPLIER_BPS };
  // success/total ≥ 0.95 ⇔ 100·success ≥ 95·total: exact for whole counts (outcomes of one day
  // weigh the same, so a day's record compares exactly).
  const s = successes * 100;
  if (s >= 95 * total) return { tier: "elite", multiplierBps: 20_000n };
  if (s >= 90 * total) return { tier: "expert", multiplierBps: 18_000n };
  if (s >= 80 * total) return { tier: "proficient", multiplierBps: 15_000n };
  if (s >= 70 * total) return { tier: "standard", multiplierBps: 12_000n };
  return { tier: "probation", multiplierBps: 5_000n };
}
