// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TaskId} from "../types/TaskId.sol";
import {DisputeId} from "../types/DisputeId.sol";

/// @title ITaskEscrow
/// @notice On-chain escrow for AICP's large payments. A buyer funds a task's budget from their own
/// wallet (native currency or an ERC-20, optionally with an ERC-2612 permit) with the coordinator's
/// EIP-712 funding authorization for that buyer, token, amount and deadline (so nobody else can
/// occupy a task's key); the coordinator attests the award (winner, price) — and re-awards to a
/// runner-up on failover, always within the budget the escrow still holds; the agent (or the
/// coordinator for it) attests delivery; the buyer releases, or silence past the acceptance window
/// lets the coordinator release; either party may dispute within that window, and the
/// DisputeResolver executes the final split. The unused budget (`amount - price`) returns to the
/// buyer when the escrow ends. Every payout is credited to a balance that its owner pulls with
/// {withdraw}.
/// @dev Amounts are in the escrow token's base units (wei for the native currency, whose token
/// address is `address(0)`); times are unix seconds; shares and fees are basis points (1/10 000).
/// Money is conserved to the base unit: for every token, the contract's balance equals
/// {totalHeld} plus the sum of every account's {balanceOf}.
interface ITaskEscrow {
    /// @notice Where an escrow is in its lifecycle.
    /// @dev None: never funded. Funded: budget held, no winner yet. Awarded: the whole budget still
    /// held, `price` of it for the winner. Delivered: result attested, acceptance window
    /// running. Disputed: waiting for the DisputeResolver. Released, Refunded (by the coordinator or
    /// reclaimed by the buyer) and Resolved are final.
    enum State {
        None,
        Funded,
        Awarded,
        Delivered,
        Disputed,
        Released,
        Refunded,
        Resolved
    }

    /// @notice One task's escrow.
    /// @param buyer The wallet that funded it.
    /// @param deadline Unix seconds after which an undelivered escrow can be reclaimed by the buyer.
    /// @param feeBps The platform fee (bps of what the agent earns), snapshotted at funding.
    /// @param state Lifecycle state.
    /// @param token The ERC-20 held, or `address(0)` for the native currency.
    /// @param deliveredAt Unix seconds of the delivery attestation (0 before).
    /// @param agent The awarded agent (`address(0)` before the award).
    /// @param acceptanceEndsAt Unix seconds until which the result can be disputed and after which the
    /// coordinator may release (0 before delivery).
    /// @param amount The budget funded, in token base units.
    /// @param price The awarded price, in token base units (0 before the award); the escrow holds
    /// `amount` until it ends.
    /// @param resultHash The hash of the delivered result (0 before delivery).
    /// @param disputeId The DisputeResolver's id for this task's dispute (0 if none).
    struct Escrow {
        address buyer;
        uint64 deadline;
        uint16 feeBps;
        State state;
        address token;
        uint64 deliveredAt;
        address agent;
        uint64 acceptanceEndsAt;
        uint256 amount;
        uint256 price;
        bytes32 resultHash;
        DisputeId disputeId;
    }

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    /// @notice Emitted when a buyer funded a task's escrow.
    /// @param taskId The task.
    /// @param buyer The funding wallet.
    /// @param token The token held (`address(0)` = native currency).
    /// @param amount The budget, in token base units.
    /// @param deadline Unix seconds after which the buyer may reclaim if nothing was delivered.
    /// @param feeBps The fee snapshotted for this escrow, in bps.
    event EscrowFunded(
        TaskId indexed taskId,
        address indexed buyer,
        address indexed token,
        uint256 amount,
        uint64 deadline,
        uint16 feeBps
    );

    /// @notice Emitted when the coordinator awarded a task, first or again (failover to a runner-up).
    /// @dev No money moves: the escrow keeps holding the whole budget until it ends.
    /// @param taskId The task.
    /// @param buyer The task's buyer.
    /// @param agent The (new) winner.
    /// @param token The escrow's token.
    /// @param price The (new) price, in token base units (<= the budget).
    event EscrowAwarded(TaskId indexed taskId, address indexed buyer, address indexed agent, address token, uint256 price);

