// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IPaymentChannels
/// @notice One-to-many payment channels for AICP's small payments. A payer (a buyer) deposits a
/// token once, then signs cumulative EIP-712 vouchers off-chain, one running total per
/// (payer, payee, token) pair; anyone (in practice the coordinator's batch settler) submits the
/// latest voucher of many pairs in one {settleBatch} call, which moves each pair's increase from
/// the payer's deposit to the payee's claimable balance. Payees pull with {withdraw}. A payer
/// gets an unused deposit back only through {requestWithdrawal} then, after the challenge period,
/// {withdrawDeposit}: during that period outstanding vouchers can still be settled (the
/// coordinator watches the `WithdrawalRequested` events and acts as the watchtower).
/// @dev Amounts are in the token's base units (wei for the native currency, whose token address
/// is `address(0)`); times are unix seconds. Money is conserved to the base unit: for every
/// token, the contract's balance equals the sum of every payer's deposit balance plus the sum of
/// every payee's claimable balance. A pair's settled amount never decreases, and a payer is
/// never charged more than its deposit. Fee-on-transfer and rebasing tokens are not supported:
/// a deposit is credited with the amount requested, not the amount received.
///
/// EIP-712 domain: name "AICP PaymentChannels", version "1", the chain id and this contract's
/// address (no salt). Signed type:
/// `Voucher(address payer,address payee,address token,uint256 cumulativeAmount)` and
/// `DeliveryAuthorization(address payer,address token,bytes32 salt,uint256 maxAmount,uint64 expiry)`.
///
/// Delivered but unpaid work is protected: with each channel-route post the payer signs a
/// {DeliveryAuthorization}, and the coordinator (`COORDINATOR_ROLE`) can pay the agents of
/// delivered tasks under it with {claimDelivered} when the payer asks for its deposit back or
/// stays silent past the acceptance window. A claim raises the pair's settled amount like a
/// voucher does, so vouchers and claims together never pay a pair twice.
interface IPaymentChannels {
    /// @notice A payer's promise that `payee` may have received, in total over the channel's life,
    /// `cumulativeAmount` of `token` from the payer's deposit.
    /// @param payer The signer whose deposit pays.
    /// @param payee The recipient credited on settlement.
    /// @param token The ERC-20 paid, or `address(0)` for the native currency.
    /// @param cumulativeAmount The running total for the pair, in token base units. Only the
    /// increase over what was already settled for the pair is paid.
    struct Voucher {
        address payer;
        address payee;
        address token;
        uint256 cumulativeAmount;
    }

    /// @notice A payer's standing promise for the tasks of one post on the channel route: the
    /// coordinator may pay, out of the payer's deposit, up to `maxAmount` of `token` in total to
    /// the agents it attests delivered those tasks, until `expiry` ({claimDelivered}). It lets an
    /// agent who delivered be paid when the payer leaves (withdraws the deposit) or stays silent
    /// instead of signing the voucher; the payer's exposure is capped by `maxAmount` (the post's
    /// budget) and `expiry`, like an escrow's budget under the coordinator's attestation.
    /// @param payer The signer whose deposit pays.
    /// @param token The ERC-20 paid, or `address(0)` for the native currency.
    /// @param salt A value chosen by the payer, unique per post (the authorization's identity).
    /// @param maxAmount The most all claims under this authorization may pay, in token base units.
    /// @param expiry Unix seconds after which no claim is accepted.
    struct DeliveryAuthorization {
        address payer;
        address token;
        bytes32 salt;
        uint256 maxAmount;
        uint64 expiry;
    }

    /// @notice One payment under a {DeliveryAuthorization}.
    /// @param payee The agent credited.
    /// @param amount What it is paid, in token base units (non-zero).
    /// @param settledBefore The pair's (payer, payee, token) settled amount the coordinator
    /// expects before this claim, i.e. every voucher it accepted for the pair has settled; the
    /// claim then raises the pair's settled amount by `amount`, so a later voucher's cumulative
    /// amount covers it and it is never paid twice.
    struct DeliveryClaim {
        address payee;
        uint256 amount;
        uint256 settledBefore;
    }

