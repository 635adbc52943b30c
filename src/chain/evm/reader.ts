import { Contract, JsonRpcProvider, id as keccakId } from "ethers";
import type { Logger } from "../../logger.js";
import { readDeployment } from "../../protocol/deployment.js";
import type { ChainReader } from "../../settlement/backend.js";
import { unavailable } from "../../errors.js";

/** How long a live chain read on a request's path may take before the request answers 503, ms. */
export const CHAIN_READ_TIMEOUT_MS = 3_000;

/** `p`, or a 503 CHAIN_UNAVAILABLE after `ms` (a stopped or unreachable node must not hang requests). */
export function chainRead<T>(p: Promise<T>, what: string, ms = CHAIN_READ_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable("CHAIN_UNAVAILABLE", `The settlement chain did not answer within ${ms} ms (${what}); try again shortly.`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const ARBITRATOR_ROLE = keccakId("ARBITRATOR_ROLE");
/** ERC-1271's answer for a valid signature: bytes4(keccak256("isValidSignature(bytes32,bytes)")). */
const ERC1271_MAGIC = "0x1626ba7e";

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
        const value = (await chainRead(resolver.getFunction("hasRole")(ARBITRATOR_ROLE, address) as Promise<boolean>, "the arbitrator role"));
        cache.set(address, { value, until: Date.now() + 30_000 });
        return value;
      } catch (err) {
        // The chain cannot say: the last answer if there was one, else a clear 503 (never a
        // wrong "not an arbitrator").
        if (hit) return hit.value;
        log.warn({ err }, "arbitrator role lookup failed");
        throw unavailable("CHAIN_UNAVAILABLE", "The arbitrator role is on-chain and the chain does not answer right now; try again shortly.", err);
      }
    },
    async isValidContractSignature(address, digest, signature) {
      const code = await chainRead(provider.getCode(address), "the account's code").catch((err: unknown) => {
        throw unavailable("CHAIN_UNAVAILABLE", "A contract wallet's signature is checked on-chain (ERC-1271) and the chain does not answer right now; try again shortly.", err);
      });
      if (code === "0x") return false;
      const wallet = new Contract(address, ["function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)"], provider);
      try {
        return (await chainRead(wallet.getFunction("isValidSignature")(digest, signature) as Promise<string>, "ERC-1271 isValidSignature")) === ERC1271_MAGIC;
      } catch (err) {
        if ((err as { code?: string }).code === "CALL_EXCEPTION" || (err as { code?: string }).code === "BAD_DATA") return false; // reverted or not ERC-1271
        throw err;
      }
    },
    close: () => provider.destroy(),
  };
}
