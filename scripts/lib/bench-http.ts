/**
 * HTTP helpers shared by the benchmarks: node:http with one keep-alive agent (enough sockets
 * for every request in flight), a client bound to one wallet with SIWE sign-in, a server-sent
 * events reader, and small utilities (free ports, sleep).
 */
import { Agent, request, type IncomingMessage } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { Wallet } from "ethers";
import { SiweMessage } from "siwe";

export const ZERO = "0x0000000000000000000000000000000000000000";

export { setTimeout as sleep } from "node:timers/promises";

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The keep-alive agent every `call` goes through; `destroy()` it at the end of a run. */
export const http = new Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 1024 });

/** Requests answered so far by `call` (all clients). */
export const counters = { requests: 0 };

export type Reply<T> = { status: number; body: T; ms: number };

/** One HTTP request with a JSON body (or none); the reply body is parsed as JSON when it is JSON. */
export function call<T>(base: string, method: string, path: string, body?: unknown, token?: string): Promise<Reply<T>> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> = {};
  if (data !== undefined) Object.assign(headers, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  if (token) headers["authorization"] = `Bearer ${token}`;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(base + path, { method, headers, agent: http }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        counters.requests++;
        const text = Buffer.concat(chunks).toString();
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          /* not JSON (metrics) */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed as T, ms: performance.now() - t0 });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** An HTTP client for one wallet (a fresh random one unless given). */
export class Client {
  token?: string;
  readonly wallet: Wallet;
  constructor(
    readonly base: string,
    wallet?: Wallet,
  ) {
    this.wallet = wallet ?? (Wallet.createRandom() as unknown as Wallet);
  }
  get address() {
    return this.wallet.address.toLowerCase();
  }
  req<T>(method: string, path: string, body?: unknown) {
    return call<T>(this.base, method, path, body, this.token);
  }
  /** Sign-In with Ethereum (EIP-4361) for the coordinator's domain. */
  async login(chainId = 31337) {
    const { body } = await this.req<{ nonce: string }>("GET", "/v1/auth/nonce");
    const domain = new URL(this.base).host;
    const message = new SiweMessage({
      domain, address: this.wallet.address, statement: "Sign in to AICP", uri: `http://${domain}`, version: "1", chainId, nonce: body.nonce, issuedAt: new Date().toISOString(),
    }).prepareMessage();
    const r = await this.req<{ token: string }>("POST", "/v1/auth/login", { message, signature: await this.wallet.signMessage(message) });
    if (r.status !== 200) throw new Error(`login failed (${r.status}): ${JSON.stringify(r.body)}`);
    this.token = r.body.token;
  }
}

export type SseEvent = { type: string; data: Record<string, unknown> };

/**
 * Opens the coordinator's server-sent event stream (`GET /v1/events`) for a signed-in client
 * on its own connection and calls `onEvent` for each event. Resolves once the stream is open.
 */
export function openEvents(c: Client, onEvent: (e: SseEvent) => void): Promise<{ close(): void }> {
  const url = new URL(`${c.base}/v1/events`);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", headers: { authorization: `Bearer ${c.token}`, accept: "text/event-stream" } }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) return reject(new Error(`GET /v1/events answered ${res.statusCode}`));
      res.setEncoding("utf8");
      let buf = "";
      res.on("data", (chunk: string) => {
        buf += chunk;
        for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let type = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) type = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data) onEvent({ type, data: JSON.parse(data) as Record<string, unknown> });
        }
      });
      res.on("error", () => undefined);
      resolve({ close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}
