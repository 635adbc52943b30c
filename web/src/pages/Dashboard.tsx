import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { createPublicClient, http, type Abi, type Hex } from "viem";
import { call } from "../lib/contracts";
import { ErrorNote, Section, useAction, useApp, usePoll } from "../ui";
import { useTxs } from "./Buyer";
import type { DashboardFigures } from "../../../src/protocol/dashboard";

type Figures = DashboardFigures;

const KEEP = 300; // samples (5 minutes at one per second)

/** Live figures over SSE (GET /v1/dashboard/stream), kept for the charts. */
function useFigures() {
  const [latest, setLatest] = useState<Figures | null>(null);
  const history = useRef<Figures[]>([]);
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    const es = new EventSource("/v1/dashboard/stream");
    es.addEventListener("figures", (e) => {
      const f = JSON.parse((e as MessageEvent<string>).data) as Figures;
      history.current = [...history.current.slice(-(KEEP - 1)), f];
      setLatest(f);
    });
    es.onopen = () => setConnected(true);
    es.onerror = () => setConnected(false);
    return () => es.close();
  }, []);
  return { latest, history: history.current, connected };
}

function Chart({ title, series, history }: { title: string; series: { label: string; value: (f: Figures) => number | null }[]; history: Figures[] }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    if (!el.current) return;
    const width = Math.min(560, el.current.clientWidth || 560);
    plot.current = new uPlot(
      { title, width, height: 180, series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: ["#2563eb", "#16a34a", "#dc2626", "#9333ea"][i % 4], width: 2 }))], axes: [{}, { size: 50 }], legend: { live: false } },
      [[], ...series.map(() => [])],
      el.current,
    );
    return () => plot.current?.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(() => {
    const xs = history.map((f) => Date.parse(f.at) / 1000);
    plot.current?.setData([xs, ...series.map((s) => history.map((f) => s.value(f)))] as uPlot.AlignedData);
  });
  return <div ref={el} className="chart" role="img" aria-label={`${title} chart`} />;
}

export function DashboardPage() {
  const { latest, history, connected } = useFigures();
  return (
    <div className="grid">
      <Section title="Marketplace, live">
        <p className="muted small" role="status">{connected ? "live (server-sent events, one sample per second)" : "connecting…"}</p>
        {latest ? (
          <dl className="figures" data-testid="figures">
            <dt>Posted / s</dt><dd data-figure="posted">{latest.rates.postedPerSecond}</dd>
            <dt>Awarded / s</dt><dd data-figure="awarded">{latest.rates.awardedPerSecond}</dd>
            <dt>Paid / s</dt><dd data-figure="paid">{latest.rates.paidPerSecond}</dd>
            <dt>Open auctions</dt><dd data-figure="open">{latest.openAuctions}</dd>
            <dt>Close → award p95</dt><dd>{latest.closeToAwardP95Ms === null ? "—" : `${latest.closeToAwardP95Ms} ms`}</dd>
            <dt>Settlement batches</dt><dd data-figure="batches">{latest.settlement.batches}</dd>
            <dt>Gas per batch</dt><dd>{latest.settlement.gasPerBatch ?? "—"}</dd>
            <dt>Pending transactions</dt><dd>{latest.settlement.pendingTransactions}</dd>
            <dt>Chain head</dt><dd data-figure="head">{latest.chain.head ?? "—"}</dd>
            <dt>Indexer lag</dt><dd>{latest.chain.indexerLagBlocks === null ? "—" : `${latest.chain.indexerLagBlocks} block(s)`}</dd>
            <dt>Breakers open</dt><dd>{latest.breakersOpen}</dd>
          </dl>
        ) : null}
      </Section>
      <Section title="Charts">
        <Chart title="Tasks per second" history={history} series={[{ label: "posted", value: (f) => f.rates.postedPerSecond }, { label: "awarded", value: (f) => f.rates.awardedPerSecond }, { label: "paid", value: (f) => f.rates.paidPerSecond }]} />
        <Chart title="Open auctions and close→award p95 (ms)" history={history} series={[{ label: "open auctions", value: (f) => f.openAuctions }, { label: "p95 ms", value: (f) => f.closeToAwardP95Ms }]} />
        <Chart title="Queues: waiting and failed jobs" history={history} series={[{ label: "waiting", value: (f) => Object.values(f.queues).reduce((a, q) => a + q.waiting + q.delayed, 0) }, { label: "failed", value: (f) => Object.values(f.queues).reduce((a, q) => a + q.failed, 0) }]} />
        <Chart title="Indexer lag (blocks)" history={history} series={[{ label: "lag", value: (f) => f.chain.indexerLagBlocks }]} />
      </Section>
      <Section title="Queues">
        <table>
          <thead><tr><th scope="col">Queue</th><th scope="col">Waiting</th><th scope="col">Active</th><th scope="col">Delayed</th><th scope="col">Failed</th></tr></thead>
          <tbody>{Object.entries(latest?.queues ?? {}).map(([k, q]) => <tr key={k}><td>{k}</td><td>{q.waiting}</td><td>{q.active}</td><td>{q.delayed}</td><td>{q.failed}</td></tr>)}</tbody>
        </table>
        <p><a href="/admin/queues">Open the queue board (Bull Board; the admin key is the password)</a></p>
      </Section>
      <Operator />
    </div>
  );
}

const PAUSABLE = ["TaskEscrow", "PaymentChannels", "DisputeResolver"] as const;

/** The operator pauses and unpauses the contracts from the admin wallet. */
function Operator() {
  const { network, wallet } = useApp();
  const { busy, error, run } = useAction();
  const txs = useTxs();
  const state = usePoll(async () => {
    if (!network?.chain) return {};
    const client = wallet?.publicClient ?? createPublicClient({ transport: http(network.chain.rpcUrl) });
    const out: Record<string, boolean> = {};
    for (const n of PAUSABLE) {
      const address = network.chain.contracts[n];
      if (address) out[n] = (await client.readContract({ address: address as Hex, abi: (network.abis?.[n] ?? []) as Abi, functionName: "paused" })) as boolean;
    }
    return out;
  }, 3000, [network, wallet]);
  return (
    <Section title="Operator: contracts">
      <table>
        <thead><tr><th scope="col">Contract</th><th scope="col">State</th><th scope="col"></th></tr></thead>
        <tbody>
          {Object.entries(state.data ?? {}).map(([n, paused]) => (
            <tr key={n}>
              <td>{n}</td>
              <td data-paused={String(paused)}>{paused ? "paused" : "running"}</td>
              <td><button className={paused ? "" : "danger"} disabled={busy || !wallet} onClick={() => void run(async () => (await txs.run([call(wallet!, n as (typeof PAUSABLE)[number], paused ? "unpause" : "pause", [], `${paused ? "Unpause" : "Pause"} ${n}`)]), state.reload()))}>{paused ? "Unpause" : "Pause"} {n}</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">Needs the wallet with the contracts' admin role (DEFAULT_ADMIN_ROLE).</p>
      {txs.view}
      <ErrorNote error={error ?? state.error} />
    </Section>
  );
}
