import { expect } from "chai";
import { Wallet } from "ethers";
import { Client, newAgent, newUser, siweMessage, startHarness, taskBody, until, type Harness } from "./harness.js";

describe("coordinator API over HTTP (Postgres + Redis)", function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.stop();
  });

  describe("Sign-In with Ethereum (EIP-4361)", () => {
    it("logs in, and the nonce cannot be used twice", async () => {
      const c = new Client(h.url, Wallet.createRandom() as unknown as Wallet);
      const { body } = await c.get("/v1/auth/nonce");
      const msg = siweMessage(c.wallet!, body.nonce, new URL(h.url).host, 31337);
      const signature = await c.wallet!.signMessage(msg);
      const ok = await c.post("/v1/auth/login", { message: msg, signature });
      expect(ok.status).to.equal(200);
      expect(ok.body.address).to.equal(c.address);
      expect(ok.body.roles).to.deep.equal(["buyer"]);
      expect(Date.parse(ok.body.expiresAt)).to.be.greaterThan(Date.now());
      const again = await c.post("/v1/auth/login", { message: msg, signature });
      expect(again.status).to.equal(401);
      expect(again.body.error.code).to.equal("SIWE_NONCE_INVALID");
    });

    it("rejects a wrong domain, a wrong chain, a forged signature, an expired message and garbage", async () => {
      const c = new Client(h.url, Wallet.createRandom() as unknown as Wallet);
      const other = Wallet.createRandom();
      const host = new URL(h.url).host;
      const cases: [string, (n: string) => Promise<{ message: string; signature: string }>, number][] = [
        ["SIWE_DOMAIN_MISMATCH", async (n) => { const m = siweMessage(c.wallet!, n, "evil.example", 31337); return { message: m, signature: await c.wallet!.signMessage(m) }; }, 401],
        ["SIWE_CHAIN_MISMATCH", async (n) => { const m = siweMessage(c.wallet!, n, host, 1); return { message: m, signature: await c.wallet!.signMessage(m) }; }, 401],
        ["SIWE_BAD_SIGNATURE", async (n) => { const m = siweMessage(c.wallet!, n, host, 31337); return { message: m, signature: await other.signMessage(m) }; }, 401],
        ["SIWE_EXPIRED", async (n) => { const m = siweMessage(c.wallet!, n, host, 31337, { expirationTime: new Date(Date.now() - 1000).toISOString() }); return { message: m, signature: await c.wallet!.signMessage(m) }; }, 401],
        ["SIWE_MALFORMED", async () => ({ message: "hello", signature: "0x" + "00".repeat(65) }), 400],
      ];
      for (const [code, make, status] of cases) {
        const { body } = await c.get("/v1/auth/nonce");
        const r = await c.post("/v1/auth/login", await make(body.nonce));
        expect(r.status, code).to.equal(status);
        expect(r.body.error.code).to.equal(code);
      }
      const unknownNonce = siweMessage(c.wallet!, "abcdefgh12345678", host, 31337);
      const r = await c.post("/v1/auth/login", { message: unknownNonce, signature: await c.wallet!.signMessage(unknownNonce) });
      expect(r.body.error.code).to.equal("SIWE_NONCE_INVALID");
    });

    it("refuses missing, malformed and expired tokens", async () => {
      const anon = new Client(h.url);
      expect((await anon.post("/v1/tasks", taskBody())).body.error.code).to.equal("AUTH_REQUIRED");
      anon.token = "not-a-jwt";
      expect((await anon.post("/v1/tasks", taskBody())).body.error.code).to.equal("TOKEN_INVALID");
      const short = await startHarness({ AUTH_TOKEN_TTL_MS: "1000" });
      try {
        const u = await newUser(short.url);
        await new Promise((r) => setTimeout(r, 2100));
        const r = await u.post("/v1/tasks", taskBody());
        expect(r.status).to.equal(401);
        expect(r.body.error.code).to.equal("TOKEN_EXPIRED");
      } finally {
        await short.stop();
      }
    });
  });

  describe("agents", () => {
    it("registers, updates, lists by capability, suspends and reinstates", async () => {
      const a = await newAgent(h.url, { "img.resize": 5, "text.stats": 1 }, { endpointUrl: "http://127.0.0.1:9/hook", maxConcurrency: 3 });
      expect(a.webhookSecret).to.match(/^[0-9a-f]{64}$/);
      const dup = await a.post("/v1/agents", { name: "x", capabilities: [{ capability: "a", minPrice: "1" }] });
      expect(dup.status).to.equal(409);
      const upd = await a.patch(`/v1/agents/${a.address}`, { name: "renamed", capabilities: [{ capability: "img.resize", minPrice: "7" }] });
      expect(upd.status).to.equal(200);
      expect(upd.body.name).to.equal("renamed");
      expect(upd.body.capabilities).to.deep.equal([{ capability: "img.resize", minPrice: "7" }]);
      const list = await a.get("/v1/agents?capability=img.resize&limit=10");
      expect(list.body.items.map((x: { address: string }) => x.address)).to.include(a.address);
      const one = await new Client(h.url).get(`/v1/agents/${a.address}`);
      expect(one.body).to.include({ maxConcurrency: 3, load: 0, suspended: false });
      expect(one.body.reputation.tier).to.equal("new");
      const other = await newAgent(h.url);
      expect((await other.patch(`/v1/agents/${a.address}`, { name: "hijack" })).status).to.equal(403);
      expect((await a.post(`/v1/agents/${a.address}/suspend`, { reason: "x" })).body.error.code).to.equal("OPERATOR_ONLY");
      const op = new Client(h.url);
      op.adminKey = h.config.ADMIN_API_KEY;
      const s = await op.post(`/v1/agents/${a.address}/suspend`, { reason: "spam" });
      expect(s.body.suspended).to.equal(true);
      const r = await op.post(`/v1/agents/${a.address}/reinstate`);
      expect(r.body.suspended).to.equal(false);
      op.adminKey = "wrong-key-wrong-key";
      expect((await op.post(`/v1/agents/${a.address}/reinstate`)).status).to.equal(401);
      expect((await new Client(h.url).get(`/v1/agents/0x${"12".repeat(20)}`)).status).to.equal(404);
    });
  });

  /** Posts a task with a unique capability so only the given agents are eligible. */
  async function market(n: number, caps: Record<string, number> = {}) {
    const capability = `cap.${Math.random().toString(36).slice(2, 10)}`;
    const buyer = await newUser(h.url);
    const agents = [];
    for (let i = 0; i < n; i++) agents.push(await newAgent(h.url, { [capability]: caps[i] ?? 0 }));
    return { capability, buyer, agents };
  }

  const getTask = (c: Client, id: string) => c.get(`/v1/tasks/${id}`).then((r) => r.body);
  /** Awarded; or already running: the award dispatches to the winner at once, concurrently with the test's next read. */
  const AWARDED = ["awarded", "running"];

  it("second-price (Vickrey): lowest bid wins and is paid the second-lowest; losers are told", async () => {
    const { capability, buyer, agents } = await market(3);
    const posted = await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000", auction: { rule: "second-price", windowMs: 60_000 } }));
    expect(posted.status).to.equal(201);
    const task = posted.body.tasks[0];
    expect(task).to.include({ status: "open", budget: "1000" });
    expect(task.auction.eligible).to.equal(3);
    // Calls for proposals reach each agent.
    const cfps = await agents[0]!.get("/v1/cfps");
    expect(cfps.body.items.map((x: { auctionId: string }) => x.auctionId)).to.include(task.auctionId);
    expect((await agents[0]!.post(`/v1/tasks/${task.id}/proposals`, { price: "500", etaMs: 1000 })).status).to.equal(201);
    // Replace before the close.
    const rep = await agents[0]!.post(`/v1/tasks/${task.id}/proposals`, { price: "300", etaMs: 1000 });
    expect(rep.body.replaced).to.equal(true);
    // Sealed: neither the buyer nor another agent sees the bids before the close.
    expect((await getTask(buyer, task.id)).proposals).to.equal(undefined);
    expect((await getTask(agents[1]!, task.id)).proposals).to.equal(undefined);
    expect((await getTask(agents[0]!, task.id)).proposals).to.have.length(1);
    await agents[1]!.post(`/v1/tasks/${task.id}/proposals`, { price: "400", etaMs: 1000 });
    const last = await agents[2]!.post(`/v1/tasks/${task.id}/proposals`, { price: "900", etaMs: 1000 });
    expect(last.body.auctionClosed).to.equal(true); // every eligible agent proposed: early close
    const t = await getTask(buyer, task.id);
    expect(t).to.include({ agent: agents[0]!.address, price: "400" });
    expect(t.status).to.be.oneOf(AWARDED); // the direct dispatch to a pull-mode agent may already have run
    expect(t.auction.closeReason).to.equal("all-proposed");
    expect(t.proposals.map((p: { outcome: string }) => p.outcome).sort()).to.deep.equal(["accepted", "rejected", "rejected"]);
    expect(t.runnerUps).to.deep.equal([
      { agent: agents[1]!.address, price: "400" },
      { agent: agents[2]!.address, price: "900" },
    ]);
    const late = await agents[1]!.post(`/v1/tasks/${task.id}/proposals`, { price: "1", etaMs: 1 });
    expect(late.status).to.equal(409);
    expect(late.body.error.code).to.equal("AUCTION_CLOSED");
    // Agent load counts the award.
    expect((await agents[0]!.get(`/v1/agents/${agents[0]!.address}`)).body.load).to.equal(1);
  });

  it("first-price pays the bid; reputation-weighted follows the multiplier", async () => {
    const { capability, buyer, agents } = await market(2);
    const fp = (await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000", auction: { rule: "first-price", windowMs: 60_000 } }))).body.tasks[0];
    await agents[0]!.post(`/v1/tasks/${fp.id}/proposals`, { price: "600", etaMs: 10 });
    await agents[1]!.post(`/v1/tasks/${fp.id}/proposals`, { price: "700", etaMs: 10 });
    const fpView = await getTask(buyer, fp.id);
    expect(fpView).to.include({ agent: agents[0]!.address, price: "600" });
    expect(fpView.status).to.be.oneOf(AWARDED);

    // Give agent 1 an elite record (×2.0) and agent 0 a probation one (×0.5).
    await h.c.ctx.db.query(
      "INSERT INTO reputation_stats (agent, capability, successes, failures, successes_decayed, failures_decayed) VALUES ($1, $3, 100, 0, 100, 0), ($2, $3, 1, 9, 1, 9)",
      [agents[1]!.address, agents[0]!.address, capability],
    );
    const rw = (await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000", auction: { rule: "reputation-weighted", windowMs: 60_000 } }))).body.tasks[0];
    await agents[0]!.post(`/v1/tasks/${rw.id}/proposals`, { price: "200", etaMs: 10 }); // score 200/0.5 = 400
    await agents[1]!.post(`/v1/tasks/${rw.id}/proposals`, { price: "700", etaMs: 10 }); // score 700/2 = 350
    // winner pays the price tying the runner-up's score: 400 × 2.0 = 800
    const rwView = await getTask(buyer, rw.id);
    expect(rwView).to.include({ agent: agents[1]!.address, price: "800" });
    expect(rwView.status).to.be.oneOf(AWARDED);
  });

  it("closes at the end of the window via the delayed job, and expires with no valid proposal", async () => {
    const { capability, buyer, agents } = await market(2);
    const t1 = (await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000", auction: { rule: "second-price", windowMs: 300 } }))).body.tasks[0];
    await agents[0]!.post(`/v1/tasks/${t1.id}/proposals`, { price: "100", etaMs: 10 });
    const awarded = await until(async () => { const t = await getTask(buyer, t1.id); return t.status === "awarded" && t; });
    // Single bidder under Vickrey pays the reserve (the budget).
    expect(awarded).to.include({ agent: agents[0]!.address, price: "1000" });
    expect(awarded.auction.closeReason).to.equal("window");

    const t2 = (await buyer.post("/v1/tasks", taskBody({ capability, auction: { rule: "first-price", windowMs: 200 } }))).body.tasks[0];
    const expired = await until(async () => { const t = await getTask(buyer, t2.id); return t.status === "expired" && t; });
    expect(expired.agent).to.equal(null);
  });

  it("rejects proposals at or above the budget, below the agent's minimum, and from uninvited agents", async () => {
    const { capability, buyer, agents } = await market(2, { 1: 50 });
    const t = (await buyer.post("/v1/tasks", taskBody({ capability, budget: "100" }))).body.tasks[0];
    const cases: [Client, string, string][] = [
      [agents[0]!, "100", "PRICE_AT_OR_ABOVE_BUDGET"],
      [agents[0]!, "1000000", "PRICE_AT_OR_ABOVE_BUDGET"],
      [agents[1]!, "49", "PRICE_BELOW_MINIMUM"],
    ];
    for (const [a, price, code] of cases) {
      const r = await a.post(`/v1/tasks/${t.id}/proposals`, { price, etaMs: 10 });
      expect(r.status, code).to.equal(400);
      expect(r.body.error.code).to.equal(code);
    }
    const outsider = await newAgent(h.url, { other: 0 });
    const r = await outsider.post(`/v1/tasks/${t.id}/proposals`, { price: "10", etaMs: 10 });
    expect(r.status).to.equal(403);
    expect(r.body.error.code).to.equal("NOT_INVITED");
    expect((await buyer.post(`/v1/tasks/${t.id}/proposals`, { price: "10", etaMs: 10 })).body.error.code).to.equal("AGENT_ONLY");
    const stored = await h.c.ctx.db.query("SELECT count(*)::int AS n FROM proposals WHERE auction_id = $1", [t.auctionId]);
    expect(stored.rows[0]!.n).to.equal(0);
  });

  it("uniform-price lot: the k best win, each paid the (k+1)-th price", async () => {
    const { capability, buyer, agents } = await market(4);
    const posted = await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000", quantity: 2, auction: { rule: "uniform-price", windowMs: 60_000 } }));
    expect(posted.status).to.equal(201);
    const [a, b] = posted.body.tasks;
    expect(a.auctionId).to.equal(b.auctionId);
    const prices = ["300", "100", "500", "200"];
    for (let i = 0; i < 4; i++) await agents[i]!.post(`/v1/tasks/${a.id}/proposals`, { price: prices[i], etaMs: 10 });
    const ta = await getTask(buyer, a.id);
    const tb = await getTask(buyer, b.id);
    expect([ta.agent, tb.agent]).to.deep.equal([agents[1]!.address, agents[3]!.address]);
    expect([ta.price, tb.price]).to.deep.equal(["300", "300"]);
    const bad = await buyer.post("/v1/tasks", taskBody({ capability, quantity: 2, auction: { rule: "second-price", windowMs: 1000 } }));
    expect(bad.body.error.code).to.equal("LOT_RULE");
  });

  it("cancels before the award only, and only by the buyer", async () => {
    const { capability, buyer, agents } = await market(2);
    const t = (await buyer.post("/v1/tasks", taskBody({ capability }))).body.tasks[0];
    expect((await agents[0]!.post(`/v1/tasks/${t.id}/cancel`)).body.error.code).to.equal("NOT_BUYER");
    const c = await buyer.post(`/v1/tasks/${t.id}/cancel`);
    expect(c.status).to.equal(200);
    expect(c.body.status).to.equal("cancelled");
    expect((await buyer.post(`/v1/tasks/${t.id}/cancel`)).body.error.code).to.equal("NOT_CANCELLABLE");
    expect((await agents[0]!.post(`/v1/tasks/${t.id}/proposals`, { price: "1", etaMs: 1 })).body.error.code).to.equal("AUCTION_CLOSED");
    expect((await agents[0]!.get("/v1/cfps")).body.items.find((x: { auctionId: string }) => x.auctionId === t.auctionId)).to.equal(undefined);
  });

  it("long-polls calls for proposals and streams them over server-sent events", async () => {
    const { capability, buyer, agents } = await market(1);
    const poll = agents[0]!.get(`/v1/cfps?waitMs=5000`);
    const sse = await fetch(`${h.url}/v1/events`, { headers: { authorization: `Bearer ${agents[0]!.token}` } });
    expect(sse.headers.get("content-type")).to.match(/text\/event-stream/);
    const reader = sse.body!.getReader();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const t = (await buyer.post("/v1/tasks", taskBody({ capability }))).body.tasks[0];
    const got = await poll;
    expect(got.body.items[0].auctionId).to.equal(t.auctionId);
    expect(Date.now() - started).to.be.lessThan(4000);
    let text = "";
    while (!text.includes("event: cfp")) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).to.include(t.auctionId);
    await reader.cancel();
  });

  it("lists tasks with filters and pagination", async () => {
    const { capability, buyer } = await market(1);
    for (let i = 0; i < 3; i++) await buyer.post("/v1/tasks", taskBody({ capability }));
    const r = await buyer.get(`/v1/tasks?buyer=${buyer.address}&capability=${capability}&limit=2`);
    expect(r.body.total).to.equal(3);
    expect(r.body.items).to.have.length(2);
    const page2 = await buyer.get(`/v1/tasks?buyer=${buyer.address}&capability=${capability}&limit=2&offset=2`);
    expect(page2.body.items).to.have.length(1);
    const open = await buyer.get(`/v1/tasks?status=open&capability=${capability}`);
    expect(open.body.total).to.equal(3);
  });

  it("quotes a price from complexity, urgency and the reputation tiers", async () => {
    const r = await new Client(h.url).get("/v1/pricing/quote?capability=text.summarize&complexity=4&urgency=high");
    // 1_000_000 × 4 × 1.5 = 6_000_000 base units for a neutral agent
    expect(r.body.price).to.equal("6000000");
    expect(r.body.byTier.elite).to.equal("12000000");
    expect(r.body.byTier.probation).to.equal("3000000");
    expect((await new Client(h.url).get("/v1/pricing/quote?capability=x&complexity=11")).status).to.equal(400);
  });

  it("serves OpenAPI, Swagger UI, health, readiness (degraded without a chain) and metrics", async () => {
    const anon = new Client(h.url);
    const doc = (await anon.get("/openapi.json")).body;
    expect(Object.keys(doc.paths)).to.include.members(["/v1/tasks", "/v1/tasks/{id}/proposals", "/v1/auth/login", "/v1/cfps"]);
    expect((await anon.get("/docs/")).body).to.match(/swagger/i);
    expect((await anon.get("/health")).body.status).to.equal("ok");
    const ready = await anon.get("/ready");
    expect(ready.body.status).to.equal("degraded");
    expect(ready.body.checks.postgres.ok).to.equal(true);
    expect((await anon.get("/metrics")).body).to.include("aicp_http_requests_total");
    expect((await anon.get("/nope")).body.error.code).to.equal("NOT_FOUND");
  });
});
