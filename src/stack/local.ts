import { setTimeout as sleep } from "node:timers/promises";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Contract, JsonRpcProvider, HDNodeWallet, Mnemonic, NonceManager, Wallet } from "ethers";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import type { Deployment } from "../protocol/deployment.js";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const bin = join(root, "node_modules", ".bin");
const childEnv = () => ({ ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` });

/** Hardhat's public test mnemonic: its accounts are funded on every local Hardhat network. */
const TEST_MNEMONIC = "test test test test test test test test test test test junk";

/** Local account i of Hardhat's test mnemonic (public keys: local networks only). */
export function localAccount(i: number): { address: string; privateKey: string } {
  const w = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(TEST_MNEMONIC), `m/44'/60'/0'/0/${i}`);
  return { address: w.address, privateKey: w.privateKey };
}

/** Who uses which local account in `npm start`. */
export const LOCAL_ROLES = {
  admin: 0,
  coordinator: 1,
  arbitrators: [2, 3],
  treasury: 4,
  buyers: [5, 6, 7],
  agents: { math: 10, text: 11, csv: 12, image: 13, hash: 14, flaky: 15 } as Record<string, number>,
} as const;

async function rpcUp(url: string): Promise<number | undefined> {
  const p = new JsonRpcProvider(url, undefined, { staticNetwork: false });
  try {
    const id = await Promise.race([p.send("eth_chainId", []), new Promise((_, rej) => setTimeout(() => rej(new Error("timeout")), 1500))]);
    return Number(id);
  } catch {
    return undefined;
  } finally {
    p.destroy();
  }
}

/**
 * Uses the chain at CHAIN_RPC_URL if it answers; otherwise, when that URL is a loopback
 * address, starts `hardhat node` on it (127.0.0.1 only) and waits for it.
 * @returns the child process when this call started one
 * @throws Error naming the URL when the chain is remote and does not answer
 */
export async function ensureChain(config: Config, log: Logger): Promise<ChildProcess | undefined> {
  const running = await rpcUp(config.CHAIN_RPC_URL);
  if (running !== undefined) {
    log.info({ url: config.CHAIN_RPC_URL }, "using the running chain");
    if (running === 31337) await intervalMining(config.CHAIN_RPC_URL).catch(() => undefined);
    return undefined;
  }
  const url = new URL(config.CHAIN_RPC_URL);
  if (!["127.0.0.1", "localhost"].includes(url.hostname))
    throw new Error(`The chain at ${config.CHAIN_RPC_URL} does not answer; start it or unset CHAIN_RPC_URL to run a local Hardhat node.`);
  log.info({ port: url.port || "8545" }, "starting a local Hardhat node");
  const proc = spawn(join(bin, "hardhat"), ["node", "--hostname", "127.0.0.1", "--port", url.port || "8545"], { cwd: root, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("hardhat node did not start within 90 s")), 90_000);
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Started HTTP")) {
        clearTimeout(t);
        resolve();
      }
    });
    proc.once("exit", (c) => reject(new Error(`hardhat node exited with ${c}: ${out.slice(-500)}`)));
  });
  proc.stdout!.resume();
  proc.stderr!.resume();
  await intervalMining(config.CHAIN_RPC_URL);
  return proc;
}

/**
 * Hardhat mines only when a transaction arrives; a block a second as well gives the indexer's
 * confirmation depth (CONFIRMATIONS) something to count on a quiet local chain.
 */
async function intervalMining(url: string): Promise<void> {
  const p = new JsonRpcProvider(url, undefined, { staticNetwork: false });
  try {
    await p.send("evm_setIntervalMining", [1000]);
  } finally {
    p.destroy();
  }
}

/**
 * Deploys the contracts with scripts/deploy.ts unless DEPLOYMENTS_FILE already describes
 * contracts that exist on this chain (same chain id, code at the escrow's address).
 */
export async function ensureDeployment(config: Config, log: Logger): Promise<Deployment> {
  // DEPLOYMENTS_FILE is absolute (the config resolves it): deploy to and read from the same file.
  const path = config.DEPLOYMENTS_FILE;
  if (existsSync(path)) {
    const d = JSON.parse(readFileSync(path, "utf8")) as Deployment;
    const p = new JsonRpcProvider(config.CHAIN_RPC_URL, undefined, { staticNetwork: false });
    try {
      const chainId = Number(await p.send("eth_chainId", []));
      const code = await p.getCode(d.contracts["TaskEscrow"]?.address ?? "0x0000000000000000000000000000000000000000");
      if (chainId === d.chainId && code !== "0x") {
        log.info({ file: config.DEPLOYMENTS_FILE }, "contracts already deployed");
        return d;
      }
    } finally {
      p.destroy();
    }
  }
  log.info("deploying the contracts (npx hardhat run scripts/deploy.ts)");
  await run(join(bin, "hardhat"), ["run", "scripts/deploy.ts", "--network", "localhost"], {
    cwd: root,
    env: { ...childEnv(), CHAIN_RPC_URL: config.CHAIN_RPC_URL, DEPLOYMENTS_OUT: path },
  });
  return JSON.parse(readFileSync(path, "utf8")) as Deployment;
}

