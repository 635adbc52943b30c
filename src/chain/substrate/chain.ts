import type { ApiPromise } from "@polkadot/api";
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { Config } from "../../config.js";
import type { Logger } from "../../logger.js";
import type { SubstrateChainInfo } from "../../protocol/network.js";
import type { ChainSource } from "../../settlement/chain-source.js";
import { connectSubstrate, createSubmitter, type Submitter } from "./client.js";
import { CUSTODY_THRESHOLD } from "./custody.js";
import { toSs58 } from "./codec.js";
import { createSubstrateSettlement, type SubstrateSettlement } from "./settlement.js";
import { createSubstrateSource } from "./source.js";
import { escrowThreshold } from "../../settlement/route.js";

/** Platform fee on the Substrate route, bps of the agent's share (the EVM's TaskEscrow default). */
export const SUBSTRATE_FEE_BPS = 250;

/** The coordinator's connection to its Substrate settlement chain. */
export type SubstrateChain = {
  api: ApiPromise;
  submitter: Submitter;
  settlement: SubstrateSettlement;
  /** The coordinator's key (SUBSTRATE_COORDINATOR_URI). */
  coordinator: KeyringPair;
  /** The arbitrator's key when this process runs the arbitrator's co-signer (SUBSTRATE_ARBITRATOR_URI). */
  arbitrator?: KeyringPair;
  /** The chain's SS58 prefix. */
  prefix: number;
  /** The indexer's source (finalized heads; run with confirmations 0). */
  source(log: Logger): ChainSource;
  /** GET /v1/network's entry for this chain. */
  info(): Promise<SubstrateChainInfo>;
  close(): Promise<void>;
};

/**
 * Connects to SUBSTRATE_RPC_URL with the coordinator's key (SUBSTRATE_COORDINATOR_URI), the
 * arbitrator and treasury of the config.
 * @throws AppError 503 CHAIN_UNREACHABLE when the node does not answer
 */
export async function connectSubstrateChain(config: Config & { SUBSTRATE_RPC_URL: string }): Promise<SubstrateChain> {
  const api = await connectSubstrate(config.SUBSTRATE_RPC_URL);
  const prefix = api.registry.chainSS58 ?? 42;
  const keyring = new Keyring({ type: "sr25519", ss58Format: prefix });
  const coordinator = keyring.addFromUri(config.SUBSTRATE_COORDINATOR_URI);
  const arbitrator = config.SUBSTRATE_ARBITRATOR_URI ? keyring.addFromUri(config.SUBSTRATE_ARBITRATOR_URI) : undefined;
  const submitter = createSubmitter(api);
  const settlement = createSubstrateSettlement({ api, submitter, coordinator, arbitrator: config.SUBSTRATE_ARBITRATOR, treasury: config.SUBSTRATE_TREASURY, feeBps: SUBSTRATE_FEE_BPS });
  let info: Promise<SubstrateChainInfo> | undefined;
  return {
    api,
    submitter,
    settlement,
    coordinator,
    ...(arbitrator ? { arbitrator } : {}),
    prefix,
    source: (log) =>
      createSubstrateSource(api, {
        coordinator: coordinator.address,
        arbitrator: config.SUBSTRATE_ARBITRATOR,
        treasury: config.SUBSTRATE_TREASURY,
        log,
        ruleWindowS: config.SUBSTRATE_RULE_WINDOW_S,
        appealWindowS: config.SUBSTRATE_APPEAL_WINDOW_S,
      }),
    info() {
      info ??= (async () => {
        const asset = await api.query.assets.metadata(config.SUBSTRATE_ASSET_ID);
        return {
          kind: "substrate" as const,
          rpcUrl: config.SUBSTRATE_RPC_URL,
          genesisHash: api.genesisHash.toHex(),
          ss58Prefix: prefix,
          runtime: `${api.runtimeVersion.specName.toString()}/${api.runtimeVersion.specVersion.toNumber()}`,
          native: { token: "native", symbol: api.registry.chainTokens[0] ?? "UNIT", decimals: api.registry.chainDecimals[0] ?? 12, existentialDeposit: api.consts.balances.existentialDeposit.toString() },
          asset: { token: `asset:${config.SUBSTRATE_ASSET_ID}`, assetId: config.SUBSTRATE_ASSET_ID, symbol: asset.symbol.toUtf8(), decimals: asset.decimals.toNumber() },
          custody: { threshold: CUSTODY_THRESHOLD, coordinator: coordinator.address, arbitrator: toSs58(config.SUBSTRATE_ARBITRATOR, prefix) },
          treasury: toSs58(config.SUBSTRATE_TREASURY, prefix),
          feeBps: SUBSTRATE_FEE_BPS,
          windows: { acceptance: config.SUBSTRATE_ACCEPTANCE_WINDOW_S, rule: config.SUBSTRATE_RULE_WINDOW_S, appeal: config.SUBSTRATE_APPEAL_WINDOW_S },
          escrowThresholds: Object.fromEntries(["native", `asset:${config.SUBSTRATE_ASSET_ID}`].map((t) => [t, escrowThreshold(config, t).toString()])),
          routes: ["escrow" as const, "channel" as const],
          finality: "finalized heads" as const,
        };
      })();
      return info;
    },
    close: () => api.disconnect(),
  };
}
