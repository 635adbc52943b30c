/**
 * `npm run bench:auction`: throughput and latency of sealed-bid auctions over HTTP.
 *
 * Starts a coordinator — by default as a child process (`tsx src/main.ts --role all --no-chain
 * --no-agents`: the coordinator alone, no chain, no reference agents, tasks settle off-chain; a fresh
 * Postgres schema and queue prefix, LOG_LEVEL=warn, RATE_LIMIT_PER_MINUTE=0) so that the load
 * generator does not share its event loop; `--mode inproc` runs it in this process instead and
 * `--mode both` runs one after the other. Registers M agents with one capability, signs them
 * in, then posts N tasks through a pipeline of at most `--concurrency` tasks in flight; every
 * agent bids on every task (HTTP keep-alive), so each auction closes early when the last of
 * the M bids arrives. A second phase posts `--window-tasks` auctions on which one agent fewer
 * bids, so that they close at the end of their window (`--window` ms).
 *
 * Prints (never asserts): tasks awarded per second, HTTP requests per second, p50/p95/p99 of
 * the post and proposal latencies (client side, and server side from the coordinator's
 * `/metrics`), close→award (Postgres clock: from the last proposal to the award for early
 * closes, from `closes_at` to the award for window closes, plus the coordinator's
 * `aicp_auction_close_to_award_seconds` histogram), and CPU per task: the coordinator's (from
 * its `/metrics`), and with a child coordinator the load generator's, Postgres', Redis' and the
 * rest of the machine's (Linux /proc; Postgres and Redis figures include anyone else using
 * them). In-process, it also counts the Postgres statements and Redis commands per task.
 *
 * Flags: --agents 10 --tasks 500 --window 2000 --window-tasks 100 --concurrency 16
 *        --mode child|inproc|both (child) --pool N (DATABASE_POOL_SIZE) --cpu-prof DIR --keep
 *        --async-commit: use a database `<name>_async_commit` with `synchronous_commit = off`, to
 *        see what the coordinator does when each commit does not wait for a WAL flush (on a slow
 *        disk the flushes dominate); the default is the durable setting production uses.
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/aicp), REDIS_URL.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { loadConfig } from "../src/config.js";
import { dropSchema } from "../src/db/index.js";
import { startCoordinator as startInProcess } from "../src/app/coordinator.js";
import { Client, ZERO, call, counters, http, sleep } from "./lib/bench-http.js";
import { bucketQuantile, diff, dist, f, histogram, machineCpu, processCpu, sample, intFlag } from "./lib/bench-stats.js";
import { cleanRedis, countRoundTrips, groupWarnings, roundTrips, startChildCoordinator } from "./lib/bench-coordinator.js";

const CAPABILITY = "bench.auction";
const BUDGET = 1_000_000;

const { values: flags } = parseArgs({
  options: {
    agents: { type: "string", default: "10" },
    tasks: { type: "string", default: "500" },
    window: { type: "string", default: "2000" },
    "window-tasks": { type: "string", default: "100" },
    concurrency: { type: "string", default: "16" },
    mode: { type: "string", default: "child" },
    pool: { type: "string" },
    "cpu-prof": { type: "string" },
    keep: { type: "boolean", default: false },
    "async-commit": { type: "boolean", default: false },
  },
  strict: true,
});
const int = (name: keyof typeof flags, min: number) => intFlag(flags, name, min);
const M = int("agents", 1);
const N = int("tasks", 1);
const WINDOW_MS = int("window", 50);
const WINDOW_TASKS = int("window-tasks", 0);
const CONCURRENCY = int("concurrency", 1);
const MODES = flags.mode === "both" ? (["child", "inproc"] as const) : flags.mode === "inproc" ? (["inproc"] as const) : (["child"] as const);
if (!["child", "inproc", "both"].includes(flags.mode!)) throw new Error("--mode is child, inproc or both");

const DATABASE_URL = (() => {
  const url = new URL(process.env["DATABASE_URL"] || "postgres://postgres@127.0.0.1:5432/aicp");
  if (flags["async-commit"]) url.pathname = `${url.pathname}_async_commit`;
  return url.toString();
})();

/** With --async-commit: the bench database, created if missing, commits without waiting for the WAL flush. */
async function prepareDatabase() {
  if (!flags["async-commit"]) return;
  const url = new URL(DATABASE_URL);
  const name = url.pathname.slice(1);
  url.pathname = "/postgres";
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  try {
    if ((await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 0) await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    await c.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} SET synchronous_commit = off`);
  } finally {
    await c.end();
  }
}
const REDIS_URL = process.env["REDIS_URL"] || "redis://127.0.0.1:6379";

// ---------------------------------------------------------------------------------------------
// The coordinator

type Coordinator = { url: string; stop(): Promise<void>; logs: string[] };

function coordinatorEnv(port: number, schema: string, prefix: string): Record<string, string> {
  return {
    NODE_ENV: "production",
    PORT: String(port),
    HOST: "127.0.0.1",
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: "warn",
    RATE_LIMIT_PER_MINUTE: "0",
    CHAIN_RPC_URL: "http://127.0.0.1:1", // nowhere: auctions need no chain
    // No deployment (tasks settle off-chain); a path outside the repository, so that nothing
    // the coordinator might write there lands in deployments/.
    SETTLEMENT: "none", // tasks settle off-chain: no deployment, by choice (never a silent downgrade)
      DEPLOYMENTS_FILE: join(tmpdir(), `aicp-bench-auction-${process.pid}-no-deployment.json`),
    ...(flags.pool ? { DATABASE_POOL_SIZE: flags.pool } : {}),
  };
}

async function startChild(schema: string, prefix: string): Promise<Coordinator> {
  // The coordinator alone (API, workers, indexer): no Hardhat node or deployment, no reference agents.
  const { PORT: _port, ...env } = coordinatorEnv(0, schema, prefix);
  return startChildCoordinator(env, { args: ["--no-chain", "--no-agents"], cpuProf: flags["cpu-prof"] });
}

async function startInproc(schema: string, prefix: string): Promise<Coordinator> {
  countRoundTrips();
  const c = await startInProcess(loadConfig(coordinatorEnv(0, schema, prefix)), "all");
  return { url: c.url!, logs: [], stop: () => c.close() };
}

// ---------------------------------------------------------------------------------------------
// One run

async function run(mode: "child" | "inproc"): Promise<void> {
  const tag = `${process.pid}_${Date.now().toString(36)}`;
  const schema = `bench_auction_${mode}_${tag}`;
  const prefix = `aicp-bench-auction-${mode}-${tag}`;
  console.log(
    `\n=== coordinator ${mode === "child" ? "in a child process" : "in this process"}: ${M} agents, ${N} tasks (all bid), ${WINDOW_TASKS} window closes of ${WINDOW_MS} ms, ` +
      `${CONCURRENCY} tasks in flight, pool ${flags.pool ?? "default"}, synchronous_commit ${flags["async-commit"] ? "off" : "on"} ===`,
  );
  const coord = mode === "child" ? await startChild(schema, prefix) : await startInproc(schema, prefix);
  const db = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema}` });
  await db.connect();
  try {
    const base = coord.url;
    const buyer = new Client(base);
    const agents = Array.from({ length: M }, () => new Client(base));
    await Promise.all([buyer, ...agents].map((c) => c.login()));
    for (const a of agents) {
      const r = await a.req("POST", "/v1/agents", { name: `bench-${a.address.slice(2, 8)}`, capabilities: [{ capability: CAPABILITY, minPrice: "0" }], maxConcurrency: 1000 });
      if (r.status !== 201) throw new Error(`agent registration failed (${r.status}): ${JSON.stringify(r.body)}`);
    }

    const postMs: number[] = [];
    const proposeMs: number[] = [];
    const closingProposeMs: number[] = [];
    const errors = new Map<string, number>();
    const fail = (what: string) => errors.set(what, (errors.get(what) ?? 0) + 1);
    const deadline = new Date(Date.now() + 24 * 3600_000).toISOString();

    /** Posts one task and has `bidders` agents bid on it at once. */
    async function auction(bidders: Client[], windowMs: number): Promise<string | undefined> {
      const p = await buyer.req<{ tasks: { id: string; auction: { eligible: number } }[] }>("POST", "/v1/tasks", {
        capability: CAPABILITY, input: { n: 1 }, complexity: 3, urgency: "normal", budget: String(BUDGET), token: ZERO, deadline,
        auction: { rule: "second-price", windowMs }, route: "auto",
      });
      postMs.push(p.ms);
      if (p.status !== 201) return void fail(`post ${p.status} ${JSON.stringify(p.body).slice(0, 120)}`);
      const id = p.body.tasks[0]!.id;
      if (p.body.tasks[0]!.auction.eligible !== M) fail(`eligible ${p.body.tasks[0]!.auction.eligible} of ${M}`);
      await Promise.all(
        bidders.map(async (a) => {
          // A long ETA: the awarded tasks are never delivered, and must not time out (and open
          // the agents' circuit breakers) during the run.
          const r = await a.req<{ auctionClosed?: boolean }>("POST", `/v1/tasks/${id}/proposals`, { price: String(1 + Math.floor(Math.random() * (BUDGET - 1))), etaMs: 3_600_000 });
          proposeMs.push(r.ms);
          if (r.status !== 201) fail(`proposal ${r.status} ${JSON.stringify(r.body).slice(0, 120)}`);
          else if (r.body.auctionClosed) closingProposeMs.push(r.ms);
        }),
      );
      return id;
    }

    /** Runs `count` auctions with at most CONCURRENCY in flight. */
    async function pipeline(count: number, bidders: Client[], windowMs: number) {
      let next = 0;
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: Math.min(CONCURRENCY, count) }, async () => {
          while (next < count) {
            next++;
            const id = await auction(bidders, windowMs);
            if (id) ids.push(id);
          }
        }),
      );
      return ids;
    }

    const metricsBefore = (await call<string>(base, "GET", "/metrics")).body;
    const cpuBefore = sample(metricsBefore, "process_cpu_seconds_total");

    // Phase 1: every agent bids; the auction closes at the last bid (a long window as a backstop).
    const requestsBefore = counters.requests;
    const tripsBefore = { pg: roundTrips.pg, redis: roundTrips.redis, sql: new Map(roundTrips.sql) };
    const machineBefore = machineCpu();
    const servicesBefore = { pg: processCpu(["postgres"]), redis: processCpu(["redis-server"]) };
    const selfBefore = process.cpuUsage();
    const t0 = performance.now();
    const early = await pipeline(N, agents, 60_000);
    const elapsed = (performance.now() - t0) / 1000;
    const machine = machineCpu() - machineBefore;
    const services = { pg: processCpu(["postgres"]) - servicesBefore.pg, redis: processCpu(["redis-server"]) - servicesBefore.redis };
    const self = process.cpuUsage(selfBefore);
    const generator = (self.user + self.system) / 1e6;
    const phaseRequests = counters.requests - requestsBefore;
    const trips = { pg: roundTrips.pg - tripsBefore.pg, redis: roundTrips.redis - tripsBefore.redis };
    const metricsMid = (await call<string>(base, "GET", "/metrics")).body;
    const cpuMid = sample(metricsMid, "process_cpu_seconds_total");
    const serverPost = diff(histogram(metricsMid, "aicp_http_request_duration_seconds", 'route="/v1/tasks"'), histogram(metricsBefore, "aicp_http_request_duration_seconds", 'route="/v1/tasks"'));
    const serverPropose = diff(histogram(metricsMid, "aicp_http_request_duration_seconds", 'route="/v1/tasks/:id/proposals"'), histogram(metricsBefore, "aicp_http_request_duration_seconds", 'route="/v1/tasks/:id/proposals"'));

    const awardedEarly = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND awarded_at IS NOT NULL", [early]);
    const earlyLag = await db.query<{ ms: number; reason: string }>(
      `SELECT extract(epoch FROM (t.awarded_at - (SELECT max(p.updated_at) FROM proposals p WHERE p.auction_id = t.auction_id))) * 1000 AS ms, a.close_reason AS reason
         FROM tasks t JOIN auctions a ON a.id = t.auction_id WHERE t.id = ANY($1) AND t.awarded_at IS NOT NULL`,
      [early],
    );
    const reasons = new Map<string, number>();
    for (const r of earlyLag.rows) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);

    console.log(`\nPhase 1 — ${N} auctions, ${M} bids each, closed by the last bid`);
    console.log(`  awarded            ${awardedEarly.rows[0]!.n} of ${N} in ${f(elapsed, 2)} s → ${f(awardedEarly.rows[0]!.n / elapsed, 0)} tasks awarded/s   (close reasons: ${[...reasons].map(([k, v]) => `${k} ${v}`).join(", ")})`);
    console.log(`  HTTP               ${phaseRequests} requests → ${f(phaseRequests / elapsed, 0)} requests/s`);
    console.log(`  post (client)      ${dist(postMs)}`);
    console.log(`  post (server)      p50 ${bucketQuantile(serverPost, 0.5)}  p95 ${bucketQuantile(serverPost, 0.95)}  p99 ${bucketQuantile(serverPost, 0.99)} ms (histogram buckets)`);
    console.log(`  proposal (client)  ${dist(proposeMs)}`);
    console.log(`  proposal (server)  p50 ${bucketQuantile(serverPropose, 0.5)}  p95 ${bucketQuantile(serverPropose, 0.95)}  p99 ${bucketQuantile(serverPropose, 0.99)} ms (histogram buckets)`);
    console.log(`  closing proposal   ${dist(closingProposeMs)}   (the bid that closes and awards, client side)`);
    console.log(`  last bid → award   ${dist(earlyLag.rows.map((r) => Number(r.ms)))}   (Postgres: awarded_at − last proposal's updated_at)`);
    console.log(`  coordinator CPU    ${f(((cpuMid - cpuBefore) * 1000) / N, 2)} ms per task (${f(cpuMid - cpuBefore, 2)} s over ${f(elapsed, 2)} s wall: ${f(((cpuMid - cpuBefore) / elapsed) * 100, 0)}% of a core${mode === "inproc" ? ", load generator included" : ""})`);
    if (mode === "child") {
      // Postgres and Redis are shared: their figures include whatever else used them meanwhile.
      const rest = machine - generator - (cpuMid - cpuBefore) - services.pg - services.redis;
      const per = (sec: number) => f((sec * 1000) / N, 1);
      console.log(
        `  machine CPU        ${f((machine / elapsed) * 100, 0)}% of one core busy; per task: coordinator ${per(cpuMid - cpuBefore)} ms, load generator ${per(generator)} ms, ` +
          `Postgres (all backends) ${per(services.pg)} ms, Redis ${per(services.redis)} ms, other processes ${per(rest)} ms`,
      );
    }
    if (mode === "inproc") {
      // Our own reads of Postgres above count too: a handful, against thousands.
      console.log(`  round trips        ${f(trips.pg / N, 1)} Postgres statements and ${f(trips.redis / N, 1)} Redis commands per task`);
      const top = [...roundTrips.sql].map(([k, v]) => [k, v - (tripsBefore.sql.get(k) ?? 0)] as const).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).slice(0, 12);
      for (const [k, v] of top) console.log(`    ${f(v / N, 2).padStart(6)} × ${k}`);
    }

    // Phase 2: one agent fewer bids, so the window closes the auction.
    if (WINDOW_TASKS > 0) {
      const before = histogram(metricsMid, "aicp_auction_close_to_award_seconds");
      const t1 = performance.now();
      const windowed = await pipeline(WINDOW_TASKS, agents.slice(0, Math.max(0, M - 1)), WINDOW_MS);
      const posted = (performance.now() - t1) / 1000;
      const end = Date.now() + WINDOW_MS + 10_000;
      let done = 0;
      while (Date.now() < end) {
        done = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM auctions a JOIN tasks t ON t.auction_id = a.id WHERE t.id = ANY($1) AND a.status <> 'open'", [windowed])).rows[0]!.n;
        if (done >= windowed.length) break;
        await sleep(50);
      }
      const lag = await db.query<{ ms: number }>(
        `SELECT extract(epoch FROM (t.awarded_at - a.closes_at)) * 1000 AS ms
           FROM tasks t JOIN auctions a ON a.id = t.auction_id WHERE t.id = ANY($1) AND t.awarded_at IS NOT NULL AND a.close_reason = 'window'`,
        [windowed],
      );
      const metricsEnd = (await call<string>(base, "GET", "/metrics")).body;
      const h = diff(histogram(metricsEnd, "aicp_auction_close_to_award_seconds"), before);
      const sum = sample(metricsEnd, "aicp_auction_close_to_award_seconds_sum") - sample(metricsMid, "aicp_auction_close_to_award_seconds_sum");
      const n = h.at(-1)?.n ?? 0;
      console.log(`\nPhase 2 — ${WINDOW_TASKS} auctions, ${M - 1} of ${M} bid, closed by the ${WINDOW_MS} ms window (posted in ${f(posted, 2)} s)`);
      console.log(`  closed             ${done} of ${windowed.length}; awarded by the window: ${lag.rowCount}`);
      console.log(`  closes_at → award  ${dist(lag.rows.map((r) => Number(r.ms)))}   (Postgres: awarded_at − closes_at)`);
      console.log(`  close→award (/metrics aicp_auction_close_to_award_seconds) n=${n}  mean ${f((sum / Math.max(1, n)) * 1000, 2)} ms  p50 ${bucketQuantile(h, 0.5)}  p95 ${bucketQuantile(h, 0.95)}  p99 ${bucketQuantile(h, 0.99)} ms`);
    }
    if (errors.size) {
      console.log("\n  errors:");
      for (const [k, v] of errors) console.log(`    ${v} × ${k}`);
    }
    // The coordinator's warnings and errors, grouped by message.
    const warnings = groupWarnings(coord.logs);
    if (warnings.size) {
      console.log("\n  coordinator log (warn and above):");
      for (const [k, v] of warnings) console.log(`    ${v} × ${k}`);
    }
  } finally {
    await db.end();
    await coord.stop();
    if (!flags.keep) await dropSchema(DATABASE_URL, schema).catch((err: Error) => console.error(`dropping schema ${schema}: ${err.message}`));
    await cleanRedis(REDIS_URL, prefix);
  }
}

await prepareDatabase();
for (const mode of MODES) await run(mode);
http.destroy();
// Sockets still closing (ours, or a stopped in-process coordinator's) must not hold the exit.
process.exit(0);
