/**
 * The Postgres baseline of the benchmarks: simple single-row UPDATE transactions per second
 * with 8 clients, each updating its own row of `bench_baseline` (autocommit: one transaction,
 * one WAL flush each) for a few seconds. Measured next to a benchmark's figure on the same
 * machine and at the same time, the ratio of the two survives a noisy machine better than
 * either alone.
 *
 * With pgbench on the PATH it runs `pgbench -n -c 8 -j 2 -T <s> -f <script>` (a C client: the
 * figure is Postgres's, not a Node client's); otherwise 8 `pg` connections from this process.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

export type Baseline = { tps: number; tool: "pgbench" | "node-pg"; clients: number; seconds: number };

async function hasPgbench(): Promise<boolean> {
  return run("pgbench", ["--version"]).then(() => true, () => false);
}

/**
 * Creates `schema.bench_baseline` with one row per client (idempotent).
 * @param url a Postgres URL (the database must exist)
 */
async function prepare(url: string, schema: string, clients: number) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${pg.escapeIdentifier(schema)}.bench_baseline (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await c.query(`INSERT INTO ${pg.escapeIdentifier(schema)}.bench_baseline (id) SELECT generate_series(1, $1) ON CONFLICT DO NOTHING`, [clients]);
  } finally {
    await c.end();
  }
}

async function withPgbench(url: string, schema: string, clients: number, seconds: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "aicp-baseline-"));
  try {
    const script = join(dir, "update.sql");
    // client_id is 0 … clients − 1: each client its own row.
    writeFileSync(script, `UPDATE bench_baseline SET n = n + 1 WHERE id = :client_id + 1;\n`);
    const u = new URL(url);
    const env = {
      ...process.env,
      PGHOST: decodeURIComponent(u.hostname), // a Unix socket directory arrives %2F-encoded
      PGPORT: u.port || "5432",
      PGUSER: decodeURIComponent(u.username || "postgres"),
      PGDATABASE: decodeURIComponent(u.pathname.slice(1)) || "postgres",
      PGOPTIONS: `-c search_path=${schema}`,
      ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}),
    };
    const { stdout } = await run("pgbench", ["-n", "-c", String(clients), "-j", String(Math.min(clients, 2)), "-T", String(seconds), "-f", script], { env });
    const m = /tps = ([0-9.]+) \(without initial connection time\)/.exec(stdout) ?? /tps = ([0-9.]+)/.exec(stdout);
    if (!m) throw new Error(`unexpected pgbench output:\n${stdout}`);
    return Number(m[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withNodePg(url: string, schema: string, clients: number, seconds: number): Promise<number> {
  const conns = Array.from({ length: clients }, () => new pg.Client({ connectionString: url, options: `-c search_path=${schema}` }));
  await Promise.all(conns.map((c) => c.connect()));
  try {
    let done = 0;
    const end = performance.now() + seconds * 1000;
    const t0 = performance.now();
    await Promise.all(
      conns.map(async (c, i) => {
        while (performance.now() < end) {
          await c.query("UPDATE bench_baseline SET n = n + 1 WHERE id = $1", [i + 1]);
          done++;
        }
      }),
    );
    return done / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(conns.map((c) => c.end()));
  }
}

/**
 * Measures the baseline in `schema` (created if missing; drop it when done).
 * @param tool `auto` = pgbench when installed, else node-pg
 */
export async function measureBaseline(url: string, schema: string, opts: { clients?: number; seconds?: number; tool?: "auto" | "pgbench" | "node-pg" } = {}): Promise<Baseline> {
  const clients = opts.clients ?? 8;
  const seconds = opts.seconds ?? 5;
  await prepare(url, schema, clients);
  const tool = opts.tool === "node-pg" ? "node-pg" : opts.tool === "pgbench" || (await hasPgbench()) ? "pgbench" : "node-pg";
  const tps = tool === "pgbench" ? await withPgbench(url, schema, clients, seconds) : await withNodePg(url, schema, clients, seconds);
  return { tps, tool, clients, seconds };
}
