/**
 * Authorization over HTTP, driven by the OpenAPI document: every route it lists is called by
 * every kind of caller, and the answer must be 401/403 (with an error code) exactly when the
 * route's `Access: <role>.` does not admit that caller. A route added later is covered without
 * touching this file, as long as its path parameters are ones `paramFor` knows.
 */
import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { Client, newAgent, newUser, startHarness, taskBody, type Harness } from "./harness.js";

type Role = "public" | "buyer" | "agent" | "operator" | "user" | "arbitrator";

/** Callers: a `wallet` is signed in but not an agent; `agent` is a registered agent. */
type Caller =
  | "anonymous"
  | "expired-token"
  | "garbage-token"
  | "wrong-secret-token"
  | "wrong-issuer-token"
  | "malformed-header"
  | "wrong-admin-key"
  | "wallet"
  | "agent"
  | "operator";

const CALLERS: Caller[] = [
  "anonymous", "expired-token", "garbage-token", "wrong-secret-token", "wrong-issuer-token", "malformed-header", "wrong-admin-key",
  "wallet", "agent", "operator",
];

/** Who each role admits (src/api/http.ts). No wallet here holds the on-chain arbitrator role. */
const ADMITS: Record<Role, Caller[]> = {
  public: CALLERS,
  buyer: ["wallet", "agent"],
  agent: ["agent"],
  operator: ["operator"],
  user: ["wallet", "agent", "operator"],
  arbitrator: [],
};

/** Callers without a valid identity get 401; a valid identity lacking the role gets 403. */
const SIGNED_IN: Caller[] = ["wallet", "agent"];

type Operation = { method: string; path: string; role: Role; params: string[] };

