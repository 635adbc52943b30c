import { Redis } from "ioredis";
import type { Config } from "../config.js";
import type { AppContext } from "../context.js";
import { createDb, ensureDatabase, migrate } from "../db/index.js";
import { createLogger } from "../logger.js";
import { createMetrics } from "../metrics.js";
import { createEventBus } from "../events/bus.js";
import { createQueues } from "../queue/index.js";
import { createChainReader } from "../chain/evm/reader.js";
import { unavailable } from "../errors.js";

/**
 * Connects to Postgres (creating and migrating the database), Redis and the chain RPC.
 * @throws AppError POSTGRES_UNREACHABLE / REDIS_UNREACHABLE with how to fix it.
 */
export async function createContext(config: Config, opts: { role?: string; migrate?: boolean } = {}): Promise<AppContext> {
  const log = createLogger(config.LOG_LEVEL, opts.role ? `aicp-${opts.role}` : "aicp");
  await ensureDatabase(config.DATABASE_URL, config.DATABASE_SCHEMA);
  if (opts.migrate !== false) await migrate(config.DATABASE_URL, config.DATABASE_SCHEMA, log);
  const db = createDb({ url: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, poolSize: config.DATABASE_POOL_SIZE, log });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
  redis.on("error", (err) => log.warn({ err: err.message }, "Redis connection error"));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    await db.close();
    redis.disconnect();
    throw unavailable(
      "REDIS_UNREACHABLE",
      `Cannot reach Redis at ${config.REDIS_URL} (${(err as Error).message}). Start it (e.g. ` +
        "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no`) or set REDIS_URL.",
      err,
    );
  }
  const bus = createEventBus(redis, config.QUEUE_PREFIX, log);
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const chain = createChainReader(config.CHAIN_RPC_URL, config.CHAIN_ID, config.DEPLOYMENTS_FILE, log);
  const metrics = createMetrics();
  return {
    config,
    log,
    db,
    redis,
    bus,
    queues,
    metrics,
    chain,
    now: () => Date.now(),
    async close() {
      await queues.close();
      await bus.close();
      chain.close();
      redis.disconnect();
      await db.close();
    },
  };
}
