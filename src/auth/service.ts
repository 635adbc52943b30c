import { SiweMessage } from "siwe";
import { SignJWT } from "jose";
import { randomBytes } from "node:crypto";
import { getAddress, hashMessage, verifyMessage } from "ethers";
import type { AppContext } from "../context.js";
import { authRepository as repo } from "./repository.js";
import { badRequest, unauthorized } from "../errors.js";
import { isSiws, parseSiws, verifySiws } from "./siws.js";

export type Session = { token: string; address: string; roles: string[]; expiresAt: string };

export type AuthService = {
  /** Issues a single-use SIWE nonce (alphanumeric, 24 chars) valid for AUTH_NONCE_TTL_MS. */
  issueNonce(): Promise<{ nonce: string; expiresAt: string }>;
  /**
   * Sign-In with Ethereum (EIP-4361): checks the message's domain, chain id, time window and
   * nonce (consumed atomically: a nonce logs in at most once), then the signature: the
   * address's key (EIP-191), or for a contract wallet its ERC-1271 `isValidSignature`.
   * @returns a session token (HS256 JWT) for `Authorization: Bearer`
   * A Sign-In with Substrate message (src/auth/siws.ts: the same grammar for an SS58 address,
   * `Chain ID` = the Substrate chain's genesis hash) is checked the same way against the account's
   * sr25519/ed25519 key; its session address is the 0x hex AccountId32.
   * @throws 400 SIWE_MALFORMED | SIWS_MALFORMED, 401 SIWE_DOMAIN_MISMATCH | SIWE_CHAIN_MISMATCH | SIWE_NONCE_INVALID |
   *   SIWE_EXPIRED | SIWE_BAD_SIGNATURE (the same codes for both kinds of message)
   */
  login(message: string, signature: string): Promise<Session>;
  /** The roles `address` (lowercase 0x) holds now: always "buyer"; "agent" once registered; "arbitrator" while it holds the on-chain role. */
  rolesOf(address: string): Promise<("buyer" | "agent" | "arbitrator")[]>;
};

/** Whether the 65-byte `signature` over `message` (EIP-191) is `address`'s key's; false for a malformed one. */
function recovers(message: string, signature: string, address: string): boolean {
  try {
    return getAddress(verifyMessage(message, signature)) === getAddress(address);
  } catch {
    return false;
  }
}

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/**
 * @param deps.substrateGenesis the genesis hash of the Substrate chain this coordinator settles on
 *   (undefined: Substrate sign-in is refused with SIWE_CHAIN_MISMATCH)
 */
