/**
 * Pricing strategies: how an agent turns a call for proposals into a sealed bid. Every price is
 * in token base units (bigint). A bid is never below the agent's floor (its registered
 * `minPrice`; the coordinator refuses it with PRICE_BELOW_MINIMUM) and always strictly below the
 * task's budget (the reserve price; PRICE_AT_OR_ABOVE_BUDGET otherwise).
 */

/** What a strategy knows when it prices one call for proposals. */
export type BidContext = {
  auctionId: string;
  capability: string;
  /** The agent's minimum price for the capability (its floor), base units. */
  floor: bigint;
  /** The task's budget (reserve price), base units; a bid must be strictly below it. */
  budget: bigint;
  /** 1–10. */
  complexity: number;
  /** `low` | `normal` | `high` | `critical`. */
  urgency: string;
  /** Auction rule: `first-price`, `second-price`, `reputation-second-price`, … */
  rule: string;
  /** Tasks the agent is running or has won and not finished yet. */
  load: number;
  /** The agent's concurrency limit (as registered). */
  maxConcurrency: number;
  /**
   * The coordinator's suggested price for this agent (`GET /v1/pricing/quote`: base rate ×
   * complexity × urgency × the agent's reputation multiplier), base units; cached by the SDK;
   * `undefined` when the quote could not be fetched.
   */
  quote(): Promise<bigint | undefined>;
};

/** The outcome of one sealed bid, fed back to learning strategies. */
export type BidOutcome = { capability: string; won: boolean; price: bigint; budget: bigint };

/** A pricing strategy. */
export type PricingStrategy = {
  /** A short name for logs, e.g. `competitive`. */
  readonly name: string;
  /**
   * The price to bid, base units, or `undefined` to stay out of this auction. The SDK clamps
   * the answer with {@link clampBid} before sending it.
   */
  price(ctx: BidContext): Promise<bigint | undefined>;
  /** Called once per bid when its outcome is known (`accept-proposal` / `reject-proposal`). */
  observe?(outcome: BidOutcome): void;
};

/**
 * Brings `price` into the valid range `[floor, budget − 1]`.
 * @returns the clamped price, or `undefined` when no valid bid exists (`floor ≥ budget`)
 */
export function clampBid(price: bigint, floor: bigint, budget: bigint): bigint | undefined {
  if (floor >= budget) return undefined;
  if (price < floor) return floor;
  if (price >= budget) return budget - 1n;
  return price;
}

/** `amount × factor`, rounded down, for a non-negative factor with 6 decimals of precision. */
export function scalePrice(amount: bigint, factor: number): bigint {
  if (!Number.isFinite(factor) || factor < 0) throw new RangeError(`factor must be a non-negative finite number, got ${factor}`);
  return (amount * BigInt(Math.round(factor * 1_000_000))) / 1_000_000n;
}

/** The anchor of the quote-based strategies: max(floor, quote), or the floor without a quote. */
async function anchorOf(ctx: BidContext, useQuote: boolean): Promise<bigint> {
  const q = useQuote ? await ctx.quote() : undefined;
  return q !== undefined && q > ctx.floor ? q : ctx.floor;
}

/**
 * Static floor: bids `max(floor, quote)` (or the floor alone with `useQuote: false`), whatever
 * the competition or the load.
 * @param opts.useQuote anchor on the coordinator's quote (default true)
 */
export function staticFloor(opts: { useQuote?: boolean } = {}): PricingStrategy {
  const useQuote = opts.useQuote ?? true;
  return {
    name: "static-floor",
    async price(ctx) {
      return clampBid(await anchorOf(ctx, useQuote), ctx.floor, ctx.budget);
    },
  };
}

/**
 * Load-aware: the static price times `1 + surge × load / maxConcurrency`, so a busy agent asks
 * more and an idle one bids its anchor. With the default surge of 1.0 a full agent asks twice
 * its anchor (capped below the budget).
 * @param opts.surge extra price share at full load (default 1.0 = +100 %)
 * @param opts.useQuote anchor on the coordinator's quote (default true)
 */
export function loadAware(opts: { surge?: number; useQuote?: boolean } = {}): PricingStrategy {
  const surge = opts.surge ?? 1;
  const useQuote = opts.useQuote ?? true;
  if (!(surge >= 0)) throw new RangeError("surge must be ≥ 0");
  return {
    name: "load-aware",
    async price(ctx) {
      const utilisation = ctx.maxConcurrency > 0 ? Math.min(1, Math.max(0, ctx.load / ctx.maxConcurrency)) : 1;
      return clampBid(scalePrice(await anchorOf(ctx, useQuote), 1 + surge * utilisation), ctx.floor, ctx.budget);
    },
  };
}

/** Options of {@link competitive}. */
export type CompetitiveOptions = {
  /** Win rate the strategy steers toward, in (0, 1); default 0.5. */
  targetWinRate?: number;
  /** Margin step per outcome; default 0.05 (a win raises the margin by rate × (1 − target), a loss lowers it by rate × target). */
  learningRate?: number;
  /** Starting margin over the anchor; default 0.25 (+25 %). */
  initialMargin?: number;
  /** Bounds of the margin; default −0.5 and 4 (the floor and the budget bound the price anyway). */
  minMargin?: number;
  maxMargin?: number;
  /** Anchor on the coordinator's quote (default true); otherwise on the floor. */
  useQuote?: boolean;
};

/** The learning state of {@link competitive} for one capability. */
export type CompetitiveState = { margin: number; wins: number; losses: number };

/**
 * Competitive: bids `anchor × (1 + margin)` with the anchor `max(floor, quote)` and learns the
 * margin per capability from its outcomes — after a win it raises the margin by
 * `learningRate × (1 − target)`, after a loss lowers it by `learningRate × target`. The expected
 * step is zero exactly when the win rate equals the target (a Robbins–Monro stochastic
 * approximation), so the margin drifts toward the price at which the agent wins `target` of its
 * auctions. Never below the floor, never at or above the budget.
 */
export function competitive(opts: CompetitiveOptions = {}): PricingStrategy & {
  observe(outcome: BidOutcome): void;
  /** The learning state per capability (a copy). */
  state(capability: string): CompetitiveState;
} {
  const target = opts.targetWinRate ?? 0.5;
  const rate = opts.learningRate ?? 0.05;
  const initial = opts.initialMargin ?? 0.25;
  const lo = opts.minMargin ?? -0.5;
  const hi = opts.maxMargin ?? 4;
  const useQuote = opts.useQuote ?? true;
  if (!(target > 0 && target < 1)) throw new RangeError("targetWinRate must be in (0, 1)");
  if (!(rate > 0)) throw new RangeError("learningRate must be > 0");
  if (!(lo > -1 && lo <= initial && initial <= hi)) throw new RangeError("need -1 < minMargin ≤ initialMargin ≤ maxMargin");
  const states = new Map<string, CompetitiveState>();
  const stateOf = (capability: string) => {
    let s = states.get(capability);
    if (!s) states.set(capability, (s = { margin: initial, wins: 0, losses: 0 }));
    return s;
  };
  return {
    name: "competitive",
    async price(ctx) {
      const { margin } = stateOf(ctx.capability);
      return clampBid(scalePrice(await anchorOf(ctx, useQuote), 1 + margin), ctx.floor, ctx.budget);
    },
    observe(o) {
      const s = stateOf(o.capability);
      if (o.won) s.wins++;
      else s.losses++;
      s.margin = Math.min(hi, Math.max(lo, s.margin + rate * ((o.won ? 1 : 0) - target)));
    },
    state(capability) {
      return { ...stateOf(capability) };
    },
  };
}
