import { expect } from "chai";
import { TASK_STATUSES } from "../../src/protocol/tasks.js";
import { TRANSITIONS, TaskTransitionRefused, allowedFrom, taskTransitions } from "../../src/tasks/transitions.js";
import { newAgent, newUser, startHarness, taskBody, until, type Harness } from "./harness.js";

describe("task transitions (the one owner of tasks.status)", function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.stop();
  });

  it("the table names only known statuses, and refuses a change it does not hold with a typed error", () => {
    for (const rule of Object.values(TRANSITIONS)) {
      for (const s of rule.to) expect(TASK_STATUSES).to.include(s);
      if (rule.from !== "any") for (const s of rule.from) expect(TASK_STATUSES).to.include(s);
    }
    expect(allowedFrom("deliver", "delivered")).to.deep.equal(["awarded", "running"]);
    expect(() => allowedFrom("deliver", "settled")).to.throw(TaskTransitionRefused).with.property("code", "TASK_TRANSITION_REFUSED");
    expect(() => allowedFrom("voucher-paid", "settled")).to.throw(TaskTransitionRefused);
  });

  it("a change the table allows is not made from a status it does not list", async () => {
    const capability = `tr.${Math.random().toString(36).slice(2, 10)}`;
    const buyer = await newUser(h.url);
    const agent = await newAgent(h.url, { [capability]: 0 });
    const task = (await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000" }))).body.tasks[0];
    // Open: nothing was delivered, so neither an accept nor a voucher payment moves it.
    await h.c.ctx.db.tx(async (t) => {
      await taskTransitions.accept(t, task.id);
      await taskTransitions.paid(t, [task.id]);
      expect(await taskTransitions.start(t, task.id, "0x0000000000000000000000000000000000000001", 1, new Date())).to.equal(false);
    });
    expect((await buyer.get(`/v1/tasks/${task.id}`)).body.status).to.equal("open");
    await agent.post(`/v1/tasks/${task.id}/proposals`, { price: "10", etaMs: 1000 });
    await until(async () => ["awarded", "running"].includes((await buyer.get(`/v1/tasks/${task.id}`)).body.status));
    // Awarded or running: a second auction close cannot re-award it to someone else.
    await h.c.ctx.db.tx((t) => taskTransitions.close(t, { id: "00000000-0000-0000-0000-000000000000", reason: "window", clearing: null, winners: [] }, [{ id: task.id, status: "expired", agent: null, price: null }], []));
    expect((await buyer.get(`/v1/tasks/${task.id}`)).body.status).to.be.oneOf(["awarded", "running"]);
  });
});
