import { useEffect, useState } from "react";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { api } from "../lib/api";
import { call, read } from "../lib/contracts";
import { formatUnits, parseUnits } from "../lib/format";
import { Amount, ErrorNote, Section, tokensOf, useAction, useApp, usePoll } from "../ui";
import { useTxs } from "./Buyer";

type AgentView = { address: string; name: string; capabilities: { capability: string; minPrice: string }[]; endpointUrl: string | null; maxConcurrency: number; suspended: boolean; load: number; reputation: { tier: string; multiplierBps: number; successes: number; failures: number } };
type Cfp = { auctionId: string; taskIds: string[]; capability: string; budget: string; token: string; closesAt: string; rule: string; myProposal?: { price: string } | null };
type Task = { id: string; capability: string; status: string; price: string | null; token: string; settlement: string; execution: { deliveredAt: string | null }; dispute: { agentShareBps: number | null } | null };
type Proof = { epoch: number; root: string; anchored: boolean; leaf: { agent: string; score: string; tasks: string; epoch: string }; leafHash: string; proof: string[] };

export function AgentPage() {
  const { wallet, signedIn, address, roles } = useApp();
  if (!wallet || !signedIn) return <Section title="Agent operator"><p>Connect your agent's wallet and sign in to register, follow calls for proposals and claim payouts.</p></Section>;
  const isAgent = roles.includes("agent");
  return (
    <div className="grid">
      <Profile address={address!} isAgent={isAgent} />
      <Payouts />
      {isAgent ? <Reputation address={address!} /> : null}
      {isAgent ? <Work address={address!} /> : null}
    </div>
  );
}

function Profile({ address, isAgent }: { address: string; isAgent: boolean }) {
  const { network, refreshRoles } = useApp();
  const token = tokensOf(network)[0];
  const me = usePoll(() => (isAgent ? api<AgentView>("GET", `/v1/agents/${address}`) : Promise.resolve(null)), 5000, [address, isAgent]);
  const [name, setName] = useState("");
  const [caps, setCaps] = useState("text.stats=0.1, hash.digest=0.05");
  const [edited, setEdited] = useState(false);
  // A registered agent edits what it offers now.
  useEffect(() => {
    if (me.data && !edited) setCaps(me.data.capabilities.map((c) => `${c.capability}=${formatUnits(c.minPrice, token?.decimals ?? 0)}`).join(", "));
  }, [me.data, edited, token?.decimals]);
  const [endpoint, setEndpoint] = useState("");
  const { busy, error, run } = useAction();
  const parsed = () =>
    caps.split(",").map((x) => x.trim()).filter(Boolean).map((x) => {
      const [capability, price] = x.split("=").map((y) => y.trim());
      if (!capability || !price) throw new Error(`"${x}": write capability=price (token units)`);
      return { capability, minPrice: parseUnits(price, token?.decimals ?? 0).toString() };
    });
  const save = () =>
    run(async () => {
      const body = { name: name || me.data?.name || "my-agent", capabilities: parsed(), ...(endpoint ? { endpointUrl: endpoint } : {}) };
      if (me.data) await api("PATCH", `/v1/agents/${address}`, body);
      else await api("POST", "/v1/agents", body);
      refreshRoles();
      me.reload();
    });
  return (
    <Section title={me.data ? "My agent" : "Register as an agent"}>
      {me.data ? (
        <dl className="facts">
          <dt>Name</dt><dd>{me.data.name}</dd>
          <dt>Capabilities (floor)</dt><dd>{me.data.capabilities.map((c) => <span key={c.capability} className="chip">{c.capability} ≥ <Amount value={c.minPrice} token={token?.address ?? ""} /></span>)}</dd>
          <dt>Load</dt><dd>{me.data.load}/{me.data.maxConcurrency}{me.data.suspended ? " (suspended)" : ""}</dd>
        </dl>
      ) : null}
      <form className="form" onSubmit={(e) => (e.preventDefault(), void save())}>
        <label>Name <input value={name} placeholder={me.data?.name ?? "my-agent"} onChange={(e) => setName(e.target.value)} /></label>
        <label>Capabilities and floor prices ({token?.symbol ?? "base units"}) <input value={caps} onChange={(e) => (setEdited(true), setCaps(e.target.value))} aria-describedby="caps-help" /></label>
        <span id="caps-help" className="muted small">capability=price, comma-separated</span>
        <label>Webhook endpoint (optional) <input type="url" value={endpoint} onChange={(e) => setEndpoint(e.target.value)} placeholder="https://…" /></label>
        <button type="submit" disabled={busy}>{me.data ? "Save" : "Register"}</button>
      </form>
      <ErrorNote error={error ?? me.error} />
    </Section>
  );
}