    /// @notice Why {settleBatch} skipped an entry.
    /// @dev BadSignature: the signature is malformed, malleable (high s), or not the payer's for
    /// this voucher on this chain and contract. Stale: the cumulative amount is not above what the
    /// pair has already settled (a replay or an older voucher). Overdrawn: the increase exceeds
    /// the payer's current deposit balance (nothing is paid; there is no partial payment).
    enum SkipReason {
        BadSignature,
        Stale,
        Overdrawn
    }

    // ------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------

    /// @notice Emitted when a payer added to its deposit.
    /// @param payer The depositing wallet.
    /// @param token The token deposited (`address(0)` = native currency).
    /// @param amount The amount added, in token base units.
    /// @param newBalance The payer's deposit balance in `token` after the deposit.
    event Deposited(address indexed payer, address indexed token, uint256 amount, uint256 newBalance);

    /// @notice Emitted by {settleBatch} for every entry it paid, right after the pair's settled
    /// amount was raised to `cumulativeAmount`.
    /// @dev `token` is not indexed to keep the per-voucher cost down.
    /// @param payer The payer charged.
    /// @param payee The payee credited.
    /// @param token The token (`address(0)` = native currency).
    /// @param cumulativeAmount The pair's settled amount from now on, in token base units.
    /// @param increase What this entry moved from the payer's deposit to the payee's claimable
    /// balance (cumulativeAmount minus the previous settled amount), in token base units.
    event VoucherSettled(
        address indexed payer,
        address indexed payee,
        address token,
        uint256 cumulativeAmount,
        uint256 increase
    );

    /// @notice Emitted by {settleBatch} for every entry it did not pay; nothing changed for it.
    /// @param payer The payer named by the entry (not necessarily the signer).
    /// @param payee The payee named by the entry.
    /// @param token The token named by the entry.
    /// @param cumulativeAmount The cumulative amount named by the entry.
    /// @param reason Why the entry was skipped.
    event VoucherSkipped(
        address indexed payer,
        address indexed payee,
        address token,
        uint256 cumulativeAmount,
        SkipReason reason
    );

    /// @notice Emitted when a payer asked for its unused deposit back; vouchers keep settling
    /// until it is withdrawn.
    /// @param payer The payer.
    /// @param token The token.
    /// @param balance The deposit balance at the time of the request, in token base units (what
    /// is left at withdrawal may be lower).
    /// @param availableAt Unix seconds from which {withdrawDeposit} succeeds.
    event WithdrawalRequested(address indexed payer, address indexed token, uint256 balance, uint64 availableAt);

    /// @notice Emitted when a pending withdrawal request was withdrawn by the payer, either
    /// explicitly ({cancelWithdrawal}) or by depositing again.
    /// @param payer The payer.
    /// @param token The token.
    event WithdrawalCancelled(address indexed payer, address indexed token);

    /// @notice Emitted when a payer took its remaining deposit back after the challenge period.
    /// @param payer The payer (and recipient).
    /// @param token The token.
    /// @param amount The amount paid out, in token base units; the deposit balance is now zero.
    event DepositWithdrawn(address indexed payer, address indexed token, uint256 amount);

    /// @notice Emitted when a payee pulled its claimable balance.
    /// @param payee The payee (and recipient).
    /// @param token The token.
    /// @param amount The amount paid out, in token base units; the claimable balance is now zero.
    event Withdrawn(address indexed payee, address indexed token, uint256 amount);

    /// @notice Emitted by {claimDelivered} for every claim it paid.
    /// @param payer The payer charged.
    /// @param payee The payee credited.
    /// @param authorization The EIP-712 digest of the {DeliveryAuthorization} claimed under.
    /// @param token The token (`address(0)` = native currency).
    /// @param amount What moved from the payer's deposit to the payee's claimable balance, in
    /// token base units.
    /// @param cumulativeAmount The pair's settled amount from now on, in token base units.
    event DeliveryClaimed(
        address indexed payer,
        address indexed payee,
        bytes32 indexed authorization,
        address token,
        uint256 amount,
        uint256 cumulativeAmount
    );

    /// @notice Emitted when the admin changed the challenge period for future withdrawal requests.
    /// @param previousPeriod The old period, in seconds.
    /// @param newPeriod The new period, in seconds.
    event ChallengePeriodUpdated(uint64 previousPeriod, uint64 newPeriod);

    // ------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------

    /// @notice Thrown when the constructor is given the zero address as admin.
    error PaymentChannelsZeroAddress();

