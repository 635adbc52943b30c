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
