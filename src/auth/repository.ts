import type { Queryable } from "../db/index.js";

/** SQL of sign-in: SIWE (EIP-4361) nonces, each usable once before it expires. */
export const authRepository = {
  async insertNonce(q: Queryable, nonce: string, expiresAt: Date): Promise<void> {
    await q.query("INSERT INTO auth_nonces (nonce, expires_at) VALUES ($1, $2)", [nonce, expiresAt]);
  },
  /** Deletes nonces expired for more than a day (keeps the table small). */
  async purgeNonces(q: Queryable): Promise<void> {
    await q.query("DELETE FROM auth_nonces WHERE expires_at < now() - interval '1 day'");
  },
  /** Marks the nonce used. @returns false when it is unknown, used or expired at `now` */
  async useNonce(q: Queryable, nonce: string, now: Date): Promise<boolean> {
    const r = await q.query("UPDATE auth_nonces SET used_at = now() WHERE nonce = $1 AND used_at IS NULL AND expires_at > $2 RETURNING nonce", [nonce, now]);
    return r.rowCount === 1;
  },
};