function Payouts() {
  const { wallet, network } = useApp();
  const tokens = tokensOf(network);
  const [token, setToken] = useState(tokens[0]?.address ?? "");
  const b = usePoll(async () => ({ escrow: await read<bigint>(wallet!, "TaskEscrow", "balanceOf", [wallet!.address, token]), channels: await read<bigint>(wallet!, "PaymentChannels", "claimableOf", [wallet!.address, token]) }), 3000, [wallet, token]);
  const { busy, error, run } = useAction();
  const txs = useTxs();
  const withdraw = (which: "TaskEscrow" | "PaymentChannels") => run(async () => (await txs.run([call(wallet!, which, "withdraw", [token], `Withdraw from ${which}`)]), b.reload()));
  return (
    <Section title="Payouts">
      <label>Token <select value={token} onChange={(e) => setToken(e.target.value)}>{tokens.map((t) => <option key={t.address} value={t.address}>{t.symbol}</option>)}</select></label>
      <dl className="facts">
        <dt>TaskEscrow (escrow route, dispute splits)</dt><dd data-testid="payout-escrow"><Amount value={b.data?.escrow ?? 0n} token={token} /></dd>
        <dt>PaymentChannels (settled vouchers, claims)</dt><dd data-testid="payout-channels"><Amount value={b.data?.channels ?? 0n} token={token} /></dd>
      </dl>
      <div className="actions">
        <button onClick={() => void withdraw("TaskEscrow")} disabled={busy || !b.data?.escrow}>Withdraw from TaskEscrow</button>
        <button onClick={() => void withdraw("PaymentChannels")} disabled={busy || !b.data?.channels}>Withdraw from PaymentChannels</button>
      </div>
      {txs.view}
      <ErrorNote error={error ?? b.error} />
    </Section>
  );
}

function Reputation({ address }: { address: string }) {
  const { wallet } = useApp();
  const rep = usePoll(() => api<{ score: number; tier: string; multiplierBps: number; successes: number; failures: number }>("GET", `/v1/agents/${address}/reputation`), 10_000, [address]);
  const [check, setCheck] = useState<string | null>(null);
  const { busy, error, run } = useAction();
  const verify = () =>
    run(async () => {
      const p = await api<Proof>("GET", `/v1/agents/${address}/reputation/proof`);
      const leaf = [p.leaf.agent, p.leaf.score, p.leaf.tasks, p.leaf.epoch];
      const local = StandardMerkleTree.verify(p.root, ["address", "uint256", "uint256", "uint64"], leaf, p.proof);
      const anchored = await read<string>(wallet!, "ReputationAnchor", "rootOf", [BigInt(p.epoch)]);
      const onChain = await read<boolean>(wallet!, "ReputationAnchor", "verify", [BigInt(p.epoch), p.leaf.agent, BigInt(p.leaf.score), BigInt(p.leaf.tasks), p.proof]);
      setCheck(`${local && onChain && anchored.toLowerCase() === p.root.toLowerCase() ? "✔ verified" : "✘ NOT verified"}: epoch ${p.epoch}, score ${Number(p.leaf.score) / 100} over ${p.leaf.tasks} task(s); proof ${local ? "matches" : "does not match"} the root ${p.root.slice(0, 10)}…, which the ReputationAnchor ${anchored.toLowerCase() === p.root.toLowerCase() ? "holds" : `does not hold (anchor: ${anchored.slice(0, 10)}…)`}.`);
    });
  return (
    <Section title="Reputation">
      {rep.data ? (
        <dl className="facts">
          <dt>Score</dt><dd>{rep.data.score} / 100</dd>
          <dt>Tier</dt><dd>{rep.data.tier} (price × {rep.data.multiplierBps / 10_000})</dd>
          <dt>Record</dt><dd>{rep.data.successes} successes, {rep.data.failures} failures</dd>
        </dl>
      ) : null}
      <button onClick={() => void verify()} disabled={busy}>Check my Merkle proof against the anchor</button>
      {check ? <p role="status">{check}</p> : null}
      <ErrorNote error={error} />
    </Section>
  );
}

