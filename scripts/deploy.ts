/**
 * Deploys AICP's contracts to a named network and writes `deployments/<network>.json` with the
 * chain id, addresses, deployment blocks and ABIs.
 *
 *   npx hardhat run scripts/deploy.ts --network localhost      (after `npm run chain`)
 *
 * Roles on local networks use Hardhat's well-known accounts: #0 admin, #1 coordinator,
 * #2–#3 arbitrators, #4 treasury. Override with COORDINATOR_ADDRESS, ARBITRATOR_ADDRESSES
 * (comma-separated) and TREASURY_ADDRESS; DEPLOYMENTS_OUT names another output file.
 */
import { network } from "hardhat";
import { deployAll, writeDeployment } from "./lib/deploy.js";

const connection = await network.create();
const { ethers, networkName } = connection;
const signers = await ethers.getSigners();
const env = process.env;
const local = ["hardhat", "localhost", "default"].includes(networkName);

const d = await deployAll(ethers, networkName, {
  admin: signers[0]!,
  coordinator: env["COORDINATOR_ADDRESS"] ?? signers[1]!.address,
  arbitrators: env["ARBITRATOR_ADDRESSES"]?.split(",").map((s) => s.trim()) ?? [signers[2]!.address, signers[3]!.address],
  treasury: env["TREASURY_ADDRESS"] ?? signers[4]!.address,
  testToken: local,
});
const file = env["DEPLOYMENTS_OUT"] ?? `deployments/${networkName}.json`;
writeDeployment(file, d);
console.log(`Deployed to ${networkName} (chain ${d.chainId}); wrote ${file}`);
for (const [name, c] of Object.entries(d.contracts)) console.log(`  ${name.padEnd(18)} ${c.address}  (block ${c.blockNumber})`);
