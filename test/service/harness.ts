/**
 * Test harness: a real coordinator in-process against real Postgres (a fresh schema per
 * harness) and real Redis (a unique queue prefix), called over real HTTP sockets.
 */
import { randomBytes } from "node:crypto";
import { Wallet } from "ethers";
import { SiweMessage } from "siwe";
import { loadConfig, type Config } from "../../src/config.js";
import { dropSchema } from "../../src/db/index.js";
import { startCoordinator, type Coordinator, type Role } from "../../src/app/coordinator.js";

export const ZERO = "0x0000000000000000000000000000000000000000";

export type Harness = {
  c: Coordinator;
  url: string;
  config: Config;
  stop(opts?: { keepSchema?: boolean }): Promise<void>;
};

/** A unique schema and queue prefix for one test file. */
export function isolation(tag: string) {
  const suffix = `${tag}_${process.pid}_${randomBytes(3).toString("hex")}`;
  return { DATABASE_SCHEMA: `t_${suffix}`.toLowerCase(), QUEUE_PREFIX: `aicp-test-${suffix}` };
}

export async function startHarness(
  env: Record<string, string> = {},
  role: Role = "all",
  opts: { sweepMs?: number } = {},
): Promise<Harness> {
  const iso = isolation("h");
  const config = loadConfig({
    PORT: "0",
    LOG_LEVEL: "silent",
    DATABASE_URL: process.env["TEST_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/aicp_test",
    CHAIN_RPC_URL: "http://127.0.0.1:1", // unreachable unless a test supplies a chain
    DEPLOYMENTS_FILE: "deployments/does-not-exist.json",
    RATE_LIMIT_PER_MINUTE: "0",
    AUCTION_MIN_WINDOW_MS: "0",
    ...iso,
    SETTLEMENT: env["DEPLOYMENTS_FILE"] ? "chain" : "none",
    ...env,
  });
  const c = await startCoordinator(config, role, opts);
  return {
    c,
    url: c.url ?? "",
    config,
    async stop(o = {}) {
      await c.close();
      if (!o.keepSchema) await dropSchema(config.DATABASE_URL, config.DATABASE_SCHEMA);
    },
  };
}

export type Reply<T = any> = { status: number; body: T; headers: Headers }; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A small HTTP client bound to one identity (a wallet, the operator, or nobody). */
export class Client {
  token?: string;
  adminKey?: string;
  constructor(
    readonly base: string,
    readonly wallet?: Wallet,
  ) {}

  get address(): string {
    return this.wallet!.address.toLowerCase();
  }

  async req<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h["content-type"] = "application/json";
    if (this.token) h["authorization"] = `Bearer ${this.token}`;
    if (this.adminKey) h["x-admin-key"] = this.adminKey;
    const res = await fetch(this.base + path, { method, headers: h, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get = <T = any>(p: string) => this.req<T>("GET", p); // eslint-disable-line @typescript-eslint/no-explicit-any
  post = <T = any>(p: string, b?: unknown) => this.req<T>("POST", p, b ?? {}); // eslint-disable-line @typescript-eslint/no-explicit-any
  patch = <T = any>(p: string, b?: unknown) => this.req<T>("PATCH", p, b ?? {}); // eslint-disable-line @typescript-eslint/no-explicit-any

  /** Signs in with an EIP-4361 message for this server's domain and chain. */
  async login(opts: { domain?: string; chainId?: number } = {}): Promise<Reply> {
    const { body } = await this.get<{ nonce: string }>("/v1/auth/nonce");
    const msg = siweMessage(this.wallet!, body.nonce, opts.domain ?? new URL(this.base).host, opts.chainId ?? 31337);
    const signature = await this.wallet!.signMessage(msg);
    const r = await this.post("/v1/auth/login", { message: msg, signature });
    if (r.status === 200) this.token = r.body.token;
    return r;
  }
}

export function siweMessage(wallet: Wallet, nonce: string, domain: string, chainId: number, extra: Partial<SiweMessage> = {}) {
  return new SiweMessage({
    domain,
    address: wallet.address,
    statement: "Sign in to AICP",
    uri: `http://${domain}`,
    version: "1",
    chainId,
    nonce,
    issuedAt: new Date().toISOString(),
    ...extra,
  }).prepareMessage();
}

/** Signs in a wallet (a fresh random one by default). */
export async function newUser(base: string, wallet?: Wallet): Promise<Client> {
  const c = new Client(base, wallet ?? (Wallet.createRandom() as unknown as Wallet));
  const r = await c.login();
  if (r.status !== 200) throw new Error(`login failed: ${JSON.stringify(r.body)}`);
  return c;
}

/** Signs in and registers a fresh agent with the given capabilities. */
export async function newAgent(base: string, caps: Record<string, bigint | number> = { "text.summarize": 0 }, extra: Record<string, unknown> = {}, wallet?: Wallet) {
  const c = await newUser(base, wallet);
  const r = await c.post("/v1/agents", {
    name: `agent-${c.address.slice(2, 8)}`,
    capabilities: Object.entries(caps).map(([capability, min]) => ({ capability, minPrice: String(min) })),
    ...extra,
  });
  if (r.status !== 201) throw new Error(`agent registration failed: ${JSON.stringify(r.body)}`);
  return Object.assign(c, { webhookSecret: r.body.webhookSecret as string });
}

export function taskBody(over: Record<string, unknown> = {}) {
  return {
    capability: "text.summarize",
    input: { text: "hello world" },
    complexity: 3,
    urgency: "normal",
    budget: "1000000",
    token: ZERO,
    deadline: new Date(Date.now() + 3600_000).toISOString(),
    auction: { rule: "second-price", windowMs: 60_000 },
    route: "auto",
    ...over,
  };
}

export async function until<T>(f: () => Promise<T | undefined | false>, ms = 5_000, step = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, step));
  }
}
