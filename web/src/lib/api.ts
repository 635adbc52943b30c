import type { NetworkInfo } from "../../../src/protocol/network";

/**
 * The coordinator's HTTP API from the page: JSON in and out, the SIWE session token as a bearer
 * token, and errors as {@link ApiError} with the coordinator's code and message.
 */

/** An error answer of the coordinator (`{ error: { code, message, details? } }`), or `NETWORK`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export type Session = { token: string; address: string; roles: string[]; expiresAt: string };

const KEY = "aicp.session";
let session: Session | null = (() => {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Session | null;
    return s && Date.parse(s.expiresAt) > Date.now() ? s : null;
  } catch {
    return null;
  }
})();
const listeners = new Set<() => void>();

export const auth = {
  get: () => session,
  set(s: Session | null) {
    session = s;
    if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
    else sessionStorage.removeItem(KEY);
    for (const l of listeners) l();
  },
  subscribe(l: () => void) {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

export const SESSION_EXPIRED_MESSAGE = "Your sign-in has expired: sign in again with your wallet.";
const expiredListeners = new Set<() => void>();
/** Calls `fn` whenever the session ends by expiry (not by signing out). @returns unsubscribe */
export function onSessionExpired(fn: () => void): () => void {
  expiredListeners.add(fn);
  return () => expiredListeners.delete(fn);
}
function expire(): ApiError {
  auth.set(null);
  for (const l of expiredListeners) l();
  return new ApiError(401, "SESSION_EXPIRED", SESSION_EXPIRED_MESSAGE);
}

/** Calls the API; signs out (and throws SESSION_EXPIRED) when the token has expired. */
export async function api<T>(method: string, path: string, body?: unknown, opts: { admin?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (opts.admin) headers["x-admin-key"] = opts.admin;
  else if (session) {
    // An expired sign-in is caught here, before the coordinator has to refuse it.
    if (Date.parse(session.expiresAt) <= Date.now()) throw expire();
    headers["authorization"] = `Bearer ${session.token}`;
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch (err) {
    throw new ApiError(0, "NETWORK", `The coordinator does not answer: ${(err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = (json as { error?: { code: string; message: string; details?: unknown } } | undefined)?.error;
    if (res.status === 401 && (e?.code === "TOKEN_EXPIRED" || e?.code === "TOKEN_INVALID") && session) throw expire();
    throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `HTTP ${res.status}`, e?.details);
  }
  return json as T;
}

/** The coordinator's GET /v1/network (with ABIs): the same wire type the SDKs and CLI read. */
export type Network = NetworkInfo;

let network: Promise<Network> | undefined;
export const getNetwork = () => (network ??= api<Network>("GET", "/v1/network?abi=true"));
