/**
 * A coordinator as a child process for the benchmarks (`tsx src/main.ts --role <role>`), so
 * that the load generator does not share its event loop, and the clean-up of what a run leaves
 * in Redis.
 */
import { spawn, type ChildProcess } from "node:child_process";
import pg from "pg";
import { Redis } from "ioredis";
import { call, freePort, sleep } from "./bench-http.js";

export type ChildCoordinator = {
  url: string;
  proc: ChildProcess;
  /** Every output line (the last `keepLines` when set). */
  logs: string[];
  /** Graceful stop (SIGTERM; SIGKILL after 20 s). */
  stop(): Promise<void>;
};

/**
 * Starts `tsx [--cpu-prof …] src/main.ts --role <role> [args]` with `env` on top of this
 * process's environment (plus PORT and HOST), and waits until it answers `/health`.
 * (`--role all --no-chain --no-agents` is the coordinator alone: API, workers and indexer.)
 * @param opts.cpuProf directory for a V8 CPU profile, written when the child stops
 * @throws Error with the child's last output lines if it exits or does not answer in 90 s
 */
export async function startChildCoordinator(
  env: Record<string, string>,
  opts: { role?: string; args?: string[]; cpuProf?: string; keepLines?: number } = {},
): Promise<ChildCoordinator> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const prof = opts.cpuProf ? ["--cpu-prof", "--cpu-prof-dir", opts.cpuProf] : [];
  const proc = spawn("node_modules/.bin/tsx", [...prof, "src/main.ts", "--role", opts.role ?? "all", ...(opts.args ?? [])], {
    env: { ...process.env, NODE_ENV: "production", PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      if (!line.trim()) continue;
      logs.push(line);
      if (opts.keepLines && logs.length > opts.keepLines) logs.shift();
    }
  };
  proc.stdout!.on("data", collect);
  proc.stderr!.on("data", collect);
  let exited = false;
  const exit = new Promise<void>((r) => proc.once("exit", () => ((exited = true), r())));
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) throw new Error(`the coordinator exited during start-up:\n${logs.slice(-30).join("\n")}`);
    if (await call(url, "GET", "/health").then((r) => r.status === 200, () => false)) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`the coordinator did not answer /health in 90 s:\n${logs.slice(-30).join("\n")}`);
    }
    await sleep(100);
  }
  return {
    url,
    proc,
    logs,
    async stop() {
      if (exited) return;
      proc.kill("SIGTERM"); // tsx relays it; main.ts closes gracefully
      if (!(await Promise.race([exit.then(() => true), sleep(20_000).then(() => false)]))) {
        proc.kill("SIGKILL");
        await exit;
      }
    },
  };
}

/** Deletes every Redis key under `prefix:` (a run's queues and channels). */
export async function cleanRedis(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } catch (err) {
    console.error(`cleaning Redis keys ${prefix}:*: ${(err as Error).message}`);
  } finally {
    redis.disconnect();
  }
}

/** The coordinator's JSON log lines (warn and above at LOG_LEVEL=warn), grouped by message. */
export function groupWarnings(lines: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of lines) {
    if (!l.startsWith("{")) continue;
    let j: { msg?: string; err?: string | { message?: string } };
    try {
      j = JSON.parse(l) as typeof j;
    } catch {
      continue;
    }
    const key = `${j.msg ?? "?"}: ${typeof j.err === "string" ? j.err : (j.err?.message ?? "")}`.slice(0, 200);
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

/**
 * Round trips of everything in this process through pg and ioredis, counted by wrapping their
 * clients' prototypes (an in-process coordinator shares these modules with the bench): where
 * a step's time goes, in I/O. `sql` counts statements by their first 70 characters.
 */
export const roundTrips = { pg: 0, redis: 0, sql: new Map<string, number>(), redisCommands: new Map<string, number>() };
let counting = false;
export function countRoundTrips(): void {
  if (counting) return;
  counting = true;
  const pgQuery = pg.Client.prototype.query as (...a: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    roundTrips.pg++;
    const text = typeof args[0] === "string" ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? "?");
    const key = text.replace(/\s+/g, " ").trim().slice(0, 70);
    roundTrips.sql.set(key, (roundTrips.sql.get(key) ?? 0) + 1);
    return pgQuery.apply(this, args);
  } as typeof pg.Client.prototype.query;
  const send = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<typeof send>) {
    roundTrips.redis++;
    const name = (args[0] as { name?: string } | undefined)?.name ?? "?";
    roundTrips.redisCommands.set(name, (roundTrips.redisCommands.get(name) ?? 0) + 1);
    return send.apply(this, args);
  };
}
