/**
 * `npm run bench:workflow`: how close a DAG workflow's wall time comes to its critical path.
 *
 * Starts a coordinator as a child process (`tsx src/main.ts --role all`, a fresh Postgres schema
 * and queue prefix), runs K agents in this process (each long-polls `GET /v1/cfps`, bids at once
 * on every call for proposals, and works for a fixed time on each `task-assigned` webhook),
 * posts one layered workflow, waits for it, and prints figures (never asserts):
 * wall time, critical-path time (depth × work time), their ratio (target ≤ 1.2), the overhead
 * per level (auction + dispatch + delivery), and the coordinator's CPU time per node (target
 * < 5 ms), read from its own `/metrics` (`process_cpu_seconds_total`); then where each level's
 * time went, from the workflow's and the tasks' timestamps (all Postgres clock).
 *
 * Flags: --agents 8 --nodes 50 --depth 5 --work-ms 200 --window-ms 2000 --fan-in 3 --seed 1
 *        --runs 1 (workflows posted one after another on the same coordinator) --keep (schema)
 *        --cpu-prof DIR (the coordinator writes a V8 CPU profile there when it stops)
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/aicp), REDIS_URL.
 */
import { prng } from "../src/demo/plan.js";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { dropSchema } from "../src/db/index.js";
import { freePort, sleep } from "./lib/bench-http.js";
import { machineCpu, intFlag } from "./lib/bench-stats.js";
import { cleanRedis, startChildCoordinator, type ChildCoordinator } from "./lib/bench-coordinator.js";

const ZERO = "0x0000000000000000000000000000000000000000";
const CAPABILITY = "bench.step";
const NODE_BUDGET = 1_000n;

const { values: flags } = parseArgs({
  options: {
    agents: { type: "string", default: "8" },
    nodes: { type: "string", default: "50" },
    depth: { type: "string", default: "5" },
    "work-ms": { type: "string", default: "200" },
    "window-ms": { type: "string", default: "2000" },
    "fan-in": { type: "string", default: "3" },
    seed: { type: "string", default: "1" },
    runs: { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
    "cpu-prof": { type: "string" },
  },
  strict: true,
});
const int = (name: keyof typeof flags, min: number) => intFlag(flags, name, min);
const K = int("agents", 1);
const NODES = int("nodes", 1);
const DEPTH = int("depth", 1);
const WORK_MS = int("work-ms", 0);
const WINDOW_MS = int("window-ms", 0);
const FAN_IN = int("fan-in", 1);
const SEED = int("seed", 0);
const RUNS = int("runs", 1);
if (DEPTH > NODES) throw new Error("--depth cannot exceed --nodes");

const DATABASE_URL = process.env["DATABASE_URL"] || "postgres://postgres@127.0.0.1:5432/aicp";
const REDIS_URL = process.env["REDIS_URL"] || "redis://127.0.0.1:6379";
const SCHEMA = `bench_wf_${process.pid}`;
const QUEUE_PREFIX = `aicp-bench-wf-${process.pid}-${Date.now().toString(36)}`;

// ---------------------------------------------------------------------------------------------
// Small helpers

const ms = (a: string | null | undefined, b: string | null | undefined) => (a && b ? Date.parse(b) - Date.parse(a) : NaN);
const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "–");



type Reply<T> = { status: number; body: T };

/** An HTTP client for one wallet; global fetch keeps connections alive (undici). */
class Client {
  token?: string;
  readonly wallet = Wallet.createRandom();
  constructor(readonly base: string) {}
  get address() {
    return this.wallet.address.toLowerCase();
  }
  async req<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Reply<T>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.token) headers["authorization"] = `Bearer ${this.token}`;
    const res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }
  /** Signs in with an EIP-4361 message for the coordinator's domain (as test/service/harness.ts). */
  async login() {
    const { body } = await this.req<{ nonce: string }>("GET", "/v1/auth/nonce");
    const domain = new URL(this.base).host;
    const message = new SiweMessage({
      domain,
      address: this.wallet.address,
      statement: "Sign in to AICP",
      uri: `http://${domain}`,
      version: "1",
      chainId: 31337,
      nonce: body.nonce,
      issuedAt: new Date().toISOString(),
    }).prepareMessage();
    const signature = await this.wallet.signMessage(message);
    const r = await this.req<{ token: string }>("POST", "/v1/auth/login", { message, signature });
    if (r.status !== 200) throw new Error(`login failed (${r.status}): ${JSON.stringify(r.body)}`);
    this.token = r.body.token;
  }
}

