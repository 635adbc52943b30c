/**
 * What the coordinator serves besides the API: the web app's pages and assets (under a content
 * security policy), the dashboard's figures (JSON and server-sent events), the operator's queue
 * board, and who a session token speaks for.
 */
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Client, newAgent, newUser, startHarness, taskBody, type Harness } from "./harness.js";
import { WEB_DIST } from "../../src/app/web-app.js";

const root = join(import.meta.dirname, "..", "..");

describe("the web app, the dashboard and the queue board over HTTP", function () {
  this.timeout(60_000);
  let h: Harness;
  let operator: Client;

  before(async () => {
    const built = spawnSync(process.execPath, [join(root, "scripts/build-web.mjs"), "--if-stale"], { cwd: root, encoding: "utf8" });
    if (built.status !== 0) throw new Error(`web build failed: ${built.stderr}`);
    h = await startHarness();
    operator = new Client(h.url);
    operator.adminKey = h.config.ADMIN_API_KEY;
  });
  after(() => h?.stop());

  it("serves every page as the app's index.html, and its assets, under a CSP that allows only this origin and the chain's RPC", async () => {
    for (const path of ["/", "/buyer", "/agent", "/arbitrator", "/dashboard"]) {
      const r = await fetch(h.url + path);
      expect(r.status, path).to.equal(200);
      expect(r.headers.get("content-type")).to.match(/^text\/html/);
      const csp = r.headers.get("content-security-policy")!;
      expect(csp).to.contain("default-src 'self'").and.contain("connect-src 'self' http://127.0.0.1:1");
      expect(await r.text()).to.contain('<div id="root">');
    }
    const asset = readdirSync(join(WEB_DIST, "assets")).find((f) => f.endsWith(".js"))!;
    const js = await fetch(`${h.url}/assets/${asset}`);
    expect(js.status).to.equal(200);
    expect(js.headers.get("cache-control")).to.contain("immutable");
    expect((await fetch(`${h.url}/assets/nope.js`)).status).to.equal(404);
  });

  it("GET /v1/dashboard: the marketplace's figures now; the stream sends one sample a second", async () => {
    const buyer = await newUser(h.url);
    await newAgent(h.url, { "text.summarize": 0 });
    expect((await buyer.post("/v1/tasks", taskBody())).status).to.equal(201);
    const r = await fetch(`${h.url}/v1/dashboard`);
    expect(r.status).to.equal(200);
    const f = (await r.json()) as { rates: { postedPerSecond: number }; openAuctions: number; queues: Record<string, { waiting: number; failed: number }>; chain: { head: number | null }; breakersOpen: number };
    expect(f.rates.postedPerSecond).to.be.greaterThan(0);
    expect(f.openAuctions).to.be.at.least(1);
    expect(Object.keys(f.queues)).to.have.length(4);
    expect(f.chain.head).to.equal(null); // no chain in this harness
    expect(f.breakersOpen).to.equal(0);

    const ac = new AbortController();
    const stream = await fetch(`${h.url}/v1/dashboard/stream`, { signal: ac.signal });
    expect(stream.headers.get("content-type")).to.match(/^text\/event-stream/);
    const reader = stream.body!.getReader();
    let text = "";
    const started = Date.now();
    while ((text.match(/event: figures/g) ?? []).length < 2 && Date.now() - started < 10_000) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const samples = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)) as { at: string });
    expect(samples.length).to.be.at.least(2);
    expect(Date.parse(samples[1]!.at)).to.be.greaterThan(Date.parse(samples[0]!.at));
  });

  it("the queue board is the operator's: 401 without the admin key, the board with it (header or Basic password)", async () => {
    const none = await fetch(`${h.url}/admin/queues`);
    expect(none.status).to.equal(401);
    expect(none.headers.get("www-authenticate")).to.match(/^Basic/);
    expect(((await none.json()) as { error: { code: string } }).error.code).to.equal("AUTH_REQUIRED");
    const wrong = await fetch(`${h.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from("op:wrong").toString("base64")}` } });
    expect(wrong.status).to.equal(401);
    const byHeader = await fetch(`${h.url}/admin/queues`, { headers: { "x-admin-key": h.config.ADMIN_API_KEY } });
    expect(byHeader.status).to.equal(200);
    expect(await byHeader.text()).to.contain("AICP queues");
    const byBasic = await fetch(`${h.url}/admin/queues/api/queues`, { headers: { authorization: `Basic ${Buffer.from(`op:${h.config.ADMIN_API_KEY}`).toString("base64")}` } });
    expect(byBasic.status).to.equal(200);
    const names = ((await byBasic.json()) as { queues: { name: string }[] }).queues.map((q) => q.name);
    expect(names).to.have.length(4);
  });

  it("GET /v1/auth/session: the token's address and its roles now (agent at once after registering); the operator; 401 without", async () => {
    const c = await newUser(h.url);
    expect((await c.get("/v1/auth/session")).body).to.deep.equal({ address: c.address, roles: ["buyer"] });
    await c.post("/v1/agents", { name: "late-agent", capabilities: [{ capability: "text.summarize", minPrice: "0" }] });
    expect((await c.get("/v1/auth/session")).body.roles).to.deep.equal(["buyer", "agent"]);
    expect((await operator.get("/v1/auth/session")).body).to.deep.equal({ address: null, roles: ["operator"] });
    const anon = await new Client(h.url).get("/v1/auth/session");
    expect(anon.status).to.equal(401);
    expect(anon.body.error.code).to.equal("AUTH_REQUIRED");
  });
});
