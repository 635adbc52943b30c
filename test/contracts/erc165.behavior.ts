import { expect } from "chai";
import { toBeHex, type Interface } from "ethers";

/** ERC-165 ids of the OpenZeppelin interfaces AICP's contracts inherit. */
export const IERC165_ID = "0x01ffc9a7";
export const IACCESS_CONTROL_ID = "0x7965db0b";
export const IACCESS_CONTROL_ENUMERABLE_ID = "0x5a05180f";

/** The ERC-165 interface id of `iface`: the XOR of its functions' selectors. */
export function interfaceIdOf(iface: Interface): string {
  let id = 0n;
  iface.forEachFunction((f) => {
    id ^= BigInt(f.selector);
  });
  return toBeHex(id, 4);
}

/**
 * Shared behaviour: `contract` reports ERC-165 support for its own interface and each of
 * `inherited` (plus IERC165), and none for the invalid id 0xffffffff.
 */
export async function expectErc165(contract: { supportsInterface(id: string): Promise<boolean> }, own: Interface, inherited: string[]): Promise<void> {
  for (const id of [interfaceIdOf(own), IERC165_ID, ...inherited]) expect(await contract.supportsInterface(id), `supportsInterface(${id})`).to.equal(true);
  expect(await contract.supportsInterface("0xffffffff")).to.equal(false);
}
