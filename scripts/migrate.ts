/** `npm run migrate`: creates the database if missing and applies pending migrations. */
import { loadConfig } from "../src/config.js";
import { ensureDatabase, migrate } from "../src/db/index.js";
import { createLogger } from "../src/logger.js";

const config = loadConfig();
const log = createLogger(config.LOG_LEVEL, "aicp-migrate");
await ensureDatabase(config.DATABASE_URL, config.DATABASE_SCHEMA);
await migrate(config.DATABASE_URL, config.DATABASE_SCHEMA, log);
console.log(`migrated ${config.DATABASE_URL} (schema ${config.DATABASE_SCHEMA})`);
