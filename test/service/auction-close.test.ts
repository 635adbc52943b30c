/**
 * Agents that bid at the same moment: the auction closes early (every invited agent proposed),
 * exactly once, and exactly one of the bids is told it closed it.
 */
import { expect } from "chai";
import { newAgent, newUser, startHarness, taskBody, type Harness } from "./harness.js";

describe("simultaneous last bids", function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h?.stop();
  });

  it("close the auction early, once, and only one bid reports the close", async () => {
    const capability = "close.once";
    const buyer = await newUser(h.url);
    const agents = await Promise.all(Array.from({ length: 8 }, () => newAgent(h.url, { [capability]: 0 }, { maxConcurrency: 1000 })));
    const closedTotal = async () => {
      const text = (await buyer.get("/metrics")).body as string;
      const line = text.split("\n").find((l) => l.startsWith('aicp_auctions_closed_total{rule="first-price",outcome="awarded"}'));
      return line ? Number(line.split(" ").pop()) : 0;
    };
    const before = await closedTotal();
    const rounds = 15;
    for (let round = 0; round < rounds; round++) {
      const t = (await buyer.post("/v1/tasks", taskBody({ capability, budget: "1000", auction: { rule: "first-price", windowMs: 60_000 } }))).body.tasks[0];
      const replies = await Promise.all(agents.map((a, i) => a.post(`/v1/tasks/${t.id}/proposals`, { price: String(100 + i), etaMs: 3_600_000 })));
      expect(replies.map((r) => r.status), `round ${round}`).to.deep.equal(agents.map(() => 201));
      expect(replies.filter((r) => r.body.auctionClosed).length, `round ${round}: bids that report the close`).to.equal(1);
      const a = (await h.c.ctx.db.query("SELECT status, close_reason, clearing_price::text FROM auctions WHERE id = $1", [t.auctionId])).rows[0];
      expect(a, `round ${round}`).to.deep.equal({ status: "closed", close_reason: "all-proposed", clearing_price: "100" });
      const won = await h.c.ctx.db.query("SELECT agent FROM proposals WHERE auction_id = $1 AND outcome = 'accepted'", [t.auctionId]);
      expect(won.rows.map((r) => r.agent)).to.deep.equal([agents[0]!.address]);
    }
    expect((await closedTotal()) - before, "closes counted").to.equal(rounds);
  });
});
