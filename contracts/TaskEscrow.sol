// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IDisputeResolver} from "./interfaces/IDisputeResolver.sol";
import {BasisPoints} from "./libraries/BasisPoints.sol";
import {TokenTransfers} from "./libraries/TokenTransfers.sol";
import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";
import {TaskId} from "./types/TaskId.sol";
import {DisputeId} from "./types/DisputeId.sol";

/// @title TaskEscrow
/// @notice AICP's on-chain escrow for large payments: buyer-funded, coordinator-attested, disputable,
/// paid out by pull. See {ITaskEscrow} for the protocol.
/// @dev Accounting: `_held[token]` is what open escrows hold and `_balances[account][token]` what each
/// account may withdraw; every transition moves an amount from one to the other (or between
/// balances) without creating or losing a base unit, so that
/// `token.balanceOf(this) == _held[token] + Σ _balances[·][token]` holds at all times (tokens sent
/// to the contract outside {fund} only add to the left side).
/// Pausing stops every transition except {withdraw}: what is already credited can always leave.
/// Funding needs the coordinator's EIP-712 authorization (domain "AICP TaskEscrow", version "1").
contract TaskEscrow is ITaskEscrow, AccessControl, Pausable, ReentrancyGuardTransient, EIP712 {
    /// @inheritdoc ITaskEscrow
    bytes32 public constant COORDINATOR_ROLE = keccak256("COORDINATOR_ROLE");
    /// @inheritdoc ITaskEscrow
    bytes32 public constant RESOLVER_ROLE = keccak256("RESOLVER_ROLE");
    /// @inheritdoc ITaskEscrow
    uint16 public constant MAX_FEE_BPS = 1_000;
    /// @inheritdoc ITaskEscrow
    bytes32 public constant FUNDING_AUTHORIZATION_TYPEHASH =
        keccak256("FundingAuthorization(bytes32 taskId,address buyer,address token,uint256 amount,uint64 deadline)");

    /// @inheritdoc ITaskEscrow
    uint16 public feeBps;
    /// @inheritdoc ITaskEscrow
    uint64 public acceptanceWindow;
    /// @inheritdoc ITaskEscrow
    address public treasury;
    /// @inheritdoc ITaskEscrow
    address public disputeResolver;

    mapping(TaskId taskId => Escrow escrow) private _escrows;
    mapping(address account => mapping(address token => uint256 amount)) private _balances;
    mapping(address token => uint256 amount) private _held;

    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants COORDINATOR_ROLE, sets the resolver).
    /// @param treasury_ The account credited with fees.
    /// @param feeBps_ The fee, in bps (<= {MAX_FEE_BPS}).
    /// @param acceptanceWindow_ The acceptance window, in seconds (> 0).
    constructor(address admin, address treasury_, uint16 feeBps_, uint64 acceptanceWindow_) EIP712("AICP TaskEscrow", "1") {
        if (admin == address(0)) revert TaskEscrowZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setTreasury(treasury_);
        _setFeeBps(feeBps_);
        _setAcceptanceWindow(acceptanceWindow_);
    }

    // ------------------------------------------------------------------------------------------
    // Buyer
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITaskEscrow
    function fund(
        TaskId taskId,
        address token,
        uint256 amount,
        uint64 deadline,
        bytes calldata authorization
    ) external payable whenNotPaused nonReentrant {
        uint256 expectedValue = token == address(0) ? amount : 0;
        if (msg.value != expectedValue) revert TaskEscrowValueMismatch(expectedValue, msg.value);
        _open(taskId, token, amount, deadline, authorization);
        if (token != address(0)) _pull(token, amount);
    }

    /// @inheritdoc ITaskEscrow
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
    ) external whenNotPaused nonReentrant {
        if (token == address(0)) revert TaskEscrowZeroAddress();
        // Anyone can submit a signed permit first (front-running it makes ours revert); what matters
        // is the allowance it leaves, so a failed permit is fine if the allowance already covers it.
        try IERC20Permit(token).permit(msg.sender, address(this), amount, permitDeadline, v, r, s) {} catch {
            uint256 allowance = IERC20(token).allowance(msg.sender, address(this));
            if (allowance < amount) revert TaskEscrowPermitFailed(allowance, amount);
        }
        _open(taskId, token, amount, deadline, authorization);
        _pull(token, amount);
    }

    /// @inheritdoc ITaskEscrow
    function reclaim(TaskId taskId) external whenNotPaused nonReentrant {
        Escrow storage e = _escrows[taskId];
        _requireUndelivered(taskId, e.state);
        if (msg.sender != e.buyer) revert TaskEscrowNotBuyer(msg.sender);
        if (block.timestamp <= e.deadline) revert TaskEscrowDeadlineNotReached(e.deadline);
        uint256 amount = _returnToBuyer(e);
        emit EscrowReclaimed(taskId, e.buyer, e.token, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Coordinator
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITaskEscrow
    function award(
        TaskId taskId,
        address agent,
        uint256 price
    ) external onlyRole(COORDINATOR_ROLE) whenNotPaused nonReentrant {
        Escrow storage e = _escrows[taskId];
        State state = e.state;
        _requireUndelivered(taskId, state);
        if (agent == address(0)) revert TaskEscrowInvalidAgent();
        uint256 amount = e.amount;
        if (price == 0 || price > amount) revert TaskEscrowInvalidPrice(price, amount);
        if (block.timestamp > e.deadline) revert TaskEscrowDeadlinePassed(e.deadline);

        // The whole budget stays held until the escrow ends, so any re-award within it is covered.
        e.agent = agent;
        e.price = price;
        e.state = State.Awarded;
        emit EscrowAwarded(taskId, e.buyer, agent, e.token, price);
    }

    /// @inheritdoc ITaskEscrow
    function refund(TaskId taskId) external onlyRole(COORDINATOR_ROLE) whenNotPaused nonReentrant {
        Escrow storage e = _escrows[taskId];
        _requireUndelivered(taskId, e.state);
        uint256 amount = _returnToBuyer(e);
        emit EscrowRefunded(taskId, e.buyer, e.token, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Buyer, agent or coordinator
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITaskEscrow
    function deliver(TaskId taskId, bytes32 resultHash) external whenNotPaused nonReentrant {
        Escrow storage e = _escrows[taskId];
        if (e.state != State.Awarded) revert TaskEscrowInvalidState(taskId, e.state);
        address agent = e.agent;
        if (msg.sender != agent && !hasRole(COORDINATOR_ROLE, msg.sender)) revert TaskEscrowNotAgent(msg.sender);
        if (block.timestamp > e.deadline) revert TaskEscrowDeadlinePassed(e.deadline);
        if (resultHash == bytes32(0)) revert TaskEscrowInvalidResultHash();

        // block.timestamp fits in 64 bits for the next 584 billion years.
        uint64 deliveredAt = uint64(block.timestamp);
        uint64 acceptanceEndsAt = deliveredAt + acceptanceWindow;
        e.deliveredAt = deliveredAt;
        e.acceptanceEndsAt = acceptanceEndsAt;
        e.resultHash = resultHash;
        e.state = State.Delivered;
        emit ResultDelivered(taskId, agent, resultHash, deliveredAt, acceptanceEndsAt, msg.sender);
    }

    /// @inheritdoc ITaskEscrow
    function release(TaskId taskId) external whenNotPaused nonReentrant {
        Escrow storage e = _escrows[taskId];
        State state = e.state;
        if (msg.sender == e.buyer) {
            if (state != State.Awarded && state != State.Delivered) revert TaskEscrowInvalidState(taskId, state);
        } else if (hasRole(COORDINATOR_ROLE, msg.sender)) {
            if (state != State.Delivered) revert TaskEscrowInvalidState(taskId, state);
            if (block.timestamp <= e.acceptanceEndsAt) revert TaskEscrowAcceptanceWindowOpen(e.acceptanceEndsAt);
        } else {
            revert TaskEscrowNotBuyer(msg.sender);
        }

        uint256 price = e.price;
        uint256 amount = e.amount;
        uint256 fee = BasisPoints.portion(price, e.feeBps);
        uint256 agentAmount;
        uint256 buyerAmount;
        // unchecked: feeBps <= MAX_FEE_BPS < BasisPoints.MAX, so fee <= price; award keeps price <= amount.
        unchecked {
            agentAmount = price - fee;
            buyerAmount = amount - price;
        }
        address token = e.token;
        address agent = e.agent;
        address buyer = e.buyer;
        e.state = State.Released;
        _held[token] -= amount;
        _balances[agent][token] += agentAmount;
        _balances[treasury][token] += fee;
        if (buyerAmount != 0) _balances[buyer][token] += buyerAmount;
        emit EscrowReleased(taskId, buyer, agent, token, agentAmount, fee, buyerAmount, msg.sender);
    }

    /// @inheritdoc ITaskEscrow
    function dispute(
        TaskId taskId,
        string calldata evidenceURI
    ) external whenNotPaused nonReentrant returns (DisputeId disputeId) {
        Escrow storage e = _escrows[taskId];
        if (e.state != State.Delivered) revert TaskEscrowInvalidState(taskId, e.state);
        address buyer = e.buyer;
        address agent = e.agent;
        if (msg.sender != buyer && msg.sender != agent) revert TaskEscrowNotParty(msg.sender);
        if (block.timestamp > e.acceptanceEndsAt) revert TaskEscrowAcceptanceWindowClosed(e.acceptanceEndsAt);
        address resolver = disputeResolver;
        if (resolver == address(0)) revert TaskEscrowDisputeResolverUnset();

        e.state = State.Disputed;
        // The resolver is set by the admin and assigns the id; recording it after the call is safe
        // because the state already forbids every other transition and this call holds the lock.
        disputeId = IDisputeResolver(resolver).openDispute(taskId, buyer, agent, msg.sender, evidenceURI);
        e.disputeId = disputeId;
        emit EscrowDisputed(taskId, msg.sender, disputeId);
    }

    // ------------------------------------------------------------------------------------------
    // DisputeResolver
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITaskEscrow
    function executeRuling(
        TaskId taskId,
        uint16 agentShareBps
    ) external onlyRole(RESOLVER_ROLE) whenNotPaused nonReentrant {
        Escrow storage e = _escrows[taskId];
        if (e.state != State.Disputed) revert TaskEscrowInvalidState(taskId, e.state);
        if (agentShareBps > BasisPoints.MAX) revert TaskEscrowInvalidShare(agentShareBps);

        uint256 price = e.price;
        uint256 amount = e.amount;
        uint256 agentShare = BasisPoints.portion(price, agentShareBps);
        uint256 fee = BasisPoints.portion(agentShare, e.feeBps);
        uint256 agentAmount;
        uint256 buyerAmount;
        // unchecked: agentShareBps <= BasisPoints.MAX gives agentShare <= price <= amount, and
        // feeBps < MAX gives fee <= agentShare.
        unchecked {
            agentAmount = agentShare - fee;
            buyerAmount = amount - agentShare;
        }
        address token = e.token;
        e.state = State.Resolved;
        _held[token] -= amount;
        _balances[e.agent][token] += agentAmount;
        _balances[e.buyer][token] += buyerAmount;
        _balances[treasury][token] += fee;
        emit RulingExecuted(taskId, e.buyer, e.agent, token, agentShareBps, agentAmount, buyerAmount, fee);
    }

    // ------------------------------------------------------------------------------------------
    // Withdrawals (not pausable)
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITaskEscrow
    function withdraw(address token) external nonReentrant returns (uint256 amount) {
        amount = _balances[msg.sender][token];
        if (amount == 0) revert TaskEscrowNothingToWithdraw();
        _balances[msg.sender][token] = 0;
        emit Withdrawn(msg.sender, token, amount);
        if (!TokenTransfers.send(token, msg.sender, amount)) revert TaskEscrowNativeTransferFailed(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Admin
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITaskEscrow
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @inheritdoc ITaskEscrow
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    /// @inheritdoc ITaskEscrow
    function setFeeBps(uint16 feeBps_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setFeeBps(feeBps_);
    }

    /// @inheritdoc ITaskEscrow
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(treasury_);
    }

    /// @inheritdoc ITaskEscrow
    function setAcceptanceWindow(uint64 window) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setAcceptanceWindow(window);
    }

    /// @inheritdoc ITaskEscrow
    function setDisputeResolver(address resolver) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (resolver == address(0)) revert TaskEscrowZeroAddress();
        address previous = disputeResolver;
        disputeResolver = resolver;
        _grantRole(RESOLVER_ROLE, resolver);
        emit DisputeResolverUpdated(previous, resolver);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc ITaskEscrow
    function escrowOf(TaskId taskId) external view returns (Escrow memory) {
        return _escrows[taskId];
    }

    /// @inheritdoc ITaskEscrow
    function balanceOf(address account, address token) external view returns (uint256) {
        return _balances[account][token];
    }

    /// @inheritdoc ITaskEscrow
    function totalHeld(address token) external view returns (uint256) {
        return _held[token];
    }

    /// @notice ERC-165: also reports {ITaskEscrow}.
    /// @param interfaceId The interface id queried.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(ITaskEscrow).interfaceId || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Checks and records a new escrow funded by `msg.sender` (before any token moves).
    function _open(TaskId taskId, address token, uint256 amount, uint64 deadline, bytes calldata authorization) private {
        if (TaskId.unwrap(taskId) == bytes32(0)) revert TaskEscrowInvalidTaskId();
        Escrow storage e = _escrows[taskId];
        if (e.state != State.None) revert TaskEscrowAlreadyExists(taskId);
        if (amount == 0) revert TaskEscrowZeroAmount();
        if (deadline <= block.timestamp) revert TaskEscrowInvalidDeadline(deadline);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(FUNDING_AUTHORIZATION_TYPEHASH, taskId, msg.sender, token, amount, deadline))
        );
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, authorization);
        if (err != ECDSA.RecoverError.NoError || !hasRole(COORDINATOR_ROLE, signer)) revert TaskEscrowUnauthorizedFunding(signer);

        uint16 fee = feeBps;
        e.buyer = msg.sender;
        e.deadline = deadline;
        e.feeBps = fee;
        e.state = State.Funded;
        e.token = token;
        e.amount = amount;
        _held[token] += amount;
        emit EscrowFunded(taskId, msg.sender, token, amount, deadline, fee);
    }

    /// @dev Pulls `amount` of `token` from `msg.sender`, refusing tokens that deliver less.
    function _pull(address token, uint256 amount) private {
        uint256 received = TokenTransfers.pull(token, msg.sender, amount);
        if (received != amount) revert TaskEscrowTransferMismatch(amount, received);
    }

    /// @dev Reverts unless the escrow is Funded or Awarded (not delivered, not final).
    function _requireUndelivered(TaskId taskId, State state) private pure {
        if (state != State.Funded && state != State.Awarded) revert TaskEscrowInvalidState(taskId, state);
    }

    /// @dev Credits everything a Funded or Awarded escrow still holds to its buyer; state Refunded.
    function _returnToBuyer(Escrow storage e) private returns (uint256 amount) {
        amount = e.amount;
        address token = e.token;
        e.state = State.Refunded;
        _held[token] -= amount;
        _balances[e.buyer][token] += amount;
    }

    /// @dev Checks and sets the fee snapshotted by escrows funded from now on.
    function _setFeeBps(uint16 feeBps_) private {
        if (feeBps_ > MAX_FEE_BPS) revert TaskEscrowFeeTooHigh(feeBps_, MAX_FEE_BPS);
        uint16 previous = feeBps;
        feeBps = feeBps_;
        emit FeeUpdated(previous, feeBps_);
    }

    /// @dev Checks and sets the account credited with fees from now on.
    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert TaskEscrowZeroAddress();
        address previous = treasury;
        treasury = treasury_;
        emit TreasuryUpdated(previous, treasury_);
    }

    /// @dev Checks and sets the acceptance window for deliveries attested from now on.
    function _setAcceptanceWindow(uint64 window) private {
        if (window == 0) revert TaskEscrowInvalidAcceptanceWindow();
        uint64 previous = acceptanceWindow;
        acceptanceWindow = window;
        emit AcceptanceWindowUpdated(previous, window);
    }
}
