/**
 * Chain helpers of the benchmarks: a Hardhat node with AICP's contracts (a fresh one through
 * the service tests' chain harness, or a running node the contracts are deployed to), funded
 * random payer wallets that deposit into PaymentChannels, and fast EIP-712 voucher signing.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secp256k1 } from "@noble/curves/secp256k1";
import { Contract, JsonRpcProvider, Wallet, type InterfaceAbi } from "ethers";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { ensureDeployment } from "../../src/stack/local.js";
import type { Deployment } from "../../src/protocol/deployment.js";
import { domainSeparator, voucherDigest } from "../../src/channels/verify.js";
import { HARDHAT_KEYS, startChain } from "../../test/service/chain-harness.js";

export type BenchChain = {
  url: string;
  deployment: Deployment;
  deploymentsFile: string;
  provider: JsonRpcProvider;
  /** Hardhat's funded account i. */
  wallet(i: number): Wallet;
  mine(blocks: number): Promise<void>;
  /** Stops the node when this process started it; a reused node keeps running. */
  stop(): Promise<void>;
};

/**
 * A Hardhat node with the contracts deployed by scripts/deploy.ts.
 * @param url a running node to reuse (the contracts are deployed to it afresh); a new node on
 *   a free port when absent
 */
export async function benchChain(url?: string): Promise<BenchChain> {
  if (!url) {
    const c = await startChain();
    return { url: c.url, deployment: c.deployment, deploymentsFile: c.deploymentsFile, provider: c.provider, wallet: c.wallet, mine: c.mine, stop: c.stop };
  }
  const deploymentsFile = join(mkdtempSync(join(tmpdir(), "aicp-bench-chain-")), "deployment.json");
  const deployment = await ensureDeployment(loadConfig({ CHAIN_RPC_URL: url, DEPLOYMENTS_FILE: deploymentsFile }), createLogger("warn", "bench"));
  const provider = new JsonRpcProvider(url, deployment.chainId, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  return {
    url,
    deployment,
    deploymentsFile,
    provider,
    wallet: (i) => new Wallet(HARDHAT_KEYS[i]!, provider),
    mine: async (blocks) => {
      await provider.send("hardhat_mine", [`0x${blocks.toString(16)}`]);
    },
    stop: async () => provider.destroy(),
  };
}

/**
 * `n` random wallets, each sent `fund` wei by Hardhat account #0 and depositing `deposit` wei
 * of the native currency into PaymentChannels from its own wallet.
 */
export async function fundedPayers(chain: BenchChain, n: number, fund: bigint, deposit: bigint): Promise<Wallet[]> {
  const admin = chain.wallet(0);
  const pc = chain.deployment.contracts["PaymentChannels"]!;
  const channels = new Contract(pc.address, pc.abi as InterfaceAbi, chain.provider);
  let nonce = await chain.provider.getTransactionCount(admin.address, "pending");
  const payers = Array.from({ length: n }, () => new Wallet(Wallet.createRandom().privateKey, chain.provider));
  const funding = await Promise.all(payers.map((p) => admin.sendTransaction({ to: p.address, value: fund, nonce: nonce++ })));
  await Promise.all(funding.map((tx) => tx.wait()));
  const deposits = await Promise.all(payers.map((p) => (channels.connect(p) as Contract).getFunction("deposit")("0x0000000000000000000000000000000000000000", deposit, { value: deposit, nonce: 0 })));
  await Promise.all(deposits.map((tx: { wait(): Promise<unknown> }) => tx.wait()));
  return payers;
}

export type SignedVoucher = { payer: string; payee: string; token: string; cumulativeAmount: string; signature: string };

/**
 * A signer of PaymentChannels vouchers for one deployment: the EIP-712 digest (src/channels/verify.ts)
 * signed with @noble/curves, as `r ‖ s ‖ v` hex (v = 27 or 28, low s).
 */
export function voucherSigner(chainId: number, contract: string) {
  const sep = domainSeparator(chainId, contract);
  return (key: Uint8Array, v: { payer: string; payee: string; token: string; cumulativeAmount: bigint }): SignedVoucher => {
    const sig = secp256k1.sign(voucherDigest(sep, v), key);
    return {
      payer: v.payer,
      payee: v.payee,
      token: v.token,
      cumulativeAmount: v.cumulativeAmount.toString(),
      signature: `0x${sig.r.toString(16).padStart(64, "0")}${sig.s.toString(16).padStart(64, "0")}${(27 + sig.recovery).toString(16)}`,
    };
  };
}
