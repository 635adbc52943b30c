/**
 * A crash or restart at any point loses nothing (DESIGN.md, "Invariants"): an auction posted
 * before a restart still closes and awards after it, whether its delayed close job survived in
 * Redis or was lost (a crash between the commit and the enqueue), in which case the sweeper
 * recovers it from Postgres.
 */
import { expect } from "chai";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { Client, isolation, newAgent, newUser, startHarness, taskBody, until, type Harness } from "./harness.js";
import { QUEUE_NAMES } from "../../src/queue/index.js";

type Posted = { taskId: string; auctionId: string; closesAt: number; buyer: Client; bidder: string };

describe("auctions survive a coordinator restart", function () {
  this.timeout(60_000);
  const running: Harness[] = [];
  const redis = new Redis(process.env["TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });

  async function start(env: Record<string, string>, opts: { sweepMs?: number } = {}) {
    const h = await startHarness(env, "all", opts);
    running.push(h);
    return h;
  }
  async function stop(h: Harness, keepSchema: boolean) {
    running.splice(running.indexOf(h), 1);
    await h.stop({ keepSchema });
  }

  after(async () => {
    for (const h of running.splice(0)) await h.stop();
    redis.disconnect();
  });

  /** Two invited agents, one proposal: the auction stays open until its window ends. */
  async function post(h: Harness, windowMs: number): Promise<Posted> {
    const capability = `restart.${Math.random().toString(36).slice(2, 10)}`;
    const buyer = await newUser(h.url);
    const a = await newAgent(h.url, { [capability]: 0 });
    await newAgent(h.url, { [capability]: 0 });
    const r = await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000", auction: { rule: "second-price", windowMs } }));
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    const task = r.body.tasks[0];
    const p = await a.post(`/v1/tasks/${task.id}/proposals`, { price: "400", etaMs: 1000 });
    expect(p.body.auctionClosed).to.equal(false);
    return { taskId: task.id, auctionId: task.auctionId, closesAt: Date.parse(task.auction.closesAt), buyer, bidder: a.address };
  }

  /** The same buyer, signed in against another coordinator: its session token still holds. */
  const as = (h: Harness, c: Client) => Object.assign(new Client(h.url, c.wallet), { token: c.token });

  /**
   * Waits for the auction to close and checks its award. Read from the auction and the
   * proposals, which keep the award, rather than the task, whose status moves on to execution.
   * @returns when the award was committed, ms since epoch
   */
  async function awarded(h: Harness, p: Posted, ms = 10_000): Promise<number> {
    const a = await until(async () => {
      const r = await h.c.ctx.db.query<{ status: string; close_reason: string; clearing_price: string; closed_at: Date; winner: string | null }>(
        `SELECT a.status, a.close_reason, a.clearing_price::text, a.closed_at,
                (SELECT agent FROM proposals WHERE auction_id = a.id AND outcome = 'accepted') AS winner
           FROM auctions a WHERE a.id = $1`,
        [p.auctionId],
      );
      return r.rows[0]?.status === "closed" && r.rows[0];
    }, ms);
    // The only bidder under Vickrey is paid the reserve (the budget).
    expect(a).to.include({ close_reason: "window", clearing_price: "1000", winner: p.bidder });
    const task = await as(h, p.buyer).get(`/v1/tasks/${p.taskId}`);
    expect(task.body).to.include({ agent: p.bidder, price: "1000" });
    expect(a.closed_at.getTime()).to.be.at.least(p.closesAt);
    return a.closed_at.getTime();
  }

  /** The close job in Redis, as a separate BullMQ client sees it. */
  function closeQueue(prefix: string) {
    return new Queue(QUEUE_NAMES.auctionClose, { connection: redis, prefix });
  }

  const status = async (h: Harness, auctionId: string) =>
    (await h.c.ctx.db.query<{ status: string }>("SELECT status FROM auctions WHERE id = $1", [auctionId])).rows[0]?.status;

  it("closes an auction posted before a restart (its close job survived in Redis)", async () => {
    const env = isolation("restart");
    const h1 = await start(env);
    const p = await post(h1, 3_000);
    expect(await status(h1, p.auctionId)).to.equal("open");
    await stop(h1, true);
    expect(Date.now(), "stopped before the window ended").to.be.lessThan(p.closesAt);
    const q = closeQueue(env.QUEUE_PREFIX);
    expect(await q.getJob(`close-${p.auctionId}`), "the delayed close job is still in Redis").to.not.equal(undefined);
    await q.close();

    const h2 = await start(env);
    expect((await awarded(h2, p)) - p.closesAt).to.be.lessThan(1_500);
    await stop(h2, false);
  });

  it("closes an auction whose window ended while the coordinator was down", async () => {
    const env = isolation("restart");
    const h1 = await start(env);
    const p = await post(h1, 1_000);
    await stop(h1, true);
    expect(Date.now()).to.be.lessThan(p.closesAt);
    await new Promise((r) => setTimeout(r, p.closesAt + 500 - Date.now()));

    const h2 = await start(env);
    const started = Date.now();
    await awarded(h2, p);
    expect(Date.now() - started, "awarded soon after the restart").to.be.lessThan(1_500);
    await stop(h2, false);
  });

  it("the sweeper closes an overdue auction whose close job was lost in a crash", async () => {
    const env = isolation("restart");
    const h1 = await start(env);
    const p = await post(h1, 1_000);
    await stop(h1, true);
    expect(Date.now()).to.be.lessThan(p.closesAt);
    // Crash between the commit and the enqueue: the job never reached Redis.
    const q = closeQueue(env.QUEUE_PREFIX);
    await q.obliterate({ force: true });
    expect(await q.getJob(`close-${p.auctionId}`)).to.equal(undefined);
    await q.close();
    // Restart only once the auction is overdue beyond the sweeper's grace (2 s).
    await new Promise((r) => setTimeout(r, p.closesAt + 2_300 - Date.now()));

    const h2 = await start(env, { sweepMs: 200 });
    await awarded(h2, p, 3_000);
    await stop(h2, false);
  });

  it("after a restart before the window ends, the sweeper re-enqueues a lost close job and the auction closes on time", async () => {
    const env = isolation("restart");
    const h1 = await start(env);
    const p = await post(h1, 2_500);
    await stop(h1, true);
    const q = closeQueue(env.QUEUE_PREFIX);
    await q.obliterate({ force: true });
    await q.close();
    expect(Date.now()).to.be.lessThan(p.closesAt);

    const h2 = await start(env, { sweepMs: 200 });
    // Closed by a close job at the window's end, not by the overdue path 2 s later.
    expect((await awarded(h2, p)) - p.closesAt).to.be.lessThan(1_500);
    await stop(h2, false);
  });

  it("when an API replica dies and its close job is lost, a running worker's periodic sweeper closes the auction on time", async () => {
    const env = isolation("restart");
    // The API replica that opened the auction is the only process with a local close timer.
    const worker = await start(env, { sweepMs: 200 });
    const api = await startHarness(env, "api");
    running.push(api);
    const p = await post(api, 1_500);
    await stop(api, true);
    const q = closeQueue(env.QUEUE_PREFIX);
    expect(await q.remove(`close-${p.auctionId}`), "the close job was in Redis").to.equal(1);
    await q.close();
    expect(Date.now()).to.be.lessThan(p.closesAt);
    expect((await awarded(worker, p)) - p.closesAt).to.be.lessThan(1_500);
    await stop(worker, false);
  });
});
