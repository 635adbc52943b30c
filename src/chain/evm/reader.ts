import { Contract, JsonRpcProvider, id as keccakId } from "ethers";
import type { Logger } from "../../logger.js";
import { readDeployment } from "../../protocol/deployment.js";
import type { ChainReader } from "../../settlement/backend.js";

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
