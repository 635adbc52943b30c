import { encodeAddress } from "@polkadot/util-crypto";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { connectSubstrate, createSubmitter } from "../chain/substrate/client.js";
import { devPair, seedLocalSubstrate, startLocalSubstrate, SUBSTRATE_DEV_ROLES, TEST_ASSET, type LocalSubstrate } from "../chain/substrate/local-chain.js";

export { SUBSTRATE_DEV_ROLES };

/** Native balance each local development account gets: 10 000 units (planck × 10^decimals). */
const LOCAL_NATIVE_UNITS = 10_000n;
/** tUSD each local buyer gets: 1 000 000 tUSD in base units. */
export const LOCAL_SUBSTRATE_TUSD = 1_000_000n * 10n ** BigInt(TEST_ASSET.decimals);

/** The local Substrate stack: the node's URL, the development accounts by role, and how to stop it (when this process started it). */
export type LocalSubstrateStack = { url: string; accounts: { role: string; uri: string; address: string }[]; started?: LocalSubstrate };

/**
 * `npm start -- --chain substrate|both`: uses the Substrate node at SUBSTRATE_RPC_URL when it
 * answers, else starts chopsticks (the Asset Hub runtime, offline) on 127.0.0.1:SUBSTRATE_PORT
 * and funds the development accounts (SUBSTRATE_DEV_ROLES) with native currency and the buyers
 * with tUSD (asset SUBSTRATE_ASSET_ID, created by //Alice).
 * @throws Error when chopsticks does not start
 */
export async function ensureSubstrate(config: Config, log: Logger): Promise<LocalSubstrateStack> {
  const want = config.SUBSTRATE_RPC_URL ?? `ws://127.0.0.1:${config.SUBSTRATE_PORT}`;
  let started: LocalSubstrate | undefined;
  let api = await connectSubstrate(want, 3_000).catch(() => undefined);
  if (api) log.info({ url: want }, "using the running Substrate node");
  else {
    const port = Number(new URL(want).port || config.SUBSTRATE_PORT);
    log.info({ port }, "starting a local Substrate chain (chopsticks, Asset Hub runtime)");
    started = await startLocalSubstrate(port);
    api = await connectSubstrate(started.url);
  }
  const roles: [string, string][] = [
    ["asset admin", SUBSTRATE_DEV_ROLES.assetAdmin],
    ["coordinator", SUBSTRATE_DEV_ROLES.coordinator],
    ["arbitrator", SUBSTRATE_DEV_ROLES.arbitrator],
    ["treasury", SUBSTRATE_DEV_ROLES.treasury],
    ...SUBSTRATE_DEV_ROLES.buyers.map((u, i): [string, string] => [`buyer ${i + 1}`, u]),
    ...SUBSTRATE_DEV_ROLES.agents.map((u, i): [string, string] => [`agent ${i + 1}`, u]),
  ];
  const prefix = api.registry.chainSS58 ?? 42;
  const pairs = await Promise.all(roles.map(async ([role, uri]) => ({ role, uri, pair: await devPair(uri) })));
  if (started) {
    const unit = 10n ** BigInt(api.registry.chainDecimals[0] ?? 12);
    const buyers = pairs.filter((p) => p.role.startsWith("buyer")).map((p) => p.pair.address);
    await seedLocalSubstrate(api, createSubmitter(api), { accounts: pairs.map((p) => p.pair.address), native: LOCAL_NATIVE_UNITS * unit, admin: pairs[0]!.pair, assetHolders: buyers, assetAmount: LOCAL_SUBSTRATE_TUSD });
  }
  await api.disconnect();
  return { url: started?.url ?? want, accounts: pairs.map((p) => ({ role: p.role, uri: p.uri, address: encodeAddress(p.pair.publicKey, prefix) })), ...(started ? { started } : {}) };
}
