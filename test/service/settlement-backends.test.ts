import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { startHarness, until, type Harness } from "./harness.js";
import { evmDriver, substrateDriver, type BackendDriver, type Role, type Terms } from "./backend-drivers.js";
import { createIndexer, type Indexer } from "../../src/indexer/indexer.js";
import { createEventRegistry } from "../../src/settlement/events.js";
import { rulingSplit } from "../../src/protocol/disputes.js";

/**
 * One suite for the settlement interface, run against both backends: the EVM contracts on a
 * hardhat node and the Substrate mapping on chopsticks (Asset Hub runtime). The same steps, the
 * same exact expectations (every party's wallet to the base unit; the ledger against the chain),
 * the same indexer writing into a fresh Postgres schema.
 */
for (const make of [evmDriver, substrateDriver]) {
  const d: BackendDriver = make();
  describe(`settlement backend: ${d.chain}`, function () {
    this.timeout(300_000);
    let h: Harness;
    let indexer: Indexer;
    const q = async <T = Record<string, string>>(sql: string, params: unknown[] = []) => (await h.c.ctx.db.query(sql, params)).rows as T[];
    const newIndexer = () => createIndexer(h.c.ctx, { name: d.chain, source: d.source(h.c.ctx.log), registry: createEventRegistry(), confirmations: 0, pollMs: 50 });
    const caughtUp = async () => {
      const head = await d.head();
      await until(async () => (indexer.status().applied ?? -1) >= head, 60_000, 25);
    };
    const wallets = async () => Object.fromEntries(await Promise.all((["buyer", "agent", "agent2", "treasury"] as Role[]).map(async (r) => [r, await d.wallet(r)] as const))) as Record<Role, bigint>;
    const state = async (taskId: string) => (await q("SELECT state FROM escrows WHERE task_id = $1", [taskId]))[0]?.["state"];
    async function conserved() {
      await caughtUp();
      expect(await d.violations(h.c.ctx.db)).to.deep.equal([]);
    }
    async function delivered(amount: bigint, price: bigint, agent: Terms["agent"] = "agent", deliver = true): Promise<Terms> {
      const taskId = randomUUID();
      await d.fund(taskId, amount);
      await d.award(taskId, agent, price);
      if (deliver) await d.deliver(taskId);
      return { taskId, amount, price, agent };
    }

    before(async () => {
      await d.start();
      h = await startHarness();
      indexer = newIndexer();
      await indexer.start();
    });
    after(async () => {
      await indexer?.stop();
      await h?.stop();
      await d.stop();
    });

    it("fund → award → deliver → accept: the agent gets price − fee, the treasury the fee, the buyer the unused budget", async () => {
      const before = await wallets();
      const t = await delivered(10_000_000n, 6_000_003n);
      await caughtUp();
      expect(await state(t.taskId)).to.equal("delivered");
      await d.accept(t);
      const split = rulingSplit(t.price, t.amount, 10_000, d.feeBps);
      const after = await wallets();
      expect(after.agent - before.agent).to.equal(split.agent);
      expect(after.treasury - before.treasury).to.equal(split.fee);
      expect(before.buyer - after.buyer).to.equal(t.amount - split.buyer + d.openingPaid());
      await caughtUp();
      expect(await state(t.taskId)).to.equal("released");
      await conserved();
    });

    it("an awarded task that failed is refunded whole", async () => {
      const t = await delivered(7_000_000n, 5_000_000n, "agent", false);
      const before = await wallets();
      await d.refund(t);
      expect((await wallets()).buyer - before.buyer).to.equal(t.amount);
      await caughtUp();
      expect(await state(t.taskId)).to.equal("refunded");
      await conserved();
    });

    it("a dispute ruled 60/40 pays the split exactly", async () => {
      const t = await delivered(9_000_001n, 8_000_003n, "agent2");
      const before = await wallets();
      await d.dispute(t, 6000);
      const split = rulingSplit(t.price, t.amount, 6000, d.feeBps);
      const after = await wallets();
      expect(after.agent2 - before.agent2).to.equal(split.agent);
      expect(after.treasury - before.treasury).to.equal(split.fee);
      expect(after.buyer - before.buyer).to.equal(split.buyer);
      await caughtUp();
      expect(await state(t.taskId)).to.equal("resolved");
      await conserved();
    });

    it("channel: one deposit, vouchers to two agents settled in one batch, then only the increase", async () => {
      await d.deposit(5_000_000n);
      const before = await wallets();
      await d.settle([
        { payee: "agent", cumulative: 1_000_001n },
        { payee: "agent2", cumulative: 2_000_002n },
      ]);
      let after = await wallets();
      expect(after.agent - before.agent).to.equal(1_000_001n);
      expect(after.agent2 - before.agent2).to.equal(2_000_002n);
      await d.settle([{ payee: "agent", cumulative: 1_500_001n }]);
      after = await wallets();
      expect(after.agent - before.agent).to.equal(1_500_001n);
      expect(after.buyer).to.equal(before.buyer);
      await caughtUp();
      // The projection's settled amount per pair never decreases and equals the chain's.
      expect(await q("SELECT payee, settled::text FROM channel_pairs WHERE payer = $1 AND token = $2 ORDER BY channel_pairs.settled", [d.id("buyer"), d.token])).to.deep.equal([
        { payee: d.id("agent"), settled: "1500001" },
        { payee: d.id("agent2"), settled: "2000002" },
      ]);
      await conserved();
    });

    it("reputation anchor: the root read back from the indexed event verifies a proof", async () => {
      const tree = StandardMerkleTree.of([[d.id("agent").padEnd(66, "0").slice(0, 66), "9000"]], ["bytes32", "uint256"]);
      await d.anchor(11n, tree.root);
      await caughtUp();
      const [ev] = await q<{ args: { root: string } }>("SELECT args FROM chain_events WHERE chain = $1 AND name = 'RootAnchored' AND args->>'epoch' = '11'", [d.chain]);
      expect(StandardMerkleTree.verify(ev!.args.root, ["bytes32", "uint256"], [d.id("agent").padEnd(66, "0").slice(0, 66), "9000"], tree.getProof(0))).to.equal(true);
    });

    it("indexer: resumes from its cursor after a restart and rolls back blocks a reorg replaced", async () => {
      await indexer.stop();
      const a = randomUUID();
      await d.fund(a, 1_000_000n);
      indexer = newIndexer();
      await indexer.start();
      await caughtUp();
      expect(await state(a)).to.equal("funded");
      const mark = await d.mark();
      const b = randomUUID();
      await d.fund(b, 2_000_000n);
      await caughtUp();
      expect(await state(b)).to.equal("funded");
      await d.reorg(mark);
      await until(async () => indexer.status().reorgs > 0, 60_000, 50);
      await caughtUp();
      expect(await state(b)).to.equal(undefined);
      expect(await state(a)).to.equal("funded");
      await conserved();
    });
  });
}
