// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TestBase} from "./utils/Vm.sol";
import {EscrowAuth} from "./utils/EscrowAuth.sol";
import {AICPTestToken} from "../../contracts/test/AICPTestToken.sol";
import {TaskEscrow} from "../../contracts/TaskEscrow.sol";
import {DisputeResolver} from "../../contracts/DisputeResolver.sol";
import {ITaskEscrow} from "../../contracts/interfaces/ITaskEscrow.sol";
import {IDisputeResolver} from "../../contracts/interfaces/IDisputeResolver.sol";
import {TaskId} from "../../contracts/types/TaskId.sol";
import {DisputeId} from "../../contracts/types/DisputeId.sol";

/// @notice Drives TaskEscrow + DisputeResolver through random, bounded, valid sequences on behalf of
/// several buyers, agents and arbitrators, and keeps an independent model of what every account
/// should be able to withdraw.
/// @dev Every action first looks for a task or dispute in a state where the action is allowed (and
/// warps time forward when the action needs it), then performs it expecting success: a revert there
/// is a bug and is counted in `unexpectedReverts`.
contract EscrowHandler is TestBase {
    TaskEscrow public immutable escrow;
    DisputeResolver public immutable resolver;
    AICPTestToken public immutable token;
    address public immutable coordinator;
    uint256 internal immutable coordinatorKey;
    address public immutable treasury;

    uint256[3] internal buyerKeys = [uint256(0xB1), 0xB2, 0xB3];
    address[3] public buyers;
    address[3] public agents = [address(0xA61), address(0xA62), address(0xA63)];

    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    uint256 internal constant PROBES = 16;

    TaskId[] public tasks;
    DisputeId[] public disputes;
    uint256 internal nonce;

    // Ghost totals per token (address(0) = native).
    mapping(address token => uint256) public deposited;
    mapping(address token => uint256) public withdrawn;
    mapping(address token => uint256) public fees;
    mapping(address token => uint256) public treasuryWithdrawn;
    mapping(address token => uint256) public modelHeld;
    mapping(address account => mapping(address token => uint256)) public modelCredit;

    uint256 public unexpectedReverts;
    string public lastUnexpected;
    mapping(string action => uint256) public successes;

    constructor(
        TaskEscrow escrow_,
        DisputeResolver resolver_,
        AICPTestToken token_,
        uint256 coordinatorKey_,
        address treasury_
    ) {
        escrow = escrow_;
        resolver = resolver_;
        token = token_;
        coordinatorKey = coordinatorKey_;
        coordinator = vm.addr(coordinatorKey_);
        treasury = treasury_;
        for (uint256 i; i < 3; ++i) buyers[i] = vm.addr(buyerKeys[i]);
    }

    // ------------------------------------------------------------------------------------------
    // Actions
    // ------------------------------------------------------------------------------------------

    function fund(uint256 buyerSeed, uint256 amount, uint256 ttl, bool native, bool withPermit) external {
        if (escrow.paused()) return;
        uint256 b = buyerSeed % 3;
        address tok = native ? address(0) : address(token);
        amount = bound(amount, 1, native ? 1e24 : 1e18);
        uint64 deadline = uint64(block.timestamp + bound(ttl, 1 days, 60 days));
        TaskId id = TaskId.wrap(keccak256(abi.encode("invariant-task", ++nonce)));
        bool ok = _fund(b, id, tok, amount, deadline, withPermit);
        if (!_check(ok, "fund")) return;
        tasks.push(id);
        deposited[tok] += amount;
        modelHeld[tok] += amount;
    }

    function _fund(uint256 b, TaskId id, address tok, uint256 amount, uint64 deadline, bool withPermit) private returns (bool ok) {
        address buyer = buyers[b];
        bytes memory auth = EscrowAuth.sign(vm, coordinatorKey, escrow, id, buyer, tok, amount, deadline);
        if (tok == address(0)) {
            vm.deal(buyer, buyer.balance + amount);
            vm.prank(buyer);
            try escrow.fund{value: amount}(id, tok, amount, deadline, auth) {
                ok = true;
            } catch {}
        } else if (withPermit) {
            ok = _fundWithPermit(b, id, amount, deadline, auth);
        } else {
            token.mint(buyer, amount);
            vm.prank(buyer);
            token.approve(address(escrow), amount);
            vm.prank(buyer);
            try escrow.fund(id, tok, amount, deadline, auth) {
                ok = true;
            } catch {}
        }
    }

    function award(uint256 taskSeed, uint256 agentSeed, uint256 price) external {
        (bool found, TaskId id, ITaskEscrow.Escrow memory e) = _findTask(taskSeed, _bit(1) | _bit(2), true);
        if (!found) return;
        // The whole budget stays held: any price within it is allowed, whatever the buyer withdrew.
        price = bound(price, 1, e.amount);
        address agent = agents[agentSeed % 3];
        vm.prank(coordinator);
        try escrow.award(id, agent, price) {
            _check(true, "award");
        } catch {
            _check(false, "award");
            return;
        }
    }

    function deliver(uint256 taskSeed, bool byCoordinator) external {
        (bool found, TaskId id, ITaskEscrow.Escrow memory e) = _findTask(taskSeed, _bit(2), true);
        if (!found) return;
        vm.prank(byCoordinator ? coordinator : e.agent);
        try escrow.deliver(id, keccak256(abi.encode(id))) {
            _check(true, "deliver");
        } catch {
            _check(false, "deliver");
        }
    }

    function release(uint256 taskSeed, bool byCoordinator) external {
        uint256 mask = byCoordinator ? _bit(3) : _bit(2) | _bit(3);
        (bool found, TaskId id, ITaskEscrow.Escrow memory e) = _findTask(taskSeed, mask, false);
        if (!found) return;
        if (byCoordinator && block.timestamp <= e.acceptanceEndsAt) vm.warp(uint256(e.acceptanceEndsAt) + 1);
        vm.prank(byCoordinator ? coordinator : e.buyer);
        try escrow.release(id) {
            _check(true, "release");
        } catch {
            _check(false, "release");
            return;
        }
        uint256 fee = (e.price * e.feeBps) / 10_000;
        modelHeld[e.token] -= e.amount;
        modelCredit[e.agent][e.token] += e.price - fee;
        modelCredit[e.buyer][e.token] += e.amount - e.price;
        modelCredit[treasury][e.token] += fee;
        fees[e.token] += fee;
    }

    function refund(uint256 taskSeed) external {
        (bool found, TaskId id, ITaskEscrow.Escrow memory e) = _findTask(taskSeed, _bit(1) | _bit(2), false);
        if (!found) return;
        vm.prank(coordinator);
        try escrow.refund(id) {
            _check(true, "refund");
        } catch {
            _check(false, "refund");
            return;
        }
        _modelReturnToBuyer(e);
    }

    function reclaim(uint256 taskSeed) external {
        (bool found, TaskId id, ITaskEscrow.Escrow memory e) = _findTask(taskSeed, _bit(1) | _bit(2), false);
        if (!found) return;
        if (block.timestamp <= e.deadline) vm.warp(uint256(e.deadline) + 1);
        vm.prank(e.buyer);
        try escrow.reclaim(id) {
            _check(true, "reclaim");
        } catch {
            _check(false, "reclaim");
            return;
        }
        _modelReturnToBuyer(e);
    }

    function dispute(uint256 taskSeed, bool byAgent) external {
        (bool found, TaskId id, ITaskEscrow.Escrow memory e) = _findTask(taskSeed, _bit(3), false);
        if (!found || block.timestamp > e.acceptanceEndsAt) return;
        vm.prank(byAgent ? e.agent : e.buyer);
        try escrow.dispute(id, "ipfs://evidence") returns (DisputeId disputeId) {
            _check(true, "dispute");
            disputes.push(disputeId);
        } catch {
            _check(false, "dispute");
        }
    }

    function rule(uint256 disputeSeed, uint16 shareBps) external {
        (bool found, DisputeId id, IDisputeResolver.DisputeInfo memory d) = _findDispute(
            disputeSeed,
            IDisputeResolver.Status.AwaitingRuling
        );
        if (!found || block.timestamp > d.ruleDeadline) return;
        shareBps = uint16(bound(shareBps, 0, 10_000));
        vm.prank(d.arbitrator);
        try resolver.rule(id, shareBps) {
            _check(true, "rule");
        } catch {
            _check(false, "rule");
        }
    }

    function appeal(uint256 disputeSeed) external {
        (bool found, DisputeId id, IDisputeResolver.DisputeInfo memory d) = _findDispute(
            disputeSeed,
            IDisputeResolver.Status.Ruled
        );
        if (!found || d.appealed || block.timestamp > d.appealDeadline) return;
        vm.prank(d.agentShareBps >= 5_000 ? d.buyer : d.agent);
        try resolver.appeal(id) {
            _check(true, "appeal");
        } catch {
            _check(false, "appeal");
        }
    }

    function reassign(uint256 disputeSeed) external {
        (bool found, DisputeId id, IDisputeResolver.DisputeInfo memory d) = _findDispute(
            disputeSeed,
            IDisputeResolver.Status.AwaitingRuling
        );
        if (!found) return;
        if (block.timestamp <= d.ruleDeadline) vm.warp(uint256(d.ruleDeadline) + 1);
        try resolver.reassign(id) {
            _check(true, "reassign");
        } catch {
            _check(false, "reassign");
        }
    }

    function finalize(uint256 disputeSeed) external {
        if (escrow.paused()) return;
        (bool found, DisputeId id, IDisputeResolver.DisputeInfo memory d) = _findDispute(
            disputeSeed,
            IDisputeResolver.Status.Ruled
        );
        if (!found) return;
        if (block.timestamp <= d.appealDeadline) vm.warp(uint256(d.appealDeadline) + 1);
        ITaskEscrow.Escrow memory e = escrow.escrowOf(d.taskId);
        try resolver.finalize(id) {
            _check(true, "finalize");
        } catch {
            _check(false, "finalize");
            return;
        }
        uint256 share = (e.price * d.agentShareBps) / 10_000;
        uint256 fee = (share * e.feeBps) / 10_000;
        modelHeld[e.token] -= e.amount;
        modelCredit[e.agent][e.token] += share - fee;
        modelCredit[e.buyer][e.token] += e.amount - share;
        modelCredit[treasury][e.token] += fee;
        fees[e.token] += fee;
    }

    function withdraw(uint256 accountSeed, bool native) external {
        address account = _account(accountSeed);
        address tok = native ? address(0) : address(token);
        uint256 expected = escrow.balanceOf(account, tok);
        if (expected == 0) return;
        uint256 before = native ? account.balance : token.balanceOf(account);
        vm.prank(account);
        try escrow.withdraw(tok) returns (uint256 amount) {
            _check(amount == expected, "withdraw amount");
        } catch {
            _check(false, "withdraw");
            return;
        }
        uint256 afterwards = native ? account.balance : token.balanceOf(account);
        _check(afterwards - before == expected, "withdraw paid");
        withdrawn[tok] += expected;
        if (account == treasury) treasuryWithdrawn[tok] += expected;
        modelCredit[account][tok] = 0;
    }

    function setFee(uint16 feeBps) external {
        escrow.setFeeBps(uint16(bound(feeBps, 0, 1_000)));
    }

    function togglePause(uint256 seed) external {
        // Mostly unpaused, so that the other actions get to run.
        if (escrow.paused()) escrow.unpause();
        else if (seed % 8 == 0) escrow.pause();
    }

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 0, 3 days));
    }

    // ------------------------------------------------------------------------------------------
    // Views for the invariants
    // ------------------------------------------------------------------------------------------

    /// @notice Every account that can ever be credited: buyers, agents and the treasury.
    function accounts() public view returns (address[] memory list) {
        list = new address[](7);
        for (uint256 i; i < 3; ++i) {
            list[i] = buyers[i];
            list[3 + i] = agents[i];
        }
        list[6] = treasury;
    }

    function credited(address tok) external view returns (uint256 sum) {
        address[] memory list = accounts();
        for (uint256 i; i < list.length; ++i) sum += escrow.balanceOf(list[i], tok);
    }

    function taskCount() external view returns (uint256) {
        return tasks.length;
    }

    function disputeCount() external view returns (uint256) {
        return disputes.length;
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    function _bit(uint256 state) private pure returns (uint256) {
        return 1 << state;
    }

    /// @dev The first of up to PROBES tasks from `seed` whose state is in `mask` (and, if
    /// `beforeDeadline`, whose deadline has not passed); none while paused.
    function _findTask(
        uint256 seed,
        uint256 mask,
        bool beforeDeadline
    ) private view returns (bool, TaskId, ITaskEscrow.Escrow memory e) {
        uint256 n = tasks.length;
        if (n == 0 || escrow.paused()) return (false, TaskId.wrap(0), e);
        for (uint256 i; i < PROBES && i < n; ++i) {
            TaskId id = tasks[(seed + i) % n];
            e = escrow.escrowOf(id);
            if (mask & _bit(uint256(e.state)) == 0) continue;
            if (beforeDeadline && block.timestamp > e.deadline) continue;
            return (true, id, e);
        }
        return (false, TaskId.wrap(0), e);
    }

    function _findDispute(
        uint256 seed,
        IDisputeResolver.Status status
    ) private view returns (bool, DisputeId, IDisputeResolver.DisputeInfo memory d) {
        uint256 n = disputes.length;
        if (n == 0) return (false, DisputeId.wrap(0), d);
        for (uint256 i; i < PROBES && i < n; ++i) {
            DisputeId id = disputes[(seed + i) % n];
            d = resolver.disputeOf(id);
            if (d.status == status) return (true, id, d);
        }
        return (false, DisputeId.wrap(0), d);
    }

    function _modelReturnToBuyer(ITaskEscrow.Escrow memory e) private {
        modelHeld[e.token] -= e.amount;
        modelCredit[e.buyer][e.token] += e.amount;
    }

    function _account(uint256 seed) private view returns (address) {
        uint256 i = seed % 7;
        if (i < 3) return buyers[i];
        if (i < 6) return agents[i - 3];
        return treasury;
    }

    function _fundWithPermit(uint256 b, TaskId id, uint256 amount, uint64 deadline, bytes memory auth) private returns (bool ok) {
        token.mint(buyers[b], amount);
        bytes memory data = _permitCalldata(b, id, amount, deadline, auth);
        vm.prank(buyers[b]);
        (ok, ) = address(escrow).call(data);
    }

    function _permitCalldata(uint256 b, TaskId id, uint256 amount, uint64 deadline, bytes memory auth) private view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(b, amount, block.timestamp + 1 hours);
        return abi.encodeCall(escrow.fundWithPermit, (id, address(token), amount, deadline, block.timestamp + 1 hours, v, r, s, auth));
    }

    function _signPermit(uint256 b, uint256 value, uint256 deadline) private view returns (uint8, bytes32, bytes32) {
        address owner = buyers[b];
        bytes32 structHash = keccak256(
            abi.encode(PERMIT_TYPEHASH, owner, address(escrow), value, token.nonces(owner), deadline)
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
        return vm.sign(buyerKeys[b], digest);
    }

    function _check(bool ok, string memory action) private returns (bool) {
        if (ok) {
            successes[action] += 1;
        } else {
            unexpectedReverts += 1;
            lastUnexpected = action;
        }
        return ok;
    }
}

