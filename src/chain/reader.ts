import { Contract, JsonRpcProvider, id as keccakId } from "ethers";
import { existsSync, readFileSync } from "node:fs";
import type { Logger } from "../logger.js";

/** What scripts/deploy.ts writes to `deployments/<network>.json`. */
export type Deployment = {
  network: string;
  chainId: number;
  contracts: Record<string, { address: string; blockNumber: number; abi: unknown[] }>;
};

/** Reads a deployments file; undefined when it does not exist yet. */
export function readDeployment(file: string): Deployment | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as Deployment;
}

/** Read-only chain access the coordinator API needs: health and on-chain roles. */
export type ChainReader = {
  /** Resolves with the head block number; rejects when the RPC is unreachable. */
  ping(): Promise<number>;
  /** Whether `address` holds ARBITRATOR_ROLE on the deployed DisputeResolver (cached 30 s). */
  isArbitrator(address: string): Promise<boolean>;
  readonly deployment: Deployment | undefined;
  close(): void;
};

const ARBITRATOR_ROLE = keccakId("ARBITRATOR_ROLE");

export function createChainReader(rpcUrl: string, chainId: number, deploymentsFile: string, log: Logger): ChainReader {
  const provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true, batchMaxCount: 1 });
  const deployment = readDeployment(deploymentsFile);
  const resolverInfo = deployment?.contracts["DisputeResolver"];
  const resolver = resolverInfo
    ? new Contract(resolverInfo.address, ["function hasRole(bytes32,address) view returns (bool)"], provider)
    : undefined;
  const cache = new Map<string, { value: boolean; until: number }>();
  return {
    deployment,
    ping: () => provider.getBlockNumber(),
    async isArbitrator(address) {
      if (!resolver) return false;
      const hit = cache.get(address);
      if (hit && hit.until > Date.now()) return hit.value;
      try {
        const value = (await resolver.getFunction("hasRole")(ARBITRATOR_ROLE, address)) as boolean;
        cache.set(address, { value, until: Date.now() + 30_000 });
        return value;
      } catch (err) {
        log.warn({ err }, "arbitrator role lookup failed; treating as not an arbitrator");
        return false;
      }
    },
    close: () => provider.destroy(),
  };
}
