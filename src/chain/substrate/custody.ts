import { u8aToHex, hexToU8a, u8aCmp } from "@polkadot/util";
import { createKeyMulti } from "@polkadot/util-crypto";
import { toAccountHex } from "./codec.js";

/** Signatures a custody account needs: two of its three signatories. */
export const CUSTODY_THRESHOLD = 2;

/**
 * A buyer's custody account: the pallet-multisig account of {buyer, coordinator, arbitrator}
 * with threshold 2 (`multi_account_id` = blake2-256("modlpy/utilisuba" ++ sorted signatories ++
 * threshold)). Escrows and the channel deposit of that buyer are held there; no signatory can
 * move them alone:
 * - buyer + coordinator: acceptance (release), refund of a failed task, deposit withdrawal;
 * - coordinator + arbitrator: payouts of valid vouchers and awards when the buyer is gone, a
 *   ruling's split, a release after the acceptance window;
 * - buyer + arbitrator: the buyer's unused funds back without the coordinator (after the stated
 *   delay, which the arbitrator checks before co-signing).
 * All accounts are 0x hex AccountId32.
 */
export type Custody = { account: string; buyer: string; signatories: string[]; threshold: number };

/** The custody account of `buyer` under this coordinator and arbitrator. */
export function custodyOf(buyer: string, coordinator: string, arbitrator: string): Custody {
  const ids = [buyer, coordinator, arbitrator].map(toAccountHex);
  if (new Set(ids).size !== 3) throw new Error("a custody account needs three distinct signatories");
  const signatories = sortSignatories(ids);
  return { account: u8aToHex(createKeyMulti(signatories, CUSTODY_THRESHOLD)).toLowerCase(), buyer: ids[0]!, signatories, threshold: CUSTODY_THRESHOLD };
}

/** Signatories in pallet-multisig's order (ascending bytes). */
export const sortSignatories = (ids: string[]): string[] => [...ids].sort((a, b) => u8aCmp(hexToU8a(a), hexToU8a(b)));

/** The other signatories of `custody` than `me` (what `asMulti`/`approveAsMulti` take), sorted. */
export function othersOf(custody: Custody, me: string): string[] {
  const mine = toAccountHex(me);
  if (!custody.signatories.includes(mine)) throw new Error(`${mine} is not a signatory of custody ${custody.account}`);
  return custody.signatories.filter((s) => s !== mine);
}
