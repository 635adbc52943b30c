/**
 * Reputation score on a 0–100 scale (DESIGN.md "Pricing and reputation"):
 * - with time the score decays exponentially toward the neutral score 50, λ = 0.1 per day:
 *   s(t) = 50 + (s₀ − 50)·e^(−λ·days);
 * - each outcome moves the (decayed) score a step α = 0.1 toward 100 (success) or 0 (failure),
 *   so a bad record recovers through new successes;
 * - the score never goes below the floor 20.
 */
export const NEUTRAL_SCORE = 50;
export const SCORE_FLOOR = 20;
export const DECAY_PER_DAY = 0.1;
export const LEARNING_RATE = 0.1;
const DAY_MS = 86_400_000;

/** The score `elapsedMs` after it was `score`. */
export function decayed(score: number, elapsedMs: number): number {
  const days = Math.max(0, elapsedMs) / DAY_MS;
  return Math.max(SCORE_FLOOR, NEUTRAL_SCORE + (score - NEUTRAL_SCORE) * Math.exp(-DECAY_PER_DAY * days));
}

/** The score after one outcome observed `elapsedMs` after the stored score. */
export function updated(score: number, elapsedMs: number, ok: boolean): number {
  const s = decayed(score, elapsedMs);
  return Math.max(SCORE_FLOOR, s + LEARNING_RATE * ((ok ? 100 : 0) - s));
}

/** The integer form used in Merkle leaves and on-chain: hundredths of a point, 0–10 000. */
export const scoreToUint = (score: number): bigint => BigInt(Math.round(score * 100));

/**
 * A count decayed at λ = DECAY_PER_DAY from `at` (ms) to `now` (ms), by whole UTC days: each
 * outcome weighs e^(−λ·(days between its day and today)), so the outcomes of one day weigh the
 * same (and a day's record compares exactly).
 */
export function decayedCount(count: number, at: number, now: number): number {
  return count * Math.exp(-DECAY_PER_DAY * Math.max(0, Math.floor(now / DAY_MS) - Math.floor(at / DAY_MS)));
}
