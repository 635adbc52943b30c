// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {TestBase} from "./utils/Vm.sol";
import {FeeOnTransferToken} from "./utils/FeeOnTransferToken.sol";
import {EscrowAuth} from "./utils/EscrowAuth.sol";
import {AICPTestToken} from "../../contracts/test/AICPTestToken.sol";
import {TaskEscrow} from "../../contracts/TaskEscrow.sol";
import {DisputeResolver} from "../../contracts/DisputeResolver.sol";
import {ITaskEscrow} from "../../contracts/interfaces/ITaskEscrow.sol";
import {IDisputeResolver} from "../../contracts/interfaces/IDisputeResolver.sol";
import {TaskId} from "../../contracts/types/TaskId.sol";
import {DisputeId} from "../../contracts/types/DisputeId.sol";

/// @dev A contract buyer whose receive() either reverts or tries to withdraw a second time.
contract ContractBuyer {
    error ContractBuyerRefused();

    TaskEscrow internal immutable escrow;
    bool internal reenter;
    bytes public reentryError;
    uint256 public received;

    constructor(TaskEscrow escrow_) {
        escrow = escrow_;
    }

    function fund(TaskId taskId, uint64 deadline, bytes calldata authorization) external payable {
        escrow.fund{value: msg.value}(taskId, address(0), msg.value, deadline, authorization);
    }

    function withdraw(bool reenter_) external returns (uint256) {
        reenter = reenter_;
        return escrow.withdraw(address(0));
    }

    receive() external payable {
        if (!reenter) revert ContractBuyerRefused();
        received += msg.value;
        try escrow.withdraw(address(0)) {} catch (bytes memory err) {
            reentryError = err;
        }
    }
}

