import { unavailable } from "../errors.js";
import type { Config } from "../config.js";
import { badRequest } from "../errors.js";

/**
 * The payment route a task settles on:
 * - `channel`: small payments, out of the buyer's PaymentChannels deposit (EIP-712 vouchers);
 * - `escrow`: the buyer funds TaskEscrow from the wallet before the auction opens;
 * - `offchain`: no settlement backend is configured (no deployments file): the coordinator runs
 *   auctions and execution but moves no money — for development without a chain; `/ready`
 *   reports `degraded` then.
 * `auto` takes the channel below the escrow threshold of the task's token (ESCROW_THRESHOLDS,
 * else ESCROW_THRESHOLD; token base units) and the escrow at or above it.
 */
export type SettlementRoute = "channel" | "escrow" | "offchain";

export function escrowThreshold(config: Config, token: string): bigint {
  let perToken: Record<string, string> = {};
  try {
    perToken = Object.fromEntries(Object.entries(JSON.parse(config.ESCROW_THRESHOLDS) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
  } catch {
    throw badRequest("BAD_CONFIG", "ESCROW_THRESHOLDS is not valid JSON.");
  }
  return BigInt(perToken[token.toLowerCase()] ?? config.ESCROW_THRESHOLD);
}

/**
 * @param chainConfigured whether a settlement backend (deployment) is available
 * @param requested the route the buyer asked for
 * @throws AppError 503 SETTLEMENT_UNAVAILABLE when `channel` or `escrow` is asked for without a chain
 * @param budget token base units
 */
export function resolveRoute(config: Config, chainConfigured: boolean, token: string, budget: bigint, requested: "auto" | "channel" | "escrow"): SettlementRoute {
  if (!chainConfigured) {
    // Never a silent downgrade: a buyer who asked for a route's protection gets it or a refusal.
    if (requested !== "auto")
      throw unavailable("SETTLEMENT_UNAVAILABLE", `The ${requested} route needs a settlement chain and this coordinator has none; post with route "auto" to settle off-chain, or retry when the operator has configured one.`);
    return "offchain";
  }
  if (requested !== "auto") return requested;
  return budget >= escrowThreshold(config, token) ? "escrow" : "channel";
}
