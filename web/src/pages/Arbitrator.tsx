import { useState } from "react";
import { api } from "../lib/api";
import { call, read } from "../lib/contracts";
import { Amount, ErrorNote, Section, useAction, useApp, usePoll } from "../ui";
import { useTxs } from "./Buyer";
import { readEvidenceUri, rulingSplit } from "../../../src/protocol/disputes";
import { taskKey } from "../../../src/protocol/keys";

type Case = { id: string; taskId: string; buyer: string; agent: string; arbitrator: string; openedBy: string; status: string; agentShareBps: number | null; appealed: boolean; ruleDeadline: string | null; appealDeadline: string | null; openedAt: string; timedOut: boolean; token: string | null; price: string | null; amount: string | null };
type Detail = { dispute: Case & { resultHash: string | null }; task: { id: string; capability: string; input: unknown; output: unknown; resultHash: string | null; status: string } | null; evidence: { party: string; uri: string | null; text: string | null; source: string; txHash: string | null; at: string }[] };

const FILTERS = [["open", "Open"], ["appealed", "Appealed"], ["timed_out", "Timed out"], ["ruled", "Ruled"], ["", "All"]] as const;

export function ArbitratorPage() {
  const { wallet, signedIn, roles } = useApp();
  const [filter, setFilter] = useState<string>("open");
  const [open, setOpen] = useState<string | null>(null);
  const arbitrator = signedIn && (roles.includes("arbitrator") || roles.includes("operator"));
  const list = usePoll(() => (arbitrator ? api<{ items: Case[] }>("GET", `/v1/disputes${filter ? `?status=${filter}` : ""}`) : Promise.resolve({ items: [] })), 3000, [filter, arbitrator]);
  if (!wallet || !signedIn) return <Section title="Arbitrator"><p>Connect the wallet that holds the arbitrator role and sign in to see your cases. Parties to a dispute can open its case page here too.</p></Section>;
  if (!arbitrator)
    return (
      <div className="grid">
        <Section title="Disputes">
          <p>This account holds no arbitrator role. As a party to a dispute you can open its case page by number, add evidence and appeal a ruling.</p>
          <CaseLookup onOpen={setOpen} />
        </Section>
        {open ? <CasePage id={open} /> : null}
      </div>
    );
  return (
    <div className="grid">
      <Section title="Cases">
        <div role="tablist" aria-label="Case list" className="tabs">
          {FILTERS.map(([k, label]) => <button key={k} role="tab" aria-selected={filter === k} className={filter === k ? "" : "secondary"} onClick={() => setFilter(k)}>{label}</button>)}
        </div>
        <ErrorNote error={list.error} />
        <table>
          <thead><tr><th scope="col">#</th><th scope="col">Status</th><th scope="col">Task</th><th scope="col">Price</th><th scope="col">Rule by</th><th scope="col"></th></tr></thead>
          <tbody>
            {(list.data?.items ?? []).map((c) => (
              <tr key={c.id} data-dispute-id={c.id}>
                <td>{c.id}</td>
                <td>{c.status}{c.appealed ? " · appealed" : ""}{c.timedOut ? " · timed out" : ""}</td>
                <td><code>{c.taskId.slice(0, 8)}</code></td>
                <td>{c.price && c.token ? <Amount value={c.price} token={c.token} /> : "—"}</td>
                <td>{c.ruleDeadline ? new Date(c.ruleDeadline).toLocaleString() : "—"}</td>
                <td><button onClick={() => setOpen(c.id)}>Open case #{c.id}</button></td>
              </tr>
            ))}
          </tbody>
        </table>
        <CaseLookup onOpen={setOpen} />
      </Section>
      {open ? <CasePage id={open} /> : null}
    </div>
  );
}

function CaseLookup({ onOpen }: { onOpen: (id: string) => void }) {
  const [id, setId] = useState("");
  return (
    <form className="form row" onSubmit={(e) => (e.preventDefault(), id && onOpen(id))}>
      <label>Dispute number <input inputMode="numeric" value={id} onChange={(e) => setId(e.target.value.replace(/\D/g, ""))} /></label>
      <button type="submit" className="secondary">Open</button>
    </form>
  );
}

