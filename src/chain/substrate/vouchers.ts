import { TypeRegistry } from "@polkadot/types";
import { u8aToHex } from "@polkadot/util";
import { signatureVerify } from "@polkadot/util-crypto";
import { assetIdOf, toAccountHex } from "./codec.js";

/**
 * A channel voucher on the Substrate backend: the payer's promise that `payee` may be paid up to
 * `cumulative` (base units of `token`) from the payer's custody account in total. Accounts 0x hex
 * AccountId32; `token` `native` or `asset:<id>`.
 */
export type SubstrateVoucher = { payer: string; payee: string; token: string; cumulative: bigint };

const registry = new TypeRegistry();

/**
 * The signed bytes: SCALE encoding of `(AccountId32 payer, AccountId32 payee, Option<u32> asset,
 * u128 cumulative, H256 genesis_hash)`. The genesis hash binds a voucher to one chain (the
 * EIP-712 domain's chain id plays that part on the EVM). Wallets that sign with `signRaw` wrap
 * the bytes in `<Bytes>…</Bytes>`; {@link verifyVoucher} accepts both.
 */
export function voucherPayload(v: SubstrateVoucher, genesisHash: string): Uint8Array {
  return registry
    .createType("(AccountId32, AccountId32, Option<u32>, u128, H256)", [toAccountHex(v.payer), toAccountHex(v.payee), assetIdOf(v.token) ?? null, v.cumulative, genesisHash])
    .toU8a();
}

/** 0x hex of {@link voucherPayload} (what a wallet's `signRaw` is asked to sign). */
export const voucherPayloadHex = (v: SubstrateVoucher, genesisHash: string): string => u8aToHex(voucherPayload(v, genesisHash));

/**
 * Whether `signature` (sr25519, ed25519 or ecdsa; 64/65 bytes hex, or a 0x00/01/02-prefixed
 * MultiSignature) over the voucher's payload was made by the payer's key.
 */
export function verifyVoucher(v: SubstrateVoucher, signature: string, genesisHash: string): boolean {
  try {
    return signatureVerify(voucherPayload(v, genesisHash), signature, toAccountHex(v.payer)).isValid;
  } catch {
    return false;
  }
}

/** What the coordinator authorizes a buyer to fund (amount in token base units, deadline unix seconds). */
export type SubstrateFunding = { taskId: string; buyer: string; token: string; amount: bigint; deadline: number };

/**
 * The bytes of the coordinator's funding authorization (the Substrate counterpart of TaskEscrow's
 * EIP-712 FundingAuthorization): SCALE `([u8; 16] task uuid, AccountId32 buyer, Option<u32> asset,
 * u128 amount, u64 deadline, H256 genesis_hash)`, signed with the coordinator's key. A `fund` memo
 * counts only with it, so no one but the task's buyer can fund (or squat) a task's escrow, and only
 * with the amount, token and deadline the coordinator set.
 */
export function fundingPayload(f: SubstrateFunding, genesisHash: string): Uint8Array {
  return registry
    .createType("([u8; 16], AccountId32, Option<u32>, u128, u64, H256)", [`0x${f.taskId.replace(/-/g, "")}`, toAccountHex(f.buyer), assetIdOf(f.token) ?? null, f.amount, f.deadline, genesisHash])
    .toU8a();
}

/** Whether `signature` over {@link fundingPayload} is the coordinator's. */
export function verifyFunding(f: SubstrateFunding, signature: string, coordinator: string, genesisHash: string): boolean {
  try {
    return signatureVerify(fundingPayload(f, genesisHash), signature, toAccountHex(coordinator)).isValid;
  } catch {
    return false;
  }
}
