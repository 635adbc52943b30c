import type { TypedDataDomain, TypedDataField } from "ethers";

/**
 * EIP-712 type data shared by the coordinator, the SDKs, the CLI and the web app.
 *
 * Vouchers of PaymentChannels: `Voucher(address payer,address payee,address token,
 * uint256 cumulativeAmount)` under the domain ("AICP PaymentChannels", "1", chainId, contract).
 * A voucher promises the payee a cumulative total (token base units); settling it pays the
 * increase over what the pair already settled.
 */
export const VOUCHER_TYPES: Record<string, TypedDataField[]> = {
  Voucher: [
    { name: "payer", type: "address" },
    { name: "payee", type: "address" },
    { name: "token", type: "address" },
    { name: "cumulativeAmount", type: "uint256" },
  ],
};

/** The EIP-712 domain of PaymentChannels vouchers on `chainId` at `verifyingContract`. */
export function voucherDomain(chainId: number | bigint, verifyingContract: string): TypedDataDomain {
  return { name: "AICP PaymentChannels", version: "1", chainId, verifyingContract };
}

/** A voucher with its 65-byte signature (0x hex); `cumulativeAmount` in token base units. */
export type SignedVoucher = { payer: string; payee: string; token: string; cumulativeAmount: bigint; signature: string };

/** ERC-2612 `Permit(owner, spender, value, nonce, deadline)` (EIP-712 types). */
export const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

/**
 * TaskEscrow's funding authorization (EIP-712, domain ("AICP TaskEscrow", "1", chainId, escrow)):
 * the coordinator signs `FundingAuthorization(bytes32 taskId,address buyer,address token,
 * uint256 amount,uint64 deadline)` for the one buyer it issued a task key to; `fund` and
 * `fundWithPermit` revert with TaskEscrowUnauthorizedFunding for anyone else (no key squatting).
 * `amount` in token base units, `deadline` in unix seconds.
 */
export const FUNDING_AUTHORIZATION_TYPES: Record<string, TypedDataField[]> = {
  FundingAuthorization: [
    { name: "taskId", type: "bytes32" },
    { name: "buyer", type: "address" },
    { name: "token", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
};

/** The EIP-712 domain of TaskEscrow's funding authorizations on `chainId` at `verifyingContract`. */
export function escrowDomain(chainId: number | bigint, verifyingContract: string): TypedDataDomain {
  return { name: "AICP TaskEscrow", version: "1", chainId, verifyingContract };
}

/**
 * PaymentChannels' delivery authorization (EIP-712, the vouchers' domain): with a channel-route
 * post the payer signs `DeliveryAuthorization(address payer,address token,bytes32 salt,
 * uint256 maxAmount,uint64 expiry)`, letting the coordinator pay, out of the payer's deposit,
 * up to `maxAmount` (token base units, in total) to the agents it attests delivered the post's
 * tasks, until `expiry` (unix seconds) — `PaymentChannels.claimDelivered`. The coordinator
 * claims only when the payer asks for its deposit back or stays silent past the acceptance
 * window; otherwise the payer's vouchers pay. `salt` is the payer's choice (32 bytes).
 */
export const DELIVERY_AUTHORIZATION_TYPES: Record<string, TypedDataField[]> = {
  DeliveryAuthorization: [
    { name: "payer", type: "address" },
    { name: "token", type: "address" },
    { name: "salt", type: "bytes32" },
    { name: "maxAmount", type: "uint256" },
    { name: "expiry", type: "uint64" },
  ],
};

/** A delivery authorization as signed: lower-case addresses, `maxAmount` in token base units, `expiry` in unix seconds. */
export type DeliveryAuthorization = { payer: string; token: string; salt: string; maxAmount: bigint; expiry: bigint };
