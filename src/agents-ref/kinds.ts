/**
 * The reference agents: which capabilities each kind sells, at what floor and estimated time,
 * and how to build one as an SDK agent. `run.ts` starts one kind as its own process; tests and
 * the demo may build them in-process with {@link createReferenceAgent}.
 */
import { createAgent, type Agent, type AgentOptions } from "../sdk/agent.js";
import { competitive, loadAware, staticFloor, type PricingStrategy } from "../sdk/pricing.js";
import { flaky, handlers, type FlakyOptions, type Handler } from "./handlers.js";

/** The kinds of reference agent. */
export const AGENT_KINDS = ["math", "text", "csv", "image", "hash", "flaky"] as const;
/** A kind of reference agent: `math`, `text`, `csv`, `image`, `hash` or `flaky`. */
export type AgentKind = (typeof AGENT_KINDS)[number];
/** The kinds that do work themselves (the flaky agent wraps one of them). */
export type WorkingKind = Exclude<AgentKind, "flaky">;

/** One capability of a kind: its floor (base units) and estimated time per task (ms). */
export type Offer = { capability: string; minPrice: bigint; etaMs: number };

/**
 * Capabilities per kind. Floors are in base units of a 6-decimal token (100 000 = 0.1), below
 * the coordinator's default quote (1 000 000 per complexity point) so that quotes anchor bids.
 */
export const OFFERS: Record<WorkingKind, Offer[]> = {
  math: [
    { capability: "math.evaluate", minPrice: 100_000n, etaMs: 2_000 },
    { capability: "math.simplify", minPrice: 150_000n, etaMs: 2_000 },
    { capability: "math.derivative", minPrice: 150_000n, etaMs: 2_000 },
  ],
  text: [
    { capability: "text.stats", minPrice: 100_000n, etaMs: 2_000 },
    { capability: "text.keywords", minPrice: 100_000n, etaMs: 2_000 },
  ],
  csv: [{ capability: "csv.stats", minPrice: 200_000n, etaMs: 3_000 }],
  image: [
    { capability: "image.colors", minPrice: 300_000n, etaMs: 5_000 },
    { capability: "image.resize", minPrice: 300_000n, etaMs: 5_000 },
  ],
  hash: [
    { capability: "hash.digest", minPrice: 50_000n, etaMs: 1_000 },
    { capability: "hash.compress", minPrice: 50_000n, etaMs: 1_000 },
  ],
};

/** The pricing strategy each kind uses unless told otherwise. */
export const DEFAULT_PRICING: Record<AgentKind, "static" | "load" | "competitive"> = {
  math: "competitive",
  text: "load",
  csv: "static",
  image: "static",
  hash: "competitive",
  flaky: "static",
};

/**
 * A pricing strategy by name.
 * @param targetWinRate for `competitive`, in (0, 1)
 */
export function pricingByName(name: "static" | "load" | "competitive", targetWinRate = 0.5): PricingStrategy {
  return name === "competitive" ? competitive({ targetWinRate }) : name === "load" ? loadAware() : staticFloor();
}

/** Options of {@link createReferenceAgent}: the SDK's, less what the kind decides. */
export type ReferenceAgentOptions = Omit<AgentOptions, "capabilities" | "handler" | "name"> & {
  name?: string;
  /** Overrides every capability's floor, base units. */
  minPrice?: bigint;
  /** The flaky agent: which kind it imitates (default `hash`) and how it fails (default: throws on half of its tasks). */
  flaky?: Partial<FlakyOptions> & { base?: WorkingKind };
};

/** The capabilities and the handler of a kind (for the flaky kind, those of the kind it wraps). */
export function kindWork(kind: AgentKind, flakyOpts: ReferenceAgentOptions["flaky"] = {}): { offers: Offer[]; handler: (capability: string, input: unknown) => Promise<unknown> } {
  const base: WorkingKind = kind === "flaky" ? (flakyOpts.base ?? "hash") : kind;
  const offers = OFFERS[base];
  const table = new Map<string, Handler>(offers.map((o) => [o.capability, handlers[o.capability]!]));
  if (kind === "flaky") {
    const opts: FlakyOptions = { failureRate: flakyOpts.failureRate ?? 0.5, mode: flakyOpts.mode ?? "throw", ...(flakyOpts.random ? { random: flakyOpts.random } : {}) };
    for (const [c, h] of table) table.set(c, flaky(h, opts));
  }
  return {
    offers,
    handler: (capability, input) => {
      const h = table.get(capability);
      if (!h) return Promise.reject(new Error(`this agent does not do ${capability}`));
      return h(input);
    },
  };
}

/** Builds (does not start) a reference agent of `kind` on the SDK. */
export function createReferenceAgent(kind: AgentKind, opts: ReferenceAgentOptions): Agent {
  const { offers, handler } = kindWork(kind, opts.flaky);
  const { minPrice, flaky: _flaky, name, ...sdk } = opts;
  // A hanging flaky agent gives up a little after the coordinator's default execution timeout
  // (3 × eta + 2 s), when the task has failed over anyway: hung tasks would otherwise hold its
  // concurrency slots until their deadlines and it would stop bidding, never tripping its breaker.
  const hangs = kind === "flaky" && (opts.flaky?.mode ?? "throw") !== "throw";
  const taskTimeoutMs = sdk.taskTimeoutMs ?? (hangs ? Math.max(...offers.map((o) => o.etaMs)) * 3 + 3_000 : undefined);
  return createAgent({
    ...sdk,
    ...(taskTimeoutMs !== undefined ? { taskTimeoutMs } : {}),
    name: name ?? `${kind}-agent`,
    pricing: sdk.pricing ?? pricingByName(DEFAULT_PRICING[kind]),
    capabilities: offers.map((o) => ({ capability: o.capability, minPrice: minPrice ?? o.minPrice, etaMs: o.etaMs })),
    handler: (task) => handler(task.capability, task.input),
  });
}