    /// @notice Thrown when a challenge period is zero or above {MAX_CHALLENGE_PERIOD}.
    /// @param period The rejected period, in seconds.
    error PaymentChannelsInvalidChallengePeriod(uint256 period);

    /// @notice Thrown when a deposit of zero is attempted.
    error PaymentChannelsZeroAmount();

    /// @notice Thrown when `msg.value` does not match a deposit: it must equal `amount` for the
    /// native currency and be zero for an ERC-20.
    /// @param expected The value required, in wei.
    /// @param actual The value sent, in wei.
    error PaymentChannelsMsgValueMismatch(uint256 expected, uint256 actual);

    /// @notice Thrown when {depositWithPermit} is called for the native currency.
    error PaymentChannelsPermitForNativeToken();

    /// @notice Thrown when a permit failed and the allowance it was meant to grant is not there
    /// either (a permit front-run by someone else is tolerated).
    /// @param token The token.
    /// @param allowance The allowance this contract has from the payer.
    /// @param amount The amount the deposit needs.
    error PaymentChannelsPermitFailed(address token, uint256 allowance, uint256 amount);

    /// @notice Thrown when the packed entries of {settleBatch} are not a whole number of
    /// {BATCH_ENTRY_SIZE}-byte entries.
    /// @param length The length of `entries`, in bytes.
    error PaymentChannelsMalformedBatch(uint256 length);

    /// @notice Thrown when an entry of {settleBatch} refers to an address index outside the table.
    /// @param entry The entry's position in the batch (0-based).
    /// @param index The out-of-range index.
    error PaymentChannelsBatchIndexOutOfRange(uint256 entry, uint256 index);

    /// @notice Thrown when a payer requests a withdrawal while one is already pending.
    /// @param availableAt Unix seconds from which the pending request can be executed.
    error PaymentChannelsWithdrawalAlreadyRequested(uint64 availableAt);

    /// @notice Thrown when a payer withdraws or cancels without a pending withdrawal request.
    error PaymentChannelsNoWithdrawalRequest();

    /// @notice Thrown when a payer withdraws before the challenge period of its request is over.
    /// @param availableAt Unix seconds from which the withdrawal succeeds.
    error PaymentChannelsChallengePeriodActive(uint64 availableAt);

    /// @notice Thrown when a payer requests or executes a withdrawal of an empty deposit.
    error PaymentChannelsNothingToWithdraw();

    /// @notice Thrown when a payee withdraws with nothing claimable.
    error PaymentChannelsNothingClaimable();

    /// @notice Thrown by {claimDelivered} after the authorization's expiry.
    /// @param expiry The authorization's expiry, unix seconds.
    error PaymentChannelsAuthorizationExpired(uint64 expiry);

    /// @notice Thrown by {claimDelivered} when the signature is not the payer's (ECDSA for an
    /// account, ERC-1271 for a contract wallet) for this authorization, chain and contract.
    /// @param payer The payer named by the authorization.
    error PaymentChannelsInvalidAuthorization(address payer);

    /// @notice Thrown by {claimDelivered} when the claims would take the authorization past its
    /// `maxAmount`.
    /// @param maxAmount The authorization's cap, in token base units.
    /// @param claimed What all its claims would add up to, in token base units.
    error PaymentChannelsAuthorizationExceeded(uint256 maxAmount, uint256 claimed);

    /// @notice Thrown by {claimDelivered} when a pair's settled amount is not the one the claim
    /// expects (a voucher of the pair settled, or has yet to settle, in between).
    /// @param payee The claim's payee.
    /// @param expected The claim's `settledBefore`, in token base units.
    /// @param actual The pair's settled amount, in token base units.
    error PaymentChannelsSettledMismatch(address payee, uint256 expected, uint256 actual);

    /// @notice Thrown by {claimDelivered} when the payer's deposit does not cover the claims.
    /// @param balance The deposit balance, in token base units.
    /// @param needed What the claims add up to, in token base units.
    error PaymentChannelsDepositInsufficient(uint256 balance, uint256 needed);

