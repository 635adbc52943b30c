import { expect } from "chai";
import { Client, newUser, startHarness, taskBody, until, type Harness } from "./harness.js";
import { spawnAgent, type AgentProc } from "./agents-harness.js";
import { resultHashOf } from "../../src/scheduling/execution.js";

describe("execution control with real agent processes", function () {
  this.timeout(60_000);
  let h: Harness;
  let buyer: Client;
  const procs: AgentProc[] = [];
  before(async () => {
    h = await startHarness({ EXEC_RETRY_BASE_MS: "50", EXEC_GRACE_MS: "1000", EXEC_TIMEOUT_FACTOR: "1", WORKFLOW_WINDOW_MS: "2000" });
    buyer = await newUser(h.url);
  });
  after(async () => {
    for (const p of procs) p.stop();
    await h?.stop();
  });
  const cap = () => `exec.${Math.random().toString(36).slice(2, 10)}`;
  const agent = async (capability: string, mode: string, price: string, etaMs = 200) => {
    const a = await spawnAgent(h.url, capability, mode, { price, etaMs });
    procs.push(a);
    return a;
  };
  const post = async (capability: string, windowMs = 1500) => {
    const r = await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000", auction: { rule: "first-price", windowMs } }));
    expect(r.status).to.equal(201);
    return r.body.tasks[0] as { id: string };
  };
  const final = (id: string) =>
    until(async () => {
      const t = (await buyer.get(`/v1/tasks/${id}`)).body;
      return ["delivered", "failed", "expired"].includes(t.status) && t;
    }, 30_000, 50);

  it("dispatches to the winner, which delivers; the result hash is keccak256 of the canonical output", async () => {
    const c = cap();
    const a = await agent(c, "succeed", "100");
    const t = await post(c);
    const done = await final(t.id);
    expect(done).to.include({ status: "delivered", agent: a.address, price: "100" });
    expect(done.output).to.deep.include({ n: 1, by: a.address });
    expect(done.execution.resultHash).to.equal(resultHashOf(done.output));
    expect(done.execution.attempts).to.equal(1);
    const rep = (await buyer.get(`/v1/agents/${a.address}/reputation`)).body;
    expect(rep.successes).to.equal(1);
    expect(rep.score).to.be.greaterThan(50);
  });

  it("retries a failed attempt with backoff and then succeeds with the same agent", async () => {
    const c = cap();
    const a = await agent(c, "fail-first-2", "100");
    const t = await post(c);
    const done = await final(t.id);
    expect(done).to.include({ status: "delivered", agent: a.address });
    expect(done.execution.attempts).to.equal(3);
    expect(done.execution.failovers).to.equal(0);
  });

  it("fails over to the runner-up at its own proposal after 3 failed attempts", async () => {
    const c = cap();
    const bad = await agent(c, "fail", "100");
    const good = await agent(c, "succeed", "300");
    const t = await post(c);
    const done = await final(t.id);
    expect(done).to.include({ status: "delivered", agent: good.address, price: "300" });
    expect(done.execution.failovers).to.equal(1);
    const rep = (await buyer.get(`/v1/agents/${bad.address}/reputation`)).body;
    expect(rep.failures).to.equal(3);
  });

  it("fails over when the winner hangs past its deadline, and when it reports a failure", async () => {
    const c = cap();
    await agent(c, "hang", "100", 100);
    const good = await agent(c, "succeed", "200");
    const t = await post(c);
    const done = await final(t.id);
    expect(done).to.include({ status: "delivered", agent: good.address });
    const c2 = cap();
    await agent(c2, "report", "100");
    const good2 = await agent(c2, "succeed", "200");
    const t2 = await post(c2);
    expect(await final(t2.id)).to.include({ status: "delivered", agent: good2.address });
  });

  it("fails the task when no runner-up is left", async () => {
    const c = cap();
    await agent(c, "fail", "100");
    const t = await post(c, 300);
    const done = await final(t.id);
    expect(done.status).to.equal("failed");
    expect(done.execution.failureReason).to.match(/500/);
  });

  it("opens an agent's breaker after 5 failures (ineligible at once, visible in the API and /metrics) and closes it after 3 good trials", async () => {
    const c = cap();
    const a = await agent(c, "fail-first-5", "100");
    const backup = await agent(c, "succeed", "900");
    // Task 1: 3 failed attempts then failover; task 2: 2 more failures open the breaker.
    const t1 = await post(c);
    expect((await final(t1.id)).agent).to.equal(backup.address);
    const t2 = await post(c);
    expect((await final(t2.id)).agent).to.equal(backup.address);
    const view = (await buyer.get(`/v1/agents/${a.address}`)).body;
    expect(view.health.breaker.state).to.equal("open");
    expect(view.health.status).to.equal("unavailable");
    expect((await buyer.get("/metrics")).body).to.match(new RegExp(`aicp_agent_breaker_state\\{agent="${a.address}"\\} 2`));
    // While open, the agent receives no call for proposals.
    const t3 = (await buyer.post("/v1/tasks", taskBody({ capability: c, budget: "1000", auction: { rule: "first-price", windowMs: 5000 } }))).body.tasks[0];
    expect(t3.auction.eligible).to.equal(1);
    await final(t3.id);
    // After the 1.5 s recovery it is half-open; three successful trials close it.
    await until(async () => (await buyer.get(`/v1/agents/${a.address}`)).body.health.breaker.state === "half_open", 5000, 100);
    for (let i = 0; i < 3; i++) {
      const t = await post(c);
      expect((await final(t.id)).agent).to.equal(a.address);
    }
    expect((await buyer.get(`/v1/agents/${a.address}`)).body.health.breaker.state).to.equal("closed");
  });

  it("only the awarded agent may deliver, once", async () => {
    const c = cap();
    const a = await agent(c, "hang", "100", 20_000);
    const t = await post(c);
    await until(async () => (await buyer.get(`/v1/tasks/${t.id}`)).body.status === "running", 10_000, 50);
    const intruder = await spawnAgent(h.url, cap(), "hang");
    procs.push(intruder);
    // The buyer is no agent; the intruder is not the awarded one.
    expect((await buyer.post(`/v1/tasks/${t.id}/result`, { output: 1 })).body.error.code).to.equal("AGENT_ONLY");
    void a;
  });
});
