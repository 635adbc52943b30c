// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @dev Keeps 1% of every transfer (burnt): TaskEscrow must refuse it rather than hold less than it
/// records; PaymentChannels credits what arrived. `cutAll` makes it keep everything.
contract FeeOnTransferToken is ERC20 {
    bool public cutAll;

    constructor() ERC20("Fee on transfer", "FOT") {}

    function setCutAll(bool on) external {
        cutAll = on;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
        } else {
            uint256 cut = cutAll ? value : value / 100;
            super._update(from, address(0), cut);
            super._update(from, to, value - cut);
        }
    }
}

