/**
 * What the demo buys: tasks with real inputs across the reference agents' capabilities
 * (src/agents-ref/handlers.ts), and DAG workflows whose children consume their parents' outputs
 * through `{ "$from": key, "path": … }`. Pure and seeded, so two runs post the same work.
 *
 * Amounts are base units of a 6-decimal token (1 tUSD = 1 000 000). Budgets sit above what the
 * reference agents bid (the coordinator's quote is 1 tUSD per complexity point × urgency × a
 * reputation multiplier up to 2.0; the competitive agents add up to 25 %), so auctions are
 * decided by price, not by every bid being clamped to the budget — which is also how the flaky
 * agent (a static bidder at its quote, which its poor reputation lowers) wins hash tasks.
 */
import type { ImageSpec } from "../agents-ref/images.js";

/** One tUSD in base units. */
export const UNIT = 1_000_000n;

/** The settlement route asked for: `channel`, `escrow`, or `auto` (escrow at or above the threshold). */
export type PlannedRoute = "channel" | "escrow" | "auto";

/** A task the demo posts. */
export type PlannedTask = {
  index: number;
  capability: string;
  input: unknown;
  complexity: number;
  urgency: "low" | "normal" | "high" | "critical";
  /** Base units. */
  budget: bigint;
  rule: "first-price" | "second-price" | "reputation-weighted";
  route: PlannedRoute;
  /** Which buyer (index into the demo's buyers). */
  buyer: number;
  /** Why it is in the plan: the regular mix, the escrow share, or the flaky agent's share. */
  purpose: "mix" | "escrow" | "above-threshold" | "flaky";
};

/** A workflow the demo posts (node budgets in base units). */
export type PlannedWorkflow = {
  name: string;
  buyer: number;
  nodes: { key: string; capability: string; input: unknown; complexity: number; budget: bigint; dependsOn: string[] }[];
  totalBudget: bigint;
  reserve: bigint;
};

/** mulberry32: a small seeded PRNG, enough to vary inputs reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PARAGRAPHS = [
  "Autonomous agents bid for work in sealed-bid auctions. The lowest acceptable price wins, and the winner is paid what the runner-up asked. Vickrey showed in 1961 that bidding one's true cost is then the best strategy.",
  "A payment channel lets a buyer deposit once and pay many small results with signed vouchers. Each voucher carries a running total, so only the latest one matters. The coordinator settles many of them in a single transaction.",
  "Large payments go through an escrow. The buyer funds it from the wallet, the agent delivers, and the buyer accepts or disputes the result within the acceptance window. Silence counts as acceptance.",
  "Reputation decays toward a neutral score unless new successes refresh it. Every epoch, the scores are hashed into a Merkle tree whose root is anchored on-chain, so anyone can verify an agent's record with a short proof.",
  "A circuit breaker protects the marketplace from an agent that keeps failing. After five consecutive failures it opens, and calls are rejected at once; after a recovery timeout a few trial calls decide whether it closes again.",
  "Workflows are directed acyclic graphs of tasks. Ready nodes run in parallel, each node's output feeds its children, and the wall time approaches the critical path rather than the sum of the nodes.",
];

const CITIES = ["Oslo", "Lisbon", "Cairo", "Lima", "Osaka", "Quito", "Perth", "Dakar", "Hanoi", "Tunis", "Bergen", "Cusco"];
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** A CSV of `rows` cities with a temperature, rainfall and a sample count (numbers and text). */
export function weatherCsv(rand: () => number, rows: number): string {
  const lines = ["city,temperature,rain,samples"];
  for (let i = 0; i < rows; i++) {
    const city = CITIES[Math.floor(rand() * CITIES.length)]!;
    lines.push(`${city},${(rand() * 40 - 5).toFixed(1)},${Math.floor(rand() * 120)},${1 + Math.floor(rand() * 30)}`);
  }
  return `${lines.join("\n")}\n`;
}

function imageSpec(rand: () => number): ImageSpec {
  const pick = () => PALETTE[Math.floor(rand() * PALETTE.length)]!;
  const side = () => 32 + Math.floor(rand() * 4) * 16;
  const kind = Math.floor(rand() * 4);
  if (kind === 0) return { kind: "solid", width: side(), height: side(), color: pick() };
  if (kind === 1) return { kind: "stripes", width: side(), height: side(), colors: [pick(), pick(), pick()], direction: rand() < 0.5 ? "vertical" : "horizontal" };
  if (kind === 2) return { kind: "checker", width: side(), height: side(), colors: [pick(), pick()], cell: 8 };
  return { kind: "gradient", width: side(), height: side(), from: pick(), to: pick(), direction: "horizontal" };
}