/// @notice Money invariants of TaskEscrow under random sequences of every user action, for the
/// native currency and the test token, to the base unit.
/// @dev 64 runs of 500 calls per invariant keep the suite under a minute; raise `runs` locally for a
/// deeper search.
contract TaskEscrowInvariantTest is TestBase {
    TaskEscrow internal escrow;
    DisputeResolver internal resolver;
    AICPTestToken internal token;
    EscrowHandler internal handler;

    uint256 internal constant COORDINATOR_KEY = 0xC00D;
    address internal constant TREASURY = address(0x7EA5);

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new AICPTestToken();
        escrow = new TaskEscrow(address(this), TREASURY, 250, 3 days);
        resolver = new DisputeResolver(address(this), 7 days, 2 days);
        handler = new EscrowHandler(escrow, resolver, token, COORDINATOR_KEY, TREASURY);

        escrow.grantRole(escrow.COORDINATOR_ROLE(), vm.addr(COORDINATOR_KEY));
        escrow.grantRole(escrow.DEFAULT_ADMIN_ROLE(), address(handler));
        escrow.setDisputeResolver(address(resolver));
        resolver.grantRole(resolver.ESCROW_ROLE(), address(escrow));
        resolver.grantRole(resolver.ARBITRATOR_ROLE(), address(0xAB1));
        resolver.grantRole(resolver.ARBITRATOR_ROLE(), address(0xAB2));
        resolver.grantRole(resolver.ARBITRATOR_ROLE(), address(0xAB3));

        targetContract(address(handler));
    }

    /// @notice Native: the escrow's balance is exactly what open escrows hold plus every credit.
    /// forge-config: default.invariant.runs = 64
    function invariant_nativeBalanceIsHeldPlusCredited() public view {
        assertEq(
            address(escrow).balance,
            escrow.totalHeld(address(0)) + handler.credited(address(0)),
            "native balance != held + credited"
        );
    }

    /// @notice Test token: the escrow's balance is exactly what open escrows hold plus every credit.
    /// forge-config: default.invariant.runs = 64
    function invariant_tokenBalanceIsHeldPlusCredited() public view {
        assertEq(
            token.balanceOf(address(escrow)),
            escrow.totalHeld(address(token)) + handler.credited(address(token)),
            "token balance != held + credited"
        );
    }

    /// @notice Deposits = held + credited (refunds, payouts and fees not yet pulled) + withdrawn.
    /// forge-config: default.invariant.runs = 64
    function invariant_depositsAreHeldCreditedOrWithdrawn() public view {
        address[2] memory toks = [address(0), address(token)];
        for (uint256 i; i < 2; ++i) {
            assertEq(
                handler.deposited(toks[i]),
                escrow.totalHeld(toks[i]) + handler.credited(toks[i]) + handler.withdrawn(toks[i]),
                "deposited != held + credited + withdrawn"
            );
        }
    }

    /// @notice The treasury got exactly the sum of the fees of every release and ruling.
    /// forge-config: default.invariant.runs = 64
    function invariant_feesReachTheTreasury() public view {
        address[2] memory toks = [address(0), address(token)];
        for (uint256 i; i < 2; ++i) {
            assertEq(
                escrow.balanceOf(TREASURY, toks[i]) + handler.treasuryWithdrawn(toks[i]),
                handler.fees(toks[i]),
                "treasury != sum of fees"
            );
        }
    }

    /// @notice Every account's balance and the held totals match an independent model.
    /// forge-config: default.invariant.runs = 64
    function invariant_balancesMatchTheModel() public view {
        address[] memory list = handler.accounts();
        address[2] memory toks = [address(0), address(token)];
        for (uint256 t; t < 2; ++t) {
            assertEq(escrow.totalHeld(toks[t]), handler.modelHeld(toks[t]), "held != model");
            for (uint256 i; i < list.length; ++i) {
                assertEq(escrow.balanceOf(list[i], toks[t]), handler.modelCredit(list[i], toks[t]), "credit != model");
            }
        }
    }

    /// @notice Valid actions never revert (the handler only attempts what the rules allow).
    /// forge-config: default.invariant.runs = 64
    function invariant_validActionsSucceed() public view {
        assertEq(handler.unexpectedReverts(), 0, string.concat("unexpected revert in ", handler.lastUnexpected()));
    }
}
