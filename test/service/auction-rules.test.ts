/**
 * Property tests of the pure auction rules (src/auction/rules.ts), the reputation tiers and the
 * price quote. Expected values are computed here independently of the code under test (sorting
 * prices, rational comparisons), so a wrong rule shows up as a counterexample, not a tautology.
 */
import { expect } from "chai";
import fc from "fast-check";
import { AUCTION_RULES, decideAuction, type AuctionRule, type Bid } from "../../src/auction/rules.js";
import { multiplierFor, NEUTRAL_MULTIPLIER_BPS } from "../../src/reputation/tiers.js";
import { decayedCount } from "../../src/reputation/score.js";
import { quote, suggestedPrice, URGENCIES, URGENCY_BPS, type Urgency } from "../../src/pricing/quote.js";

const RUNS = { numRuns: 500 };
const TIER_BPS = [5_000n, 10_000n, 12_000n, 15_000n, 18_000n, 20_000n];

/** Distinct lower-case agent addresses. */
const agentAt = (i: number) => `0x${i.toString(16).padStart(40, "0")}`;

/**
 * Bids around a budget: prices from a small range so that ties are frequent, some at or above
 * the budget (invalid), tier multipliers or arbitrary positive ones, small loads and times.
 */
const market = (opts: { maxBids?: number; budget?: fc.Arbitrary<bigint> } = {}) =>
  (opts.budget ?? fc.bigInt({ min: 1n, max: 40n })).chain((budget) =>
    fc
      .array(
        fc.record({
          price: fc.oneof(fc.bigInt({ min: 0n, max: budget + 5n }), fc.bigInt({ min: 0n, max: budget * 1000n })),
          multiplierBps: fc.oneof(fc.constantFrom(...TIER_BPS), fc.bigInt({ min: 1n, max: 30_000n })),
          load: fc.nat(2),
          submittedAt: fc.nat(3),
        }),
        { maxLength: opts.maxBids ?? 12 },
      )
      .map((rows) => ({ budget, bids: rows.map((r, i): Bid => ({ agent: agentAt(i + 1), ...r })) })),
  );

const valid = (bids: readonly Bid[], budget: bigint) => bids.filter((b) => b.price >= 0n && b.price < budget && b.multiplierBps > 0n);
const sortedPrices = (bids: readonly Bid[]) => bids.map((b) => b.price).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
/** a.price / a.mult compared with b.price / b.mult, exactly (rationals, cross-multiplied). */
const scoreCmp = (a: Bid, b: Bid) => Math.sign(Number(a.price * b.multiplierBps - b.price * a.multiplierBps));
const min = (a: bigint, b: bigint) => (a < b ? a : b);

