/**
 * Fault injection (issue 11, item 9): chain reorganisations injected with evm_snapshot /
 * evm_revert while the coordinator settles vouchers. Each trial settles a batch, then throws
 * the blocks that carried it away and mines a longer canonical branch without it; the indexer
 * must notice, roll back its projections, put the orphaned vouchers back to accepted and have
 * them settled again. Afterwards Postgres equals the chain for every deposit and pair, the
 * ledger equals the chain, and every acknowledged voucher is settled exactly once.
 */
import { expect } from "chai";
import { Contract, type InterfaceAbi } from "ethers";
import { until, ZERO, type Harness } from "../service/harness.js";
import type { TestChain } from "../service/chain-harness.js";
import type { EvmChain } from "../../src/chain/evm/chain.js";
import { checkChainInvariants } from "../../src/chain/evm/invariants.js";
import { chainStack, channelBuyer, deliveredTask, figures, soloAgent, voucher } from "./lib.js";

const REORGS = Number(process.env["FAULT_REORGS"] ?? 10);

describe("faults: injected chain reorganisations", function () {
  this.timeout(15 * 60_000);
  let chain: TestChain;
  let h: Harness;
  let evm: EvmChain;
  let stack: Awaited<ReturnType<typeof chainStack>>;

  before(async () => {
    stack = await chainStack({ SETTLE_INTERVAL_MS: "300", LOG_LEVEL: process.env["FAULT_LOG"] ?? "silent" });
    ({ chain, h, evm } = stack);
  });
  after(async () => {
    await stack?.stop();
  });

  it(`Postgres converges to the chain after ${REORGS} reorgs that orphan settlements`, async () => {
    const db = h.c.ctx.db;
    const buyers: Awaited<ReturnType<typeof channelBuyer>>[] = [];
    for (let i = 0; i < 2; i++) buyers.push(await channelBuyer(chain, h.url, 10n ** 17n));
    const agents = await Promise.all([0, 1].map(() => soloAgent(h.url)));
    const pc = chain.deployment.contracts["PaymentChannels"]!;
    const channels = new Contract(pc.address, pc.abi as InterfaceAbi, chain.provider);
    const acked = new Map<string, bigint>();
    let orphanedSettlements = 0;
    const started = Date.now();
    const reorgsBefore = h.c.indexer!.status().reorgs;
    for (let trial = 0; trial < REORGS; trial++) {
      const snap = await chain.snapshot();
      const forkedAt = await chain.provider.getBlockNumber();
      // Work that settles on the branch about to be orphaned.
      for (const b of buyers)
        for (const a of agents) {
          const price = 1_000n + BigInt(trial);
          await deliveredTask(b.client, a, price);
          const k = `${b.client.address}|${a.address}`;
          const next = (acked.get(k) ?? 0n) + price;
          const r = await b.client.post("/v1/vouchers", await voucher(chain, b.wallet, a.address, next));
          expect(r.status, JSON.stringify(r.body)).to.equal(200);
          acked.set(k, next);
        }
      await until(async () => (await db.query("SELECT 1 FROM vouchers WHERE status IN ('accepted', 'settling')")).rowCount === 0, 60_000, 100);
      orphanedSettlements += (await chain.provider.getLogs({ address: pc.address, topics: [channels.interface.getEvent("VoucherSettled")!.topicHash], fromBlock: forkedAt + 1 })).length;
      const oldHead = await chain.provider.getBlockNumber();
      // The reorg: back to before the batch, then a longer branch without it.
      await chain.revert(snap);
      await chain.mine(oldHead - (await chain.provider.getBlockNumber()) + 2);
    }
    // Convergence: every acknowledged voucher settled again on the canonical chain.
    await until(async () => h.c.indexer!.status().reorgs - reorgsBefore >= 1, 60_000, 100);
    let lost = 0;
    let double = 0;
    await until(
      async () => {
        lost = 0;
        double = 0;
        for (const [k, want] of acked) {
          const [payer, payee] = k.split("|") as [string, string];
          const settled = (await channels.getFunction("settledOf")(payer, payee, ZERO)) as bigint;
          if (settled < want) lost++;
          if (settled > want) double++;
        }
        return lost === 0 && double === 0;
      },
      240_000,
      500,
    ).catch(() => undefined);
    await until(async () => (await db.query("SELECT 1 FROM vouchers WHERE status IN ('accepted', 'settling')")).rowCount === 0, 60_000, 200).catch(() => undefined);
    // Postgres = chain, deposit by deposit and pair by pair.
    let mismatches = 0;
    await until(
      async () => {
        mismatches = 0;
        for (const b of buyers) {
          const [row] = (await db.query<{ deposit: string }>("SELECT deposit::text FROM channel_accounts WHERE payer = $1 AND token = $2", [b.client.address, ZERO])).rows;
          const [onChain] = (await channels.getFunction("depositOf")(b.client.address, ZERO)) as [bigint];
          if (BigInt(row?.deposit ?? "0") !== onChain) mismatches++;
          for (const a of agents) {
            const [pair] = (await db.query<{ settled: string }>("SELECT settled::text FROM channel_pairs WHERE payer = $1 AND payee = $2 AND token = $3", [b.client.address, a.address, ZERO])).rows;
            if (BigInt(pair?.settled ?? "0") !== ((await channels.getFunction("settledOf")(b.client.address, a.address, ZERO)) as bigint)) mismatches++;
          }
        }
        return mismatches === 0 && (await checkChainInvariants(db, evm)).length === 0;
      },
      120_000,
      500,
    ).catch(() => undefined);
    const violations = await checkChainInvariants(db, evm);
    figures(`${REORGS} injected reorgs (evm_snapshot / evm_revert, a longer branch without the batch)`, [
      ["reorgs detected by the indexer", h.c.indexer!.status().reorgs - reorgsBefore],
      ["voucher settlements orphaned and settled again", orphanedSettlements],
      ["pairs (acknowledged vouchers)", `${acked.size} (${REORGS * acked.size})`],
      ["lost", lost],
      ["double", double],
      ["Postgres ≠ chain (deposits, pairs)", mismatches],
      ["ledger ≠ chain (violations)", violations.length],
      ["wall time", `${((Date.now() - started) / 1000).toFixed(1)} s`],
    ]);
    expect({ lost, double, mismatches, violations: violations.length }).to.deep.equal({ lost: 0, double: 0, mismatches: 0, violations: 0 });
  });
});
