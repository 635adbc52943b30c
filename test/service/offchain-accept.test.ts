import { expect } from "chai";
import { newAgent, newUser, startHarness, taskBody, until, type Harness } from "./harness.js";

describe("off-chain settlement (no chain configured): the buyer's accept", function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.stop();
  });

  it("accepts a delivered task for its buyer only, once delivered, idempotently", async () => {
    const capability = `off.${Math.random().toString(36).slice(2, 10)}`;
    const buyer = await newUser(h.url);
    const stranger = await newUser(h.url);
    const agent = await newAgent(h.url, { [capability]: 0 });
    const posted = await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000" }));
    expect(posted.status).to.equal(201);
    const task = posted.body.tasks[0];
    expect(task.settlement).to.equal("offchain");
    expect((await buyer.post(`/v1/tasks/${task.id}/accept`)).body.error.code).to.equal("NOT_DELIVERED");
    expect((await agent.post(`/v1/tasks/${task.id}/proposals`, { price: "10", etaMs: 1000 })).body.auctionClosed).to.equal(true);
    await until(async () => ["awarded", "running"].includes((await buyer.get(`/v1/tasks/${task.id}`)).body.status));
    expect((await agent.post(`/v1/tasks/${task.id}/result`, { output: { ok: true } })).status).to.equal(200);

    expect((await stranger.post(`/v1/tasks/${task.id}/accept`)).body.error.code).to.equal("NOT_BUYER");
    const acc = await buyer.post(`/v1/tasks/${task.id}/accept`);
    expect(acc.status).to.equal(200);
    expect(acc.body).to.deep.equal({ taskId: task.id, status: "accepted", call: null });
    expect((await buyer.post(`/v1/tasks/${task.id}/accept`)).status).to.equal(200);
    const t = (await buyer.get(`/v1/tasks/${task.id}`)).body;
    expect(t).to.include({ status: "accepted" });
    expect(t.output).to.deep.equal({ ok: true });
    expect((await buyer.post("/v1/tasks/00000000-0000-0000-0000-000000000000/accept")).status).to.equal(404);
  });
});