// ---------------------------------------------------------------------------------------------
// The coordinator child process

type Coordinator = ChildCoordinator & { warnings: () => string[] };

/** The coordinator alone (API, workers, indexer): no Hardhat node or deployment, no reference agents. */
async function startCoordinator(): Promise<Coordinator> {
  const c = await startChildCoordinator(
    {
      DATABASE_URL,
      DATABASE_SCHEMA: SCHEMA,
      REDIS_URL,
      QUEUE_PREFIX,
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      WORKFLOW_WINDOW_MS: String(WINDOW_MS),
      CHAIN_RPC_URL: "http://127.0.0.1:1", // nowhere: without a deployment tasks settle off-chain
      SETTLEMENT: "none", // tasks settle off-chain: no deployment, by choice (never a silent downgrade)
      DEPLOYMENTS_FILE: join(tmpdir(), `aicp-bench-wf-${process.pid}-no-deployment.json`),
    },
    { args: ["--no-chain", "--no-agents"], cpuProf: flags["cpu-prof"] },
  );
  return Object.assign(c, { warnings: () => c.logs.filter((l) => l.startsWith("{")) });
}

type Scrape = { cpu: number; http: Map<string, { count: number; sum: number }>; lagP99: number; lagMax: number };

/** The coordinator's own figures from its /metrics (prom-client default metrics and AICP's). */
async function scrape(url: string): Promise<Scrape> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const num = (name: string) => {
    const m = new RegExp(`^${name}\\s+([0-9.eE+-]+)`, "m").exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const cpu = num("process_cpu_seconds_total");
  if (!Number.isFinite(cpu)) throw new Error("process_cpu_seconds_total not found in /metrics");
  const http = new Map<string, { count: number; sum: number }>();
  for (const m of text.matchAll(/^aicp_http_request_duration_seconds_(sum|count)\{method="([^"]+)",route="([^"]+)"\}\s+([0-9.eE+-]+)/gm)) {
    const key = `${m[2]} ${m[3]}`;
    const e = http.get(key) ?? { count: 0, sum: 0 };
    e[m[1] as "sum" | "count"] = Number(m[4]);
    http.set(key, e);
  }
  return { cpu, http, lagP99: num("nodejs_eventloop_lag_p99_seconds"), lagMax: num("nodejs_eventloop_lag_max_seconds") };
}

// ---------------------------------------------------------------------------------------------
// Agents: long-poll and bid; work on task-assigned webhooks

type BenchAgent = Client & { index: number; secret: string; price: number };
type Assignment = { taskId: string; input: { n?: unknown } };

const agentStats = { proposals: 0, rejected: 0, assignments: 0, deliveries: 0, deliveryErrors: 0, badSignatures: 0, otherHooks: 0 };

function verifySignature(secret: string, header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m) return false;
  const mac = createHmac("sha256", secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(mac, Buffer.from(m[2]!, "hex"));
}

