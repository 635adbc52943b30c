import { useMemo, useState } from "react";
import { parseSignature, toHex, type Hex } from "viem";
import { api } from "../lib/api";
import { call, approveCall, allowance, read, addressOf, tokenBalance } from "../lib/contracts";
import { parseUnits } from "../lib/format";
import { sendCall, signTyped, type Call, type TxStage } from "../lib/wallet";
import { Amount, ErrorNote, Section, tokensOf, TxProgress, tokenOf, useAction, useApp, usePoll } from "../ui";
import { DELIVERY_AUTHORIZATION_TYPES, VOUCHER_TYPES } from "../../../src/protocol/eip712";
import { evidenceUri, multihashSha256 } from "../../../src/protocol/disputes";

type Task = {
  id: string; capability: string; status: string; budget: string; token: string; price: string | null; agent: string | null; route: string; settlement: string; deadline: string;
  auction: { rule: string; status: string; proposals: number; eligible: number; closesAt: string };
  execution: { resultHash: string | null; deliveredAt: string | null; failureReason: string | null };
  funding: { planUrl: string | null; escrowState: string | null } | null;
  dispute: { id: string; status: string; agentShareBps: number | null } | null;
  output?: unknown; createdAt: string;
};

/** A group of wallet transactions run in order, each with its progress. */
export function useTxs() {
  const { wallet } = useApp();
  const [stages, setStages] = useState<{ label: string; stage: TxStage | null }[]>([]);
  async function run(calls: Call[]) {
    if (!wallet) throw new Error("Connect your wallet first.");
    setStages(calls.map((c) => ({ label: c.description ?? "transaction", stage: null })));
    const hashes: Hex[] = [];
    for (const [i, c] of calls.entries()) hashes.push(await sendCall(wallet, c, (s) => setStages((xs) => xs.map((x, j) => (j === i ? { ...x, stage: s } : x)))));
    return hashes;
  }
  const view = <div className="txs">{stages.map((s, i) => <TxProgress key={i} label={s.label} stage={s.stage} />)}</div>;
  return { run, view };
}

export function BuyerPage() {
  const { wallet, signedIn, address } = useApp();
  if (!wallet || !signedIn) return <Section title="Buyer"><p>Connect your wallet and sign in to post tasks, fund escrows, pay agents and withdraw.</p></Section>;
  return (
    <div className="grid">
      <PostTask />
      <Channel />
      <MyTasks buyer={address!} />
    </div>
  );
}

