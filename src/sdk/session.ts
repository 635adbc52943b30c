/**
 * An HTTP client of the AICP coordinator signed in with Sign-In with Ethereum (EIP-4361): it
 * fetches a nonce, signs the message with the agent's wallet, keeps the bearer token, signs in
 * again shortly before it expires and, should the coordinator still answer
 * `401 TOKEN_EXPIRED` (or `TOKEN_INVALID`, e.g. after a secret rotation), once more before
 * retrying the request.
 */
import { getAddress } from "ethers";
import { SiweMessage } from "siwe";
import { u8aToHex } from "@polkadot/util";
import { decodeAddress } from "@polkadot/util-crypto";
import { formatSiws } from "../protocol/siws.js";

/** What the SDK needs of a wallet: its address and EIP-191 `personal_sign`. An ethers `Wallet` fits. */
export type AgentSigner = {
  /** 0x-prefixed 20-byte address, any case. */
  readonly address: string;
  /** Signs `message` as an EIP-191 personal message; resolves with the 65-byte signature as 0x-hex. */
  signMessage(message: string): Promise<string>;
};

/**
 * A Substrate account (sr25519, ed25519 or ecdsa) as the SDK needs it: its SS58 address and a raw
 * signature of a text, as a wallet extension's `signRaw` gives it (with or without the
 * `<Bytes>…</Bytes>` wrapping). A @polkadot/keyring pair fits with
 * `{ kind: "substrate", address: pair.address, signRaw: async (m) => u8aToHex(pair.sign(stringToU8a(m))) }`.
 */
export type SubstrateSigner = {
  readonly kind: "substrate";
  readonly address: string;
  /** Signs the UTF-8 bytes of `message`; resolves with the signature as 0x hex. */
  signRaw(message: string): Promise<string>;
};

const isSubstrate = (w: AgentSigner | SubstrateSigner): w is SubstrateSigner => "kind" in w && w.kind === "substrate";

/**
 * An error answer of the coordinator (`{ error: { code, message, details? } }`) or a transport
 * failure (`status` 0, `code` `NETWORK`).
 */
export class AicpHttpError extends Error {
  override readonly name = "AicpHttpError";
  constructor(
    /** HTTP status; 0 when no answer arrived. */
    readonly status: number,
    /** The coordinator's error code, e.g. `AUCTION_CLOSED`, `AGENT_EXISTS`, `TOKEN_EXPIRED`. */
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** Options of {@link createSession}. */
export type SessionOptions = {
  /** Coordinator base URL, e.g. `http://127.0.0.1:3000` (no trailing `/v1`). */
  baseUrl: string;
  /** An Ethereum wallet (SIWE) or a Substrate account (Sign-In with Substrate). */
  wallet: AgentSigner | SubstrateSigner;
  /** For a Substrate account: the chain's genesis hash; default: read from GET /v1/network. */
  genesisHash?: string;
  /** SIWE `domain`; defaults to the `host[:port]` of `baseUrl`, which is what the coordinator expects unless AUTH_DOMAIN is set. */
  domain?: string;
  /** SIWE chain id; default 31337 (the coordinator's CHAIN_ID default). */
  chainId?: number;
  /** Sign in again when the token has less than this left, ms; default 60 000 (capped at a tenth of the token's lifetime). */
  refreshBeforeMs?: number;
  /** Clock, ms since the epoch; injectable for tests. */
  now?: () => number;
};

/** The parts of `fetch`'s init the session passes through. */
export type RequestOptions = { signal?: AbortSignal; headers?: Record<string, string> };

/** A signed-in HTTP client of the coordinator, bound to one wallet. */
export type Session = {
  /** The wallet's address, lower-case hex (as the coordinator reports it; a Substrate account's 32-byte AccountId). */
  readonly address: string;
  /** Signs in now (fetches a nonce, signs, logs in). Concurrent calls share one sign-in. */
  login(): Promise<void>;
  /** A valid bearer token, signing in first when there is none or it is about to expire. */
  token(): Promise<string>;
  /** How many times this session has signed in (first sign-in included). */
  readonly logins: number;
  /**
   * Sends a JSON request with the bearer token; on `401 TOKEN_EXPIRED | TOKEN_INVALID` signs in
   * again and retries once.
   * @param path e.g. `/v1/cfps?waitMs=25000`
   * @returns the parsed JSON body of a 2xx answer (`undefined` when empty)
   * @throws AicpHttpError on any other answer, or with status 0 when the request could not be sent
   */
  request<T>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T>;
  /**
   * An authenticated raw `fetch` (for streams such as `GET /v1/events`), with the same one-time
   * sign-in-and-retry on an expired token. The caller reads or cancels the body.
   * @throws AicpHttpError on a non-2xx answer
   */
  open(path: string, opts?: RequestOptions): Promise<Response>;
};

const RETRY_CODES = new Set(["TOKEN_EXPIRED", "TOKEN_INVALID"]);

/** Reads an error answer into an {@link AicpHttpError}. */
async function errorOf(res: Response): Promise<AicpHttpError> {
  const text = await res.text().catch(() => "");
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string; details?: unknown } }).error;
    if (e?.code) return new AicpHttpError(res.status, e.code, e.message ?? e.code, e.details);
  } catch {
    /* not JSON */
  }
  return new AicpHttpError(res.status, `HTTP_${res.status}`, text.slice(0, 200) || res.statusText);
}

