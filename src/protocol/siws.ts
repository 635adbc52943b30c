/**
 * Sign-In with Substrate messages (the EIP-4361 grammar for an SS58 account; see
 * src/auth/siws.ts for the coordinator's parser and checks). Shared by the SDKs, the CLI and the
 * web app so that every client writes the message the coordinator reads.
 */
export type SiwsFields = {
  /** `host[:port]` the coordinator expects (AUTH_DOMAIN, else its HOST:PORT). */
  domain: string;
  /** SS58 address of the signing account. */
  address: string;
  statement?: string;
  uri: string;
  /** The Substrate chain's genesis hash (GET /v1/network → chains[kind=substrate].genesisHash). */
  chainId: string;
  nonce: string;
  /** ISO 8601. */
  issuedAt: string;
  expirationTime?: string;
  notBefore?: string;
};

/** The message text a Substrate wallet signs (with `signRaw`) to sign in. */
export function formatSiws(f: SiwsFields): string {
  const lines = [`${f.domain} wants you to sign in with your Substrate account:`, f.address, ""];
  if (f.statement) lines.push(f.statement, "");
  lines.push(`URI: ${f.uri}`, "Version: 1", `Chain ID: ${f.chainId}`, `Nonce: ${f.nonce}`, `Issued At: ${f.issuedAt}`);
  if (f.expirationTime) lines.push(`Expiration Time: ${f.expirationTime}`);
  if (f.notBefore) lines.push(`Not Before: ${f.notBefore}`);
  return lines.join("\n");
}