function PostTask() {
  const { network } = useApp();
  const tokens = tokensOf(network);
  const [mode, setMode] = useState<"form" | "json" | "workflow">("form");
  const [f, setF] = useState({ capability: "text.stats", input: '{ "text": "AICP is a marketplace for autonomous AI agents." }', complexity: "2", budget: "5", token: tokens[0]?.address ?? "", hours: "2", rule: "second-price", windowMs: "3000", route: "auto" });
  const [json, setJson] = useState("");
  const [wf, setWf] = useState(() => exampleWorkflow(tokens[0]?.address ?? "0x0000000000000000000000000000000000000000"));
  const { busy, error, run } = useAction();
  const [posted, setPosted] = useState<string | null>(null);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const token = tokenOf(network, f.token || tokens[0]?.address || "0x0000000000000000000000000000000000000000");

  const body = () => {
    let input: unknown;
    try {
      input = JSON.parse(f.input);
    } catch {
      throw new Error("The input is not valid JSON.");
    }
    return { capability: f.capability, input, complexity: Number(f.complexity), budget: parseUnits(f.budget, token.decimals).toString(), token: token.address, deadline: new Date(Date.now() + Number(f.hours) * 3_600_000).toISOString(), auction: { rule: f.rule, windowMs: Number(f.windowMs) }, route: f.route };
  };
  const submit = () =>
    run(async () => {
      if (mode === "workflow") {
        const w = await api<{ id: string }>("POST", "/v1/workflows", JSON.parse(wf));
        setPosted(`workflow ${w.id}`);
        return;
      }
      const b = mode === "json" ? JSON.parse(json) : body();
      const r = await api<{ tasks: { id: string }[] }>("POST", "/v1/tasks", b);
      setPosted(`task ${r.tasks.map((t) => t.id).join(", ")}`);
    });

  return (
    <Section title="Post a task">
      <div role="tablist" aria-label="How to post" className="tabs">
        {(["form", "json", "workflow"] as const).map((m) => (
          <button key={m} role="tab" aria-selected={mode === m} className={mode === m ? "" : "secondary"} onClick={() => (setMode(m), m === "json" && !json && setJson(JSON.stringify((() => { try { return body(); } catch { return {}; } })(), null, 2)))}>
            {m === "form" ? "Form" : m === "json" ? "JSON" : "Workflow (DAG)"}
          </button>
        ))}
      </div>
      {mode === "form" ? (
        <form className="form" onSubmit={(e) => (e.preventDefault(), void submit())}>
          <label>Capability <input value={f.capability} onChange={set("capability")} required /></label>
          <label>Input (JSON) <textarea value={f.input} onChange={set("input")} rows={3} /></label>
          <label>Complexity (1–10) <input type="number" min={1} max={10} value={f.complexity} onChange={set("complexity")} /></label>
          <label>Budget ({token.symbol}) <input inputMode="decimal" value={f.budget} onChange={set("budget")} aria-describedby="budget-base" /></label>
          <span id="budget-base" className="muted small">{(() => { try { return `${parseUnits(f.budget, token.decimals)} base units`; } catch (e) { return (e as Error).message; } })()}</span>
          <label>Token <select value={token.address} onChange={set("token")}>{tokens.map((t) => <option key={t.address} value={t.address}>{t.symbol}</option>)}</select></label>
          <label>Deadline (hours from now) <input type="number" min={1} value={f.hours} onChange={set("hours")} /></label>
          <label>Auction rule <select value={f.rule} onChange={set("rule")}>{["second-price", "first-price", "reputation-weighted"].map((r) => <option key={r}>{r}</option>)}</select></label>
          <label>Auction window (ms) <input type="number" min={0} value={f.windowMs} onChange={set("windowMs")} /></label>
          <label>Route <select value={f.route} onChange={set("route")}>{["auto", "channel", "escrow"].map((r) => <option key={r}>{r}</option>)}</select></label>
          <button type="submit" disabled={busy}>Post task</button>
        </form>
      ) : mode === "json" ? (
        <form className="form" onSubmit={(e) => (e.preventDefault(), void submit())}>
          <label>Task (JSON, amounts in base units) <textarea rows={12} value={json} onChange={(e) => setJson(e.target.value)} /></label>
          <button type="submit" disabled={busy}>Post task</button>
        </form>
      ) : (
        <form className="form" onSubmit={(e) => (e.preventDefault(), void submit())}>
          <label>Workflow (JSON: nodes with dependsOn) <textarea rows={12} value={wf} onChange={(e) => setWf(e.target.value)} /></label>
          <DagDrawing json={wf} />
          <button type="submit" disabled={busy}>Post workflow</button>
        </form>
      )}
      <ErrorNote error={error} />
      {posted ? <p role="status">Posted {posted}.</p> : null}
    </Section>
  );
}

/** A three-node workflow the reference agents can run (text.stats and text.keywords, then math.evaluate), priced in `token`. */
const exampleWorkflow = (token: string) => JSON.stringify(
  {
    nodes: [
      { key: "stats", capability: "text.stats", input: { text: "Agents bid in sealed auctions. The lowest price wins and is paid the second price." }, complexity: 1, budget: "1000000" },
      { key: "keywords", capability: "text.keywords", input: { text: "Agents bid in sealed auctions. The lowest price wins and is paid the second price.", limit: 3 }, complexity: 1, budget: "1000000" },
      {
        key: "combine",
        capability: "math.evaluate",
        input: { expression: "round(words / sentences, 2)", scope: { words: { $from: "stats", path: "words" }, sentences: { $from: "stats", path: "sentences" } } },
        complexity: 1,
        budget: "1000000",
        dependsOn: ["stats", "keywords"],
      },
    ],
    totalBudget: "4000000",
    token,
    deadline: new Date(Date.now() + 7_200_000).toISOString(),
  },
  null,
  2,
);

