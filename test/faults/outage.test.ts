/**
 * Fault injection (issue 11, item 9): the chain goes away for 60 s (the hardhat node is
 * SIGSTOPped: connections hang, nothing answers) while buyers and agents keep working over
 * HTTP. Every answer stays clear — 2xx for what needs only Postgres (posting channel tasks,
 * delivering, accepting vouchers), 503 with a code for what needs the chain (/ready) — none
 * is a 500 or hangs; nothing is lost; once the node is back, settlement resumes and every
 * acknowledged voucher settles, with the ledger equal to the chain.
 */
import { expect } from "chai";
import { setTimeout as sleep } from "node:timers/promises";
import { Contract, type InterfaceAbi } from "ethers";
import { newUser, until, ZERO, type Harness } from "../service/harness.js";
import type { TestChain } from "../service/chain-harness.js";
import type { EvmChain } from "../../src/chain/evm/chain.js";
import { checkChainInvariants } from "../../src/chain/evm/invariants.js";
import { chainStack, channelBuyer, deliveredTask, figures, soloAgent, voucher } from "./lib.js";

const OUTAGE_MS = Number(process.env["FAULT_OUTAGE_MS"] ?? 60_000);

describe("faults: a 60 s chain outage", function () {
  this.timeout(10 * 60_000);
  let chain: TestChain;
  let h: Harness;
  let evm: EvmChain;
  let stack: Awaited<ReturnType<typeof chainStack>>;

  before(async () => {
    stack = await chainStack({ SETTLE_INTERVAL_MS: "500" });
    ({ chain, h, evm } = stack);
  });
  after(async () => {
    try {
      chain?.proc.kill("SIGCONT");
    } catch {
      /* gone */
    }
    await stack?.stop();
  });

  it("answers clearly, loses nothing and settles everything once the chain is back", async () => {
    const buyers: Awaited<ReturnType<typeof channelBuyer>>[] = [];
    for (let i = 0; i < 2; i++) buyers.push(await channelBuyer(chain, h.url, 10n ** 17n));
    const agents = await Promise.all([0, 1].map(() => soloAgent(h.url)));
    const statuses = new Map<string, number>();
    const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
    let slowest = 0;
    const timed = async <T>(label: string, f: () => Promise<T & { status: number; body?: { error?: { code?: string } } }>) => {
      const t = Date.now();
      const r = await Promise.race([f(), sleep(15_000).then(() => ({ status: 0, body: { error: { code: "HUNG" } } }))]);
      slowest = Math.max(slowest, Date.now() - t);
      count(`${label} ${r.status === 0 ? "HUNG" : r.status}${r.status >= 400 || label === "GET /ready" ? ` ${r.body?.error?.code ?? ""}` : ""}`);
      return r;
    };
    const acked = new Map<string, bigint>();
    const cumulative = new Map<string, bigint>();

    chain.proc.kill("SIGSTOP");
    const outageStarted = Date.now();
    let rounds = 0;
    try {
      while (Date.now() - outageStarted < OUTAGE_MS) {
        rounds++;
        // Readiness names the chain as the failing check (degraded: Postgres-only work goes on).
        await timed("GET /ready", () =>
          fetch(`${h.url}/ready`).then(async (r) => {
            const body = (await r.json()) as { status: string; checks: { chain: { ok: boolean } } };
            return { status: r.status, body: { error: { code: `${body.status}, chain ok: ${body.checks.chain.ok}` } } };
          }),
        );
        // What needs the chain answers 503 with a code (never hangs, never 500).
        await timed("GET /v1/network", () => buyers[0]!.client.get("/v1/network"));
        await timed("GET /v1/disputes, a known wallet (role cached)", () => buyers[0]!.client.get("/v1/disputes"));
        // A wallet the coordinator has never asked the chain about: it signs in (roles from
        // Postgres), and the on-chain role check answers 503, not a wrong 403.
        const stranger = await newUser(h.url);
        await timed("GET /v1/disputes, a new wallet (role unknown)", () => stranger.get("/v1/disputes"));
        for (const b of buyers)
          for (const a of agents) {
            const price = 1_000n + BigInt(rounds);
            const id = await deliveredTask(b.client, a, price).catch((err: Error) => (count(`work failed: ${err.message.slice(0, 60)}`), undefined));
            if (!id) continue;
            count("task delivered (Postgres only)");
            const k = `${b.client.address}|${a.address}`;
            const next = (cumulative.get(k) ?? 0n) + price;
            cumulative.set(k, next);
            const r = await timed("POST /v1/vouchers", async () => b.client.post("/v1/vouchers", await voucher(chain, b.wallet, a.address, next)));
            if (r.status === 200) acked.set(k, next);
          }
        await sleep(1_000);
      }
    } finally {
      chain.proc.kill("SIGCONT");
    }
    const back = Date.now();
    const db = h.c.ctx.db;
    await until(async () => (await db.query("SELECT 1 FROM vouchers WHERE status IN ('accepted', 'settling')")).rowCount === 0, 240_000, 500);
    const settledAfter = Date.now() - back;
    const pc = chain.deployment.contracts["PaymentChannels"]!;
    const channels = new Contract(pc.address, pc.abi as InterfaceAbi, chain.provider);
    let lost = 0;
    for (const [k, want] of acked) {
      const [payer, payee] = k.split("|") as [string, string];
      if (((await channels.getFunction("settledOf")(payer, payee, ZERO)) as bigint) !== want) lost++;
    }
    await until(async () => (await checkChainInvariants(db, evm)).length === 0, 60_000, 500);
    const ready = await fetch(`${h.url}/ready`);
    const bad = [...statuses.entries()].filter(([k]) => / (5\d\d)/.test(k) && !/ 503 /.test(k) || / HUNG/.test(k) || k.startsWith("work failed"));
    figures(`chain outage of ${(OUTAGE_MS / 1000).toFixed(0)} s (SIGSTOP of the node)`, [
      ...[...statuses.entries()].sort().map(([k, n]): [string, number] => [k, n]),
      ["slowest answer during the outage", `${slowest} ms`],
      ["vouchers acknowledged during the outage", [...acked.values()].length ? `${rounds * buyers.length * agents.length} (${acked.size} pairs)` : 0],
      ["all settled, after the node came back, in", `${(settledAfter / 1000).toFixed(1)} s`],
      ["lost", lost],
      ["5xx other than 503, or hung", bad.reduce((a, [, n]) => a + n, 0)],
      ["/ready after recovery", ready.status],
    ]);
    expect(bad, JSON.stringify(bad)).to.deep.equal([]);
    expect([...statuses.keys()].filter((k) => k.startsWith("GET /ready 200 degraded, chain ok: false")).length, "readiness names the chain").to.be.greaterThan(0);
    expect(statuses.get("GET /v1/disputes, a new wallet (role unknown) 503 CHAIN_UNAVAILABLE"), "a clear 503").to.be.greaterThan(0);
    expect(lost).to.equal(0);
    expect(ready.status).to.equal(200);
  });
});
