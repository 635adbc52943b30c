/**
 * Runs one reference agent as its own process:
 *
 *   npm run agent -- <kind> [--url http://127.0.0.1:3000] [--key 0x…] [--port 7001]
 *   AGENT_PRIVATE_KEY=0x… AGENT_PORT=7001 npx tsx src/agents-ref/run.ts math
 *
 * Kinds: math, text, csv, image, hash, flaky. With a port (flag or AGENT_PORT) the agent serves
 * webhooks; without one it pulls (long-poll and the event stream). Flags override the
 * environment; every setting is listed by `--help`. Ctrl-C (SIGINT) or SIGTERM stops it after
 * its running tasks, within AGENT_DRAIN_MS.
 */
import { chainFromNetwork } from "../sdk/buyer-chain.js";
import { createChainPayouts } from "../sdk/payouts.js";
import { homedir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { Wallet } from "ethers";
import { z } from "zod";
import { createLogger } from "../logger.js";
import { AGENT_KINDS, createReferenceAgent, DEFAULT_PRICING, kindWork, pricingByName, type AgentKind } from "./kinds.js";

/** The agent process's settings, from the environment (flags override), with defaults. */
const Env = z.object({
  AICP_URL: z.string().url().default("http://127.0.0.1:3000").describe("Coordinator base URL"),
  AGENT_PRIVATE_KEY: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be a 32-byte 0x-hex private key").optional().describe("The agent's wallet key (a random wallet when absent)"),
  AGENT_SUBSTRATE_URI: z
    .string()
    .optional()
    .describe("A Substrate secret URI (e.g. //Agent1): the agent signs in with that sr25519 account and serves Substrate buyers' tasks instead of an EVM wallet's"),
  AGENT_NAME: z.string().min(1).max(100).optional().describe("Display name (default <kind>-agent)"),
  AGENT_HOST: z.string().default("127.0.0.1").describe("Interface of the webhook endpoint"),
  AGENT_PORT: z.coerce.number().int().min(0).max(65535).optional().describe("Webhook port (0 = any); pull mode when absent"),
  AGENT_PUBLIC_URL: z.string().url().optional().describe("Webhook URL to register, when it differs from http://HOST:PORT/aicp/webhook"),
  AGENT_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(4).describe("Tasks run at once"),
  AGENT_PRICING: z.enum(["static", "load", "competitive"]).optional().describe("Pricing strategy (default per kind)"),
  AGENT_TARGET_WIN_RATE: z.coerce.number().gt(0).lt(1).default(0.5).describe("Target win rate of the competitive strategy"),
  AGENT_MIN_PRICE: z.string().regex(/^\d+$/).optional().describe("Floor of every capability, base units (default per capability)"),
  AGENT_SECRET_FILE: z.string().optional().describe("Where the webhook secret is kept (default ~/.aicp/agents/<coordinator>/<address>.secret)"),
  AGENT_CHAIN_ID: z.coerce.number().int().positive().default(31337).describe("Chain id of the SIWE message"),
  AGENT_SIWE_DOMAIN: z.string().optional().describe("SIWE domain (default the host of AICP_URL)"),
  AGENT_DRAIN_MS: z.coerce.number().int().min(0).default(10_000).describe("On shutdown, how long running tasks may finish, ms"),
  FLAKY_KIND: z.enum(["math", "text", "csv", "image", "hash"]).default("hash").describe("Flaky agent: the kind it imitates"),
  FLAKY_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0.5).describe("Flaky agent: share of tasks that fail"),
  FLAKY_MODE: z.enum(["throw", "hang", "mixed"]).default("throw").describe("Flaky agent: throw (reports a failure), hang (never answers) or mixed"),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "silent"]).default("info").describe("Log level"),
});

function settingsHelp(): string {
  return Object.entries(Env.shape)
    .map(([k, v]) => `  ${k.padEnd(24)} ${v.description ?? ""}`)
    .join("\n");
}

