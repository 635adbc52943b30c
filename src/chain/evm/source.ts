import type { Logger } from "../../logger.js";
import { RangeRefused, type BlockRef, type ChainSource } from "../../settlement/chain-source.js";
import type { ChainEvent } from "../../settlement/events.js";
import type { EvmChain } from "./chain.js";
import { createLogDecoder } from "./decoder.js";
import { createRpc, RpcError, type Rpc, type RpcHeader, type RpcLog } from "./rpc.js";

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * The EVM as the indexer's chain source: raw JSON-RPC (batched `eth_getBlockByNumber`, one
 * `eth_getLogs` per range for the deployment's four contracts) and the deployment's ABIs.
 * @param chain the EVM connection (its deployment names the contracts, ABIs and deployment blocks)
 * @throws Error when a followed contract is missing from the deployment
 */
export function createEvmSource(chain: EvmChain, log: Logger): ChainSource {
  const decoder = createLogDecoder(chain.deployment);
  const url = chain.provider._getConnection().url;
  let rpc: Rpc | undefined;
  const client = () => {
    if (!rpc) throw new Error("the EVM chain source is not open");
    return rpc;
  };

  async function headers(numbers: number[]): Promise<Map<number, BlockRef | null>> {
    const unique = [...new Set(numbers)];
    const hs = await client().batch<RpcHeader | null>(unique.map((n) => ({ method: "eth_getBlockByNumber", params: [hex(n), false] })));
    return new Map(
      unique.map((n, i) => {
        const h = hs[i];
        return [n, h ? { number: n, hash: h.hash.toLowerCase(), parentHash: h.parentHash.toLowerCase(), timestamp: Number(h.timestamp) * 1000 } : null];
      }),
    );
  }

  return {
    startBlock: decoder.startBlock,
    open() {
      rpc ??= createRpc(url);
    },
    close() {
      rpc?.close();
      rpc = undefined;
    },
    async head() {
      return Number(await client().call<string>("eth_blockNumber", []));
    },
    headers,
    async events(from, to, name) {
      const logs = await client()
        .call<RpcLog[]>("eth_getLogs", [{ fromBlock: hex(from), toBlock: hex(to), address: decoder.addresses }])
        .catch((err: Error) => {
          throw err instanceof RpcError && err.rpcCode !== undefined && to > from ? new RangeRefused(err.message, { cause: err }) : err;
        });
      const out: ChainEvent[] = [];
      for (const l of logs) {
        if (l.removed) continue;
        const ev = decoder.decode(l, name, l.blockTimestamp === undefined ? 0 : Number(l.blockTimestamp) * 1000);
        if (ev) out.push(ev);
        else log.debug({ tx: l.transactionHash, logIndex: l.logIndex, topic: l.topics[0] }, "log not in the ABI; skipped");
      }
      return out;
    },
  };
}
