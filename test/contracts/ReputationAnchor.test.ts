import { expectErc165, IACCESS_CONTROL_ID } from "./erc165.behavior.js";
import { expect } from "chai";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";

import { IReputationAnchor__factory } from "../../types/ethers-contracts/index.js";

const { ethers, networkHelpers } = await network.create();

/** The leaf encoding the coordinator builds its trees with: (agent, score, tasks, epoch). */
const LEAF_ENCODING = ["address", "uint256", "uint256", "uint256"];

type Leaf = [string, bigint, bigint, bigint];

/** One epoch's tree over every agent's (score, tasks), as the coordinator builds it. */
function treeOf(epoch: bigint, records: [string, bigint, bigint][]) {
  const leaves: Leaf[] = records.map(([agent, score, tasks]) => [agent, score, tasks, epoch]);
  return StandardMerkleTree.of(leaves, LEAF_ENCODING);
}

async function fixture() {
  const signers = await ethers.getSigners();
  const at = (i: number): HardhatEthersSigner => {
    const signer = signers[i];
    if (!signer) throw new Error(`the network has fewer than ${i + 1} accounts`);
    return signer;
  };
  const admin = at(0);
  const coordinator = at(1);
  const stranger = at(2);
  const agents = [3, 4, 5, 6, 7].map((i) => at(i).address);
  const anchor = await ethers.deployContract("ReputationAnchor", [admin.address, coordinator.address]);
  // Scores in hundredths of a point (0-10 000), tasks completed.
  const records: [string, bigint, bigint][] = agents.map((agent, i) => [
    agent,
    9_500n - BigInt(i) * 700n,
    10n + BigInt(i),
  ]);
  const tree1 = treeOf(1n, records);
  const tree2 = treeOf(
    2n,
    records.map(([agent, score, tasks]) => [agent, score + 10n, tasks + 1n]),
  );
  return { anchor, admin, coordinator, stranger, agents, records, tree1, tree2 };
}

