// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title BasisPoints
/// @notice Shares in basis points (1 bps = 0.01 %), as AICP's contracts take them: always a
/// `uint16` between 0 and {MAX} (= 100 %), fees and ruling splits alike.
library BasisPoints {
    /// @notice 100 % in basis points.
    uint16 internal constant MAX = 10_000;

    /// @notice `amount × bps / 10 000`, rounded down, without intermediate overflow.
    /// @param amount Token base units.
    /// @param bps A share in basis points (callers check `bps <= MAX`; above it the result exceeds `amount`).
    function portion(uint256 amount, uint16 bps) internal pure returns (uint256) {
        return Math.mulDiv(amount, bps, MAX);
    }
}
