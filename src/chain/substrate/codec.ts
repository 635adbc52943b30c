import { u8aToHex, hexToU8a, stringToU8a, u8aToString } from "@polkadot/util";
import { decodeAddress, encodeAddress, blake2AsHex } from "@polkadot/util-crypto";
import { z } from "zod";
import { badRequest } from "../../errors.js";

/**
 * Encodings of the Substrate backend.
 *
 * - **Accounts** inside AICP (Postgres, chain events, the ledger) are the 32-byte AccountId32 as
 *   lower-case 0x hex, so they compare like the EVM's lower-case addresses; SS58 (case-sensitive)
 *   only at the edges (`toSs58`), with the chain's prefix.
 * - **Tokens**: `native` (the chain's currency, in planck) or `asset:<id>` (pallet-assets, in the
 *   asset's base units).
 * - **Memos**: every AICP operation carries one `system.remarkWithEvent` whose bytes are
 *   `aicp:1:` + a JSON {@link Memo}. The indexer trusts a memo only through the events of its
 *   extrinsic: the `Remarked` event (sender = the origin that dispatched it, hash = blake2-256 of
 *   the bytes) and the transfers next to it.
 */

export const NATIVE = "native";

/** 0x hex AccountId32 of an SS58 address or a 32-byte hex public key. */
export function toAccountHex(address: string): string {
  try {
    return u8aToHex(decodeAddress(address)).toLowerCase();
  } catch {
    throw badRequest("INVALID_ACCOUNT", `${JSON.stringify(address)} is not an SS58 address or a 32-byte hex account id.`);
  }
}

/** SS58 form of an account (0x hex or SS58) with the chain's prefix. */
export const toSs58 = (account: string, prefix: number): string => encodeAddress(account.startsWith("0x") ? hexToU8a(account) : decodeAddress(account), prefix);

/** `native` → undefined; `asset:<id>` → the asset id. @throws 400 INVALID_TOKEN otherwise */
export function assetIdOf(token: string): number | undefined {
  if (token === NATIVE) return undefined;
  const m = /^asset:(\d{1,10})$/.exec(token);
  if (!m || Number(m[1]) > 0xffffffff) throw badRequest("INVALID_TOKEN", `${JSON.stringify(token)} is not a Substrate token (use "native" or "asset:<id>").`);
  return Number(m[1]);
}

export const tokenOf = (assetId: number | undefined): string => (assetId === undefined ? NATIVE : `asset:${assetId}`);

const amount = z.string().regex(/^\d{1,39}$/, "a base-unit integer as a decimal string");
const account = z.string().regex(/^0x[0-9a-f]{64}$/);
const uuid = z.string().uuid();
const token = z.string().regex(/^(native|asset:\d{1,10})$/);

/** One payee's part of a payout batch: the cumulative voucher amount now settled and the increase paid. */
const settleEntry = z.object({ payee: account, cumulative: amount, amount });

/**
 * The AICP memos (the `op` names the operation; amounts in token base units as decimal strings,
 * times in unix seconds):
 * - `fund` (buyer): a task's escrow moved into the buyer's custody account, with the coordinator's
 *   funding authorization (`auth`, see vouchers.ts `fundingPayload`);
 * - `deposit` (buyer): channel deposit moved into the custody account;
 * - `award`, `deliver`, `anchor` (coordinator), `dispute` (the buyer or the awarded agent, within
 *   the acceptance window), `rule` (the arbitrator: the agent's share of a disputed escrow, in bps):
 *   attestations;
 * - `release`, `refund`, `ruling`, `settle`, `withdraw` (the custody multisig, i.e. two of its three
 *   signatories): the money leaving custody, itemised so the indexer can check each transfer.
 */
export const memoSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("fund"), task: uuid, token, amount, deadline: z.number().int().nonnegative(), auth: z.string().regex(/^0x[0-9a-f]{128,130}$/) }),
  z.object({ op: z.literal("deposit"), token, amount }),
  z.object({ op: z.literal("award"), task: uuid, agent: account, price: amount }),
  z.object({ op: z.literal("deliver"), task: uuid, resultHash: z.string().regex(/^0x[0-9a-f]{64}$/), acceptanceEndsAt: z.number().int().nonnegative() }),
  z.object({ op: z.literal("dispute"), task: uuid, evidenceUri: z.string().max(512) }),
  z.object({ op: z.literal("release"), task: uuid, buyer: account, token, agent: account, agentAmount: amount, fee: amount, buyerAmount: amount }),
  z.object({ op: z.literal("refund"), task: uuid, buyer: account, token, amount }),
  z.object({ op: z.literal("ruling"), task: uuid, buyer: account, token, agent: account, agentAmount: amount, fee: amount, buyerAmount: amount, agentBps: z.number().int().min(0).max(10_000), dispute: z.string().regex(/^\d{1,20}$/).optional() }),
  z.object({ op: z.literal("rule"), task: uuid, dispute: z.string().regex(/^\d{1,20}$/), agentBps: z.number().int().min(0).max(10_000) }),
  z.object({ op: z.literal("settle"), batch: z.string().max(64), buyer: account, token, entries: z.array(settleEntry).max(512) }),
  z.object({ op: z.literal("withdraw"), buyer: account, token, amount }),
  z.object({ op: z.literal("anchor"), epoch: amount, root: z.string().regex(/^0x[0-9a-f]{64}$/), uri: z.string().max(256) }),
]);
export type Memo = z.infer<typeof memoSchema>;

const PREFIX = "aicp:1:";

/** The remark bytes of a memo. */
export const encodeMemo = (m: Memo): Uint8Array => stringToU8a(PREFIX + JSON.stringify(m));

/** The memo in remark bytes, or undefined for anything else (other remarks, malformed JSON, unknown ops). */
export function decodeMemo(bytes: Uint8Array): Memo | undefined {
  const s = u8aToString(bytes);
  if (!s.startsWith(PREFIX)) return undefined;
  try {
    const r = memoSchema.safeParse(JSON.parse(s.slice(PREFIX.length)));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** blake2-256 of remark bytes: what `system.Remarked` carries. */
export const remarkHash = (bytes: Uint8Array): string => blake2AsHex(bytes, 256);
