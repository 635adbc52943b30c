// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IPaymentChannels} from "./interfaces/IPaymentChannels.sol";
import {TokenTransfers} from "./libraries/TokenTransfers.sol";

/// @title PaymentChannels
/// @notice One-to-many payment channels settled in batches from cumulative EIP-712 vouchers.
/// See {IPaymentChannels}.
/// @dev Gas per settled voucher is dominated by the signature recovery (3 000), the pair's slot
/// (one slot per (payer, payee, token), keyed by `keccak256(abi.encode(payer, payee, token))`:
/// 5 000 when it already holds a value) and the event. The payer's deposit balance and the
/// payee's claimable balance are carried in memory across consecutive entries that share them
/// and written once per run, so a batch sorted by payer and token reads and writes each deposit
/// slot once. The per-entry decoding, hashing and bookkeeping are in assembly for that reason;
/// the signature itself goes through OpenZeppelin's `ECDSA.tryRecover`.
contract PaymentChannels is IPaymentChannels, EIP712, ReentrancyGuardTransient, AccessControl, Pausable {
    /// @inheritdoc IPaymentChannels
    bytes32 public constant override VOUCHER_TYPEHASH =
        keccak256("Voucher(address payer,address payee,address token,uint256 cumulativeAmount)");

    /// @inheritdoc IPaymentChannels
    bytes32 public constant override DELIVERY_AUTHORIZATION_TYPEHASH =
        keccak256("DeliveryAuthorization(address payer,address token,bytes32 salt,uint256 maxAmount,uint64 expiry)");

    /// @inheritdoc IPaymentChannels
    bytes32 public constant override COORDINATOR_ROLE = keccak256("COORDINATOR_ROLE");

    /// @inheritdoc IPaymentChannels
    uint256 public constant override BATCH_ENTRY_SIZE = 87;

    /// @inheritdoc IPaymentChannels
    uint64 public constant override MAX_CHALLENGE_PERIOD = 30 days;

    /// @dev A payer's deposit in one token. `balance` sits alone in its slot so that settlement
    /// reads and writes one slot; the request times share the next one.
    struct Deposit {
        uint256 balance;
        uint64 withdrawalRequestedAt;
        uint64 withdrawalAvailableAt;
    }

    /// @dev One decoded batch entry, only ever in memory (one word per field, so packing does not
    /// apply). The first four fields are laid out exactly as
    /// `abi.encode(payer, payee, token, cumulativeAmount)`, which {_decodeEntry} hashes in place.
    // solhint-disable-next-line gas-struct-packing
    struct Entry {
        address payer;
        address payee;
        address token;
        uint256 cumulativeAmount;
        bytes32 pairKey;
        bytes32 digest;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    /// @dev Balances carried across consecutive entries: the deposit of (`payer`, `token`) as it
    /// stands after the entries so far, and what (`payee`, `creditToken`) earned from them and
    /// has not yet been added to its claimable balance.
    struct Run {
        address payer;
        address token;
        uint256 balance;
        address payee;
        address creditToken;
        uint256 credit;
    }

    // Byte offsets of the struct fields above in memory, for the assembly of the settlement loop.
    uint256 private constant _PAYER = 0x00;
    uint256 private constant _PAYEE = 0x20;
    uint256 private constant _TOKEN = 0x40;
    uint256 private constant _CUMULATIVE = 0x60;
    uint256 private constant _PAIR_KEY = 0x80;
    uint256 private constant _DIGEST = 0xa0;
    uint256 private constant _R = 0xc0;
    uint256 private constant _S = 0xe0;
    uint256 private constant _V = 0x100;
    uint256 private constant _RUN_PAYER = 0x00;
    uint256 private constant _RUN_TOKEN = 0x20;
    uint256 private constant _RUN_BALANCE = 0x40;
    uint256 private constant _RUN_PAYEE = 0x60;
    uint256 private constant _RUN_CREDIT_TOKEN = 0x80;
    uint256 private constant _RUN_CREDIT = 0xa0;

    // {_applyEntry}'s statuses: settled, or the `SkipReason` value of why not.
    uint256 private constant _SETTLED = 0xff;
    uint256 private constant _STALE = 1; // uint256(SkipReason.Stale)
    uint256 private constant _OVERDRAWN = 2; // uint256(SkipReason.Overdrawn)

    uint64 private _challengePeriod;
    mapping(address payer => mapping(address token => Deposit)) private _deposits;
    mapping(bytes32 pairKey => uint256 settled) private _settled;
    mapping(address payee => mapping(address token => uint256)) private _claimable;
    mapping(bytes32 authorization => uint256 claimed) private _claimed;

    /// @param admin Receives `DEFAULT_ADMIN_ROLE` (sets the challenge period).
    /// @param challengePeriodSeconds The initial challenge period, in seconds.
    constructor(address admin, uint64 challengePeriodSeconds) EIP712("AICP PaymentChannels", "1") {
        if (admin == address(0)) revert PaymentChannelsZeroAddress();
        _setChallengePeriod(challengePeriodSeconds);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------------------------------
    // Deposits
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentChannels
    function deposit(address token, uint256 amount) external payable override whenNotPaused nonReentrant {
        if (amount == 0) revert PaymentChannelsZeroAmount();
        uint256 expectedValue = token == address(0) ? amount : 0;
        if (msg.value != expectedValue) revert PaymentChannelsMsgValueMismatch(expectedValue, msg.value);
        // The pull comes first so that the deposit is what arrived (fee-on-transfer tokens);
        // nonReentrant covers the token's callback window.
        _creditDeposit(token, token == address(0) ? amount : TokenTransfers.pull(token, msg.sender, amount));
    }

    /// @inheritdoc IPaymentChannels
    function depositWithPermit(
        address token,
        uint256 amount,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external override whenNotPaused nonReentrant {
        if (amount == 0) revert PaymentChannelsZeroAmount();
        if (token == address(0)) revert PaymentChannelsPermitForNativeToken();
        try IERC20Permit(token).permit(msg.sender, address(this), amount, permitDeadline, v, r, s) {} catch {
            // Someone may have submitted the same permit first; what matters is the allowance.
            uint256 allowance = IERC20(token).allowance(msg.sender, address(this));
            if (allowance < amount) revert PaymentChannelsPermitFailed(token, allowance, amount);
        }
        _creditDeposit(token, TokenTransfers.pull(token, msg.sender, amount));
    }

    // ------------------------------------------------------------------------------------------
    // Settlement
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentChannels
    function settleBatch(
        address[] calldata addresses,
        bytes calldata entries
    ) external override nonReentrant returns (uint256 settledCount) {
        uint256 length = entries.length;
        if (length % BATCH_ENTRY_SIZE != 0) revert PaymentChannelsMalformedBatch(length);
        bytes32 separator = _domainSeparatorV4();
        Entry memory entry;
        Run memory run;
        for (uint256 offset; offset < length; ) {
            _decodeEntry(entry, separator, addresses, entries, offset);
            (address signer, , ) = ECDSA.tryRecover(entry.digest, entry.v, entry.r, entry.s);
            // tryRecover returns address(0) for every invalid or malleable signature.
            uint256 status = (signer != address(0) && signer == entry.payer)
                ? _applyEntry(run, entry)
                : uint256(SkipReason.BadSignature);
            if (status == _SETTLED) {
                // At most length / BATCH_ENTRY_SIZE increments: cannot overflow.
                unchecked {
                    ++settledCount;
                }
            } else {
                emit VoucherSkipped(entry.payer, entry.payee, entry.token, entry.cumulativeAmount, SkipReason(status));
            }
            // offset < length <= calldata size, far below 2^256.
            unchecked {
                offset += BATCH_ENTRY_SIZE;
            }
        }
        _flushRun(run);
    }

    /// @inheritdoc IPaymentChannels
    function claimDelivered(
        DeliveryAuthorization calldata authorization,
        bytes calldata signature,
        DeliveryClaim[] calldata claims
    ) external override onlyRole(COORDINATOR_ROLE) nonReentrant returns (uint256 total) {
        if (block.timestamp > authorization.expiry) revert PaymentChannelsAuthorizationExpired(authorization.expiry);
        if (claims.length == 0) revert PaymentChannelsZeroAmount();
        address payer = authorization.payer;
        address token = authorization.token;
        bytes32 digest = _hashAuthorization(authorization);
        if (!SignatureChecker.isValidSignatureNow(payer, digest, signature)) revert PaymentChannelsInvalidAuthorization(payer);
        for (uint256 i; i < claims.length; ++i) {
            DeliveryClaim calldata c = claims[i];
            if (c.amount == 0) revert PaymentChannelsZeroAmount();
            bytes32 pair = keccak256(abi.encode(payer, c.payee, token));
            uint256 settled = _settled[pair];
            if (settled != c.settledBefore) revert PaymentChannelsSettledMismatch(c.payee, c.settledBefore, settled);
            total += c.amount;
            uint256 cumulative = settled + c.amount;
            _settled[pair] = cumulative;
            _claimable[c.payee][token] += c.amount;
            emit DeliveryClaimed(payer, c.payee, digest, token, c.amount, cumulative);
        }
        uint256 claimed = _claimed[digest] + total;
        if (claimed > authorization.maxAmount) revert PaymentChannelsAuthorizationExceeded(authorization.maxAmount, claimed);
        Deposit storage d = _deposits[payer][token];
        uint256 balance = d.balance;
        if (total > balance) revert PaymentChannelsDepositInsufficient(balance, total);
        _claimed[digest] = claimed;
        d.balance = balance - total;
    }

    // ------------------------------------------------------------------------------------------
    // Withdrawals
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentChannels
    function requestWithdrawal(address token) external override whenNotPaused {
        Deposit storage d = _deposits[msg.sender][token];
        if (d.withdrawalRequestedAt != 0) revert PaymentChannelsWithdrawalAlreadyRequested(d.withdrawalAvailableAt);
        uint256 balance = d.balance;
        if (balance == 0) revert PaymentChannelsNothingToWithdraw();
        uint64 availableAt = uint64(block.timestamp) + _challengePeriod;
        d.withdrawalRequestedAt = uint64(block.timestamp);
        d.withdrawalAvailableAt = availableAt;
        emit WithdrawalRequested(msg.sender, token, balance, availableAt);
    }

    /// @inheritdoc IPaymentChannels
    function cancelWithdrawal(address token) external override {
        Deposit storage d = _deposits[msg.sender][token];
        if (d.withdrawalRequestedAt == 0) revert PaymentChannelsNoWithdrawalRequest();
        _clearRequest(d, token);
    }

    /// @inheritdoc IPaymentChannels
    function withdrawDeposit(address token) external override whenNotPaused nonReentrant returns (uint256 amount) {
        Deposit storage d = _deposits[msg.sender][token];
        if (d.withdrawalRequestedAt == 0) revert PaymentChannelsNoWithdrawalRequest();
        uint64 availableAt = d.withdrawalAvailableAt;
        if (block.timestamp < availableAt) revert PaymentChannelsChallengePeriodActive(availableAt);
        amount = d.balance;
        if (amount == 0) revert PaymentChannelsNothingToWithdraw();
        d.balance = 0;
        d.withdrawalRequestedAt = 0;
        d.withdrawalAvailableAt = 0;
        emit DepositWithdrawn(msg.sender, token, amount);
        _send(token, msg.sender, amount);
    }

    /// @inheritdoc IPaymentChannels
    function withdraw(address token) external override nonReentrant returns (uint256 amount) {
        amount = _claimable[msg.sender][token];
        if (amount == 0) revert PaymentChannelsNothingClaimable();
        _claimable[msg.sender][token] = 0;
        emit Withdrawn(msg.sender, token, amount);
        _send(token, msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------
    // Administration
    // ------------------------------------------------------------------------------------------

    /// @inheritdoc IPaymentChannels
    function setChallengePeriod(uint64 newPeriod) external override onlyRole(DEFAULT_ADMIN_ROLE) {
        _setChallengePeriod(newPeriod);
    }

    /// @inheritdoc IPaymentChannels
    function pause() external override onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @inheritdoc IPaymentChannels
    function unpause() external override onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice ERC-165: true for IPaymentChannels, IAccessControl and IERC165.
    /// @param interfaceId The interface id.
    /// @return Whether the interface is supported.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IPaymentChannels).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @inheritdoc IPaymentChannels
    function hashVoucher(Voucher calldata voucher) external view override returns (bytes32) {
        return
            _hashTypedDataV4(
                keccak256(
                    abi.encode(
                        VOUCHER_TYPEHASH,
                        voucher.payer,
                        voucher.payee,
                        voucher.token,
                        voucher.cumulativeAmount
                    )
                )
            );
    }

    /// @inheritdoc IPaymentChannels
    function hashDeliveryAuthorization(DeliveryAuthorization calldata authorization) external view override returns (bytes32) {
        return _hashAuthorization(authorization);
    }

    /// @inheritdoc IPaymentChannels
    function claimedOf(bytes32 authorization) external view override returns (uint256) {
        return _claimed[authorization];
    }

    /// @inheritdoc IPaymentChannels
    function domainSeparator() external view override returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IPaymentChannels
    function challengePeriod() external view override returns (uint64) {
        return _challengePeriod;
    }

    /// @inheritdoc IPaymentChannels
    function depositOf(
        address payer,
        address token
    ) external view override returns (uint256 balance, uint64 withdrawalRequestedAt, uint64 withdrawalAvailableAt) {
        Deposit storage d = _deposits[payer][token];
        return (d.balance, d.withdrawalRequestedAt, d.withdrawalAvailableAt);
    }

    /// @inheritdoc IPaymentChannels
    function settledOf(address payer, address payee, address token) external view override returns (uint256) {
        return _settled[keccak256(abi.encode(payer, payee, token))];
    }

    /// @inheritdoc IPaymentChannels
    function claimableOf(address payee, address token) external view override returns (uint256) {
        return _claimable[payee][token];
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Reads the entry at `offset` (layout in {IPaymentChannels-settleBatch}) into `entry`,
    /// with `pairKey = keccak256(abi.encode(payer, payee, token))` and the voucher's EIP-712
    /// `digest` (the value {hashVoucher} returns). Reverts with
    /// `PaymentChannelsBatchIndexOutOfRange` if an index is outside `addresses`.
    function _decodeEntry(
        Entry memory entry,
        bytes32 separator,
        address[] calldata addresses,
        bytes calldata entries,
        uint256 offset
    ) private pure {
        bytes32 typeHash = VOUCHER_TYPEHASH;
        uint256 maxIndex;
        assembly ("memory-safe") {
            let p := add(entries.offset, offset)
            {
                let addressMask := 0xffffffffffffffffffffffffffffffffffffffff
                let word := calldataload(p)
                mstore(add(entry, _CUMULATIVE), and(shr(80, word), 0xffffffffffffffffffffffffffffffff))
                // Masking keeps only the address bits of a table word, so dirty upper bits cannot
                // reach the hashes. An out-of-range index reads junk here and reverts below.
                let index := shr(240, word)
                maxIndex := index
                mstore(add(entry, _PAYER), and(calldataload(add(addresses.offset, shl(5, index))), addressMask))
                index := and(shr(224, word), 0xffff)
                if gt(index, maxIndex) {
                    maxIndex := index
                }
                mstore(add(entry, _PAYEE), and(calldataload(add(addresses.offset, shl(5, index))), addressMask))
                index := and(shr(208, word), 0xffff)
                if gt(index, maxIndex) {
                    maxIndex := index
                }
                mstore(add(entry, _TOKEN), and(calldataload(add(addresses.offset, shl(5, index))), addressMask))
            }
            mstore(add(entry, _R), calldataload(add(p, 22)))
            mstore(add(entry, _S), calldataload(add(p, 54)))
            mstore(add(entry, _V), byte(0, calldataload(add(p, 86))))

            // Hash in the memory past the free-memory pointer, without allocating it.
            let m := mload(0x40)
            mstore(m, typeHash)
            mcopy(add(m, 0x20), entry, 0x80) // payer, payee, token, cumulativeAmount
            let structHash := keccak256(m, 0xa0)
            mstore(add(entry, _PAIR_KEY), keccak256(add(m, 0x20), 0x60))
            mstore(m, shl(240, 0x1901))
            mstore(add(m, 0x02), separator)
            mstore(add(m, 0x22), structHash)
            mstore(add(entry, _DIGEST), keccak256(m, 0x42))
        }
        if (maxIndex >= addresses.length) {
            revert PaymentChannelsBatchIndexOutOfRange(offset / BATCH_ENTRY_SIZE, maxIndex);
        }
    }

    /// @dev Settles a correctly signed entry. Returns `_SETTLED`, or the reason it was skipped
    /// (Stale or Overdrawn), in which case nothing changed. The payer's deposit and the payee's
    /// credit move in `run`, written to storage only when the run changes (see {_flushRun}).
    /// Emits `VoucherSettled`.
    // One assembly routine kept whole: splitting it would add a call per entry to the hot path.
    // solhint-disable-next-line function-max-lines
    function _applyEntry(Run memory run, Entry memory entry) private returns (uint256 status) {
        bytes32 settledTopic = VoucherSettled.selector;
        assembly ("memory-safe") {
            // Storage slot of `mapping(outer => mapping(inner => ...))` at `base`, as Solidity
            // lays it out: keccak256(inner . keccak256(outer . base)).
            function nestedSlot(outer, inner, base) -> result {
                mstore(0x00, outer)
                mstore(0x20, base)
                mstore(0x20, keccak256(0x00, 0x40))
                mstore(0x00, inner)
                result := keccak256(0x00, 0x40)
            }

            status := _SETTLED
            mstore(0x00, mload(add(entry, _PAIR_KEY)))
            mstore(0x20, _settled.slot)
            let settledSlot := keccak256(0x00, 0x40)
            let increase := 0
            {
                let cumulative := mload(add(entry, _CUMULATIVE))
                let alreadySettled := sload(settledSlot)
                // cumulative > alreadySettled: cannot underflow.
                if gt(cumulative, alreadySettled) {
                    increase := sub(cumulative, alreadySettled)
                }
            }
            switch increase
            case 0 {
                status := _STALE
            }
            default {
                // Carry (payer, token)'s deposit: write the previous run's back, load this one.
                if or(
                    xor(mload(add(entry, _PAYER)), mload(add(run, _RUN_PAYER))),
                    xor(mload(add(entry, _TOKEN)), mload(add(run, _RUN_TOKEN)))
                ) {
                    let runPayer := mload(add(run, _RUN_PAYER))
                    if runPayer {
                        // Deposit.balance is the struct's first slot.
                        sstore(nestedSlot(runPayer, mload(add(run, _RUN_TOKEN)), _deposits.slot), mload(add(run, _RUN_BALANCE)))
                    }
                    let payer := mload(add(entry, _PAYER))
                    let token := mload(add(entry, _TOKEN))
                    mstore(add(run, _RUN_PAYER), payer)
                    mstore(add(run, _RUN_TOKEN), token)
                    mstore(add(run, _RUN_BALANCE), sload(nestedSlot(payer, token, _deposits.slot)))
                }
                let available := mload(add(run, _RUN_BALANCE))
                switch gt(increase, available)
                case 1 {
                    status := _OVERDRAWN
                }
                default {
                    // increase <= available: cannot underflow.
                    mstore(add(run, _RUN_BALANCE), sub(available, increase))
                    sstore(settledSlot, mload(add(entry, _CUMULATIVE)))

                    // Carry (payee, token)'s credit: add the previous run's to its claimable balance.
                    switch or(
                        xor(mload(add(entry, _PAYEE)), mload(add(run, _RUN_PAYEE))),
                        xor(mload(add(entry, _TOKEN)), mload(add(run, _RUN_CREDIT_TOKEN)))
                    )
                    case 0 {
                        // Every unit credited was first debited from a deposit of the same token,
                        // so the sum stays below the token's supply: cannot overflow.
                        mstore(add(run, _RUN_CREDIT), add(mload(add(run, _RUN_CREDIT)), increase))
                    }
                    default {
                        let credit := mload(add(run, _RUN_CREDIT))
                        if credit {
                            let slot := nestedSlot(
                                mload(add(run, _RUN_PAYEE)),
                                mload(add(run, _RUN_CREDIT_TOKEN)),
                                _claimable.slot
                            )
                            // Same bound: a claimable total stays below the token's supply.
                            sstore(slot, add(sload(slot), credit))
                        }
                        mstore(add(run, _RUN_PAYEE), mload(add(entry, _PAYEE)))
                        mstore(add(run, _RUN_CREDIT_TOKEN), mload(add(entry, _TOKEN)))
                        mstore(add(run, _RUN_CREDIT), increase)
                    }

                    // emit VoucherSettled(payer, payee, token, cumulativeAmount, increase)
                    let m := mload(0x40)
                    mstore(m, mload(add(entry, _TOKEN)))
                    mstore(add(m, 0x20), mload(add(entry, _CUMULATIVE)))
                    mstore(add(m, 0x40), increase)
                    log3(m, 0x60, settledTopic, mload(add(entry, _PAYER)), mload(add(entry, _PAYEE)))
                }
            }
        }
    }

    /// @dev Writes what `run` still carries to storage: the deposit balance, and the credit added
    /// to the payee's claimable balance. `run.payer` is zero only if no entry got past the
    /// signature and staleness checks, since no valid signature recovers to address(0).
    function _flushRun(Run memory run) private {
        if (run.payer != address(0)) _deposits[run.payer][run.token].balance = run.balance;
        if (run.credit != 0) _claimable[run.payee][run.creditToken] += run.credit;
    }

    /// @dev The EIP-712 digest of a {DeliveryAuthorization} on this chain and contract.
    function _hashAuthorization(DeliveryAuthorization calldata a) private view returns (bytes32) {
        return
            _hashTypedDataV4(
                keccak256(abi.encode(DELIVERY_AUTHORIZATION_TYPEHASH, a.payer, a.token, a.salt, a.maxAmount, a.expiry))
            );
    }

    /// @dev Adds a deposit for the caller; a pending withdrawal request is cancelled first.
    function _creditDeposit(address token, uint256 amount) private {
        if (amount == 0) revert PaymentChannelsZeroAmount(); // a token that delivered nothing
        Deposit storage d = _deposits[msg.sender][token];
        if (d.withdrawalRequestedAt != 0) _clearRequest(d, token);
        uint256 newBalance = d.balance + amount;
        d.balance = newBalance;
        emit Deposited(msg.sender, token, amount, newBalance);
    }

    function _clearRequest(Deposit storage d, address token) private {
        d.withdrawalRequestedAt = 0;
        d.withdrawalAvailableAt = 0;
        emit WithdrawalCancelled(msg.sender, token);
    }

    function _setChallengePeriod(uint64 newPeriod) private {
        if (newPeriod == 0 || newPeriod > MAX_CHALLENGE_PERIOD) revert PaymentChannelsInvalidChallengePeriod(newPeriod);
        uint64 previousPeriod = _challengePeriod;
        _challengePeriod = newPeriod;
        emit ChallengePeriodUpdated(previousPeriod, newPeriod);
    }

    /// @dev Pays `amount` of `token` (native when zero) to `to`. Called last, after every effect.
    function _send(address token, address to, uint256 amount) private {
        if (!TokenTransfers.send(token, to, amount)) revert PaymentChannelsNativeTransferFailed(to, amount);
    }
}