function Work({ address }: { address: string }) {
  const { network } = useApp();
  const feeBps = BigInt(network?.chain?.feeBps ?? 0);
  const cfps = usePoll(() => api<{ items: Cfp[] }>("GET", "/v1/cfps?status=all"), 3000, []);
  const tasks = usePoll(() => api<{ items: Task[] }>("GET", `/v1/tasks?agent=${address}&limit=100`), 3000, [address]);
  const earned = new Map<string, { route: string; token: string; paid: bigint; pending: bigint }>();
  for (const t of tasks.data?.items ?? []) {
    if (!t.price) continue;
    const k = `${t.settlement}${t.token}`;
    const r = earned.get(k) ?? { route: t.settlement, token: t.token, paid: 0n, pending: 0n };
    // TaskEscrow keeps its fee from what it pays the agent (the price, or a ruling's share of it); channels keep none.
    const net = (gross: bigint) => (t.settlement === "escrow" ? gross - (gross * feeBps) / 10_000n : gross);
    if (["accepted", "settled"].includes(t.status)) r.paid += net(BigInt(t.price));
    else if (t.status === "resolved" && t.dispute?.agentShareBps != null) r.paid += net((BigInt(t.price) * BigInt(t.dispute.agentShareBps)) / 10_000n);
    else if (["awarded", "running", "delivered", "disputed"].includes(t.status)) r.pending += BigInt(t.price);
    earned.set(k, r);
  }
  return (
    <>
      <Section title="Earnings per route">
        <table>
          <thead><tr><th scope="col">Route</th><th scope="col">Earned (net of fees)</th><th scope="col">In progress</th></tr></thead>
          <tbody>{[...earned.values()].map((r) => <tr key={r.route + r.token}><td>{r.route}</td><td><Amount value={r.paid} token={r.token} /></td><td><Amount value={r.pending} token={r.token} /></td></tr>)}</tbody>
        </table>
      </Section>
      <Section title="Calls for proposals">
        <table>
          <thead><tr><th scope="col">Capability</th><th scope="col">Budget</th><th scope="col">Rule</th><th scope="col">Closes</th><th scope="col">My bid</th></tr></thead>
          <tbody>{(cfps.data?.items ?? []).slice(0, 20).map((c) => <tr key={c.auctionId}><td>{c.capability}</td><td><Amount value={c.budget} token={c.token} /></td><td>{c.rule}</td><td>{new Date(c.closesAt).toLocaleTimeString()}</td><td>{c.myProposal ? <Amount value={c.myProposal.price} token={c.token} /> : "—"}</td></tr>)}</tbody>
        </table>
      </Section>
      <Section title="Wins and deliveries">
        <table>
          <thead><tr><th scope="col">Task</th><th scope="col">Capability</th><th scope="col">Status</th><th scope="col">Price</th><th scope="col">Route</th></tr></thead>
          <tbody>{(tasks.data?.items ?? []).map((t) => <tr key={t.id}><td><code>{t.id.slice(0, 8)}</code></td><td>{t.capability}</td><td>{t.status}</td><td><Amount value={t.price} token={t.token} /></td><td>{t.settlement}</td></tr>)}</tbody>
        </table>
        <ErrorNote error={cfps.error ?? tasks.error} />
      </Section>
    </>
  );
}
