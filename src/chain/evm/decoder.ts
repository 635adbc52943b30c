import { Interface, type EventFragment, type InterfaceAbi, type ParamType } from "ethers";
import type { Deployment } from "../../protocol/deployment.js";
import type { ChainEvent, ContractName } from "../../settlement/events.js";
import type { RpcLog } from "./rpc.js";

/** The contracts the indexer follows, in the order of the deployments file. */
export const FOLLOWED: readonly ContractName[] = ["TaskEscrow", "DisputeResolver", "PaymentChannels", "ReputationAnchor"];

type Arg = string | number | boolean;
type Decoder = (topics: string[], data: string) => Record<string, Arg> | undefined;

const TWO_255 = 1n << 255n;
const TWO_256 = 1n << 256n;

/** One ABI word (64 hex chars, no 0x) as the JSON-friendly value ChainEvent.args holds. */
function word(type: string): ((w: string) => Arg) | undefined {
  if (type === "address") return (w) => `0x${w.slice(24).toLowerCase()}`;
  if (type === "bool") return (w) => /[1-9a-f]/i.test(w);
  if (/^uint\d*$/.test(type)) return (w) => BigInt(`0x${w}`).toString();
  if (/^int\d*$/.test(type))
    return (w) => {
      const v = BigInt(`0x${w}`);
      return (v >= TWO_255 ? v - TWO_256 : v).toString();
    };
  const bytes = /^bytes(\d+)$/.exec(type);
  if (bytes) return (w) => `0x${w.slice(0, 2 * Number(bytes[1])).toLowerCase()}`;
  return undefined; // dynamic (string, bytes, arrays, tuples)
}

/** ethers' decoded value → ChainEvent.args value (bigints as decimal strings, addresses lower-case). */
function plain(p: ParamType, v: unknown): Arg {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "string") return p.type === "address" || v.startsWith("0x") ? v.toLowerCase() : v;
  if (typeof v === "boolean" || typeof v === "number") return v;
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x));
}

/**
 * Builds a decoder for one event. Events whose non-indexed parameters are all one-word static
 * types (every AICP event but `Evidence`, `MetaEvidence` and `RootAnchored`) are decoded by
 * slicing the hex directly — ethers' `parseLog` costs ~1 ms per log, which alone would cap
 * backfill near 1,000 events/s; the rest go through ethers' ABI coder.
 */
function eventDecoder(iface: Interface, f: EventFragment): Decoder {
  const names = f.inputs.map((p, i) => p.name || `arg${i}`);
  const fast = f.inputs.map((p) => (p.indexed && word(p.type) === undefined ? (w: string) => `0x${w}` : word(p.type)));
  if (fast.every((x) => x !== undefined)) {
    const plan: { name: string; topic: number; slot: number; conv: (w: string) => Arg }[] = [];
    let topic = 1;
    let slot = 0;
    f.inputs.forEach((p, i) => plan.push({ name: names[i]!, topic: p.indexed ? topic++ : -1, slot: p.indexed ? -1 : slot++, conv: fast[i]! }));
    const nTopics = topic;
    return (topics, data) => {
      if (topics.length !== nTopics || data.length < 2 + 64 * slot) return undefined;
      const out: Record<string, Arg> = {};
      for (const x of plan) out[x.name] = x.conv(x.topic >= 0 ? topics[x.topic]!.slice(2) : data.slice(2 + 64 * x.slot, 66 + 64 * x.slot));
      return out;
    };
  }
  return (topics, data) => {
    try {
      const r = iface.decodeEventLog(f, data, topics);
      const out: Record<string, Arg> = {};
      f.inputs.forEach((p, i) => (out[names[i]!] = plain(p, r[i])));
      return out;
    } catch {
      return undefined;
    }
  };
}

export type LogDecoder = {
  /** Lower-case addresses of the followed contracts (the `address` filter of eth_getLogs). */
  addresses: string[];
  /** The lowest deployment block of the followed contracts: where backfill starts. */
  startBlock: number;
  /**
   * Decodes a raw log into a ChainEvent; undefined for a log of another contract, an unknown
   * topic (an event missing from the deployment's ABI) or malformed data.
   * @param timestamp the block's time, ms since epoch
   */
  decode(log: RpcLog, chain: string, timestamp: number): ChainEvent | undefined;
};

/**
 * A decoder for the followed contracts of a deployment, from the ABIs in the deployments file
 * (the same ABIs typechain generated the bindings from).
 * @throws Error when a followed contract is missing from the deployment
 */
export function createLogDecoder(deployment: Deployment): LogDecoder {
  const byAddress = new Map<string, { name: ContractName; events: Map<string, { name: string; decode: Decoder }> }>();
  let startBlock = Number.MAX_SAFE_INTEGER;
  for (const name of FOLLOWED) {
    const c = deployment.contracts[name];
    if (!c) throw new Error(`${name} is missing from the deployment`);
    startBlock = Math.min(startBlock, c.blockNumber);
    const iface = new Interface(c.abi as InterfaceAbi);
    const events = new Map<string, { name: string; decode: Decoder }>();
    iface.forEachEvent((f) => events.set(f.topicHash, { name: f.name, decode: eventDecoder(iface, f) }));
    byAddress.set(c.address.toLowerCase(), { name, events });
  }
  return {
    addresses: [...byAddress.keys()],
    startBlock,
    decode(log, chain, timestamp) {
      const c = byAddress.get(log.address.toLowerCase());
      const topic0 = log.topics[0]?.toLowerCase();
      const e = topic0 ? c?.events.get(topic0) : undefined;
      if (!c || !e) return undefined;
      const args = e.decode(log.topics, log.data);
      if (!args) return undefined;
      return {
        chain,
        contract: c.name,
        name: e.name,
        args,
        blockNumber: Number(log.blockNumber),
        blockHash: log.blockHash.toLowerCase(),
        txHash: log.transactionHash.toLowerCase(),
        logIndex: Number(log.logIndex),
        timestamp,
      };
    },
  };
}
