/**
 * `npm run bench`: the whole task lifecycle, driven as fast as it goes for a fixed time —
 * post → proposals → award → dispatch → deliver → accept or voucher → paid — and the
 * Postgres baseline measured in the same run, so that the figure is also a ratio that
 * survives a noisy machine. Prints figures, asserts nothing.
 *
 * Setup:
 * - `--route channel` (default): a Hardhat node with the contracts (a fresh one through
 *   test/service/chain-harness.ts, or `--chain URL` to deploy to a running node); B buyers are
 *   random wallets funded by Hardhat account #0 that deposit once into PaymentChannels from
 *   their own wallet; the coordinator's indexer projects the deposits.
 *   `--route offchain`: no chain; tasks settle off-chain and "paid" is the buyer's accept.
 * - The coordinator as a child process: `tsx src/main.ts --role all --no-chain --no-agents`
 *   (API, workers, indexer; no reference agents) on a fresh DATABASE_SCHEMA and QUEUE_PREFIX,
 *   LOG_LEVEL=warn, RATE_LIMIT_PER_MINUTE=0.
 * - M agents and B buyers in this process, each on its own server-sent event stream
 *   (`GET /v1/events`) and keep-alive HTTP. Agents answer at once: a `cfp` gets a sealed bid
 *   (a random price below the budget), a `task-assigned` gets the result posted. Buyers pay
 *   at once: on `task` delivered, channel route → an EIP-712 voucher for everything due to
 *   that agent (signed by the buyer's wallet; one `POST /v1/vouchers`, or `/v1/vouchers/batch`
 *   when several agents are due at once), off-chain → `POST /v1/tasks/:id/accept`.
 * - C lifecycles in flight (`--concurrency`): each slot posts a task and waits until it is paid
 *   (the voucher accepted and the result released, or the accept answered), then posts the next.
 *
 * Measurement: `--warmup` seconds of load first, then `--seconds` counted: lifecycles per
 * second = lifecycles paid inside the counted window ÷ its length. Steps, each ending where the
 * next begins (client clock; their sum is the lifecycle):
 *   post       POST /v1/tasks sent → answered (auction open, calls for proposals sent)
 *   proposals  → the closing bid sent (the cfp reached the agents over SSE, the others bid)
 *   award      → the closing bid answered (the close transaction, the award, the dispatch queued)
 *   dispatch   → `task-assigned` received by the agent
 *   deliver    → POST /v1/tasks/:id/result answered
 *   pay        → the voucher (or the accept) answered (includes the buyer's `delivered` event)
 * The Postgres baseline (scripts/lib/bench-baseline.ts: 8 clients, single-row UPDATEs in
 * autocommit) runs for `--baseline-seconds` before and after the load, coordinator idle.
 * Also printed: the load average, CPU by process (coordinator, bench, Postgres, Redis, the
 * rest of the machine), per-route server latency from the coordinator's /metrics, and
 * Postgres commits and rows written per lifecycle (pg_stat_database, pg_stat_user_tables), and
 * a check of the run in Postgres: tasks accepted, vouchers stored (and settled on-chain by the
 * coordinator's batch job meanwhile), Σ voucher increases = Σ prices of the accepted tasks, and
 * one paid task's output as its buyer sees it. `--mode inproc` runs the coordinator in this
 * process instead and adds Postgres statements and Redis commands per lifecycle.
 *
 * Flags: --seconds 30 --warmup 3 --route channel|offchain --agents 4 --buyers 16
 *        --concurrency 64 --window 60000 (auction window, ms; every auction closes early, at
 *        its last bid) --eta-ms 1000 (agents' estimate; sets the execution deadline)
 *        --baseline-seconds 5 --baseline auto|pgbench|node-pg --chain URL --pool N
 *        (DATABASE_POOL_SIZE) --cpu-prof DIR (V8 profile of the coordinator) --keep (schema)
 *        --mode child|inproc
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/aicp_bench), REDIS_URL.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import pg from "pg";
import { dropSchema, ensureDatabase } from "../src/db/index.js";
import { Client, ZERO, call, counters, http, openEvents, sleep, type SseEvent } from "./lib/bench-http.js";
import { dist, f, machineCpu, machineLine, processCpu, routeTotals, sample, intFlag } from "./lib/bench-stats.js";
import { cleanRedis, countRoundTrips, groupWarnings, roundTrips, startChildCoordinator } from "./lib/bench-coordinator.js";
import { loadConfig } from "../src/config.js";
import { startCoordinator } from "../src/app/coordinator.js";
import { measureBaseline, type Baseline } from "./lib/bench-baseline.js";
import { benchChain, fundedPayers, voucherSigner, type BenchChain, type SignedVoucher } from "./lib/bench-chain.js";
import { hexlify, randomBytes } from "ethers";
import { DELIVERY_AUTHORIZATION_TYPES, voucherDomain } from "../src/protocol/eip712.js";

const { values: flags } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    warmup: { type: "string", default: "3" },
    route: { type: "string", default: "channel" },
    agents: { type: "string", default: "4" },
    buyers: { type: "string", default: "16" },
    concurrency: { type: "string", default: "64" },
    window: { type: "string", default: "60000" },
    "eta-ms": { type: "string", default: "1000" },
    "baseline-seconds": { type: "string", default: "5" },
    baseline: { type: "string", default: "auto" },
    chain: { type: "string" },
    pool: { type: "string" },
    mode: { type: "string", default: "child" },
    "cpu-prof": { type: "string" },
    keep: { type: "boolean", default: false },
  },
  strict: true,
});
const int = (name: keyof typeof flags, min: number) => intFlag(flags, name, min);
const SECONDS = int("seconds", 1);
const WARMUP = int("warmup", 0);
const M = int("agents", 1);
const B = int("buyers", 1);
const C = int("concurrency", 1);
const WINDOW_MS = int("window", 50);
const ETA_MS = int("eta-ms", 1);
const BASELINE_SECONDS = int("baseline-seconds", 0);
const ROUTE = flags.route as "channel" | "offchain";
if (!["channel", "offchain"].includes(ROUTE)) throw new Error("--route is channel or offchain");
if (!["auto", "pgbench", "node-pg"].includes(flags.baseline!)) throw new Error("--baseline is auto, pgbench or node-pg");
const INPROC = flags.mode === "inproc";
if (!["child", "inproc"].includes(flags.mode!)) throw new Error("--mode is child or inproc");

const DATABASE_URL = process.env["DATABASE_URL"] || "postgres://postgres@127.0.0.1:5432/aicp_bench";
const REDIS_URL = process.env["REDIS_URL"] || "redis://127.0.0.1:6379";
const TAG = `${process.pid}_${Date.now().toString(36)}`;
const SCHEMA = `bench_lifecycle_${TAG}`;
const BASELINE_SCHEMA = `bench_baseline_${TAG}`;
const QUEUE_PREFIX = `aicp-bench-lc-${TAG}`;
const CAPABILITY = "bench.lifecycle";
const BUDGET = 1_000_000n;
const CONFIRMATIONS = 2;

// ---------------------------------------------------------------------------------------------
// Lifecycles

const STEPS = ["post", "proposals", "award", "dispatch", "deliver", "pay"] as const;
type Step = (typeof STEPS)[number];

/** Client-clock timestamps (performance.now()) of one lifecycle; filled by whoever sees each moment. */
type Life = {
  id?: string;
  t0?: number;
  posted?: number;
  closingSent?: number;
  awarded?: number;
  assigned?: number;
  delivered?: number;
  paid?: number;
  buyer?: Buyer;
  agent?: string;
  price?: bigint;
  end?: (outcome: string) => void;
};

