/**
 * `npm run demo`: runs the marketplace through its paces against the running stack (`npm start`
 * in another terminal) and prints a report; exits 1 when an invariant fails (printed with the
 * report), 2 when the demo cannot run at all.
 *
 *   npm run demo                                 200 tasks, 5 workflows, 3 buyers, 6 agents
 *   npm run demo -- --tasks 40 --workflows 2     a smaller run
 *   npm run demo -- --json                       the report as JSON on stdout
 *   npm run demo -- --chain substrate            only the Substrate chain's demo (npm start -- --chain substrate|both)
 *
 * With `--chain auto` (the default) it runs the demo of each chain the coordinator lists in
 * GET /v1/network: the EVM's (both payment routes, workflows, …) and the Substrate chain's
 * (escrows through custody multisigs: accepted, released by silence, refunded, a disputed split;
 * a reputation anchor remark), one after the other.
 *
 * Needs only AICP_URL (default http://127.0.0.1:3000): the chain, its contracts and ABIs and the
 * escrow threshold come from the coordinator's GET /v1/network?abi=true (unless CHAIN_RPC_URL or
 * DEPLOYMENTS_FILE are set), and the report's figures from its operator audit
 * (POST /v1/admin/audit, with ADMIN_API_KEY: the local default unless the stack set another).
 */
import { Command, InvalidArgumentError } from "commander";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config.js";
import { AppError } from "../src/errors.js";
import { DemoError, formatReport, runDemo } from "../src/demo/run.js";
import { formatSubstrateReport, runSubstrateDemo } from "../src/demo/substrate.js";
import { createDemoProgress } from "../src/demo/progress.js";

const int = (min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
  return n;
};
const share = (v: string) => {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError("expected a number in [0, 1]");
  return n;
};

const program = new Command()
  .name("demo")
  .description("Drive the running AICP stack through both payment routes, workflows, a dispute, a failing agent, batch settlement, a reputation anchor and withdrawals; print a report.")
  .option("--url <url>", "coordinator base URL (AICP_URL)", process.env["AICP_URL"] ?? "http://127.0.0.1:3000")
  .option("--tasks <n>", "standalone tasks to post", int(0), 200)
  .option("--workflows <n>", "DAG workflows to post (the first: fetch → (label, extract, analyse) → combine)", int(0), 5)
  .option("--escrow-share <x>", "share of the tasks on the escrow route (at least 3 tasks)", share, 0.1)
  .option("--silent <n>", "escrow tasks released by silence after the acceptance window", int(0), 2)
  .option("--split <bps>", "the arbitrator's ruling: the agent's share in basis points", int(0), 6000)
  .option("--flaky-reserve <x>", "share of the tasks kept for hash tasks until the flaky agent's breaker opens", share, 0.25)
  .option("--flaky-extra <n>", "hash tasks the flaky phase may post beyond --tasks while the breaker has not opened (default: half of --tasks)", int(0))
  .option("--flaky-failure-rate <x>", "failure rate of a flaky agent the demo starts itself (when none is online)", share, 0.5)
  .option("--keep-deposits", "leave the buyers' unused channel deposits in PaymentChannels (by default they are withdrawn at the end)")
  .option("--concurrency <n>", "tasks in flight (posted, not yet delivered) at once", int(1), 16)
  .option("--external-agents", "require the six reference agents online (do not start missing ones in-process)")
  .option("--no-mine", "do not mine empty blocks on an idle local chain")
  .option("--plain", "plain progress lines even on a terminal")
  .option("--quiet", "no progress output")
  .option("--json", "print the report as JSON")
  .option("--chain <name>", "evm | substrate | auto: each chain the coordinator lists", "auto")
  .option("--substrate-tasks <n>", "escrow tasks of the Substrate demo (at least 4)", int(4), 8)
  .option("--substrate-channel-tasks <n>", "channel-route tasks of the Substrate demo, paid by vouchers (0: none)", int(0), 3)
  .parse();

type Flags = {
  url: string; tasks: number; workflows: number; escrowShare: number; silent: number; split: number; flakyReserve: number; flakyExtra?: number; flakyFailureRate: number;
  concurrency: number; keepDeposits?: boolean; externalAgents?: boolean; mine: boolean; plain?: boolean; quiet?: boolean; json?: boolean;
  chain: string; substrateTasks: number; substrateChannelTasks: number;
};
const f = program.opts<Flags>();

/**
 * The chain settings the coordinator at `url` names (GET /v1/network?abi=true), as configuration
 * overrides, with its deployment written to a temporary file; none when chain settings are set.
 */
