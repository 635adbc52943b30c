import { Contract, JsonRpcProvider, NonceManager, Wallet, type InterfaceAbi } from "ethers";
import type { AICPTestToken, DisputeResolver, PaymentChannels, ReputationAnchor, TaskEscrow } from "../../protocol/contracts.js";
import type { Config } from "../../config.js";
import { unavailable } from "../../errors.js";
import { readDeployment, type Deployment } from "../../protocol/deployment.js";

/**
 * The EVM side of AICP on ethers v6: a provider, the coordinator's operator wallet (which holds
 * only COORDINATOR_ROLE) and the typed contracts at the addresses of `deployments/<network>.json`.
 * Contracts are connected to the provider (read-only); the transaction sender signs.
 */
export type EvmChain = {
  chainId: number;
  provider: JsonRpcProvider;
  deployment: Deployment;
  /** The coordinator's hot wallet (unconnected to a nonce manager: the sender manages nonces). */
  operator: Wallet;
  escrow: TaskEscrow;
  resolver: DisputeResolver;
  channels: PaymentChannels;
  anchor: ReputationAnchor;
  token?: AICPTestToken;
  /** Address of a contract by name, lower-case. */
  address(name: "TaskEscrow" | "DisputeResolver" | "PaymentChannels" | "ReputationAnchor" | "AICPTestToken"): string;
  close(): void;
};

/**
 * Connects to the chain named by the config.
 * @throws AppError CHAIN_NOT_DEPLOYED when the deployments file is missing
 */
export function connectEvm(config: Config): EvmChain {
  const deployment = readDeployment(config.DEPLOYMENTS_FILE);
  if (!deployment) throw unavailable("CHAIN_NOT_DEPLOYED", `No deployment at ${config.DEPLOYMENTS_FILE}; run \`npm run deploy:localhost\` first.`);
  const provider = new JsonRpcProvider(config.CHAIN_RPC_URL, deployment.chainId, { staticNetwork: true, pollingInterval: 250 });
  const operator = new Wallet(config.COORDINATOR_PRIVATE_KEY, provider);
  const at = <T>(name: string): T => {
    const c = deployment.contracts[name];
    if (!c) throw unavailable("CHAIN_NOT_DEPLOYED", `${name} is missing from ${config.DEPLOYMENTS_FILE}.`);
    return new Contract(c.address, c.abi as InterfaceAbi, provider) as unknown as T;
  };
  return {
    chainId: deployment.chainId,
    provider,
    deployment,
    operator,
    escrow: at<TaskEscrow>("TaskEscrow"),
    resolver: at<DisputeResolver>("DisputeResolver"),
    channels: at<PaymentChannels>("PaymentChannels"),
    anchor: at<ReputationAnchor>("ReputationAnchor"),
    ...(deployment.contracts["AICPTestToken"] ? { token: at<AICPTestToken>("AICPTestToken") } : {}),
    address: (name) => {
      const c = deployment.contracts[name];
      if (!c) throw unavailable("CHAIN_NOT_DEPLOYED", `${name} is missing from ${config.DEPLOYMENTS_FILE}.`);
      return c.address.toLowerCase();
    },
    close: () => provider.destroy(),
  };
}

export { NonceManager };
