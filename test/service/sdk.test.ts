/**
 * The agent SDK and the reference agents: the handlers on real inputs, the pricing strategies
 * in simulated markets, webhook signatures and the event-stream parser, and SDK agents (webhook
 * and pull mode) working for a buyer through a real in-process coordinator (no chain: tasks
 * settle "offchain").
 */
import { prng as rng } from "../../src/demo/plan.js";
import { expect } from "chai";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { Jimp } from "jimp";
import { evaluate, derivative } from "mathjs";
import { createHmac } from "node:crypto";
import { newAgent, startHarness, taskBody, until, type Harness } from "./harness.js";
import { signWebhookBody } from "../../src/scheduling/webhook.js";
import {
  createAgent,
  createSession,
  clampBid,
  competitive,
  loadAware,
  staticFloor,
  readServerSentEvents,
  verifyWebhookSignature,
  AicpHttpError,
  WEBHOOK_PATH,
  type Agent,
  type BidContext,
  type Payout,
  type Session,
} from "../../src/sdk/agent.js";
import {
  csvStats,
  flaky,
  hashCompress,
  hashDigest,
  imageColors,
  imageResize,
  InputError,
  mathDerivativeExpr,
  mathEvaluate,
  mathSimplifyExpr,
  syllables,
  textKeywords,
  textStats,
} from "../../src/agents-ref/handlers.js";
import { generatePng } from "../../src/agents-ref/images.js";
import { createReferenceAgent } from "../../src/agents-ref/kinds.js";


async function rejects(p: Promise<unknown>, pattern: RegExp, type: new (...a: never[]) => Error = InputError) {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(type);
    expect((err as Error).message).to.match(pattern);
    return;
  }
  expect.fail(`expected a rejection matching ${pattern}`);
}

const PARAGRAPH =
  "The quick brown fox jumps over the lazy dog. It was not amused! Was the dog asleep? Nobody knows.\n\nFoxes are quick; dogs are lazy.";

