import { expect } from "chai";
import { CLOSED, permit, record, recoveryMs, observe, type BreakerState } from "../../src/scheduling/breaker.js";

describe("circuit breaker state machine (controlled clock)", () => {
  const fail = (s: BreakerState, now: number) => record(s, false, now);
  const ok = (s: BreakerState, now: number) => record(s, true, now);

  it("opens after 5 consecutive failures, and a success in between resets the count", () => {
    let s = { ...CLOSED };
    for (let i = 0; i < 4; i++) s = fail(s, 0);
    expect(s.state).to.equal("closed");
    s = ok(s, 0);
    expect(s.failures).to.equal(0);
    for (let i = 0; i < 4; i++) s = fail(s, 0);
    expect(s.state).to.equal("closed");
    s = fail(s, 1000);
    expect(s.state).to.equal("open");
    expect(s.retryAt).to.equal(1000 + 1500);
  });

  it("rejects while OPEN, goes HALF_OPEN after the recovery timeout, lets exactly 3 trials through", () => {
    let s = { ...CLOSED };
    for (let i = 0; i < 5; i++) s = fail(s, 0);
    expect(permit(s, 1499).allowed).to.equal(false);
    expect(observe(s, 1500).state).to.equal("half_open");
    const allowed: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const p = permit(s, 1500 + i);
      allowed.push(p.allowed);
      s = p.next;
    }
    expect(allowed).to.deep.equal([true, true, true, false]);
    s = ok(s, 1600);
    s = ok(s, 1601);
    expect(s.state).to.equal("half_open");
    s = ok(s, 1602);
    expect(s).to.deep.equal(CLOSED);
  });

  it("re-opens on any half-open failure with the timeout growing ×1.5 up to 60 s, and resets once closed", () => {
    let s = { ...CLOSED };
    let now = 0;
    for (let i = 0; i < 5; i++) s = fail(s, now);
    const timeouts: number[] = [];
    for (let k = 0; k < 14; k++) {
      timeouts.push(s.retryAt! - now);
      now = s.retryAt!;
      const p = permit(s, now);
      expect(p.allowed).to.equal(true);
      s = fail(p.next, now);
      expect(s.state).to.equal("open");
    }
    expect(timeouts.slice(0, 5)).to.deep.equal([1500, 2250, 3375, 5063, 7594]);
    expect(Math.max(...timeouts)).to.equal(60_000);
    expect(timeouts.at(-1)).to.equal(60_000);
    expect(recoveryMs(100)).to.equal(60_000);
    // Recover fully: the next opening starts again at 1.5 s.
    now = s.retryAt!;
    for (let i = 0; i < 3; i++) {
      const p = permit(s, now);
      s = ok(p.next, now);
    }
    expect(s.state).to.equal("closed");
    for (let i = 0; i < 5; i++) s = fail(s, now);
    expect(s.retryAt! - now).to.equal(1500);
  });

  it("decides an OPEN rejection in well under a millisecond", () => {
    let s = { ...CLOSED };
    for (let i = 0; i < 5; i++) s = fail(s, 0);
    const n = 100_000;
    const t = process.hrtime.bigint();
    let allowed = 0;
    for (let i = 0; i < n; i++) if (permit(s, 10).allowed) allowed++;
    const perCallNs = Number(process.hrtime.bigint() - t) / n;
    expect(allowed).to.equal(0);
    // Printed, not asserted as a speed target (benchmarks print figures).
    console.log(`      open-breaker rejection: ${perCallNs.toFixed(0)} ns per decision`);
  });
});