const lives = new Map<string, Life>();
const life = (taskId: string) => {
  let l = lives.get(taskId);
  if (!l) lives.set(taskId, (l = {}));
  return l;
};
const errors = new Map<string, number>();
const fail = (what: string) => errors.set(what, (errors.get(what) ?? 0) + 1);
const stats = { bids: 0, bidErrors: 0, deliveries: 0, vouchers: 0, voucherRequests: 0, retriedVouchers: 0, accepts: 0, events: 0 };

/** The steps of a paid lifecycle, each clamped to start where the previous one ended. */
function steps(l: Life): Record<Step | "total", number> {
  const ts = [l.t0!, l.posted!, l.closingSent ?? l.posted!, l.awarded ?? l.posted!, l.assigned!, l.delivered ?? l.assigned!, l.paid!];
  for (let i = 1; i < ts.length; i++) ts[i] = Math.max(ts[i]!, ts[i - 1]!);
  const out = { total: ts.at(-1)! - ts[0]! } as Record<Step | "total", number>;
  STEPS.forEach((s, i) => (out[s] = ts[i + 1]! - ts[i]!));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Agents: bid on every cfp, deliver on every assignment

async function startAgent(a: Client) {
  const onEvent = (e: SseEvent) => {
    stats.events++;
    if (e.type === "cfp") {
      const taskId = (e.data["taskIds"] as string[])[0]!;
      const price = 1n + BigInt(Math.floor(Math.random() * Number(BUDGET - 1n)));
      const sent = performance.now();
      a.req<{ auctionClosed: boolean }>("POST", `/v1/tasks/${taskId}/proposals`, { price: price.toString(), etaMs: ETA_MS }).then(
        (r) => {
          if (r.status !== 201) return void (stats.bidErrors++, fail(`proposal ${r.status} ${JSON.stringify(r.body).slice(0, 100)}`));
          stats.bids++;
          if (r.body.auctionClosed) {
            const l = life(taskId);
            l.closingSent = sent;
            l.awarded = performance.now();
          }
        },
        (err: Error) => fail(`proposal: ${err.message}`),
      );
    } else if (e.type === "task-assigned") {
      const taskId = e.data["taskId"] as string;
      life(taskId).assigned = performance.now();
      a.req("POST", `/v1/tasks/${taskId}/result`, { output: { ok: true, input: e.data["input"] } }).then(
        (r) => {
          if (r.status !== 200) return void fail(`result ${r.status} ${JSON.stringify(r.body).slice(0, 100)}`);
          stats.deliveries++;
          life(taskId).delivered = performance.now();
        },
        (err: Error) => fail(`result: ${err.message}`),
      );
    }
  };
  return openEvents(a, onEvent);
}

// ---------------------------------------------------------------------------------------------
// Buyers: pay on every delivery

type Buyer = {
  c: Client;
  key: Uint8Array;
  /** Delivered, not yet paid: task → (agent, price). */
  unpaid: Map<string, { agent: string; price: bigint }>;
  /** Per agent: the last accepted cumulative amount. */
  accepted: Map<string, bigint>;
  /** Per agent: the cumulative amount the coordinator expects (after a VOUCHER_WRONG_AMOUNT). */
  expected: Map<string, bigint>;
  paying: boolean;
};

let sign: ReturnType<typeof voucherSigner> | undefined;

function paid(taskId: string) {
  const l = lives.get(taskId);
  if (!l || l.paid !== undefined) return;
  l.paid = performance.now();
  l.end?.("paid");
}

type VoucherResult = { ok: true; receipt: { taskIds: string[]; cumulativeAmount: string } } | { ok: false; error: { code: string; details?: { expectedCumulativeAmount?: string; taskIds?: string[] } } };

/** Pays everything due, one voucher per agent per round, one round at a time per buyer. */
async function payDue(b: Buyer) {
  if (b.paying) return;
  b.paying = true;
  try {
    for (let round = 0; b.unpaid.size > 0 || b.expected.size > 0; round++) {
      const due = new Map<string, bigint>();
      for (const { agent, price } of b.unpaid.values()) due.set(agent, (due.get(agent) ?? 0n) + price);
      for (const agent of b.expected.keys()) if (!due.has(agent)) due.set(agent, 0n);
      const vouchers: SignedVoucher[] = [];
      for (const [agent, sum] of due) {
        const cumulative = b.expected.get(agent) ?? (b.accepted.get(agent) ?? 0n) + sum;
        if (b.expected.delete(agent)) stats.retriedVouchers++;
        vouchers.push(sign!(b.key, { payer: b.c.address, payee: agent, token: ZERO, cumulativeAmount: cumulative }));
      }
      stats.voucherRequests++;
      let results: VoucherResult[];
      if (vouchers.length === 1) {
        const r = await b.c.req<{ taskIds: string[]; cumulativeAmount: string } & { error: { code: string; details?: Record<string, unknown> } }>("POST", "/v1/vouchers", vouchers[0]);
        results = [r.status === 200 ? { ok: true, receipt: r.body } : { ok: false, error: r.body.error ?? { code: `HTTP ${r.status}` } } as VoucherResult];
      } else {
        const r = await b.c.req<{ results: VoucherResult[] }>("POST", "/v1/vouchers/batch", { vouchers });
        results = r.status === 200 ? r.body.results : vouchers.map(() => ({ ok: false, error: { code: `HTTP ${r.status}` } }));
      }
      let refused = false;
      results.forEach((res, i) => {
        const v = vouchers[i]!;
        if (res.ok) {
          stats.vouchers++;
          b.accepted.set(v.payee, BigInt(res.receipt.cumulativeAmount));
          for (const id of res.receipt.taskIds) {
            b.unpaid.delete(id);
            paid(id);
          }
          return;
        }
        // The coordinator knows of a delivery whose event has not reached this buyer yet: pay
        // what it says is due, if every task it names is one of this buyer's.
        const d = res.error.details;
        if (res.error.code === "VOUCHER_WRONG_AMOUNT" && d?.expectedCumulativeAmount && (d.taskIds ?? []).every((id) => lives.get(id)?.buyer === b)) {
          b.expected.set(v.payee, BigInt(d.expectedCumulativeAmount));
          return;
        }
        fail(`voucher ${res.error.code}`);
        refused = true;
      });
      if (refused) await sleep(50);
      if (round > 1000) throw new Error("payment rounds do not converge");
    }
  } finally {
    b.paying = false;
  }
}

async function startBuyer(b: Buyer) {
  return openEvents(b.c, (e) => {
    stats.events++;
    if (e.type === "auction-closed") {
      const winners = e.data["winners"] as { agent: string; price: string }[];
      (e.data["taskIds"] as string[]).forEach((id, i) => {
        const l = life(id);
        if (!winners[i]) return void l.end?.("expired");
        l.agent = winners[i].agent;
        l.price = BigInt(winners[i].price);
      });
    } else if (e.type === "task") {
      const id = e.data["taskId"] as string;
      const status = e.data["status"] as string;
      const l = life(id);
      if (status === "failed") return void l.end?.("failed");
      if (status !== "delivered" || l.paid !== undefined) return;
      if (ROUTE === "offchain") {
        b.c.req("POST", `/v1/tasks/${id}/accept`).then(
          (r) => {
            if (r.status !== 200) return void fail(`accept ${r.status} ${JSON.stringify(r.body).slice(0, 100)}`);
            stats.accepts++;
            paid(id);
          },
          (err: Error) => fail(`accept: ${err.message}`),
        );
        return;
      }
      if (l.price === undefined || l.agent === undefined) return void fail("delivered before the award was seen");
      b.unpaid.set(id, { agent: l.agent, price: l.price });
      payDue(b).catch((err: Error) => fail(`pay: ${err.message}`));
    }
  });
}

type Coord = { url: string; logs: string[]; stop(): Promise<void> };

type Sample = { trips: { pg: number; redis: number; sql: Map<string, number>; redisCommands: Map<string, number> }; at: number; machine: number; bench: number; coordinator: number; postgres: number; redis: number; chain: number; metrics: string; commits: number; rows: Map<string, number> };

async function takeSample(coord: Coord, db: pg.Client, chain?: BenchChain): Promise<Sample> {
  const metrics = (await call<string>(coord.url, "GET", "/metrics")).body;
  const own = process.cpuUsage();
  const commits = await db.query<{ n: string }>("SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()");
  const rows = await db.query<{ t: string; n: string }>(
    "SELECT relname AS t, (n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables WHERE schemaname = $1",
    [SCHEMA],
  );
  return {
    trips: { pg: roundTrips.pg, redis: roundTrips.redis, sql: new Map(roundTrips.sql), redisCommands: new Map(roundTrips.redisCommands) },
    at: performance.now(),
    machine: machineCpu() * 1000,
    bench: (own.user + own.system) / 1000,
    coordinator: sample(metrics, "process_cpu_seconds_total") * 1000,
    postgres: processCpu(["postgres"]) * 1000,
    redis: processCpu(["redis-server"]) * 1000,
    chain: chain ? processCpu([], new RegExp(`hardhat node .*--port ${new URL(chain.url).port}`)) * 1000 : 0,
    metrics,
    commits: Number(commits.rows[0]!.n),
    rows: new Map(rows.rows.map((r) => [r.t, Number(r.n)])),
  };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  console.log(`bench — the task lifecycle, route ${ROUTE}: ${M} agents, ${B} buyers, ${C} lifecycles in flight, ${WARMUP} s warm-up + ${SECONDS} s counted`);
  console.log(`machine: ${machineLine()}`);
  let chain: BenchChain | undefined;
  let coord: Coord | undefined;
  const streams: { close(): void }[] = [];
  const db = new pg.Client({ connectionString: DATABASE_URL });
  try {
    await ensureDatabase(DATABASE_URL);
    await db.connect();
    if (ROUTE === "channel") {
      console.log(flags.chain ? `deploying the contracts to ${flags.chain} …` : "starting a Hardhat node and deploying the contracts …");
      chain = await benchChain(flags.chain);
    }
    const env: Record<string, string> = {
      DATABASE_URL,
      DATABASE_SCHEMA: SCHEMA,
      REDIS_URL,
      QUEUE_PREFIX,
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      CONFIRMATIONS: String(CONFIRMATIONS),
      ...(chain
        ? { CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CHAIN_ID: String(chain.deployment.chainId) }
        : { CHAIN_RPC_URL: "http://127.0.0.1:1", DEPLOYMENTS_FILE: "deployments/does-not-exist.json", SETTLEMENT: "none" }),
      ...(flags.pool ? { DATABASE_POOL_SIZE: flags.pool } : {}),
    };
    console.log(`starting the coordinator (schema ${SCHEMA}, queue prefix ${QUEUE_PREFIX}) …`);
    if (INPROC) {
      countRoundTrips();
      const c = await startCoordinator(loadConfig({ ...env, PORT: "0", HOST: "127.0.0.1", NODE_ENV: "production" }), "all");
      coord = { url: c.url!, logs: [], stop: () => c.close() };
    } else coord = await startChildCoordinator(env, { args: ["--no-chain", "--no-agents"], cpuProf: flags["cpu-prof"], keepLines: 2000 });
    const base = coord.url;
    const chainId = chain?.deployment.chainId ?? 31337;

    // Buyers (funded wallets with a deposit on the channel route) and agents.
    let wallets: Client["wallet"][] | undefined;
    if (chain) {
      wallets = await fundedPayers(chain, B, 10n ** 18n, 5n * 10n ** 17n);
      sign = voucherSigner(chainId, chain.deployment.contracts["PaymentChannels"]!.address);
      await chain.mine(CONFIRMATIONS + 1); // bury the deposits under the confirmation depth
    }
    const buyers: Buyer[] = Array.from({ length: B }, (_, i) => {
      const c = new Client(base, wallets?.[i]);
      return { c, key: Buffer.from(c.wallet.privateKey.slice(2), "hex"), unpaid: new Map(), accepted: new Map(), expected: new Map(), paying: false };
    });
    const agents = Array.from({ length: M }, () => new Client(base));
    await Promise.all([...buyers.map((b) => b.c), ...agents].map((c) => c.login(chainId)));
    // Channel-route posts draw on each buyer's EIP-712 delivery authorization (one each, ample).
    if (chain)
      await Promise.all(
        buyers.map(async (b) => {
          const value = { payer: b.c.address, token: ZERO, salt: hexlify(randomBytes(32)), maxAmount: 10n ** 30n, expiry: BigInt(Math.floor(Date.now() / 1000) + 86_400) };
          const signature = await b.c.wallet.signTypedData(voucherDomain(chainId, chain!.deployment.contracts["PaymentChannels"]!.address), DELIVERY_AUTHORIZATION_TYPES, value);
          const r = await b.c.req("POST", "/v1/channels/authorizations", { ...value, maxAmount: value.maxAmount.toString(), expiry: value.expiry.toString(), signature });
          if (r.status !== 201) throw new Error(`delivery authorization refused (${r.status}): ${JSON.stringify(r.body)}`);
        }),
      );
    for (const a of agents) {
      const r = await a.req("POST", "/v1/agents", { name: `bench-${a.address.slice(2, 8)}`, capabilities: [{ capability: CAPABILITY, minPrice: "0" }], maxConcurrency: 1000 });
      if (r.status !== 201) throw new Error(`agent registration failed (${r.status}): ${JSON.stringify(r.body)}`);
    }
    if (chain) {
      for (const deadline = Date.now() + 60_000; ; ) {
        const views = await Promise.all(buyers.map((b) => b.c.req<{ accounts: { deposit: string }[] }>("GET", `/v1/channels/${b.c.address}`)));
        if (views.every((v) => BigInt(v.body.accounts?.[0]?.deposit ?? "0") > 0n)) break;
        if (Date.now() > deadline) throw new Error("the deposits were not indexed in 60 s");
        await sleep(200);
      }
      console.log(`${B} buyers deposited into PaymentChannels (indexed)`);
    }
    for (const a of agents) streams.push(await startAgent(a));
    for (const b of buyers) streams.push(await startBuyer(b));

    // Baseline before the load.
    let before: Baseline | undefined;
    if (BASELINE_SECONDS > 0) {
      before = await measureBaseline(DATABASE_URL, BASELINE_SCHEMA, { seconds: BASELINE_SECONDS, tool: flags.baseline as "auto" });
      console.log(`Postgres baseline before the load: ${f(before.tps, 0)} single-row UPDATE transactions/s (${before.tool}, ${before.clients} clients, ${before.seconds} s); ${machineLine()}`);
    }

    // The load: C slots, each posting a task and waiting until it is paid.
    const deadlineIso = new Date(Date.now() + 24 * 3600_000).toISOString();
    const t0 = performance.now();
    const countFrom = t0 + WARMUP * 1000;
    const countTo = countFrom + SECONDS * 1000;
    const done: Life[] = [];
    const outcomes = new Map<string, number>();
    const stuck = new Map<string, number>();
    let inFlight = 0;
    const inFlightSamples: number[] = [];
    let posted = 0;
    let s0: Sample | undefined;
    let s1: Sample | undefined;
    const loads: number[][] = [];
    const marks = [
      sleep(Math.max(0, countFrom - performance.now())).then(async () => (s0 = await takeSample(coord!, db, chain))),
      sleep(Math.max(0, countTo - performance.now())).then(async () => (s1 = await takeSample(coord!, db, chain))),
    ];
    const loadTimer = setInterval(() => (loads.push(loadavg()), inFlightSamples.push(inFlight)), 5_000);
    console.log(`load: ${WARMUP} s warm-up, then ${SECONDS} s counted …`);

    async function slot(k: number) {
      for (let i = 0; performance.now() < countTo; i++) {
        const b = buyers[(k + i * C) % B]!;
        const start = performance.now();
        inFlight++;
        posted++;
        const r = await b.c.req<{ tasks: { id: string }[] }>("POST", "/v1/tasks", {
          capability: CAPABILITY, input: { slot: k, i }, complexity: 3, urgency: "normal", budget: BUDGET.toString(), token: ZERO, deadline: deadlineIso,
          auction: { rule: "second-price", windowMs: WINDOW_MS }, route: ROUTE === "channel" ? "channel" : "auto",
        });
        if (r.status !== 201) {
          inFlight--;
          fail(`post ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
          await sleep(100);
          continue;
        }
        const id = r.body.tasks[0]!.id;
        const l = life(id);
        l.id = id;
        l.t0 = start;
        l.posted = performance.now();
        l.buyer = b;
        const outcome = await new Promise<string>((resolve) => {
          if (l.paid !== undefined) return resolve("paid");
          const timer = setTimeout(() => resolve("timeout"), 30_000);
          l.end = (o) => {
            clearTimeout(timer);
            resolve(o);
          };
        });
        inFlight--;
        l.end = undefined;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        if (outcome === "paid") done.push(l);
        else if (outcome === "timeout") {
          const at = l.delivered ? "pay" : l.assigned ? "deliver" : l.awarded ? "dispatch" : "proposals/award";
          stuck.set(at, (stuck.get(at) ?? 0) + 1);
        }
        lives.delete(id);
      }
    }
    const requests0 = counters.requests;
    await Promise.all(Array.from({ length: C }, (_, k) => slot(k)));
    await Promise.all(marks);
    clearInterval(loadTimer);
    const drained = performance.now();
    const requests = counters.requests - requests0;
    const loadAfter = loadavg();

    // What Postgres says about the run (every lifecycle, warm-up and drain included), and one
    // paid task as its buyer sees it: the output released.
    const q = pg.escapeIdentifier(SCHEMA);
    const check = (
      await db.query<{ accepted: number; other: number; vouchers: number; settled: number; vouched: string; prices: string }>(
        // Paid tasks are `accepted`, or `settled` once the batch with their voucher is applied on-chain.
        `SELECT (SELECT count(*)::int FROM ${q}.tasks WHERE status IN ('accepted', 'settled')) AS accepted,
                (SELECT count(*)::int FROM ${q}.tasks WHERE status NOT IN ('accepted', 'settled')) AS other,
                (SELECT count(*)::int FROM ${q}.vouchers) AS vouchers,
                (SELECT count(*)::int FROM ${q}.vouchers WHERE status IN ('settled', 'superseded')) AS settled,
                (SELECT COALESCE(sum(increase), 0)::text FROM ${q}.vouchers) AS vouched,
                (SELECT COALESCE(sum(price), 0)::text FROM ${q}.tasks WHERE status IN ('accepted', 'settled')) AS prices`,
      )
    ).rows[0]!;
    const last = done.at(-1);
    let released = "no paid task";
    if (last) {
      const t = await last.buyer!.c.req<{ status: string; output?: unknown }>("GET", `/v1/tasks/${last.id}`);
      released = ["accepted", "settled"].includes(t.body.status) && t.body.output !== undefined ? `yes (task ${last.id} ${t.body.status}, output ${JSON.stringify(t.body.output).slice(0, 60)})` : `NO (${t.status} ${JSON.stringify(t.body).slice(0, 200)})`;
    }

    // Baseline after the load.
    let after: Baseline | undefined;
    if (BASELINE_SECONDS > 0) {
      after = await measureBaseline(DATABASE_URL, BASELINE_SCHEMA, { seconds: BASELINE_SECONDS, tool: flags.baseline as "auto" });
      console.log(`Postgres baseline after the load:  ${f(after.tps, 0)} single-row UPDATE transactions/s; ${machineLine()}`);
    }

    // ---- report ----
    const counted = done.filter((l) => l.paid! >= countFrom && l.paid! < countTo);
    const rate = counted.length / SECONDS;
    const a = s0!;
    const z = s1!;
    const wall = z.at - a.at;
    const per = (x: number) => x / Math.max(1, counted.length);
    console.log(`\n=== ${ROUTE === "channel" ? "channel route (paid = voucher accepted, result released)" : "off-chain (paid = the buyer's accept)"} ===`);
    console.log(`lifecycles           ${counted.length} paid in the ${SECONDS} s counted → ${f(rate, 1)} lifecycles/s   (target ≥ 500)`);
    const baseline = before && after ? (before.tps + after.tps) / 2 : (before?.tps ?? after?.tps);
    if (baseline) {
      console.log(`Postgres baseline    ${f(before?.tps ?? NaN, 0)} before, ${f(after?.tps ?? NaN, 0)} after → ${f(baseline, 0)} single-row UPDATE tx/s (8 clients, ${before?.tool ?? after?.tool})`);
      console.log(`ratio                ${f(rate / baseline, 4)} lifecycles per baseline update  (500 / 5,600 = ${f(500 / 5600, 4)} is the target's ratio)`);
    }
    console.log(`load average         ${loads.map((l) => f(l[0]!, 2)).join(", ")} (1-min, every 5 s during the load); after: ${loadAfter.map((x) => f(x, 2)).join(" ")}`);
    console.log(`in flight            ${inFlightSamples.join(", ")} (every 5 s)`);
    console.log(`outcomes             ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(", ")} (all slots, warm-up and drain included); posted ${posted}`);
    if (stuck.size) console.log(`timed out at         ${[...stuck].map(([k, v]) => `${k} ${v}`).join(", ")}`);
    console.log(`\nper step, ms (client clock; each step starts where the previous ended)`);
    const ss = counted.map(steps);
    for (const s of [...STEPS, "total"] as const) console.log(`  ${s.padEnd(10)} ${dist(ss.map((x) => x[s]))}`);

    console.log(`\nwhere the time goes (counted window, ${f(wall / 1000, 1)} s)`);
    const cpu = (k: "coordinator" | "bench" | "postgres" | "redis" | "chain" | "machine") => z[k] - a[k];
    const line = (label: string, ms: number) => console.log(`  ${label.padEnd(22)} ${f(per(ms), 2).padStart(7)} ms CPU per lifecycle  ${f((ms / wall) * 100, 0).padStart(4)}% of a core`);
    if (INPROC) line("this process (all)", cpu("coordinator"));
    else {
      line("coordinator (child)", cpu("coordinator"));
      line("bench (agents, buyers)", cpu("bench"));
    }
    line("Postgres (all users)", cpu("postgres"));
    line("Redis", cpu("redis"));
    if (chain) line("Hardhat node", cpu("chain"));
    line("machine (all)", cpu("machine"));
    line("rest (other sessions)", cpu("machine") - cpu("coordinator") - (INPROC ? 0 : cpu("bench")) - cpu("postgres") - cpu("redis") - cpu("chain"));
    console.log(`  HTTP                   ${f(requests / Math.max(1, done.length), 1)} requests per lifecycle (bench side, whole run)`);
    console.log(`  Postgres               ${f(per(z.commits - a.commits), 1)} commits per lifecycle (pg_stat_database, every session in ${new URL(DATABASE_URL).pathname.slice(1)})`);
    const rows = [...z.rows].map(([t, n]) => [t, n - (a.rows.get(t) ?? 0)] as const).filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1]);
    console.log(`  rows written           ${f(per(rows.reduce((s, [, n]) => s + n, 0)), 1)} per lifecycle: ${rows.map(([t, n]) => `${t} ${f(per(n), 1)}`).join(", ")}`);
    const r0 = routeTotals(a.metrics);
    const r1 = routeTotals(z.metrics);
    console.log(`  server latency by route (coordinator's /metrics, counted window): requests per lifecycle, mean ms`);
    for (const [k, e] of [...r1].map(([k, e]) => [k, { n: e.count - (r0.get(k)?.count ?? 0), s: e.sum - (r0.get(k)?.sum ?? 0) }] as const).filter(([, e]) => e.n > 0).sort((x, y) => y[1].n - x[1].n))
      console.log(`    ${k.padEnd(36)} ${f(per(e.n), 2).padStart(6)}  ${f((e.s * 1000) / e.n, 2).padStart(7)} ms`);
    if (INPROC) {
      console.log(`  round trips            ${f(per(z.trips.pg - a.trips.pg), 1)} Postgres statements and ${f(per(z.trips.redis - a.trips.redis), 1)} Redis commands per lifecycle (pipelined ones not counted); statements:`);
      const top = [...z.trips.sql].map(([k, v]) => [k, v - (a.trips.sql.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]).slice(0, 40);
      for (const [k, v] of top) console.log(`    ${f(per(v), 2).padStart(6)} × ${k}`);
      const rc = [...z.trips.redisCommands].map(([k, v]) => [k, v - (a.trips.redisCommands.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]);
      console.log(`    Redis: ${rc.map(([k, v]) => `${k} ${f(per(v), 2)}`).join(", ")}`);
    }
    const lag = sample(z.metrics, "nodejs_eventloop_lag_p99_seconds");
    console.log(`  coordinator event loop: lag p99 ${f(lag * 1000, 1)} ms (since start-up)`);
    console.log(
      `\nPostgres: ${check.accepted} tasks paid (accepted or settled), ${check.other} in another state; ` +
        (ROUTE === "channel"
          ? `${check.vouchers} vouchers stored (${check.settled} settled on-chain during the run), Σ increases ${check.vouched} = Σ prices of paid tasks ${check.prices}: ${check.vouched === check.prices ? "yes" : "NO"}; `
          : "") +
        `released output seen by the buyer: ${released}`,
    );
    console.log(`agents: ${stats.bids} bids (${stats.bidErrors} refused), ${stats.deliveries} deliveries; buyers: ${stats.vouchers} vouchers accepted in ${stats.voucherRequests} requests (${stats.retriedVouchers} re-signed after VOUCHER_WRONG_AMOUNT), ${stats.accepts} accepts; ${stats.events} events; drain ${f((drained - countTo) / 1000, 1)} s`);
    if (errors.size) {
      console.log("errors:");
      for (const [k, v] of errors) console.log(`  ${v} × ${k}`);
    }
    const warnings = groupWarnings(coord.logs);
    if (warnings.size) {
      console.log("coordinator log (warn and above):");
      for (const [k, v] of warnings) console.log(`  ${v} × ${k}`);
    }
    console.log(`\nmachine: ${machineLine()}`);
  } finally {
    for (const s of streams) s.close();
    await coord?.stop().catch((err: Error) => console.error(`stopping the coordinator: ${err.message}`));
    await db.end().catch(() => undefined);
    if (!flags.keep) await dropSchema(DATABASE_URL, SCHEMA).catch((err: Error) => console.error(`dropping schema ${SCHEMA}: ${err.message}`));
    await dropSchema(DATABASE_URL, BASELINE_SCHEMA).catch(() => undefined);
    await cleanRedis(REDIS_URL, QUEUE_PREFIX);
    await chain?.stop().catch(() => undefined);
    http.destroy();
  }
}

let exitCode = 0;
await main().catch((err: Error) => {
  exitCode = 1;
  console.error(`\nbench failed: ${err.stack ?? err.message}`);
});
// An in-process coordinator's auction timers (unref'd) and pools are gone; exit now.
process.exit(exitCode);
