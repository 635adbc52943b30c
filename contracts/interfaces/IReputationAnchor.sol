// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IReputationAnchor
/// @notice Per-epoch Merkle roots of AICP's off-chain reputation, so that anyone can check an
/// agent's score for an epoch with a proof. The coordinator computes every agent's reputation,
/// builds a `StandardMerkleTree` (OpenZeppelin's npm merkle-tree library) of one leaf per
/// agent, anchors its root here with {anchor}, and serves each agent's proof.
/// @dev Leaf layout: the tree is built with the encoding
/// `["address", "uint256", "uint256", "uint256"]` and values `[agent, score, tasks, epoch]`, so
/// `leaf = keccak256(bytes.concat(keccak256(abi.encode(agent, score, tasks, uint256(epoch)))))`
/// (the library's double hash, which keeps a leaf from being mistaken for an inner node); inner
/// nodes hash their two children in sorted order (OpenZeppelin `MerkleProof`). `score` and
/// `tasks` are opaque unsigned integers to this contract: the score in the coordinator's
/// fixed-point convention, the number of tasks the agent completed. Epochs start at 1 and strictly
/// increase; epoch 0 means "none".
interface IReputationAnchor {
    /// @notice Emitted when the coordinator anchored an epoch's reputation root.
    /// @param epoch The epoch.
    /// @param root The Merkle root of the epoch's leaves.
    /// @param uri Where the full tree (leaves and proofs) is published, e.g. an `ipfs://` or
    /// `https://` URI; may be empty.
    /// @param anchoredAt Unix seconds of the anchoring block.
    event RootAnchored(uint64 indexed epoch, bytes32 root, string uri, uint64 anchoredAt);

    /// @notice Thrown when the constructor is given the zero address for the admin or coordinator.
    error ReputationAnchorZeroAddress();

    /// @notice Thrown when an anchored root is zero.
    error ReputationAnchorZeroRoot();

    /// @notice Thrown when an epoch is not strictly greater than the latest anchored one.
    /// @param epoch The rejected epoch.
    /// @param latestEpoch The latest anchored epoch (0 if none).
    error ReputationAnchorEpochNotIncreasing(uint64 epoch, uint64 latestEpoch);

    /// @notice The role allowed to {anchor}: `keccak256("COORDINATOR_ROLE")`.
    /// @return The role id.
    function COORDINATOR_ROLE() external view returns (bytes32);

    /// @notice Records the reputation root of `epoch`.
    /// @dev `COORDINATOR_ROLE` only. Emits `RootAnchored`. Reverts with
    /// `ReputationAnchorEpochNotIncreasing` unless `epoch` > {latestEpoch}, or
    /// `ReputationAnchorZeroRoot`. A root, once anchored, cannot be changed.
    /// @param epoch The epoch, greater than every epoch anchored before.
    /// @param root The Merkle root (StandardMerkleTree, leaf layout in the contract's notes).
    /// @param uri Where the full tree is published; may be empty.
    function anchor(uint64 epoch, bytes32 root, string calldata uri) external;

    /// @notice The root anchored for `epoch`.
    /// @param epoch The epoch.
    /// @return The root, or zero if the epoch was never anchored.
    function rootOf(uint64 epoch) external view returns (bytes32);

    /// @notice The latest anchored epoch.
    /// @return The epoch, or 0 if nothing was anchored yet.
    function latestEpoch() external view returns (uint64);

    /// @notice The leaf hash of an agent's record, as `StandardMerkleTree.leafHash` computes it
    /// for the values `[agent, score, tasks, epoch]` and the encoding above.
    /// @param agent The agent's wallet.
    /// @param score The agent's score.
    /// @param tasks The agent's number of completed tasks.
    /// @param epoch The epoch.
    /// @return The leaf hash.
    function leafHash(address agent, uint256 score, uint256 tasks, uint64 epoch) external pure returns (bytes32);

    /// @notice Whether `proof` shows that the record (`agent`, `score`, `tasks`, `epoch`) is a leaf
    /// of the root anchored for `epoch`.
    /// @dev Anyone may call. Returns false for an epoch never anchored.
    /// @param epoch The epoch (also part of the leaf).
    /// @param agent The agent's wallet.
    /// @param score The agent's score.
    /// @param tasks The agent's number of completed tasks.
    /// @param proof The sibling hashes from the leaf up (`StandardMerkleTree.getProof`).
    /// @return True if the proof is valid.
    function verify(
        uint64 epoch,
        address agent,
        uint256 score,
        uint256 tasks,
        bytes32[] calldata proof
    ) external view returns (bool);
}
