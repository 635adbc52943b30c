import type { Redis } from "ioredis";
import type { Config } from "./config.js";
import type { Db } from "./db/index.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { EventBus } from "./events/bus.js";
import type { Queues } from "./queue/index.js";
import type { ChainReader } from "./settlement/backend.js";

/**
 * Everything a service needs, built once at start-up and passed down (no module singletons,
 * so each test builds its own against its own schema and queue prefix).
 */
export type AppContext = {
  config: Config;
  log: Logger;
  db: Db;
  redis: Redis;
  bus: EventBus;
  queues: Queues;
  metrics: Metrics;
  chain: ChainReader;
  /** ms since epoch; tests may substitute a controlled clock. */
  now: () => number;
  close(): Promise<void>;
};

