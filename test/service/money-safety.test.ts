import { expect } from "chai";
import { isAbsolute, resolve } from "node:path";
import { Client, newAgent, newUser, startHarness, taskBody, type Harness } from "./harness.js";
import { loadConfig } from "../../src/config.js";
import { startCoordinator } from "../../src/app/coordinator.js";

/**
 * Money safety without a chain (issue 11): no silent downgrade of a requested route, a settlement
 * configuration that cannot load stops start-up, and task inputs and outputs are private to the
 * parties. The chain-side cases (failover within the escrow, squatting, reverted intents, calls
 * handed out only when valid) are in escrow.test.ts and the contract tests.
 */
describe("money safety (Postgres + Redis, no chain)", function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => h?.stop());

  describe("no silent downgrade", () => {
    it("refuses a requested escrow or channel route without a settlement chain (503 SETTLEMENT_UNAVAILABLE); auto settles off-chain", async () => {
      const buyer = await newUser(h.url);
      for (const route of ["escrow", "channel"]) {
        const r = await buyer.post("/v1/tasks", taskBody({ route, budget: "5000000" }));
        expect([r.status, r.body.error?.code], route).to.deep.equal([503, "SETTLEMENT_UNAVAILABLE"]);
      }
      const before = (await buyer.get(`/v1/tasks?buyer=${buyer.address}`)).body.total;
      expect(before, "nothing was created by the refusals").to.equal(0);
      const ok = await buyer.post("/v1/tasks", taskBody({ route: "auto" }));
      expect(ok.status).to.equal(201);
      expect(ok.body.tasks[0].settlement).to.equal("offchain");
    });

    it("will not start with SETTLEMENT=chain and a deployments file it cannot load", async () => {
      const config = loadConfig({ ...h.config, PORT: "0", SETTLEMENT: "chain", DEPLOYMENTS_FILE: "/nonexistent/aicp/deployments.json" } as never);
      const err = await startCoordinator(config, "api").then(
        async (c) => {
          await c.close();
          return undefined;
        },
        (e: { code?: string; message: string }) => e,
      );
      expect(err?.code).to.equal("SETTLEMENT_NOT_CONFIGURED");
      expect(err?.message).to.contain("/nonexistent/aicp/deployments.json");
    });

    it("resolves DEPLOYMENTS_FILE given relative (to the working directory) or absolute to one absolute path", () => {
      const rel = loadConfig({ DEPLOYMENTS_FILE: "deployments/localhost.json" }).DEPLOYMENTS_FILE;
      expect(isAbsolute(rel)).to.equal(true);
      expect(rel).to.equal(resolve(process.cwd(), "deployments/localhost.json"));
      expect(loadConfig({ DEPLOYMENTS_FILE: "/tmp/x/d.json" }).DEPLOYMENTS_FILE).to.equal("/tmp/x/d.json");
    });
  });

  describe("privacy of task inputs and outputs", () => {
    it("shows the input to its buyer, invited agents and the operator only, in reads and lists", async () => {
      const capability = `priv.${Math.random().toString(36).slice(2, 8)}`;
      const buyer = await newUser(h.url);
      const invited = await newAgent(h.url, { [capability]: 0 });
      const stranger = await newUser(h.url);
      const otherAgent = await newAgent(h.url, { "priv.other": 0 });
      const operator = new Client(h.url);
      operator.adminKey = h.config.ADMIN_API_KEY;
      const secret = { text: "the buyer's confidential brief" };
      const r = await buyer.post("/v1/tasks", taskBody({ capability, input: secret, auction: { rule: "first-price", windowMs: 60_000 } }));
      expect(r.status).to.equal(201);
      const id = r.body.tasks[0].id;

      const read = async (c: Client) => (await c.get(`/v1/tasks/${id}`)).body;
      const listed = async (c: Client, q: string) => ((await c.get(`/v1/tasks?${q}`)).body.items as { id: string; input?: unknown }[]).find((t) => t.id === id);
      expect((await read(buyer)).input).to.deep.equal(secret);
      expect((await read(invited)).input).to.deep.equal(secret);
      expect((await read(operator)).input).to.deep.equal(secret);
      for (const c of [stranger, otherAgent]) {
        const v = await read(c);
        expect(v.id).to.equal(id);
        expect(v).to.not.have.property("input");
        expect(v).to.not.have.property("output");
        expect(v.capability).to.equal(capability); // the public fields stay
      }
      // ?buyer= narrows the list to one buyer but shows a stranger no more than the public fields.
      const victim = await listed(stranger, `buyer=${buyer.address}`);
      expect(victim?.id).to.equal(id);
      expect(victim).to.not.have.property("input");
      expect((await listed(buyer, `buyer=${buyer.address}`))?.input).to.deep.equal(secret);
      expect((await listed(invited, `capability=${capability}`))?.input).to.deep.equal(secret);
      expect((await listed(operator, `capability=${capability}`))?.input).to.deep.equal(secret);
    });
  });

  describe("reputation decay feeds the multiplier", () => {
    it("an old record fades to neutral: the agent's tier and the price quote follow the decayed counts, the lifetime counts stay shown", async () => {
      const agent = await newAgent(h.url, { "decay.cap": 0 });
      const db = h.c.ctx.db;
      await db.query(
        `INSERT INTO reputation_stats (agent, capability, successes, failures, successes_decayed, failures_decayed, counts_at)
         VALUES ($1, 'decay.cap', 20, 0, 20, 0, now())`,
        [agent.address],
      );
      const fresh = (await agent.get(`/v1/agents/${agent.address}`)).body.reputation;
      expect(fresh).to.include({ tier: "elite", multiplierBps: 20000, successes: 20, failures: 0 });
      // The same record, 40 days old: 20·e^−4 ≈ 0.37 of a task — no evidence left.
      await db.query("UPDATE reputation_stats SET counts_at = now() - interval '40 days' WHERE agent = $1", [agent.address]);
      const old = (await agent.get(`/v1/agents/${agent.address}`)).body.reputation;
      expect(old).to.include({ tier: "new", multiplierBps: 10000, successes: 20, failures: 0 });
      const rep = (await agent.get(`/v1/agents/${agent.address}/reputation`)).body;
      expect(rep).to.include({ tier: "new", multiplierBps: 10000 });
    });
  });

  describe("the concurrency cap holds at the award", () => {
    it("a bidder that reached its limit after proposing does not win; the next bidder does", async () => {
      const x = `cap.x.${Date.now()}`;
      const y = `cap.y.${Date.now()}`;
      const a = await newAgent(h.url, { [x]: 0, [y]: 0 }, { maxConcurrency: 1 });
      const b = await newAgent(h.url, { [x]: 0 });
      const buyer = await newUser(h.url);
      const t2 = (await buyer.post("/v1/tasks", taskBody({ capability: x, route: "auto", auction: { rule: "first-price", windowMs: 60_000 } }))).body.tasks[0].id as string;
      expect((await a.post(`/v1/tasks/${t2}/proposals`, { price: "100", etaMs: 1000 })).status).to.equal(201);
      // A wins another task meanwhile and is at its limit (1 awarded).
      const t1 = (await buyer.post("/v1/tasks", taskBody({ capability: y, route: "auto", auction: { rule: "first-price", windowMs: 60_000 } }))).body.tasks[0].id as string;
      expect((await a.post(`/v1/tasks/${t1}/proposals`, { price: "100", etaMs: 1000 })).status).to.equal(201);
      const won = async (id: string) => (await buyer.get(`/v1/tasks/${id}`)).body;
      for (let i = 0; i < 100 && (await won(t1)).status === "open"; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await won(t1)).to.include({ agent: a.address });
      expect(["awarded", "running"]).to.include((await won(t1)).status);
      // B's higher proposal completes t2's auction: A, cheaper but saturated, cannot win it.
      expect((await b.post(`/v1/tasks/${t2}/proposals`, { price: "300", etaMs: 1000 })).status).to.equal(201);
      for (let i = 0; i < 100 && (await won(t2)).status === "open"; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await won(t2)).to.include({ agent: b.address });
      expect(["awarded", "running"]).to.include((await won(t2)).status);
    });
  });

  describe("malformed vouchers (found by the OpenAPI fuzz of npm run test:faults)", () => {
    it("answers 400, not 500, for addresses that are not addresses", async () => {
      for (const payer of ["3P@[}", " ", "0x123", "x".repeat(100)]) {
        const r = await new Client(h.url).post("/v1/vouchers", { payer, payee: "normal", token: "-1", cumulativeAmount: "1", signature: "" });
        expect([r.status, r.body.error?.code], payer).to.deep.equal([400, "VALIDATION_FAILED"]);
      }
    });
  });
});
