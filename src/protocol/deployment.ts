import { existsSync, readFileSync } from "node:fs";

/** What scripts/deploy.ts writes to `deployments/<network>.json`: chain id, addresses, deployment blocks and ABIs. */
export type Deployment = {
  network: string;
  chainId: number;
  contracts: Record<string, { address: string; blockNumber: number; abi: unknown[] }>;
};

/** Reads a deployments file; undefined when it does not exist yet. */
export function readDeployment(file: string): Deployment | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as Deployment;
}
