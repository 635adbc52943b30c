import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { rococo_v2_2_asset_hub } from "@substrate/connect-known-chains";
import type { ApiPromise } from "@polkadot/api";
import { Keyring } from "@polkadot/keyring";
import type { KeyringPair } from "@polkadot/keyring/types";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import type { Submitter } from "./client.js";

const root = new URL("../../../", import.meta.url).pathname;

/**
 * The local Substrate chain: chopsticks (@acala-network/chopsticks) running the real Asset Hub
 * runtime (`statemine`, from the raw genesis of Rococo Asset Hub that
 * @substrate/connect-known-chains ships — the only Asset Hub spec there with its genesis state and
 * code; the others carry a state root only) offline, building a block for each transaction
 * (Instant mode; every block is final at once).
 */
export type LocalSubstrate = { url: string; stop(): Promise<void> };

/**
 * Starts chopsticks on 127.0.0.1:`port` and resolves when its RPC listens.
 * @throws Error when it does not start within 120 s or exits
 */
export async function startLocalSubstrate(port: number): Promise<LocalSubstrate> {
  const dir = join(tmpdir(), "aicp-substrate");
  mkdirSync(dir, { recursive: true });
  const spec = join(dir, "asset-hub-rococo.json");
  if (!existsSync(spec)) writeFileSync(spec, rococo_v2_2_asset_hub);
  const cli = join(root, "node_modules", "@acala-network", "chopsticks", "chopsticks.cjs");
  const proc: ChildProcess = spawn(process.execPath, [cli, "--genesis", spec, "--host", "127.0.0.1", "--port", String(port), "--build-block-mode", "Instant"], {
    cwd: dir,
    // chopsticks reads PORT and HOST from the environment over its flags: AICP's must not leak in.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "PORT" && k !== "HOST")), LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const collect = (d: Buffer) => {
    out = (out + d.toString()).slice(-4000);
  };
  proc.stdout!.on("data", collect);
  proc.stderr!.on("data", collect);
  const exited = new Promise<never>((_, rej) => proc.once("exit", (c) => rej(new Error(`chopsticks exited with ${c}: ${out}`))));
  const url = `ws://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const up = await Promise.race([listening(port), exited]);
    if (up) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`chopsticks did not start on port ${port} within 120 s: ${out}`);
    }
    await sleep(300);
  }
  return {
    url,
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      await Promise.race([new Promise((r) => proc.once("exit", r)), sleep(5000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

async function listening(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: 1, jsonrpc: "2.0", method: "chain_getBlockHash", params: [0] }) });
    return r.ok;
  } catch {
    return false;
  }
}

/** The well-known development keys (sr25519 `//Name`; public, local chains only) and who uses which. */
export const SUBSTRATE_DEV_ROLES = {
  assetAdmin: "//Alice",
  coordinator: "//Bob",
  arbitrator: "//Charlie",
  treasury: "//Dave",
  buyers: ["//Eve", "//Ferdie", "//Buyer3"],
  agents: ["//Agent1", "//Agent2", "//Agent3", "//Agent4", "//Agent5", "//Agent6"],
} as const;

/** A development key pair (`//Alice` …). */
export async function devPair(uri: string, type: "sr25519" | "ed25519" = "sr25519"): Promise<KeyringPair> {
  await cryptoWaitReady();
  return new Keyring({ type }).addFromUri(uri);
}

/** The test asset the local chain creates: id, symbol, decimals. */
export const TEST_ASSET = { id: 1984, symbol: "tUSD", name: "Test USD", decimals: 6, minBalance: 1000n } as const;

/**
 * Funds development accounts with `native` planck (through chopsticks' dev_setStorage, the local
 * chain's faucet) and, through real extrinsics by the asset admin, creates the test asset and
 * mints `assetAmount` to each of `assetHolders`. Idempotent: an existing asset is reused.
 */
export async function seedLocalSubstrate(
  api: ApiPromise,
  submitter: Submitter,
  o: { accounts: string[]; native: bigint; admin: KeyringPair; assetHolders: string[]; assetAmount: bigint },
): Promise<void> {
  await api.rpc("dev_setStorage" as never, { System: { Account: [...new Set([o.admin.address, ...o.accounts])].map((a) => [[a], { providers: 1, data: { free: o.native.toString() } }]) } } as never);
  const exists = await api.query.assets.asset(TEST_ASSET.id);
  if (exists.isNone) {
    await submitter.submit(
      api.tx.utility.batchAll([
        api.tx.assets.create(TEST_ASSET.id, { Id: o.admin.address }, TEST_ASSET.minBalance),
        api.tx.assets.setMetadata(TEST_ASSET.id, TEST_ASSET.name, TEST_ASSET.symbol, TEST_ASSET.decimals),
      ]),
      o.admin,
    );
  }
  // Like USDT (1984) on the live Asset Hubs, the test asset is "sufficient": an account may hold
  // it without native balance (custody multisig accounts and new agents do). Only root can set
  // that on a real chain; the local chain writes it into storage.
  const details = (await api.query.assets.asset(TEST_ASSET.id)).unwrap().toJSON() as Record<string, unknown>;
  if (!details["isSufficient"]) await api.rpc("dev_setStorage" as never, { Assets: { Asset: [[[TEST_ASSET.id], { ...details, isSufficient: true }]] } } as never);
  if (o.assetHolders.length) await submitter.submit(api.tx.utility.batchAll(o.assetHolders.map((h) => api.tx.assets.mint(TEST_ASSET.id, { Id: h }, o.assetAmount))), o.admin);
}