async function fromNetwork(url: string): Promise<Record<string, string>> {
  if (process.env["CHAIN_RPC_URL"] || process.env["DEPLOYMENTS_FILE"]) return {};
  const res = await fetch(`${url.replace(/\/+$/, "")}/v1/network?abi=true`).catch((err: Error) => {
    throw new DemoError("COORDINATOR_UNREACHABLE", `The coordinator at ${url} does not answer (${err.message}); start it with \`npm start\` or set AICP_URL.`);
  });
  if (!res.ok) throw new DemoError("COORDINATOR_UNREACHABLE", `GET ${url}/v1/network answered ${res.status}.`);
  const n = (await res.json()) as { chain: { chainId: number; rpcUrl: string; contracts: Record<string, string>; tokens: { address: string; escrowThreshold: string }[] } | null; abis?: Record<string, unknown[]> };
  if (!n.chain) throw new DemoError("NO_CHAIN", `The coordinator at ${url} runs without a settlement chain; the demo needs one (npm start).`);
  const file = join(mkdtempSync(join(tmpdir(), "aicp-demo-")), "deployment.json");
  const contracts = Object.fromEntries(Object.entries(n.chain.contracts).map(([name, address]) => [name, { address, blockNumber: 0, abi: n.abis?.[name] ?? [] }]));
  writeFileSync(file, JSON.stringify({ network: `chain-${n.chain.chainId}`, chainId: n.chain.chainId, contracts }));
  const token = n.chain.contracts["AICPTestToken"];
  const threshold = n.chain.tokens.find((t) => t.address === token)?.escrowThreshold;
  return { CHAIN_RPC_URL: n.chain.rpcUrl, DEPLOYMENTS_FILE: file, CHAIN_ID: String(n.chain.chainId), ...(threshold ? { ESCROW_THRESHOLD: threshold } : {}) };
}

/** Which chains the coordinator at `url` lists (GET /v1/network). */
async function chainsOf(url: string): Promise<{ evm: boolean; substrate: boolean }> {
  const res = await fetch(`${url.replace(/\/+$/, "")}/v1/network`).catch((err: Error) => {
    throw new DemoError("COORDINATOR_UNREACHABLE", `The coordinator at ${url} does not answer (${err.message}); start it with \`npm start\` or set AICP_URL.`);
  });
  const n = (await res.json()) as { chain: unknown; chains?: { kind: string }[] };
  return { evm: n.chain !== null && n.chain !== undefined, substrate: (n.chains ?? []).some((c) => c.kind === "substrate") };
}

async function substrateDemo(): Promise<boolean> {
  const progress = createDemoProgress(f.quiet ? "silent" : f.plain ? "plain" : "auto");
  try {
    const report = await runSubstrateDemo({ url: f.url, tasks: f.substrateTasks, silent: Math.max(1, Math.min(f.silent, f.substrateTasks - 3)), split: f.split, channelTasks: f.substrateChannelTasks, adminKey: loadConfig().ADMIN_API_KEY, progress });
    progress.stop();
    process.stdout.write(f.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatSubstrateReport(report)}\n`);
    return report.violations.length === 0;
  } finally {
    progress.stop();
  }
}

try {
  if (f.split > 10_000) throw new DemoError("BAD_SPLIT", "--split is in basis points: 0–10000.");
  if (!["auto", "evm", "substrate"].includes(f.chain)) throw new DemoError("BAD_CHAIN", "--chain is evm, substrate or auto.");
  const listed = await chainsOf(f.url);
  const runEvm = f.chain === "evm" || (f.chain === "auto" && (listed.evm || !listed.substrate));
  const runSubstrate = f.chain === "substrate" || (f.chain === "auto" && listed.substrate);
  let ok = true;
  if (runEvm) ok = (await evmDemo()) && ok;
  if (runSubstrate) ok = (await substrateDemo()) && ok;
  process.exit(ok ? 0 : 1);
} catch (err) {
  const e = err as Error;
  console.error(`\nThe demo could not run: ${e instanceof DemoError || e instanceof AppError || e.message.startsWith("Invalid configuration") ? e.message : (e.stack ?? e.message)}\n`);
  process.exit(2);
}

async function evmDemo(): Promise<boolean> {
  const report = await runDemo({
    url: f.url,
    config: loadConfig({ ...process.env, ...(await fromNetwork(f.url)) }),
    tasks: f.tasks,
    workflows: f.workflows,
    escrowShare: f.escrowShare,
    silentEscrows: f.silent,
    disputeShareBps: f.split,
    flakyReserveShare: f.flakyReserve,
    flakyFailureRate: f.flakyFailureRate,
    ...(f.flakyExtra !== undefined ? { flakyExtraTasks: f.flakyExtra } : {}),
    concurrency: f.concurrency,
    reclaimDeposits: !f.keepDeposits,
    agents: f.externalAgents ? "external" : "auto",
    mineIntervalMs: f.mine ? 1_000 : 0,
    progress: f.quiet ? "silent" : f.plain ? "plain" : "auto",
  });
  process.stdout.write(f.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  return report.ok;
}