describe("auction rules (property tests)", () => {
  for (const rule of AUCTION_RULES) {
    describe(rule, () => {
      it("never pays above the budget, never below the winner's own bid, and never lets a bid ≥ budget win", () => {
        fc.assert(
          fc.property(market(), fc.integer({ min: 1, max: 4 }), ({ budget, bids }, q) => {
            const { winners, ranked } = decideAuction(rule, bids, budget, q);
            for (const w of winners) {
              expect(w.pays <= budget, "pays ≤ budget").to.equal(true);
              expect(w.pays >= w.bid, "pays ≥ bid").to.equal(true);
              expect(w.bid < budget, "winning bid < budget").to.equal(true);
              expect(bids.find((b) => b.agent === w.agent)?.price).to.equal(w.bid);
            }
            expect(ranked.every((b) => b.price < budget)).to.equal(true);
            expect(ranked).to.have.length(valid(bids, budget).length);
            const k = rule === "uniform-price" ? q : 1;
            expect(winners).to.have.length(Math.min(k, ranked.length));
            expect(new Set(winners.map((w) => w.agent)).size).to.equal(winners.length);
          }),
          RUNS,
        );
      });

      it("is deterministic: shuffling the bids never changes the outcome", () => {
        fc.assert(
          fc.property(
            market().chain((m) => fc.tuple(fc.constant(m), fc.shuffledSubarray(m.bids, { minLength: m.bids.length, maxLength: m.bids.length }))),
            fc.integer({ min: 1, max: 4 }),
            ([{ budget, bids }, shuffled], q) => {
              expect(decideAuction(rule, shuffled, budget, q)).to.deep.equal(decideAuction(rule, bids, budget, q));
            },
          ),
          RUNS,
        );
      });

      it("breaks ties by score, then load, then submission time, then address", () => {
        fc.assert(
          fc.property(market(), ({ budget, bids }) => {
            const { winners, ranked } = decideAuction(rule, bids, budget, 1);
            for (let i = 1; i < ranked.length; i++) {
              const a = ranked[i - 1]!;
              const b = ranked[i]!;
              const s = rule === "reputation-weighted" ? scoreCmp(a, b) : Math.sign(Number(a.price - b.price));
              const key = s !== 0 ? s : a.load !== b.load ? a.load - b.load : a.submittedAt !== b.submittedAt ? a.submittedAt - b.submittedAt : a.agent < b.agent ? -1 : 1;
              expect(key, `rank ${i - 1} before ${i}`).to.be.lessThan(0);
            }
            if (winners[0]) expect(winners[0].agent).to.equal(ranked[0]!.agent);
          }),
          RUNS,
        );
      });
    });
  }

  it("first-price: the lowest valid bid wins and is paid exactly its bid", () => {
    fc.assert(
      fc.property(market(), ({ budget, bids }) => {
        const { winners } = decideAuction("first-price", bids, budget);
        const prices = sortedPrices(valid(bids, budget));
        if (prices.length === 0) return void expect(winners).to.deep.equal([]);
        expect(winners[0]!.bid).to.equal(prices[0]);
        expect(winners[0]!.pays).to.equal(prices[0]);
      }),
      RUNS,
    );
  });

  it("second-price (Vickrey 1961): the winner is paid the second-lowest valid bid, or the budget when alone", () => {
    fc.assert(
      fc.property(market(), ({ budget, bids }) => {
        const { winners } = decideAuction("second-price", bids, budget);
        const prices = sortedPrices(valid(bids, budget));
        if (prices.length === 0) return void expect(winners).to.deep.equal([]);
        expect(winners[0]!.bid).to.equal(prices[0]);
        expect(winners[0]!.pays).to.equal(prices[1] ?? budget);
      }),
      RUNS,
    );
  });

  it("uniform-price: k winners all paid the (k+1)-th lowest price; every winning bid ≤ every losing bid", () => {
    fc.assert(
      fc.property(market({ maxBids: 16 }), fc.integer({ min: 1, max: 8 }), ({ budget, bids }, k) => {
        const { winners } = decideAuction("uniform-price", bids, budget, k);
        const v = valid(bids, budget);
        const prices = sortedPrices(v);
        expect(winners).to.have.length(Math.min(k, v.length));
        const clearing = prices[k] ?? budget;
        for (const w of winners) expect(w.pays).to.equal(clearing);
        const won = new Set(winners.map((w) => w.agent));
        const losers = bids.filter((b) => !won.has(b.agent));
        for (const w of winners) for (const l of losers) expect(w.bid <= l.price, `${w.bid} ≤ ${l.price}`).to.equal(true);
        expect(winners.map((w) => w.bid)).to.deep.equal(prices.slice(0, k));
      }),
      RUNS,
    );
  });

  it("reputation-weighted: the winner has the lowest price/multiplier and is paid runnerUp.price × winner.mult / runnerUp.mult, capped", () => {
    fc.assert(
      fc.property(market({ budget: fc.bigInt({ min: 1n, max: 10n ** 9n }) }), ({ budget, bids }) => {
        const { winners } = decideAuction("reputation-weighted", bids, budget);
        const v = valid(bids, budget);
        if (v.length === 0) return void expect(winners).to.deep.equal([]);
        const w = v.find((b) => b.agent === winners[0]!.agent)!;
        for (const b of v) expect(scoreCmp(w, b), `winner's score ≤ ${b.agent}'s`).to.be.at.most(0);
        const others = v.filter((b) => b !== w);
        if (others.length === 0) return void expect(winners[0]!.pays).to.equal(budget);
        // Any runner-up of minimal score gives the same threshold price (equal rationals).
        const r = others.reduce((best, b) => (scoreCmp(b, best) < 0 ? b : best));
        expect(winners[0]!.pays).to.equal(min(budget, (r.price * w.multiplierBps) / r.multiplierBps));
      }),
      RUNS,
    );
  });

  it("ignores bids at or above the budget, negative prices and non-positive multipliers; rejects a bad budget or quantity", () => {
    const b = (agent: number, price: bigint, multiplierBps = 10_000n): Bid => ({ agent: agentAt(agent), price, multiplierBps, load: 0, submittedAt: 0 });
    for (const rule of AUCTION_RULES) {
      const out = decideAuction(rule, [b(1, 100n), b(2, 101n), b(3, -1n), b(4, 5n, 0n), b(5, 5n, -10_000n)], 100n, 2);
      expect(out.winners, rule).to.deep.equal([]);
      expect(out.ranked, rule).to.deep.equal([]);
      expect(decideAuction(rule, [b(1, 99n)], 100n).winners, rule).to.deep.equal([{ agent: agentAt(1), bid: 99n, pays: rule === "first-price" ? 99n : 100n }]);
      expect(() => decideAuction(rule, [], 0n)).to.throw(RangeError);
      expect(() => decideAuction(rule, [], 1n, 0)).to.throw(RangeError);
      expect(() => decideAuction(rule, [], 1n, 1.5)).to.throw(RangeError);
    }
  });

  /**
   * Dominant-strategy truthfulness: whatever the others bid, an agent whose true cost is `cost`
   * never does better than bidding `cost` (utility = pays − cost when it wins, 0 otherwise).
   * Checked for the rules that are meant to be truthful, against under- and over-bids.
   */
  describe("truthfulness (utility of bidding the true cost ≥ any other bid)", () => {
    const truthful: AuctionRule[] = ["second-price", "reputation-weighted", "uniform-price"];
    const utility = (rule: AuctionRule, others: Bid[], me: Bid, budget: bigint, cost: bigint, k: number) => {
      const won = decideAuction(rule, [...others, me], budget, k).winners.find((w) => w.agent === me.agent);
      return won ? won.pays - cost : 0n;
    };
    for (const rule of truthful) {
      it(`${rule} is truthful`, () => {
        fc.assert(
          fc.property(
            market({ maxBids: 8 }),
            fc.bigInt({ min: 0n, max: 50n }),
            fc.oneof(fc.bigInt({ min: 0n, max: 50n }), fc.bigInt({ min: 0n, max: 10n ** 6n })),
            fc.constantFrom(...TIER_BPS),
            fc.nat(2),
            fc.nat(3),
            fc.integer({ min: 1, max: 3 }),
            ({ budget, bids: others }, cost, lie, multiplierBps, load, submittedAt, q) => {
              const k = rule === "uniform-price" ? q : 1;
              const me = (price: bigint): Bid => ({ agent: agentAt(0xfff), price, multiplierBps, load, submittedAt });
              const honest = utility(rule, others, me(cost), budget, cost, k);
              const other = utility(rule, others, me(lie), budget, cost, k);
              expect(honest >= other, `cost ${cost}: truthful ${honest} < ${other} bidding ${lie}`).to.equal(true);
              expect(honest >= 0n, "truthful bidding never loses money").to.equal(true);
            },
          ),
          { numRuns: 2_000 },
        );
      });
    }

    it("first-price is not truthful (the check above has teeth)", () => {
      const other: Bid = { agent: agentAt(1), price: 80n, multiplierBps: 10_000n, load: 0, submittedAt: 0 };
      const me = (price: bigint): Bid => ({ agent: agentAt(2), price, multiplierBps: 10_000n, load: 0, submittedAt: 0 });
      expect(utility("first-price", [other], me(50n), 100n, 50n, 1)).to.equal(0n);
      expect(utility("first-price", [other], me(79n), 100n, 50n, 1)).to.equal(29n);
    });
  });
});

