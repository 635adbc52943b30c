import { signatureVerify, decodeAddress } from "@polkadot/util-crypto";
import { u8aToHex } from "@polkadot/util";
import { badRequest } from "../errors.js";

/**
 * Sign-In with Substrate: the EIP-4361 message grammar with "Substrate account" and an SS58
 * address, as Talisman's SIWS writes it, signed with the account's key through a wallet's
 * `signRaw` (which wraps the bytes in `<Bytes>…</Bytes>`; both forms verify):
 *
 *     127.0.0.1:8080 wants you to sign in with your Substrate account:
 *     5GrwvaEF5zXb26Fz9rcQpDWS5AgMbmf8RhBmm2XxBKeKjNKT
 *
 *     Sign in to AICP
 *
 *     URI: http://127.0.0.1:8080
 *     Version: 1
 *     Chain ID: 0x…            (the chain's genesis hash)
 *     Nonce: …
 *     Issued At: 2026-12-07T15:00:00.000Z
 *     Expiration Time: …       (optional)
 *     Not Before: …            (optional)
 */
export type SiwsMessage = {
  domain: string;
  /** The SS58 address as written. */
  address: string;
  /** Its AccountId32, 0x hex lower case (the session's address). */
  account: string;
  statement?: string;
  uri: string;
  version: string;
  chainId: string;
  nonce: string;
  issuedAt: string;
  expirationTime?: string;
  notBefore?: string;
};

const HEADER = / wants you to sign in with your Substrate account:$/;

/** Whether `message` is a Sign-In with Substrate message (rather than EIP-4361's Ethereum one). */
export const isSiws = (message: string): boolean => HEADER.test(message.split("\n", 1)[0] ?? "");

/**
 * Parses a SIWS message.
 * @throws 400 SIWS_MALFORMED naming the missing or malformed line
 */
export function parseSiws(message: string): SiwsMessage {
  const lines = message.split("\n");
  const bad = (why: string) => badRequest("SIWS_MALFORMED", `Not a Sign-In with Substrate message: ${why}.`);
  const first = lines[0] ?? "";
  if (!HEADER.test(first)) throw bad("the first line must be \"<domain> wants you to sign in with your Substrate account:\"");
  const domain = first.replace(HEADER, "");
  const address = lines[1] ?? "";
  let account: string;
  try {
    account = u8aToHex(decodeAddress(address)).toLowerCase();
  } catch {
    throw bad("the second line must be an SS58 address");
  }
  const fields = new Map<string, string>();
  let statement: string | undefined;
  for (const l of lines.slice(2)) {
    const m = /^(URI|Version|Chain ID|Nonce|Issued At|Expiration Time|Not Before|Request ID|Resources): ?(.*)$/.exec(l);
    if (m) fields.set(m[1]!, m[2]!);
    else if (l.trim() && !fields.size && statement === undefined) statement = l;
  }
  const need = (k: string) => {
    const v = fields.get(k);
    if (!v) throw bad(`the "${k}:" line is missing`);
    return v;
  };
  const msg: SiwsMessage = { domain, address, account, uri: need("URI"), version: need("Version"), chainId: need("Chain ID"), nonce: need("Nonce"), issuedAt: need("Issued At") };
  if (statement !== undefined) msg.statement = statement;
  if (fields.has("Expiration Time")) msg.expirationTime = fields.get("Expiration Time")!;
  if (fields.has("Not Before")) msg.notBefore = fields.get("Not Before")!;
  if (msg.version !== "1") throw bad("Version must be 1");
  if (!/^[A-Za-z0-9]{8,}$/.test(msg.nonce)) throw bad("the nonce must be at least 8 alphanumeric characters");
  for (const k of ["issuedAt", "expirationTime", "notBefore"] as const) if (msg[k] !== undefined && Number.isNaN(Date.parse(msg[k]))) throw bad(`${k} must be an ISO 8601 time`);
  return msg;
}

/** Whether `signature` (sr25519, ed25519 or ecdsa) over the message text is the account's. */
export function verifySiws(message: string, signature: string, account: string): boolean {
  try {
    return signatureVerify(message, signature, account).isValid;
  } catch {
    return false;
  }
}