    /// @notice Thrown when sending the native currency to a withdrawing account failed; the
    /// balance stays credited.
    /// @param to The recipient.
    /// @param amount The amount, in wei.
    error PaymentChannelsNativeTransferFailed(address to, uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Deposits
    // ------------------------------------------------------------------------------------------

    /// @notice Adds `amount` of `token` to the caller's deposit. For the native currency pass
    /// `token = address(0)` and send exactly `amount` as `msg.value`; for an ERC-20 send no value
    /// and approve this contract first.
    /// @dev Anyone may call; the deposit is always the caller's. A deposit while the caller has a
    /// withdrawal request pending for `token` cancels that request (emitting `WithdrawalCancelled`
    /// before `Deposited`): topping up means the channel stays open, and it keeps the coordinator
    /// from crediting fresh funds that are about to leave. Emits `Deposited`.
    /// The deposit is credited with what actually arrived: for a fee-on-transfer ERC-20 that is
    /// less than `amount` (the `Deposited` event carries the credited amount).
    /// Reverts with `PaymentChannelsZeroAmount` (also when nothing arrived),
    /// `PaymentChannelsMsgValueMismatch`, or `EnforcedPause` while paused.
    /// @param token The ERC-20 to deposit, or `address(0)` for the native currency.
    /// @param amount The amount, in token base units.
    function deposit(address token, uint256 amount) external payable;

    /// @notice Like {deposit} for an ERC-2612 token, approving this contract with the payer's
    /// permit signature in the same transaction.
    /// @dev Anyone may call; the deposit is the caller's and the permit must be the caller's. If
    /// the permit call fails (for example because someone front-ran it with the same signature)
    /// the deposit still proceeds when the allowance already covers `amount`. Credits what arrived,
    /// like {deposit}. Emits `Deposited`. Reverts with `PaymentChannelsZeroAmount`,
    /// `PaymentChannelsPermitForNativeToken`, `PaymentChannelsPermitFailed` or `EnforcedPause`.
    /// @param token The ERC-2612 token.
    /// @param amount The amount, in token base units (also the permit's value).
    /// @param permitDeadline The permit's deadline, unix seconds.
    /// @param v The permit signature's recovery id.
    /// @param r The permit signature's r.
    /// @param s The permit signature's s.
    function depositWithPermit(
        address token,
        uint256 amount,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    // ------------------------------------------------------------------------------------------
    // Settlement
    // ------------------------------------------------------------------------------------------

    /// @notice Settles many signed vouchers in one call. Each entry pays its pair's increase
    /// (cumulativeAmount minus the pair's settled amount) from the payer's deposit to the payee's
    /// claimable balance, or is skipped with a reason; a bad entry never reverts the batch.
    /// @dev Anyone may call: a valid voucher pays only what its payer signed, at most once, so the
    /// submitter cannot redirect or inflate anything. Entries are processed in order, so two
    /// entries for the same pair settle as the higher one (the lower one is Stale if it comes
    /// second). Checks per entry, in this order: the signature recovers to the payer (else
    /// BadSignature), the amount is above the pair's settled amount (else Stale), the increase
    /// fits the payer's deposit balance (else Overdrawn). Emits `VoucherSettled` or
    /// `VoucherSkipped` per entry.
    ///
    /// Calldata: `addresses` is a table of every payer, payee and token (use `address(0)` for
    /// the native currency) the batch mentions, each once; `entries` is the concatenation of
    /// fixed {BATCH_ENTRY_SIZE} = 87-byte entries, big-endian, without padding:
    ///
    /// | bytes   | field                                         |
    /// |---------|-----------------------------------------------|
    /// | 0..2    | uint16 payer index into `addresses`           |
    /// | 2..4    | uint16 payee index into `addresses`           |
    /// | 4..6    | uint16 token index into `addresses`           |
    /// | 6..22   | uint128 cumulativeAmount                      |
    /// | 22..87  | the payer's 65-byte signature r ‖ s ‖ v       |
    ///
    /// i.e. `solidityPacked(["uint16","uint16","uint16","uint128","bytes"], [...])` with the
    /// 65-byte signature ethers' `signTypedData` returns (v = 27 or 28, low s). A voucher whose
    /// cumulative amount does not fit 128 bits cannot be submitted. Storage is touched least
    /// when entries sharing a payer and token are consecutive (sort by payer, then token).
    /// Reverts with `PaymentChannelsMalformedBatch` or `PaymentChannelsBatchIndexOutOfRange`
    /// (a malformed batch is the submitter's bug, not a payer's).
    /// @param addresses The address table the entries index into.
    /// @param entries The packed entries.
    /// @return settledCount How many entries were paid.
    function settleBatch(
        address[] calldata addresses,
        bytes calldata entries
    ) external returns (uint256 settledCount);

    /// @notice Pays delivered work under a payer's {DeliveryAuthorization}: each claim moves
    /// `amount` from the payer's deposit to `payee`'s claimable balance and raises the pair's
    /// settled amount by it (a voucher whose cumulative amount covers the claimed work is then
    /// stale, never paid twice).
    /// @dev `COORDINATOR_ROLE` only (the coordinator attests the delivery; the payer's signature
    /// caps what it may attest: `maxAmount` in total over the authorization's life, until
    /// `expiry`). Not stopped by a pause, like {settleBatch}. Emits `DeliveryClaimed` per claim.
    /// Reverts with `AccessControlUnauthorizedAccount`, `PaymentChannelsAuthorizationExpired`,
    /// `PaymentChannelsInvalidAuthorization`, `PaymentChannelsZeroAmount` (a zero claim or no
    /// claims), `PaymentChannelsSettledMismatch`, `PaymentChannelsAuthorizationExceeded` or
    /// `PaymentChannelsDepositInsufficient`; nothing is paid then.
    /// @param authorization The payer's authorization.
    /// @param signature The payer's EIP-712 signature of it (65 bytes, or an ERC-1271 blob).
    /// @param claims The payments, in order (one payee may appear twice, with the second's
    /// `settledBefore` counting the first).
    /// @return total What was paid in all, in token base units.
    function claimDelivered(
        DeliveryAuthorization calldata authorization,
        bytes calldata signature,
        DeliveryClaim[] calldata claims
    ) external returns (uint256 total);

    // ------------------------------------------------------------------------------------------
    // Withdrawals
    // ------------------------------------------------------------------------------------------

    /// @notice Starts the challenge period after which the caller can take back its remaining
    /// deposit of `token`.
    /// @dev Payer only (acts on the caller's deposit). The period is snapshotted: a later change
    /// of {challengePeriod} does not move `availableAt`. Emits `WithdrawalRequested`. Reverts with
    /// `PaymentChannelsNothingToWithdraw`, `PaymentChannelsWithdrawalAlreadyRequested` or
    /// `EnforcedPause`.
    /// @param token The token (`address(0)` = native currency).
    function requestWithdrawal(address token) external;

    /// @notice Drops the caller's pending withdrawal request for `token`.
    /// @dev Payer only (acts on the caller's deposit). Emits `WithdrawalCancelled`. Reverts with
    /// `PaymentChannelsNoWithdrawalRequest`.
    /// @param token The token.
    function cancelWithdrawal(address token) external;

    /// @notice Pays the caller's whole remaining deposit of `token` back to it, once the challenge
    /// period of its request is over, and clears the request.
    /// @dev Payer only (acts on the caller's deposit). Emits `DepositWithdrawn`. Reverts with
    /// `PaymentChannelsNoWithdrawalRequest`, `PaymentChannelsChallengePeriodActive`,
    /// `PaymentChannelsNothingToWithdraw` (everything was settled to payees; cancel the request
    /// instead), `PaymentChannelsNativeTransferFailed` or `EnforcedPause`.
    /// @param token The token.
    /// @return amount The amount paid out, in token base units.
    function withdrawDeposit(address token) external returns (uint256 amount);

    /// @notice Pays the caller's whole claimable balance of `token` to it.
    /// @dev Payee only (acts on the caller's balance). Emits `Withdrawn`. Reverts with
    /// `PaymentChannelsNothingClaimable` or `PaymentChannelsNativeTransferFailed`.
    /// @param token The token.
    /// @return amount The amount paid out, in token base units.
    function withdraw(address token) external returns (uint256 amount);

    // ------------------------------------------------------------------------------------------
    // Administration
    // ------------------------------------------------------------------------------------------

    /// @notice Sets the challenge period applied to withdrawal requests made from now on.
    /// @dev `DEFAULT_ADMIN_ROLE` only. Emits `ChallengePeriodUpdated`. Reverts with
    /// `PaymentChannelsInvalidChallengePeriod` unless 0 < `newPeriod` <= {MAX_CHALLENGE_PERIOD}.
    /// @param newPeriod The period, in seconds.
    function setChallengePeriod(uint64 newPeriod) external;

    /// @notice Admin only: stops deposits, withdrawal requests and deposit withdrawals.
    /// @dev Settlement ({settleBatch}), {cancelWithdrawal} and the payees' {withdraw} go on while
    /// paused: vouchers can always be settled (the coordinator stays the watchtower) and what is
    /// already claimable can always leave, while no deposit can leave ahead of its vouchers.
    /// `DEFAULT_ADMIN_ROLE` only. Emits `Paused`. Reverts with
    /// `AccessControlUnauthorizedAccount` or `EnforcedPause`.
    function pause() external;

    /// @notice Admin only: resumes deposits and withdrawals.
    /// @dev `DEFAULT_ADMIN_ROLE` only. Emits `Unpaused`. Reverts with
    /// `AccessControlUnauthorizedAccount` or `ExpectedPause`.
    function unpause() external;

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The EIP-712 type hash of `Voucher(address payer,address payee,address token,uint256 cumulativeAmount)`.
    /// @return The type hash.
    function VOUCHER_TYPEHASH() external view returns (bytes32);

    /// @notice The size in bytes of one packed {settleBatch} entry (87).
    /// @return The entry size.
    function BATCH_ENTRY_SIZE() external view returns (uint256);

    /// @notice The upper bound of {challengePeriod}, in seconds (30 days).
    /// @return The bound.
    function MAX_CHALLENGE_PERIOD() external view returns (uint64);

    /// @notice The full EIP-712 digest a payer signs for `voucher` on this chain and contract:
    /// `keccak256("\x19\x01" ‖ domainSeparator() ‖ keccak256(abi.encode(VOUCHER_TYPEHASH, payer, payee, token, cumulativeAmount)))`.
    /// @param voucher The voucher.
    /// @return The digest.
    function hashVoucher(Voucher calldata voucher) external view returns (bytes32);

    /// @notice The role allowed to {claimDelivered} (the coordinator).
    /// @return The role id, `keccak256("COORDINATOR_ROLE")`.
    function COORDINATOR_ROLE() external view returns (bytes32);

    /// @notice The EIP-712 type hash of `DeliveryAuthorization(address payer,address token,bytes32 salt,uint256 maxAmount,uint64 expiry)`.
    /// @return The type hash.
    function DELIVERY_AUTHORIZATION_TYPEHASH() external view returns (bytes32);

    /// @notice The full EIP-712 digest a payer signs for `authorization` on this chain and contract.
    /// @param authorization The authorization.
    /// @return The digest (also the authorization's id in `DeliveryClaimed` and {claimedOf}).
    function hashDeliveryAuthorization(DeliveryAuthorization calldata authorization) external view returns (bytes32);

    /// @notice What has been claimed so far under an authorization.
    /// @param authorization The authorization's digest ({hashDeliveryAuthorization}).
    /// @return The claimed total, in token base units.
    function claimedOf(bytes32 authorization) external view returns (uint256);

    /// @notice The EIP-712 domain separator for this chain and contract.
    /// @return The separator.
    function domainSeparator() external view returns (bytes32);

    /// @notice The challenge period applied to new withdrawal requests, in seconds.
    /// @return The period.
    function challengePeriod() external view returns (uint64);

    /// @notice A payer's deposit of `token`.
    /// @param payer The payer.
    /// @param token The token.
    /// @return balance The unspent deposit, in token base units.
    /// @return withdrawalRequestedAt Unix seconds of the pending withdrawal request (0 if none).
    /// @return withdrawalAvailableAt Unix seconds from which that request can be executed (0 if none).
    function depositOf(
        address payer,
        address token
    ) external view returns (uint256 balance, uint64 withdrawalRequestedAt, uint64 withdrawalAvailableAt);

    /// @notice What has been settled so far for a pair: the highest cumulative amount paid.
    /// @param payer The payer.
    /// @param payee The payee.
    /// @param token The token.
    /// @return The settled amount, in token base units.
    function settledOf(address payer, address payee, address token) external view returns (uint256);

    /// @notice What a payee can pull with {withdraw}.
    /// @param payee The payee.
    /// @param token The token.
    /// @return The claimable balance, in token base units.
    function claimableOf(address payee, address token) external view returns (uint256);
}