    /// @notice Emitted when the agent, or the coordinator for it, attested the task's delivery.
    /// @param taskId The task.
    /// @param agent The awarded agent.
    /// @param resultHash The hash of the result.
    /// @param deliveredAt Unix seconds of the attestation.
    /// @param acceptanceEndsAt Unix seconds until which the result can be disputed.
    /// @param attestedBy The agent itself or the coordinator.
    event ResultDelivered(
        TaskId indexed taskId,
        address indexed agent,
        bytes32 resultHash,
        uint64 deliveredAt,
        uint64 acceptanceEndsAt,
        address attestedBy
    );

    /// @notice Emitted when an escrow was released to the agent.
    /// @param taskId The task.
    /// @param buyer The task's buyer.
    /// @param agent The agent credited.
    /// @param token The escrow's token.
    /// @param agentAmount What the agent's withdrawable balance received (price - fee).
    /// @param fee What the treasury's withdrawable balance received.
    /// @param buyerAmount What the buyer's withdrawable balance received: the unused budget, `amount - price`.
    /// @param releasedBy The buyer (acceptance) or the coordinator (silence past the window).
    event EscrowReleased(
        TaskId indexed taskId,
        address indexed buyer,
        address indexed agent,
        address token,
        uint256 agentAmount,
        uint256 fee,
        uint256 buyerAmount,
        address releasedBy
    );

    /// @notice Emitted when the coordinator refunded an escrow (agent failed, no acceptable bid).
    /// @param taskId The task.
    /// @param buyer The buyer credited.
    /// @param token The escrow's token.
    /// @param amount What the buyer's withdrawable balance received: everything the escrow still held.
    event EscrowRefunded(TaskId indexed taskId, address indexed buyer, address indexed token, uint256 amount);

    /// @notice Emitted when the buyer reclaimed an undelivered escrow after its deadline.
    /// @param taskId The task.
    /// @param buyer The buyer credited.
    /// @param token The escrow's token.
    /// @param amount What the buyer's withdrawable balance received: everything the escrow still held.
    event EscrowReclaimed(TaskId indexed taskId, address indexed buyer, address indexed token, uint256 amount);

    /// @notice Emitted when the buyer or the agent disputed a delivered result.
    /// @param taskId The task.
    /// @param by The disputing party.
    /// @param disputeId The DisputeResolver's id for the dispute.
    event EscrowDisputed(TaskId indexed taskId, address indexed by, DisputeId indexed disputeId);

    /// @notice Emitted when the DisputeResolver's final ruling was executed.
    /// @param taskId The task.
    /// @param buyer The buyer credited with `buyerAmount`.
    /// @param agent The agent credited with `agentAmount`.
    /// @param token The escrow's token.
    /// @param agentShareBps The agent's share of the price, in bps.
    /// @param agentAmount What the agent's balance received (its share less the fee).
    /// @param buyerAmount What the buyer's balance received: the rest of the price plus the unused budget.
    /// @param fee What the treasury's balance received (the fee on the agent's share only).
    event RulingExecuted(
        TaskId indexed taskId,
        address indexed buyer,
        address indexed agent,
        address token,
        uint16 agentShareBps,
        uint256 agentAmount,
        uint256 buyerAmount,
        uint256 fee
    );

    /// @notice Emitted when an account pulled its balance.
    /// @param account The account paid.
    /// @param token The token paid (`address(0)` = native currency).
    /// @param amount The amount paid, in token base units.
    event Withdrawn(address indexed account, address indexed token, uint256 amount);

    /// @notice Emitted when the admin changed the fee for escrows funded from now on.
    /// @param previousFeeBps The former fee, in bps.
    /// @param feeBps The new fee, in bps.
    event FeeUpdated(uint16 previousFeeBps, uint16 feeBps);

    /// @notice Emitted when the admin changed the account credited with fees from now on.
    /// @param previousTreasury The former treasury (keeps what it was already credited).
    /// @param treasury The new treasury.
    event TreasuryUpdated(address indexed previousTreasury, address indexed treasury);

    /// @notice Emitted when the admin changed the acceptance window for deliveries from now on.
    /// @param previousWindow The former window, in seconds.
    /// @param window The new window, in seconds.
    event AcceptanceWindowUpdated(uint64 previousWindow, uint64 window);

