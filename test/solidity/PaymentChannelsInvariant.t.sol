// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TestBase} from "./utils/Vm.sol";
import {VoucherBatch} from "./PaymentChannels.t.sol";
import {AICPTestToken} from "../../contracts/test/AICPTestToken.sol";
import {PaymentChannels} from "../../contracts/PaymentChannels.sol";
import {IPaymentChannels} from "../../contracts/interfaces/IPaymentChannels.sol";

/// @notice Drives PaymentChannels with random, bounded sequences on behalf of several payers (real
/// private keys, real signatures) and payees: deposits, signed vouchers of random cumulative amounts,
/// batches mixing fresh, replayed and forged vouchers, withdrawal requests, cancellations and
/// withdrawals across time warps. Keeps ghost totals the invariants compare with the contract.
/// @dev Actions only do what is allowed in the current state and expect success; a revert there is
/// a bug and is counted in `unexpectedReverts`. A settled amount that ever decreases is counted in
/// `settledDecreases` (checked right after each batch).
contract ChannelsHandler is TestBase {
    PaymentChannels public immutable channels;
    AICPTestToken public immutable token;

    uint256 public constant PAYERS = 3;
    uint256 public constant PAYEES = 3;
    uint256 public constant TOKENS = 2;
    uint256 internal constant MAX_BATCH = 8;

    uint256[PAYERS] internal payerKeys = [uint256(0xA1), 0xA2, 0xA3];
    address[PAYERS] public payers;
    // Payee 2 is also payer 0: an agent may both pay and be paid.
    address[PAYEES] public payees;
    address[TOKENS] public tokens;

    struct Signed {
        address payer;
        address payee;
        address token;
        uint256 cumulativeAmount;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    Signed[] internal signedVouchers;

    /// Delivery authorizations the payers signed (the handler holds COORDINATOR_ROLE and claims).
    struct Authorized {
        IPaymentChannels.DeliveryAuthorization authorization;
        bytes signature;
    }

    Authorized[] internal authorizations;

    // Ghosts. Per (payer, payee, token): the highest amount the payer signed, the settled amount last
    // observed. Per (payer, token): deposited and withdrawn. Per token: totals.
    mapping(bytes32 pair => uint256) public highestSigned;
    mapping(bytes32 pair => uint256) public lastSettled;
    mapping(address payer => mapping(address token => uint256)) public depositedBy;
    mapping(address payer => mapping(address token => uint256)) public depositWithdrawnBy;
    mapping(address token => uint256) public totalDeposited;
    mapping(address token => uint256) public totalDepositWithdrawn;
    mapping(address token => uint256) public totalPayeeWithdrawn;

    mapping(bytes32 pair => uint256) public claimedOnPair;
    mapping(bytes32 authorization => uint256) public claimedUnder;
    uint256 public claimsPaid;
    /// Claims that succeeded though they had to fail (forged, expired, over the cap or the deposit).
    uint256 public wrongSuccesses;

    uint256 public unexpectedReverts;
    uint256 public settledDecreases;
    uint256 public settleCalls;
    uint256 public vouchersSettled;

    constructor(PaymentChannels channels_, AICPTestToken token_) {
        channels = channels_;
        token = token_;
        for (uint256 i; i < PAYERS; ++i) payers[i] = vm.addr(payerKeys[i]);
        payees[0] = address(0xEE01);
        payees[1] = address(0xEE02);
        payees[2] = payers[0];
        tokens[0] = address(0);
        tokens[1] = address(token_);
    }

    function pairKey(address payer, address payee, address tok) public pure returns (bytes32) {
        return keccak256(abi.encode(payer, payee, tok));
    }

    // ------------------------------------------------------------------------------------------
    // Actions
    // ------------------------------------------------------------------------------------------

    function deposit(uint256 payerSeed, uint256 tokenSeed, uint256 amount) external {
        address payer = payers[payerSeed % PAYERS];
        address tok = tokens[tokenSeed % TOKENS];
        amount = bound(amount, 1, 1e24);
        bool ok;
        if (tok == address(0)) {
            vm.deal(payer, payer.balance + amount);
            vm.prank(payer);
            try channels.deposit{value: amount}(address(0), amount) {
                ok = true;
            } catch {}
        } else {
            token.mint(payer, amount);
            vm.prank(payer);
            token.approve(address(channels), amount);
            vm.prank(payer);
            try channels.deposit(tok, amount) {
                ok = true;
            } catch {}
        }
        if (!ok) return _unexpected();
        depositedBy[payer][tok] += amount;
        totalDeposited[tok] += amount;
    }

    /// Signs a voucher of a random cumulative amount (possibly lower than earlier ones, or above the
    /// deposit) and keeps it for later batches.
    function signVoucher(uint256 payerSeed, uint256 payeeSeed, uint256 tokenSeed, uint256 amount) external {
        uint256 p = payerSeed % PAYERS;
        address payer = payers[p];
        address payee = payees[payeeSeed % PAYEES];
        address tok = tokens[tokenSeed % TOKENS];
        amount = bound(amount, 0, 2e24);
        bytes32 digest = channels.hashVoucher(IPaymentChannels.Voucher(payer, payee, tok, amount));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(payerKeys[p], digest);
        signedVouchers.push(Signed(payer, payee, tok, amount, v, r, s));
        bytes32 key = pairKey(payer, payee, tok);
        if (amount > highestSigned[key]) highestSigned[key] = amount;
    }

    /// Settles up to MAX_BATCH stored vouchers picked at random (replays included); with `forge`,
    /// one entry carries a signature by the wrong payer, or an amount the signature does not cover.
    function settle(uint256 seed, uint256 count, bool forge) external {
        uint256 stored = signedVouchers.length;
        if (stored == 0) return;
        count = bound(count, 1, MAX_BATCH);
        address[] memory table = new address[](PAYERS + PAYEES + TOKENS);
        for (uint256 i; i < PAYERS; ++i) table[i] = payers[i];
        for (uint256 i; i < PAYEES; ++i) table[PAYERS + i] = payees[i];
        for (uint256 i; i < TOKENS; ++i) table[PAYERS + PAYEES + i] = tokens[i];

        bytes memory entries;
        Signed[] memory picked = new Signed[](count);
        for (uint256 i; i < count; ++i) {
            Signed memory sv = signedVouchers[uint256(keccak256(abi.encode(seed, i))) % stored];
            if (forge && i == 0) {
                if (seed % 2 == 0) {
                    // Someone else's signature in this payer's name.
                    sv.payer = payers[(_indexOf(sv.payer) + 1) % PAYERS];
                } else {
                    sv.cumulativeAmount += 1;
                }
            }
            picked[i] = sv;
            entries = bytes.concat(
                entries,
                VoucherBatch.entry(
                    _indexOf(sv.payer),
                    PAYERS + _payeeIndex(sv.payee),
                    PAYERS + PAYEES + (sv.token == address(0) ? 0 : 1),
                    sv.cumulativeAmount,
                    sv.v,
                    sv.r,
                    sv.s
                )
            );
        }

        try channels.settleBatch(table, entries) returns (uint256 settledCount) {
            ++settleCalls;
            vouchersSettled += settledCount;
        } catch {
            return _unexpected();
        }
        for (uint256 i; i < count; ++i) _observe(picked[i].payer, picked[i].payee, picked[i].token);
    }

    /// A payer signs a delivery authorization with a random cap and expiry.
    function signAuthorization(uint256 payerSeed, uint256 tokenSeed, uint256 maxAmount, uint256 lifetime) external {
        uint256 p = payerSeed % PAYERS;
        IPaymentChannels.DeliveryAuthorization memory a = IPaymentChannels.DeliveryAuthorization({
            payer: payers[p],
            token: tokens[tokenSeed % TOKENS],
            salt: keccak256(abi.encode(authorizations.length, payerSeed)),
            maxAmount: bound(maxAmount, 1, 2e24),
            expiry: uint64(block.timestamp + bound(lifetime, 0, 3 days))
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(payerKeys[p], channels.hashDeliveryAuthorization(a));
        authorizations.push(Authorized(a, abi.encodePacked(r, s, v)));
    }

    /// The coordinator claims a random amount for a payee under a stored authorization, with the
    /// pair's current settled amount (or, with `stale`, a wrong one), and with `forge` a signature
    /// by another payer. The claim must succeed exactly when it is valid.
    function claim(uint256 seed, uint256 payeeSeed, uint256 amount, bool stale, bool forge) external {
        if (authorizations.length == 0) return;
        Authorized memory au = authorizations[seed % authorizations.length];
        IPaymentChannels.DeliveryAuthorization memory a = au.authorization;
        address payee = payees[payeeSeed % PAYEES];
        bytes32 key = pairKey(a.payer, payee, a.token);
        uint256 settled = channels.settledOf(a.payer, payee, a.token);
        amount = bound(amount, 1, 1e24);
        bytes memory signature = au.signature;
        if (forge) {
            uint256 other = (_indexOf(a.payer) + 1) % PAYERS;
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(payerKeys[other], channels.hashDeliveryAuthorization(a));
            signature = abi.encodePacked(r, s, v);
        }
        bytes32 digest = channels.hashDeliveryAuthorization(a);
        (uint256 balance, , ) = channels.depositOf(a.payer, a.token);
        bool valid = !forge && !stale && block.timestamp <= a.expiry && claimedUnder[digest] + amount <= a.maxAmount && amount <= balance;
        IPaymentChannels.DeliveryClaim[] memory claims = new IPaymentChannels.DeliveryClaim[](1);
        claims[0] = IPaymentChannels.DeliveryClaim(payee, amount, stale ? settled + 1 : settled);
        try channels.claimDelivered(a, signature, claims) returns (uint256 total) {
            if (!valid || total != amount) return _wrongSuccess();
            claimedOnPair[key] += amount;
            claimedUnder[digest] += amount;
            ++claimsPaid;
        } catch {
            if (valid) return _unexpected();
        }
        _observe(a.payer, payee, a.token);
    }

    function authorizationCount() external view returns (uint256) {
        return authorizations.length;
    }

    /// An authorization's cap and what the contract says was claimed under it.
    function authorizationAt(uint256 i) external view returns (uint256 maxAmount, uint256 claimed, uint256 ghost) {
        IPaymentChannels.DeliveryAuthorization memory a = authorizations[i].authorization;
        bytes32 digest = channels.hashDeliveryAuthorization(a);
        return (a.maxAmount, channels.claimedOf(digest), claimedUnder[digest]);
    }

    function requestWithdrawal(uint256 payerSeed, uint256 tokenSeed) external {
        address payer = payers[payerSeed % PAYERS];
        address tok = tokens[tokenSeed % TOKENS];
        (uint256 balance, uint64 requestedAt, ) = channels.depositOf(payer, tok);
        if (balance == 0 || requestedAt != 0) return;
        vm.prank(payer);
        try channels.requestWithdrawal(tok) {} catch {
            _unexpected();
        }
    }

    function cancelWithdrawal(uint256 payerSeed, uint256 tokenSeed) external {
        address payer = payers[payerSeed % PAYERS];
        address tok = tokens[tokenSeed % TOKENS];
        (, uint64 requestedAt, ) = channels.depositOf(payer, tok);
        if (requestedAt == 0) return;
        vm.prank(payer);
        try channels.cancelWithdrawal(tok) {} catch {
            _unexpected();
        }
    }

    function withdrawDeposit(uint256 payerSeed, uint256 tokenSeed) external {
        address payer = payers[payerSeed % PAYERS];
        address tok = tokens[tokenSeed % TOKENS];
        (uint256 balance, uint64 requestedAt, uint64 availableAt) = channels.depositOf(payer, tok);
        if (requestedAt == 0 || block.timestamp < availableAt || balance == 0) return;
        vm.prank(payer);
        try channels.withdrawDeposit(tok) returns (uint256 amount) {
            if (amount != balance) return _unexpected();
            depositWithdrawnBy[payer][tok] += amount;
            totalDepositWithdrawn[tok] += amount;
        } catch {
            _unexpected();
        }
    }

    function payeeWithdraw(uint256 payeeSeed, uint256 tokenSeed) external {
        address payee = payees[payeeSeed % PAYEES];
        address tok = tokens[tokenSeed % TOKENS];
        uint256 claimable = channels.claimableOf(payee, tok);
        if (claimable == 0) return;
        vm.prank(payee);
        try channels.withdraw(tok) returns (uint256 amount) {
            if (amount != claimable) return _unexpected();
            totalPayeeWithdrawn[tok] += amount;
        } catch {
            _unexpected();
        }
    }

    function warp(uint256 secondsForward) external {
        vm.warp(block.timestamp + bound(secondsForward, 0, 2 days));
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------

    /// The sum of settled amounts of every pair that `payer` pays in `tok`.
    function settledByPayer(address payer, address tok) public view returns (uint256 total) {
        for (uint256 q; q < PAYEES; ++q) total += channels.settledOf(payer, payees[q], tok);
    }

    /// The sum of settled amounts of every pair paying `tok`.
    function settledTotal(address tok) public view returns (uint256 total) {
        for (uint256 p; p < PAYERS; ++p) total += settledByPayer(payers[p], tok);
    }

    function _observe(address payer, address payee, address tok) internal {
        bytes32 key = pairKey(payer, payee, tok);
        uint256 settled = channels.settledOf(payer, payee, tok);
        if (settled < lastSettled[key]) ++settledDecreases;
        lastSettled[key] = settled;
    }

    function _indexOf(address payer) internal view returns (uint256) {
        for (uint256 i; i < PAYERS; ++i) if (payers[i] == payer) return i;
        revert("unknown payer");
    }

    function _payeeIndex(address payee) internal view returns (uint256) {
        for (uint256 i; i < PAYEES; ++i) if (payees[i] == payee) return i;
        revert("unknown payee");
    }

    function _wrongSuccess() internal {
        ++wrongSuccesses;
    }

    function _unexpected() internal {
        ++unexpectedReverts;
    }
}

/// @notice Invariants of PaymentChannels under random sequences of the handler's actions.
/// @dev Each invariant runs its own campaign; 64 runs of 100 calls each keep the suite under a
/// minute (every batch recovers up to 8 signatures).
/// forge-config: invariant.runs = 64
/// forge-config: invariant.depth = 100
contract PaymentChannelsInvariantTest is TestBase {
    PaymentChannels internal channels;
    AICPTestToken internal token;
    ChannelsHandler internal handler;

    function setUp() public {
        channels = new PaymentChannels(address(this), 1 days);
        token = new AICPTestToken();
        handler = new ChannelsHandler(channels, token);
        channels.grantRole(channels.COORDINATOR_ROLE(), address(handler));
        targetContract(address(handler));
    }

    /// A pair's settled amount never exceeds the highest voucher its payer signed for it plus
    /// what was claimed for it under the payer's delivery authorizations, and never decreases.
    function invariant_settledBoundedBySignedAndMonotonic() public view {
        for (uint256 p; p < handler.PAYERS(); ++p) {
            for (uint256 q; q < handler.PAYEES(); ++q) {
                for (uint256 t; t < handler.TOKENS(); ++t) {
                    address payer = handler.payers(p);
                    address payee = handler.payees(q);
                    address tok = handler.tokens(t);
                    uint256 settled = channels.settledOf(payer, payee, tok);
                    bytes32 key = handler.pairKey(payer, payee, tok);
                    assertLe(settled, handler.highestSigned(key) + handler.claimedOnPair(key), "settled above signed + claimed");
                }
            }
        }
        assertEq(handler.settledDecreases(), 0, "a settled amount decreased");
    }

    /// No payer is charged above what it deposited: balance + settled + withdrawn == deposited.
    function invariant_payerNeverChargedAboveDeposit() public view {
        for (uint256 p; p < handler.PAYERS(); ++p) {
            for (uint256 t; t < handler.TOKENS(); ++t) {
                address payer = handler.payers(p);
                address tok = handler.tokens(t);
                (uint256 balance, , ) = channels.depositOf(payer, tok);
                uint256 settled = handler.settledByPayer(payer, tok);
                uint256 withdrawn = handler.depositWithdrawnBy(payer, tok);
                assertLe(settled, handler.depositedBy(payer, tok), "charged above deposit");
                assertEq(balance + settled + withdrawn, handler.depositedBy(payer, tok), "payer accounting");
            }
        }
    }

    /// Per token, the contract holds exactly the deposit balances plus the claimable balances, and
    /// everything deposited is held or was withdrawn.
    function invariant_conservation() public view {
        for (uint256 t; t < handler.TOKENS(); ++t) {
            address tok = handler.tokens(t);
            uint256 balances;
            for (uint256 p; p < handler.PAYERS(); ++p) {
                (uint256 b, , ) = channels.depositOf(handler.payers(p), tok);
                balances += b;
            }
            uint256 claimable;
            for (uint256 q; q < handler.PAYEES(); ++q) claimable += channels.claimableOf(handler.payees(q), tok);
            uint256 held = tok == address(0) ? address(channels).balance : token.balanceOf(address(channels));
            assertEq(held, balances + claimable, "held != balances + claimable");
            uint256 withdrawn = handler.totalDepositWithdrawn(tok) + handler.totalPayeeWithdrawn(tok);
            assertEq(handler.totalDeposited(tok), balances + claimable + withdrawn, "deposited != held + withdrawn");
            assertEq(handler.settledTotal(tok), claimable + handler.totalPayeeWithdrawn(tok), "settled != paid to payees");
        }
    }

    /// No authorization pays past its cap; the contract's claimed totals match the claims paid;
    /// no invalid claim (forged, expired, stale, over the cap or the deposit) ever succeeded.
    function invariant_claimsWithinAuthorizations() public view {
        for (uint256 i; i < handler.authorizationCount(); ++i) {
            (uint256 maxAmount, uint256 claimed, uint256 ghost) = handler.authorizationAt(i);
            assertLe(claimed, maxAmount, "claimed above the cap");
            assertEq(claimed, ghost, "claimed != claims paid");
        }
        assertEq(handler.wrongSuccesses(), 0, "an invalid claim succeeded");
    }

    /// Every action the handler attempted in a valid state succeeded.
    function invariant_noUnexpectedReverts() public view {
        assertEq(handler.unexpectedReverts(), 0, "unexpected reverts");
    }
}
