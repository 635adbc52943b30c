import { expectErc165, IACCESS_CONTROL_ID } from "./erc165.behavior.js";
import { expect } from "chai";
import { network } from "hardhat";

import { ITaskEscrow__factory } from "../../types/ethers-contracts/index.js";
import {
  ACCEPTANCE_WINDOW,
  BPS,
  FEE_BPS,
  NATIVE,
  State,
  USD,
  awardedEscrow,
  conservation,
  deliveredEscrow,
  deployEscrowSystem,
  now,
  openEscrow,
  signPermit,
  taskIdOf,
  fundingAuth,
} from "./fixtures/escrow.js";

const { ethers, networkHelpers } = await network.create();

async function fixture() {
  return deployEscrowSystem(ethers, networkHelpers);
}

const ZERO_HASH = ethers.ZeroHash;
const DAY = 24n * 3600n;

describe("TaskEscrow", function () {
  describe("deployment", function () {
    it("grants the admin role and records the parameters", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, treasury, resolver } = sys;
      expect(await escrow.hasRole(await escrow.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
      expect(await escrow.treasury()).to.equal(treasury.address);
      expect(await escrow.feeBps()).to.equal(FEE_BPS);
      expect(await escrow.acceptanceWindow()).to.equal(ACCEPTANCE_WINDOW);
      expect(await escrow.disputeResolver()).to.equal(await resolver.getAddress());
      expect(await escrow.hasRole(await escrow.RESOLVER_ROLE(), resolver)).to.equal(true);
      expect(await escrow.MAX_FEE_BPS()).to.equal(1000n);
      expect(await escrow.COORDINATOR_ROLE()).to.equal(ethers.id("COORDINATOR_ROLE"));
      expect(await escrow.RESOLVER_ROLE()).to.equal(ethers.id("RESOLVER_ROLE"));
      expect(await escrow.paused()).to.equal(false);
    });

    it("emits the initial parameters for indexers", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { admin, treasury } = sys;
      const escrow = await ethers.deployContract("TaskEscrow", [admin.address, treasury.address, 100, 3600]);
      const tx = escrow.deploymentTransaction();
      await expect(tx).to.emit(escrow, "FeeUpdated").withArgs(0, 100);
      await expect(tx).to.emit(escrow, "TreasuryUpdated").withArgs(NATIVE, treasury.address);
      await expect(tx).to.emit(escrow, "AcceptanceWindowUpdated").withArgs(0, 3600);
      expect(await escrow.disputeResolver()).to.equal(NATIVE);
    });

    it("rejects a zero admin, a zero treasury, a fee above 10% and a zero window", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, treasury } = sys;
      const deploy = (args: unknown[]) => ethers.deployContract("TaskEscrow", args);
      await expect(deploy([NATIVE, treasury.address, 0, 1])).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowZeroAddress",
      );
      await expect(deploy([admin.address, NATIVE, 0, 1])).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowZeroAddress",
      );
      await expect(deploy([admin.address, treasury.address, 1001, 1]))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowFeeTooHigh")
        .withArgs(1001, 1000);
      await expect(deploy([admin.address, treasury.address, 0, 0])).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowInvalidAcceptanceWindow",
      );
    });

    it("reports ERC-165 support for ITaskEscrow and IAccessControl", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow } = sys;
      await expectErc165(escrow, ITaskEscrow__factory.createInterface(), [IACCESS_CONTROL_ID]);
    });
  });

  describe("fund", function () {
    it("holds a native budget and records the escrow", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer } = sys;
      const taskId = taskIdOf(ethers, "native");
      const amount = ethers.parseEther("2");
      const deadline = (await now(networkHelpers)) + DAY;
      const tx = escrow.connect(buyer).fund(taskId, NATIVE, amount, deadline, await fundingAuth(sys, taskId, buyer, NATIVE, amount, deadline), { value: amount });
      await expect(tx)
        .to.emit(escrow, "EscrowFunded")
        .withArgs(taskId, buyer.address, NATIVE, amount, deadline, FEE_BPS);
      await expect(tx).to.changeEtherBalances(ethers, [buyer, escrow], [-amount, amount]);
      const e = await escrow.escrowOf(taskId);
      expect(e.buyer).to.equal(buyer.address);
      expect(e.token).to.equal(NATIVE);
      expect(e.amount).to.equal(amount);
      expect(e.deadline).to.equal(deadline);
      expect(e.feeBps).to.equal(FEE_BPS);
      expect(e.state).to.equal(State.Funded);
      expect(e.agent).to.equal(NATIVE);
      expect(e.price).to.equal(0n);
      expect(await escrow.totalHeld(NATIVE)).to.equal(amount);
    });

    it("pulls an ERC-20 budget from the buyer's wallet", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, token, buyer } = sys;
      const taskId = taskIdOf(ethers, "erc20");
      const amount = 250n * USD;
      const deadline = (await now(networkHelpers)) + DAY;
      await token.connect(buyer).approve(escrow, amount);
      const tx = escrow.connect(buyer).fund(taskId, token, amount, deadline, await fundingAuth(sys, taskId, buyer, token, amount, deadline));
      await expect(tx)
        .to.emit(escrow, "EscrowFunded")
        .withArgs(taskId, buyer.address, await token.getAddress(), amount, deadline, FEE_BPS);
      await expect(tx).to.changeTokenBalances(ethers, token, [buyer, escrow], [-amount, amount]);
      expect(await escrow.totalHeld(token)).to.equal(amount);
      expect((await escrow.escrowOf(taskId)).state).to.equal(State.Funded);
    });

    it("checks msg.value against the token kind", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, token, buyer } = sys;
      const deadline = (await now(networkHelpers)) + DAY;
      await expect(escrow.connect(buyer).fund(taskIdOf(ethers, "a"), NATIVE, 100n, deadline, await fundingAuth(sys, taskIdOf(ethers, "a"), buyer, NATIVE, 100n, deadline), { value: 99n }))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowValueMismatch")
        .withArgs(100n, 99n);
      await token.connect(buyer).approve(escrow, 100n);
      await expect(escrow.connect(buyer).fund(taskIdOf(ethers, "a"), token, 100n, deadline, await fundingAuth(sys, taskIdOf(ethers, "a"), buyer, token, 100n, deadline), { value: 1n }))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowValueMismatch")
        .withArgs(0n, 1n);
    });

    it("rejects the zero task id, a reused task id, a zero amount and a past deadline", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, buyer2 } = sys;
      const t = await now(networkHelpers);
      await expect(
        escrow.connect(buyer).fund(ZERO_HASH, NATIVE, 1n, t + DAY, await fundingAuth(sys, ZERO_HASH, buyer, NATIVE, 1n, t + DAY), { value: 1n }),
      ).to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidTaskId");

      const { taskId } = await openEscrow(sys, "reused", { native: true });
      await expect(escrow.connect(buyer2).fund(taskId, NATIVE, 1n, t + DAY, await fundingAuth(sys, taskId, buyer2, NATIVE, 1n, t + DAY), { value: 1n }))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowAlreadyExists")
        .withArgs(taskId);

      await expect(
        escrow.connect(buyer).fund(taskIdOf(ethers, "zero"), NATIVE, 0n, t + DAY, await fundingAuth(sys, taskIdOf(ethers, "zero"), buyer, NATIVE, 0n, t + DAY)),
      ).to.be.revertedWithCustomError(escrow, "TaskEscrowZeroAmount");

      // The next block is at t + 2 at the earliest: a deadline of t + 1 is already past then.
      await networkHelpers.time.setNextBlockTimestamp(t + 10n);
      await expect(escrow.connect(buyer).fund(taskIdOf(ethers, "late"), NATIVE, 1n, t + 10n, await fundingAuth(sys, taskIdOf(ethers, "late"), buyer, NATIVE, 1n, t + 10n), { value: 1n }))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidDeadline")
        .withArgs(t + 10n);
    });

    it("bubbles the token's error when the allowance is missing", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, token, buyer } = sys;
      const deadline = (await now(networkHelpers)) + DAY;
      await expect(escrow.connect(buyer).fund(taskIdOf(ethers, "x"), token, 5n, deadline, await fundingAuth(sys, taskIdOf(ethers, "x"), buyer, token, 5n, deadline)))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(await escrow.getAddress(), 0n, 5n);
    });

    it("refuses a funding without the coordinator's authorization for this buyer, token, amount and deadline (no squatting)", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, token, buyer, stranger, agent } = sys;
      const taskId = taskIdOf(ethers, "squat");
      const deadline = (await now(networkHelpers)) + DAY;
      const amount = 100n * USD;
      const auth = await fundingAuth(sys, taskId, buyer, token, amount, deadline);
      // A stranger replays the buyer's authorization (copied from the mempool or the API) with 1 wei.
      await expect(escrow.connect(stranger).fund(taskId, NATIVE, 1n, deadline, auth, { value: 1n })).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowUnauthorizedFunding",
      );
      // ...or signs one itself: not a coordinator.
      const own = await fundingAuth(sys, taskId, stranger, NATIVE, 1n, deadline, stranger);
      await expect(escrow.connect(stranger).fund(taskId, NATIVE, 1n, deadline, own, { value: 1n }))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowUnauthorizedFunding")
        .withArgs(stranger.address);
      // Garbage and a signature by another role holder fail too.
      await expect(escrow.connect(stranger).fund(taskId, NATIVE, 1n, deadline, "0x1234", { value: 1n }))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowUnauthorizedFunding")
        .withArgs(NATIVE);
      const byAgent = await fundingAuth(sys, taskId, buyer, token, amount, deadline, agent);
      await token.connect(buyer).approve(escrow, amount);
      await expect(escrow.connect(buyer).fund(taskId, token, amount, deadline, byAgent)).to.be.revertedWithCustomError(escrow, "TaskEscrowUnauthorizedFunding");
      // The buyer itself cannot change the amount, the token or the deadline it was authorized for.
      await expect(escrow.connect(buyer).fund(taskId, token, amount - 1n, deadline, auth)).to.be.revertedWithCustomError(escrow, "TaskEscrowUnauthorizedFunding");
      await expect(escrow.connect(buyer).fund(taskId, token, amount, deadline + 1n, auth)).to.be.revertedWithCustomError(escrow, "TaskEscrowUnauthorizedFunding");
      // The key is still free for its buyer.
      expect((await escrow.escrowOf(taskId)).state).to.equal(State.None);
      await expect(escrow.connect(buyer).fund(taskId, token, amount, deadline, auth)).to.emit(escrow, "EscrowFunded");
      expect((await escrow.escrowOf(taskId)).buyer).to.equal(buyer.address);
      expect(await escrow.FUNDING_AUTHORIZATION_TYPEHASH()).to.equal(
        ethers.id("FundingAuthorization(bytes32 taskId,address buyer,address token,uint256 amount,uint64 deadline)"),
      );
    });

    it("is paused with the contract", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, buyer } = sys;
      await escrow.connect(admin).pause();
      const deadline = (await now(networkHelpers)) + DAY;
      await expect(
        escrow.connect(buyer).fund(taskIdOf(ethers, "p"), NATIVE, 1n, deadline, await fundingAuth(sys, taskIdOf(ethers, "p"), buyer, NATIVE, 1n, deadline), { value: 1n }),
      ).to.be.revertedWithCustomError(escrow, "EnforcedPause");
    });
  });

  describe("fundWithPermit", function () {
    it("funds in one call with an ERC-2612 permit", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, token, buyer } = sys;
      const amount = 40n * USD;
      const t = await now(networkHelpers);
      const { v, r, s } = await signPermit(ethers, token, buyer, await escrow.getAddress(), amount, t + 3600n);
      const taskId = taskIdOf(ethers, "permit");
      const tx = escrow.connect(buyer).fundWithPermit(taskId, token, amount, t + DAY, t + 3600n, v, r, s, await fundingAuth(sys, taskId, buyer, token, amount, t + DAY));
      await expect(tx)
        .to.emit(escrow, "EscrowFunded")
        .withArgs(taskId, buyer.address, await token.getAddress(), amount, t + DAY, FEE_BPS);
      await expect(tx).to.changeTokenBalances(ethers, token, [buyer, escrow], [-amount, amount]);
      expect(await token.nonces(buyer.address)).to.equal(1n);
      expect(await token.allowance(buyer.address, escrow)).to.equal(0n);
    });

    it("still funds when the permit was front-run", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, token, buyer, stranger } = sys;
      const amount = 40n * USD;
      const t = await now(networkHelpers);
      const spender = await escrow.getAddress();
      const { v, r, s } = await signPermit(ethers, token, buyer, spender, amount, t + 3600n);
      // Someone copies the signature from the mempool and submits it first.
      await token.connect(stranger).permit(buyer.address, spender, amount, t + 3600n, v, r, s);
      const taskId = taskIdOf(ethers, "frontrun");
      await expect(
        escrow.connect(buyer).fundWithPermit(taskId, token, amount, t + DAY, t + 3600n, v, r, s, await fundingAuth(sys, taskId, buyer, token, amount, t + DAY)),
      ).to.changeTokenBalances(ethers, token, [buyer, escrow], [-amount, amount]);
      expect((await escrow.escrowOf(taskId)).amount).to.equal(amount);
    });

    it("fails clearly when the permit is invalid and no allowance covers the amount", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, token, buyer } = sys;
      const amount = 40n * USD;
      const t = await now(networkHelpers);
      // Signed for a smaller value than the one funded: the recovered signer will not match.
      const { v, r, s } = await signPermit(ethers, token, buyer, await escrow.getAddress(), amount - 1n, t + 3600n);
      await token.connect(buyer).approve(escrow, amount - 1n);
      await expect(
        escrow.connect(buyer).fundWithPermit(taskIdOf(ethers, "bad"), token, amount, t + DAY, t + 3600n, v, r, s, await fundingAuth(sys, taskIdOf(ethers, "bad"), buyer, token, amount, t + DAY)),
      )
        .to.be.revertedWithCustomError(escrow, "TaskEscrowPermitFailed")
        .withArgs(amount - 1n, amount);
    });

    it("rejects the native currency and is paused with the contract", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, buyer } = sys;
      const t = await now(networkHelpers);
      await expect(
        escrow.connect(buyer).fundWithPermit(taskIdOf(ethers, "n"), NATIVE, 1n, t + DAY, t + DAY, 27, ZERO_HASH, ZERO_HASH, await fundingAuth(sys, taskIdOf(ethers, "n"), buyer, NATIVE, 1n, t + DAY)),
      ).to.be.revertedWithCustomError(escrow, "TaskEscrowZeroAddress");
      await escrow.connect(admin).pause();
      await expect(
        escrow.connect(buyer).fundWithPermit(taskIdOf(ethers, "n"), NATIVE, 1n, t + DAY, t + DAY, 27, ZERO_HASH, ZERO_HASH, await fundingAuth(sys, taskIdOf(ethers, "n"), buyer, NATIVE, 1n, t + DAY)),
      ).to.be.revertedWithCustomError(escrow, "EnforcedPause");
    });
  });

  describe("award", function () {
    it("records the winner and keeps the whole budget held until the escrow ends", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, coordinator, agent, buyer } = sys;
      const { taskId, amount, token } = await openEscrow(sys, "award");
      const price = 70n * USD;
      await expect(escrow.connect(coordinator).award(taskId, agent.address, price))
        .to.emit(escrow, "EscrowAwarded")
        .withArgs(taskId, buyer.address, agent.address, token, price);
      const e = await escrow.escrowOf(taskId);
      expect(e.state).to.equal(State.Awarded);
      expect(e.agent).to.equal(agent.address);
      expect(e.price).to.equal(price);
      expect(await escrow.balanceOf(buyer.address, token)).to.equal(0n);
      expect(await escrow.totalHeld(token)).to.equal(amount);
    });

    it("awards the whole budget", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, coordinator, agent, buyer } = sys;
      const { taskId, amount, token } = await openEscrow(sys, "full", { native: true });
      await expect(escrow.connect(coordinator).award(taskId, agent.address, amount))
        .to.emit(escrow, "EscrowAwarded")
        .withArgs(taskId, buyer.address, agent.address, token, amount);
      expect(await escrow.balanceOf(buyer.address, token)).to.equal(0n);
    });

    it("re-awards to a runner-up at a higher price, and the release pays that runner-up", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, coordinator, agent, agent2, buyer } = sys;
      const { taskId, amount, token } = await awardedEscrow(sys, "failover", { price: 60n * USD });
      // The reproduction of the failover bug: a higher runner-up price is always covered.
      await expect(escrow.connect(coordinator).award(taskId, agent2.address, 80n * USD))
        .to.emit(escrow, "EscrowAwarded")
        .withArgs(taskId, buyer.address, agent2.address, token, 80n * USD);
      expect(await escrow.totalHeld(token)).to.equal(amount);
      await escrow.connect(agent2).deliver(taskId, ethers.id("result"));
      const fee = (80n * USD * FEE_BPS) / BPS;
      await expect(escrow.connect(buyer).release(taskId))
        .to.emit(escrow, "EscrowReleased")
        .withArgs(taskId, buyer.address, agent2.address, token, 80n * USD - fee, fee, amount - 80n * USD, buyer.address);
      expect(await escrow.balanceOf(agent2.address, token)).to.equal(80n * USD - fee);
      expect(await escrow.balanceOf(agent.address, token)).to.equal(0n);
      expect(await escrow.balanceOf(buyer.address, token)).to.equal(amount - 80n * USD);
      const c = await conservation(sys, token, [buyer.address, agent.address, agent2.address, sys.treasury.address]);
      expect(c.contractBalance).to.equal(c.held + c.credited);
    });

    it("leaves the buyer nothing to withdraw while the escrow is open", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer } = sys;
      const { token } = await awardedEscrow(sys, "withdrawn", { price: 60n * USD });
      await expect(escrow.connect(buyer).withdraw(token)).to.be.revertedWithCustomError(escrow, "TaskEscrowNothingToWithdraw");
    });

    it("is for the coordinator only", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, agent, buyer } = sys;
      const { taskId } = await openEscrow(sys, "role");
      await expect(escrow.connect(buyer).award(taskId, agent.address, 1n))
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(buyer.address, await escrow.COORDINATOR_ROLE());
    });

    it("rejects unknown or delivered escrows, a zero agent, a bad price and a passed deadline", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, coordinator, agent } = sys;
      const unknown = taskIdOf(ethers, "unknown");
      await expect(escrow.connect(coordinator).award(unknown, agent.address, 1n))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(unknown, State.None);
      const delivered = await deliveredEscrow(sys, "delivered");
      await expect(escrow.connect(coordinator).award(delivered.taskId, agent.address, 1n))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(delivered.taskId, State.Delivered);

      const { taskId, amount, deadline } = await openEscrow(sys, "checks");
      await expect(escrow.connect(coordinator).award(taskId, NATIVE, 1n)).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowInvalidAgent",
      );
      await expect(escrow.connect(coordinator).award(taskId, agent.address, 0n))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidPrice")
        .withArgs(0n, amount);
      await expect(escrow.connect(coordinator).award(taskId, agent.address, amount + 1n))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidPrice")
        .withArgs(amount + 1n, amount);
      await networkHelpers.time.increaseTo(deadline);
      await expect(escrow.connect(coordinator).award(taskId, agent.address, 1n))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowDeadlinePassed")
        .withArgs(deadline);
    });

    it("is paused with the contract", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, coordinator, agent, admin } = sys;
      const { taskId } = await openEscrow(sys, "paused");
      await escrow.connect(admin).pause();
      await expect(escrow.connect(coordinator).award(taskId, agent.address, 1n)).to.be.revertedWithCustomError(
        escrow,
        "EnforcedPause",
      );
    });
  });

  describe("deliver", function () {
    it("is attested by the agent and starts the acceptance window", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, agent } = sys;
      const { taskId } = await awardedEscrow(sys, "deliver");
      const hash = ethers.id("result");
      const at = (await now(networkHelpers)) + 5n;
      await networkHelpers.time.setNextBlockTimestamp(at);
      await expect(escrow.connect(agent).deliver(taskId, hash))
        .to.emit(escrow, "ResultDelivered")
        .withArgs(taskId, agent.address, hash, at, at + ACCEPTANCE_WINDOW, agent.address);
      const e = await escrow.escrowOf(taskId);
      expect(e.state).to.equal(State.Delivered);
      expect(e.deliveredAt).to.equal(at);
      expect(e.acceptanceEndsAt).to.equal(at + ACCEPTANCE_WINDOW);
      expect(e.resultHash).to.equal(hash);
    });

    it("can be attested by the coordinator for the agent, up to the deadline", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, agent, coordinator } = sys;
      const { taskId, deadline } = await awardedEscrow(sys, "attest");
      await networkHelpers.time.setNextBlockTimestamp(deadline);
      await expect(escrow.connect(coordinator).deliver(taskId, ethers.id("r")))
        .to.emit(escrow, "ResultDelivered")
        .withArgs(taskId, agent.address, ethers.id("r"), deadline, deadline + ACCEPTANCE_WINDOW, coordinator.address);
    });

    it("is refused to anyone else, including an agent replaced by a re-award", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, agent, agent2, coordinator, buyer } = sys;
      const { taskId, price } = await awardedEscrow(sys, "who");
      await escrow.connect(coordinator).award(taskId, agent2.address, price);
      await expect(escrow.connect(agent).deliver(taskId, ethers.id("r")))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowNotAgent")
        .withArgs(agent.address);
      await expect(escrow.connect(buyer).deliver(taskId, ethers.id("r")))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowNotAgent")
        .withArgs(buyer.address);
    });

    it("rejects a funded escrow, a passed deadline and a zero hash, and is pausable", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, agent, admin } = sys;
      const funded = await openEscrow(sys, "funded");
      await expect(escrow.connect(agent).deliver(funded.taskId, ethers.id("r")))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(funded.taskId, State.Funded);
      const { taskId, deadline } = await awardedEscrow(sys, "late");
      await expect(escrow.connect(agent).deliver(taskId, ZERO_HASH)).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowInvalidResultHash",
      );
      await escrow.connect(admin).pause();
      await expect(escrow.connect(agent).deliver(taskId, ethers.id("r"))).to.be.revertedWithCustomError(
        escrow,
        "EnforcedPause",
      );
      await escrow.connect(admin).unpause();
      await networkHelpers.time.increaseTo(deadline);
      await expect(escrow.connect(agent).deliver(taskId, ethers.id("r")))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowDeadlinePassed")
        .withArgs(deadline);
    });
  });

  describe("release", function () {
    it("lets the buyer accept a delivery: price less the fee to the agent, the fee to the treasury", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, agent, treasury } = sys;
      const { taskId, price, amount, token } = await deliveredEscrow(sys, "accept");
      const fee = (price * FEE_BPS) / BPS;
      await expect(escrow.connect(buyer).release(taskId))
        .to.emit(escrow, "EscrowReleased")
        .withArgs(taskId, buyer.address, agent.address, token, price - fee, fee, amount - price, buyer.address);
      expect((await escrow.escrowOf(taskId)).state).to.equal(State.Released);
      expect(await escrow.balanceOf(agent.address, token)).to.equal(price - fee);
      expect(await escrow.balanceOf(treasury.address, token)).to.equal(fee);
      expect(await escrow.totalHeld(token)).to.equal(0n);
      const c = await conservation(sys, token, [buyer.address, agent.address, treasury.address]);
      expect(c.contractBalance).to.equal(c.held + c.credited);
    });

    it("lets the buyer release early, before delivery", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, agent } = sys;
      const { taskId, price, amount, token } = await awardedEscrow(sys, "early", { native: true });
      const fee = (price * FEE_BPS) / BPS;
      await expect(escrow.connect(buyer).release(taskId))
        .to.emit(escrow, "EscrowReleased")
        .withArgs(taskId, buyer.address, agent.address, token, price - fee, fee, amount - price, buyer.address);
    });

    it("lets the coordinator release only after the acceptance window (silence is acceptance)", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, agent, coordinator } = sys;
      const { taskId, price, amount, token } = await deliveredEscrow(sys, "silence");
      const endsAt = (await escrow.escrowOf(taskId)).acceptanceEndsAt;
      await networkHelpers.time.setNextBlockTimestamp(endsAt);
      await expect(escrow.connect(coordinator).release(taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowAcceptanceWindowOpen")
        .withArgs(endsAt);
      await networkHelpers.time.increaseTo(endsAt + 1n);
      const fee = (price * FEE_BPS) / BPS;
      await expect(escrow.connect(coordinator).release(taskId))
        .to.emit(escrow, "EscrowReleased")
        .withArgs(taskId, buyer.address, agent.address, token, price - fee, fee, amount - price, coordinator.address);
    });

    it("uses the fee snapshotted at funding and the treasury in force at release", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, agent, admin, stranger, treasury } = sys;
      const { taskId, price, token } = await deliveredEscrow(sys, "snapshot");
      await escrow.connect(admin).setFeeBps(0);
      await escrow.connect(admin).setTreasury(stranger.address);
      const fee = (price * FEE_BPS) / BPS;
      await escrow.connect(buyer).release(taskId);
      expect(await escrow.balanceOf(stranger.address, token)).to.equal(fee);
      expect(await escrow.balanceOf(treasury.address, token)).to.equal(0n);
      // A task funded after the change pays no fee.
      const later = await deliveredEscrow(sys, "nofee");
      await expect(escrow.connect(buyer).release(later.taskId))
        .to.emit(escrow, "EscrowReleased")
        .withArgs(later.taskId, buyer.address, agent.address, token, later.price, 0n, later.amount - later.price, buyer.address);
    });

    it("refuses other callers and states", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, agent, coordinator, stranger } = sys;
      const funded = await openEscrow(sys, "funded");
      await expect(escrow.connect(buyer).release(funded.taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(funded.taskId, State.Funded);
      const awarded = await awardedEscrow(sys, "awarded");
      await expect(escrow.connect(coordinator).release(awarded.taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(awarded.taskId, State.Awarded);
      await expect(escrow.connect(agent).release(awarded.taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowNotBuyer")
        .withArgs(agent.address);
      await expect(escrow.connect(stranger).release(awarded.taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowNotBuyer")
        .withArgs(stranger.address);
    });

    it("is paused with the contract", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, admin } = sys;
      const { taskId } = await deliveredEscrow(sys, "paused");
      await escrow.connect(admin).pause();
      await expect(escrow.connect(buyer).release(taskId)).to.be.revertedWithCustomError(escrow, "EnforcedPause");
    });
  });

  describe("refund", function () {
    it("returns the whole budget of a funded escrow to the buyer", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, coordinator, buyer } = sys;
      const { taskId, amount, token } = await openEscrow(sys, "nobids", { native: true });
      await expect(escrow.connect(coordinator).refund(taskId))
        .to.emit(escrow, "EscrowRefunded")
        .withArgs(taskId, buyer.address, token, amount);
      expect((await escrow.escrowOf(taskId)).state).to.equal(State.Refunded);
      expect(await escrow.balanceOf(buyer.address, token)).to.equal(amount);
      expect(await escrow.totalHeld(token)).to.equal(0n);
    });

    it("returns the whole budget of an awarded escrow", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, coordinator, buyer } = sys;
      const { taskId, amount, token } = await awardedEscrow(sys, "failed");
      await expect(escrow.connect(coordinator).refund(taskId))
        .to.emit(escrow, "EscrowRefunded")
        .withArgs(taskId, buyer.address, token, amount);
      expect(await escrow.balanceOf(buyer.address, token)).to.equal(amount);
    });

    it("is for the coordinator only, before delivery, and pausable", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, coordinator, buyer, admin } = sys;
      const funded = await openEscrow(sys, "f");
      await expect(escrow.connect(buyer).refund(funded.taskId))
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(buyer.address, await escrow.COORDINATOR_ROLE());
      const delivered = await deliveredEscrow(sys, "d");
      await expect(escrow.connect(coordinator).refund(delivered.taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(delivered.taskId, State.Delivered);
      await escrow.connect(admin).pause();
      await expect(escrow.connect(coordinator).refund(funded.taskId)).to.be.revertedWithCustomError(
        escrow,
        "EnforcedPause",
      );
    });
  });

  describe("reclaim", function () {
    it("lets the buyer reclaim an undelivered escrow after its deadline", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer } = sys;
      const funded = await openEscrow(sys, "funded", { native: true });
      const awarded = await awardedEscrow(sys, "awarded", { native: true });
      await networkHelpers.time.setNextBlockTimestamp(funded.deadline);
      await expect(escrow.connect(buyer).reclaim(funded.taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowDeadlineNotReached")
        .withArgs(funded.deadline);
      await networkHelpers.time.increaseTo(awarded.deadline);
      await expect(escrow.connect(buyer).reclaim(funded.taskId))
        .to.emit(escrow, "EscrowReclaimed")
        .withArgs(funded.taskId, buyer.address, NATIVE, funded.amount);
      await expect(escrow.connect(buyer).reclaim(awarded.taskId))
        .to.emit(escrow, "EscrowReclaimed")
        .withArgs(awarded.taskId, buyer.address, NATIVE, awarded.amount);
      expect(await escrow.balanceOf(buyer.address, NATIVE)).to.equal(funded.amount + awarded.amount);
      expect((await escrow.escrowOf(awarded.taskId)).state).to.equal(State.Refunded);
      await expect(escrow.connect(buyer).withdraw(NATIVE)).to.changeEtherBalances(
        ethers,
        [buyer, escrow],
        [funded.amount + awarded.amount, -(funded.amount + awarded.amount)],
      );
    });

    it("is for the buyer only, before delivery, and pausable", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, agent, admin } = sys;
      const funded = await openEscrow(sys, "f");
      const delivered = await deliveredEscrow(sys, "d");
      await networkHelpers.time.increaseTo(delivered.deadline + 1n);
      await expect(escrow.connect(agent).reclaim(funded.taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowNotBuyer")
        .withArgs(agent.address);
      await expect(escrow.connect(buyer).reclaim(delivered.taskId))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(delivered.taskId, State.Delivered);
      await escrow.connect(admin).pause();
      await expect(escrow.connect(buyer).reclaim(funded.taskId)).to.be.revertedWithCustomError(
        escrow,
        "EnforcedPause",
      );
    });
  });

  describe("dispute", function () {
    it("opens a dispute on the resolver within the acceptance window", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, resolver, buyer, agent } = sys;
      const { taskId } = await deliveredEscrow(sys, "contested");
      const endsAt = (await escrow.escrowOf(taskId)).acceptanceEndsAt;
      await networkHelpers.time.setNextBlockTimestamp(endsAt);
      const tx = escrow.connect(buyer).dispute(taskId, "ipfs://evidence");
      await expect(tx).to.emit(escrow, "EscrowDisputed").withArgs(taskId, buyer.address, 1n);
      await expect(tx).to.emit(resolver, "DisputeOpened");
      const e = await escrow.escrowOf(taskId);
      expect(e.state).to.equal(State.Disputed);
      expect(e.disputeId).to.equal(1n);
      const d = await resolver.disputeOf(1n);
      expect(d.buyer).to.equal(buyer.address);
      expect(d.agent).to.equal(agent.address);
      expect(d.openedBy).to.equal(buyer.address);
      expect(d.escrow).to.equal(await escrow.getAddress());
    });

    it("can be opened by the agent", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, agent } = sys;
      const { taskId } = await deliveredEscrow(sys, "agent-side");
      await expect(escrow.connect(agent).dispute(taskId, ""))
        .to.emit(escrow, "EscrowDisputed")
        .withArgs(taskId, agent.address, 1n);
    });

    it("refuses strangers, undelivered escrows, a closed window and a missing resolver", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, stranger, admin, treasury, coordinator, agent } = sys;
      const awarded = await awardedEscrow(sys, "a");
      await expect(escrow.connect(buyer).dispute(awarded.taskId, ""))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(awarded.taskId, State.Awarded);
      const { taskId } = await deliveredEscrow(sys, "d");
      await expect(escrow.connect(stranger).dispute(taskId, ""))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowNotParty")
        .withArgs(stranger.address);
      await escrow.connect(admin).pause();
      await expect(escrow.connect(buyer).dispute(taskId, "")).to.be.revertedWithCustomError(escrow, "EnforcedPause");
      await escrow.connect(admin).unpause();
      const endsAt = (await escrow.escrowOf(taskId)).acceptanceEndsAt;
      await networkHelpers.time.increaseTo(endsAt + 1n);
      await expect(escrow.connect(buyer).dispute(taskId, ""))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowAcceptanceWindowClosed")
        .withArgs(endsAt);

      // An escrow deployed without a resolver cannot open disputes.
      const bare = await ethers.deployContract("TaskEscrow", [admin.address, treasury.address, 0, 3600]);
      await bare.grantRole(await bare.COORDINATOR_ROLE(), coordinator.address);
      const id = taskIdOf(ethers, "bare");
      const deadline = (await now(networkHelpers)) + DAY;
      await bare.connect(buyer).fund(id, NATIVE, 10n, deadline, await fundingAuth({ ...sys, escrow: bare }, id, buyer, NATIVE, 10n, deadline), { value: 10n });
      await bare.connect(coordinator).award(id, agent.address, 10n);
      await bare.connect(agent).deliver(id, ethers.id("r"));
      await expect(bare.connect(buyer).dispute(id, "")).to.be.revertedWithCustomError(
        bare,
        "TaskEscrowDisputeResolverUnset",
      );
    });
  });

  describe("executeRuling", function () {
    /** The fixture plus a delivered, disputed task, with a stand-in resolver wallet to rule on it. */
    async function disputed() {
      const sys = await networkHelpers.loadFixture(fixture);
      // A stand-in resolver wallet, so the split can be driven directly.
      await sys.escrow.grantRole(await sys.escrow.RESOLVER_ROLE(), sys.stranger.address);
      const d = await deliveredEscrow(sys, "ruled", { amount: 1_000_003n, price: 1_000_001n });
      await sys.escrow.connect(d.buyer).dispute(d.taskId, "ipfs://why");
      const { token: tokenAddress, ...task } = d;
      return { ...sys, ...task, tokenAddress, ruler: sys.stranger };
    }

    for (const bps of [0n, 3_333n, 5_000n, 10_000n]) {
      it(`splits the price at ${bps} bps with the fee on the agent's share only`, async function () {
        const sys = await disputed();
        const { escrow, ruler, taskId, price, tokenAddress: token, buyer, agent, treasury, amount } = sys;
        const share = (price * bps) / BPS;
        const fee = (share * FEE_BPS) / BPS;
        await expect(escrow.connect(ruler).executeRuling(taskId, bps))
          .to.emit(escrow, "RulingExecuted")
          .withArgs(taskId, buyer.address, agent.address, token, bps, share - fee, amount - share, fee);
        expect((await escrow.escrowOf(taskId)).state).to.equal(State.Resolved);
        expect(await escrow.balanceOf(agent.address, token)).to.equal(share - fee);
        expect(await escrow.balanceOf(buyer.address, token)).to.equal(amount - price + price - share);
        expect(await escrow.balanceOf(treasury.address, token)).to.equal(fee);
        const c = await conservation(sys, token, [buyer.address, agent.address, treasury.address]);
        expect(c.held).to.equal(0n);
        expect(c.contractBalance).to.equal(c.credited);
      });
    }

    it("is for the resolver role only, once, with a share of at most 10 000 bps", async function () {
      const sys = await disputed();
      const { escrow, ruler, taskId, buyer, coordinator } = sys;
      await expect(escrow.connect(coordinator).executeRuling(taskId, 1))
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(coordinator.address, await escrow.RESOLVER_ROLE());
      await expect(escrow.connect(buyer).executeRuling(taskId, 1))
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(buyer.address, await escrow.RESOLVER_ROLE());
      await expect(escrow.connect(ruler).executeRuling(taskId, 10_001))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidShare")
        .withArgs(10_001);
      await escrow.connect(ruler).executeRuling(taskId, 10_000);
      await expect(escrow.connect(ruler).executeRuling(taskId, 10_000))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowInvalidState")
        .withArgs(taskId, State.Resolved);
    });

    it("is paused with the contract", async function () {
      const sys = await disputed();
      const { escrow, ruler, taskId, admin } = sys;
      await escrow.connect(admin).pause();
      await expect(escrow.connect(ruler).executeRuling(taskId, 1)).to.be.revertedWithCustomError(
        escrow,
        "EnforcedPause",
      );
    });
  });

  describe("withdraw", function () {
    it("pays out native and ERC-20 balances to agents, buyers and the treasury", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, token, buyer, agent, treasury } = sys;
      const n = await deliveredEscrow(sys, "n", { native: true });
      const t = await deliveredEscrow(sys, "t");
      await escrow.connect(buyer).release(n.taskId);
      await escrow.connect(buyer).release(t.taskId);
      const nFee = (n.price * FEE_BPS) / BPS;
      const tFee = (t.price * FEE_BPS) / BPS;

      await expect(escrow.connect(agent).withdraw(NATIVE))
        .to.emit(escrow, "Withdrawn")
        .withArgs(agent.address, NATIVE, n.price - nFee);
      await expect(escrow.connect(treasury).withdraw(NATIVE)).to.changeEtherBalances(
        ethers,
        [treasury, escrow],
        [nFee, -nFee],
      );
      await expect(escrow.connect(buyer).withdraw(NATIVE)).to.changeEtherBalances(
        ethers,
        [buyer, escrow],
        [n.amount - n.price, -(n.amount - n.price)],
      );
      await expect(escrow.connect(agent).withdraw(token)).to.changeTokenBalances(
        ethers,
        token,
        [agent, escrow],
        [t.price - tFee, -(t.price - tFee)],
      );
      await expect(escrow.connect(treasury).withdraw(token))
        .to.emit(escrow, "Withdrawn")
        .withArgs(treasury.address, await token.getAddress(), tFee);
      await escrow.connect(buyer).withdraw(token);
      expect(await ethers.provider.getBalance(escrow)).to.equal(0n);
      expect(await token.balanceOf(escrow)).to.equal(0n);
      expect(await escrow.balanceOf(agent.address, token)).to.equal(0n);
    });

    it("reverts when there is nothing to withdraw", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, stranger, token } = sys;
      await expect(escrow.connect(stranger).withdraw(NATIVE)).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowNothingToWithdraw",
      );
      await expect(escrow.connect(stranger).withdraw(token)).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowNothingToWithdraw",
      );
    });

    it("stays open while the contract is paused", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, admin } = sys;
      const { taskId, token, amount, price } = await awardedEscrow(sys, "exit", { native: true });
      await escrow.connect(buyer).release(taskId);
      await escrow.connect(admin).pause();
      await expect(escrow.connect(buyer).withdraw(token)).to.changeEtherBalances(
        ethers,
        [buyer, escrow],
        [amount - price, -(amount - price)],
      );
    });

    it("reports a failed native transfer and keeps the balance", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, admin, resolver } = sys;
      // The resolver contract has no receive(): make it the treasury, credit it a fee, then withdraw as it.
      const account = await resolver.getAddress();
      await escrow.connect(admin).setTreasury(account);
      const { taskId, price } = await deliveredEscrow(sys, "reject", { native: true });
      await escrow.connect(buyer).release(taskId);
      const fee = (price * FEE_BPS) / BPS;
      await networkHelpers.impersonateAccount(account);
      await networkHelpers.setBalance(account, ethers.parseEther("1"));
      const asContract = await ethers.getSigner(account);
      await expect(escrow.connect(asContract).withdraw(NATIVE))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowNativeTransferFailed")
        .withArgs(account, fee);
      expect(await escrow.balanceOf(account, NATIVE)).to.equal(fee);
    });
  });

  describe("admin", function () {
    it("pauses and unpauses", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, stranger } = sys;
      const adminRole = await escrow.DEFAULT_ADMIN_ROLE();
      await expect(escrow.connect(stranger).pause())
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, adminRole);
      await expect(escrow.connect(admin).unpause()).to.be.revertedWithCustomError(escrow, "ExpectedPause");
      await expect(escrow.connect(admin).pause()).to.emit(escrow, "Paused").withArgs(admin.address);
      await expect(escrow.connect(admin).pause()).to.be.revertedWithCustomError(escrow, "EnforcedPause");
      await expect(escrow.connect(stranger).unpause())
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, adminRole);
      await expect(escrow.connect(admin).unpause()).to.emit(escrow, "Unpaused").withArgs(admin.address);
    });

    it("sets the fee up to 10%", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, coordinator } = sys;
      await expect(escrow.connect(admin).setFeeBps(1000)).to.emit(escrow, "FeeUpdated").withArgs(FEE_BPS, 1000);
      expect(await escrow.feeBps()).to.equal(1000n);
      await expect(escrow.connect(admin).setFeeBps(1001))
        .to.be.revertedWithCustomError(escrow, "TaskEscrowFeeTooHigh")
        .withArgs(1001, 1000);
      await expect(escrow.connect(coordinator).setFeeBps(0))
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(coordinator.address, await escrow.DEFAULT_ADMIN_ROLE());
    });

    it("sets the treasury", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, treasury, stranger } = sys;
      await expect(escrow.connect(admin).setTreasury(stranger.address))
        .to.emit(escrow, "TreasuryUpdated")
        .withArgs(treasury.address, stranger.address);
      expect(await escrow.treasury()).to.equal(stranger.address);
      await expect(escrow.connect(admin).setTreasury(NATIVE)).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowZeroAddress",
      );
      await expect(escrow.connect(stranger).setTreasury(stranger.address))
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, await escrow.DEFAULT_ADMIN_ROLE());
    });

    it("sets the acceptance window for later deliveries", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, stranger, agent } = sys;
      await expect(escrow.connect(admin).setAcceptanceWindow(60))
        .to.emit(escrow, "AcceptanceWindowUpdated")
        .withArgs(ACCEPTANCE_WINDOW, 60);
      const { taskId } = await awardedEscrow(sys, "short");
      await escrow.connect(agent).deliver(taskId, ethers.id("r"));
      const e = await escrow.escrowOf(taskId);
      expect(e.acceptanceEndsAt - e.deliveredAt).to.equal(60n);
      await expect(escrow.connect(admin).setAcceptanceWindow(0)).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowInvalidAcceptanceWindow",
      );
      await expect(escrow.connect(stranger).setAcceptanceWindow(1))
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, await escrow.DEFAULT_ADMIN_ROLE());
    });

    it("sets the dispute resolver and grants it the resolver role", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, admin, stranger, resolver } = sys;
      const role = await escrow.RESOLVER_ROLE();
      await expect(escrow.connect(admin).setDisputeResolver(stranger.address))
        .to.emit(escrow, "DisputeResolverUpdated")
        .withArgs(await resolver.getAddress(), stranger.address);
      expect(await escrow.disputeResolver()).to.equal(stranger.address);
      expect(await escrow.hasRole(role, stranger.address)).to.equal(true);
      // The former resolver keeps its role for disputes already open on it.
      expect(await escrow.hasRole(role, resolver)).to.equal(true);
      await expect(escrow.connect(admin).setDisputeResolver(NATIVE)).to.be.revertedWithCustomError(
        escrow,
        "TaskEscrowZeroAddress",
      );
      await expect(escrow.connect(stranger).setDisputeResolver(stranger.address))
        .to.be.revertedWithCustomError(escrow, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, await escrow.DEFAULT_ADMIN_ROLE());
    });
  });

  describe("money conservation across a mixed run", function () {
    it("balances = held + credited for both tokens after every step", async function () {
      const sys = await networkHelpers.loadFixture(fixture);
      const { escrow, buyer, buyer2, agent, agent2, coordinator, treasury, token } = sys;
      const accounts = [buyer, buyer2, agent, agent2, treasury].map((s) => s.address);
      const check = async () => {
        for (const t of [NATIVE, await token.getAddress()]) {
          const c = await conservation(sys, t, accounts);
          expect(c.contractBalance).to.equal(c.held + c.credited);
        }
      };
      for (const native of [true, false]) {
        const a = await deliveredEscrow(sys, `a${native}`, { native, price: native ? 333_333_333n : 7n });
        await check();
        const b = await awardedEscrow(sys, `b${native}`, { native, buyer: buyer2, agent: agent2 });
        await escrow.connect(coordinator).award(b.taskId, agent.address, b.amount);
        await check();
        await escrow.connect(buyer).release(a.taskId);
        await escrow.connect(coordinator).refund(b.taskId);
        await check();
        await escrow.connect(agent).withdraw(a.token);
        await escrow.connect(buyer2).withdraw(b.token);
        await check();
      }
    });
  });
});
