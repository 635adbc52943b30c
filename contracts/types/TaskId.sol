// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice A task's id as the coordinator assigns it (in practice `keccak256` of the task's UUID).
/// @dev Its own type so that a task id can't be passed where a channel id or a dispute id belongs.
/// The zero id is reserved to mean "no task". ABI-encoded as `bytes32`.
type TaskId is bytes32;