/** The DAG of a workflow JSON as layered boxes and edges (SVG). */
function DagDrawing({ json }: { json: string }) {
  const layout = useMemo(() => {
    try {
      const nodes = (JSON.parse(json) as { nodes: { key: string; capability: string; dependsOn?: string[] }[] }).nodes;
      const depth = new Map<string, number>();
      const d = (k: string, seen = new Set<string>()): number => {
        if (depth.has(k)) return depth.get(k)!;
        if (seen.has(k)) throw new Error(`cycle at ${k}`);
        seen.add(k);
        const n = nodes.find((x) => x.key === k);
        const v = n?.dependsOn?.length ? 1 + Math.max(...n.dependsOn.map((p) => d(p, seen))) : 0;
        depth.set(k, v);
        return v;
      };
      nodes.forEach((n) => d(n.key));
      const rows = new Map<number, string[]>();
      for (const n of nodes) rows.set(depth.get(n.key)!, [...(rows.get(depth.get(n.key)!) ?? []), n.key]);
      const pos = new Map<string, { x: number; y: number }>();
      for (const [r, keys] of rows) keys.forEach((k, i) => pos.set(k, { x: 10 + i * 150, y: 10 + r * 70 }));
      return { nodes, pos, h: 70 * rows.size + 10, w: 150 * Math.max(...[...rows.values()].map((k) => k.length)) + 10 };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }, [json]);
  if ("error" in layout) return <p className="muted small">DAG: {layout.error}</p>;
  return (
    <svg role="img" aria-label="Workflow DAG" width={layout.w} height={layout.h} className="dag">
      {layout.nodes.flatMap((n) => (n.dependsOn ?? []).map((p) => { const a = layout.pos.get(p), b = layout.pos.get(n.key); return a && b ? <line key={`${p}-${n.key}`} x1={a.x + 65} y1={a.y + 40} x2={b.x + 65} y2={b.y} /> : null; }))}
      {layout.nodes.map((n) => { const p = layout.pos.get(n.key)!; return <g key={n.key}><rect x={p.x} y={p.y} width={130} height={40} rx={6} /><text x={p.x + 8} y={p.y + 17}>{n.key}</text><text x={p.x + 8} y={p.y + 32} className="small">{n.capability}</text></g>; })}
    </svg>
  );
}

function Channel() {
  const { wallet, network, address } = useApp();
  const tokens = tokensOf(network);
  const [token, setToken] = useState(tokens[0]?.address ?? "");
  const info = tokenOf(network, token);
  const [amount, setAmount] = useState("10");
  const { busy, error, run } = useAction();
  const txs = useTxs();
  const view = usePoll(() => api<{ accounts: { token: string; deposit: string; available: string; promised: string; owed: string; withdrawal: { availableAt: string } | null }[]; authorizations: { token: string; maxAmount: string; claimed?: string; expiry: string }[] }>("GET", `/v1/channels/${address}`), 3000, [address]);
  const acct = view.data?.accounts.find((a) => a.token === token);
  const escrowBal = usePoll(async () => (wallet ? read<bigint>(wallet, "TaskEscrow", "balanceOf", [wallet.address, token]) : 0n), 3000, [wallet, token]);

  const deposit = () =>
    run(async () => {
      const c = wallet!;
      const base = parseUnits(amount, info.decimals);
      const pc = addressOf(c, "PaymentChannels");
      const calls: Call[] = [];
      if ((await allowance(c, token, c.address, pc)) < base) calls.push(approveCall(token, pc, base, `Approve PaymentChannels for ${amount} ${info.symbol}`));
      calls.push(call(c, "PaymentChannels", "deposit", [token, base], `Deposit ${amount} ${info.symbol} into PaymentChannels`));
      await txs.run(calls);
      // The coordinator claims delivered work against this authorization if you stop paying.
      const value = { payer: c.address.toLowerCase() as Hex, token: token as Hex, salt: toHex(crypto.getRandomValues(new Uint8Array(32))), maxAmount: base, expiry: BigInt(Math.floor(Date.now() / 1000) + 30 * 86_400) };
      const signature = await signTyped(c, { name: "AICP PaymentChannels", version: "1", chainId: c.network.chainId, verifyingContract: pc }, DELIVERY_AUTHORIZATION_TYPES, "DeliveryAuthorization", value);
      await api("POST", "/v1/channels/authorizations", { ...value, maxAmount: value.maxAmount.toString(), expiry: value.expiry.toString(), signature });
      view.reload();
    });
  const requestWithdrawal = () => run(async () => (await txs.run([call(wallet!, "PaymentChannels", "requestWithdrawal", [token], "Request the withdrawal of your deposit (challenge period)")]), view.reload()));
  const withdrawDeposit = () => run(async () => (await txs.run([call(wallet!, "PaymentChannels", "withdrawDeposit", [token], "Withdraw your deposit")]), view.reload()));
  const withdrawEscrow = () => run(async () => (await txs.run([call(wallet!, "TaskEscrow", "withdraw", [token], "Withdraw your TaskEscrow balance (refunds, splits)")]), escrowBal.reload()));

  return (
    <Section title="Channel deposit and balances">
      <form className="form row" onSubmit={(e) => (e.preventDefault(), void deposit())}>
        <label>Token <select value={token} onChange={(e) => setToken(e.target.value)}>{tokens.map((t) => <option key={t.address} value={t.address}>{t.symbol}</option>)}</select></label>
        <label>Amount ({info.symbol}) <input inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} /></label>
        <button type="submit" disabled={busy}>Deposit</button>
      </form>
      <dl className="facts">
        <dt>Deposit</dt><dd data-testid="channel-deposit"><Amount value={acct?.deposit ?? "0"} token={token} /></dd>
        <dt>Available</dt><dd><Amount value={acct?.available ?? "0"} token={token} /></dd>
        <dt>Promised to open tasks</dt><dd><Amount value={acct?.promised ?? "0"} token={token} /></dd>
        <dt>Owed (delivered, unpaid)</dt><dd><Amount value={acct?.owed ?? "0"} token={token} /></dd>
        <dt>Withdrawal</dt><dd>{acct?.withdrawal ? `available at ${new Date(acct.withdrawal.availableAt).toLocaleString()}` : "none pending"}</dd>
        <dt>TaskEscrow balance</dt><dd data-testid="escrow-balance"><Amount value={escrowBal.data ?? 0n} token={token} /></dd>
      </dl>
      <div className="actions">
        <button className="secondary" onClick={() => void requestWithdrawal()} disabled={busy || !acct || acct.deposit === "0"}>Request deposit withdrawal</button>
        <button className="secondary" onClick={() => void withdrawDeposit()} disabled={busy || !acct?.withdrawal}>Withdraw deposit</button>
        <button onClick={() => void withdrawEscrow()} disabled={busy || !escrowBal.data}>Withdraw escrow balance</button>
      </div>
      {txs.view}
      <ErrorNote error={error ?? view.error} />
    </Section>
  );
}