/** A real input for `capability`, varied by `rand`. */
export function inputFor(capability: string, rand: () => number): unknown {
  const n = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const text = PARAGRAPHS[Math.floor(rand() * PARAGRAPHS.length)]!;
  switch (capability) {
    case "math.evaluate": {
      const forms = [
        () => ({ expression: `sqrt(${n(2, 400)}) * pi` }),
        () => ({ expression: "det([a, 2; 3, b])", scope: { a: n(1, 9), b: n(1, 9) } }),
        () => ({ expression: `${n(2, 30)} cm + ${n(1, 12)} inch to mm` }),
        () => ({ expression: "principal * (1 + rate / 12) ^ (12 * years)", scope: { principal: n(100, 5000), rate: n(1, 9) / 100, years: n(1, 10) } }),
        () => ({ expression: `combinations(${n(10, 40)}, ${n(2, 6)})` }),
      ];
      return forms[Math.floor(rand() * forms.length)]!();
    }
    case "math.simplify": {
      const forms = [`${n(2, 9)}x + ${n(2, 9)}x - x^2 + x^2`, "(x + 1)^2 - (x - 1)^2", `${n(2, 6)} * (y + y) / 2`, "sin(x)^2 + cos(x)^2 + z - z"];
      return { expression: forms[Math.floor(rand() * forms.length)]! };
    }
    case "math.derivative": {
      const forms = [`x^${n(2, 5)} - ${n(1, 9)}x`, "sin(x) * x^2", `exp(${n(1, 3)} * x)`, "log(x) + x^3"];
      return { expression: forms[Math.floor(rand() * forms.length)]!, variable: "x", at: { x: n(1, 4) } };
    }
    case "text.stats":
      return { text };
    case "text.keywords":
      return { text: `${text} ${PARAGRAPHS[Math.floor(rand() * PARAGRAPHS.length)]!}`, limit: n(3, 8) };
    case "csv.stats":
      return { csv: weatherCsv(rand, n(6, 24)) };
    case "image.colors":
      return { generate: imageSpec(rand), count: n(2, 5) };
    case "image.resize":
      return { generate: imageSpec(rand), width: n(8, 24), mode: "fit" };
    case "hash.digest":
      return { text, algorithms: ["sha256", "keccak256", "blake2b512"].slice(0, n(1, 3)) };
    case "hash.compress":
      return { text: text.repeat(n(1, 4)), level: n(1, 9) };
    default:
      throw new Error(`no demo input for ${capability}`);
  }
}

/** The regular mix: capability → weight (hash tasks are the ones the flaky agent competes for). */
const MIX: [string, number][] = [
  ["hash.digest", 14],
  ["hash.compress", 10],
  ["math.evaluate", 12],
  ["math.simplify", 6],
  ["math.derivative", 7],
  ["text.stats", 10],
  ["text.keywords", 9],
  ["csv.stats", 12],
  ["image.colors", 11],
  ["image.resize", 9],
];
/** Escrow-route tasks avoid the flaky agent's capabilities so the dispute and the silence land on steady agents. */
const ESCROW_CAPS = ["csv.stats", "text.stats", "math.evaluate", "image.colors", "text.keywords", "math.derivative"];
const RULES: PlannedTask["rule"][] = ["first-price", "second-price", "first-price", "reputation-weighted"];
const URGENCY_FACTOR = { low: 0.8, normal: 1, high: 1.5, critical: 2 } as const;

/** Budget for a channel-route task: 3 tUSD per complexity point, scaled by urgency. */
export function channelBudget(complexity: number, urgency: PlannedTask["urgency"]): bigint {
  return (3n * UNIT * BigInt(complexity) * BigInt(Math.round(URGENCY_FACTOR[urgency] * 100))) / 100n;
}

/** Options of {@link planTasks}. */
export type PlanOptions = {
  /** Standalone tasks to post in all (the flaky share included). */
  tasks: number;
  buyers: number;
  /** Share of the tasks on the escrow route (at least 3 when there are tasks: the dispute, the silence, an acceptance). */
  escrowShare: number;
  /** The escrow threshold of the token (route `auto` at or above it goes to escrow), base units. */
  escrowThreshold: bigint;
  /** Tasks kept back for the flaky agent (hash tasks posted until its breaker opens). */
  flakyReserve: number;
  seed?: number;
};

