// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TestBase} from "./utils/Vm.sol";
import {FeeOnTransferToken} from "./utils/FeeOnTransferToken.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {AICPTestToken} from "../../contracts/test/AICPTestToken.sol";
import {PaymentChannels} from "../../contracts/PaymentChannels.sol";
import {IPaymentChannels} from "../../contracts/interfaces/IPaymentChannels.sol";

/// @notice Builds settleBatch calldata in Solidity tests: entries are
/// `uint16 payer | uint16 payee | uint16 token | uint128 cumulativeAmount | r | s | v` indexing an address table.
library VoucherBatch {
    function entry(
        uint256 payerIndex,
        uint256 payeeIndex,
        uint256 tokenIndex,
        uint256 cumulativeAmount,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) internal pure returns (bytes memory) {
        return
            abi.encodePacked(
                uint16(payerIndex),
                uint16(payeeIndex),
                uint16(tokenIndex),
                uint128(cumulativeAmount),
                r,
                s,
                v
            );
    }
}

/// @notice Rejects the native currency, as a payee or payer contract without `receive` would.
contract NoReceive {
    function call(address target, bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }
}

/// @notice A payee whose `receive` tries to withdraw again.
contract Reenterer {
    PaymentChannels internal immutable channels;
    bool public reentered;

    constructor(PaymentChannels channels_) {
        channels = channels_;
    }

    function withdraw() external {
        channels.withdraw(address(0));
    }

    receive() external payable {
        // The nested call must fail on the reentrancy guard, which makes the transfer fail.
        channels.withdraw(address(0));
        reentered = true;
    }
}