describe("reputation tiers (src/reputation/tiers.ts)", () => {
  const cases: [number, number, string, bigint][] = [
    [0, 0, "new", 10_000n],
    [1, 0, "elite", 20_000n],
    [95, 5, "elite", 20_000n], // exactly 95%
    [19, 1, "elite", 20_000n],
    [949, 51, "expert", 18_000n], // 94.9%
    [9_499_999, 500_001, "expert", 18_000n],
    [90, 10, "expert", 18_000n], // exactly 90%
    [899, 101, "proficient", 15_000n],
    [80, 20, "proficient", 15_000n], // exactly 80%
    [4, 1, "proficient", 15_000n],
    [799, 201, "standard", 12_000n],
    [70, 30, "standard", 12_000n], // exactly 70%
    [7, 3, "standard", 12_000n],
    [699, 301, "probation", 5_000n],
    [0, 1, "probation", 5_000n],
  ];
  for (const [s, f, tier, bps] of cases) {
    it(`${s} successes / ${f} failures → ${tier} (${bps} bps)`, () => {
      expect(multiplierFor(s, f)).to.deep.equal({ tier, multiplierBps: bps });
    });
  }

  it("follows the decayed record: old outcomes fade toward neutral, recent ones weigh more (λ = 0.1/day by whole days)", () => {
    const day = 86_400_000;
    const now = 400 * day + 3_600_000;
    // 10 successes 30 days ago weigh 10·e^−3 ≈ 0.5 today: less than one task's worth → neutral.
    expect(multiplierFor(decayedCount(10, now - 30 * day, now), 0)).to.deep.equal({ tier: "new", multiplierBps: NEUTRAL_MULTIPLIER_BPS });
    // 9 successes 20 days ago (≈ 1.22) and 1 failure today: 55 % recent → probation, not the lifetime 90 % expert.
    expect(multiplierFor(decayedCount(9, now - 20 * day, now), decayedCount(1, now, now)).tier).to.equal("probation");
    expect(multiplierFor(9, 1).tier).to.equal("expert");
    // Outcomes of the same UTC day weigh the same: a day's 9 of 10 is exactly 90 %.
    expect(multiplierFor(decayedCount(9, now - 3_000_000, now), decayedCount(1, now, now)).tier).to.equal("expert");
    expect(decayedCount(5, now - 2 * day, now)).to.be.closeTo(5 * Math.exp(-0.2), 1e-12);
  });

  it("matches the success rate for any record (exact rational comparison) and is monotone in it", () => {
    const rank = ["probation", "standard", "proficient", "expert", "elite"];
    const expected = (s: number, f: number) => {
      const n = BigInt(s + f);
      const at = (num: bigint, den: bigint) => BigInt(s) * den >= num * n; // s / n ≥ num / den
      return at(19n, 20n) ? "elite" : at(9n, 10n) ? "expert" : at(4n, 5n) ? "proficient" : at(7n, 10n) ? "standard" : "probation";
    };
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.nat(1_000_000), fc.nat(1_000), (s, f, more) => {
        fc.pre(s + f > 0);
        const t = multiplierFor(s, f).tier;
        expect(t).to.equal(expected(s, f));
        expect(rank.indexOf(multiplierFor(s + more, f).tier)).to.be.at.least(rank.indexOf(t));
        expect(rank.indexOf(multiplierFor(s, f + more).tier)).to.be.at.most(rank.indexOf(t));
      }),
      { numRuns: 2_000 },
    );
    expect(NEUTRAL_MULTIPLIER_BPS).to.equal(10_000n);
  });
});

