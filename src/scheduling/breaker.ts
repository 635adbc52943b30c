/**
 * Circuit breaker per agent (DESIGN.md "Scheduling and health"), as a pure state machine over
 * an injected clock so it can be tested exactly and stored in Postgres for every replica:
 *
 *   CLOSED --5 consecutive failures--> OPEN --recovery timeout--> HALF_OPEN
 *   HALF_OPEN --3 trial successes--> CLOSED;  HALF_OPEN --any failure--> OPEN (timeout ×1.5)
 *
 * The recovery timeout is 1.5 s × 1.5^(reopenings), capped at 60 s; it resets on CLOSED.
 * An OPEN breaker rejects at once, without any network call.
 */
export type BreakerStateName = "closed" | "open" | "half_open";

export type BreakerState = {
  state: BreakerStateName;
  /** Consecutive failures while CLOSED. */
  failures: number;
  /** Times the breaker re-opened from HALF_OPEN since it was last CLOSED. */
  reopenCount: number;
  /** ms since epoch when OPEN may turn HALF_OPEN. */
  retryAt: number | null;
  /** Trial calls let through while HALF_OPEN. */
  trialsStarted: number;
  trialSuccesses: number;
};

export type BreakerPolicy = {
  failureThreshold: number;
  baseRecoveryMs: number;
  growth: number;
  maxRecoveryMs: number;
  halfOpenTrials: number;
};

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = {
  failureThreshold: 5,
  baseRecoveryMs: 1_500,
  growth: 1.5,
  maxRecoveryMs: 60_000,
  halfOpenTrials: 3,
};

export const CLOSED: BreakerState = { state: "closed", failures: 0, reopenCount: 0, retryAt: null, trialsStarted: 0, trialSuccesses: 0 };

/** Recovery timeout in ms after `reopenCount` re-openings. */
export function recoveryMs(reopenCount: number, p: BreakerPolicy = DEFAULT_BREAKER_POLICY): number {
  return Math.min(p.maxRecoveryMs, Math.round(p.baseRecoveryMs * p.growth ** reopenCount));
}

/** The state as seen at `now` (OPEN past its retry time reads as HALF_OPEN with no trial yet). */
export function observe(s: BreakerState, now: number): BreakerState {
  if (s.state === "open" && s.retryAt !== null && now >= s.retryAt)
    return { ...s, state: "half_open", trialsStarted: 0, trialSuccesses: 0 };
  return s;
}

/**
 * Asks to make one call at `now`.
 * @returns whether the call may go ahead, and the state to store
 */
export function permit(s0: BreakerState, now: number, p: BreakerPolicy = DEFAULT_BREAKER_POLICY): { allowed: boolean; next: BreakerState } {
  const s = observe(s0, now);
  switch (s.state) {
    case "closed":
      return { allowed: true, next: s };
    case "open":
      return { allowed: false, next: s };
    case "half_open":
      if (s.trialsStarted >= p.halfOpenTrials) return { allowed: false, next: s };
      return { allowed: true, next: { ...s, trialsStarted: s.trialsStarted + 1 } };
  }
}

/** Records the outcome of a call made at `now`. */
export function record(s0: BreakerState, ok: boolean, now: number, p: BreakerPolicy = DEFAULT_BREAKER_POLICY): BreakerState {
  const s = observe(s0, now);
  if (ok) {
    if (s.state === "closed") return { ...s, failures: 0 };
    if (s.state === "half_open") {
      const trialSuccesses = s.trialSuccesses + 1;
      return trialSuccesses >= p.halfOpenTrials ? { ...CLOSED } : { ...s, trialSuccesses };
    }
    return s; // a late success while OPEN changes nothing
  }
  if (s.state === "closed") {
    const failures = s.failures + 1;
    if (failures < p.failureThreshold) return { ...s, failures };
    return { ...s, state: "open", failures, retryAt: now + recoveryMs(0, p), trialsStarted: 0, trialSuccesses: 0 };
  }
  if (s.state === "half_open") {
    const reopenCount = s.reopenCount + 1;
    return { ...s, state: "open", reopenCount, retryAt: now + recoveryMs(reopenCount, p), trialsStarted: 0, trialSuccesses: 0 };
  }
  return s; // already OPEN
}
