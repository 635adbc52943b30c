/**
 * Helpers of the fault-injection suite (npm run test:faults): coordinator roles as real child
 * processes (so that they can be killed with SIGKILL), channel-route traffic driven over HTTP
 * with real EIP-712 vouchers, and the figures each test prints.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Contract, Wallet, parseEther, type InterfaceAbi } from "ethers";
import { Client, newAgent, newUser, startHarness, taskBody, until, ZERO, type Harness } from "../service/harness.js";
import { authorizeDeliveries, startChain, type TestChain } from "../service/chain-harness.js";
import { connectEvm, type EvmChain } from "../../src/chain/evm/chain.js";
import { VOUCHER_TYPES, voucherDomain } from "../../src/protocol/eip712.js";

const root = new URL("../../", import.meta.url).pathname;

/**
 * A hardhat node and an in-process coordinator (`all` roles) on it, indexing at depth 0 and
 * settling every 300–500 ms, with an EVM connection for the invariant checks.
 */
export async function chainStack(env: Record<string, string> = {}): Promise<{ chain: TestChain; h: Harness; evm: EvmChain; stop(): Promise<void> }> {
  const chain = await startChain();
  const h = await startHarness(
    { CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "0", INDEXER_POLL_MS: "100", SETTLE_MAX_PAIRS: "4", ...env },
    "all",
    { sweepMs: 500 },
  );
  const evm = connectEvm(h.config);
  return {
    chain,
    h,
    evm,
    async stop() {
      evm.close();
      await h.stop();
      await chain.stop();
    },
  };
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A coordinator role (`api`, `worker`, `indexer`) running as its own process. */
export type RoleProcess = { role: string; url?: string; proc: ChildProcess; logs: string[]; kill(signal?: NodeJS.Signals): Promise<void> };

/**
 * Starts `src/main.ts --role <role>` with `env` and waits until it is up (an API answers
 * /health; other roles log "AICP process started").
 */
export async function startRole(role: "api" | "worker" | "indexer", env: Record<string, string>, port?: number): Promise<RoleProcess> {
  // Node itself with tsx's loader (not the tsx binary, which would relay signals to a child):
  // SIGKILL then kills the coordinator process at once, as a crash would.
  const proc = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--role", role], {
    cwd: root,
    env: { ...process.env, NODE_ENV: "production", LOG_LEVEL: "info", HOST: "127.0.0.1", ...(port ? { PORT: String(port) } : {}), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  let started = false;
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      if (!line.trim()) continue;
      logs.push(line);
      if (logs.length > 400) logs.shift();
      if (line.includes("AICP process started")) started = true;
    }
  };
  proc.stdout!.on("data", collect);
  proc.stderr!.on("data", collect);
  let exited = false;
  const exit = new Promise<void>((r) => proc.once("exit", () => ((exited = true), r())));
  const url = port ? `http://127.0.0.1:${port}` : undefined;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) throw new Error(`${role} exited during start-up:\n${logs.slice(-20).join("\n")}`);
    if (url ? await fetch(`${url}/health`).then((r) => r.ok, () => false) : started) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${role} did not start in 90 s:\n${logs.slice(-20).join("\n")}`);
    }
    await sleep(100);
  }
  return {
    role,
    url,
    proc,
    logs,
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      if (exited) return;
      proc.kill(signal);
      await Promise.race([exit, sleep(20_000)]);
    },
  };
}

/** A funded random wallet with a native deposit in PaymentChannels and a delivery authorization. */
export async function channelBuyer(chain: TestChain, apiUrl: string, deposit: bigint) {
  const w = Wallet.createRandom().connect(chain.provider) as unknown as Wallet;
  const admin = chain.wallet(0);
  await (await admin.sendTransaction({ to: w.address, value: parseEther("10") })).wait();
  const pc = chain.deployment.contracts["PaymentChannels"]!;
  const channels = new Contract(pc.address, pc.abi as InterfaceAbi, w);
  await (await channels.getFunction("deposit")(ZERO, deposit, { value: deposit })).wait();
  const c = await newUser(apiUrl, w);
  const a = await authorizeDeliveries(c, w, chain.deployment);
  if (a.status !== 201) throw new Error(`authorization refused: ${JSON.stringify(a.body)}`);
  await until(async () => (await c.get(`/v1/channels/${c.address}`)).body.accounts?.[0]?.deposit === deposit.toString(), 30_000, 100);
  return { wallet: w, client: c };
}

/** An agent with its own capability (so it is the only one invited: its proposal closes the auction). */
export async function soloAgent(apiUrl: string) {
  const capability = `fault.${Math.random().toString(36).slice(2, 10)}`;
  const a = await newAgent(apiUrl, { [capability]: 0 }, { maxConcurrency: 1000 });
  return Object.assign(a, { capability });
}

/** Retries `f` while the API is unreachable or restarting (connection refused, 5xx), up to `ms`. */
export async function retrying<T>(f: () => Promise<T & { status: number }>, ms = 60_000): Promise<T & { status: number }> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const r = await f();
      if (r.status < 500 || Date.now() > end) return r;
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    await sleep(200);
  }
}

/** Posts a channel task for `agent`, has it propose `price` and deliver. @returns the task id */
export async function deliveredTask(buyer: Client, agent: Client & { capability: string }, price: bigint): Promise<string> {
  const r = await retrying(() => buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: (price * 2n).toString(), auction: { rule: "first-price", windowMs: 60_000 } })));
  if (r.status !== 201) throw new Error(`post: ${r.status} ${JSON.stringify(r.body)}`);
  const id = r.body.tasks[0].id as string;
  const p = await retrying(() => agent.post(`/v1/tasks/${id}/proposals`, { price: price.toString(), etaMs: 1000 }));
  if (p.status !== 201) throw new Error(`proposal: ${p.status} ${JSON.stringify(p.body)}`);
  await until(async () => ["awarded", "running"].includes((await retrying(() => buyer.get(`/v1/tasks/${id}`))).body.status), 30_000, 50);
  const d = await retrying(() => agent.post(`/v1/tasks/${id}/result`, { output: { ok: true } }));
  if (d.status !== 200) throw new Error(`result: ${d.status} ${JSON.stringify(d.body)}`);
  return id;
}

/** Signs the payer's cumulative voucher to `payee`. */
export async function voucher(chain: TestChain, w: Wallet, payee: string, cumulativeAmount: bigint) {
  const v = { payer: w.address.toLowerCase(), payee, token: ZERO, cumulativeAmount };
  const signature = await w.signTypedData(voucherDomain(chain.deployment.chainId, chain.deployment.contracts["PaymentChannels"]!.address), VOUCHER_TYPES, v);
  return { ...v, cumulativeAmount: cumulativeAmount.toString(), signature };
}

/** Prints a figures block the way the benchmarks do. */
export function figures(title: string, rows: [string, string | number][]) {
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log(`\n  ── ${title}`);
  for (const [k, v] of rows) console.log(`     ${k.padEnd(w)}  ${v}`);
}