/** The task plan: `regular` (mix and escrow) and the `reserve` for the flaky agent's phase. */
export function planTasks(o: PlanOptions): { regular: PlannedTask[]; reserve: PlannedTask[] } {
  const rand = prng(o.seed ?? 2024);
  const total = Math.max(0, o.tasks);
  const reserveN = Math.min(o.flakyReserve, Math.max(0, total - 3));
  const regularN = total - reserveN;
  const escrowN = regularN === 0 ? 0 : Math.min(regularN, Math.max(3, Math.round(regularN * o.escrowShare)));
  // Escrow tasks spread evenly through the regular tasks; the first one is the above-threshold `auto` task when there are enough.
  const escrowAt = new Set(Array.from({ length: escrowN }, (_, i) => Math.floor(((i + 0.5) * regularN) / escrowN)));
  const weightSum = MIX.reduce((a, [, w]) => a + w, 0);
  const pickMix = () => {
    let x = rand() * weightSum;
    for (const [c, w] of MIX) if ((x -= w) < 0) return c;
    return MIX[0]![0];
  };
  const regular: PlannedTask[] = [];
  let escrowSeen = 0;
  for (let i = 0; i < regularN; i++) {
    const buyer = i % o.buyers;
    if (escrowAt.has(i)) {
      const aboveThreshold = escrowSeen === 0 && escrowN >= 4;
      const capability = ESCROW_CAPS[escrowSeen % ESCROW_CAPS.length]!;
      const complexity = 1 + (escrowSeen % 3);
      escrowSeen++;
      regular.push({
        index: i, capability, input: inputFor(capability, rand), complexity, urgency: "normal",
        budget: aboveThreshold ? o.escrowThreshold + UNIT : 5n * UNIT * BigInt(complexity),
        rule: "first-price", route: aboveThreshold ? "auto" : "escrow", buyer, purpose: aboveThreshold ? "above-threshold" : "escrow",
      });
      continue;
    }
    const capability = pickMix();
    const complexity = rand() < 0.7 ? 1 : 2;
    const urgency: PlannedTask["urgency"] = rand() < 0.15 ? "high" : rand() < 0.15 ? "low" : "normal";
    const hash = capability.startsWith("hash.");
    regular.push({
      index: i, capability, input: inputFor(capability, rand), complexity, urgency, budget: channelBudget(complexity, urgency),
      // Two agents sell hash work (the hash agent and the flaky one): a real second-price auction.
      rule: hash ? "second-price" : RULES[i % RULES.length]!,
      route: i % 5 === 0 ? "auto" : "channel", buyer, purpose: "mix",
    });
  }
  const reserve = Array.from({ length: reserveN }, (_, k) => flakyTask(regularN + k, (regularN + k) % o.buyers, Math.floor(k / FLAKY_WAVE), rand));
  return { regular, reserve };
}

/** Tasks per wave of the flaky agent's phase. */
export const FLAKY_WAVE = 6;
const FLAKY_COMBOS = [1, 2, 3].flatMap((complexity) => (["normal", "high", "low", "critical"] as const).map((urgency) => ({ complexity, urgency })));

/**
 * A hash task of the flaky agent's phase. Each wave takes another (complexity, urgency) pair:
 * agents cache the coordinator's price quote per capability, complexity and urgency for 30 s, so
 * a fresh pair makes the flaky agent bid on its current reputation — which its failures lower
 * (probation: × 0.5) — rather than on a quote from before they happened.
 */
export function flakyTask(index: number, buyer: number, wave: number, rand: () => number = prng(31 + index)): PlannedTask {
  const capability = index % 2 === 0 ? "hash.digest" : "hash.compress";
  const { complexity, urgency } = FLAKY_COMBOS[wave % FLAKY_COMBOS.length]!;
  return {
    index, capability, input: inputFor(capability, rand), complexity, urgency, budget: channelBudget(complexity, urgency),
    rule: "second-price", route: "channel", buyer, purpose: "flaky",
  };
}

/** A replacement for a reserve task once the flaky agent's breaker has opened: back to the regular mix. */
export function mixTask(index: number, buyer: number, seed = 7): PlannedTask {
  const rand = prng(seed + index);
  const caps = MIX.map(([c]) => c).filter((c) => !c.startsWith("hash."));
  const capability = caps[index % caps.length]!;
  return { index, capability, input: inputFor(capability, rand), complexity: 1, urgency: "normal", budget: channelBudget(1, "normal"), rule: "first-price", route: "channel", buyer, purpose: "mix" };
}

const ref = (from: string, path: string) => ({ $from: from, path });
const node = (key: string, capability: string, input: unknown, complexity: number, dependsOn: string[] = []) => ({
  key, capability, input, complexity, budget: channelBudget(complexity, "normal"), dependsOn,
});