export function createAuthService(
  ctx: AppContext,
  deps: { rolesOf(address: string): Promise<("buyer" | "agent" | "arbitrator")[]>; domain: () => string; substrateGenesis?: () => string | undefined },
): AuthService {
  const secret = new TextEncoder().encode(ctx.config.AUTH_SECRET);
  async function session(address: string): Promise<Session> {
    const roles = await deps.rolesOf(address);
    const exp = ctx.now() + ctx.config.AUTH_TOKEN_TTL_MS;
    const token = await new SignJWT({ roles })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(address)
      .setIssuer("aicp")
      .setIssuedAt(Math.floor(ctx.now() / 1000))
      .setExpirationTime(Math.floor(exp / 1000))
      .sign(secret);
    return { token, address, roles, expiresAt: new Date(exp).toISOString() };
  }
  /** Domain and time window, shared by both kinds of message. */
  function checkCommon(m: { domain: string; expirationTime?: string | undefined; notBefore?: string | undefined }): Date {
    const domain = deps.domain();
    if (m.domain !== domain) throw unauthorized("SIWE_DOMAIN_MISMATCH", `The message must be for domain ${domain}.`);
    const now = new Date(ctx.now());
    if (m.expirationTime && new Date(m.expirationTime) <= now) throw unauthorized("SIWE_EXPIRED", "The message has expired.");
    if (m.notBefore && new Date(m.notBefore) > now) throw unauthorized("SIWE_NOT_YET_VALID", "The message is not valid yet.");
    return now;
  }
  async function loginSubstrate(message: string, signature: string): Promise<Session> {
    const m = parseSiws(message);
    const now = checkCommon(m);
    const genesis = deps.substrateGenesis?.();
    if (!genesis || m.chainId.toLowerCase() !== genesis.toLowerCase())
      throw unauthorized("SIWE_CHAIN_MISMATCH", genesis ? `The message must be for the Substrate chain ${genesis} (its genesis hash).` : "This coordinator settles on no Substrate chain.");
    if (!/^0x(?:[0-9a-fA-F]{2}){64,65}$/.test(signature)) throw badRequest("SIWE_BAD_SIGNATURE", "The signature must be 64 (sr25519, ed25519) or 65 (ecdsa) hex bytes.");
    if (!verifySiws(message, signature, m.account)) throw unauthorized("SIWE_BAD_SIGNATURE", "The signature does not match the message's account.");
    if (!(await repo.useNonce(ctx.db, m.nonce, now))) throw unauthorized("SIWE_NONCE_INVALID", "The nonce is unknown, used or expired; get a new one.");
    return session(m.account);
  }
  return {
    rolesOf: (address) => deps.rolesOf(address),
    async issueNonce() {
      const bytes = randomBytes(24);
      const nonce = Array.from(bytes, (b) => ALNUM[b % ALNUM.length]).join("");
      const expiresAt = new Date(ctx.now() + ctx.config.AUTH_NONCE_TTL_MS);
      await repo.insertNonce(ctx.db, nonce, expiresAt);
      // Opportunistic clean-up of long-expired nonces keeps the table small.
      if (bytes[0]! < 8) await repo.purgeNonces(ctx.db);
      return { nonce, expiresAt: expiresAt.toISOString() };
    },

    async login(message, signature) {
      if (isSiws(message)) return loginSubstrate(message, signature);
      let msg: SiweMessage;
      try {
        msg = new SiweMessage(message);
      } catch (err) {
        throw badRequest("SIWE_MALFORMED", `Not an EIP-4361 message: ${String((err as Error).message ?? err).slice(0, 200)}`);
      }
      const now = checkCommon({ domain: msg.domain, expirationTime: msg.expirationTime, notBefore: msg.notBefore });
      if (msg.chainId !== ctx.config.CHAIN_ID)
        throw unauthorized("SIWE_CHAIN_MISMATCH", `The message must be for chain ${ctx.config.CHAIN_ID}.`);
      // 65 bytes from an externally owned account; a contract wallet's (ERC-1271) may be longer.
      if (!/^0x(?:[0-9a-fA-F]{2}){1,2048}$/.test(signature)) throw badRequest("SIWE_BAD_SIGNATURE", "The signature must be hex bytes (65 for an account key, up to 2048 for a contract wallet).");
      // Verify the signature before consuming the nonce so a forged login cannot burn it.
      // (Domain, chain, time window and nonce are checked above; this is EIP-191 over the text signed.)
      const byKey = signature.length === 132 && recovers(message, signature, msg.address);
      if (!byKey) {
        // ERC-1271: the address is a contract wallet that vouches for the signature over the
        // EIP-191 hash of the message (what the wallet signed).
        const byContract = await ctx.chain.isValidContractSignature(getAddress(msg.address), hashMessage(message), signature).catch((err: unknown) => {
          if (signature.length === 132) return false; // an account key's signature that did not match: a plain refusal
          throw err;
        });
        if (!byContract) throw unauthorized("SIWE_BAD_SIGNATURE", "The signature does not match the message's address (neither its key nor, for a contract wallet, ERC-1271 accepts it).");
      }
      if (!(await repo.useNonce(ctx.db, msg.nonce, now))) throw unauthorized("SIWE_NONCE_INVALID", "The nonce is unknown, used or expired; get a new one.");
      return session(getAddress(msg.address).toLowerCase());
    },
  };
}
