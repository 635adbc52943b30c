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
});
