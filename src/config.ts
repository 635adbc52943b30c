import { resolve as resolvePath } from "node:path";
import { z } from "zod";

/**
 * Every setting AICP reads from the environment, validated once at start-up.
 * Each key has a description and a default for local use; `loadConfig` fails fast with a
 * readable list of what is wrong. No other module reads `process.env`.
 */
const schema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development").describe("Runtime mode"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000).describe("HTTP port of the API (0 = any free port)"),
  HOST: z.string().default("127.0.0.1").describe("Interface the API binds to"),
  PUBLIC_URL: z.string().url().optional().describe("Public base URL of the API (defaults to http://HOST:PORT)"),
  DATABASE_URL: z
    .string()
    .default("postgres://127.0.0.1:5432/aicp")
    // libpq would take the OS user name, which may not be a Postgres role: default to `postgres`.
    .transform((u) => {
      const url = new URL(u);
      if (!url.username) url.username = "postgres";
      return url.toString();
    })
    .describe("PostgreSQL connection URL (user defaults to postgres); the database is created if missing"),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default("public").describe("Schema holding AICP's tables"),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10).describe("Connections per process"),
  REDIS_URL: z.string().default("redis://127.0.0.1:6379").describe("Redis URL for BullMQ queues and pub/sub"),
  QUEUE_PREFIX: z.string().min(1).default("aicp").describe("Prefix of every BullMQ queue and Redis channel"),
  CHAIN_RPC_URL: z.string().default("http://127.0.0.1:8545").describe("JSON-RPC URL of the EVM chain"),
  PUBLIC_RPC_URL: z.string().url().optional().describe("The RPC URL GET /v1/network gives wallets (default: CHAIN_RPC_URL)"),
  CHAIN_ID: z.coerce.number().int().positive().default(31337).describe("Chain id expected in SIWE messages and vouchers"),
  DEPLOYMENTS_FILE: z
    .string()
    .min(1)
    .default("deployments/localhost.json")
    .transform((v) => resolvePath(v))
    .describe("Contract addresses and ABIs written by scripts/deploy.ts (absolute, or relative to the working directory)"),
  SETTLEMENT: z
    .enum(["chain", "none"])
    .default("chain")
    .describe("`chain`: a settlement chain is required — start-up fails when `DEPLOYMENTS_FILE` (absolute, or relative to the working directory) cannot be loaded; `none`: run without one (requested escrow and channel routes answer 503 `SETTLEMENT_UNAVAILABLE`, route `auto` settles off-chain)"),
  SUBSTRATE_RPC_URL: z
    .string()
    .regex(/^wss?:\/\//, "must be a ws:// or wss:// URL")
    .optional()
    .describe("WebSocket URL of the Substrate settlement chain (Asset Hub); unset: none. `npm start -- --chain substrate|both` sets ws://127.0.0.1:SUBSTRATE_PORT"),
  SUBSTRATE_PORT: z.coerce.number().int().min(1).max(65535).default(9944).describe("Port of the local Substrate chain (chopsticks) that `npm start -- --chain substrate|both` starts"),
  SUBSTRATE_COORDINATOR_URI: z.string().default("//Bob").describe("The coordinator's Substrate key (secret URI; the default is a public development key, local chains only)"),
  SUBSTRATE_ARBITRATOR: z.string().default("5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y").describe("The arbitrator co-signing custody accounts (SS58; default //Charlie)"),
  SUBSTRATE_TREASURY: z.string().default("5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy").describe("Where Substrate platform fees go (SS58; default //Dave)"),
  SUBSTRATE_ARBITRATOR_URI: z
    .string()
    .optional()
    .describe("The arbitrator's Substrate key (secret URI) when this coordinator also runs the arbitrator's co-signer (releases after the window, refunds); unset: another process co-signs. `npm start -- --chain substrate|both` sets //Charlie"),
  SUBSTRATE_ACCEPTANCE_WINDOW_S: z.coerce.number().int().min(1).default(3600).describe("Substrate route: seconds a buyer has after delivery to accept or dispute before silence releases the escrow"),
  SUBSTRATE_RULE_WINDOW_S: z.coerce.number().int().min(1).default(3 * 86400).describe("Substrate route: seconds the arbitrator has to rule on a dispute"),
  SUBSTRATE_APPEAL_WINDOW_S: z.coerce.number().int().min(0).default(86400).describe("Substrate route: seconds after a ruling before the coordinator executes it"),
  SUBSTRATE_ASSET_ID: z.coerce.number().int().min(0).default(1984).describe("pallet-assets id of the Substrate stablecoin (the local chain creates tUSD under it)"),
  AUTH_DOMAIN: z.string().optional().describe("Domain expected in SIWE messages (defaults to HOST:PORT)"),
  AUTH_SECRET: z
    .string()
    .min(32)
    .default("aicp-local-development-secret-change-me-0123456789")
    .describe("HMAC key for session tokens (HS256); set it in production"),
  AUTH_TOKEN_TTL_MS: z.coerce.number().int().positive().default(24 * 3600 * 1000).describe("Session token lifetime, ms"),
  AUTH_NONCE_TTL_MS: z.coerce.number().int().positive().default(10 * 60 * 1000).describe("SIWE nonce lifetime, ms"),
  ADMIN_API_KEY: z
    .string()
    .min(16)
    .default("aicp-local-admin-key")
    .describe("Operator key, sent as `X-Admin-Key`; set it in production"),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(6000).describe("Requests per minute per client (0 = off)"),
  BODY_LIMIT: z.string().default("256kb").describe("Largest accepted JSON body"),
  AUCTION_MIN_WINDOW_MS: z.coerce.number().int().min(0).default(50).describe("Shortest auction window, ms"),
  AUCTION_MAX_WINDOW_MS: z.coerce.number().int().positive().default(24 * 3600 * 1000).describe("Longest auction window, ms"),
  MAX_LOT_SIZE: z.coerce.number().int().min(1).default(100).describe("Largest k of a uniform-price multi-unit lot"),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().default(5000).describe("Timeout of a webhook POST to an agent, ms"),
  PRICING_BASE_RATE: z
    .string()
    .regex(/^\d+$/)
    .default("1000000")
    .describe("Base rate of the price quote, token base units per complexity point (1 tUSD at 6 decimals)"),
  EXEC_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3).describe("Attempts per agent before failing over to the runner-up"),
  EXEC_RETRY_BASE_MS: z.coerce.number().int().min(0).default(200).describe("Retry backoff base, ms (delay = base × 2^attempt)"),
  EXEC_TIMEOUT_FACTOR: z.coerce.number().min(1).default(3).describe("A running task times out after factor × the agent's estimated time + grace"),
  EXEC_GRACE_MS: z.coerce.number().int().min(0).default(2000).describe("Grace added to every execution timeout, ms"),
  WORKFLOW_MAX_NODES: z.coerce.number().int().min(1).default(200).describe("Largest workflow accepted"),
  WORKFLOW_RESERVE_BPS: z.coerce.number().int().min(0).max(5000).default(1000).describe("Default workflow reserve, bps of the total budget"),
  WORKFLOW_WINDOW_MS: z.coerce.number().int().min(0).default(2000).describe("Default auction window of workflow nodes, ms"),
  REPUTATION_EPOCH_MS: z.coerce.number().int().positive().default(3600_000).describe("Length of a reputation epoch (Merkle snapshot), ms"),
  COORDINATOR_PRIVATE_KEY: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/)
    // Hardhat's well-known test account #1: local networks only (deploy.ts grants it the role).
    .default("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
    .describe("The coordinator's operator key (holds only COORDINATOR_ROLE); the default is Hardhat's public test key #1"),
  CONFIRMATIONS: z.coerce.number().int().min(0).max(100).default(2).describe("Confirmation depth before the indexer applies a block"),
  FINALITY_DEPTH: z.coerce.number().int().min(0).max(10_000).default(0)
    .describe("Blocks after which a chain event is taken as irreversible: channel deposits back promises and vouchers (which release outputs) only from this depth; 0 = CONFIRMATIONS"),
  INDEXER_BATCH_BLOCKS: z.coerce.number().int().min(1).max(100_000).default(2000).describe("Block range per eth_getLogs call in backfill"),
  INDEXER_POLL_MS: z.coerce.number().int().min(10).default(500).describe("How often the indexer polls the head, ms"),
  INDEXER_KEEP_BLOCKS: z.coerce.number().int().min(1).default(256).describe("Recent block hashes kept for reorg detection"),
  CHANNEL_PAYMENT_WINDOW_S: z.coerce.number().int().min(1).default(3600)
    .describe("Channel route: how long after a delivery the buyer has to pay with a voucher before the coordinator claims the price under the buyer's delivery authorization, seconds"),
  SETTLE_INTERVAL_MS: z.coerce.number().int().min(50).default(5000).describe("Batch settlement of vouchers runs at least this often, ms"),
  SETTLE_MAX_PAIRS: z.coerce.number().int().min(1).max(2000).default(200).describe("Settle sooner once this many pairs are pending; also the largest batch"),
  TX_MAX_GAS: z.coerce.number().int().min(21000).default(15_000_000).describe("Upper bound of the gas limit of any coordinator transaction"),
  ESCROW_THRESHOLD: z
    .string()
    .regex(/^\d+$/)
    .default("100000000")
    .describe("route=auto: budgets at or above this (token base units) go to escrow, below to a channel"),
  ESCROW_THRESHOLDS: z
    .string()
    .default("{}")
    .describe('Per-token thresholds as JSON {"<token address>": "<base units>"}, overriding ESCROW_THRESHOLD'),
  VOUCHER_VERIFY_THREADS: z.coerce.number().int().min(0).max(64).default(1).describe("Worker threads verifying voucher signatures (0 = on the API's event loop)"),
  AGENT_BASE_PORT: z.coerce.number().int().min(1).max(65000).default(7100).describe("First webhook port of the reference agents npm start runs (one port each, counting up)"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info").describe("pino log level"),
});

export type Config = z.infer<typeof schema>;

/** The description and default of every key, for the README's configuration table. */
export const configKeys = Object.entries(schema.shape).map(([key, s]) => ({
  key,
  description: s.description ?? "",
}));

/**
 * Reads and validates the configuration.
 * @param env the environment to read (defaults to `process.env`); tests pass their own.
 * @throws Error listing every invalid key, so start-up fails with one readable message.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}