/// @notice Unit and fuzz tests of PaymentChannels that need cheatcodes: chain-id replay, signatures
/// made with private keys, recipients that reject the native currency, reentrancy, raw calldata.
contract PaymentChannelsTest is TestBase {
    PaymentChannels internal channels;
    AICPTestToken internal token;

    uint256 internal constant PAYER_KEY = 0xA11CE;
    uint256 internal constant OTHER_KEY = 0xB0B;
    address internal payer;
    address internal constant PAYEE = address(0xBEEF);
    uint64 internal constant PERIOD = 1 days;

    function setUp() public {
        channels = new PaymentChannels(address(this), PERIOD);
        token = new AICPTestToken();
        payer = vm.addr(PAYER_KEY);
        vm.deal(payer, 1_000 ether);
        vm.prank(payer);
        channels.deposit{value: 100 ether}(address(0), 100 ether);
        token.mint(payer, 1e12);
        vm.startPrank(payer);
        token.approve(address(channels), type(uint256).max);
        channels.deposit(address(token), 1e12);
        vm.stopPrank();
    }

    function _sign(uint256 key, address payee, address tok, uint256 amount) internal view returns (bytes memory) {
        bytes32 digest = channels.hashVoucher(IPaymentChannels.Voucher(vm.addr(key), payee, tok, amount));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return VoucherBatch.entry(0, 1, 2, amount, v, r, s);
    }

    function _table(address payer_, address payee, address tok) internal pure returns (address[] memory t) {
        t = new address[](3);
        t[0] = payer_;
        t[1] = payee;
        t[2] = tok;
    }

    function _balance(address who, address tok) internal view returns (uint256 balance) {
        (balance, , ) = channels.depositOf(who, tok);
    }

    /// A fee-on-transfer token's deposit is credited with what arrived, never the nominal amount:
    /// the deposit can then always be paid out in full.
    function testFuzz_depositCreditsWhatArrived(uint96 amount) public {
        vm.assume(amount >= 100);
        FeeOnTransferToken fot = new FeeOnTransferToken();
        fot.mint(payer, amount);
        vm.startPrank(payer);
        fot.approve(address(channels), amount);
        uint256 expected = amount - amount / 100;
        vm.expectEmit(true, true, false, true, address(channels));
        emit IPaymentChannels.Deposited(payer, address(fot), expected, expected);
        channels.deposit(address(fot), amount);
        vm.stopPrank();
        assertEq(_balance(payer, address(fot)), expected, "credited deposit");
        assertEq(fot.balanceOf(address(channels)), expected, "held by the contract");
    }

    /// A token that delivers nothing credits nothing: the deposit is refused.
    function test_depositOfNothingArrivedIsRefused() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        fot.mint(payer, 1_000);
        fot.setCutAll(true);
        vm.startPrank(payer);
        fot.approve(address(channels), 1_000);
        vm.expectRevert(IPaymentChannels.PaymentChannelsZeroAmount.selector);
        channels.deposit(address(fot), 1_000);
        vm.stopPrank();
    }

    /// Paused: no deposit, withdrawal request or deposit withdrawal; settlement and the payees'
    /// withdrawals go on, so outstanding vouchers are still paid.
    function test_pauseStopsDepositsAndWithdrawalsButNotSettlement() public {
        vm.prank(payer);
        channels.requestWithdrawal(address(0));
        channels.pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        channels.deposit{value: 1 ether}(address(0), 1 ether);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        channels.requestWithdrawal(address(token));
        vm.warp(block.timestamp + PERIOD + 1);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vm.prank(payer);
        channels.withdrawDeposit(address(0));
        // The watchtower still settles while paused, and the payee still withdraws.
        bytes memory e = _sign(PAYER_KEY, PAYEE, address(0), 3 ether);
        channels.settleBatch(_table(payer, PAYEE, address(0)), e);
        assertEq(channels.claimableOf(PAYEE, address(0)), 3 ether, "settled while paused");
        vm.prank(PAYEE);
        channels.withdraw(address(0));
        assertEq(PAYEE.balance, 3 ether, "withdrawn while paused");
        channels.unpause();
        vm.prank(payer);
        channels.withdrawDeposit(address(0));
        assertEq(_balance(payer, address(0)), 0, "withdrawn after unpause");
    }

    /// The digest hashVoucher returns is the EIP-712 digest, and a signature over it settles.
    function testFuzz_hashVoucherMatchesEip712(address payee, address tok, uint256 amount) public view {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("AICP PaymentChannels"),
                keccak256("1"),
                block.chainid,
                address(channels)
            )
        );
        assertTrue(channels.domainSeparator() == domain, "domain separator");
        bytes32 structHash = keccak256(abi.encode(channels.VOUCHER_TYPEHASH(), payer, payee, tok, amount));
        bytes32 expected = keccak256(abi.encodePacked(hex"1901", domain, structHash));
        assertTrue(channels.hashVoucher(IPaymentChannels.Voucher(payer, payee, tok, amount)) == expected, "digest");
    }

    /// A voucher signed under one chain id is a bad signature under another, and the domain follows the chain.
    function testFuzz_voucherDoesNotReplayAcrossChains(uint64 otherChainId, uint96 amount) public {
        vm.assume(otherChainId != block.chainid && otherChainId != 0);
        amount = uint96(bound(amount, 1, 100 ether));
        bytes memory signedHere = _sign(PAYER_KEY, PAYEE, address(0), amount);
        bytes32 separatorHere = channels.domainSeparator();

        vm.chainId(otherChainId);
        assertTrue(channels.domainSeparator() != separatorHere, "separator follows the chain id");
        assertEq(channels.settleBatch(_table(payer, PAYEE, address(0)), signedHere), 0, "replayed voucher settled");
        assertEq(channels.settledOf(payer, PAYEE, address(0)), 0, "settled");
        assertEq(_balance(payer, address(0)), 100 ether, "payer charged");

        // Signed for the chain it is on, it settles.
        bytes memory signedThere = _sign(PAYER_KEY, PAYEE, address(0), amount);
        assertEq(channels.settleBatch(_table(payer, PAYEE, address(0)), signedThere), 1, "fresh voucher");
        assertEq(channels.claimableOf(PAYEE, address(0)), amount, "claimable");
    }

    /// Whatever sequence of vouchers is settled, a pair's settled amount is the highest affordable one
    /// seen so far and never decreases; the payer is charged exactly that.
    function testFuzz_settledIsMonotonic(uint128[6] memory amounts) public {
        uint256 highest;
        for (uint256 i; i < amounts.length; ++i) {
            uint256 amount = bound(amounts[i], 0, 2e12);
            uint256 before = channels.settledOf(payer, PAYEE, address(token));
            channels.settleBatch(_table(payer, PAYEE, address(token)), _sign(PAYER_KEY, PAYEE, address(token), amount));
            uint256 afterwards = channels.settledOf(payer, PAYEE, address(token));
            assertLe(before, afterwards, "settled decreased");
            if (amount > highest && amount <= 1e12) highest = amount;
            assertEq(afterwards, highest, "settled");
            assertEq(_balance(payer, address(token)), 1e12 - highest, "payer balance");
            assertEq(channels.claimableOf(PAYEE, address(token)), highest, "claimable");
        }
    }

    /// A signature by any other key is a bad signature.
    function testFuzz_forgedVoucherSkipped(uint256 key, uint96 amount) public {
        key = bound(key, 1, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140);
        vm.assume(key != PAYER_KEY);
        bytes32 digest = channels.hashVoucher(IPaymentChannels.Voucher(payer, PAYEE, address(token), amount));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        bytes memory entries = VoucherBatch.entry(0, 1, 2, amount, v, r, s);
        assertEq(channels.settleBatch(_table(payer, PAYEE, address(token)), entries), 0, "forged voucher settled");
        assertEq(_balance(payer, address(token)), 1e12, "payer charged");
    }

    /// A dirty address-table word is reduced to its address bits, never to another account.
    function test_dirtyTableWordsAreMasked() public {
        bytes memory entries = _sign(PAYER_KEY, PAYEE, address(token), 5);
        bytes memory data = abi.encodeCall(PaymentChannels.settleBatch, (_table(payer, PAYEE, address(token)), entries));
        // The table's second word (the payee) starts after the selector, 2 offsets, the length, 1 word.
        uint256 at = 4 + 32 * 4;
        data[at] = 0xff;
        (bool ok, bytes memory ret) = address(channels).call(data);
        assertTrue(ok, "settleBatch reverted");
        assertEq(abi.decode(ret, (uint256)), 1, "settled count");
        assertEq(channels.claimableOf(PAYEE, address(token)), 5, "claimable");
    }

    /// Payee and payer contracts that reject the native currency keep their balance.
    function test_nativeTransferFailureKeepsTheBalance() public {
        NoReceive payee = new NoReceive();
        bytes32 digest = channels.hashVoucher(IPaymentChannels.Voucher(payer, address(payee), address(0), 1 ether));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PAYER_KEY, digest);
        channels.settleBatch(_table(payer, address(payee), address(0)), VoucherBatch.entry(0, 1, 2, 1 ether, v, r, s));

        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsNativeTransferFailed.selector,
                address(payee),
                1 ether
            )
        );
        payee.call(address(channels), abi.encodeCall(PaymentChannels.withdraw, (address(0))));
        assertEq(channels.claimableOf(address(payee), address(0)), 1 ether, "claimable kept");

        // The same for a payer contract taking its deposit back.
        vm.deal(address(this), 2 ether);
        payee.call{value: 2 ether}(address(channels), abi.encodeCall(PaymentChannels.deposit, (address(0), 2 ether)));
        payee.call(address(channels), abi.encodeCall(PaymentChannels.requestWithdrawal, (address(0))));
        vm.warp(block.timestamp + PERIOD);
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsNativeTransferFailed.selector,
                address(payee),
                2 ether
            )
        );
        payee.call(address(channels), abi.encodeCall(PaymentChannels.withdrawDeposit, (address(0))));
        assertEq(_balance(address(payee), address(0)), 2 ether, "deposit kept");
    }

    /// A payee re-entering withdraw from its receive hook gets nothing twice.
    function test_reentrantWithdrawFails() public {
        Reenterer payee = new Reenterer(channels);
        bytes32 digest = channels.hashVoucher(IPaymentChannels.Voucher(payer, address(payee), address(0), 1 ether));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(PAYER_KEY, digest);
        channels.settleBatch(_table(payer, address(payee), address(0)), VoucherBatch.entry(0, 1, 2, 1 ether, v, r, s));
        vm.expectRevert(
            abi.encodeWithSelector(
                IPaymentChannels.PaymentChannelsNativeTransferFailed.selector,
                address(payee),
                1 ether
            )
        );
        payee.withdraw();
        assertEq(channels.claimableOf(address(payee), address(0)), 1 ether, "claimable kept");
        assertEq(address(channels).balance, 100 ether, "contract balance");
    }

    /// Deposits and the full withdrawal round-trip to the base unit, for any amount.
    function testFuzz_depositWithdrawRoundTrip(uint128 amount, uint32 extraWait) public {
        address who = address(0xD00D);
        amount = uint128(bound(amount, 1, type(uint128).max));
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(channels), amount);
        channels.deposit(address(token), amount);
        channels.requestWithdrawal(address(token));
        vm.warp(block.timestamp + PERIOD + bound(extraWait, 0, 365 days));
        assertEq(channels.withdrawDeposit(address(token)), amount, "withdrawn");
        vm.stopPrank();
        assertEq(token.balanceOf(who), amount, "returned");
        assertEq(token.balanceOf(address(channels)), 1e12, "held");
    }
}
