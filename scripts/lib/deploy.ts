import { writeFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";

/** Parameters of a deployment; every duration in seconds, the fee in basis points. */
export type DeployOptions = {
  admin: HardhatEthersSigner;
  /** The coordinator's hot wallet: receives only COORDINATOR_ROLE. */
  coordinator: string;
  arbitrators: string[];
  treasury: string;
  feeBps?: number;
  acceptanceWindow?: number;
  ruleWindow?: number;
  appealWindow?: number;
  challengePeriod?: number;
  /** Deploy the test ERC-20 (local networks only). */
  testToken?: boolean;
};

export type DeployedContract = { address: string; blockNumber: number; abi: unknown[] };

export type DeploymentFile = {
  network: string;
  chainId: number;
  deployedAt: string;
  roles: { admin: string; coordinator: string; arbitrators: string[]; treasury: string };
  params: Record<string, number>;
  contracts: Record<string, DeployedContract>;
};

/**
 * Deploys TaskEscrow, DisputeResolver, PaymentChannels, ReputationAnchor (and the test token),
 * wires them together and grants roles: the coordinator gets only COORDINATOR_ROLE (TaskEscrow, PaymentChannels), the
 * escrow ESCROW_ROLE on the resolver, the resolver RESOLVER_ROLE on the escrow.
 */
export async function deployAll(ethers: HardhatEthers, networkName: string, o: DeployOptions): Promise<DeploymentFile> {
  const p = {
    feeBps: o.feeBps ?? 250,
    acceptanceWindow: o.acceptanceWindow ?? 3600,
    ruleWindow: o.ruleWindow ?? 3 * 86400,
    appealWindow: o.appealWindow ?? 86400,
    challengePeriod: o.challengePeriod ?? 86400,
  };
  const admin = o.admin;
  const contracts: Record<string, DeployedContract> = {};
  const record = async (name: string, c: { getAddress(): Promise<string>; deploymentTransaction(): { wait(): Promise<{ blockNumber: number } | null> } | null }) => {
    const receipt = await c.deploymentTransaction()!.wait();
    const artifact = await readArtifact(name);
    contracts[name] = { address: await c.getAddress(), blockNumber: receipt!.blockNumber, abi: artifact.abi };
  };

  const escrow = await ethers.deployContract("TaskEscrow", [admin.address, o.treasury, p.feeBps, p.acceptanceWindow], admin);
  await record("TaskEscrow", escrow);
  const resolver = await ethers.deployContract("DisputeResolver", [admin.address, p.ruleWindow, p.appealWindow], admin);
  await record("DisputeResolver", resolver);
  const channels = await ethers.deployContract("PaymentChannels", [admin.address, p.challengePeriod], admin);
  await record("PaymentChannels", channels);
  const anchor = await ethers.deployContract("ReputationAnchor", [admin.address, o.coordinator], admin);
  await record("ReputationAnchor", anchor);
  if (o.testToken) {
    const token = await ethers.deployContract("AICPTestToken", [], admin);
    await record("AICPTestToken", token);
  }

  const send = async (tx: Promise<{ wait(): Promise<unknown> }>) => (await tx).wait();
  await send(escrow.getFunction("setDisputeResolver")(await resolver.getAddress()));
  await send(escrow.getFunction("grantRole")(await escrow.getFunction("COORDINATOR_ROLE")(), o.coordinator));
  await send(channels.getFunction("grantRole")(await channels.getFunction("COORDINATOR_ROLE")(), o.coordinator));
  await send(resolver.getFunction("grantRole")(await resolver.getFunction("ESCROW_ROLE")(), await escrow.getAddress()));
  const arbRole = await resolver.getFunction("ARBITRATOR_ROLE")();
  for (const a of o.arbitrators) await send(resolver.getFunction("grantRole")(arbRole, a));

  const { chainId } = await ethers.provider.getNetwork();
  return {
    network: networkName,
    chainId: Number(chainId),
    deployedAt: new Date().toISOString(),
    roles: { admin: admin.address, coordinator: o.coordinator, arbitrators: o.arbitrators, treasury: o.treasury },
    params: p,
    contracts,
  };
}

async function readArtifact(name: string): Promise<{ abi: unknown[] }> {
  const root = join(dirname(new URL(import.meta.url).pathname), "..", "..", "artifacts", "contracts");
  const candidates = [join(root, `${name}.sol`, `${name}.json`), join(root, "test", `${name}.sol`, `${name}.json`)];
  for (const f of candidates) {
    try {
      return JSON.parse(readFileSync(f, "utf8")) as { abi: unknown[] };
    } catch {
      /* try next */
    }
  }
  throw new Error(`artifact for ${name} not found; run \`npx hardhat compile\``);
}

/** Writes `deployments/<network>.json`. */
export function writeDeployment(file: string, d: DeploymentFile) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(d, null, 2) + "\n");
}
