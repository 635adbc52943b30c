import { expectErc165, IACCESS_CONTROL_ENUMERABLE_ID, IACCESS_CONTROL_ID } from "./erc165.behavior.js";
import { expect } from "chai";
import { network } from "hardhat";

import { IDisputeResolver__factory } from "../../types/ethers-contracts/index.js";
import {
  APPEAL_WINDOW,
  BPS,
  FEE_BPS,
  NATIVE,
  RULE_WINDOW,
  State,
  Status,
  conservation,
  deliveredEscrow,
  deployEscrowSystem,
  expectedArbitrator,
  now,
  signerOf,
  taskIdOf,
} from "./fixtures/escrow.js";

const { ethers, networkHelpers } = await network.create();

/** The system with one delivered ERC-20 task disputed by its buyer; the assigned arbitrator is known. */
async function fixture() {
  const sys = await deployEscrowSystem(ethers, networkHelpers);
  const task = await deliveredEscrow(sys, "case", { amount: 1_000n, price: 800n });
  const parties = [task.buyer.address, task.agent.address];
  const arbitratorAddress = await expectedArbitrator(ethers, sys.resolver, task.taskId, 0n, parties);
  await sys.escrow.connect(task.buyer).dispute(task.taskId, "ipfs://opening");
  const { token: tokenAddress, ...rest } = task;
  return {
    ...sys,
    ...rest,
    tokenAddress,
    parties,
    disputeId: 1n,
    arbitrator: signerOf(sys.arbitrators, arbitratorAddress),
  };
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

/** The arbitrator the resolver assigns next (round + 1), skipping the current one. */
async function nextArbitrator(sys: Fixture, round: bigint, current: string) {
  const address = await expectedArbitrator(ethers, sys.resolver, sys.taskId, round, sys.parties, current);
  return signerOf(sys.arbitrators, address);
}

/** Rules `bps` with the assigned arbitrator and returns the appeal deadline. */
async function ruleAs(sys: Fixture, bps: bigint) {
  await sys.resolver.connect(sys.arbitrator).rule(sys.disputeId, bps);
  return (await sys.resolver.disputeOf(sys.disputeId)).appealDeadline;
}

describe("DisputeResolver", function () {
  describe("deployment", function () {
    it("grants the admin role, records the windows and emits them", async function () {
      const { resolver, admin } = await networkHelpers.loadFixture(fixture);
      expect(await resolver.hasRole(await resolver.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
      expect(await resolver.ruleWindow()).to.equal(RULE_WINDOW);
      expect(await resolver.appealWindow()).to.equal(APPEAL_WINDOW);
      expect(await resolver.ARBITRATOR_ROLE()).to.equal(ethers.id("ARBITRATOR_ROLE"));
      expect(await resolver.ESCROW_ROLE()).to.equal(ethers.id("ESCROW_ROLE"));
      expect(await resolver.metaEvidenceId()).to.equal(0n);
      const fresh = await ethers.deployContract("DisputeResolver", [admin.address, 10, 20]);
      await expect(fresh.deploymentTransaction()).to.emit(fresh, "WindowsUpdated").withArgs(10, 20);
      expect(await fresh.disputeCount()).to.equal(0n);
    });

    it("rejects a zero admin and zero windows", async function () {
      const { resolver, admin } = await networkHelpers.loadFixture(fixture);
      const deploy = (args: unknown[]) => ethers.deployContract("DisputeResolver", args);
      await expect(deploy([NATIVE, 1, 1])).to.be.revertedWithCustomError(resolver, "DisputeResolverZeroAddress");
      await expect(deploy([admin.address, 0, 1])).to.be.revertedWithCustomError(
        resolver,
        "DisputeResolverInvalidWindow",
      );
      await expect(deploy([admin.address, 1, 0])).to.be.revertedWithCustomError(
        resolver,
        "DisputeResolverInvalidWindow",
      );
    });

    it("reports ERC-165 support for IDisputeResolver and IAccessControlEnumerable", async function () {
      const { resolver } = await networkHelpers.loadFixture(fixture);
      await expectErc165(resolver, IDisputeResolver__factory.createInterface(), [IACCESS_CONTROL_ENUMERABLE_ID, IACCESS_CONTROL_ID]);
    });
  });

  describe("openDispute", function () {
    it("is opened by the escrow with a deterministic arbitrator and ERC-1497 events", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, resolver, buyer2, agent2, coordinator, tokenAddress } = sys;
      // A second task, disputed by its agent this time.
      const task = await deliveredEscrow(sys, "second", { buyer: buyer2, agent: agent2 });
      const arbitrator = await expectedArbitrator(ethers, resolver, task.taskId, 0n, [
        buyer2.address,
        agent2.address,
      ]);
      const at = (await now(networkHelpers)) + 3n;
      await networkHelpers.time.setNextBlockTimestamp(at);
      const tx = escrow.connect(agent2).dispute(task.taskId, "ipfs://agent-says");
      await expect(tx)
        .to.emit(resolver, "DisputeOpened")
        .withArgs(
          2n,
          task.taskId,
          arbitrator,
          buyer2.address,
          agent2.address,
          agent2.address,
          await escrow.getAddress(),
          at + RULE_WINDOW,
        );
      await expect(tx)
        .to.emit(resolver, "Dispute")
        .withArgs(await resolver.getAddress(), 2n, 0n, 2n);
      await expect(tx)
        .to.emit(resolver, "Evidence")
        .withArgs(await resolver.getAddress(), 2n, agent2.address, "ipfs://agent-says");

      const d = await resolver.disputeOf(2n);
      expect(d.taskId).to.equal(task.taskId);
      expect(d.escrow).to.equal(await escrow.getAddress());
      expect(d.arbitrator).to.equal(arbitrator);
      expect(d.ruleDeadline).to.equal(at + RULE_WINDOW);
      expect(d.status).to.equal(Status.AwaitingRuling);
      expect(d.appealed).to.equal(false);
      expect(d.round).to.equal(0n);
      expect(d.appealDeadline).to.equal(0n);
      expect(d.openedBy).to.equal(agent2.address);
      expect(await resolver.disputeOfTask(task.taskId)).to.equal(2n);
      expect(await resolver.disputeOfTask(taskIdOf(ethers, "never"))).to.equal(0n);
      expect(await resolver.disputeCount()).to.equal(2n);
      expect(tokenAddress).to.not.equal(NATIVE);
      expect(coordinator.address).to.not.equal(arbitrator);
    });

    it("emits no Evidence for an empty opening and carries the meta-evidence in force", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, resolver, admin, buyer } = sys;
      await expect(resolver.connect(admin).setMetaEvidence("ipfs://meta-v1"))
        .to.emit(resolver, "MetaEvidence")
        .withArgs(1n, "ipfs://meta-v1");
      const task = await deliveredEscrow(sys, "quiet");
      const tx = escrow.connect(buyer).dispute(task.taskId, "");
      await expect(tx).to.not.emit(resolver, "Evidence");
      await expect(tx)
        .to.emit(resolver, "Dispute")
        .withArgs(await resolver.getAddress(), 2n, 1n, 2n);
      expect((await resolver.disputeOf(2n)).metaEvidenceId).to.equal(1n);
    });

    it("is for the escrow role only", async function () {
      const { resolver, stranger, buyer, agent } = await networkHelpers.loadFixture(fixture);
      await expect(
        resolver.connect(stranger).openDispute(taskIdOf(ethers, "x"), buyer.address, agent.address, buyer.address, ""),
      )
        .to.be.revertedWithCustomError(resolver, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, await resolver.ESCROW_ROLE());
    });

    it("refuses a second dispute on the same task", async function () {
      const { resolver, admin, stranger, buyer, agent, taskId } = await networkHelpers.loadFixture(fixture);
      await resolver.connect(admin).grantRole(await resolver.ESCROW_ROLE(), stranger.address);
      await expect(resolver.connect(stranger).openDispute(taskId, buyer.address, agent.address, buyer.address, ""))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverDisputeExists")
        .withArgs(taskId, 1n);
    });

    it("skips arbitrators who are parties, and fails when there is no one left", async function () {
      const { resolver, admin, stranger, agent, arbitrators } = await networkHelpers.loadFixture(fixture);
      await resolver.connect(admin).grantRole(await resolver.ESCROW_ROLE(), stranger.address);
      const role = await resolver.ARBITRATOR_ROLE();
      const t = taskIdOf(ethers, "conflict");
      // Make the buyer the arbitrator that round 0 would pick first.
      const first = await expectedArbitrator(ethers, resolver, t, 0n, []);
      const expected = await expectedArbitrator(ethers, resolver, t, 0n, [first, agent.address]);
      expect(expected).to.not.equal(first);
      await expect(resolver.connect(stranger).openDispute(t, first, agent.address, first, ""))
        .to.emit(resolver, "DisputeOpened")
        .withArgs(2n, t, expected, first, agent.address, first, stranger.address, (v: bigint) => v > 0n);

      // Only one arbitrator left, and it is the buyer.
      const [a0, a1, a2] = arbitrators as [(typeof arbitrators)[0], (typeof arbitrators)[0], (typeof arbitrators)[0]];
      await resolver.connect(admin).revokeRole(role, a1.address);
      await resolver.connect(admin).revokeRole(role, a2.address);
      await expect(
        resolver.connect(stranger).openDispute(taskIdOf(ethers, "solo"), a0.address, agent.address, a0.address, ""),
      ).to.be.revertedWithCustomError(resolver, "DisputeResolverNoEligibleArbitrator");
      await resolver.connect(admin).revokeRole(role, a0.address);
      await expect(
        resolver.connect(stranger).openDispute(taskIdOf(ethers, "none"), a0.address, agent.address, a0.address, ""),
      ).to.be.revertedWithCustomError(resolver, "DisputeResolverNoArbitrators");
    });

    it("spreads disputes over the arbitrators as the formula says", async function () {
      const { resolver, admin, stranger, buyer, agent, arbitrators } = await networkHelpers.loadFixture(fixture);
      await resolver.connect(admin).grantRole(await resolver.ESCROW_ROLE(), stranger.address);
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const t = taskIdOf(ethers, `spread-${i}`);
        const expected = await expectedArbitrator(ethers, resolver, t, 0n, [buyer.address, agent.address]);
        await resolver.connect(stranger).openDispute(t, buyer.address, agent.address, buyer.address, "");
        const id = await resolver.disputeOfTask(t);
        expect((await resolver.disputeOf(id)).arbitrator).to.equal(expected);
        seen.add(expected);
      }
      expect(seen.size).to.equal(arbitrators.length);
    });
  });

  describe("submitEvidence", function () {
    it("accepts evidence from either party until the dispute is finalized", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, buyer, agent, disputeId } = sys;
      const self = await resolver.getAddress();
      await expect(resolver.connect(buyer).submitEvidence(disputeId, "ipfs://b"))
        .to.emit(resolver, "Evidence")
        .withArgs(self, disputeId, buyer.address, "ipfs://b");
      const deadline = await ruleAs(sys, 6_000n);
      await expect(resolver.connect(agent).submitEvidence(disputeId, "ipfs://a"))
        .to.emit(resolver, "Evidence")
        .withArgs(self, disputeId, agent.address, "ipfs://a");
      await networkHelpers.time.increaseTo(deadline + 1n);
      await resolver.finalize(disputeId);
      await expect(resolver.connect(agent).submitEvidence(disputeId, "ipfs://late"))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverInvalidStatus")
        .withArgs(disputeId, Status.Finalized);
    });

    it("refuses non-parties, empty evidence and unknown disputes", async function () {
      const { resolver, buyer, stranger, arbitrator, disputeId } = await networkHelpers.loadFixture(fixture);
      await expect(resolver.connect(stranger).submitEvidence(disputeId, "x"))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverNotParty")
        .withArgs(stranger.address);
      await expect(resolver.connect(arbitrator).submitEvidence(disputeId, "x"))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverNotParty")
        .withArgs(arbitrator.address);
      await expect(resolver.connect(buyer).submitEvidence(disputeId, "")).to.be.revertedWithCustomError(
        resolver,
        "DisputeResolverEmptyEvidence",
      );
      await expect(resolver.connect(buyer).submitEvidence(99n, "x"))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverInvalidStatus")
        .withArgs(99n, Status.None);
    });
  });

  describe("rule", function () {
    it("records the assigned arbitrator's split and opens the appeal window", async function () {
      const { resolver, arbitrator, disputeId, taskId } = await networkHelpers.loadFixture(fixture);
      const d0 = await resolver.disputeOf(disputeId);
      await networkHelpers.time.setNextBlockTimestamp(d0.ruleDeadline);
      await expect(resolver.connect(arbitrator).rule(disputeId, 7_500))
        .to.emit(resolver, "DisputeRuled")
        .withArgs(disputeId, taskId, arbitrator.address, 7_500, d0.ruleDeadline + APPEAL_WINDOW);
      const d = await resolver.disputeOf(disputeId);
      expect(d.status).to.equal(Status.Ruled);
      expect(d.agentShareBps).to.equal(7_500n);
      expect(d.appealDeadline).to.equal(d0.ruleDeadline + APPEAL_WINDOW);
    });

    it("is for the assigned arbitrator only, while it holds the role", async function () {
      const { resolver, admin, arbitrator, arbitrators, stranger, disputeId } =
        await networkHelpers.loadFixture(fixture);
      const other = arbitrators.find((a) => a.address !== arbitrator.address);
      if (!other) throw new Error("fixture has one arbitrator");
      await expect(resolver.connect(other).rule(disputeId, 1))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverNotArbitrator")
        .withArgs(other.address);
      await expect(resolver.connect(stranger).rule(disputeId, 1))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverNotArbitrator")
        .withArgs(stranger.address);
      await resolver.connect(admin).revokeRole(await resolver.ARBITRATOR_ROLE(), arbitrator.address);
      await expect(resolver.connect(arbitrator).rule(disputeId, 1))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverNotArbitrator")
        .withArgs(arbitrator.address);
    });

    it("rejects a late ruling, a share above 10 000 bps and a second ruling", async function () {
      const { resolver, arbitrator, disputeId } = await networkHelpers.loadFixture(fixture);
      await expect(resolver.connect(arbitrator).rule(disputeId, 10_001))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverInvalidShare")
        .withArgs(10_001);
      await resolver.connect(arbitrator).rule(disputeId, 10_000);
      await expect(resolver.connect(arbitrator).rule(disputeId, 1))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverInvalidStatus")
        .withArgs(disputeId, Status.Ruled);
      await expect(resolver.connect(arbitrator).rule(7n, 1))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverInvalidStatus")
        .withArgs(7n, Status.None);
    });

    it("rejects a ruling after the rule deadline", async function () {
      const { resolver, arbitrator, disputeId } = await networkHelpers.loadFixture(fixture);
      const { ruleDeadline } = await resolver.disputeOf(disputeId);
      await networkHelpers.time.increaseTo(ruleDeadline + 1n);
      await expect(resolver.connect(arbitrator).rule(disputeId, 1))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverRuleDeadlinePassed")
        .withArgs(ruleDeadline);
    });
  });

  describe("appeal", function () {
    const cases: Array<{ bps: bigint; may: "buyer" | "agent" | "both" }> = [
      { bps: 7_000n, may: "buyer" },
      { bps: 3_000n, may: "agent" },
      { bps: 5_000n, may: "both" },
      { bps: 10_000n, may: "buyer" },
      { bps: 0n, may: "agent" },
    ];
    for (const { bps, may } of cases) {
      for (const side of ["buyer", "agent"] as const) {
        const allowed = may === "both" || may === side;
        it(`${allowed ? "lets" : "does not let"} the ${side} appeal a ${bps} bps ruling`, async function () {
          const sys = await networkHelpers.loadFixture(fixture);
          const { resolver, disputeId, arbitrator } = sys;
          await ruleAs(sys, bps);
          const appellant = sys[side];
          if (!allowed) {
            await expect(resolver.connect(appellant).appeal(disputeId))
              .to.be.revertedWithCustomError(resolver, "DisputeResolverNotAppellant")
              .withArgs(appellant.address);
            return;
          }
          const next = await nextArbitrator(sys, 1n, arbitrator.address);
          expect(next.address).to.not.equal(arbitrator.address);
          const at = (await now(networkHelpers)) + 1n;
          await networkHelpers.time.setNextBlockTimestamp(at);
          await expect(resolver.connect(appellant).appeal(disputeId))
            .to.emit(resolver, "DisputeAppealed")
            .withArgs(disputeId, appellant.address, next.address, arbitrator.address, at + RULE_WINDOW);
          const d = await resolver.disputeOf(disputeId);
          expect(d.status).to.equal(Status.AwaitingRuling);
          expect(d.appealed).to.equal(true);
          expect(d.round).to.equal(1n);
          expect(d.arbitrator).to.equal(next.address);
          expect(d.appealDeadline).to.equal(0n);
        });
      }
    }

    it("refuses strangers, late appeals, appeals before a ruling and a second appeal", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, disputeId, buyer, stranger, arbitrator } = sys;
      await expect(resolver.connect(buyer).appeal(disputeId))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverInvalidStatus")
        .withArgs(disputeId, Status.AwaitingRuling);
      const deadline = await ruleAs(sys, 9_000n);
      await expect(resolver.connect(stranger).appeal(disputeId))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverNotAppellant")
        .withArgs(stranger.address);
      await expect(resolver.connect(arbitrator).appeal(disputeId))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverNotAppellant")
        .withArgs(arbitrator.address);
      await networkHelpers.time.setNextBlockTimestamp(deadline);
      await resolver.connect(buyer).appeal(disputeId);
      const next = await nextArbitrator(sys, 1n, arbitrator.address);
      await expect(resolver.connect(next).rule(disputeId, 9_000))
        .to.emit(resolver, "DisputeRuled")
        .withArgs(disputeId, sys.taskId, next.address, 9_000, 0n);
      await expect(resolver.connect(buyer).appeal(disputeId)).to.be.revertedWithCustomError(
        resolver,
        "DisputeResolverAlreadyAppealed",
      );
    });

    it("closes with the appeal window", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const deadline = await ruleAs(sys, 9_000n);
      await networkHelpers.time.increaseTo(deadline + 1n);
      await expect(sys.resolver.connect(sys.buyer).appeal(sys.disputeId))
        .to.be.revertedWithCustomError(sys.resolver, "DisputeResolverAppealWindowClosed")
        .withArgs(deadline);
    });

    it("needs a different arbitrator", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, admin, arbitrators, arbitrator, buyer, disputeId } = sys;
      const role = await resolver.ARBITRATOR_ROLE();
      for (const a of arbitrators) if (a.address !== arbitrator.address) await resolver.connect(admin).revokeRole(role, a);
      await ruleAs(sys, 9_000n);
      await expect(resolver.connect(buyer).appeal(disputeId)).to.be.revertedWithCustomError(
        resolver,
        "DisputeResolverNoEligibleArbitrator",
      );
    });
  });

  describe("finalize", function () {
    it("executes the ruling on the escrow once the appeal window has passed", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, escrow, stranger, disputeId, taskId, buyer, agent, tokenAddress, price, amount, treasury } =
        sys;
      const deadline = await ruleAs(sys, 2_500n);
      await networkHelpers.time.setNextBlockTimestamp(deadline);
      await expect(resolver.connect(stranger).finalize(disputeId))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverAppealWindowOpen")
        .withArgs(deadline);
      await networkHelpers.time.increaseTo(deadline + 1n);
      const share = (price * 2_500n) / BPS;
      const fee = (share * FEE_BPS) / BPS;
      const tx = resolver.connect(stranger).finalize(disputeId);
      await expect(tx).to.emit(resolver, "DisputeFinalized").withArgs(disputeId, taskId, 2_500);
      await expect(tx)
        .to.emit(escrow, "RulingExecuted")
        .withArgs(taskId, buyer.address, agent.address, tokenAddress, 2_500, share - fee, amount - share, fee);
      expect((await resolver.disputeOf(disputeId)).status).to.equal(Status.Finalized);
      expect((await escrow.escrowOf(taskId)).state).to.equal(State.Resolved);
      expect(await escrow.balanceOf(buyer.address, tokenAddress)).to.equal(amount - share);
      const c = await conservation(sys, tokenAddress, [buyer.address, agent.address, treasury.address]);
      expect(c.contractBalance).to.equal(c.held + c.credited);
      await expect(resolver.finalize(disputeId))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverInvalidStatus")
        .withArgs(disputeId, Status.Finalized);
    });

    it("executes an appeal's ruling at once", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, escrow, disputeId, taskId, agent, arbitrator, tokenAddress, price, amount } = sys;
      await ruleAs(sys, 1_000n);
      await resolver.connect(agent).appeal(disputeId);
      const next = await nextArbitrator(sys, 1n, arbitrator.address);
      await resolver.connect(next).rule(disputeId, 8_000);
      const share = (price * 8_000n) / BPS;
      const fee = (share * FEE_BPS) / BPS;
      await expect(resolver.finalize(disputeId))
        .to.emit(escrow, "RulingExecuted")
        .withArgs(taskId, sys.buyer.address, agent.address, tokenAddress, 8_000, share - fee, amount - share, fee);
    });

    it("refuses a dispute without a ruling, and waits for a paused escrow", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, escrow, admin, disputeId } = sys;
      await expect(resolver.finalize(disputeId))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverInvalidStatus")
        .withArgs(disputeId, Status.AwaitingRuling);
      const deadline = await ruleAs(sys, 5_000n);
      await networkHelpers.time.increaseTo(deadline + 1n);
      await escrow.connect(admin).pause();
      await expect(resolver.finalize(disputeId)).to.be.revertedWithCustomError(escrow, "EnforcedPause");
      expect((await resolver.disputeOf(disputeId)).status).to.equal(Status.Ruled);
      await escrow.connect(admin).unpause();
      await expect(resolver.finalize(disputeId)).to.emit(escrow, "RulingExecuted");
    });
  });

  describe("reassign", function () {
    it("gives a stalled dispute to a different arbitrator after the rule deadline", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, stranger, disputeId, arbitrator } = sys;
      const { ruleDeadline } = await resolver.disputeOf(disputeId);
      await networkHelpers.time.setNextBlockTimestamp(ruleDeadline);
      await expect(resolver.connect(stranger).reassign(disputeId))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverRuleDeadlineNotPassed")
        .withArgs(ruleDeadline);
      await networkHelpers.time.setNextBlockTimestamp(ruleDeadline + 1n);
      const next = await nextArbitrator(sys, 1n, arbitrator.address);
      await expect(resolver.connect(stranger).reassign(disputeId))
        .to.emit(resolver, "DisputeReassigned")
        .withArgs(disputeId, arbitrator.address, next.address, ruleDeadline + 1n + RULE_WINDOW);
      const d = await resolver.disputeOf(disputeId);
      expect(d.round).to.equal(1n);
      expect(d.arbitrator).to.equal(next.address);
      expect(d.appealed).to.equal(false);
      await expect(resolver.connect(arbitrator).rule(disputeId, 1))
        .to.be.revertedWithCustomError(resolver, "DisputeResolverNotArbitrator")
        .withArgs(arbitrator.address);
      // The new arbitrator's ruling is a first ruling: still appealable.
      await resolver.connect(next).rule(disputeId, 6_000);
      expect((await resolver.disputeOf(disputeId)).appealDeadline).to.be.greaterThan(0n);
    });

    it("is possible at once when the assigned arbitrator lost the role", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, admin, disputeId, arbitrator } = sys;
      await resolver.connect(admin).revokeRole(await resolver.ARBITRATOR_ROLE(), arbitrator.address);
      await expect(resolver.reassign(disputeId)).to.emit(resolver, "DisputeReassigned");
    });

    it("refuses a ruled dispute and needs a different arbitrator", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, admin, arbitrators, arbitrator, disputeId } = sys;
      const role = await resolver.ARBITRATOR_ROLE();
      for (const a of arbitrators) if (a.address !== arbitrator.address) await resolver.connect(admin).revokeRole(role, a);
      const { ruleDeadline } = await resolver.disputeOf(disputeId);
      await networkHelpers.time.increaseTo(ruleDeadline + 1n);
      await expect(resolver.reassign(disputeId)).to.be.revertedWithCustomError(
        resolver,
        "DisputeResolverNoEligibleArbitrator",
      );
      const fresh = await networkHelpers.loadFixture(fixture);
      await ruleAs(fresh, 1n);
      await expect(fresh.resolver.reassign(fresh.disputeId))
        .to.be.revertedWithCustomError(fresh.resolver, "DisputeResolverInvalidStatus")
        .withArgs(fresh.disputeId, Status.Ruled);
    });
  });

  describe("admin", function () {
    it("sets the windows for later deadlines", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, admin, stranger, arbitrator, disputeId } = sys;
      await expect(resolver.connect(admin).setWindows(100, 200)).to.emit(resolver, "WindowsUpdated").withArgs(100, 200);
      expect(await resolver.ruleWindow()).to.equal(100n);
      expect(await resolver.appealWindow()).to.equal(200n);
      await resolver.connect(arbitrator).rule(disputeId, 1);
      const d = await resolver.disputeOf(disputeId);
      expect(d.appealDeadline).to.equal((await now(networkHelpers)) + 200n);
      await expect(resolver.connect(admin).setWindows(0, 1)).to.be.revertedWithCustomError(
        resolver,
        "DisputeResolverInvalidWindow",
      );
      await expect(resolver.connect(admin).setWindows(1, 0)).to.be.revertedWithCustomError(
        resolver,
        "DisputeResolverInvalidWindow",
      );
      await expect(resolver.connect(stranger).setWindows(1, 1))
        .to.be.revertedWithCustomError(resolver, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, await resolver.DEFAULT_ADMIN_ROLE());
    });

    it("publishes meta-evidence with sequential ids", async function () {
      const { resolver, admin, stranger } = await networkHelpers.loadFixture(fixture);
      await resolver.connect(admin).setMetaEvidence("ipfs://m1");
      await expect(resolver.connect(admin).setMetaEvidence("ipfs://m2"))
        .to.emit(resolver, "MetaEvidence")
        .withArgs(2n, "ipfs://m2");
      expect(await resolver.metaEvidenceId()).to.equal(2n);
      await expect(resolver.connect(stranger).setMetaEvidence("x"))
        .to.be.revertedWithCustomError(resolver, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, await resolver.DEFAULT_ADMIN_ROLE());
    });
  });

  describe("end to end with the native currency", function () {
    it("dispute, ruling, appeal, final ruling, payouts: every wei accounted for", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, resolver, buyer2, agent2, treasury, arbitrators } = sys;
      const amount = ethers.parseEther("3");
      const price = ethers.parseEther("2.5") + 7n;
      const task = await deliveredEscrow(sys, "native-e2e", { native: true, amount, price, buyer: buyer2, agent: agent2 });
      await escrow.connect(agent2).dispute(task.taskId, "ipfs://agent");
      const id = await resolver.disputeOfTask(task.taskId);
      const first = signerOf(arbitrators, (await resolver.disputeOf(id)).arbitrator);
      await resolver.connect(first).rule(id, 4_999);
      await resolver.connect(agent2).appeal(id);
      const second = signerOf(arbitrators, (await resolver.disputeOf(id)).arbitrator);
      expect(second.address).to.not.equal(first.address);
      await resolver.connect(second).rule(id, 6_667);
      await resolver.finalize(id);

      const share = (price * 6_667n) / BPS;
      const fee = (share * FEE_BPS) / BPS;
      expect(await escrow.balanceOf(agent2.address, NATIVE)).to.equal(share - fee);
      expect(await escrow.balanceOf(buyer2.address, NATIVE)).to.equal(amount - share);
      expect(await escrow.balanceOf(treasury.address, NATIVE)).to.equal(fee);
      await expect(escrow.connect(agent2).withdraw(NATIVE)).to.changeEtherBalances(
        ethers,
        [agent2, escrow],
        [share - fee, -(share - fee)],
      );
      await escrow.connect(buyer2).withdraw(NATIVE);
      await escrow.connect(treasury).withdraw(NATIVE);
      expect(await ethers.provider.getBalance(escrow)).to.equal(0n);
    });
  });

  describe("pause", function () {
    it("is for the admin only, and refuses a second pause or an unpause when running", async function () {
      const { resolver, admin, stranger } = await networkHelpers.loadFixture(fixture);
      await expect(resolver.connect(stranger).pause()).to.be.revertedWithCustomError(resolver, "AccessControlUnauthorizedAccount");
      await expect(resolver.connect(admin).unpause()).to.be.revertedWithCustomError(resolver, "ExpectedPause");
      await expect(resolver.connect(admin).pause()).to.emit(resolver, "Paused").withArgs(admin.address);
      await expect(resolver.connect(admin).pause()).to.be.revertedWithCustomError(resolver, "EnforcedPause");
      await expect(resolver.connect(stranger).unpause()).to.be.revertedWithCustomError(resolver, "AccessControlUnauthorizedAccount");
      await expect(resolver.connect(admin).unpause()).to.emit(resolver, "Unpaused").withArgs(admin.address);
    });

    it("stops evidence, rulings, appeals, finalization and reassignment; the escrow can still open disputes", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { resolver, admin, arbitrator, disputeId, buyer } = sys;
      await resolver.connect(admin).pause();
      await expect(resolver.connect(buyer).submitEvidence(disputeId, "ipfs://more")).to.be.revertedWithCustomError(resolver, "EnforcedPause");
      await expect(resolver.connect(arbitrator).rule(disputeId, 5_000n)).to.be.revertedWithCustomError(resolver, "EnforcedPause");
      await expect(resolver.connect(buyer).reassign(disputeId)).to.be.revertedWithCustomError(resolver, "EnforcedPause");
      const second = await deliveredEscrow(sys, "paused-case", { amount: 1_000n, price: 800n });
      await expect(sys.escrow.connect(second.buyer).dispute(second.taskId, "ipfs://while-paused")).to.emit(resolver, "DisputeOpened");
      await resolver.connect(admin).unpause();
      await resolver.connect(arbitrator).rule(disputeId, 6_000n);
      await resolver.connect(admin).pause();
      await expect(resolver.connect(buyer).appeal(disputeId)).to.be.revertedWithCustomError(resolver, "EnforcedPause");
      await networkHelpers.time.increase(APPEAL_WINDOW + 1n);
      await expect(resolver.connect(buyer).finalize(disputeId)).to.be.revertedWithCustomError(resolver, "EnforcedPause");
      await resolver.connect(admin).unpause();
      await expect(resolver.connect(buyer).finalize(disputeId)).to.emit(resolver, "DisputeFinalized");
    });
  });
});
