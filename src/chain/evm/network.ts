import type { Config } from "../../config.js";
import type { NetworkInfo } from "../../protocol/network.js";
import { escrowThreshold } from "../../settlement/route.js";
import type { EvmChain } from "./chain.js";
import { chainRead } from "./reader.js";

const NATIVE = "0x0000000000000000000000000000000000000000";

/**
 * GET /v1/network's answer for an EVM deployment (src/protocol/network.ts): the chain id, an RPC
 * URL for wallets (PUBLIC_RPC_URL, else CHAIN_RPC_URL), the contracts, the accepted tokens (the
 * native currency and the deployment's ERC-20, its symbol and decimals read once from the
 * chain), the fee and the windows (read from the contracts) and the confirmation depth.
 * @returns a function answering from a cache (the deployment does not change while running);
 *   it rejects with 503 CHAIN_UNAVAILABLE when the chain does not answer in time
 */
export function createEvmNetworkInfo(evm: EvmChain, config: Config): (opts?: { abi?: boolean }) => Promise<NetworkInfo> {
  let cached: Promise<NetworkInfo> | undefined;
  const build = async (): Promise<NetworkInfo> => {
    const d = evm.deployment;
    const [feeBps, acceptance, rule, appeal, challenge] = await chainRead(
      Promise.all([evm.escrow.feeBps(), evm.escrow.acceptanceWindow(), evm.resolver.ruleWindow(), evm.resolver.appealWindow(), evm.channels.challengePeriod()]),
      "the contracts' parameters",
    );
    const tokens: NonNullable<NetworkInfo["chain"]>["tokens"] = [{ address: NATIVE, symbol: "ETH", decimals: 18, escrowThreshold: escrowThreshold(config, NATIVE).toString() }];
    if (evm.token) {
      const address = evm.address("AICPTestToken");
      const [symbol, decimals] = await chainRead(Promise.all([evm.token.symbol(), evm.token.decimals()]), "the token's symbol and decimals");
      tokens.push({ address, symbol, decimals: Number(decimals), escrowThreshold: escrowThreshold(config, address).toString() });
    }
    return {
      settlement: "chain",
      chain: {
        kind: "evm",
        chainId: d.chainId,
        rpcUrl: config.PUBLIC_RPC_URL ?? config.CHAIN_RPC_URL,
        confirmations: config.CONFIRMATIONS,
        finality: Math.max(config.FINALITY_DEPTH, config.CONFIRMATIONS),
        contracts: Object.fromEntries(Object.entries(d.contracts).map(([name, c]) => [name, c.address.toLowerCase()])),
        tokens,
        feeBps: Number(feeBps),
        windows: {
          acceptanceSeconds: Number(acceptance),
          disputeRuleSeconds: Number(rule),
          appealSeconds: Number(appeal),
          channelChallengeSeconds: Number(challenge),
          channelPaymentSeconds: config.CHANNEL_PAYMENT_WINDOW_S,
        },
      },
    };
  };
  const abis = Object.fromEntries(Object.entries(evm.deployment.contracts).map(([name, c]) => [name, c.abi]));
  return async (opts = {}) => {
    cached ??= build().catch((err: unknown) => {
      cached = undefined; // the RPC was down: ask again next time
      throw err;
    });
    const info = await cached;
    return opts.abi ? { ...info, abis } : info;
  };
}