async function main() {
  const program = new Command()
    .name("agent")
    .description("Run one AICP reference agent")
    .argument("<kind>", `one of ${AGENT_KINDS.join(", ")}`)
    .option("--url <url>", "coordinator base URL (AICP_URL)")
    .option("--key <hex>", "private key (AGENT_PRIVATE_KEY)")
    .option("--port <n>", "serve webhooks on this port (AGENT_PORT)")
    .option("--pricing <name>", "static | load | competitive (AGENT_PRICING)")
    .addHelpText("after", `\nEnvironment:\n${settingsHelp()}`)
    .parse();
  const kind = program.args[0] as AgentKind;
  if (!AGENT_KINDS.includes(kind)) program.error(`unknown kind ${kind}; expected one of ${AGENT_KINDS.join(", ")}`);
  const flags = program.opts<{ url?: string; key?: string; port?: string; pricing?: string }>();
  const parsed = Env.safeParse({
    ...process.env,
    ...(flags.url ? { AICP_URL: flags.url } : {}),
    ...(flags.key ? { AGENT_PRIVATE_KEY: flags.key } : {}),
    ...(flags.port ? { AGENT_PORT: flags.port } : {}),
    ...(flags.pricing ? { AGENT_PRICING: flags.pricing } : {}),
  });
  if (!parsed.success) {
    program.error(`invalid settings:\n${parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n")}`);
    return;
  }
  const env = parsed.data;
  const log = createLogger(env.LOG_LEVEL, `agent-${kind}`);
  const substrate = env.AGENT_SUBSTRATE_URI ? await substrateSigner(env.AGENT_SUBSTRATE_URI) : undefined;
  const wallet = env.AGENT_PRIVATE_KEY ? new Wallet(env.AGENT_PRIVATE_KEY) : Wallet.createRandom();
  if (!env.AGENT_PRIVATE_KEY && !substrate) log.warn({ address: wallet.address }, "no AGENT_PRIVATE_KEY: using a random wallet (it cannot receive payouts after this process ends)");
  const coordinator = new URL(env.AICP_URL).host.replace(/[^A-Za-z0-9.-]/g, "_");
  const pricing = env.AGENT_PRICING ?? DEFAULT_PRICING[kind];

  // Payouts on the chain the coordinator names (GET /v1/network): watched, and withdrawable with agent.withdraw.
  // (On Substrate the custody accounts pay the agent's account directly: nothing to withdraw.)
  const network = substrate ? undefined : await chainFromNetwork(env.AICP_URL).catch(() => undefined);
  const payouts = network ? createChainPayouts({ chain: network, wallet }) : undefined;
  const identity = substrate ?? wallet;
  const agent = createReferenceAgent(kind, {
    baseUrl: env.AICP_URL,
    wallet: identity,
    ...(payouts ? { payouts } : {}),
    ...(env.AGENT_NAME ? { name: env.AGENT_NAME } : {}),
    ...(env.AGENT_PORT !== undefined ? { endpoint: { host: env.AGENT_HOST, port: env.AGENT_PORT, ...(env.AGENT_PUBLIC_URL ? { publicUrl: env.AGENT_PUBLIC_URL } : {}) } } : {}),
    maxConcurrency: env.AGENT_MAX_CONCURRENCY,
    pricing: pricingByName(pricing, env.AGENT_TARGET_WIN_RATE),
    ...(env.AGENT_MIN_PRICE ? { minPrice: BigInt(env.AGENT_MIN_PRICE) } : {}),
    secretFile: env.AGENT_SECRET_FILE ?? join(homedir(), ".aicp", "agents", coordinator, `${(substrate?.address ?? wallet.address).toLowerCase()}.secret`),
    siwe: { chainId: env.AGENT_CHAIN_ID, ...(env.AGENT_SIWE_DOMAIN ? { domain: env.AGENT_SIWE_DOMAIN } : {}) },
    flaky: { base: env.FLAKY_KIND, failureRate: env.FLAKY_FAILURE_RATE, mode: env.FLAKY_MODE },
    log: (level, message, data) => log[level](data ?? {}, message),
  });
  agent.on("won", (w) => log.info({ auctionId: w.auctionId, taskId: w.taskId, price: w.price.toString(), failover: w.failover }, "won"));
  agent.on("payout", (p) => log.info({ route: p.route, token: p.token, amount: p.amount.toString() }, "payout credited on-chain"));
  agent.on("lost", (l) => log.debug({ auctionId: l.auctionId }, "lost"));
  agent.on("failed", (f) => log.warn({ taskId: f.taskId, attempt: f.attempt, err: f.error.message, reported: f.reported }, "task failed"));

  try {
    await agent.start();
  } catch (err) {
    log.error({ err: (err as Error).message, url: env.AICP_URL }, "could not start: is the coordinator running at this URL?");
    process.exit(1);
  }
  const { offers } = kindWork(kind, { base: env.FLAKY_KIND });
  log.info(
    { address: agent.address, mode: agent.mode, webhookUrl: agent.webhookUrl, pricing, capabilities: offers.map((o) => o.capability), coordinator: env.AICP_URL },
    `${kind} agent ready`,
  );
  // A line other programs (npm start, tests) can wait for.
  process.stdout.write(`AGENT_READY ${kind} ${agent.address}${agent.webhookUrl ? ` ${agent.webhookUrl}` : ""}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    await agent.stop({ drainMs: env.AGENT_DRAIN_MS });
    const s = agent.stats();
    log.info({ ...s, earnings: s.earnings.toString(), earningsByToken: Object.fromEntries(Object.entries(s.earningsByToken).map(([k, v]) => [k, v.toString()])) }, "stopped");
    payouts?.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

/** An sr25519 account from a secret URI, as the SDK's Substrate signer (signRaw over the UTF-8 bytes). */
async function substrateSigner(uri: string) {
  const [{ Keyring }, { cryptoWaitReady }, { stringToU8a, u8aToHex }] = await Promise.all([import("@polkadot/keyring"), import("@polkadot/util-crypto"), import("@polkadot/util")]);
  await cryptoWaitReady();
  const pair = new Keyring({ type: "sr25519" }).addFromUri(uri);
  return { kind: "substrate" as const, address: pair.address, signRaw: async (m: string) => u8aToHex(pair.sign(stringToU8a(m))) };
}

void main();