describe("price quote (src/pricing/quote.ts)", () => {
  it("computes base × complexity × urgency × multiplier exactly, rounding down", () => {
    expect(suggestedPrice(1_000_000n, 4, "high", 10_000n)).to.equal(6_000_000n);
    expect(suggestedPrice(1_000_000n, 10, "critical", 20_000n)).to.equal(40_000_000n);
    expect(suggestedPrice(1_000_000n, 1, "low", 5_000n)).to.equal(400_000n);
    expect(suggestedPrice(3n, 1, "low", 5_000n)).to.equal(1n); // 1.2 → 1
    expect(suggestedPrice(1n, 1, "low", 12_000n)).to.equal(0n); // 0.96 → 0
    expect(suggestedPrice(7n, 3, "high", 18_000n)).to.equal(56n); // 56.7 → 56
    // Far beyond 2^53: still exact.
    const big = 2n ** 200n + 12_345n;
    expect(suggestedPrice(big, 7, "high", 18_000n)).to.equal((big * 7n * 27n) / 10n);
  });

  it("equals floor(base · complexity · urgency · multiplier) as rationals, and is monotone in each factor", () => {
    const urgencyFraction: Record<Urgency, [bigint, bigint]> = { low: [4n, 5n], normal: [1n, 1n], high: [3n, 2n], critical: [2n, 1n] };
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 256n }),
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom(...URGENCIES),
        fc.bigInt({ min: 0n, max: 40_000n }),
        (base, complexity, urgency, mult) => {
          const [un, ud] = urgencyFraction[urgency];
          const p = suggestedPrice(base, complexity, urgency, mult);
          expect(p).to.equal((base * BigInt(complexity) * un * mult) / (ud * 10_000n));
          if (complexity < 10) expect(suggestedPrice(base, complexity + 1, urgency, mult) >= p).to.equal(true);
          expect(suggestedPrice(base + 1n, complexity, urgency, mult) >= p).to.equal(true);
          expect(suggestedPrice(base, complexity, urgency, mult + 1n) >= p).to.equal(true);
        },
      ),
      { numRuns: 1_000 },
    );
    expect(Object.keys(URGENCY_BPS)).to.deep.equal(["low", "normal", "high", "critical"]);
  });

  it("quotes a neutral price, one per tier, and the agent's own when its record is given", () => {
    const q = quote(1_000_000n, 2, "normal", { successes: 9, failures: 1 });
    expect(q).to.deep.equal({
      price: "2000000",
      byTier: { elite: "4000000", expert: "3600000", proficient: "3000000", standard: "2400000", probation: "1000000" },
      agent: { tier: "expert", multiplierBps: 18_000, price: "3600000" },
    });
    expect(quote(5n, 1, "low")).to.not.have.property("agent");
    expect(quote(1n, 1, "normal", { successes: 0, failures: 0 }).agent).to.deep.equal({ tier: "new", multiplierBps: 10_000, price: "1" });
  });
});