function MyTasks({ buyer }: { buyer: string }) {
  const { data, error, reload } = usePoll(() => api<{ items: Task[] }>("GET", `/v1/tasks?buyer=${buyer}&limit=50`), 2000, [buyer]);
  const spend = useMemo(() => {
    const by = new Map<string, { route: string; token: string; paid: bigint; committed: bigint; n: number }>();
    for (const t of data?.items ?? []) {
      const k = `${t.settlement}:${t.token}`;
      const r = by.get(k) ?? { route: t.settlement, token: t.token, paid: 0n, committed: 0n, n: 0 };
      r.n++;
      if (t.price && ["accepted", "settled"].includes(t.status)) r.paid += BigInt(t.price);
      else if (t.price && t.status === "resolved" && t.dispute?.agentShareBps != null) r.paid += (BigInt(t.price) * BigInt(t.dispute.agentShareBps)) / 10_000n;
      else if (t.price && ["awarded", "running", "delivered", "disputed"].includes(t.status)) r.committed += BigInt(t.price);
      by.set(k, r);
    }
    return [...by.values()];
  }, [data]);
  return (
    <>
      <Section title="Spending per route">
        <table>
          <thead><tr><th scope="col">Route</th><th scope="col">Tasks</th><th scope="col">Paid</th><th scope="col">Committed</th></tr></thead>
          <tbody>{spend.map((r) => <tr key={`${r.route}${r.token}`}><td>{r.route}</td><td>{r.n}</td><td><Amount value={r.paid} token={r.token} /></td><td><Amount value={r.committed} token={r.token} /></td></tr>)}</tbody>
        </table>
      </Section>
      <Section title="My tasks">
        <ErrorNote error={error} />
        {(data?.items ?? []).map((t) => <TaskCard key={t.id} t={t} onChange={reload} />)}
        {data && data.items.length === 0 ? <p className="muted">No tasks yet.</p> : null}
      </Section>
    </>
  );
}

