/**
 * Fault injection (issue 11, item 9): SIGKILL of the worker role (which sends settleBatch) and of
 * the API role (which accepts vouchers) while vouchers are being accepted and settled, over
 * ≥ 20 trials against a real hardhat node, Postgres and Redis. Afterwards every voucher the API
 * acknowledged is settled on-chain exactly once: 0 lost (a pair settled below the last
 * acknowledged voucher), 0 double (a pair or payee paid above it, a batch sent twice), and the
 * ledger agrees with the chain.
 */
import { expect } from "chai";
import { setTimeout as sleep } from "node:timers/promises";
import { Contract, type InterfaceAbi } from "ethers";
import { startHarness, until, ZERO, isolation, type Harness } from "../service/harness.js";
import { startChain, type TestChain } from "../service/chain-harness.js";
import { connectEvm, type EvmChain } from "../../src/chain/evm/chain.js";
import { checkChainInvariants } from "../../src/chain/evm/invariants.js";
import { channelBuyer, deliveredTask, figures, freePort, retrying, soloAgent, startRole, voucher, type RoleProcess } from "./lib.js";

const TRIALS = Number(process.env["FAULT_TRIALS"] ?? 20);

describe("faults: kill -9 of the worker and API roles during batch settlement", function () {
  this.timeout(30 * 60_000);
  let chain: TestChain;
  let indexer: Harness;
  let api: RoleProcess;
  let worker: RoleProcess;
  let evm: EvmChain;
  let env: Record<string, string>;
  let port: number;

  before(async () => {
    chain = await startChain();
    const iso = isolation("faults");
    env = {
      ...iso,
      DATABASE_URL: process.env["TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/aicp_test",
      CHAIN_RPC_URL: chain.url,
      DEPLOYMENTS_FILE: chain.deploymentsFile,
      SETTLEMENT: "chain",
      CONFIRMATIONS: "0",
      INDEXER_POLL_MS: "100",
      SETTLE_INTERVAL_MS: "300",
      SETTLE_MAX_PAIRS: "2",
      RATE_LIMIT_PER_MINUTE: "0",
      AUCTION_MIN_WINDOW_MS: "0",
    };
    // The indexer in this process (it stays up); the API and the worker as killable processes.
    indexer = await startHarness({ ...env, LOG_LEVEL: "silent" }, "indexer");
    port = await freePort();
    api = await startRole("api", env, port);
    worker = await startRole("worker", env);
    evm = connectEvm(indexer.config);
  });
  after(async () => {
    await api?.kill("SIGTERM");
    await worker?.kill("SIGTERM");
    evm?.close();
    await indexer?.stop();
    await chain?.stop();
  });

  it(`loses and doubles nothing over ${TRIALS} kills (worker and API alternately)`, async () => {
    const url = () => `http://127.0.0.1:${port}`;
    const buyers = [];
    for (let i = 0; i < 3; i++) buyers.push(await channelBuyer(chain, url(), 10n ** 17n)); // one funder: one at a time
    const agents = await Promise.all([0, 1].map(() => soloAgent(url())));
    /** The last cumulative amount the API acknowledged (200) per pair. */
    const acked = new Map<string, bigint>();
    const cumulative = new Map<string, bigint>();
    let killsWorker = 0;
    let killsApi = 0;
    let refusedDuringKill = 0;
    /** Kills that hit while vouchers were unacknowledged (API) or batches unconfirmed (worker). */
    let midFlight = 0;
    const started = Date.now();
    for (let trial = 0; trial < TRIALS; trial++) {
      // Work: each buyer has each agent deliver a task, then pays it with a voucher.
      const jobs = buyers.flatMap((b) => agents.map((a) => ({ b, a, price: 1_000n + BigInt(trial * 10 + Math.floor(Math.random() * 9)) })));
      const delivered = await Promise.all(jobs.map(async (j) => ({ ...j, id: await deliveredTask(j.b.client, j.a, j.price) })));
      const target = trial % 2 === 0 ? "worker" : "api";
      let done = 0;
      const pay = Promise.all(
        delivered.map(async (j) => {
          const k = `${j.b.client.address}|${j.a.address}`;
          const next = (cumulative.get(k) ?? 0n) + j.price;
          cumulative.set(k, next);
          const v = await voucher(chain, j.b.wallet, j.a.address, next);
          const r = await retrying(async () => {
            const x = await j.b.client.post("/v1/vouchers", v).catch((err: unknown) => {
              refusedDuringKill++;
              throw err;
            });
            return x;
          }, 120_000);
          if (r.status !== 200) throw new Error(`voucher ${r.status} ${JSON.stringify(r.body)}`);
          if ((acked.get(k) ?? 0n) < next) acked.set(k, next);
          done++;
        }),
      );
      // Kill at a random moment while vouchers are accepted (API) or batches are sent (worker).
      await sleep(target === "api" ? Math.floor(Math.random() * 40) : 100 + Math.floor(Math.random() * 700));
      const inFlight = target === "api"
        ? delivered.length - done
        : ((await indexer.c.ctx.db.query("SELECT count(*)::int AS n FROM chain_outbox WHERE kind = 'channels.settleBatch' AND status NOT IN ('confirmed', 'reverted', 'failed')")).rows[0]!["n"] as number);
      if (inFlight > 0) midFlight++;
      if (target === "worker") {
        await worker.kill("SIGKILL");
        killsWorker++;
        worker = await startRole("worker", env);
      } else {
        await api.kill("SIGKILL");
        killsApi++;
        api = await startRole("api", env, port);
      }
      await pay;
    }
    // Everything acknowledged settles once the dust has settled.
    const pc = chain.deployment.contracts["PaymentChannels"]!;
    const channels = new Contract(pc.address, pc.abi as InterfaceAbi, chain.provider);
    const db = indexer.c.ctx.db;
    await until(async () => (await db.query("SELECT 1 FROM vouchers WHERE status IN ('accepted', 'settling')")).rowCount === 0, 300_000, 500);
    let lost = 0;
    let double = 0;
    const perPayee = new Map<string, bigint>();
    for (const [k, want] of acked) {
      const [payer, payee] = k.split("|") as [string, string];
      const settled = (await channels.getFunction("settledOf")(payer, payee, ZERO)) as bigint;
      if (settled < want) lost++;
      if (settled > want) double++;
      perPayee.set(payee, (perPayee.get(payee) ?? 0n) + want);
    }
    for (const [payee, want] of perPayee) if (((await channels.getFunction("claimableOf")(payee, ZERO)) as bigint) !== want) double++;
    // A batch sent twice would show as a second mined transaction of one outbox row.
    const twice = (await db.query("SELECT count(*)::int AS n FROM (SELECT intent FROM chain_outbox WHERE kind = 'channels.settleBatch' GROUP BY intent HAVING count(*) > 1) x")).rows[0]!["n"] as number;
    const stale = (await chain.provider.getLogs({ address: pc.address, topics: [channels.interface.getEvent("VoucherSkipped")!.topicHash], fromBlock: 0 })).length;
    await until(async () => (await checkChainInvariants(db, evm)).length === 0, 60_000, 500);
    const batches = (await db.query("SELECT count(*)::int AS n FROM chain_outbox WHERE kind = 'channels.settleBatch' AND status = 'confirmed'")).rows[0]!["n"] as number;
    figures("kill -9 during batch settlement", [
      ["trials", TRIALS],
      ["SIGKILL worker / api", `${killsWorker} / ${killsApi}`],
      ["vouchers acknowledged (pairs)", `${[...cumulative.values()].length} pairs, ${TRIALS * buyers.length * agents.length} vouchers`],
      ["settleBatch transactions confirmed", batches],
      ["kills that hit work in flight", `${midFlight} of ${TRIALS}`],
      ["request attempts that failed while a role was down (retried)", refusedDuringKill],
      ["entries skipped on-chain (stale re-sends)", stale],
      ["lost (pair settled below the acknowledged voucher)", lost],
      ["double (pair or payee paid above it; batch sent twice)", double + twice],
      ["ledger = chain", "yes"],
      ["wall time", `${((Date.now() - started) / 1000).toFixed(1)} s`],
    ]);
    expect(lost, "lost").to.equal(0);
    expect(double + twice, "double").to.equal(0);
  });
});
