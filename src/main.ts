/**
 * `npm start`: the AICP marketplace.
 *
 *   npm start                       the whole local stack: a Hardhat node on 127.0.0.1:8545
 *                                   (unless CHAIN_RPC_URL answers), the contracts (deployed if
 *                                   deployments/ has none for that chain), the database (created
 *                                   and migrated), the API, the workers, the indexer and the
 *                                   reference agents
 *   npm start -- --role api|worker|indexer|agents|all
 *                                   one part only, for scale-out: any number of api and worker
 *                                   processes share one Postgres and Redis; one indexer per
 *                                   chain indexes (an advisory lock), `agents` runs the
 *                                   reference agents against AICP_URL
 *   npm start -- --chain evm|substrate|both
 *                                   which settlement chains the local stack starts (default evm):
 *                                   `substrate` runs chopsticks with the Asset Hub runtime on
 *                                   127.0.0.1:SUBSTRATE_PORT (unless SUBSTRATE_RPC_URL answers),
 *                                   funds the development accounts (//Alice …) and tUSD, and the
 *                                   coordinator indexes it, lists it in GET /v1/network and signs
 *                                   its accounts in (SIWS); `both` runs the EVM and Substrate
 *                                   chains with one coordinator and one Postgres schema
 *   npm start -- --role all --no-chain --no-agents
 *                                   the coordinator alone (API, workers, indexer in one
 *                                   process): --no-chain neither starts a chain nor deploys
 *                                   (CHAIN_RPC_URL and DEPLOYMENTS_FILE are used as they are;
 *                                   without a deployment tasks settle off-chain), --no-agents
 *                                   starts no reference agents (benchmarks run their own)
 *
 * Ctrl-C stops everything cleanly: HTTP first, then in-flight jobs, then the agents and chain.
 */
import type { ChildProcess } from "node:child_process";
import { loadConfig, type Config } from "./config.js";
import { AppError } from "./errors.js";
import { createLogger } from "./logger.js";
import { startCoordinator, type Coordinator } from "./app/coordinator.js";
import { ensureSubstrate, SUBSTRATE_DEV_ROLES, type LocalSubstrateStack } from "./stack/substrate.js";
import { ensureChain, ensureDeployment, fundLocalBuyers, LOCAL_BUYER_TOKENS, LOCAL_ROLES, localAccount, startReferenceAgents, stopChildren } from "./stack/local.js";

const ROLES = ["api", "worker", "indexer", "agents", "all"] as const;
type MainRole = (typeof ROLES)[number];
const REF_AGENTS = ["math", "text", "csv", "image", "hash", "flaky"];

const CHAINS = ["evm", "substrate", "both"] as const;
type ChainChoice = (typeof CHAINS)[number];

/**
 * The value of `--<name> v` or `--<name>=v` among `allowed`, else `fallback`.
 * @throws AppError BAD_<NAME> for a value not allowed
 */
function choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const i = process.argv.indexOf(`--${name}`);
  const v = process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? (i >= 0 ? process.argv[i + 1] : undefined);
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new AppError(`BAD_${name.toUpperCase()}`, `--${name} must be one of ${allowed.join(", ")} (got ${v}).`);
  return v as T;
}

