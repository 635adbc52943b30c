// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlEnumerable} from "@openzeppelin/contracts/access/extensions/AccessControlEnumerable.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IDisputeResolver} from "./interfaces/IDisputeResolver.sol";
import {BasisPoints} from "./libraries/BasisPoints.sol";
import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";
import {TaskId} from "./types/TaskId.sol";
import {DisputeId} from "./types/DisputeId.sol";

/// @title DisputeResolver
/// @notice Arbitration for AICP's escrowed tasks: deterministic arbitrator assignment, ERC-1497
/// evidence, a basis-point split, one appeal, reassignment of stalled disputes. See
/// {IDisputeResolver} for the protocol.
/// @dev Holds no funds. Not pausable on its own: pausing the TaskEscrow already stops new disputes
/// and the execution of rulings, while evidence, rulings and appeals (which move nothing) carry on
/// so that their deadlines stay meaningful.
contract DisputeResolver is IDisputeResolver, AccessControlEnumerable, Pausable, ReentrancyGuardTransient {
    /// @inheritdoc IDisputeResolver
    bytes32 public constant ARBITRATOR_ROLE = keccak256("ARBITRATOR_ROLE");
    /// @inheritdoc IDisputeResolver
    bytes32 public constant ESCROW_ROLE = keccak256("ESCROW_ROLE");

    /// @dev An even split: both sides lost half, both may appeal.
    uint16 private constant _HALF = BasisPoints.MAX / 2;

    /// @inheritdoc IDisputeResolver
    uint64 public ruleWindow;
    /// @inheritdoc IDisputeResolver
    uint64 public appealWindow;
    /// @inheritdoc IDisputeResolver
    uint96 public metaEvidenceId;
    /// @inheritdoc IDisputeResolver
    uint256 public disputeCount;

    mapping(DisputeId disputeId => DisputeInfo dispute) private _disputes;
    mapping(TaskId taskId => DisputeId disputeId) private _disputeOfTask;

    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants ARBITRATOR_ROLE and ESCROW_ROLE).
    /// @param ruleWindow_ Seconds an arbitrator has to rule (> 0).
    /// @param appealWindow_ Seconds the losing side has to appeal (> 0).
    constructor(address admin, uint64 ruleWindow_, uint64 appealWindow_) {
        if (admin == address(0)) revert DisputeResolverZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setWindows(ruleWindow_, appealWindow_);
    }

    // ------------------------------------------------------------------------------------------
    // Escrow
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDisputeResolver
    function openDispute(
        TaskId taskId,
        address buyer,
        address agent,
        address openedBy,
        string calldata evidenceURI
    ) external onlyRole(ESCROW_ROLE) returns (DisputeId disputeId) {
        DisputeId existing = _disputeOfTask[taskId];
        if (DisputeId.unwrap(existing) != 0) revert DisputeResolverDisputeExists(taskId, existing);
        address arbitrator = _pickArbitrator(taskId, 0, buyer, agent, address(0));
        disputeId = _create(taskId, buyer, agent, openedBy, arbitrator);
        uint256 id = DisputeId.unwrap(disputeId);
        emit Dispute(address(this), id, metaEvidenceId, id);
        if (bytes(evidenceURI).length != 0) emit Evidence(address(this), id, openedBy, evidenceURI);
    }

    // ------------------------------------------------------------------------------------------
    // Parties
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDisputeResolver
    function submitEvidence(DisputeId disputeId, string calldata evidenceURI) external whenNotPaused {
        DisputeInfo storage d = _disputes[disputeId];
        Status status = d.status;
        if (status != Status.AwaitingRuling && status != Status.Ruled) {
            revert DisputeResolverInvalidStatus(disputeId, status);
        }
        if (msg.sender != d.buyer && msg.sender != d.agent) revert DisputeResolverNotParty(msg.sender);
        if (bytes(evidenceURI).length == 0) revert DisputeResolverEmptyEvidence();
        emit Evidence(address(this), DisputeId.unwrap(disputeId), msg.sender, evidenceURI);
    }

    /// @inheritdoc IDisputeResolver
    function appeal(DisputeId disputeId) external whenNotPaused {
        DisputeInfo storage d = _disputes[disputeId];
        if (d.status != Status.Ruled) revert DisputeResolverInvalidStatus(disputeId, d.status);
        if (d.appealed) revert DisputeResolverAlreadyAppealed();
        uint16 share = d.agentShareBps;
        // The buyer lost when the agent got more than half, the agent when it got less.
        bool mayAppeal = (msg.sender == d.buyer && share >= _HALF) || (msg.sender == d.agent && share <= _HALF);
        if (!mayAppeal) revert DisputeResolverNotAppellant(msg.sender);
        if (block.timestamp > d.appealDeadline) revert DisputeResolverAppealWindowClosed(d.appealDeadline);

        (address previous, address next, uint64 ruleDeadline) = _reassign(d);
        d.appealed = true;
        d.appealDeadline = 0;
        emit DisputeAppealed(disputeId, msg.sender, next, previous, ruleDeadline);
    }

    // ------------------------------------------------------------------------------------------
    // Arbitrators
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDisputeResolver
    function rule(DisputeId disputeId, uint16 agentShareBps) external whenNotPaused {
        DisputeInfo storage d = _disputes[disputeId];
        if (d.status != Status.AwaitingRuling) revert DisputeResolverInvalidStatus(disputeId, d.status);
        if (msg.sender != d.arbitrator || !hasRole(ARBITRATOR_ROLE, msg.sender)) {
            revert DisputeResolverNotArbitrator(msg.sender);
        }
        if (block.timestamp > d.ruleDeadline) revert DisputeResolverRuleDeadlinePassed(d.ruleDeadline);
        if (agentShareBps > BasisPoints.MAX) revert DisputeResolverInvalidShare(agentShareBps);

        // The appeal's ruling is final: no appeal window (0 also lets finalize pass at once).
        uint64 appealDeadline = d.appealed ? 0 : _deadline(appealWindow);
        d.agentShareBps = agentShareBps;
        d.appealDeadline = appealDeadline;
        d.status = Status.Ruled;
        emit DisputeRuled(disputeId, d.taskId, msg.sender, agentShareBps, appealDeadline);
    }

    // ------------------------------------------------------------------------------------------
    // Anyone
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDisputeResolver
    function finalize(DisputeId disputeId) external whenNotPaused nonReentrant {
        DisputeInfo storage d = _disputes[disputeId];
        if (d.status != Status.Ruled) revert DisputeResolverInvalidStatus(disputeId, d.status);
        // An appeal's ruling has appealDeadline 0, so it passes at once.
        if (block.timestamp <= d.appealDeadline) revert DisputeResolverAppealWindowOpen(d.appealDeadline);

        TaskId taskId = d.taskId;
        uint16 share = d.agentShareBps;
        d.status = Status.Finalized;
        emit DisputeFinalized(disputeId, taskId, share);
        ITaskEscrow(d.escrow).executeRuling(taskId, share);
    }

    /// @inheritdoc IDisputeResolver
    function reassign(DisputeId disputeId) external whenNotPaused {
        DisputeInfo storage d = _disputes[disputeId];
        if (d.status != Status.AwaitingRuling) revert DisputeResolverInvalidStatus(disputeId, d.status);
        if (block.timestamp <= d.ruleDeadline && hasRole(ARBITRATOR_ROLE, d.arbitrator)) {
            revert DisputeResolverRuleDeadlineNotPassed(d.ruleDeadline);
        }
        (address previous, address next, uint64 ruleDeadline) = _reassign(d);
        emit DisputeReassigned(disputeId, previous, next, ruleDeadline);
    }

    // ------------------------------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDisputeResolver
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @inheritdoc IDisputeResolver
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    /// @inheritdoc IDisputeResolver
    function setWindows(uint64 ruleWindow_, uint64 appealWindow_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setWindows(ruleWindow_, appealWindow_);
    }

    /// @inheritdoc IDisputeResolver
    function setMetaEvidence(
        string calldata metaEvidenceURI
    ) external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint96 id) {
        id = ++metaEvidenceId;
        emit MetaEvidence(id, metaEvidenceURI);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IDisputeResolver
    function disputeOf(DisputeId disputeId) external view returns (DisputeInfo memory) {
        return _disputes[disputeId];
    }

    /// @inheritdoc IDisputeResolver
    function disputeOfTask(TaskId taskId) external view returns (DisputeId) {
        return _disputeOfTask[taskId];
    }

    /// @notice ERC-165: also reports {IDisputeResolver}.
    /// @param interfaceId The interface id queried.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IDisputeResolver).interfaceId || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Records a new dispute assigned to `arbitrator` and emits {DisputeOpened}.
    function _create(
        TaskId taskId,
        address buyer,
        address agent,
        address openedBy,
        address arbitrator
    ) private returns (DisputeId disputeId) {
        disputeId = DisputeId.wrap(++disputeCount);
        uint64 ruleDeadline = _deadline(ruleWindow);
        DisputeInfo storage d = _disputes[disputeId];
        d.taskId = taskId;
        d.escrow = msg.sender;
        d.ruleDeadline = ruleDeadline;
        d.status = Status.AwaitingRuling;
        d.buyer = buyer;
        d.agent = agent;
        d.metaEvidenceId = metaEvidenceId;
        d.arbitrator = arbitrator;
        d.openedBy = openedBy;
        _disputeOfTask[taskId] = disputeId;
        emit DisputeOpened(disputeId, taskId, arbitrator, buyer, agent, openedBy, msg.sender, ruleDeadline);
    }

    /// @dev Gives `d` to the next round's arbitrator (not the current one) with a new rule deadline.
    function _reassign(DisputeInfo storage d) private returns (address previous, address next, uint64 ruleDeadline) {
        previous = d.arbitrator;
        uint32 round = d.round + 1;
        next = _pickArbitrator(d.taskId, round, d.buyer, d.agent, previous);
        ruleDeadline = _deadline(ruleWindow);
        d.round = round;
        d.arbitrator = next;
        d.ruleDeadline = ruleDeadline;
        d.status = Status.AwaitingRuling;
    }

    /// @dev The deterministic choice described in {IDisputeResolver}: from a start index derived from
    /// (task, round), the first ARBITRATOR_ROLE member that is not a party nor `excluded`.
    function _pickArbitrator(
        TaskId taskId,
        uint32 round,
        address buyer,
        address agent,
        address excluded
    ) private view returns (address) {
        uint256 count = getRoleMemberCount(ARBITRATOR_ROLE);
        if (count == 0) revert DisputeResolverNoArbitrators();
        uint256 start = uint256(keccak256(abi.encode(taskId, round))) % count;
        for (uint256 i; i < count; ++i) {
            uint256 index;
            // unchecked: start < count and i < count, and count (a set's length) is far below 2**255.
            unchecked {
                index = (start + i) % count;
            }
            address candidate = getRoleMember(ARBITRATOR_ROLE, index);
            if (candidate != excluded && candidate != buyer && candidate != agent) return candidate;
        }
        revert DisputeResolverNoEligibleArbitrator();
    }

    /// @dev `block.timestamp + window` as unix seconds (fits in 64 bits; an absurd window reverts).
    function _deadline(uint64 window) private view returns (uint64) {
        return uint64(block.timestamp) + window;
    }

    /// @dev Checks and sets the windows used for deadlines set from now on.
    function _setWindows(uint64 ruleWindow_, uint64 appealWindow_) private {
        if (ruleWindow_ == 0 || appealWindow_ == 0) revert DisputeResolverInvalidWindow();
        ruleWindow = ruleWindow_;
        appealWindow = appealWindow_;
        emit WindowsUpdated(ruleWindow_, appealWindow_);
    }
}
