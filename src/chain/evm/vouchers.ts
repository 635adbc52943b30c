import { concat, solidityPacked } from "ethers";
import type { SignedVoucher } from "../../protocol/eip712.js";

/** Size of one packed entry of `settleBatch`: uint16 ×3, uint128, 65-byte signature. */
export const BATCH_ENTRY_SIZE = 87;

/**
 * Encodes vouchers as `settleBatch(address[] addresses, bytes entries)` calldata: an address
 * table (each payer, payee and token once) and 87-byte big-endian entries
 * `payerIdx | payeeIdx | tokenIdx | uint128 cumulativeAmount | r‖s‖v`. Sorting by payer then
 * token keeps the contract's storage writes to a minimum.
 * @throws RangeError when an amount does not fit 128 bits or the table exceeds 65 536 entries
 */
export function encodeSettleBatch(vouchers: readonly SignedVoucher[]): { addresses: string[]; entries: string } {
  const addresses: string[] = [];
  const index = new Map<string, number>();
  const at = (address: string): number => {
    const key = address.toLowerCase();
    let i = index.get(key);
    if (i === undefined) {
      i = addresses.length;
      if (i > 0xffff) throw new RangeError("settleBatch address table is full");
      addresses.push(address);
      index.set(key, i);
    }
    return i;
  };
  const entries = vouchers.map((v) => {
    if (v.cumulativeAmount >= 2n ** 128n) throw new RangeError("voucher amount does not fit 128 bits");
    return solidityPacked(["uint16", "uint16", "uint16", "uint128", "bytes"], [at(v.payer), at(v.payee), at(v.token), v.cumulativeAmount, v.signature]);
  });
  return { addresses, entries: entries.length ? concat(entries) : "0x" };
}
