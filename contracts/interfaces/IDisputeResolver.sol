// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TaskId} from "../types/TaskId.sol";
import {DisputeId} from "../types/DisputeId.sol";

/// @title IDisputeResolver
/// @notice Arbitration for AICP's escrowed tasks. The escrow opens a dispute when the buyer or the
/// agent contests a delivery; an arbitrator (a wallet holding ARBITRATOR_ROLE) chosen
/// deterministically from the task id rules a split of the price in basis points; the losing side
/// may appeal once, within the appeal window, to a different arbitrator; a dispute with no ruling by
/// its deadline can be reassigned by anyone; once final, anyone finalizes it and the escrow executes
/// the ruling.
/// @dev Evidence follows ERC-1497: {MetaEvidence}, {Dispute} and {Evidence} events with this
/// contract as the `_arbitrator` and the dispute id as the evidence group. Times are unix seconds,
/// shares basis points (1/10 000) of the escrowed price going to the agent.
/// Arbitrator choice for round `r` of a task: start at index
/// `uint256(keccak256(abi.encode(taskId, r))) % arbitratorCount` among the ARBITRATOR_ROLE members
/// (enumeration order) and take the first member that is neither the buyer, nor the agent, nor the
/// arbitrator being replaced. The round starts at 0 and grows by one on every appeal or reassignment.
interface IDisputeResolver {
    /// @notice Where a dispute is.
    /// @dev None: unknown id. AwaitingRuling: an arbitrator is assigned (first round, after a
    /// reassignment, or on appeal). Ruled: a ruling stands, appealable until `appealDeadline` unless
    /// it is the appeal's ruling. Finalized: executed by the escrow.
    enum Status {
        None,
        AwaitingRuling,
        Ruled,
        Finalized
    }

    /// @notice One dispute.
    /// @param taskId The escrowed task.
    /// @param escrow The escrow contract that opened it and will execute the ruling.
    /// @param ruleDeadline Unix seconds by which the assigned arbitrator must rule.
    /// @param agentShareBps The latest ruling: the agent's share of the price, in bps.
    /// @param status Where the dispute is.
    /// @param appealed Whether the one appeal was used.
    /// @param buyer The task's buyer.
    /// @param appealDeadline Unix seconds until which the ruling can be appealed (0: not appealable).
    /// @param round Selection round: 0 at opening, +1 per reassignment or appeal.
    /// @param agent The task's agent.
    /// @param metaEvidenceId The ERC-1497 meta-evidence in force when the dispute was opened.
    /// @param arbitrator The arbitrator assigned now (the one who ruled, once ruled).
    /// @param openedBy The party that opened the dispute.
    struct DisputeInfo {
        TaskId taskId;
        address escrow;
        uint64 ruleDeadline;
        uint16 agentShareBps;
        Status status;
        bool appealed;
        address buyer;
        uint64 appealDeadline;
        uint32 round;
        address agent;
        uint96 metaEvidenceId;
        address arbitrator;
        address openedBy;
    }

    // ------------------------------------------------------------------------------------------
    // Events (AICP)
    // ------------------------------------------------------------------------------------------

    /// @notice Emitted when the escrow opened a dispute and an arbitrator was assigned.
    /// @param disputeId The new dispute.
    /// @param taskId The escrowed task.
    /// @param arbitrator The arbitrator assigned.
    /// @param buyer The task's buyer.
    /// @param agent The task's agent.
    /// @param openedBy The party that disputed (buyer or agent).
    /// @param escrow The escrow contract that will execute the ruling.
    /// @param ruleDeadline Unix seconds by which the arbitrator must rule.
    event DisputeOpened(
        DisputeId indexed disputeId,
        TaskId indexed taskId,
        address indexed arbitrator,
        address buyer,
        address agent,
        address openedBy,
        address escrow,
        uint64 ruleDeadline
    );

    /// @notice Emitted when the assigned arbitrator ruled.
    /// @param disputeId The dispute.
    /// @param taskId The escrowed task.
    /// @param arbitrator The arbitrator who ruled.
    /// @param agentShareBps The agent's share of the price, in bps.
    /// @param appealDeadline Unix seconds until which the losing side may appeal; 0 when the ruling
    /// is the appeal's, hence final at once.
    event DisputeRuled(
        DisputeId indexed disputeId,
        TaskId indexed taskId,
        address indexed arbitrator,
        uint16 agentShareBps,
        uint64 appealDeadline
    );