async function startAgents(base: string, stop: AbortSignal) {
  const port = await freePort();
  const agents: BenchAgent[] = [];
  const work = (agent: BenchAgent, a: Assignment) =>
    setTimeout(() => {
      const n = typeof a.input?.n === "number" ? a.input.n : 0;
      agent
        .req("POST", `/v1/tasks/${a.taskId}/result`, { output: { n: n + 1 } })
        .then((r) => {
          if (r.status >= 300) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
          agentStats.deliveries++;
        })
        .catch((err: Error) => {
          agentStats.deliveryErrors++;
          console.error(`delivery of ${a.taskId} failed: ${err.message}`);
        });
    }, WORK_MS);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const agent = agents[Number(req.url?.split("/")[2])];
      const raw = Buffer.concat(chunks).toString();
      if (!agent || !verifySignature(agent.secret, req.headers["x-aicp-signature"] as string | undefined, raw)) {
        agentStats.badSignatures++;
        return res.writeHead(401).end();
      }
      const ev = JSON.parse(raw) as { type: string; data: Assignment };
      if (ev.type !== "task-assigned") {
        agentStats.otherHooks++; // cfp, accept-proposal, reject-proposal: the long-poll does the bidding
        return res.writeHead(204).end();
      }
      agentStats.assignments++;
      res.writeHead(200).end("ok"); // answer at once, deliver after the work time
      work(agent, ev.data);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));

  for (let i = 0; i < K; i++) {
    const c = new Client(base);
    await c.login();
    const r = await c.req<{ webhookSecret: string }>("POST", "/v1/agents", {
      name: `bench-agent-${i}`,
      capabilities: [{ capability: CAPABILITY, minPrice: "0" }],
      endpointUrl: `http://127.0.0.1:${port}/hook/${i}`,
      maxConcurrency: 100,
    });
    if (r.status !== 201) throw new Error(`agent registration failed (${r.status}): ${JSON.stringify(r.body)}`);
    agents.push(Object.assign(c, { index: i, secret: r.body.webhookSecret, price: 100 + 7 * i }));
  }

  const loops = agents.map(async (agent) => {
    while (!stop.aborted) {
      try {
        const r = await agent.req<{ items: { auctionId: string; taskIds: string[] }[] }>("GET", "/v1/cfps?waitMs=5000", undefined, stop);
        if (r.status !== 200) throw new Error(`GET /v1/cfps answered ${r.status}`);
        // Bid on every call at once; wait for the answers so the next poll sees them answered.
        await Promise.all(
          r.body.items.map(async (c) => {
            const p = await agent.req("POST", `/v1/tasks/${c.taskIds[0]}/proposals`, { price: String(agent.price), etaMs: Math.max(1, WORK_MS) });
            if (p.status === 201) agentStats.proposals++;
            else agentStats.rejected++; // e.g. 409 AUCTION_CLOSED when the window beat us
          }),
        );
      } catch (err) {
        if (stop.aborted) break;
        console.error(`agent ${agent.index}: ${(err as Error).message}`);
        await sleep(100);
      }
    }
  });
  return {
    agents,
    async close() {
      await Promise.allSettled(loops);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The workflow

type NodeSpec = { key: string; level: number; capability: string; input: unknown; complexity: number; budget: string; dependsOn: string[] };

/** `depth` levels of ~nodes/depth nodes; each node depends on 1..fanIn nodes of the level above. */
function buildWorkflow(nodes: number, depth: number, fanIn: number, seed: number): NodeSpec[] {
  const rand = prng(seed);
  const levels: string[][] = [];
  const out: NodeSpec[] = [];
  for (let l = 0; l < depth; l++) {
    const size = Math.floor(nodes / depth) + (l < nodes % depth ? 1 : 0);
    const keys = Array.from({ length: size }, (_, j) => `L${l}.${j}`);
    levels.push(keys);
    for (const key of keys) {
      let dependsOn: string[] = [];
      if (l > 0) {
        const above = [...levels[l - 1]!];
        const k = 1 + Math.floor(rand() * Math.min(fanIn, above.length));
        for (let i = 0; i < k; i++) dependsOn.push(above.splice(Math.floor(rand() * above.length), 1)[0]!);
        dependsOn = dependsOn.sort();
      }
      const input = l === 0 ? { n: 0 } : { n: { $from: dependsOn[0]!, path: "n" }, also: dependsOn.slice(1).map((d) => ({ $from: d, path: "n" })) };
      out.push({ key, level: l, capability: CAPABILITY, input, complexity: 2, budget: NODE_BUDGET.toString(), dependsOn });
    }
  }
  return out;
}

type NodeView = { key: string; status: string; taskId: string | null; agent: string | null; price: string | null; attempts: number; failureReason: string | null; startedAt: string | null; finishedAt: string | null };
type WorkflowView = { id: string; status: string; createdAt: string; finishedAt: string | null; wallMs: number | null; criticalPath: { nodes: string[]; ms: number }; ledger: Record<string, string>; totalBudget: string; nodes: NodeView[] };
type TaskView = {
  id: string; status: string; createdAt: string; awardedAt: string | null; output?: { n?: number };
  auction: { closedAt: string | null; closeReason: string | null; eligible: number };
  proposals?: { agent: string; price: string }[];
  execution: { attempts: number; startedAt: string | null; deliveredAt: string | null; failureReason: string | null };
};

type RunResult = { ratio: number; cpuPerNode: number; overhead: number; wall: number };

async function runOnce(run: number, url: string, buyer: Client): Promise<RunResult> {
  const spec = buildWorkflow(NODES, DEPTH, FAN_IN, SEED + run);
  const sum = spec.reduce((a, n) => a + BigInt(n.budget), 0n);
  // Budgets add up with the default 10% reserve: Σ nodes + ⌊total / 10⌋ ≤ total.
  const total = (sum * 10n + 8n) / 9n;
  const body = {
    nodes: spec.map(({ level: _level, ...n }) => n),
    totalBudget: total.toString(),
    token: ZERO,
    deadline: new Date(Date.now() + 3600_000).toISOString(),
    route: "auto",
  };

  const m0 = await scrape(url);
  const own0 = process.cpuUsage();
  const machine0 = machineCpu() * 1000;
  const t0 = performance.now();
  const posted = await buyer.req<WorkflowView>("POST", "/v1/workflows", body);
  if (posted.status !== 201) throw new Error(`POST /v1/workflows answered ${posted.status}: ${JSON.stringify(posted.body)}`);
  const id = posted.body.id;
  let w: WorkflowView;
  for (;;) {
    const r = await buyer.req<WorkflowView>("GET", `/v1/workflows/${id}`);
    if (r.status !== 200) throw new Error(`GET /v1/workflows/${id} answered ${r.status}`);
    w = r.body;
    if (w.status !== "running") break;
    if (performance.now() - t0 > 600_000) throw new Error("the workflow did not finish in 10 minutes");
    await sleep(200); // the wall time comes from the API; polling faster only costs the coordinator CPU
  }
  const observed = performance.now() - t0;
  const own = process.cpuUsage(own0);
  const machine = machineCpu() * 1000 - machine0;
  const m1 = await scrape(url);
  const [cpu0, cpu1] = [m0.cpu, m1.cpu];

  if (w.status !== "completed") {
    console.error(`\nworkflow ${id} ${w.status}:`);
    const notDone = w.nodes.filter((x) => x.status !== "done");
    for (const n of notDone.filter((x) => x.status !== "cancelled")) {
      const t = n.taskId ? (await buyer.req<TaskView>("GET", `/v1/tasks/${n.taskId}`)).body : undefined;
      const why = t
        ? `task ${t.status}, auction ${t.auction.closeReason ?? "open"} with ${t.proposals?.length ?? "?"} of ${t.auction.eligible} proposals, ${t.execution.attempts} attempts${t.execution.failureReason ? `, ${t.execution.failureReason}` : ""}`
        : "no task";
      console.error(`  ${n.key}: ${n.status} (${why}); re-auctions ${n.attempts}`);
    }
    const cancelled = notDone.filter((x) => x.status === "cancelled").length;
    if (cancelled) console.error(`  and ${cancelled} descendants cancelled`);
    throw Object.assign(new Error(`workflow ${w.status}`), { exitCode: 1 });
  }

  const wall = w.wallMs ?? ms(w.createdAt, w.finishedAt);
  const cp = DEPTH * WORK_MS;
  const ratio = wall / cp;
  const overhead = (wall - cp) / DEPTH;
  const cpuPerNode = ((cpu1 - cpu0) * 1000) / NODES;

  console.log(`\n=== run ${run + 1}/${RUNS}: workflow ${id}`);
  console.log(`nodes                       ${NODES} (${DEPTH} levels, fan-in 1–${FAN_IN}, seed ${SEED + run})`);
  console.log(`depth (critical path)       ${DEPTH} nodes`);
  console.log(`agents                      ${K}`);
  console.log(`machine                     ${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")} (1/5/15 min; other processes slow every figure)`);
  console.log(`work time per node          ${WORK_MS} ms`);
  console.log(`auction window              ${WINDOW_MS} ms (closes early when every invited agent has bid)`);
  console.log(`wall time                   ${fmt(wall)} ms (API: created → last node finished; seen by the client after ${fmt(observed)} ms)`);
  console.log(`critical-path time          ${fmt(cp)} ms (depth × work time)`);
  console.log(`ratio wall ÷ critical path  ${fmt(ratio, 3)} (target ≤ 1.2)`);
  console.log(`overhead per level          ${fmt(overhead, 1)} ms (auction + dispatch + delivery)`);
  console.log(`coordinator CPU per node    ${fmt(cpuPerNode, 2)} ms (${fmt((cpu1 - cpu0) * 1000)} ms in all; target < 5 ms)`);
  console.log(`bench (agents) CPU per node ${fmt((own.user + own.system) / 1000 / NODES, 2)} ms (this process: ${K} agents and the buyer)`);
  const ownMs = (own.user + own.system) / 1000;
  console.log(`machine CPU per node        ${fmt(machine / NODES, 1)} ms: the rest (Postgres, Redis, other users' processes) ${fmt((machine - ownMs - (cpu1 - cpu0) * 1000) / NODES, 1)} ms`);
  console.log(`coordinator busy            ${fmt(((cpu1 - cpu0) * 100_000) / observed)}% of one CPU during the run (near 100%: the levels wait for its event loop)`);
  console.log(`API critical path           ${w.criticalPath.nodes.join(" → ")} = ${w.criticalPath.ms} ms`);
  console.log(`ledger                      hold ${w.ledger["hold"]} = spend ${w.ledger["spend"]} + release ${w.ledger["release"]} (total ${w.totalBudget})`);

  console.log(`event-loop delay            p99 ${fmt(m1.lagP99 * 1000, 1)} ms, max ${fmt(m1.lagMax * 1000, 1)} ms (since start-up)`);
  const routes = [...m1.http].map(([k, e]) => {
    const b = m0.http.get(k) ?? { count: 0, sum: 0 };
    return { k, n: e.count - b.count, ms: ((e.sum - b.sum) * 1000) / Math.max(1, e.count - b.count) };
  });
  console.log(`API requests during the run (count, mean latency):`);
  for (const r of routes.filter((x) => x.n > 0).sort((a, b) => b.n - a.n)) console.log(`  ${r.k.padEnd(40)}${String(r.n).padStart(6)}  ${fmt(r.ms, 1).padStart(7)} ms`);

  // Where the time went: the tasks' own timestamps (one clock: Postgres now()).
  const tasks = new Map<string, TaskView>();
  await Promise.all(
    w.nodes.map(async (n) => {
      const r = await buyer.req<TaskView>("GET", `/v1/tasks/${n.taskId}`);
      tasks.set(n.key, r.body);
    }),
  );
  const byKey = new Map(w.nodes.map((n) => [n.key, n]));
  const levelOf = new Map(spec.map((s) => [s.key, s.level]));
  const correct = spec.filter((s) => tasks.get(s.key)?.output?.n === s.level + 1).length;
  console.log(`outputs n = level + 1       ${correct}/${NODES}`);
  const earlyClose = [...tasks.values()].filter((t) => t.auction.closeReason === "all-proposed").length;
  console.log(`auctions closed early       ${earlyClose}/${NODES} (the others waited for the window)`);

  type Phases = { post: number; auction: number; dispatch: number; run: number; settle: number; total: number };
  const phases = (key: string): Phases => {
    const n = byKey.get(key)!;
    const t = tasks.get(key)!;
    return {
      post: ms(n.startedAt, t.createdAt), // node ready → task and auction committed
      auction: ms(t.createdAt, t.auction.closedAt), // call for proposals → long-poll → bids → close
      dispatch: ms(t.auction.closedAt, t.execution.startedAt), // award → execution job → webhook answered
      run: ms(t.execution.startedAt, t.execution.deliveredAt), // work time + result POST
      settle: ms(t.execution.deliveredAt, n.finishedAt), // delivery → node done, children ready
      total: ms(n.startedAt, n.finishedAt),
    };
  };
  const cols: (keyof Phases)[] = ["post", "auction", "dispatch", "run", "settle", "total"];
  const header = `${"".padEnd(14)}${cols.map((c) => c.padStart(10)).join("")}`;
  const row = (label: string, p: Phases) => `${label.padEnd(14)}${cols.map((c) => fmt(p[c]).padStart(10)).join("")}`;
  const mean = (ps: Phases[]) => Object.fromEntries(cols.map((c) => [c, ps.reduce((a, p) => a + p[c], 0) / ps.length])) as Phases;
  const max = (ps: Phases[]) => Object.fromEntries(cols.map((c) => [c, Math.max(...ps.map((p) => p[c]))])) as Phases;
  console.log(`\nphases, ms (post = node ready → auction open; run includes the ${WORK_MS} ms of work; overhead = total − ${WORK_MS})`);
  console.log(header);
  for (let l = 0; l < DEPTH; l++) {
    const ps = spec.filter((s) => s.level === l).map((s) => phases(s.key));
    console.log(row(`L${l} mean`, mean(ps)));
    console.log(row(`L${l} max`, max(ps)));
  }
  const all = spec.map((s) => phases(s.key));
  console.log(row("all mean", mean(all)));
  console.log(`\ncritical path (API), ms`);
  console.log(header);
  for (const key of w.criticalPath.nodes) console.log(row(`${key} (L${levelOf.get(key)})`, phases(key)));
  return { ratio, cpuPerNode, overhead, wall };
}

// ---------------------------------------------------------------------------------------------

async function cleanup(coordinator: Coordinator | undefined) {
  await coordinator?.stop().catch((err: Error) => console.error(`stopping the coordinator: ${err.message}`));
  if (!flags.keep) await dropSchema(DATABASE_URL, SCHEMA).catch((err: Error) => console.error(`dropping schema ${SCHEMA}: ${err.message}`));
  await cleanRedis(REDIS_URL, QUEUE_PREFIX);
}

let coordinator: Coordinator | undefined;
const stop = new AbortController();
let exitCode = 0;
let interrupted = false;
process.once("SIGINT", () => {
  interrupted = true;
  stop.abort();
});
try {
  console.log(`starting the coordinator (schema ${SCHEMA}, queue prefix ${QUEUE_PREFIX}) …`);
  coordinator = await startCoordinator();
  const buyer = new Client(coordinator.url);
  await buyer.login();
  const agents = await startAgents(coordinator.url, stop.signal);
  await sleep(300); // let every agent's first long-poll subscribe
  const results: RunResult[] = [];
  for (let run = 0; run < RUNS && !interrupted; run++) results.push(await runOnce(run, coordinator.url, buyer));
  if (results.length > 1) {
    const list = (f: (r: RunResult) => number, d: number) => results.map((r) => fmt(f(r), d)).join(", ");
    console.log(`\n=== ${results.length} runs`);
    console.log(`wall ms          ${list((r) => r.wall, 0)}`);
    console.log(`ratio            ${list((r) => r.ratio, 3)}`);
    console.log(`overhead/level   ${list((r) => r.overhead, 1)} ms`);
    console.log(`CPU per node     ${list((r) => r.cpuPerNode, 2)} ms`);
  }
  console.log(`\nagents: ${agentStats.proposals} proposals accepted, ${agentStats.rejected} refused, ${agentStats.assignments} assignments, ${agentStats.deliveries} deliveries (${agentStats.deliveryErrors} failed), ${agentStats.otherHooks} other webhooks, ${agentStats.badSignatures} bad signatures`);
  const warnings = coordinator.warnings();
  if (warnings.length) {
    console.log(`coordinator logged ${warnings.length} warning(s); the first:`);
    for (const l of warnings.slice(0, 5)) console.log(`  ${l.slice(0, 400)}`);
  }
  stop.abort();
  await agents.close();
} catch (err) {
  exitCode = 1;
  console.error(`\nbench failed: ${(err as Error).message}`);
  const workflowFailed = (err as { exitCode?: number }).exitCode !== undefined;
  if (coordinator && !workflowFailed && coordinator.logs.length) console.error(`coordinator output (last lines):\n${coordinator.logs.slice(-30).join("\n")}`);
} finally {
  stop.abort();
  await cleanup(coordinator);
}
process.exit(exitCode);