    /// @notice Emitted when the admin changed the DisputeResolver that opens new disputes.
    /// @param previousResolver The former resolver (keeps its RESOLVER_ROLE for open disputes).
    /// @param resolver The new resolver, granted RESOLVER_ROLE.
    event DisputeResolverUpdated(address indexed previousResolver, address indexed resolver);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    /// @notice Thrown when an address that must be set (admin, treasury, resolver, permit token) is zero.
    error TaskEscrowZeroAddress();

    /// @notice Thrown when a fee above the maximum is set.
    /// @param feeBps The fee requested, in bps.
    /// @param maxFeeBps The maximum, in bps.
    error TaskEscrowFeeTooHigh(uint256 feeBps, uint256 maxFeeBps);

    /// @notice Thrown when a zero acceptance window is set.
    error TaskEscrowInvalidAcceptanceWindow();

    /// @notice Thrown when the zero task id is funded.
    error TaskEscrowInvalidTaskId();

    /// @notice Thrown when a task id that was already funded is funded again.
    /// @param taskId The task.
    error TaskEscrowAlreadyExists(TaskId taskId);

    /// @notice Thrown when a zero amount is funded.
    error TaskEscrowZeroAmount();

    /// @notice Thrown when a deadline that is not in the future is funded.
    /// @param deadline The deadline given, in unix seconds.
    error TaskEscrowInvalidDeadline(uint64 deadline);

    /// @notice Thrown when `msg.value` is not the amount (native) or not zero (ERC-20).
    /// @param expected The value expected, in wei.
    /// @param received The value sent, in wei.
    error TaskEscrowValueMismatch(uint256 expected, uint256 received);

    /// @notice Thrown when a token delivered less than the amount funded (fee-on-transfer tokens are
    /// not supported: money could not be conserved).
    /// @param expected The amount funded.
    /// @param received The increase of the escrow's token balance.
    error TaskEscrowTransferMismatch(uint256 expected, uint256 received);

    /// @notice Thrown when a permit failed and the allowance does not cover the amount anyway.
    /// @param allowance The allowance the escrow has from the buyer.
    /// @param amount The amount to fund.
    error TaskEscrowPermitFailed(uint256 allowance, uint256 amount);

    /// @notice Thrown when the escrow is not in a state the call accepts (None: never funded).
    /// @param taskId The task.
    /// @param state Its current state.
    error TaskEscrowInvalidState(TaskId taskId, State state);

    /// @notice Thrown when the zero address is awarded.
    error TaskEscrowInvalidAgent();

    /// @notice Thrown when an award's price is zero or above the funded budget.
    /// @param price The price given.
    /// @param amount The budget funded.
    error TaskEscrowInvalidPrice(uint256 price, uint256 amount);

    /// @notice Thrown when a task is awarded or delivered after its deadline.
    /// @param deadline The task's deadline, in unix seconds.
    error TaskEscrowDeadlinePassed(uint64 deadline);

    /// @notice Thrown when the buyer reclaims before the task's deadline.
    /// @param deadline The task's deadline, in unix seconds.
    error TaskEscrowDeadlineNotReached(uint64 deadline);

    /// @notice Thrown when a buyer-only call (reclaim; release outside the coordinator's case) comes
    /// from another account.
    /// @param caller The caller.
    error TaskEscrowNotBuyer(address caller);

    /// @notice Thrown when delivery is attested by neither the awarded agent nor the coordinator.
    /// @param caller The caller.
    error TaskEscrowNotAgent(address caller);

    /// @notice Thrown when a dispute is opened by neither the buyer nor the agent.
    /// @param caller The caller.
    error TaskEscrowNotParty(address caller);

    /// @notice Thrown when the coordinator releases before the acceptance window has ended.
    /// @param acceptanceEndsAt The end of the window, in unix seconds.
    error TaskEscrowAcceptanceWindowOpen(uint64 acceptanceEndsAt);

    /// @notice Thrown when a dispute is opened after the acceptance window has ended.
    /// @param acceptanceEndsAt The end of the window, in unix seconds.
    error TaskEscrowAcceptanceWindowClosed(uint64 acceptanceEndsAt);

    /// @notice Thrown when a funding's authorization was not signed by a COORDINATOR_ROLE account for
    /// this task, caller, token, amount and deadline (or is not a valid ECDSA signature).
    /// @param signer The recovered signer (`address(0)` when the signature is malformed).
    error TaskEscrowUnauthorizedFunding(address signer);