function banner(config: Config, c: Coordinator | undefined, agents: { kind: string; address: string }[], chainStarted: boolean, substrate?: LocalSubstrateStack) {
  const acct = (i: number) => localAccount(i);
  const lines = [
    "",
    "AICP is running",
    ...(c?.url ? [`  Web app    ${c.url}/   (buyer, ${c.url}/agent, ${c.url}/arbitrator, ${c.url}/dashboard; queues at ${c.url}/admin/queues)`, `  API        ${c.url}/v1`, `  Docs       ${c.url}/docs   (OpenAPI: ${c.url}/openapi.json)`, `  Health     ${c.url}/health  ${c.url}/ready  ${c.url}/metrics`] : []),
    ...(config.SETTLEMENT === "chain" ? [`  Chain      ${config.CHAIN_RPC_URL}${chainStarted ? " (local Hardhat node started by npm start)" : ""}   contracts: ${config.DEPLOYMENTS_FILE}`] : []),
    ...(substrate ? [`  Substrate  ${substrate.url}${substrate.started ? " (chopsticks, Asset Hub runtime, started by npm start)" : ""}   genesis ${c?.substrate?.settlement.genesisHash ?? "?"}`] : []),
    `  Database   ${config.DATABASE_URL.replace(/:[^:@/]*@/, ":***@")} (schema ${config.DATABASE_SCHEMA})   Redis ${config.REDIS_URL}`,
  ];
  if (config.CHAIN_ID === 31337 && config.SETTLEMENT === "chain") {
    lines.push("", "Funded local accounts (Hardhat's public test keys — local networks only):");
    for (const [i, b] of LOCAL_ROLES.buyers.entries())
      lines.push(`  buyer ${i + 1}    ${acct(b).address}  key ${acct(b).privateKey}  (aicp --account ${b}; ${LOCAL_BUYER_TOKENS / 10n ** 6n} tUSD)`);
    for (const a of LOCAL_ROLES.arbitrators) lines.push(`  arbitrator ${acct(a).address}  key ${acct(a).privateKey}`);
    for (const a of agents) lines.push(`  agent ${a.kind.padEnd(6)} ${a.address}`);
  }
  if (substrate) {
    lines.push("", "Substrate development accounts (public //Name keys — local chains only):");
    for (const a of substrate.accounts) lines.push(`  ${a.role.padEnd(11)} ${a.address}  ${a.uri}`);
  }
  lines.push("", "Try: npm run demo   ·   npm run aicp -- --help   ·   Ctrl-C to stop everything", "");
  console.log(lines.join("\n"));
}

async function main() {
  const role = choice<MainRole>("role", ROLES, "all");
  const chainChoice = choice<ChainChoice>("chain", CHAINS, "evm");
  let config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, `aicp-${role}`);
  const children: ChildProcess[] = [];
  let chainProc: ChildProcess | undefined;
  let coordinator: Coordinator | undefined;
  let agents: Awaited<ReturnType<typeof startReferenceAgents>> = [];
  let substrate: LocalSubstrateStack | undefined;

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ sig }, "shutting down");
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    await stopChildren(agents.map((a) => a.proc));
    await coordinator?.close();
    await stopChildren(children);
    if (chainProc) await stopChildren([chainProc]);
    await substrate?.started?.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  if (role === "all" && !process.argv.includes("--no-chain") && chainChoice !== "evm") {
    substrate = await ensureSubstrate(config, log);
    // The local chain's arbitrator (//Charlie, a public development key) co-signs in this process.
    config = { ...config, SUBSTRATE_RPC_URL: substrate.url, SUBSTRATE_ARBITRATOR_URI: config.SUBSTRATE_ARBITRATOR_URI ?? SUBSTRATE_DEV_ROLES.arbitrator };
    // Substrate alone: no EVM chain, so the EVM escrow and channel routes are off.
    if (chainChoice === "substrate") config = { ...config, SETTLEMENT: "none" };
  }
  if (role === "all" && !process.argv.includes("--no-chain") && chainChoice !== "substrate") {
    chainProc = await ensureChain(config, log);
    const deployment = await ensureDeployment(config, log);
    await fundLocalBuyers(config, deployment, log);
  }
  if (role !== "agents") coordinator = await startCoordinator(config, role === "all" ? "all" : role);
  if ((role === "all" && !process.argv.includes("--no-agents")) || role === "agents") {
    const apiUrl = coordinator?.url ?? config.PUBLIC_URL ?? `http://${config.HOST}:${config.PORT}`;
    const substrateAgents = SUBSTRATE_DEV_ROLES.agents;
    if (chainChoice === "substrate") agents = await startReferenceAgents(apiUrl, REF_AGENTS, log, { basePort: config.AGENT_BASE_PORT, substrateUris: substrateAgents });
    else {
      agents = await startReferenceAgents(apiUrl, REF_AGENTS, log, { basePort: config.AGENT_BASE_PORT });
      // Both chains: a math and a text agent with Substrate accounts serve Substrate buyers.
      if (chainChoice === "both") agents.push(...(await startReferenceAgents(apiUrl, ["math", "text"], log, { basePort: config.AGENT_BASE_PORT + REF_AGENTS.length, substrateUris: substrateAgents })));
    }
  }
  if (role === "all") banner(config, coordinator, agents, chainProc !== undefined, substrate);
  else log.info({ role, url: coordinator?.url }, "AICP process started");
}

main().catch((err) => {
  if (err instanceof AppError || (err instanceof Error && err.message.startsWith("Invalid configuration"))) {
    console.error(`\nAICP could not start: ${err.message}\n`);
  } else {
    console.error("\nAICP could not start:", err);
  }
  process.exit(1);
});