    /// @notice Emitted when the losing side appealed and a different arbitrator was assigned.
    /// @param disputeId The dispute.
    /// @param by The appellant (buyer or agent).
    /// @param arbitrator The newly assigned arbitrator.
    /// @param previousArbitrator The arbitrator whose ruling is appealed.
    /// @param ruleDeadline Unix seconds by which the new arbitrator must rule.
    event DisputeAppealed(
        DisputeId indexed disputeId,
        address indexed by,
        address indexed arbitrator,
        address previousArbitrator,
        uint64 ruleDeadline
    );

    /// @notice Emitted when a dispute without a ruling by its deadline (or whose arbitrator lost the
    /// role) was given to a different arbitrator.
    /// @param disputeId The dispute.
    /// @param previousArbitrator The arbitrator replaced.
    /// @param arbitrator The newly assigned arbitrator.
    /// @param ruleDeadline Unix seconds by which the new arbitrator must rule.
    event DisputeReassigned(
        DisputeId indexed disputeId,
        address indexed previousArbitrator,
        address indexed arbitrator,
        uint64 ruleDeadline
    );

    /// @notice Emitted when a final ruling was sent to the escrow for execution.
    /// @param disputeId The dispute.
    /// @param taskId The escrowed task.
    /// @param agentShareBps The agent's share of the price, in bps.
    event DisputeFinalized(DisputeId indexed disputeId, TaskId indexed taskId, uint16 agentShareBps);

    /// @notice Emitted when the admin changed the windows used for deadlines set from now on.
    /// @param ruleWindow Seconds an arbitrator has to rule.
    /// @param appealWindow Seconds the losing side has to appeal.
    event WindowsUpdated(uint64 ruleWindow, uint64 appealWindow);

    // ------------------------------------------------------------------------------------------
    // Events (ERC-1497: Evidence Standard)
    // ------------------------------------------------------------------------------------------

    /// @notice ERC-1497: emitted when the admin published meta-evidence (the dispute's context:
    /// category, question, ruling options) that disputes opened from now on refer to.
    /// @param _metaEvidenceID The meta-evidence id (sequential from 1).
    /// @param _evidence URI of the meta-evidence JSON.
    event MetaEvidence(uint256 indexed _metaEvidenceID, string _evidence);

    /// @notice ERC-1497: emitted when a dispute was created.
    /// @param _arbitrator This contract.
    /// @param _disputeID The dispute id.
    /// @param _metaEvidenceID The meta-evidence in force (0 if none was published).
    /// @param _evidenceGroupID The evidence group: the dispute id.
    event Dispute(
        address indexed _arbitrator,
        uint256 indexed _disputeID,
        uint256 _metaEvidenceID,
        uint256 _evidenceGroupID
    );

    /// @notice ERC-1497: emitted when a party submitted evidence.
    /// @param _arbitrator This contract.
    /// @param _evidenceGroupID The evidence group: the dispute id.
    /// @param _party The buyer or the agent.
    /// @param _evidence URI of the evidence JSON.
    event Evidence(
        address indexed _arbitrator,
        uint256 indexed _evidenceGroupID,
        address indexed _party,
        string _evidence
    );

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    /// @notice Thrown when the constructor gets the zero admin.
    error DisputeResolverZeroAddress();

    /// @notice Thrown when a zero rule or appeal window is set.
    error DisputeResolverInvalidWindow();

    /// @notice Thrown when a dispute is opened while no account holds ARBITRATOR_ROLE.
    error DisputeResolverNoArbitrators();

    /// @notice Thrown when every arbitrator is excluded (the buyer, the agent, or the one being
    /// replaced), e.g. an appeal or reassignment with a single arbitrator.
    error DisputeResolverNoEligibleArbitrator();

    /// @notice Thrown when a task that already has a dispute is disputed again.
    /// @param taskId The task.
    /// @param disputeId Its existing dispute.
    error DisputeResolverDisputeExists(TaskId taskId, DisputeId disputeId);

    /// @notice Thrown when the dispute is not in a status the call accepts (None: unknown id).
    /// @param disputeId The dispute.
    /// @param status Its status.
    error DisputeResolverInvalidStatus(DisputeId disputeId, Status status);

    /// @notice Thrown when evidence comes from neither the buyer nor the agent.
    /// @param caller The caller.
    error DisputeResolverNotParty(address caller);

