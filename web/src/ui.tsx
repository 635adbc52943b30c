import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { getNetwork, type Network } from "./lib/api";
import { formatUnits, type TokenInfo } from "./lib/format";
import type { Connected, TxStage } from "./lib/wallet";

export const NATIVE = "0x0000000000000000000000000000000000000000";

/** The page-wide state: the coordinator's network, the connected wallet, the session. */
export type Role = "buyer" | "agent" | "arbitrator" | "operator";
/** The page-wide state; `roles` are the signed-in account's roles now (GET /v1/auth/session), `refreshRoles` asks again. */
export type AppState = { network: Network | null; wallet: Connected | null; address: string | null; signedIn: boolean; roles: Role[]; refreshRoles: () => void };
export const AppContext = createContext<AppState>({ network: null, wallet: null, address: null, signedIn: false, roles: [], refreshRoles: () => undefined });
export const useApp = () => useContext(AppContext);

/** The accepted tokens, ERC-20 tokens first (the local buyers hold test tUSD, and gas is paid in ETH). */
export function tokensOf(network: Network | null): NonNullable<Network["chain"]>["tokens"] {
  const all = network?.chain?.tokens ?? [];
  return [...all.filter((t) => t.address !== NATIVE), ...all.filter((t) => t.address === NATIVE)];
}

export function tokenOf(network: Network | null, address: string): TokenInfo {
  const t = network?.chain?.tokens.find((x) => x.address === address.toLowerCase());
  if (t) return t;
  if (address === NATIVE) return { address, symbol: "ETH", decimals: 18 };
  return { address, symbol: `${address.slice(0, 6)}…`, decimals: 0 };
}

/** An amount in token units with its symbol; the exact base-unit value on hover. */
export function Amount({ value, token }: { value: string | bigint | null | undefined; token: string }) {
  const { network } = useApp();
  if (value === null || value === undefined) return <span>—</span>;
  const t = tokenOf(network, token);
  const base = BigInt(value).toString();
  return (
    <span className="amount" title={`${base} base units`} data-base-units={base}>
      {formatUnits(base, t.decimals)} {t.symbol}
    </span>
  );
}

/** A transaction's progress: signing → sent → confirmations, with its hash. */
export function TxProgress({ stage, label }: { stage: TxStage | null; label?: string }) {
  if (!stage) return null;
  const hash = "hash" in stage ? stage.hash : undefined;
  const text =
    stage.stage === "signing" ? "waiting for your signature in the wallet…"
    : stage.stage === "sent" ? "sent; waiting to be mined…"
    : stage.stage === "confirming" ? `confirmations ${stage.confirmations}/${stage.wanted}`
    : stage.stage === "confirmed" ? `confirmed (${stage.confirmations}/${stage.wanted} confirmations)`
    : `failed: ${stage.error}`;
  return (
    <div className={`tx tx-${stage.stage}`} role="status" aria-live="polite">
      {label ? <strong>{label}: </strong> : null}
      <span className="tx-stage">{text}</span>
      {hash ? <> <code className="hash" title={hash}>tx {hash}</code></> : null}
    </div>
  );
}

export function ErrorNote({ error }: { error: string | null }) {
  return error ? <p className="error" role="alert">{error}</p> : null;
}

/** Runs async actions with a busy flag and a readable error. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, setError };
}

/** Polls `load` every `ms` (and on `deps` change). */
export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[]): { data: T | undefined; error: string | null; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    const tick = () =>
      load().then(
        (d) => live && (setData(d), setError(null)),
        (e: Error) => live && setError(e.message),
      );
    void tick();
    const t = setInterval(tick, ms);
    return () => {
      live = false;
      clearInterval(t);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

/** A titled card; a region named by its heading (for assistive technology). */
export function Section({ title, children, id }: { title: string; children: ReactNode; id?: string }) {
  const hid = id ?? `h-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section aria-labelledby={hid} className="card">
      <h2 id={hid}>{title}</h2>
      {children}
    </section>
  );
}

export function useNetwork() {
  const [n, setN] = useState<Network | null>(null);
  useEffect(() => void getNetwork().then(setN, () => setN(null)), []);
  return n;
}