/**
 * Creates a signed-in session for `wallet` against the coordinator at `baseUrl`. Nothing is
 * sent until the first request (or `login()`).
 */
export function createSession(opts: SessionOptions): Session {
  const base = opts.baseUrl.replace(/\/+$/, "");
  const url = new URL(base);
  const domain = opts.domain ?? url.host;
  const chainId = opts.chainId ?? 31337;
  const now = opts.now ?? Date.now;
  const refreshBeforeMs = opts.refreshBeforeMs ?? 60_000;
  let current: { token: string; expiresAt: number; lifetimeMs: number } | undefined;
  let pending: Promise<void> | undefined;
  let logins = 0;

  async function send(method: string, path: string, token: string | undefined, body: unknown, o: RequestOptions = {}) {
    const headers: Record<string, string> = { accept: "application/json", ...o.headers };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers["authorization"] = `Bearer ${token}`;
    try {
      return await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: o.signal });
    } catch (err) {
      if (o.signal?.aborted) throw err;
      throw new AicpHttpError(0, "NETWORK", `${method} ${path}: ${(err as Error).message}`);
    }
  }

  async function doLogin() {
    const nonceRes = await send("GET", "/v1/auth/nonce", undefined, undefined);
    if (!nonceRes.ok) throw await errorOf(nonceRes);
    const { nonce } = (await nonceRes.json()) as { nonce: string };
    const w = opts.wallet;
    if (isSubstrate(w)) return finish(await substrateMessage(w, nonce), w.signRaw.bind(w));
    const message = new SiweMessage({
      domain,
      address: getAddress(opts.wallet.address),
      statement: "Sign in to AICP",
      uri: url.origin,
      version: "1",
      chainId,
      nonce,
      issuedAt: new Date(now()).toISOString(),
    }).prepareMessage();
    return finish(message, (m) => w.signMessage(m));
  }

  async function substrateMessage(w: SubstrateSigner, nonce: string): Promise<string> {
    let genesis = opts.genesisHash;
    if (!genesis) {
      const r = await send("GET", "/v1/network", undefined, undefined);
      if (!r.ok) throw await errorOf(r);
      const net = (await r.json()) as { chains?: { kind: string; genesisHash?: string }[] };
      genesis = net.chains?.find((c) => c.kind === "substrate")?.genesisHash;
      if (!genesis) throw new AicpHttpError(0, "NO_SUBSTRATE_CHAIN", "This coordinator settles on no Substrate chain (GET /v1/network lists none).");
    }
    return formatSiws({ domain, address: w.address, statement: "Sign in to AICP", uri: url.origin, chainId: genesis, nonce, issuedAt: new Date(now()).toISOString() });
  }

  async function finish(message: string, sign: (m: string) => Promise<string>) {
    const signature = await sign(message);
    const res = await send("POST", "/v1/auth/login", undefined, { message, signature });
    if (!res.ok) {
      const err = await errorOf(res);
      if (err.code === "SIWE_DOMAIN_MISMATCH" || err.code === "SIWE_CHAIN_MISMATCH")
        err.message += ` (this client signed for domain ${domain}, chain ${chainId}; set the SDK's siwe.domain / siwe.chainId)`;
      throw err;
    }
    const s = (await res.json()) as { token: string; expiresAt: string };
    const expiresAt = Date.parse(s.expiresAt);
    current = { token: s.token, expiresAt, lifetimeMs: Math.max(0, expiresAt - now()) };
    logins++;
  }

  function login(): Promise<void> {
    pending ??= doLogin().finally(() => (pending = undefined));
    return pending;
  }

  async function token(): Promise<string> {
    const margin = current ? Math.min(refreshBeforeMs, current.lifetimeMs / 10) : 0;
    if (!current || current.expiresAt - now() <= margin) await login();
    return current!.token;
  }

  /** Sends with the current token; on an expired or invalid token signs in once more and resends. */
  async function authed(method: string, path: string, body: unknown, o?: RequestOptions): Promise<Response> {
    const first = await token();
    const res = await send(method, path, first, body, o);
    if (res.status !== 401) return res;
    const err = await errorOf(res);
    if (!RETRY_CODES.has(err.code)) throw err;
    // Another request may have signed in meanwhile; only sign in if the token is still the one refused.
    if (current?.token === first) await login();
    return send(method, path, current!.token, body, o);
  }

  return {
    address: isSubstrate(opts.wallet) ? u8aToHex(decodeAddress(opts.wallet.address)).toLowerCase() : opts.wallet.address.toLowerCase(),
    login,
    token,
    get logins() {
      return logins;
    },
    async request<T>(method: string, path: string, body?: unknown, o?: RequestOptions): Promise<T> {
      let res = await authed(method, path, body, o);
      // 409 with Retry-After: the coordinator will not hand out a call that would revert yet (a chain
      // state not confirmed); wait as told, within a minute in all, then ask again.
      const until = now() + 60_000;
      for (;;) {
        const after = Number(res.headers.get("retry-after"));
        if (res.status !== 409 || !Number.isFinite(after) || after <= 0 || now() + after * 1000 > until) break;
        await res.body?.cancel();
        await new Promise((r) => setTimeout(r, after * 1000));
        res = await authed(method, path, body, o);
      }
      if (!res.ok) throw await errorOf(res);
      const text = await res.text();
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async open(path, o) {
      const res = await authed("GET", path, undefined, o);
      if (!res.ok) throw await errorOf(res);
      return res;
    },
  };
}