describe("reference agent handlers", () => {
  describe("math", () => {
    it("evaluates expressions as mathjs does, with a scope, units and matrices", async () => {
      const r = await mathEvaluate({ expression: "sqrt(16) + 2^10 * sin(pi/6)" });
      expect(r).to.deep.include({ result: "516", type: "number", value: evaluate("sqrt(16) + 2^10 * sin(pi/6)") });
      expect((await mathEvaluate({ expression: "x^2 + y / 4", scope: { x: 3, y: 2 } })).value).to.equal(9.5);
      expect(await mathEvaluate({ expression: "5 cm + 2 inch to cm" })).to.deep.include({ result: "10.08 cm", type: "Unit" });
      expect(await mathEvaluate({ expression: "[1, 2; 3, 4] * 2" })).to.deep.include({ result: "[[2, 4], [6, 8]]", type: "DenseMatrix" });
      expect((await mathEvaluate({ expression: "1/3" })).result).to.equal("0.33333333333333");
    });

    it("simplifies and differentiates symbolically", async () => {
      expect((await mathSimplifyExpr({ expression: "2x + 3x + x^2 * x" })).simplified).to.equal("5 * x + x ^ 3");
      const d = await mathDerivativeExpr({ expression: "x^3 + sin(x)", at: { x: 2 } });
      expect(d.derivative).to.equal("3 * x ^ 2 + cos(x)");
      expect(d.value).to.be.closeTo(12 + Math.cos(2), 1e-12);
      expect((await mathDerivativeExpr({ expression: "t^2 * y", variable: "t" })).derivative).to.equal(derivative("t^2 * y", "t").toString());
    });

    it("refuses bad input with the field named, syntax errors, and expressions that reach the parser or import", async () => {
      await rejects(mathEvaluate({ expression: 42 }), /^math\.evaluate: input\.expression: .*string/);
      await rejects(mathEvaluate({}), /input\.expression/);
      await rejects(mathEvaluate({ expression: "1 +" }), /Unexpected end of expression/);
      await rejects(mathEvaluate({ expression: "evaluate(\"1+1\")" }), /evaluate is disabled/);
      await rejects(mathEvaluate({ expression: "import({a: 1})" }), /import is disabled/);
      await rejects(mathEvaluate({ expression: "f(x) = x^2" }), /defines a function/);
      await rejects(mathEvaluate({ expression: "1", scope: { "bad name": 1 } }), /input\.scope/);
      await rejects(mathEvaluate({ expression: "x".repeat(1001) }), /at most 1000/);
      await rejects(mathDerivativeExpr({ expression: "x^2", variable: "1x" }), /input\.variable/);
    });
  });

  describe("text", () => {
    it("counts words, sentences, paragraphs and syllables, and scores readability", async () => {
      const s = await textStats({ text: PARAGRAPH });
      expect(s).to.deep.include({ words: 25, sentences: 5, paragraphs: 2, uniqueWords: 18, longestWord: "amused", letters: 99, averageWordLength: 3.96, averageSentenceLength: 5 });
      // Flesch reading ease from the counts: 206.835 − 1.015 × 25/5 − 84.6 × syllables/25.
      expect(s.fleschReadingEase).to.be.closeTo(206.835 - 1.015 * 5 - (84.6 * s.syllables) / 25, 0.01);
      expect(["cat", "table", "beautiful", "jumped", "foxes", "computer", "readability"].map(syllables)).to.deep.equal([1, 2, 3, 1, 2, 3, 5]);
    });

    it("extracts keywords without stopwords, most frequent first", async () => {
      const k = await textKeywords({ text: PARAGRAPH, limit: 3 });
      expect(k.keywords).to.deep.equal([
        { keyword: "quick", count: 2 },
        { keyword: "lazy", count: 2 },
        { keyword: "dog", count: 2 },
      ]);
      const all = (await textKeywords({ text: PARAGRAPH, limit: 100 })).keywords.map((x) => x.keyword);
      expect(all).to.not.include.members(["the", "was", "are", "it"]);
      await rejects(textKeywords({ text: "" }), /input\.text/);
      await rejects(textKeywords({ text: "x", language: "xx" }), /input\.language/);
    });
  });

  describe("csv", () => {
    it("computes per-column statistics with missing cells and text columns", async () => {
      const r = await csvStats({ csv: "name,age,score\nann,30,1.5\nbob,40,\ncid,50,2.5\nann,,3.5\n" });
      expect(r.rows).to.equal(4);
      const [name, age, score] = r.columns;
      expect(name).to.deep.equal({ name: "name", index: 0, type: "text", count: 4, missing: 0, distinct: 3, top: { value: "ann", count: 2 } });
      expect(age).to.deep.include({ type: "number", count: 3, missing: 1, sum: 120, mean: 40, median: 40, min: 30, max: 50, sampleStddev: 10 });
      expect((age as { stddev: number }).stddev).to.be.closeTo(Math.sqrt(200 / 3), 1e-12);
      expect(score).to.deep.include({ mean: 2.5, median: 2.5, min: 1.5, max: 3.5, sampleStddev: 1 });
    });

    it("reads other delimiters and headerless files, and refuses ragged rows", async () => {
      const r = await csvStats({ csv: "1;2\n3;4\n5;9\n", delimiter: ";", header: false });
      expect(r.columns.map((c) => c.name)).to.deep.equal(["column1", "column2"]);
      expect(r.columns[1]).to.deep.include({ mean: 5, median: 4, max: 9 });
      await rejects(csvStats({ csv: "a,b\n1\n" }), /^csv\.stats: input\.csv: Invalid Record Length/);
      await rejects(csvStats({ csv: "a", delimiter: ";;" }), /input\.delimiter/);
    });
  });

  describe("image", () => {
    it("finds the dominant colour of a generated solid image, from a PNG and from a spec", async () => {
      const png = (await generatePng({ kind: "solid", width: 8, height: 6, color: "#ff0000" })).toString("base64");
      const r = await imageColors({ png });
      expect(r).to.deep.include({ width: 8, height: 6, pixels: 48 });
      expect(r.colors).to.deep.equal([{ hex: "ff0000", rgb: [255, 0, 0], share: 1, pixels: 48 }]);
      expect((await imageColors({ generate: { kind: "solid", width: 3, height: 3, color: "12ab9f" } })).colors[0]!.hex).to.equal("12ab9f");
    });

    it("reports shares of stripes and checkers, and ignores transparent pixels", async () => {
      const s = await imageColors({ generate: { kind: "stripes", width: 40, height: 5, colors: ["#0000ff", "#00ff00", "#0000ff", "#ffffff"] } });
      expect(s.colors.map((c) => [c.hex, c.share])).to.deep.equal([["0000ff", 0.5], ["00ff00", 0.25], ["ffffff", 0.25]]);
      const t = await imageColors({ generate: { kind: "stripes", width: 10, height: 10, colors: ["#ff000000", "#00ff00"] }, count: 1 });
      expect(t.pixels).to.equal(50);
      expect(t.colors[0]).to.deep.include({ hex: "00ff00", share: 1 });
      const g = await imageColors({ generate: { kind: "gradient", width: 64, height: 1, from: "#000000", to: "#ffffff", direction: "horizontal" }, count: 32, bits: 2 });
      expect(g.colors.length).to.equal(4); // 2 bits per channel on a grey ramp: 4 grey buckets
    });

    it("resizes keeping the aspect ratio, or into a box, and returns a decodable PNG", async () => {
      const png = (await generatePng({ kind: "checker", width: 64, height: 32, colors: ["#000000", "#ffffff"], cell: 8 })).toString("base64");
      const r = await imageResize({ png, width: 16 });
      expect(r).to.deep.include({ original: { width: 64, height: 32 }, width: 16, height: 8 });
      const back = await Jimp.read(Buffer.from(r.png, "base64"));
      expect([back.bitmap.width, back.bitmap.height]).to.deep.equal([16, 8]);
      expect((await imageResize({ png, width: 10, height: 10 })).height).to.equal(5); // fit
      expect(await imageResize({ png, width: 10, height: 10, mode: "cover" })).to.deep.include({ width: 10, height: 10 });
      expect(await imageResize({ generate: { kind: "solid", width: 4, height: 4, color: "#00ff00" }, height: 2 })).to.deep.include({ width: 2, height: 2 });
    });

    it("refuses non-PNG data, oversized PNGs before decoding them, and ambiguous sources", async () => {
      await rejects(imageColors({ png: Buffer.from("not an image").toString("base64") }), /input\.png: not a PNG/);
      const big = await generatePng({ kind: "solid", width: 4, height: 4, color: "#000000" });
      big.writeUInt32BE(100_000, 16); // claims 100 000 px wide in IHDR
      await rejects(imageColors({ png: big.toString("base64") }), /outside 1–2048/);
      await rejects(imageColors({}), /exactly one of png/);
      await rejects(imageResize({ generate: { kind: "solid", width: 4, height: 4, color: "#000000" } }), /width, height or both/);
      await rejects(imageColors({ generate: { kind: "solid", width: 0, height: 4, color: "#000000" } }), /input\.generate\.width/);
    });
  });

  describe("hash", () => {
    it("computes standard digests (FIPS 180-4 / 202 test vectors, Ethereum keccak256)", async () => {
      const r = await hashDigest({ text: "abc", algorithms: ["sha256", "sha3-256", "keccak256", "sha512", "md5"] });
      expect(r.bytes).to.equal(3);
      expect(r.digests).to.deep.equal({
        sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha3-256": "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
        keccak256: "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
        sha512: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        md5: "900150983cd24fb0d6963f7d28e17f72",
      });
      expect((await hashDigest({ text: "", algorithms: ["keccak256"] })).digests.keccak256).to.equal("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
      expect((await hashDigest({ text: "0x616263", encoding: "hex" })).digests.sha256).to.equal(r.digests.sha256);
      await rejects(hashDigest({ text: "abc", encoding: "hex" }), /not an even-length hex/);
      await rejects(hashDigest({ text: "abc", algorithms: ["crc32"] }), /input\.algorithms\.0/);
    });

    it("reports compression ratios that match node's zlib and favour repetitive input", async () => {
      const repetitive = await hashCompress({ text: "abc".repeat(1000) });
      expect(repetitive.bytes).to.equal(3000);
      for (const codec of ["gzip", "deflate", "brotli"]) expect(repetitive.results[codec]!.ratio).to.be.below(0.02);
      expect(repetitive.best).to.equal("brotli");
      const random = Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 2654435761) >>> 24)).toString("base64");
      const noisy = await hashCompress({ text: random, encoding: "base64" });
      expect(noisy.results["gzip"]!.ratio).to.be.above(repetitive.results["gzip"]!.ratio!);
      expect((await hashCompress({ text: "" })).results["gzip"]!.ratio).to.equal(null);
    });
  });

  describe("flaky", () => {
    it("fails about its configured share of tasks, by throwing or by hanging", async () => {
      const inner = async (x: unknown) => ({ ok: x });
      const f = flaky(inner, { failureRate: 0.3, mode: "throw", random: rng(7) });
      let failures = 0;
      for (let i = 0; i < 2000; i++) await f(i).catch(() => failures++);
      expect(failures / 2000).to.be.closeTo(0.3, 0.04);
      expect(await flaky(inner, { failureRate: 0, mode: "throw" })(1)).to.deep.equal({ ok: 1 });
      const hung = flaky(inner, { failureRate: 1, mode: "hang" })(1);
      const settled = await Promise.race([hung.then(() => "settled", () => "settled"), new Promise((r) => setTimeout(() => r("pending"), 50))]);
      expect(settled).to.equal("pending");
      expect(() => flaky(inner, { failureRate: 1.5, mode: "throw" })).to.throw(RangeError);
    });
  });
});

