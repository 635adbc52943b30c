// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TestBase} from "./utils/Vm.sol";
import {ReputationAnchor} from "../../contracts/ReputationAnchor.sol";
import {IReputationAnchor} from "../../contracts/interfaces/IReputationAnchor.sol";

/// @notice Fuzz tests of ReputationAnchor: epochs only move forward, and proofs built the way
/// StandardMerkleTree builds them (double-hashed leaves, sorted pairs) verify for exactly their record.
contract ReputationAnchorTest is TestBase {
    ReputationAnchor internal anchor;
    address internal constant COORDINATOR = address(0xC0);

    function setUp() public {
        anchor = new ReputationAnchor(address(this), COORDINATOR);
    }

    function _leaf(address agent, uint256 score, uint256 tasks, uint64 epoch) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(agent, score, tasks, uint256(epoch)))));
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// A three-leaf tree: every record verifies with its proof, and any change to it does not.
    function testFuzz_verifiesExactlyTheRecord(
        address[3] memory agents,
        uint256[3] memory scores,
        uint256[3] memory tasks,
        uint64 epoch,
        uint256 tweak
    ) public {
        epoch = uint64(bound(epoch, 1, type(uint64).max));
        bytes32[3] memory leaves;
        for (uint256 i; i < 3; ++i) leaves[i] = _leaf(agents[i], scores[i], tasks[i], epoch);
        vm.assume(leaves[0] != leaves[1] && leaves[1] != leaves[2] && leaves[0] != leaves[2]);
        bytes32 inner = _hashPair(leaves[0], leaves[1]);
        bytes32 root = _hashPair(inner, leaves[2]);
        vm.prank(COORDINATOR);
        anchor.anchor(epoch, root, "");
        assertTrue(anchor.leafHash(agents[0], scores[0], tasks[0], epoch) == leaves[0], "leaf hash");

        bytes32[] memory proof0 = new bytes32[](2);
        proof0[0] = leaves[1];
        proof0[1] = leaves[2];
        bytes32[] memory proof2 = new bytes32[](1);
        proof2[0] = inner;
        assertTrue(anchor.verify(epoch, agents[0], scores[0], tasks[0], proof0), "leaf 0");
        assertTrue(anchor.verify(epoch, agents[2], scores[2], tasks[2], proof2), "leaf 2");

        tweak = bound(tweak, 1, type(uint256).max);
        unchecked {
            assertTrue(!anchor.verify(epoch, agents[0], scores[0] + tweak, tasks[0], proof0), "tweaked score");
            assertTrue(!anchor.verify(epoch, agents[0], scores[0], tasks[0] + tweak, proof0), "tweaked tasks");
        }
        if (epoch > 1) assertTrue(!anchor.verify(epoch - 1, agents[0], scores[0], tasks[0], proof0), "other epoch");
    }

    /// Epochs strictly increase: any epoch at or below the latest is rejected, any above accepted.
    function testFuzz_epochsStrictlyIncrease(uint64 first, uint64 second, bytes32 root) public {
        vm.assume(root != bytes32(0));
        first = uint64(bound(first, 1, type(uint64).max));
        vm.prank(COORDINATOR);
        anchor.anchor(first, root, "a");
        if (second <= first) {
            vm.expectRevert(
                abi.encodeWithSelector(IReputationAnchor.ReputationAnchorEpochNotIncreasing.selector, second, first)
            );
        }
        vm.prank(COORDINATOR);
        anchor.anchor(second, root, "b");
        assertEq(anchor.latestEpoch(), second > first ? second : first, "latest epoch");
    }

    /// Only the coordinator role anchors.
    function testFuzz_onlyCoordinatorAnchors(address caller) public {
        vm.assume(caller != COORDINATOR);
        vm.expectRevert(
            abi.encodeWithSignature(
                "AccessControlUnauthorizedAccount(address,bytes32)",
                caller,
                anchor.COORDINATOR_ROLE()
            )
        );
        vm.prank(caller);
        anchor.anchor(1, bytes32(uint256(1)), "");
    }
}