describe("authorization of every route in the OpenAPI document", function () {
  this.timeout(60_000);
  let h: Harness;
  let ops: Operation[];
  let wallet: Client;
  let agent: Client;
  let otherBuyer: Client;
  let headers: Record<Caller, Record<string, string>>;
  /** Each caller's own resources, so that an admitted caller is not refused for ownership. */
  let own: Record<"wallet" | "agent" | "someone", { task: string; address: string }>;

  const token = (address: string, opts: { secret?: string; issuer?: string; exp?: number } = {}) =>
    new SignJWT({ roles: ["buyer"] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(address)
      .setIssuer(opts.issuer ?? "aicp")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 3600)
      .sign(new TextEncoder().encode(opts.secret ?? h.config.AUTH_SECRET));

  before(async () => {
    h = await startHarness();
    const anon = new Client(h.url);
    const doc = (await anon.get("/openapi.json")).body as { paths: Record<string, Record<string, { description?: string; parameters?: { name: string; in: string }[] }>> };
    ops = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const m = /Access: (\w+)\./.exec(op.description ?? "");
        if (!m) throw new Error(`${method.toUpperCase()} ${path}: the description does not say "Access: <role>."`);
        if (!(m[1]! in ADMITS)) throw new Error(`${method.toUpperCase()} ${path}: unknown access role ${m[1]}; teach this test who it admits`);
        ops.push({ method: method.toUpperCase(), path, role: m[1] as Role, params: [...path.matchAll(/\{(\w+)\}/g)].map((x) => x[1]!) });
      }
    }

    wallet = await newUser(h.url);
    otherBuyer = await newUser(h.url);
    const capability = "auth.check";
    agent = await newAgent(h.url, { [capability]: 0 });
    const post = async (c: Client) => {
      const r = await c.post("/v1/tasks", taskBody({ capability, auction: { rule: "second-price", windowMs: 600_000 } }));
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
      return r.body.tasks[0].id as string;
    };
    own = {
      wallet: { task: await post(wallet), address: agent.address },
      agent: { task: await post(agent), address: agent.address },
      someone: { task: await post(otherBuyer), address: agent.address },
    };
    const past = Math.floor(Date.now() / 1000) - 60;
    headers = {
      anonymous: {},
      "expired-token": { authorization: `Bearer ${await token(agent.address, { exp: past })}` },
      "garbage-token": { authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2lnbmF0dXJl" },
      "wrong-secret-token": { authorization: `Bearer ${await token(agent.address, { secret: "x".repeat(48) })}` },
      "wrong-issuer-token": { authorization: `Bearer ${await token(agent.address, { issuer: "someone-else" })}` },
      "malformed-header": { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` },
      "wrong-admin-key": { "x-admin-key": "not-the-admin-key-at-all" },
      wallet: { authorization: `Bearer ${wallet.token}` },
      agent: { authorization: `Bearer ${agent.token}` },
      operator: { "x-admin-key": h.config.ADMIN_API_KEY },
    };
  });
  after(async () => {
    await h?.stop();
  });

  /** A real value for a path parameter, owned by the caller where ownership matters. */
  function paramFor(name: string, caller: Caller): string {
    const mine = caller === "wallet" ? own.wallet : caller === "agent" ? own.agent : own.someone;
    switch (name) {
      case "id":
        return mine.task;
      case "address":
        return mine.address;
      default:
        // An unknown parameter: a well-formed id that matches nothing. Role checks run before
        // lookups, so a 404 still shows that the caller got past authorization.
        return randomUUID();
    }
  }

  /** One request; an SSE stream is cut after its headers. */
  async function call(op: Operation, caller: Caller): Promise<{ status: number; body: { error?: { code?: unknown; message?: unknown } } | undefined }> {
    const path = op.path.replace(/\{(\w+)\}/g, (_, n: string) => paramFor(n, caller));
    const hasBody = !["GET", "HEAD", "DELETE"].includes(op.method);
    const ac = new AbortController();
    const res = await fetch(h.url + path, {
      method: op.method,
      headers: { ...headers[caller], ...(hasBody ? { "content-type": "application/json" } : {}) },
      // An empty object: admitted callers then meet validation (400) or the handler, never a role check.
      body: hasBody ? "{}" : undefined,
      signal: ac.signal,
    });
    if (res.headers.get("content-type")?.includes("text/event-stream")) {
      ac.abort();
      return { status: res.status, body: undefined };
    }
    const text = await res.text();
    let body: { error?: { code?: unknown; message?: unknown } } | undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    return { status: res.status, body };
  }

  it("finds the routes and their roles in /openapi.json", () => {
    const keys = ops.map((o) => `${o.method} ${o.path} ${o.role}`);
    expect(keys).to.include.members([
      "GET /v1/auth/nonce public",
      "POST /v1/auth/login public",
      "POST /v1/agents buyer",
      "PATCH /v1/agents/{address} agent",
      "POST /v1/agents/{address}/suspend operator",
      "POST /v1/tasks buyer",
      "GET /v1/tasks user",
      "GET /v1/tasks/{id} user",
      "POST /v1/tasks/{id}/cancel buyer",
      "POST /v1/tasks/{id}/proposals agent",
      "GET /v1/cfps agent",
      "GET /v1/events buyer",
      "GET /v1/pricing/quote public",
    ]);
  });

  it("answers 401/403 with an error code exactly when the role does not admit the caller", async () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const op of ops) {
      for (const caller of CALLERS) {
        const r = await call(op, caller);
        checked++;
        const where = `${op.method} ${op.path} (Access: ${op.role}) as ${caller}: ${r.status} ${JSON.stringify(r.body)}`;
        const refused = r.status === 401 || r.status === 403;
        if (r.status >= 500) wrong.push(`server error — ${where}`);
        else if (ADMITS[op.role].includes(caller)) {
          if (refused) wrong.push(`refused an admitted caller — ${where}`);
        } else if (!refused) wrong.push(`admitted a caller it should refuse — ${where}`);
        else if (typeof r.body?.error?.code !== "string" || typeof r.body.error.message !== "string") wrong.push(`no error code — ${where}`);
        else if (SIGNED_IN.includes(caller) && r.status !== 403) wrong.push(`a signed-in caller lacking the role should get 403 — ${where}`);
        else if (!SIGNED_IN.includes(caller) && caller !== "operator" && r.status !== 401) wrong.push(`a caller without valid credentials should get 401 — ${where}`);
      }
    }
    expect(wrong, wrong.join("\n")).to.deep.equal([]);
    expect(checked).to.equal(ops.length * CALLERS.length);
    console.log(`      ${ops.length} routes × ${CALLERS.length} callers`);
  });

  it("names the reason: expired, invalid, missing credentials, or the missing role", async () => {
    const post = ops.find((o) => o.method === "POST" && o.path === "/v1/tasks")!;
    const suspend = ops.find((o) => o.path === "/v1/agents/{address}/suspend")!;
    const propose = ops.find((o) => o.path === "/v1/tasks/{id}/proposals")!;
    const code = async (op: Operation, c: Caller) => (await call(op, c)).body?.error?.code;
    expect(await code(post, "anonymous")).to.equal("AUTH_REQUIRED");
    expect(await code(post, "expired-token")).to.equal("TOKEN_EXPIRED");
    expect(await code(post, "garbage-token")).to.equal("TOKEN_INVALID");
    expect(await code(post, "wrong-secret-token")).to.equal("TOKEN_INVALID");
    expect(await code(post, "wrong-issuer-token")).to.equal("TOKEN_INVALID");
    expect(await code(post, "malformed-header")).to.equal("BAD_AUTH_HEADER");
    expect(await code(post, "wrong-admin-key")).to.equal("BAD_ADMIN_KEY");
    expect(await code(post, "operator")).to.equal("AUTH_REQUIRED");
    expect(await code(suspend, "agent")).to.equal("OPERATOR_ONLY");
    expect(await code(propose, "wallet")).to.equal("AGENT_ONLY");
  });

  it("lets a stale token still reach the public sign-in routes (so the client can sign in again)", async () => {
    for (const caller of ["expired-token", "garbage-token", "wrong-admin-key"] as const) {
      const c = new Client(h.url);
      const r = await c.req("GET", "/v1/auth/nonce", undefined, headers[caller]);
      expect(r.status, caller).to.equal(200);
      expect(r.body.nonce).to.be.a("string");
    }
  });

  it("serves health, readiness, metrics and the OpenAPI document to anyone", async () => {
    const anon = new Client(h.url);
    for (const p of ["/health", "/ready", "/metrics", "/openapi.json"]) expect((await anon.get(p)).status, p).to.equal(200);
  });

  describe("ownership of resources", () => {
    it("an agent cannot PATCH another agent (but can PATCH itself)", async () => {
      const other = await newAgent(h.url, { "own.check": 0 });
      const r = await agent.patch(`/v1/agents/${other.address}`, { name: "hijacked" });
      expect(r.status).to.equal(403);
      expect(r.body.error.code).to.equal("NOT_OWNER");
      expect((await new Client(h.url).get(`/v1/agents/${other.address}`)).body.name).to.not.equal("hijacked");
      const self = await other.patch(`/v1/agents/${other.address}`, { name: "renamed-by-self" });
      expect(self.status).to.equal(200);
      expect(self.body.name).to.equal("renamed-by-self");
    });

    it("a wallet cannot cancel another buyer's task; the buyer can", async () => {
      const buyer = await newUser(h.url);
      const t = (await buyer.post("/v1/tasks", taskBody({ capability: "own.check" }))).body.tasks[0];
      for (const intruder of [wallet, agent]) {
        const r = await intruder.post(`/v1/tasks/${t.id}/cancel`);
        expect(r.status).to.equal(403);
        expect(r.body.error.code).to.equal("NOT_BUYER");
      }
      expect((await buyer.get(`/v1/tasks/${t.id}`)).body.status).to.equal("open");
      expect((await buyer.post(`/v1/tasks/${t.id}/cancel`)).body.status).to.equal("cancelled");
    });

    it("an agent cannot propose on a task it was not invited to", async () => {
      const r = await agent.post(`/v1/tasks/${own.agent.task}/proposals`, { price: "1", etaMs: 1 });
      expect(r.status).to.equal(403);
      expect(r.body.error.code).to.equal("NOT_INVITED");
    });
  });
});