/** The workflow templates, in order; the first is fetch → (label, extract, analyse) → combine. */
const TEMPLATES: ((rand: () => number) => { name: string; nodes: PlannedWorkflow["nodes"] })[] = [
  (rand) => ({
    name: "fetch → (label, extract, analyse) → combine",
    nodes: [
      node("fetch", "image.resize", { generate: { kind: "stripes", width: 256, height: 128, colors: [PALETTE[0]!, PALETTE[1]!, PALETTE[2 + Math.floor(rand() * 3)]!], direction: "vertical" }, width: 96 }, 2),
      node("label", "image.colors", { png: ref("fetch", "png"), count: 3 }, 2, ["fetch"]),
      node("extract", "hash.digest", { text: ref("fetch", "png"), encoding: "base64", algorithms: ["sha256", "keccak256"] }, 1, ["fetch"]),
      node("analyse", "hash.compress", { text: ref("fetch", "png"), encoding: "base64", level: 9 }, 1, ["fetch"]),
      node(
        "combine",
        "math.evaluate",
        {
          expression: "{dominantShare: dominant, pngBytes: bytes, gzipRatio: ratio, score: round(100 * (1 - dominant) * ratio)}",
          scope: { dominant: ref("label", "colors.0.share"), bytes: ref("extract", "bytes"), ratio: ref("analyse", "results.gzip.ratio") },
        },
        1,
        ["label", "extract", "analyse"],
      ),
    ],
  }),
  (rand) => {
    const text = `${PARAGRAPHS[Math.floor(rand() * PARAGRAPHS.length)]!}\n\n${PARAGRAPHS[Math.floor(rand() * PARAGRAPHS.length)]!}`;
    return {
      name: "text report: (stats, keywords) → combine",
      nodes: [
        node("stats", "text.stats", { text }, 1),
        node("keywords", "text.keywords", { text, limit: 5 }, 1),
        node(
          "combine",
          "math.evaluate",
          { expression: "{wordsPerSentence: round(words / sentences, 2), topKeywordShare: round(top / words, 4), grade: grade}", scope: { words: ref("stats", "words"), sentences: ref("stats", "sentences"), grade: ref("stats", "fleschKincaidGrade"), top: ref("keywords", "keywords.0.count") } },
          1,
          ["stats", "keywords"],
        ),
      ],
    };
  },
  (rand) => ({
    name: "csv analysis: stats → z-score of the hottest city",
    nodes: [
      node("stats", "csv.stats", { csv: weatherCsv(rand, 16) }, 2),
      node("zscore", "math.evaluate", { expression: "round((hottest - mean) / sd, 3)", scope: { hottest: ref("stats", "columns.1.max"), mean: ref("stats", "columns.1.mean"), sd: ref("stats", "columns.1.stddev") } }, 1, ["stats"]),
    ],
  }),
  (rand) => ({
    name: "calculus: derivative → (evaluate, simplify)",
    nodes: [
      node("derivative", "math.derivative", { expression: `x^${2 + Math.floor(rand() * 3)} - 3x`, variable: "x", at: { x: 2 } }, 1),
      node("slope", "math.evaluate", { expression: "atan(d) * 180 / pi", scope: { d: ref("derivative", "value") } }, 1, ["derivative"]),
      node("simplify", "math.simplify", { expression: ref("derivative", "derivative") }, 1, ["derivative"]),
    ],
  }),
  (rand) => ({
    name: "thumbnail: resize → (colours, digest) → summary",
    nodes: [
      node("resize", "image.resize", { generate: { kind: "gradient", width: 128, height: 64, from: PALETTE[Math.floor(rand() * 5)]!, to: PALETTE[5 + Math.floor(rand() * 5)]!, direction: "horizontal" }, width: 32 }, 1),
      node("colours", "image.colors", { png: ref("resize", "png"), count: 2 }, 1, ["resize"]),
      node("digest", "hash.digest", { text: ref("resize", "png"), encoding: "base64", algorithms: ["sha256"] }, 1, ["resize"]),
      node("summary", "math.evaluate", { expression: "{pixels: w * h, bytes: b, topShare: s}", scope: { w: ref("resize", "width"), h: ref("resize", "height"), b: ref("digest", "bytes"), s: ref("colours", "colors.0.share") } }, 1, ["resize", "colours", "digest"]),
    ],
  }),
];

/** `count` workflows cycling through the templates (the first is always fetch → … → combine). */
export function planWorkflows(count: number, buyers: number, seed = 99): PlannedWorkflow[] {
  const rand = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const t = TEMPLATES[i % TEMPLATES.length]!(rand);
    const sum = t.nodes.reduce((a, n) => a + n.budget, 0n);
    const reserve = sum / 10n;
    return { name: t.name, buyer: i % buyers, nodes: t.nodes, totalBudget: sum + reserve, reserve };
  });
}