describe("pricing strategies", () => {
  const ctx = (over: Partial<BidContext> = {}): BidContext => ({
    auctionId: "a",
    capability: "c",
    floor: 50n,
    budget: 1000n,
    complexity: 3,
    urgency: "normal",
    rule: "first-price",
    load: 0,
    maxConcurrency: 4,
    quote: async () => 100n,
    ...over,
  });

  it("clamps every bid into [floor, budget − 1] and refuses when the floor reaches the budget", () => {
    expect(clampBid(10n, 50n, 1000n)).to.equal(50n);
    expect(clampBid(5000n, 50n, 1000n)).to.equal(999n);
    expect(clampBid(500n, 50n, 1000n)).to.equal(500n);
    expect(clampBid(500n, 1000n, 1000n)).to.equal(undefined);
  });

  it("static floor bids max(floor, quote), or the floor without a quote", async () => {
    expect(await staticFloor().price(ctx())).to.equal(100n);
    expect(await staticFloor().price(ctx({ quote: async () => 20n }))).to.equal(50n);
    expect(await staticFloor().price(ctx({ quote: async () => undefined }))).to.equal(50n);
    expect(await staticFloor({ useQuote: false }).price(ctx())).to.equal(50n);
    expect(await staticFloor().price(ctx({ budget: 80n }))).to.equal(79n);
  });

  it("load-aware raises the price with the load, up to twice the anchor at full load", async () => {
    const s = loadAware();
    const prices = [];
    for (const load of [0, 1, 2, 3, 4, 8]) prices.push(await s.price(ctx({ load })));
    expect(prices).to.deep.equal([100n, 125n, 150n, 175n, 200n, 200n]);
    expect(await loadAware({ surge: 3 }).price(ctx({ load: 4, budget: 300n }))).to.equal(299n);
  });

  /** Plays `rounds` first-price auctions against a rival whose bid is uniform in [lo, hi). */
  async function simulate(target: number, rounds: number, rival: () => number, c: Partial<BidContext> = {}) {
    const s = competitive({ targetWinRate: target, learningRate: 0.02 });
    const history: { price: bigint; won: boolean }[] = [];
    for (let i = 0; i < rounds; i++) {
      const bc = ctx(c);
      const price = (await s.price(bc))!;
      const won = Number(price) < rival();
      s.observe({ capability: "c", won, price, budget: bc.budget });
      history.push({ price, won });
    }
    return { s, history };
  }

  it("competitive converges toward its target win rate against a rival market", async () => {
    for (const target of [0.3, 0.7]) {
      const r = rng(target * 1000);
      const { history } = await simulate(target, 4000, () => 60 + r() * 140);
      const tail = history.slice(-1500);
      const rate = tail.filter((h) => h.won).length / tail.length;
      expect(rate, `target ${target}`).to.be.closeTo(target, 0.05);
      // The price that wins `target` of the time against U[60, 200) is 200 − 140 × target.
      const mean = tail.reduce((a, h) => a + Number(h.price), 0) / tail.length;
      expect(mean, `target ${target}`).to.be.closeTo(200 - 140 * target, 8);
    }
  });

  it("competitive raises its margin after a win and lowers it after a loss", async () => {
    const s = competitive({ targetWinRate: 0.5, learningRate: 0.1, initialMargin: 0.2 });
    s.observe({ capability: "c", won: true, price: 1n, budget: 2n });
    expect(s.state("c").margin).to.be.closeTo(0.25, 1e-9);
    s.observe({ capability: "c", won: false, price: 1n, budget: 2n });
    s.observe({ capability: "c", won: false, price: 1n, budget: 2n });
    expect(s.state("c")).to.deep.include({ wins: 1, losses: 2 });
    expect(s.state("c").margin).to.be.closeTo(0.15, 1e-9);
    expect(s.state("other").margin).to.equal(0.2);
  });

  it("competitive never bids below its floor nor at or above the budget, whatever the market", async () => {
    const undercut = await simulate(0.5, 500, () => 10); // rivals always below the floor: always lost
    expect(undercut.history.every((h) => h.price >= 50n && !h.won)).to.equal(true);
    expect(undercut.history.at(-1)!.price).to.equal(50n);
    const absent = await simulate(0.5, 500, () => Infinity, { budget: 300n }); // no rival: always won
    expect(absent.history.every((h) => h.price < 300n && h.won)).to.equal(true);
    expect(absent.history.at(-1)!.price).to.equal(299n);
    expect(() => competitive({ targetWinRate: 1 })).to.throw(RangeError);
  });
});