    /// @notice Thrown when a dispute is opened while no DisputeResolver is set.
    error TaskEscrowDisputeResolverUnset();

    /// @notice Thrown when a delivery attests the zero result hash.
    error TaskEscrowInvalidResultHash();

    /// @notice Thrown when a ruling gives the agent more than 10 000 bps.
    /// @param agentShareBps The share given.
    error TaskEscrowInvalidShare(uint256 agentShareBps);

    /// @notice Thrown when an account withdraws a token it has no balance of.
    error TaskEscrowNothingToWithdraw();

    /// @notice Thrown when sending the native currency to a withdrawing account failed.
    /// @param to The account.
    /// @param amount The amount, in wei.
    error TaskEscrowNativeTransferFailed(address to, uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Buyer
    // ------------------------------------------------------------------------------------------

    /// @notice Funds a task's escrow from the caller's wallet; the caller becomes the task's buyer.
    /// @dev Needs `authorization`: an EIP-712 signature by a COORDINATOR_ROLE account of
    /// `FundingAuthorization(bytes32 taskId,address buyer,address token,uint256 amount,uint64 deadline)`
    /// with `buyer = msg.sender`, under this contract's domain ({eip712Domain}, ERC-5267), so a task
    /// key can only be funded by the buyer the coordinator issued it to (no squatting).
    /// Native currency: `token` is `address(0)` and `msg.value` must equal `amount`. ERC-20:
    /// `msg.value` must be 0 and the escrow must be approved for `amount`; fee-on-transfer tokens
    /// revert. Snapshots the current fee. Reverts when paused.
    /// Emits {EscrowFunded}. Errors: {TaskEscrowInvalidTaskId}, {TaskEscrowAlreadyExists},
    /// {TaskEscrowZeroAmount}, {TaskEscrowInvalidDeadline}, {TaskEscrowUnauthorizedFunding},
    /// {TaskEscrowValueMismatch}, {TaskEscrowTransferMismatch}.
    /// @param taskId The task (non-zero, never funded before).
    /// @param token The ERC-20 to hold, or `address(0)` for the native currency.
    /// @param amount The budget, in token base units (> 0).
    /// @param deadline Unix seconds (in the future) after which the buyer may reclaim if nothing was
    /// delivered; delivery must be attested by then.
    /// @param authorization The coordinator's 65-byte EIP-712 signature of the funding authorization.
    function fund(TaskId taskId, address token, uint256 amount, uint64 deadline, bytes calldata authorization) external payable;

    /// @notice Like {fund} for an ERC-2612 token, with the buyer's permit in the same call.
    /// @dev The permit (owner = caller, spender = this escrow, value = `amount`) is tried and a failure
    /// is tolerated if the allowance already covers `amount` (the permit may have been front-run).
    /// Emits {EscrowFunded}. Errors: those of {fund}, {TaskEscrowZeroAddress} (native token),
    /// {TaskEscrowPermitFailed}.
    /// @param taskId The task.
    /// @param token The ERC-2612 token.
    /// @param amount The budget, in token base units.
    /// @param deadline The task's deadline, in unix seconds.
    /// @param permitDeadline The permit's own deadline, in unix seconds.
    /// @param v The permit signature's `v`.
    /// @param r The permit signature's `r`.
    /// @param s The permit signature's `s`.
    /// @param authorization The coordinator's funding authorization (see {fund}).
    function fundWithPermit(
        TaskId taskId,
        address token,
        uint256 amount,
        uint64 deadline,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s,
        bytes calldata authorization
    ) external;

    /// @notice Buyer only: reclaims an escrow that was not delivered by its deadline.
    /// @dev Allowed in Funded or Awarded once `block.timestamp > deadline`; everything the escrow
    /// still holds goes to the buyer's balance; state Refunded. Reverts when paused.
    /// Emits {EscrowReclaimed}. Errors: {TaskEscrowInvalidState}, {TaskEscrowNotBuyer},
    /// {TaskEscrowDeadlineNotReached}.
    /// @param taskId The task.
    function reclaim(TaskId taskId) external;

    // ------------------------------------------------------------------------------------------
    // Coordinator (COORDINATOR_ROLE)
    // ------------------------------------------------------------------------------------------

    /// @notice Coordinator only: attests the auction's winner and price, or re-awards an awarded task
    /// to a runner-up (failover).
    /// @dev Allowed in Funded or Awarded (not yet delivered), up to the deadline. No money moves: the
    /// escrow holds the whole budget until it ends, so a re-award to a runner-up at any price up to
    /// the budget always succeeds, whatever the buyer has withdrawn meanwhile. Reverts when paused.
    /// Emits {EscrowAwarded}. Errors: AccessControlUnauthorizedAccount, {TaskEscrowInvalidState},
    /// {TaskEscrowInvalidAgent}, {TaskEscrowInvalidPrice}, {TaskEscrowDeadlinePassed}.
    /// @param taskId The task.
    /// @param agent The winner's wallet (non-zero).
    /// @param price The price, in token base units (0 < price <= amount).
    function award(TaskId taskId, address agent, uint256 price) external;

    /// @notice Coordinator only: refunds everything the escrow still holds to the buyer (the agent
    /// failed and there is no runner-up, or there was no acceptable bid).
    /// @dev Allowed in Funded or Awarded; state Refunded. Reverts when paused.
    /// Emits {EscrowRefunded}. Errors: AccessControlUnauthorizedAccount, {TaskEscrowInvalidState}.
    /// @param taskId The task.
    function refund(TaskId taskId) external;

    // ------------------------------------------------------------------------------------------
    // Buyer, agent or coordinator
    // ------------------------------------------------------------------------------------------

    /// @notice The awarded agent, or the coordinator attesting for it, records the task's delivery.
    /// @dev Allowed in Awarded up to the deadline; starts the acceptance window (the window in force
    /// now). Reverts when paused.
    /// Emits {ResultDelivered}. Errors: {TaskEscrowInvalidState}, {TaskEscrowNotAgent},
    /// {TaskEscrowDeadlinePassed}, {TaskEscrowInvalidResultHash}.
    /// @param taskId The task.
    /// @param resultHash The hash of the result (non-zero).
    function deliver(TaskId taskId, bytes32 resultHash) external;

    /// @notice Pays the price to the agent: by the buyer at any time in Awarded or Delivered (early
    /// release, acceptance), or by the coordinator in Delivered once the acceptance window has ended
    /// (silence counts as acceptance).
    /// @dev Credits `price - fee` to the agent, `fee = price * feeBps / 10 000` (snapshot) to the
    /// treasury and the unused budget `amount - price` to the buyer; state Released. Reverts when paused.
    /// Emits {EscrowReleased}. Errors: {TaskEscrowInvalidState}, {TaskEscrowNotBuyer} (neither the
    /// buyer nor the coordinator), {TaskEscrowAcceptanceWindowOpen}.
    /// @param taskId The task.
    function release(TaskId taskId) external;

    /// @notice The buyer or the agent disputes a delivered result within the acceptance window; the
    /// dispute is opened on the DisputeResolver.
    /// @dev State Disputed. Reverts when paused.
    /// Emits {EscrowDisputed} (and the resolver's events). Errors: {TaskEscrowInvalidState},
    /// {TaskEscrowNotParty}, {TaskEscrowAcceptanceWindowClosed}, {TaskEscrowDisputeResolverUnset}.
    /// @param taskId The task.
    /// @param evidenceURI The disputing party's first evidence (ERC-1497 evidence URI), may be empty.
    /// @return disputeId The DisputeResolver's id.
    function dispute(TaskId taskId, string calldata evidenceURI) external returns (DisputeId disputeId);

    // ------------------------------------------------------------------------------------------
    // DisputeResolver (RESOLVER_ROLE)
    // ------------------------------------------------------------------------------------------

    /// @notice Resolver only: executes a final ruling, splitting the price.
    /// @dev The agent's share is `price * agentShareBps / 10 000`; the fee (snapshot bps) applies to
    /// that share only; the rest of the price and the unused budget go to the buyer. State Resolved. Reverts when paused.
    /// Emits {RulingExecuted}. Errors: AccessControlUnauthorizedAccount, {TaskEscrowInvalidState},
    /// {TaskEscrowInvalidShare}.
    /// @param taskId The task.
    /// @param agentShareBps The agent's share of the price, in bps (<= 10 000).
    function executeRuling(TaskId taskId, uint16 agentShareBps) external;

    // ------------------------------------------------------------------------------------------
    // Anyone with a balance
    // ------------------------------------------------------------------------------------------

    /// @notice Pays the caller its whole balance of `token` (agents' payouts, buyers' refunds, the
    /// treasury's fees).
    /// @dev Works while paused, so that users can always exit with what is already theirs.
    /// Emits {Withdrawn}. Errors: {TaskEscrowNothingToWithdraw}, {TaskEscrowNativeTransferFailed},
    /// SafeERC20FailedOperation.
    /// @param token The token (`address(0)` = native currency).
    /// @return amount The amount paid, in token base units.
    function withdraw(address token) external returns (uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Admin (DEFAULT_ADMIN_ROLE)
    // ------------------------------------------------------------------------------------------

    /// @notice Admin only: stops every state change except {withdraw}.
    /// @dev Errors: AccessControlUnauthorizedAccount, EnforcedPause.
    function pause() external;

    /// @notice Admin only: resumes normal operation.
    /// @dev Errors: AccessControlUnauthorizedAccount, ExpectedPause.
    function unpause() external;

    /// @notice Admin only: sets the fee for escrows funded from now on (funded ones keep theirs).
    /// @dev Emits {FeeUpdated}. Errors: AccessControlUnauthorizedAccount, {TaskEscrowFeeTooHigh}.
    /// @param feeBps The fee, in bps of what the agent earns (<= {MAX_FEE_BPS}).
    function setFeeBps(uint16 feeBps) external;

    /// @notice Admin only: sets the account credited with fees from now on.
    /// @dev Emits {TreasuryUpdated}. Errors: AccessControlUnauthorizedAccount, {TaskEscrowZeroAddress}.
    /// @param treasury The new treasury (non-zero).
    function setTreasury(address treasury) external;

    /// @notice Admin only: sets the acceptance window for deliveries attested from now on.
    /// @dev Emits {AcceptanceWindowUpdated}. Errors: AccessControlUnauthorizedAccount,
    /// {TaskEscrowInvalidAcceptanceWindow}.
    /// @param window The window, in seconds (> 0).
    function setAcceptanceWindow(uint64 window) external;

    /// @notice Admin only: sets the DisputeResolver that opens new disputes and grants it RESOLVER_ROLE.
    /// @dev The former resolver keeps RESOLVER_ROLE so that disputes already open on it can still be
    /// executed; the admin revokes it explicitly when they are done.
    /// Emits {DisputeResolverUpdated}. Errors: AccessControlUnauthorizedAccount,
    /// {TaskEscrowZeroAddress}.
    /// @param resolver The new resolver (non-zero).
    function setDisputeResolver(address resolver) external;

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The maximum fee, in bps (10%).
    function MAX_FEE_BPS() external view returns (uint16);

    /// @notice keccak256 of the EIP-712 type
    /// `FundingAuthorization(bytes32 taskId,address buyer,address token,uint256 amount,uint64 deadline)`.
    function FUNDING_AUTHORIZATION_TYPEHASH() external view returns (bytes32);

    /// @notice The role of the coordinator's hot wallet.
    function COORDINATOR_ROLE() external view returns (bytes32);

    /// @notice The role of the DisputeResolver contract.
    function RESOLVER_ROLE() external view returns (bytes32);

    /// @notice The fee snapshotted by escrows funded from now on, in bps.
    function feeBps() external view returns (uint16);

    /// @notice The account credited with fees.
    function treasury() external view returns (address);

    /// @notice The acceptance window for deliveries attested from now on, in seconds.
    function acceptanceWindow() external view returns (uint64);

    /// @notice The DisputeResolver that opens new disputes (`address(0)` until set).
    function disputeResolver() external view returns (address);

    /// @notice A task's escrow (all zero, state None, if never funded).
    /// @param taskId The task.
    function escrowOf(TaskId taskId) external view returns (Escrow memory);

    /// @notice What `account` can {withdraw} of `token`, in token base units.
    /// @param account The account.
    /// @param token The token (`address(0)` = native currency).
    function balanceOf(address account, address token) external view returns (uint256);

    /// @notice What open escrows hold of `token` (not yet credited to anyone), in token base units.
    /// @param token The token (`address(0)` = native currency).
    function totalHeld(address token) external view returns (uint256);
}
