import { concat, solidityPacked, type TypedDataDomain, type TypedDataField } from "ethers";

/**
 * EIP-712 vouchers of PaymentChannels: `Voucher(address payer,address payee,address token,
 * uint256 cumulativeAmount)` under the domain ("AICP PaymentChannels", "1", chainId,
 * contract). A voucher promises the payee a cumulative total (token base units); settling it
 * pays the increase over what the pair already settled.
 */
export const VOUCHER_TYPES: Record<string, TypedDataField[]> = {
  Voucher: [
    { name: "payer", type: "address" },
    { name: "payee", type: "address" },
    { name: "token", type: "address" },
    { name: "cumulativeAmount", type: "uint256" },
  ],
};

export function voucherDomain(chainId: number | bigint, verifyingContract: string): TypedDataDomain {
  return { name: "AICP PaymentChannels", version: "1", chainId, verifyingContract };
}

export type SignedVoucher = { payer: string; payee: string; token: string; cumulativeAmount: bigint; signature: string };

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