function TaskCard({ t, onChange }: { t: Task; onChange: () => void }) {
  const { wallet } = useApp();
  const { busy, error, run } = useAction();
  const txs = useTxs();
  const [evidence, setEvidence] = useState({ name: "", description: "", file: null as File | null });
  const [usePermit, setUsePermit] = useState(false);
  const sealed = t.auction.status === "open" || t.auction.status === "funding";
  // The escrow's accept and dispute calls exist once the chain holds the delivery (indexed).
  const escrowDelivered = t.status === "delivered" && t.settlement === "escrow" && t.funding?.escrowState === "delivered";

  const fund = () =>
    run(async () => {
      const c = wallet!;
      const { plan } = await api<{ plan: { calls: Call[]; escrow: string; taskKey: string; token: string; amount: string; deadline: number; authorization: string; permit?: { typedData: { domain: Record<string, unknown>; types: { Permit: { name: string; type: string }[] }; message: Record<string, string> }; fundWithPermit: { args: { permitDeadline: number } } } } }>("GET", `/v1/tasks/${t.id}/funding`);
      if (usePermit && plan.permit) {
        const p = plan.permit;
        const m = p.typedData.message;
        const sig = await signTyped(c, p.typedData.domain, { Permit: p.typedData.types.Permit }, "Permit", { ...m, value: BigInt(m["value"]!), nonce: BigInt(m["nonce"]!), deadline: BigInt(m["deadline"]!) });
        const s = parseSignature(sig);
        await txs.run([call(c, "TaskEscrow", "fundWithPermit", [plan.taskKey, plan.token, BigInt(plan.amount), BigInt(plan.deadline), BigInt(p.fundWithPermit.args.permitDeadline), Number(s.v ?? BigInt(s.yParity + 27)), s.r, s.s, plan.authorization], `Fund the escrow with a permit (${plan.amount} base units)`)]);
      } else {
        const calls = [];
        for (const k of plan.calls) {
          if (k.to.toLowerCase() === plan.token.toLowerCase() && (await allowance(c, plan.token, c.address, plan.escrow)) >= BigInt(plan.amount)) continue;
          calls.push(k);
        }
        const bal = await tokenBalance(c, plan.token, c.address);
        if (bal < BigInt(plan.amount)) throw new Error(`Insufficient balance: the escrow needs ${plan.amount} base units, the wallet holds ${bal}.`);
        await txs.run(calls);
      }
      onChange();
    });
  const walletCall = (verb: "accept" | "reclaim", body?: unknown) =>
    run(async () => {
      const r = await api<{ call: Call | null }>("POST", `/v1/tasks/${t.id}/${verb}`, body);
      if (r.call) await txs.run([r.call]);
      onChange();
    });
  const dispute = () =>
    run(async () => {
      if (!evidence.name || !evidence.description) throw new Error("Give the evidence a title and a description.");
      const doc: Parameters<typeof evidenceUri>[0] = { name: evidence.name, description: evidence.description };
      if (evidence.file) {
        doc.fileHash = multihashSha256(new Uint8Array(await evidence.file.arrayBuffer()));
        doc.fileTypeExtension = evidence.file.name.split(".").pop() ?? "bin";
        doc.fileURI = `file:${evidence.file.name}`;
      }
      const r = await api<{ call: Call }>("POST", `/v1/tasks/${t.id}/dispute`, { evidenceUri: evidenceUri(doc), text: evidence.description });
      await txs.run([r.call]);
      onChange();
    });
  const payVoucher = () =>
    run(async () => {
      const c = wallet!;
      const ch = await api<{ pairs: { payee: string; token: string; nextCumulativeAmount: string; dueTaskIds: string[] }[] }>("GET", `/v1/channels/${c.address.toLowerCase()}`);
      const pair = ch.pairs.find((p) => p.payee === t.agent && p.token === t.token);
      if (!pair) throw new Error("Nothing is due to this agent yet.");
      const message = { payer: c.address.toLowerCase(), payee: pair.payee, token: t.token, cumulativeAmount: BigInt(pair.nextCumulativeAmount) };
      const signature = await signTyped(c, { name: "AICP PaymentChannels", version: "1", chainId: c.network.chainId, verifyingContract: addressOf(c, "PaymentChannels") }, VOUCHER_TYPES, "Voucher", message);
      await api("POST", "/v1/vouchers", { ...message, cumulativeAmount: message.cumulativeAmount.toString(), signature });
      onChange();
    });

  return (
    <article className="task" aria-label={`Task ${t.id}`} data-task-id={t.id} data-status={t.status}>
      <header>
        <strong>{t.capability}</strong> <span className={`status s-${t.status}`}>{t.status}</span> <span className="muted small">{t.settlement} route · <code>{t.id}</code></span>
      </header>
      <dl className="facts">
        <dt>Budget</dt><dd><Amount value={t.budget} token={t.token} /></dd>
        <dt>Auction</dt><dd>{t.auction.rule}, {sealed ? `sealed: ${t.auction.proposals} bid(s) of ${t.auction.eligible} invited` : `closed with ${t.auction.proposals} bid(s)`}</dd>
        <dt>Price</dt><dd>{t.price ? <Amount value={t.price} token={t.token} /> : "—"} {t.agent ? <span className="muted small">to {t.agent.slice(0, 10)}…</span> : null}</dd>
        {t.execution.resultHash ? <><dt>Result hash</dt><dd><code>{t.execution.resultHash}</code></dd></> : null}
        {t.dispute ? <><dt>Dispute</dt><dd>#{t.dispute.id} {t.dispute.status}{t.dispute.agentShareBps !== null ? `, ${t.dispute.agentShareBps / 100}% to the agent` : ""}</dd></> : null}
      </dl>
      {"output" in t ? <details><summary>Output</summary><pre>{JSON.stringify(t.output, null, 2)}</pre></details> : null}
      <div className="actions">
        {t.status === "funding" ? (
          <>
            <label className="inline"><input type="checkbox" checked={usePermit} onChange={(e) => setUsePermit(e.target.checked)} /> one transaction (ERC-2612 permit)</label>
            <button onClick={() => void fund()} disabled={busy}>Fund escrow from wallet</button>
          </>
        ) : null}
        {escrowDelivered ? <button onClick={() => void walletCall("accept")} disabled={busy}>Accept and release</button> : null}
        {t.status === "delivered" && t.settlement === "escrow" && !escrowDelivered ? <span className="muted small" role="status">Delivered; waiting for the chain to confirm the delivery before you accept or dispute…</span> : null}
        {t.status === "delivered" && t.settlement === "channel" ? <button onClick={() => void payVoucher()} disabled={busy}>Pay with a signed voucher</button> : null}
        {t.status === "delivered" && t.settlement === "offchain" ? <button onClick={() => void walletCall("accept")} disabled={busy}>Accept</button> : null}
        {["awarded", "running"].includes(t.status) && t.settlement === "escrow" && Date.parse(t.deadline) < Date.now() ? <button onClick={() => void walletCall("reclaim")} disabled={busy}>Reclaim escrow</button> : null}
      </div>
      {escrowDelivered ? (
        <fieldset className="form">
          <legend>Reject: dispute with evidence (ERC-1497)</legend>
          <label>Title <input value={evidence.name} onChange={(e) => setEvidence({ ...evidence, name: e.target.value })} /></label>
          <label>Description <textarea rows={2} value={evidence.description} onChange={(e) => setEvidence({ ...evidence, description: e.target.value })} /></label>
          <label>File (hashed, not uploaded) <input type="file" onChange={(e) => setEvidence({ ...evidence, file: e.target.files?.[0] ?? null })} /></label>
          <button className="danger" onClick={(e) => (e.preventDefault(), void dispute())} disabled={busy}>Open dispute</button>
        </fieldset>
      ) : null}
      {txs.view}
      <ErrorNote error={error} />
    </article>
  );
}
