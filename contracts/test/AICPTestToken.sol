// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title AICPTestToken
/// @notice A 6-decimal ERC-20 with ERC-2612 permit for local networks and tests ("tUSD").
/// @dev Anyone may mint: this token has no value and must never be deployed to a public network.
contract AICPTestToken is ERC20, ERC20Permit {
    constructor() ERC20("AICP Test USD", "tUSD") ERC20Permit("AICP Test USD") {}

    /// @notice Mints `amount` base units (6 decimals) to `to`. Open faucet for local testing.
    /// @param to Recipient.
    /// @param amount Amount in token base units.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