/** What each local buyer account holds in test tokens after `npm start` (1 000 000 tUSD at 6 decimals). */
export const LOCAL_BUYER_TOKENS = 1_000_000n * 10n ** 6n;

/**
 * Local networks only (chain id 31337): tops up each of LOCAL_ROLES.buyers to
 * LOCAL_BUYER_TOKENS of the deployment's test token (AICPTestToken's open `mint`, sent by the
 * admin account), so that the README's CLI lines (`aicp channel deposit …`) work at once.
 * @returns how many accounts were topped up
 */
export async function fundLocalBuyers(config: Config, deployment: Deployment, log: Logger): Promise<number> {
  const token = deployment.contracts["AICPTestToken"];
  if (config.CHAIN_ID !== 31337 || deployment.chainId !== 31337 || !token) return 0;
  const provider = new JsonRpcProvider(config.CHAIN_RPC_URL, deployment.chainId, { staticNetwork: true });
  try {
    const admin = new NonceManager(new Wallet(localAccount(LOCAL_ROLES.admin).privateKey, provider));
    const erc = new Contract(token.address, ["function balanceOf(address) view returns (uint256)", "function mint(address to, uint256 amount)"], admin);
    let n = 0;
    for (const i of LOCAL_ROLES.buyers) {
      const who = localAccount(i).address;
      const have = (await erc.getFunction("balanceOf")(who)) as bigint;
      if (have >= LOCAL_BUYER_TOKENS) continue;
      await (await erc.getFunction("mint")(who, LOCAL_BUYER_TOKENS - have)).wait();
      n++;
    }
    if (n) log.info({ accounts: n, token: token.address }, "minted test tokens to the local buyer accounts");
    return n;
  } finally {
    provider.destroy();
  }
}

/**
 * Starts each reference agent as its own process (src/agents-ref/run.ts) with a funded local
 * account and a webhook port, and waits until each printed AGENT_READY.
 */
export async function startReferenceAgents(
  apiUrl: string,
  kinds: string[],
  log: Logger,
  opts: { basePort?: number; flakyFailureRate?: string; substrateUris?: readonly string[] } = {},
): Promise<{ kind: string; address: string; proc: ChildProcess }[]> {
  // One retry per agent: a process that could not reach the coordinator in its first second
  // (a busy machine) gets a second chance before npm start gives up.
  const startOne = async (kind: string, i: number) => {
    try {
      return await startAgentProcess(kind, i);
    } catch (err) {
      log.warn({ kind, err: (err as Error).message }, "reference agent failed to start; retrying once");
      await sleep(2_000);
      return startAgentProcess(kind, i);
    }
  };
  const startAgentProcess = async (kind: string, i: number) => {
      // A Substrate agent signs in with its sr25519 development key (//Agent1 …) instead.
      const substrateUri = opts.substrateUris?.[i];
      const acct = substrateUri ? { address: substrateUri, privateKey: undefined } : localAccount(LOCAL_ROLES.agents[kind] ?? 16 + i);
      const proc = spawn(process.execPath, ["--import", "tsx", join(root, "src/agents-ref/run.ts"), kind], {
        cwd: root,
        env: {
          ...childEnv(),
          AICP_URL: apiUrl,
          ...(substrateUri ? { AGENT_SUBSTRATE_URI: substrateUri } : { AGENT_PRIVATE_KEY: acct.privateKey! }),
          AGENT_PORT: String((opts.basePort ?? 7100) + i),
          AGENT_MAX_CONCURRENCY: "16",
          LOG_LEVEL: "warn",
          ...(kind === "flaky" ? { FLAKY_FAILURE_RATE: opts.flakyFailureRate ?? "0.5" } : {}),
        },
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`agent ${kind} did not start within 60 s`)), 60_000);
        proc.stdout!.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("AGENT_READY")) {
            clearTimeout(t);
            resolve();
          }
        });
        proc.once("exit", (c) => reject(new Error(`agent ${kind} exited with ${c}`)));
      });
      proc.stdout!.resume();
      const address = /AGENT_READY \S+ (\S+)/.exec(out)?.[1] ?? acct.address;
      log.info({ kind, address }, "reference agent ready");
      return { kind, address, proc };
  };
  return Promise.all(kinds.map((kind, i) => startOne(kind, i)));
}

/** Stops child processes with SIGTERM and waits (SIGKILL after `ms`). */
export async function stopChildren(procs: ChildProcess[], ms = 10_000): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.exitCode !== null || p.signalCode !== null) return resolve();
          const t = setTimeout(() => p.kill("SIGKILL"), ms);
          p.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
          p.kill("SIGTERM");
        }),
    ),
  );
}
