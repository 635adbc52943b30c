/**
 * `npm run bench:vouchers`: vouchers accepted per second over HTTP (issue 5; target ≥ 5,000/s on
 * a 2-core machine). Prints figures, asserts nothing.
 *
 * What it does:
 * 1. starts a hardhat node with the contracts deployed (test/service/chain-harness.ts): the
 *    vouchers are EIP-712-signed for that chain id and PaymentChannels address;
 * 2. starts N coordinator API processes (`tsx src/main.ts --role api`, a fresh Postgres schema)
 *    with VOUCHER_VERIFY_THREADS worker threads each;
 * 3. sets up, directly in Postgres (documented shortcut: the bench measures the voucher route,
 *    not auctions or the indexer), P payers × Q payees, each pair with one delivered, unpaid
 *    channel-route task (its promise held at the price), and each payer's deposit in
 *    `channel_accounts` as the indexer would have projected it from `Deposited`;
 * 4. signs one voucher per pair (cumulative = the task's price, so each pays exactly what is
 *    owed) from P random payer keys;
 * 5. fires them over HTTP from C keep-alive connections at once: `single` = one POST /v1/vouchers
 *    per voucher, `batch` = POST /v1/vouchers/batch with B vouchers per request (a payer paying
 *    many agents at once). With `--mode both` the pairs are split between the two runs.
 * Output: accepted vouchers per second, request latency (p50/p99), the coordinators' CPU
 * seconds (from their /metrics), group-commit sizes, and a check that every voucher was
 * accepted and every task released.
 *
 * Flags: --payers 200 --payees 50 --mode both|single|batch --batch 50 --conns 64 --threads 1
 *        --procs 1 --keep (keep the schema) --cpu-prof DIR (V8 CPU profiles of the API processes)
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/aicp), REDIS_URL.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { spawn, type ChildProcess } from "node:child_process";
import { Agent, request } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak_256 as keccak } from "@noble/hashes/sha3";
import { createDb, dropSchema } from "../src/db/index.js";
import { domainSeparator, voucherDigest } from "../src/channels/verify.js";
import { startChain } from "../test/service/chain-harness.js";
import { intFlag } from "./lib/bench-stats.js";

const { values: flags } = parseArgs({
  options: {
    payers: { type: "string", default: "200" },
    payees: { type: "string", default: "50" },
    mode: { type: "string", default: "both" },
    batch: { type: "string", default: "50" },
    conns: { type: "string", default: "64" },
    threads: { type: "string", default: "1" },
    procs: { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
    "cpu-prof": { type: "string" },
  },
  strict: true,
});
const int = (name: keyof typeof flags, min: number) => intFlag(flags, name, min);
const PAYERS = int("payers", 1);
const PAYEES = int("payees", 1);
const BATCH = int("batch", 1);
const CONNS = int("conns", 1);
const THREADS = int("threads", 0);
const PROCS = int("procs", 1);
const MODE = flags.mode as "both" | "single" | "batch";
if (!["both", "single", "batch"].includes(MODE)) throw new Error("--mode is both, single or batch");

const DATABASE_URL = process.env["DATABASE_URL"] || "postgres://postgres@127.0.0.1:5432/aicp";
const REDIS_URL = process.env["REDIS_URL"] || "redis://127.0.0.1:6379";
const SCHEMA = `bench_vouchers_${process.pid}`;
const QUEUE_PREFIX = `aicp-bench-v-${process.pid}-${Date.now().toString(36)}`;
const ZERO = "0x0000000000000000000000000000000000000000";
const PRICE = 1_000n;

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const addressOf = (priv: Uint8Array) => {
  const pub = secp256k1.getPublicKey(priv, false);
  return `0x${hex(keccak(pub.subarray(1)).subarray(12))}`;
};
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createNetServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

type Proc = { url: string; proc: ChildProcess; logs: string[]; stop(): Promise<void> };

async function startApi(env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const prof = flags["cpu-prof"] ? ["--cpu-prof", "--cpu-prof-dir", flags["cpu-prof"]] : [];
  const proc = spawn("node_modules/.bin/tsx", [...prof, "src/main.ts", "--role", "api"], {
    env: { ...process.env, NODE_ENV: "production", PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn", RATE_LIMIT_PER_MINUTE: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const collect = (c: Buffer) => {
    for (const line of c.toString().split("\n")) {
      if (!line.trim()) continue;
      logs.push(line);
      if (logs.length > 100) logs.shift();
    }
  };
  proc.stdout!.on("data", collect);
  proc.stderr!.on("data", collect);
  let exited = false;
  const exit = new Promise<void>((r) => proc.once("exit", () => ((exited = true), r())));
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) throw new Error(`the coordinator exited during start-up:\n${logs.join("\n")}`);
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) throw new Error(`the coordinator did not start in 90 s:\n${logs.join("\n")}`);
    await sleep(100);
  }
  return {
    url,
    proc,
    logs,
    async stop() {
      if (exited) return;
      proc.kill("SIGTERM");
      if (!(await Promise.race([exit.then(() => true), sleep(20_000).then(() => false)]))) {
        proc.kill("SIGKILL");
        await exit;
      }
    },
  };
}

async function metric(url: string, name: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name) && !line.startsWith("#")) sum += Number(line.split(" ").pop());
  return sum;
}

type Voucher = { payer: string; payee: string; token: string; cumulativeAmount: string; signature: string };

/** Fires `bodies` over `conns` keep-alive connections spread over `urls`; returns latencies and statuses. */
async function fire(urls: string[], path: string, bodies: string[], conns: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: conns });
  const lat: number[] = [];
  const statuses = new Map<number, number>();
  const errors = new Map<string, number>();
  let next = 0;
  const one = (url: string, body: string) =>
    new Promise<void>((resolve, reject) => {
      const t = performance.now();
      const u = new URL(url);
      const req = request({ host: u.hostname, port: u.port, method: "POST", path, agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          lat.push(performance.now() - t);
          statuses.set(res.statusCode!, (statuses.get(res.statusCode!) ?? 0) + 1);
          const text = Buffer.concat(chunks).toString();
          try {
            const j = JSON.parse(text) as { error?: { code: string }; results?: { ok: boolean; error?: { code: string } }[] };
            if (j.error) errors.set(j.error.code, (errors.get(j.error.code) ?? 0) + 1);
            for (const r of j.results ?? []) if (!r.ok) errors.set(r.error!.code, (errors.get(r.error!.code) ?? 0) + 1);
          } catch {
            errors.set(`HTTP ${res.statusCode}`, (errors.get(`HTTP ${res.statusCode}`) ?? 0) + 1);
          }
          resolve();
        });
      });
      req.on("error", reject);
      req.end(body);
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conns }, async (_, c) => {
      for (let i = next++; i < bodies.length; i = next++) await one(urls[(c + i) % urls.length]!, bodies[i]!);
    }),
  );
  const wall = performance.now() - t0;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { wall, p50: q(0.5), p99: q(0.99), statuses, errors };
}