function CasePage({ id }: { id: string }) {
  const { wallet, address } = useApp();
  const d = usePoll(() => api<Detail>("GET", `/v1/disputes/${id}`), 3000, [id]);
  const fee = usePoll(async () => (d.data ? Number((await read<{ feeBps: number }>(wallet!, "TaskEscrow", "escrowOf", [taskKey(d.data.dispute.taskId)])).feeBps) : null), 10_000, [d.data?.dispute.taskId]);
  const [percent, setPercent] = useState("60");
  const { busy, error, run } = useAction();
  const txs = useTxs();
  if (!d.data) return <Section title={`Case #${id}`}><ErrorNote error={d.error} /><p>Loading…</p></Section>;
  const x = d.data.dispute;
  const bps = Math.round(Number(percent) * 100);
  const valid = /^\d{1,3}(\.\d{1,2})?$/.test(percent) && bps >= 0 && bps <= 10_000;
  const split = valid && x.price && x.amount && fee.data !== null && fee.data !== undefined ? rulingSplit(BigInt(x.price), BigInt(x.amount), bps, fee.data) : null;
  const me = address ?? "";
  const side = (p: string) => (p === x.buyer ? "buyer" : p === x.agent ? "agent" : p === x.arbitrator ? "arbitrator" : p.slice(0, 10));
  const mayAppeal = x.status === "ruled" && !x.appealed && x.agentShareBps !== null && ((me === x.buyer && x.agentShareBps >= 5000) || (me === x.agent && x.agentShareBps <= 5000));
  const act = (fn: "rule" | "appeal" | "finalize", args: unknown[], what: string) => run(async () => (await txs.run([call(wallet!, "DisputeResolver", fn, args, what)]), d.reload()));
  const timeline = [
    { at: x.openedAt, what: `opened by the ${side(x.openedBy)}` },
    ...d.data.evidence.map((e) => ({ at: e.at, what: `evidence from the ${side(e.party)} (${e.source})` })),
    ...(x.ruleDeadline ? [{ at: x.ruleDeadline, what: x.status === "awaiting_ruling" ? "ruling due" : "ruling deadline" }] : []),
    ...(x.appealDeadline ? [{ at: x.appealDeadline, what: "appeal window ends" }] : []),
  ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));

  return (
    <Section title={`Case #${id}`}>
      <dl className="facts">
        <dt>Status</dt><dd data-testid="case-status">{x.status}{x.appealed ? " (appealed: this ruling is final)" : ""}{x.timedOut ? " (timed out: being reassigned)" : ""}</dd>
        <dt>Buyer</dt><dd><code>{x.buyer}</code></dd>
        <dt>Agent</dt><dd><code>{x.agent}</code></dd>
        <dt>Arbitrator</dt><dd><code>{x.arbitrator}</code></dd>
        <dt>Price</dt><dd>{x.price && x.token ? <Amount value={x.price} token={x.token} /> : "—"}</dd>
        <dt>Escrowed</dt><dd>{x.amount && x.token ? <Amount value={x.amount} token={x.token} /> : "—"}</dd>
        {x.agentShareBps !== null ? <><dt>Ruling</dt><dd>{x.agentShareBps / 100}% of the price to the agent</dd></> : null}
      </dl>
      <h3>Task</h3>
      {d.data.task ? (
        <>
          <p>{d.data.task.capability} · result hash <code>{d.data.task.resultHash}</code></p>
          <details><summary>Input</summary><pre>{JSON.stringify(d.data.task.input, null, 2)}</pre></details>
          <details><summary>Output</summary><pre>{JSON.stringify(d.data.task.output, null, 2)}</pre></details>
        </>
      ) : <p className="muted">Not available.</p>}
      <h3>Evidence</h3>
      <ul className="evidence">
        {d.data.evidence.map((e, i) => {
          const doc = e.uri ? readEvidenceUri(e.uri) : undefined;
          return (
            <li key={i}>
              <strong>{side(e.party)}</strong> <span className="muted small">({e.source}, {new Date(e.at).toLocaleString()})</span>
              {doc ? <div><em>{doc.name}</em>: {doc.description}{doc.fileHash ? <div className="small">file {doc.fileURI} · multihash <code>{doc.fileHash}</code></div> : null}</div> : e.uri ? <div><code>{e.uri}</code></div> : null}
              {e.text && e.text !== doc?.description ? <div>{e.text}</div> : null}
            </li>
          );
        })}
      </ul>
      <h3>Timeline</h3>
      <ol className="timeline">{timeline.map((t, i) => <li key={i}><time dateTime={t.at}>{new Date(t.at).toLocaleString()}</time> — {t.what}</li>)}</ol>
      {x.status === "awaiting_ruling" && me === x.arbitrator ? (
        <form className="form" onSubmit={(e) => (e.preventDefault(), valid && void act("rule", [BigInt(x.id), bps], `Rule ${bps / 100}% to the agent on dispute #${x.id}`))}>
          <label>Agent's share of the price (%) <input id="percent" inputMode="decimal" value={percent} onChange={(e) => setPercent(e.target.value)} aria-describedby="split" /></label>
          <output id="split" htmlFor="percent" data-testid="split-preview">
            {split && x.token ? (
              <>
                Agent receives <Amount value={split.agent} token={x.token} /> ({bps / 100}% of the price, less the {fee.data! / 100}% fee of <Amount value={split.fee} token={x.token} />); the buyer receives <Amount value={split.buyer} token={x.token} /> ({(10_000 - bps) / 100}% of the price plus the unused budget).
              </>
            ) : valid ? "…" : "A percentage from 0 to 100, at most two decimals."}
          </output>
          <button type="submit" disabled={busy || !split}>Sign the ruling</button>
        </form>
      ) : null}
      <div className="actions">
        {mayAppeal ? <button className="secondary" onClick={() => void act("appeal", [BigInt(x.id)], `Appeal dispute #${x.id}`)} disabled={busy}>Appeal this ruling</button> : null}
        {x.status === "ruled" && (!x.appealDeadline || Date.parse(x.appealDeadline) < Date.now()) ? <button onClick={() => void act("finalize", [BigInt(x.id)], `Finalize dispute #${x.id}`)} disabled={busy}>Finalize</button> : null}
      </div>
      {txs.view}
      <ErrorNote error={error} />
    </Section>
  );
}