    /// @notice Thrown when empty evidence is submitted.
    error DisputeResolverEmptyEvidence();

    /// @notice Thrown when a ruling comes from an account other than the assigned arbitrator, or from
    /// an assigned arbitrator who no longer holds ARBITRATOR_ROLE.
    /// @param caller The caller.
    error DisputeResolverNotArbitrator(address caller);

    /// @notice Thrown when a ruling comes after the rule deadline.
    /// @param ruleDeadline The deadline, in unix seconds.
    error DisputeResolverRuleDeadlinePassed(uint64 ruleDeadline);

    /// @notice Thrown when a dispute is reassigned before its rule deadline while its arbitrator still
    /// holds ARBITRATOR_ROLE.
    /// @param ruleDeadline The deadline, in unix seconds.
    error DisputeResolverRuleDeadlineNotPassed(uint64 ruleDeadline);

    /// @notice Thrown when a ruling gives the agent more than 10 000 bps.
    /// @param agentShareBps The share given.
    error DisputeResolverInvalidShare(uint256 agentShareBps);

    /// @notice Thrown when a dispute's one appeal was already used.
    error DisputeResolverAlreadyAppealed();

    /// @notice Thrown when an appeal comes from an account other than the losing side.
    /// @param caller The caller.
    error DisputeResolverNotAppellant(address caller);

    /// @notice Thrown when an appeal comes after the appeal window.
    /// @param appealDeadline The end of the window, in unix seconds.
    error DisputeResolverAppealWindowClosed(uint64 appealDeadline);

    /// @notice Thrown when a ruling is finalized while it can still be appealed.
    /// @param appealDeadline The end of the window, in unix seconds.
    error DisputeResolverAppealWindowOpen(uint64 appealDeadline);

    // ------------------------------------------------------------------------------------------
    // Escrow (ESCROW_ROLE)
    // ------------------------------------------------------------------------------------------

    /// @notice Escrow only: opens a dispute on a task and assigns its first arbitrator.
    /// @dev A task id can be disputed once. The caller is recorded as the escrow that executes the
    /// ruling. Emits {DisputeOpened}, {Dispute} and, when `evidenceURI` is not empty, {Evidence}.
    /// Errors: AccessControlUnauthorizedAccount, {DisputeResolverDisputeExists},
    /// {DisputeResolverNoArbitrators}, {DisputeResolverNoEligibleArbitrator}.
    /// @param taskId The escrowed task.
    /// @param buyer The task's buyer.
    /// @param agent The task's agent.
    /// @param openedBy The disputing party (buyer or agent).
    /// @param evidenceURI The disputing party's first evidence URI, may be empty.
    /// @return disputeId The new dispute's id (sequential from 1).
    function openDispute(
        TaskId taskId,
        address buyer,
        address agent,
        address openedBy,
        string calldata evidenceURI
    ) external returns (DisputeId disputeId);

    // ------------------------------------------------------------------------------------------
    // Parties
    // ------------------------------------------------------------------------------------------

    /// @notice The buyer or the agent adds evidence to a dispute that is not finalized.
    /// @dev Emits {Evidence}. Errors: {DisputeResolverInvalidStatus}, {DisputeResolverNotParty},
    /// {DisputeResolverEmptyEvidence}.
    /// @param disputeId The dispute.
    /// @param evidenceURI URI of the ERC-1497 evidence JSON (non-empty).
    function submitEvidence(DisputeId disputeId, string calldata evidenceURI) external;

    /// @notice The losing side appeals a first ruling, once, within the appeal window; a different
    /// arbitrator is assigned with a new rule deadline.
    /// @dev Losing side: the buyer if the agent got more than 5 000 bps, the agent if less, either at
    /// exactly 5 000. Emits {DisputeAppealed}. Errors: {DisputeResolverInvalidStatus},
    /// {DisputeResolverAlreadyAppealed}, {DisputeResolverNotAppellant},
    /// {DisputeResolverAppealWindowClosed}, {DisputeResolverNoEligibleArbitrator}.
    /// @param disputeId The dispute.
    function appeal(DisputeId disputeId) external;

    // ------------------------------------------------------------------------------------------
    // Arbitrators (ARBITRATOR_ROLE)
    // ------------------------------------------------------------------------------------------