async function main() {
  console.log(`bench:vouchers — ${PAYERS} payers × ${PAYEES} payees = ${PAYERS * PAYEES} vouchers, mode ${MODE}, ${CONNS} connections, ${PROCS} API process(es) × ${THREADS} verify thread(s)`);
  const chain = await startChain();
  const procs: Proc[] = [];
  const db = createDb({ url: DATABASE_URL, schema: SCHEMA, poolSize: 4 });
  try {
    const env = {
      DATABASE_URL,
      DATABASE_SCHEMA: SCHEMA,
      REDIS_URL,
      QUEUE_PREFIX,
      CHAIN_RPC_URL: chain.url,
      DEPLOYMENTS_FILE: chain.deploymentsFile,
      VOUCHER_VERIFY_THREADS: String(THREADS),
      DATABASE_POOL_SIZE: "10",
    };
    procs.push(await startApi(env)); // the first one migrates
    for (let i = 1; i < PROCS; i++) procs.push(await startApi(env));
    const urls = procs.map((p) => p.url);

    // --- setup (not timed) ---
    const contract = chain.deployment.contracts["PaymentChannels"]!.address;
    const sep = domainSeparator(chain.deployment.chainId, contract);
    const payerKeys = Array.from({ length: PAYERS }, () => randomBytes(32));
    const payers = payerKeys.map(addressOf);
    const payees = Array.from({ length: PAYEES }, () => addressOf(randomBytes(32)));
    let t = performance.now();
    await db.query(
      `INSERT INTO auctions (buyer, capability, rule, window_ms, quantity, budget, closes_at, status, closed_at, close_reason)
       SELECT p, 'bench.pay', 'first-price', 0, 1, $2, now(), 'closed', now(), 'window' FROM unnest($1::text[]) AS p`,
      [payers, PRICE.toString()],
    );
    await db.query(
      `INSERT INTO tasks (auction_id, lot_index, buyer, capability, input, complexity, urgency, budget, token, deadline, route, status, agent, price,
                          settlement, awarded_at, delivered_at, output, result_hash)
       SELECT a.id, 0, a.buyer, 'bench.pay', '{}', 1, 'normal', $3, $4, now() + interval '1 day', 'channel', 'delivered', q, $3,
              'channel', now(), now(), jsonb_build_object('answer', q), '0x' || md5(q) || md5(a.buyer)
         FROM auctions a CROSS JOIN unnest($2::text[]) AS q WHERE a.buyer = ANY($1::text[])`,
      [payers, payees, PRICE.toString(), ZERO],
    );
    await db.query("INSERT INTO channel_promises (task_id, payer, token, amount) SELECT id, buyer, token, price FROM tasks WHERE capability = 'bench.pay'");
    await db.query("INSERT INTO channel_accounts (payer, token, deposit) SELECT p, $2, $3 FROM unnest($1::text[]) AS p", [payers, ZERO, (PRICE * BigInt(PAYEES) * 10n).toString()]);
    console.log(`setup: ${PAYERS * PAYEES} delivered channel tasks in Postgres in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    t = performance.now();
    const vouchers: Voucher[] = [];
    // Interleave payers so that concurrent requests come from many payers at once.
    for (let j = 0; j < PAYEES; j++)
      for (let i = 0; i < PAYERS; i++) {
        const v = { payer: payers[i]!, payee: payees[j]!, token: ZERO, cumulativeAmount: PRICE };
        const sig = secp256k1.sign(voucherDigest(sep, v), payerKeys[i]!);
        vouchers.push({ ...v, cumulativeAmount: PRICE.toString(), signature: `0x${sig.r.toString(16).padStart(64, "0")}${sig.s.toString(16).padStart(64, "0")}${(27 + sig.recovery).toString(16)}` });
      }
    console.log(`signed ${vouchers.length} vouchers in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const runs: { name: string; list: Voucher[] }[] =
      MODE === "both"
        ? [{ name: "single", list: vouchers.slice(0, vouchers.length >> 1) }, { name: "batch", list: vouchers.slice(vouchers.length >> 1) }]
        : [{ name: MODE, list: vouchers }];
    for (const run of runs) {
      const cpu0 = (await Promise.all(urls.map((u) => metric(u, "process_cpu_seconds_total")))).reduce((a, b) => a + b, 0);
      const before = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM vouchers")).rows[0]!.n);
      const bodies =
        run.name === "single"
          ? run.list.map((v) => JSON.stringify(v))
          : Array.from({ length: Math.ceil(run.list.length / BATCH) }, (_, i) => JSON.stringify({ vouchers: run.list.slice(i * BATCH, (i + 1) * BATCH) }));
      const r = await fire(urls, run.name === "single" ? "/v1/vouchers" : "/v1/vouchers/batch", bodies, CONNS);
      const cpu1 = (await Promise.all(urls.map((u) => metric(u, "process_cpu_seconds_total")))).reduce((a, b) => a + b, 0);
      const after = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM vouchers")).rows[0]!.n);
      const accepted = after - before;
      console.log(`\n[${run.name}] ${bodies.length} requests (${run.name === "batch" ? `${BATCH} vouchers each` : "1 voucher each"}) in ${(r.wall / 1000).toFixed(2)} s`);
      console.log(`  accepted vouchers/s: ${Math.round(accepted / (r.wall / 1000))}   (${accepted} of ${run.list.length} accepted)`);
      console.log(`  requests/s: ${Math.round(bodies.length / (r.wall / 1000))}   latency p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`);
      console.log(`  coordinator CPU: ${(cpu1 - cpu0).toFixed(2)} s (${(((cpu1 - cpu0) * 1e6) / Math.max(1, accepted)).toFixed(0)} µs per voucher)`);
      console.log(`  statuses: ${JSON.stringify(Object.fromEntries(r.statuses))}${r.errors.size ? `  errors: ${JSON.stringify(Object.fromEntries(r.errors))}` : ""}`);
    }
    const flushes = await Promise.all(urls.map(async (u) => ({ sum: await metric(u, "aicp_voucher_flush_size_sum"), count: await metric(u, "aicp_voucher_flush_size_count") })));
    const fsum = flushes.reduce((a, f) => a + f.sum, 0);
    const fcount = flushes.reduce((a, f) => a + f.count, 0);
    const ftime = (await Promise.all(urls.map((u) => metric(u, "aicp_voucher_flush_seconds_sum")))).reduce((a, b) => a + b, 0);
    console.log(`\ngroup commit: ${fcount} transactions, ${(fsum / Math.max(1, fcount)).toFixed(1)} vouchers per transaction on average, ${((ftime / Math.max(1, fcount)) * 1000).toFixed(1)} ms per transaction`);
    const check = await db.query<{ v: string; accepted: string; vouched: string }>(
      `SELECT (SELECT count(*) FROM vouchers) AS v, (SELECT count(*) FROM tasks WHERE status = 'accepted') AS accepted,
              (SELECT count(*) FROM channel_promises WHERE status = 'vouched') AS vouched`,
    );
    console.log(`check: ${check.rows[0]!.v} vouchers stored, ${check.rows[0]!.accepted} tasks released, ${check.rows[0]!.vouched} promises vouched (expected ${vouchers.length} each)`);
    console.log(`machine: ${(await import("node:os")).availableParallelism()} cores, load average ${(await import("node:os")).loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  } finally {
    for (const p of procs) await p.stop();
    await db.close();
    if (!flags.keep) await dropSchema(DATABASE_URL, SCHEMA);
    await chain.stop();
  }
}

await main();