describe("webhook signatures and the event stream", () => {
  const body = JSON.stringify({ type: "task-assigned", data: { taskId: "t" } });
  const now = 1_700_000_000_000;

  it("accepts the coordinator's signature and refuses stale, forged, missing or malformed ones", () => {
    const header = signWebhookBody("s3cret", now, body);
    expect(verifyWebhookSignature("s3cret", header, body, 300_000, now + 1_000)).to.deep.equal({ ok: true, timestampMs: now });
    expect(verifyWebhookSignature("s3cret", header, body, 300_000, now + 300_001)).to.deep.equal({ ok: false, reason: "stale" });
    expect(verifyWebhookSignature("s3cret", header, body, 300_000, now - 300_001)).to.deep.equal({ ok: false, reason: "stale" });
    expect(verifyWebhookSignature("other", header, body, 300_000, now)).to.deep.equal({ ok: false, reason: "mismatch" });
    expect(verifyWebhookSignature("s3cret", header, body.replace("t\"", "u\""), 300_000, now)).to.deep.equal({ ok: false, reason: "mismatch" });
    expect(verifyWebhookSignature("s3cret", undefined, body)).to.deep.equal({ ok: false, reason: "missing" });
    expect(verifyWebhookSignature("s3cret", "v1=abc", body)).to.deep.equal({ ok: false, reason: "malformed" });
    const mac = createHmac("sha256", "s3cret").update(`${now}.${body}`).digest("hex");
    expect(verifyWebhookSignature("s3cret", `t=${now},v1=${"0".repeat(64)},v1=${mac}`, body, 1000, now)).to.deep.include({ ok: true });
  });

  it("parses server-sent events split anywhere, with comments, CRLF and multi-line data", async () => {
    const text = ": connected\r\n\r\nid: 1\nevent: cfp\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: task\ndata: x\ndata: y\r\n\r\ndata: plain\n\n";
    const bytes = new TextEncoder().encode(text);
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 3) yield bytes.subarray(i, i + 3);
    }
    const events = [];
    for await (const e of readServerSentEvents(chunks())) events.push(e);
    expect(events).to.deep.equal([
      { event: "cfp", data: "{\"a\":1}", id: "1" },
      { event: "task", data: "x\ny", id: "1" },
      { event: "message", data: "plain", id: "1" },
    ]);
  });
});