    /// @notice The assigned arbitrator rules the split, before the rule deadline.
    /// @dev A first ruling opens the appeal window; the appeal's ruling is final at once.
    /// Emits {DisputeRuled}. Errors: {DisputeResolverInvalidStatus}, {DisputeResolverNotArbitrator},
    /// {DisputeResolverRuleDeadlinePassed}, {DisputeResolverInvalidShare}.
    /// @param disputeId The dispute.
    /// @param agentShareBps The agent's share of the price, in bps (<= 10 000).
    function rule(DisputeId disputeId, uint16 agentShareBps) external;

    // ------------------------------------------------------------------------------------------
    // Anyone
    // ------------------------------------------------------------------------------------------

    /// @notice Anyone: sends a final ruling to the escrow, which executes it. Final means the appeal
    /// window passed, or the ruling is the appeal's.
    /// @dev Emits {DisputeFinalized} (and the escrow's RulingExecuted). Errors:
    /// {DisputeResolverInvalidStatus}, {DisputeResolverAppealWindowOpen}, and the escrow's errors
    /// (e.g. EnforcedPause while it is paused: retry later).
    /// @param disputeId The dispute.
    function finalize(DisputeId disputeId) external;

    /// @notice Anyone: gives a dispute awaiting a ruling to a different arbitrator once its rule
    /// deadline has passed, or at once if its arbitrator lost ARBITRATOR_ROLE; new rule deadline.
    /// @dev Emits {DisputeReassigned}. Errors: {DisputeResolverInvalidStatus},
    /// {DisputeResolverRuleDeadlineNotPassed}, {DisputeResolverNoEligibleArbitrator}.
    /// @param disputeId The dispute.
    function reassign(DisputeId disputeId) external;

    // ------------------------------------------------------------------------------------------
    // Admin (DEFAULT_ADMIN_ROLE)
    // ------------------------------------------------------------------------------------------

    /// @notice Admin only: stops the arbitration (evidence, rulings, appeals, finalization,
    /// reassignment) in an emergency.
    /// @dev {openDispute} stays open so that the escrow's disputes are never refused; deadlines
    /// keep running while paused. Emits `Paused`. Errors: AccessControlUnauthorizedAccount,
    /// EnforcedPause; the paused functions revert with EnforcedPause.
    function pause() external;

    /// @notice Admin only: resumes the arbitration.
    /// @dev Emits `Unpaused`. Errors: AccessControlUnauthorizedAccount, ExpectedPause.
    function unpause() external;

    /// @notice Admin only: sets the windows used for deadlines set from now on.
    /// @dev Emits {WindowsUpdated}. Errors: AccessControlUnauthorizedAccount,
    /// {DisputeResolverInvalidWindow}.
    /// @param ruleWindow Seconds an arbitrator has to rule (> 0).
    /// @param appealWindow Seconds the losing side has to appeal (> 0).
    function setWindows(uint64 ruleWindow, uint64 appealWindow) external;

    /// @notice Admin only: publishes ERC-1497 meta-evidence for disputes opened from now on.
    /// @dev Emits {MetaEvidence}. Errors: AccessControlUnauthorizedAccount.
    /// @param metaEvidenceURI URI of the meta-evidence JSON.
    /// @return metaEvidenceId Its id (sequential from 1).
    function setMetaEvidence(string calldata metaEvidenceURI) external returns (uint96 metaEvidenceId);

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The role of arbitrators' wallets.
    function ARBITRATOR_ROLE() external view returns (bytes32);

    /// @notice The role of escrow contracts allowed to open disputes.
    function ESCROW_ROLE() external view returns (bytes32);

    /// @notice Seconds an arbitrator has to rule, for deadlines set from now on.
    function ruleWindow() external view returns (uint64);

    /// @notice Seconds the losing side has to appeal, for rulings from now on.
    function appealWindow() external view returns (uint64);

    /// @notice The meta-evidence id new disputes refer to (0 if none was published).
    function metaEvidenceId() external view returns (uint96);

    /// @notice How many disputes were opened (the latest id).
    function disputeCount() external view returns (uint256);

    /// @notice A dispute (all zero, status None, if unknown).
    /// @param disputeId The dispute.
    function disputeOf(DisputeId disputeId) external view returns (DisputeInfo memory);

    /// @notice A task's dispute id (0 if it was never disputed).
    /// @param taskId The task.
    function disputeOfTask(TaskId taskId) external view returns (DisputeId);
}
