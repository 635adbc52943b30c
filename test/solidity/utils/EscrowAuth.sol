// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Vm} from "./Vm.sol";
import {TaskEscrow} from "../../../contracts/TaskEscrow.sol";
import {TaskId} from "../../../contracts/types/TaskId.sol";

/// @notice Builds TaskEscrow's EIP-712 FundingAuthorization signatures in Solidity tests, from the
/// escrow's own ERC-5267 domain (so a wrong domain in the contract fails the tests).
library EscrowAuth {
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// @notice The digest the coordinator signs for `buyer` funding `id` with `amount` of `token`.
    function digest(
        TaskEscrow e,
        TaskId id,
        address buyer,
        address token,
        uint256 amount,
        uint64 deadline
    ) internal view returns (bytes32) {
        (, string memory name, string memory version, uint256 chainId, address verifying, , ) = e.eip712Domain();
        bytes32 domain = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(name)), keccak256(bytes(version)), chainId, verifying)
        );
        bytes32 structHash = keccak256(
            abi.encode(e.FUNDING_AUTHORIZATION_TYPEHASH(), id, buyer, token, amount, deadline)
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    /// @notice `signerKey`'s 65-byte signature (r, s, v) of {digest}.
    function sign(
        Vm vm,
        uint256 signerKey,
        TaskEscrow e,
        TaskId id,
        address buyer,
        address token,
        uint256 amount,
        uint64 deadline
    ) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(signerKey, digest(e, id, buyer, token, amount, deadline));
        return abi.encodePacked(r, s, v);
    }
}
