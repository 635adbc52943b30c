// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
import {TestBase} from "./utils/Vm.sol";
import {AICPTestToken} from "../../contracts/test/AICPTestToken.sol";
contract SmokeTest is TestBase {
    AICPTestToken t;
    function setUp() public { t = new AICPTestToken(); }
    function testFuzz_mint(address to, uint256 amt) public {
        vm.assume(to != address(0));
        amt = bound(amt, 0, type(uint128).max);
        vm.prank(address(0xBEEF));
        t.mint(to, amt);
        assertEq(t.balanceOf(to), amt, "balance");
        assertEq(t.decimals(), 6, "decimals");
    }
}
