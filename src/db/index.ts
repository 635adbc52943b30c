import pg from "pg";
import { runner } from "node-pg-migrate";
import { fileURLToPath } from "node:url";
import type { Logger } from "../logger.js";
import { unavailable } from "../errors.js";

/** A query target: the pool or a transaction's client. */
export type Queryable = {
  /** Runs one statement; rows come back with NUMERIC columns as strings (convert with `BigInt`). */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
};

export type Db = Queryable & {
  /** Runs `fn` inside BEGIN … COMMIT (ROLLBACK on throw) on one client. */
  tx<T>(fn: (t: Queryable) => Promise<T>): Promise<T>;
  /** A dedicated client for LISTEN or session advisory locks; release it when done. */
  connect(): Promise<pg.PoolClient>;
  close(): Promise<void>;
  readonly schema: string;
};

export type DbOptions = { url: string; schema: string; poolSize: number; log?: Logger };

/**
 * Opens a connection pool whose sessions use `schema` as their search path, so tests can each
 * have a fresh schema in one database.
 */
export function createDb({ url, schema, poolSize, log }: DbOptions): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5_000,
  });
  pool.on("error", (err) => log?.warn({ err }, "idle Postgres client failed"));
  const prepared = preparedStatements();
  return {
    schema,
    query: (sql, params) => pool.query(prepared(sql, params)),
    async tx(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const out = await fn({ query: (sql, params) => client.query(prepared(sql, params)) } as Queryable);
        await client.query("COMMIT");
        return out;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    connect: () => pool.connect(),
    close: () => pool.end(),
  };
}

/** Most distinct statements prepared per process (beyond it, statements are parsed each time). */
const MAX_PREPARED = 2000;

/**
 * Statements with parameters run as named prepared statements (one name per SQL text, prepared
 * once per connection by pg): Postgres parses them once per connection and may reuse a plan,
 * and each execution sends only Bind/Execute. Statements whose result columns come from a `*`
 * stay unnamed: a column added by a migration while the process runs would make Postgres refuse
 * their cached plan ("cached plan must not change result type").
 */
function preparedStatements() {
  const names = new Map<string, string | null>();
  const star = /(?<![(\w])\*|\w\.\*/;
  return (text: string, values?: unknown[]): pg.QueryConfig => {
    if (!values || values.length === 0) return { text };
    let name = names.get(text);
    if (name === undefined && names.size < MAX_PREPARED) names.set(text, (name = star.test(text) ? null : `aicp_${names.size}`));
    return name ? { name, text, values } : { text, values };
  };
}

/**
 * Creates the database named in `url` if it does not exist (connecting to the `postgres`
 * maintenance database), and the schema.
 * @throws AppError `POSTGRES_UNREACHABLE` (503) with what was tried and how to start Postgres.
 */
export async function ensureDatabase(url: string, schema = "public"): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, "")) || "postgres";
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw unavailable(
      "POSTGRES_UNREACHABLE",
      `Cannot reach PostgreSQL at ${target.host} (${(err as Error).message}). ` +
        `Start it (e.g. \`pg_ctlcluster --skip-systemctl-redirect 15 main start\`) or set DATABASE_URL.`,
      err,
    );
  }
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((err: { code?: string }) => {
        if (err.code !== "42P04") throw err; // created concurrently by another process
      });
    }
  } finally {
    await client.end();
  }
  if (schema !== "public") {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
    } finally {
      await c.end();
    }
  }
}

const migrationsDir = fileURLToPath(new URL("../../migrations", import.meta.url));

/**
 * Applies pending migrations from `migrations/` (numbered, append-only SQL files) with
 * node-pg-migrate, which holds a Postgres advisory lock so concurrent starts don't race.
 */
export async function migrate(url: string, schema: string, log?: Logger): Promise<void> {
  await runner({
    databaseUrl: url,
    dir: migrationsDir,
    direction: "up",
    migrationsTable: "pgmigrations",
    schema,
    createSchema: true,
    count: Infinity,
    checkOrder: true,
    // Concurrent starts (several API/worker processes) wait for the one migrating; the lock
    // is per schema so that test schemas migrate in parallel.
    advisoryLockMode: "wait",
    lockValue: schemaLockId(schema),
    log: (msg: string) => log?.debug(msg),
    verbose: false,
  });
}

/** A stable advisory-lock id (a positive 53-bit integer) for migrating one schema. */
function schemaLockId(schema: string): number {
  let h = 7241865325823964 % 2 ** 40;
  for (const c of schema) h = (h * 31 + c.charCodeAt(0)) % 2 ** 40;
  return h;
}

/** Drops a schema and everything in it (tests only). */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await c.end();
  }
}

/** Postgres error codes the repositories translate. */
export const PG_UNIQUE_VIOLATION = "23505";
export const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === PG_UNIQUE_VIOLATION;
