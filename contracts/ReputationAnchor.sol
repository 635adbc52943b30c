// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IReputationAnchor} from "./interfaces/IReputationAnchor.sol";

/// @title ReputationAnchor
/// @notice Per-epoch Merkle roots of agents' reputation, anchored by the coordinator and
/// verifiable by anyone. See {IReputationAnchor}.
contract ReputationAnchor is IReputationAnchor, AccessControl {
    /// @inheritdoc IReputationAnchor
    bytes32 public constant override COORDINATOR_ROLE = keccak256("COORDINATOR_ROLE");

    uint64 private _latestEpoch;
    mapping(uint64 epoch => bytes32 root) private _roots;

    /// @param admin Receives `DEFAULT_ADMIN_ROLE` (grants and revokes the coordinator role).
    /// @param coordinator Receives `COORDINATOR_ROLE`.
    constructor(address admin, address coordinator) {
        if (admin == address(0) || coordinator == address(0)) revert ReputationAnchorZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(COORDINATOR_ROLE, coordinator);
    }

    /// @inheritdoc IReputationAnchor
    function anchor(uint64 epoch, bytes32 root, string calldata uri) external override onlyRole(COORDINATOR_ROLE) {
        uint64 latest = _latestEpoch;
        if (epoch <= latest) revert ReputationAnchorEpochNotIncreasing(epoch, latest);
        if (root == bytes32(0)) revert ReputationAnchorZeroRoot();
        _latestEpoch = epoch;
        _roots[epoch] = root;
        emit RootAnchored(epoch, root, uri, uint64(block.timestamp));
    }

    /// @notice ERC-165: true for IReputationAnchor, IAccessControl and IERC165.
    /// @param interfaceId The interface id.
    /// @return Whether the interface is supported.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IReputationAnchor).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @inheritdoc IReputationAnchor
    function rootOf(uint64 epoch) external view override returns (bytes32) {
        return _roots[epoch];
    }

    /// @inheritdoc IReputationAnchor
    function latestEpoch() external view override returns (uint64) {
        return _latestEpoch;
    }

    /// @inheritdoc IReputationAnchor
    function leafHash(address agent, uint256 score, uint256 tasks, uint64 epoch) public pure override returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(agent, score, tasks, uint256(epoch)))));
    }

    /// @inheritdoc IReputationAnchor
    function verify(
        uint64 epoch,
        address agent,
        uint256 score,
        uint256 tasks,
        bytes32[] calldata proof
    ) external view override returns (bool) {
        bytes32 root = _roots[epoch];
        if (root == bytes32(0)) return false;
        return MerkleProof.verifyCalldata(proof, root, leafHash(agent, score, tasks, epoch));
    }
}
