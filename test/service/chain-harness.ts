/**
 * A real EVM for service tests: `hardhat node` on a free loopback port as a child process, the
 * contracts deployed by scripts/deploy.ts (the same script users run), and helpers to mine,
 * snapshot and revert. Hardhat's well-known accounts: #0 admin, #1 coordinator, #2–#3
 * arbitrators, #4 treasury; tests use #5 onwards as buyers and agents.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { JsonRpcProvider, Wallet, getAddress, hexlify, randomBytes } from "ethers";
import { DELIVERY_AUTHORIZATION_TYPES, FUNDING_AUTHORIZATION_TYPES, escrowDomain, voucherDomain } from "../../src/protocol/eip712.js";
import type { Deployment } from "../../src/protocol/deployment.js";

const run = promisify(execFile);
const root = new URL("../../", import.meta.url).pathname;
const bin = join(root, "node_modules", ".bin");

/** Private keys of Hardhat's default accounts (public test keys; never use them elsewhere). */
export const HARDHAT_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
] as const;

export type TestChain = {
  url: string;
  port: number;
  provider: JsonRpcProvider;
  deployment: Deployment;
  deploymentsFile: string;
  wallet(i: number): Wallet;
  mine(blocks?: number): Promise<void>;
  snapshot(): Promise<string>;
  revert(id: string): Promise<void>;
  /** Stops the node (the chain "goes down"); `restart` is not possible: state is in memory. */
  stop(): Promise<void>;
  proc: ChildProcess;
};

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export async function startChain(): Promise<TestChain> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(join(bin, "hardhat"), ["node", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: root,
    env: { ...process.env, PATH: `${bin}:${process.env["PATH"]}` },
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("hardhat node did not start in 60 s")), 60_000);
    proc.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("Started HTTP")) {
        clearTimeout(t);
        resolve();
      }
    });
    proc.once("exit", (c) => reject(new Error(`hardhat node exited with ${c}`)));
  });
  proc.stdout!.resume();
  proc.stderr!.resume();
  const dir = mkdtempSync(join(tmpdir(), "aicp-chain-"));
  const deploymentsFile = join(dir, "deployment.json");
  await run(join(bin, "hardhat"), ["run", "scripts/deploy.ts", "--network", "localhost"], {
    cwd: root,
    env: { ...process.env, PATH: `${bin}:${process.env["PATH"]}`, CHAIN_RPC_URL: url, DEPLOYMENTS_OUT: deploymentsFile },
  });
  const deployment = JSON.parse(readFileSync(deploymentsFile, "utf8")) as Deployment;
  const provider = new JsonRpcProvider(url, deployment.chainId, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  return {
    url,
    port,
    provider,
    deployment,
    deploymentsFile,
    proc,
    wallet: (i) => new Wallet(HARDHAT_KEYS[i]!, provider),
    mine: async (blocks = 1) => {
      await provider.send("hardhat_mine", [`0x${blocks.toString(16)}`]);
    },
    snapshot: () => provider.send("evm_snapshot", []),
    revert: async (id) => {
      await provider.send("evm_revert", [id]);
    },
    stop: async () => {
      provider.destroy();
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
    },
  };
}

/**
 * The coordinator's EIP-712 FundingAuthorization (src/protocol/eip712.ts) that TaskEscrow's
 * `fund` needs last, signed with Hardhat key #1 (the coordinator) unless `signer` is given.
 */
export async function authorizeFunding(
  evm: { chainId: number; address(name: "TaskEscrow"): string },
  f: { taskId: string; buyer: string; token: string; amount: bigint; deadline: bigint },
  signer: Wallet = new Wallet(HARDHAT_KEYS[1]!),
): Promise<string> {
  return signer.signTypedData(escrowDomain(evm.chainId, getAddress(evm.address("TaskEscrow"))), FUNDING_AUTHORIZATION_TYPES, {
    taskId: f.taskId,
    buyer: getAddress(f.buyer),
    token: getAddress(f.token),
    amount: f.amount,
    deadline: f.deadline,
  });
}

/**
 * Signs a buyer's EIP-712 DeliveryAuthorization (PaymentChannels' domain) and registers it with
 * `client` (POST /v1/channels/authorizations): channel-route posts draw on it.
 * @param maxAmount base units (default 10^30: room for any test)
 * @returns the response (201 with the stored authorization, or the error)
 */
export async function authorizeDeliveries(
  client: { post(path: string, body: unknown): Promise<{ status: number; body: any }> }, // eslint-disable-line @typescript-eslint/no-explicit-any
  wallet: Wallet,
  deployment: Deployment,
  o: { token?: string; maxAmount?: bigint; expiry?: bigint; signer?: Wallet } = {},
) {
  const value = {
    payer: wallet.address.toLowerCase(),
    token: (o.token ?? "0x0000000000000000000000000000000000000000").toLowerCase(),
    salt: hexlify(randomBytes(32)),
    maxAmount: o.maxAmount ?? 10n ** 30n,
    expiry: o.expiry ?? BigInt(Math.floor(Date.now() / 1000) + 30 * 86_400),
  };
  const signature = await (o.signer ?? wallet).signTypedData(voucherDomain(deployment.chainId, deployment.contracts["PaymentChannels"]!.address), DELIVERY_AUTHORIZATION_TYPES, value);
  return client.post("/v1/channels/authorizations", { ...value, maxAmount: value.maxAmount.toString(), expiry: value.expiry.toString(), signature });
}