/// @notice Unit and fuzz tests of TaskEscrow + DisputeResolver that need Solidity: hostile tokens and
/// receivers, and the split arithmetic over the whole input space.
contract TaskEscrowTest is TestBase {
    TaskEscrow internal escrow;
    DisputeResolver internal resolver;
    AICPTestToken internal token;

    address internal constant TREASURY = address(0x7EA5);
    uint256 internal constant COORDINATOR_KEY = 0xC00D;
    address internal immutable COORDINATOR = vm.addr(COORDINATOR_KEY);
    address internal constant BUYER = address(0xB0B);
    address internal constant AGENT = address(0xA6E7);
    address[3] internal arbitrators = [address(0xA1), address(0xA2), address(0xA3)];

    uint64 internal constant WINDOW = 3 days;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new AICPTestToken();
        (escrow, resolver) = _deploy(250);
    }

    function _deploy(uint16 feeBps) internal returns (TaskEscrow e, DisputeResolver r) {
        e = new TaskEscrow(address(this), TREASURY, feeBps, WINDOW);
        r = new DisputeResolver(address(this), 7 days, 2 days);
        e.grantRole(e.COORDINATOR_ROLE(), COORDINATOR);
        e.setDisputeResolver(address(r));
        r.grantRole(r.ESCROW_ROLE(), address(e));
        for (uint256 i; i < arbitrators.length; ++i) r.grantRole(r.ARBITRATOR_ROLE(), arbitrators[i]);
    }

    function _id(uint256 n) internal pure returns (TaskId) {
        return TaskId.wrap(keccak256(abi.encode("task", n)));
    }

    /// @dev The coordinator's funding authorization of `buyer` on `e`.
    function _auth(TaskEscrow e, TaskId id, address buyer, address tok, uint256 amount, uint64 deadline) internal view returns (bytes memory) {
        return EscrowAuth.sign(vm, COORDINATOR_KEY, e, id, buyer, tok, amount, deadline);
    }

    /// @dev Funds (native), awards at `price` and delivers a task on `e`.
    function _delivered(TaskEscrow e, TaskId id, uint256 amount, uint256 price) internal {
        vm.deal(BUYER, amount);
        uint64 deadline = uint64(block.timestamp + 1 days);
        bytes memory auth = _auth(e, id, BUYER, address(0), amount, deadline);
        vm.prank(BUYER);
        e.fund{value: amount}(id, address(0), amount, deadline, auth);
        vm.prank(COORDINATOR);
        e.award(id, AGENT, price);
        vm.prank(AGENT);
        e.deliver(id, keccak256("result"));
    }

    // ------------------------------------------------------------------------------------------
    // Hostile tokens and receivers
    // ------------------------------------------------------------------------------------------

    function test_feeOnTransferTokenIsRefused() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        fot.mint(BUYER, 1_000);
        vm.prank(BUYER);
        fot.approve(address(escrow), 1_000);
        uint64 deadline = uint64(block.timestamp + 1 days);
        bytes memory auth = _auth(escrow, _id(1), BUYER, address(fot), 1_000, deadline);
        vm.expectRevert(abi.encodeWithSelector(ITaskEscrow.TaskEscrowTransferMismatch.selector, 1_000, 990));
        vm.prank(BUYER);
        escrow.fund(_id(1), address(fot), 1_000, deadline, auth);
        assertEq(escrow.totalHeld(address(fot)), 0, "nothing held");
    }

    function test_rejectingReceiverKeepsItsBalance() public {
        ContractBuyer buyer = new ContractBuyer(escrow);
        uint64 deadline = uint64(block.timestamp + 1 days);
        buyer.fund{value: 1 ether}(_id(2), deadline, _auth(escrow, _id(2), address(buyer), address(0), 1 ether, deadline));
        vm.prank(COORDINATOR);
        escrow.refund(_id(2));
        vm.expectRevert(
            abi.encodeWithSelector(ITaskEscrow.TaskEscrowNativeTransferFailed.selector, address(buyer), 1 ether)
        );
        buyer.withdraw(false);
        assertEq(escrow.balanceOf(address(buyer), address(0)), 1 ether, "balance kept");
    }

    function test_reentrantWithdrawIsBlocked() public {
        ContractBuyer buyer = new ContractBuyer(escrow);
        uint64 deadline = uint64(block.timestamp + 1 days);
        buyer.fund{value: 1 ether}(_id(3), deadline, _auth(escrow, _id(3), address(buyer), address(0), 1 ether, deadline));
        vm.prank(COORDINATOR);
        escrow.refund(_id(3));
        assertEq(buyer.withdraw(true), 1 ether, "withdrawn once");
        assertEq(buyer.received(), 1 ether, "paid once");
        assertEq(address(escrow).balance, 0, "escrow empty");
        assertTrue(
            keccak256(buyer.reentryError()) ==
                keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)),
            "reentry refused by the guard"
        );
    }

    // ------------------------------------------------------------------------------------------
    // Fuzzed arithmetic
    // ------------------------------------------------------------------------------------------

    /// @notice Release: agent + fee == price, fee == floor(price * feeBps / 10 000), for any price and fee.
    function testFuzz_releaseConservesPrice(uint256 amount, uint256 price, uint16 feeBps) public {
        feeBps = uint16(bound(feeBps, 0, 1_000));
        amount = bound(amount, 1, 1e30);
        price = bound(price, 1, amount);
        (TaskEscrow e, ) = _deploy(feeBps);
        _delivered(e, _id(4), amount, price);
        vm.prank(BUYER);
        e.release(_id(4));

        uint256 fee = (price * feeBps) / 10_000;
        assertEq(e.balanceOf(TREASURY, address(0)), fee, "fee");
        assertEq(e.balanceOf(AGENT, address(0)), price - fee, "agent");
        assertEq(e.balanceOf(BUYER, address(0)), amount - price, "buyer");
        assertEq(e.totalHeld(address(0)), 0, "held");
        assertEq(
            address(e).balance,
            e.balanceOf(TREASURY, address(0)) + e.balanceOf(AGENT, address(0)) + e.balanceOf(BUYER, address(0)),
            "conservation"
        );
    }

    /// @notice A ruling through the resolver splits the price exactly, for any price, share and fee.
    function testFuzz_rulingSplitConservesPrice(uint256 price, uint16 shareBps, uint16 feeBps) public {
        feeBps = uint16(bound(feeBps, 0, 1_000));
        shareBps = uint16(bound(shareBps, 0, 10_000));
        price = bound(price, 1, 1e30);
        (TaskEscrow e, DisputeResolver r) = _deploy(feeBps);
        _delivered(e, _id(5), price, price);
        vm.prank(BUYER);
        DisputeId id = e.dispute(_id(5), "ipfs://evidence");
        IDisputeResolver.DisputeInfo memory d = r.disputeOf(id);
        vm.prank(d.arbitrator);
        r.rule(id, shareBps);
        vm.warp(block.timestamp + 2 days + 1);
        r.finalize(id);

        uint256 share = (price * shareBps) / 10_000;
        uint256 fee = (share * feeBps) / 10_000;
        uint256 agentAmount = e.balanceOf(AGENT, address(0));
        uint256 buyerAmount = e.balanceOf(BUYER, address(0));
        uint256 feeAmount = e.balanceOf(TREASURY, address(0));
        assertEq(agentAmount + buyerAmount + feeAmount, price, "split sums to the budget");
        assertEq(feeAmount, fee, "fee on the agent's share only");
        assertEq(agentAmount, share - fee, "agent");
        assertEq(buyerAmount, price - share, "buyer");
        assertEq(e.totalHeld(address(0)), 0, "held");
        assertTrue(e.escrowOf(_id(5)).state == ITaskEscrow.State.Resolved, "resolved");
    }

    /// @notice Any sequence of re-awards (failover to runner-ups at any price within the budget) keeps
    /// the whole budget held, whatever the buyer withdraws meanwhile; the release pays the last agent.
    function testFuzz_reawardAlwaysWithinTheBudget(uint256 amount, uint256 p1, uint256 p2, uint256 p3) public {
        amount = bound(amount, 1, 1e30);
        p1 = bound(p1, 1, amount);
        p2 = bound(p2, 1, amount);
        p3 = bound(p3, 1, amount);
        vm.deal(BUYER, amount);
        uint64 deadline = uint64(block.timestamp + 1 days);
        bytes memory auth = _auth(escrow, _id(6), BUYER, address(0), amount, deadline);
        vm.prank(BUYER);
        escrow.fund{value: amount}(_id(6), address(0), amount, deadline, auth);
        uint256[3] memory prices = [p1, p2, p3];
        address[3] memory winners = [AGENT, address(0xA6E8), address(0xA6E9)];
        for (uint256 i; i < 3; ++i) {
            vm.prank(COORDINATOR);
            escrow.award(_id(6), winners[i], prices[i]);
            assertEq(escrow.totalHeld(address(0)), amount, "the budget stays held");
            assertEq(escrow.balanceOf(BUYER, address(0)), 0, "nothing credited before the end");
        }
        vm.prank(BUYER);
        escrow.release(_id(6));
        uint256 fee = (p3 * 250) / 10_000;
        assertEq(escrow.balanceOf(address(0xA6E9), address(0)), p3 - fee, "the last winner is paid");
        assertEq(escrow.balanceOf(AGENT, address(0)), 0, "the failed agent is not");
        assertEq(escrow.balanceOf(BUYER, address(0)), amount - p3, "unused budget back");
        assertEq(escrow.totalHeld(address(0)), 0, "held");
    }

    /// @notice Squatting: a funding by anyone but the authorized buyer, or of another amount, token or
    /// deadline, or authorized by a non-coordinator, reverts and leaves the key free for the buyer.
    function testFuzz_foreignFundingIsRefused(uint256 squatterKey, uint256 amount, uint256 other, uint8 tamper) public {
        squatterKey = bound(squatterKey, 1, 2 ** 128);
        address squatter = vm.addr(squatterKey);
        vm.assume(squatter != BUYER && squatter != COORDINATOR);
        amount = bound(amount, 2, 1e30);
        other = bound(other, 1, amount - 1);
        uint64 deadline = uint64(block.timestamp + 1 days);
        TaskId id = _id(7);
        bytes memory auth = _auth(escrow, id, BUYER, address(0), amount, deadline);
        vm.deal(squatter, amount);
        uint256 mode = tamper % 4;
        // A squat with an authorization the squatter signed itself.
        bytes memory own = EscrowAuth.sign(vm, squatterKey, escrow, id, squatter, address(0), other, deadline);
        if (mode == 0) {
            // The buyer's own authorization replayed by someone else (e.g. read from the mempool).
            vm.expectRevert();
            vm.prank(squatter);
            escrow.fund{value: amount}(id, address(0), amount, deadline, auth);
        } else if (mode == 1) {
            vm.expectRevert(abi.encodeWithSelector(ITaskEscrow.TaskEscrowUnauthorizedFunding.selector, squatter));
            vm.prank(squatter);
            escrow.fund{value: other}(id, address(0), other, deadline, own);
        } else if (mode == 2) {
            // The buyer's authorization with another amount, sent by the buyer.
            vm.deal(BUYER, other);
            vm.expectRevert();
            vm.prank(BUYER);
            escrow.fund{value: other}(id, address(0), other, deadline, auth);
        } else {
            // Garbage.
            vm.expectRevert(abi.encodeWithSelector(ITaskEscrow.TaskEscrowUnauthorizedFunding.selector, address(0)));
            vm.prank(squatter);
            escrow.fund{value: other}(id, address(0), other, deadline, hex"1234");
        }
        assertTrue(escrow.escrowOf(id).state == ITaskEscrow.State.None, "key still free");
        vm.deal(BUYER, amount);
        vm.prank(BUYER);
        escrow.fund{value: amount}(id, address(0), amount, deadline, auth);
        assertTrue(escrow.escrowOf(id).buyer == BUYER, "the buyer funds it");
    }
}
