// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice A dispute's id in the DisputeResolver: sequential from 1; zero means "no dispute".
/// @dev Its own type so that a dispute id can't be passed where a task id belongs. ABI-encoded
/// as `uint256`.
type DisputeId is uint256;
