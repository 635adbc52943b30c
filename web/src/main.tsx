import { StrictMode, useEffect, useState, useSyncExternalStore } from "react";
import { createRoot } from "react-dom/client";
import { api, auth, onSessionExpired, SESSION_EXPIRED_MESSAGE } from "./lib/api";
import { connect, discoverWallets, onWalletsChanged, signIn, walletMessage, type Connected, type WalletDetail } from "./lib/wallet";
import { AppContext, ErrorNote, useNetwork, usePoll, type Role } from "./ui";
import { BuyerPage } from "./pages/Buyer";
import { AgentPage } from "./pages/Agent";
import { ArbitratorPage } from "./pages/Arbitrator";
import { DashboardPage } from "./pages/Dashboard";
import "./style.css";

const PAGES = [
  { path: "/buyer", label: "Buyer" },
  { path: "/agent", label: "Agent operator" },
  { path: "/arbitrator", label: "Arbitrator" },
  { path: "/dashboard", label: "Dashboard" },
] as const;

function usePath(): [string, (p: string) => void] {
  const [path, setPath] = useState(location.pathname === "/" ? "/buyer" : location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname === "/" ? "/buyer" : location.pathname);
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  return [path, (p) => (history.pushState(null, "", p), setPath(p))];
}

function App() {
  const network = useNetwork();
  const [path, go] = usePath();
  const [wallets, setWallets] = useState<WalletDetail[]>(discoverWallets());
  const [wallet, setWallet] = useState<Connected | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const session = useSyncExternalStore(auth.subscribe, auth.get);
  useEffect(() => onWalletsChanged(() => setWallets(discoverWallets())), []);
  useEffect(() => onSessionExpired(() => setError(SESSION_EXPIRED_MESSAGE)), []);
  // A session of another account than the wallet's is not used.
  const signedIn = !!session && !!wallet && session.address === wallet.address.toLowerCase();
  const roles = usePoll(() => (signedIn ? api<{ roles: Role[] }>("GET", "/v1/auth/session").then((r) => r.roles) : Promise.resolve([] as Role[])), 10_000, [signedIn, session?.token]);

  useEffect(() => {
    if (!wallet) return;
    const p = wallet.wallet.provider as unknown as { on?: (e: string, f: (x: unknown) => void) => void; removeListener?: (e: string, f: (x: unknown) => void) => void };
    const onAccounts = () => (setWallet(null), auth.set(null));
    const onChain = (id: unknown) =>
      Number(id) !== wallet.network.chainId
        ? setError(`Wrong chain: your wallet is on chain ${Number(id)}; AICP settles on chain ${wallet.network.chainId}. The next transaction asks your wallet to switch back.`)
        : setError((e) => (e?.startsWith("Wrong chain") ? null : e));
    p.on?.("accountsChanged", onAccounts);
    p.on?.("chainChanged", onChain);
    return () => (p.removeListener?.("accountsChanged", onAccounts), p.removeListener?.("chainChanged", onChain));
  }, [wallet]);

  async function doConnect(w: WalletDetail) {
    setBusy(true);
    setError(null);
    try {
      const c = await connect(w);
      setWallet(c);
      if (!auth.get() || auth.get()!.address !== c.address.toLowerCase()) await signIn(c);
    } catch (err) {
      setError(walletMessage(err));
    } finally {
      setBusy(false);
    }
  }
  async function doSignIn() {
    if (!wallet) return;
    setBusy(true);
    setError(null);
    try {
      await signIn(wallet);
    } catch (err) {
      setError(walletMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AppContext.Provider value={{ network, wallet, address: wallet?.address.toLowerCase() ?? null, signedIn, roles: roles.data ?? [], refreshRoles: roles.reload }}>
      <header className="top">
        <a className="brand" href="/" onClick={(e) => (e.preventDefault(), go("/buyer"))}>AICP</a>
        <nav aria-label="Sections">
          {PAGES.map((p) => (
            <a key={p.path} href={p.path} aria-current={path === p.path ? "page" : undefined} onClick={(e) => (e.preventDefault(), go(p.path))}>
              {p.label}
            </a>
          ))}
        </nav>
        <div className="wallet" aria-label="Wallet">
          {wallet ? (
            <>
              <span className="who" title={wallet.address}>{wallet.wallet.name}: <code>{wallet.address.slice(0, 8)}…{wallet.address.slice(-4)}</code></span>
              {signedIn ? <span className="badge" title={`roles: ${(roles.data ?? []).join(", ")}`}>signed in</span> : <button onClick={() => void doSignIn()} disabled={busy}>Sign in with Ethereum</button>}
              <button className="secondary" onClick={() => (setWallet(null), auth.set(null))}>Disconnect</button>
            </>
          ) : wallets.length ? (
            wallets.map((w) => (
              <button key={w.id} onClick={() => void doConnect(w)} disabled={busy}>
                {w.icon ? <img src={w.icon} alt="" width={16} height={16} /> : null} Connect {w.name}
              </button>
            ))
          ) : (
            <span className="muted">No wallet found: install a browser wallet (EIP-6963).</span>
          )}
        </div>
      </header>
      <main>
        <ErrorNote error={error ?? roles.error} />
        {network?.chain ? (
          <p className="muted small">
            Chain {network.chain.chainId} · RPC {network.chain.rpcUrl} · fee {network.chain.feeBps / 100}% · {network.chain.confirmations} confirmation(s)
          </p>
        ) : null}
        {path === "/agent" ? <AgentPage /> : path === "/arbitrator" ? <ArbitratorPage /> : path === "/dashboard" ? <DashboardPage /> : <BuyerPage />}
      </main>
    </AppContext.Provider>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