describe("ReputationAnchor", function () {
  describe("deployment", function () {
    it("grants the admin and coordinator roles", async function () {
      const { anchor, admin, coordinator } = await networkHelpers.loadFixture(fixture);
      expect(await anchor.COORDINATOR_ROLE()).to.equal(ethers.id("COORDINATOR_ROLE"));
      expect(await anchor.hasRole(await anchor.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
      expect(await anchor.hasRole(await anchor.COORDINATOR_ROLE(), coordinator.address)).to.equal(true);
      expect(await anchor.latestEpoch()).to.equal(0n);
      expect(await anchor.rootOf(0)).to.equal(ethers.ZeroHash);
    });

    it("rejects a zero admin or coordinator", async function () {
      const { anchor, admin } = await networkHelpers.loadFixture(fixture);
      const deploy = (args: unknown[]) => ethers.deployContract("ReputationAnchor", args);
      await expect(deploy([ethers.ZeroAddress, admin.address])).to.be.revertedWithCustomError(
        anchor,
        "ReputationAnchorZeroAddress",
      );
      await expect(deploy([admin.address, ethers.ZeroAddress])).to.be.revertedWithCustomError(
        anchor,
        "ReputationAnchorZeroAddress",
      );
    });

    it("reports ERC-165 support for IReputationAnchor and IAccessControl", async function () {
      const { anchor } = await networkHelpers.loadFixture(fixture);
      await expectErc165(anchor, IReputationAnchor__factory.createInterface(), [IACCESS_CONTROL_ID]);
    });
  });

  describe("anchor", function () {
    it("records roots for strictly increasing epochs and emits them", async function () {
      const { anchor, coordinator, tree1, tree2 } = await networkHelpers.loadFixture(fixture);
      const tx = anchor.connect(coordinator).anchor(1, tree1.root, "ipfs://epoch-1");
      const anchoredAt = BigInt(await networkHelpers.time.latest()) + 1n;
      await expect(tx).to.emit(anchor, "RootAnchored").withArgs(1, tree1.root, "ipfs://epoch-1", anchoredAt);
      // Epochs may skip numbers, never go back.
      await expect(anchor.connect(coordinator).anchor(5, tree2.root, ""))
        .to.emit(anchor, "RootAnchored")
        .withArgs(5, tree2.root, "", anchoredAt + 1n);
      expect(await anchor.latestEpoch()).to.equal(5n);
      expect(await anchor.rootOf(1)).to.equal(tree1.root);
      expect(await anchor.rootOf(5)).to.equal(tree2.root);
      expect(await anchor.rootOf(3)).to.equal(ethers.ZeroHash);
    });

    it("rejects an equal or lower epoch, epoch 0, and a zero root", async function () {
      const { anchor, coordinator, tree1 } = await networkHelpers.loadFixture(fixture);
      await expect(anchor.connect(coordinator).anchor(0, tree1.root, ""))
        .to.be.revertedWithCustomError(anchor, "ReputationAnchorEpochNotIncreasing")
        .withArgs(0, 0);
      await anchor.connect(coordinator).anchor(2, tree1.root, "");
      await expect(anchor.connect(coordinator).anchor(2, tree1.root, ""))
        .to.be.revertedWithCustomError(anchor, "ReputationAnchorEpochNotIncreasing")
        .withArgs(2, 2);
      await expect(anchor.connect(coordinator).anchor(1, tree1.root, ""))
        .to.be.revertedWithCustomError(anchor, "ReputationAnchorEpochNotIncreasing")
        .withArgs(1, 2);
      await expect(anchor.connect(coordinator).anchor(3, ethers.ZeroHash, "")).to.be.revertedWithCustomError(
        anchor,
        "ReputationAnchorZeroRoot",
      );
    });

    it("is reserved to the coordinator role", async function () {
      const { anchor, admin, stranger, tree1 } = await networkHelpers.loadFixture(fixture);
      const role = await anchor.COORDINATOR_ROLE();
      for (const caller of [stranger, admin]) {
        await expect(anchor.connect(caller).anchor(1, tree1.root, ""))
          .to.be.revertedWithCustomError(anchor, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, role);
      }
      await anchor.connect(admin).grantRole(role, stranger.address);
      await expect(anchor.connect(stranger).anchor(1, tree1.root, "")).to.emit(anchor, "RootAnchored");
    });
  });

  describe("verify", function () {
    it("accepts every agent's proof from a StandardMerkleTree, epoch by epoch", async function () {
      const { anchor, coordinator, tree1, tree2 } = await networkHelpers.loadFixture(fixture);
      await anchor.connect(coordinator).anchor(1, tree1.root, "");
      await anchor.connect(coordinator).anchor(2, tree2.root, "");
      for (const tree of [tree1, tree2]) {
        for (const [i, [agent, score, tasks, epoch]] of tree.entries()) {
          expect(await anchor.leafHash(agent, score, tasks, epoch)).to.equal(
            tree.leafHash([agent, score, tasks, epoch]),
          );
          expect(await anchor.verify(epoch, agent, score, tasks, tree.getProof(i))).to.equal(true);
        }
      }
    });

    it("rejects a wrong score, tasks, agent, epoch or proof, and an epoch never anchored", async function () {
      const { anchor, coordinator, agents, tree1, tree2 } = await networkHelpers.loadFixture(fixture);
      await anchor.connect(coordinator).anchor(1, tree1.root, "");
      await anchor.connect(coordinator).anchor(2, tree2.root, "");
      const [agent, score, tasks] = tree1.at(0)!;
      const proof = tree1.getProof(0);
      expect(await anchor.verify(1, agent, score, tasks, proof)).to.equal(true);
      expect(await anchor.verify(1, agent, score + 1n, tasks, proof)).to.equal(false);
      expect(await anchor.verify(1, agent, score, tasks + 1n, proof)).to.equal(false);
      expect(await anchor.verify(1, agents[1]!, score, tasks, proof)).to.equal(false);
      // The right record and proof against another epoch's root.
      expect(await anchor.verify(2, agent, score, tasks, proof)).to.equal(false);
      expect(await anchor.verify(1, agent, score, tasks, tree1.getProof(1))).to.equal(false);
      expect(await anchor.verify(1, agent, score, tasks, [])).to.equal(false);
      expect(await anchor.verify(7, agent, score, tasks, proof)).to.equal(false);
    });

    it("verifies a single-agent epoch with an empty proof", async function () {
      const { anchor, coordinator, agents } = await networkHelpers.loadFixture(fixture);
      const tree = treeOf(1n, [[agents[0]!, 5_000n, 1n]]);
      await anchor.connect(coordinator).anchor(1, tree.root, "");
      expect(await anchor.verify(1, agents[0]!, 5_000n, 1n, [])).to.equal(true);
    });
  });
});