describe("SDK agents with a real coordinator", function () {
  this.timeout(90_000);
  let h: Harness;
  let buyer: Session;
  let dir: string;
  const agents: Agent[] = [];
  // Short session tokens: every agent has to sign in again while the tests run.
  const TOKEN_TTL_MS = 3_000;

  before(async () => {
    h = await startHarness({ AUTH_TOKEN_TTL_MS: String(TOKEN_TTL_MS), EXEC_RETRY_BASE_MS: "50" });
    buyer = createSession({ baseUrl: h.url, wallet: Wallet.createRandom() });
    dir = await mkdtemp(join(tmpdir(), "aicp-sdk-"));
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.stop({ drainMs: 500 })));
    await h?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const start = async (a: Agent) => {
    agents.push(a);
    // DEBUG_SDK=1 prints every agent event with its time since the agent started, ms.
    if (process.env["DEBUG_SDK"]) {
      const t0 = Date.now();
      for (const e of ["bid", "won", "lost", "delivered", "failed", "error"] as const)
        a.on(e, (p) => console.error(Date.now() - t0, a.address.slice(0, 8), e, JSON.stringify(p, (_k, v) => (typeof v === "bigint" ? v.toString() : v instanceof Error ? v.message : v)).slice(0, 200)));
    }
    await a.start();
    return a;
  };
  type TaskView = { id: string; status: string; agent: string | null; price: string | null; output?: unknown; execution: { failovers: number; attempts: number; failureReason: string | null; resultHash: string | null } };
  const post = async (capability: string, input: unknown, over: Record<string, unknown> = {}) => {
    const r = await buyer.request<{ tasks: { id: string }[] }>(
      "POST",
      "/v1/tasks",
      taskBody({ capability, input, budget: "10000000", auction: { rule: "first-price", windowMs: 5_000 }, ...over }),
    );
    return r.tasks[0]!.id;
  };
  const final = (id: string) =>
    until(async () => {
      const t = await buyer.request<TaskView>("GET", `/v1/tasks/${id}`);
      return ["delivered", "failed", "expired"].includes(t.status) && t;
    }, 30_000, 50);

  let mathAgent: Agent;
  let imageAgent: Agent;
  let cheapHash: Agent;

  it("webhook- and pull-mode agents win tasks posted by a buyer and deliver correct outputs", async () => {
    mathAgent = await start(
      createReferenceAgent("math", { baseUrl: h.url, wallet: Wallet.createRandom(), endpoint: { host: "127.0.0.1", port: 0 }, secretFile: join(dir, "math.secret") }),
    );
    // Pull agents that reconcile only when the stream (re)connects: the assignments must come through the stream.
    imageAgent = await start(createReferenceAgent("image", { baseUrl: h.url, wallet: Wallet.createRandom(), reconcileMs: 60_000 }));
    const textAgent = await start(createReferenceAgent("text", { baseUrl: h.url, wallet: Wallet.createRandom(), endpoint: { host: "127.0.0.1", port: 0 } }));
    const csvAgent = await start(createReferenceAgent("csv", { baseUrl: h.url, wallet: Wallet.createRandom(), reconcileMs: 60_000 }));
    expect([mathAgent.mode, imageAgent.mode, textAgent.mode, csvAgent.mode]).to.deep.equal(["webhook", "pull", "webhook", "pull"]);
    expect(mathAgent.webhookUrl).to.match(new RegExp(`^http://127\\.0\\.0\\.1:\\d+${WEBHOOK_PATH}$`));

    const stripes = (await generatePng({ kind: "stripes", width: 40, height: 20, colors: ["#ff0000", "#0000ff"] })).toString("base64");
    const inputs = {
      evaluate: { expression: "sqrt(16) + 2^10 * sin(pi/6) / 3" },
      derivative: { expression: "x^4 - 3x", at: { x: 2 } },
      colors: { generate: { kind: "solid", width: 16, height: 16, color: "#ff0000" } },
      resize: { png: stripes, width: 20 },
      text: { text: PARAGRAPH },
      csv: { csv: "city,temp\nOslo,4\nRome,18\nCairo,30\n" },
    };
    const ids = await Promise.all([
      post("math.evaluate", inputs.evaluate),
      post("math.derivative", inputs.derivative),
      post("image.colors", inputs.colors),
      post("image.resize", inputs.resize),
      post("text.stats", inputs.text),
      post("csv.stats", inputs.csv),
    ]);
    const [ev, der, col, res, txt, csv] = await Promise.all(ids.map(final));

    expect(ev).to.include({ status: "delivered", agent: mathAgent.address });
    expect(ev!.output).to.deep.include({ value: evaluate("sqrt(16) + 2^10 * sin(pi/6) / 3") });
    expect(der!.output).to.deep.include({ derivative: "4 * x ^ 3 - 3", value: 29 });
    expect(col).to.include({ status: "delivered", agent: imageAgent.address });
    expect((col!.output as { colors: { hex: string; share: number }[] }).colors[0]).to.deep.include({ hex: "ff0000", share: 1 });
    const resized = res!.output as { width: number; height: number; png: string };
    expect([resized.width, resized.height]).to.deep.equal([20, 10]);
    const img = await Jimp.read(Buffer.from(resized.png, "base64"));
    expect(img.getPixelColor(2, 5)).to.equal(0xff0000ff); // red half
    expect(img.getPixelColor(17, 5)).to.equal(0x0000ffff); // blue half
    expect(txt).to.include({ status: "delivered", agent: textAgent.address });
    expect(txt!.output).to.deep.equal(await textStats(inputs.text));
    expect(csv!.output).to.deep.equal(await csvStats(inputs.csv));

    // Stats and events: each agent won and delivered its tasks, and earned their prices. (The
    // buyer can see a task delivered just before its agent has the coordinator's answer.)
    await until(async () => mathAgent.stats().delivered === 2 && imageAgent.stats().delivered === 2, 5_000);
    const ms = mathAgent.stats();
    expect(ms).to.deep.include({ bids: 2, wins: 2, losses: 0, delivered: 2, failed: 0, winRate: 1 });
    expect(ms.earnings).to.equal(BigInt(ev!.price!) + BigInt(der!.price!));
    expect(ms.earningsByToken).to.deep.equal({ "0x0000000000000000000000000000000000000000": ms.earnings });
    expect(imageAgent.stats()).to.deep.include({ wins: 2, delivered: 2 });
    expect(imageAgent.stats().earnings).to.equal(BigInt(col!.price!) + BigInt(res!.price!));
  });

  it("two agents compete: the cheaper one wins, the other is told it lost; both learn the outcome", async () => {
    const cheap = (cheapHash = await start(createReferenceAgent("hash", { baseUrl: h.url, wallet: Wallet.createRandom(), minPrice: 100n, pricing: staticFloor({ useQuote: false }) })));
    const dear = await start(
      createReferenceAgent("hash", { baseUrl: h.url, wallet: Wallet.createRandom(), minPrice: 200n, pricing: staticFloor({ useQuote: false }), endpoint: { host: "127.0.0.1", port: 0 } }),
    );
    const lost = dear.once("lost");
    const bid = dear.once("bid");
    const delivered = cheap.once("delivered");
    const id = await post("hash.digest", { text: "abc" });
    const t = await final(id);
    expect(t).to.include({ status: "delivered", agent: cheap.address, price: "100" });
    expect((t.output as { digests: Record<string, string> }).digests["sha256"]).to.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect((await bid).price).to.equal(200n);
    expect((await lost).auctionId).to.be.a("string");
    expect((await delivered)).to.deep.include({ taskId: id, price: 100n, resultHash: t.execution.resultHash });
    expect(cheap.stats()).to.deep.include({ bids: 1, wins: 1, losses: 0, earnings: 100n });
    expect(dear.stats()).to.deep.include({ bids: 1, wins: 0, losses: 1, winRate: 0, earnings: 0n });
  });

  it("a flaky winner reports its failures; the task fails over to the runner-up, which delivers", async () => {
    const flakyAgent = await start(
      createReferenceAgent("flaky", { baseUrl: h.url, wallet: Wallet.createRandom(), minPrice: 50n, pricing: staticFloor({ useQuote: false }), flaky: { base: "hash", failureRate: 1, mode: "throw" } }),
    );
    const failures: number[] = [];
    flakyAgent.on("failed", (f) => failures.push(f.attempt));
    const cheapest = cheapHash;
    const rescued = cheapest.once("won", (w) => w.failover);
    const id = await post("hash.compress", { text: "aaaa".repeat(100) });
    const t = await final(id);
    expect(t).to.include({ status: "delivered", agent: cheapest.address, price: "100" });
    expect(t.execution.failovers).to.equal(1);
    expect(t.output).to.deep.equal(await hashCompress({ text: "aaaa".repeat(100) }));
    // The buyer may see the task settled before the agent has the answer to its last report.
    await until(async () => failures.length >= 3, 5_000);
    expect(failures).to.deep.equal([1, 2, 3]);
    expect(flakyAgent.stats()).to.deep.include({ wins: 1, failed: 3, delivered: 0, earnings: 0n });
    expect((await rescued).taskId).to.equal(id);
    await until(async () => cheapest.stats().delivered === 2, 5_000);
    expect(cheapest.stats()).to.deep.include({ failovers: 1, delivered: 2, earnings: 200n });
    await flakyAgent.stop();
  });

  it("a handler's input error is reported as the failure reason; with no runner-up the task fails", async () => {
    const failed = mathAgent.once("failed");
    const id = await post("math.evaluate", { expression: 42 });
    const t = await final(id);
    expect(t.status).to.equal("failed");
    expect(t.execution.failureReason).to.match(/math\.evaluate: input\.expression/);
    const f = await failed;
    expect(f).to.deep.include({ taskId: id, reported: true });
    expect(f.error).to.be.instanceOf(InputError);
  });

  it("a restarted pull agent picks up the task it won while it was down", async () => {
    const capability = `test.echo-${Date.now().toString(36)}`;
    await newAgent(h.url, { [capability]: 0 }); // a second invited agent that never bids: the auction runs its window
    const wallet = Wallet.createRandom();
    const echo = (by: string) => async (task: { input: unknown }) => ({ by, input: task.input });
    const before = createAgent({ baseUrl: h.url, wallet, name: "echo", capabilities: [{ capability, minPrice: 1n }], handler: echo("first") });
    await before.start();
    const bid = before.once("bid");
    const id = await post(capability, { n: 1 }, { auction: { rule: "first-price", windowMs: 1_000 } });
    expect((await bid).taskId).to.equal(id);
    await before.stop();
    // Awarded and marked running while no one listens: the task-assigned event is lost.
    await until(async () => (await buyer.request<TaskView>("GET", `/v1/tasks/${id}`)).status === "running", 10_000, 50);
    const after = await start(createAgent({ baseUrl: h.url, wallet, name: "echo", capabilities: [{ capability, minPrice: 1n }], handler: echo("second") }));
    const t = await final(id);
    expect(t).to.include({ status: "delivered", agent: after.address });
    expect(t.output).to.deep.equal({ by: "second", input: { n: 1 } });
    await until(async () => after.stats().delivered === 1, 5_000);
    expect(after.stats()).to.deep.include({ wins: 1, delivered: 1 });
  });

  it("gives up on a task whose handler hangs past the agent's timeout and reports it", async () => {
    const capability = `test.hang-${Date.now().toString(36)}`;
    const hanging = await start(
      createAgent({ baseUrl: h.url, wallet: Wallet.createRandom(), name: "hangs", capabilities: [{ capability, minPrice: 1n }], taskTimeoutMs: 300, handler: () => new Promise(() => undefined) }),
    );
    const aborted: boolean[] = [];
    hanging.on("failed", (f) => aborted.push(/timed out after 300 ms/.test(f.error.message) && f.reported));
    const t = await final(await post(capability, { n: 1 }));
    expect(t.status).to.equal("failed");
    expect(t.execution.failureReason).to.match(/timed out after 300 ms/);
    await until(async () => aborted.length >= 3, 5_000);
    expect(aborted).to.deep.equal([true, true, true]);
    expect(hanging.stats()).to.deep.include({ running: 0, failed: 3 });
  });

  it("the webhook endpoint refuses forged, stale and unsigned deliveries", async () => {
    const secret = (await readFile(join(dir, "math.secret"), "utf8")).trim();
    expect(secret).to.match(/^[0-9a-f]{64}$/);
    const body = JSON.stringify({ type: "task-assigned", data: { taskId: "00000000-0000-0000-0000-000000000000", auctionId: "x", capability: "math.evaluate", input: { expression: "1" }, price: "1", deadline: new Date(Date.now() + 60_000).toISOString(), attempt: 1 } });
    const send = (sig?: string) =>
      fetch(mathAgent.webhookUrl!, { method: "POST", headers: { "content-type": "application/json", ...(sig ? { "x-aicp-signature": sig } : {}) }, body });
    const errors: string[] = [];
    const off = mathAgent.on("error", (e) => errors.push(e.error.message));
    expect((await send()).status).to.equal(401);
    expect((await send(signWebhookBody("not-the-secret", Date.now(), body))).status).to.equal(401);
    expect((await send(signWebhookBody(secret, Date.now() - 10 * 60_000, body))).status).to.equal(401);
    off();
    expect(errors).to.deep.equal(["signature missing", "signature mismatch", "signature stale"]);
    // A correctly signed cfp for a capability it does not sell is accepted and ignored.
    const cfp = JSON.stringify({ type: "cfp", data: { auctionId: "y", taskIds: ["z"], capability: "other.thing", budget: "10", closesAt: new Date().toISOString() } });
    const ok = await fetch(mathAgent.webhookUrl!, { method: "POST", headers: { "x-aicp-signature": signWebhookBody(secret, Date.now(), cfp) }, body: cfp });
    expect(ok.status).to.equal(204);
    expect(mathAgent.stats().running).to.equal(0);
  });

  it("signs in again when its token expires, and kept working across expiries", async () => {
    // A clock 10 s behind: the session believes its token is fresh, the coordinator says TOKEN_EXPIRED.
    const lagging = createSession({ baseUrl: h.url, wallet: Wallet.createRandom(), now: () => Date.now() - 10_000 });
    await lagging.login();
    await new Promise((r) => setTimeout(r, TOKEN_TTL_MS + 1_100));
    const me = await lagging.request<{ items: unknown[] }>("GET", "/v1/tasks?limit=1");
    expect(me.items).to.be.an("array");
    expect(lagging.logins).to.equal(2);
    // The agents' first tokens have expired by now: bidding and delivering need fresh ones.
    const ids = await Promise.all([
      post("image.colors", { generate: { kind: "solid", width: 2, height: 2, color: "#00ff00" } }),
      post("math.evaluate", { expression: "2 + 2" }),
    ]);
    const [img, sum] = await Promise.all(ids.map(final));
    expect(img).to.include({ status: "delivered", agent: imageAgent.address });
    expect(sum).to.include({ status: "delivered", agent: mathAgent.address });
    expect(mathAgent.session.logins).to.be.greaterThan(1);
    expect(imageAgent.session.logins).to.be.greaterThan(1);
  });

  it("re-registration updates the profile; webhook mode needs the secret kept from the first registration", async () => {
    const wallet = Wallet.createRandom();
    const secretFile = join(dir, "again.secret");
    const first = createReferenceAgent("hash", { baseUrl: h.url, wallet, endpoint: { host: "127.0.0.1", port: 0 }, secretFile, name: "first" });
    await first.start();
    await first.stop();
    const noSecret = createReferenceAgent("math", { baseUrl: h.url, wallet, endpoint: { host: "127.0.0.1", port: 0 } });
    try {
      await noSecret.start();
      expect.fail("started without the webhook secret");
    } catch (err) {
      expect((err as Error).message).to.match(/webhook secret is unknown/);
    }
    const again = await start(createReferenceAgent("math", { baseUrl: h.url, wallet, endpoint: { host: "127.0.0.1", port: 0 }, secretFile, name: "second" }));
    const view = await buyer.request<{ name: string; endpointUrl: string; capabilities: { capability: string }[] }>("GET", `/v1/agents/${again.address}`);
    expect(view.name).to.equal("second");
    expect(view.endpointUrl).to.equal(again.webhookUrl);
    expect(view.capabilities.map((c) => c.capability).sort()).to.deep.equal(["math.derivative", "math.evaluate", "math.simplify"]);
    await again.stop();
    // Pull mode needs no secret, and clears the endpoint.
    const pull = await start(createReferenceAgent("csv", { baseUrl: h.url, wallet }));
    expect((await buyer.request<{ endpointUrl: string | null }>("GET", `/v1/agents/${pull.address}`)).endpointUrl).to.equal(null);
    await pull.stop();
  });

  it("forwards to a payouts provider when one is configured, and says so when none is", async () => {
    const seen: Payout[] = [];
    let unwatched = false;
    const withPayouts = createAgent({
      baseUrl: h.url,
      wallet: Wallet.createRandom(),
      name: "payee",
      capabilities: [{ capability: "hash.digest", minPrice: 1n }],
      handler: async () => ({}),
      payouts: {
        watch: (on) => {
          on({ token: "0x0000000000000000000000000000000000000000", amount: 5n, route: "channel" });
          return () => (unwatched = true);
        },
        withdraw: async () => ({ amount: 5n, txHash: "0xabc" }),
      },
    });
    withPayouts.on("payout", (p) => seen.push(p));
    await withPayouts.start();
    await withPayouts.stop();
    expect(seen).to.deep.equal([{ token: "0x0000000000000000000000000000000000000000", amount: 5n, route: "channel" }]);
    expect(unwatched).to.equal(true);
    expect(await withPayouts.withdraw("0x0000000000000000000000000000000000000000")).to.deep.equal({ amount: 5n, txHash: "0xabc" });
    try {
      await mathAgent.withdraw("0x0000000000000000000000000000000000000000");
      expect.fail("withdrew without a provider");
    } catch (err) {
      expect((err as Error).message).to.match(/no payouts provider/);
    }
  });

  it("refuses to start with a clear error when the coordinator refuses the sign-in", async () => {
    const wrongChain = createReferenceAgent("hash", { baseUrl: h.url, wallet: Wallet.createRandom(), siwe: { chainId: 1 } });
    try {
      await wrongChain.start();
      expect.fail("signed in for the wrong chain");
    } catch (err) {
      expect(err).to.be.instanceOf(AicpHttpError);
      expect(err).to.include({ status: 401, code: "SIWE_CHAIN_MISMATCH" });
      expect((err as Error).message).to.match(/siwe\.chainId/);
    }
  });
});
