/**
 * Sealed-bid auction rules for FIPA Contract Net calls for proposals. Pure functions over
 * bigints (token base units): no I/O, so they are property-tested directly.
 *
 * Buyers procure work, so these are reverse (procurement) auctions: the lowest price wins.
 * - `first-price`: the winner is paid its own bid.
 * - `second-price`: Vickrey (1961); the winner is paid the second-lowest bid, or the budget
 *   (the reserve price) when it is the only bidder.
 * - `reputation-weighted`: score = price / reputation multiplier; lowest score wins and is paid
 *   the price that would tie the runner-up's score (runnerUp.price × winner.mult / runnerUp.mult),
 *   capped at the budget (the budget when there is no runner-up).
 * - `uniform-price`: multi-unit (k identical tasks in one lot); the k lowest bids win and each
 *   is paid the (k+1)-th lowest bid (VCG for unit demand), or the budget when there are only k.
 *
 * Ties break deterministically: lower score, then lower current load, then earlier
 * submission, then lower address.
 */
import { AUCTION_RULES, type AuctionRule } from "../protocol/tasks.js";

export { AUCTION_RULES, type AuctionRule };

export type Bid = {
  /** Agent address, lower-case hex. */
  agent: string;
  /** Offered price in token base units; must be < budget to be valid. */
  price: bigint;
  /** Reputation multiplier in basis points (2.0 = 20_000). Only `reputation-weighted` uses it. */
  multiplierBps: bigint;
  /** Tasks the agent is running now (load balancing among equal scores). */
  load: number;
  /** When the proposal was (last) submitted, ms since epoch. */
  submittedAt: number;
};

export type Award = { agent: string; bid: bigint; pays: bigint };

export type AuctionOutcome = {
  /** Winners in rank order (length ≤ quantity). Empty: no valid proposal. */
  winners: Award[];
  /** Every valid bid in rank order; the ones after the winners are the runner-ups for failover. */
  ranked: Bid[];
};

/** Compares two bids by score (price / multiplier for reputation-weighted), then the tie-breaks. */
export function compareBids(rule: AuctionRule, a: Bid, b: Bid): number {
  let c: bigint;
  if (rule === "reputation-weighted") {
    // a.price / a.mult  vs  b.price / b.mult  without division: cross-multiply.
    c = a.price * b.multiplierBps - b.price * a.multiplierBps;
  } else {
    c = a.price - b.price;
  }
  if (c !== 0n) return c < 0n ? -1 : 1;
  if (a.load !== b.load) return a.load - b.load;
  if (a.submittedAt !== b.submittedAt) return a.submittedAt - b.submittedAt;
  return a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0;
}

/**
 * Decides an auction.
 * @param rule the auction rule
 * @param bids all proposals; those with price >= budget (or a non-positive multiplier) are ignored
 * @param budget reserve price in base units (> 0)
 * @param quantity units in the lot (1 except for `uniform-price`)
 * @returns winners with what each is paid (never above the budget, never below its own bid)
 */
export function decideAuction(rule: AuctionRule, bids: readonly Bid[], budget: bigint, quantity = 1): AuctionOutcome {
  if (budget <= 0n) throw new RangeError("budget must be positive");
  if (!Number.isInteger(quantity) || quantity < 1) throw new RangeError("quantity must be a positive integer");
  const k = rule === "uniform-price" ? quantity : 1;
  const valid = bids.filter((b) => b.price >= 0n && b.price < budget && b.multiplierBps > 0n);
  const ranked = [...valid].sort((a, b) => compareBids(rule, a, b));
  const winning = ranked.slice(0, k);
  const next = ranked[k];
  const winners = winning.map((w): Award => {
    let pays: bigint;
    switch (rule) {
      case "first-price":
        pays = w.price;
        break;
      case "second-price":
      case "uniform-price":
        pays = next ? next.price : budget;
        break;
      case "reputation-weighted":
        pays = next ? (next.price * w.multiplierBps) / next.multiplierBps : budget;
        break;
    }
    if (pays > budget) pays = budget;
    if (pays < w.price) pays = w.price; // cannot happen by construction; a guard, not a rule
    return { agent: w.agent, bid: w.price, pays };
  });
  return { winners, ranked };
}
