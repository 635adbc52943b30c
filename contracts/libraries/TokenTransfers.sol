// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title TokenTransfers
/// @notice Moves the native currency (token `address(0)`) or an ERC-20 token in and out of a
/// contract: TaskEscrow and PaymentChannels share it. ERC-20 moves go through OpenZeppelin's
/// SafeERC20 (reverting with `SafeERC20FailedOperation`); a failed native payment is reported
/// to the caller, which reverts with its own custom error.
library TokenTransfers {
    using SafeERC20 for IERC20;

    /// @notice Pulls `amount` of ERC-20 `token` from `from` (with its allowance) and returns what
    /// actually arrived: less than `amount` for a fee-on-transfer token.
    /// @param amount Token base units.
    /// @return received The balance increase of this contract, in token base units.
    function pull(address token, address from, uint256 amount) internal returns (uint256 received) {
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(from, address(this), amount);
        received = IERC20(token).balanceOf(address(this)) - before;
    }

    /// @notice Pays `amount` of `token` (native when `address(0)`) to `to`. Call it last, after
    /// every effect (checks-effects-interactions).
    /// @return ok False only when a native payment was refused by `to`; ERC-20 failures revert.
    function send(address token, address to, uint256 amount) internal returns (bool ok) {
        if (token == address(0)) {
            // solhint-disable-next-line avoid-low-level-calls
            (ok, ) = to.call{value: amount}("");
        } else {
            IERC20(token).safeTransfer(to, amount);
            ok = true;
        }
    }
}
