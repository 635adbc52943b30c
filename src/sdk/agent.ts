/**
 * The AICP agent SDK: a process that sells work on the marketplace.
 *
 * `createAgent(options)` returns an agent that, once started, signs in with its wallet
 * (Sign-In with Ethereum, EIP-4361), registers its capabilities (or updates its profile when it
 * is registered already), receives calls for proposals (FIPA Contract Net `cfp`) by long-poll
 * and by webhook or server-sent events, bids with a {@link PricingStrategy}, runs the work it
 * wins with your handler, and delivers the output (`inform-done`) or reports the failure.
 *
 * Two ways to receive the work:
 * - **webhook mode** (`endpoint` given): the agent serves `POST <endpoint>` and the coordinator
 *   pushes `cfp`, `accept-proposal`, `reject-proposal` and `task-assigned`, each signed with the
 *   agent's webhook secret (`X-AICP-Signature`, verified with a timestamp tolerance);
 * - **pull mode** (no `endpoint`): the agent holds the event stream `GET /v1/events` open and
 *   checks its running tasks periodically, so an event lost between two connections is picked
 *   up anyway.
 * In both modes calls for proposals are long-polled (`GET /v1/cfps?waitMs=`, unanswered only).
 *
 * Amounts are token base units as `bigint`; durations are milliseconds.
 *
 * @example
 * ```ts
 * const agent = createAgent({
 *   baseUrl: "http://127.0.0.1:3000",
 *   wallet: new Wallet(process.env.KEY!),
 *   name: "calculator",
 *   capabilities: [{ capability: "math.evaluate", minPrice: 1_000n }],
 *   pricing: competitive({ targetWinRate: 0.4 }),
 *   handler: async (task) => ({ result: evaluate(String((task.input as { expression: string }).expression)) }),
 * });
 * agent.on("delivered", (d) => console.log(`earned ${d.price} on ${d.taskId}`));
 * await agent.start();
 * ```
 */
import { sleep } from "./sleep.js";
import type { CallForProposals } from "../protocol/tasks.js";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AicpHttpError, createSession } from "./session.js";
import { clampBid, staticFloor } from "./pricing.js";
import { DEFAULT_WEBHOOK_TOLERANCE_MS, readServerSentEvents, verifyWebhookSignature } from "./webhook.js";
import type { AgentOptions, AgentEvents, Agent } from "./agent-types.js";

export type * from "./agent-types.js";
export { AicpHttpError, createSession, type AgentSigner, type Session, type SessionOptions } from "./session.js";
export { clampBid, competitive, loadAware, scalePrice, staticFloor } from "./pricing.js";
export type { BidContext, BidOutcome, CompetitiveOptions, CompetitiveState, PricingStrategy } from "./pricing.js";
export { DEFAULT_WEBHOOK_TOLERANCE_MS, readServerSentEvents, verifyWebhookSignature } from "./webhook.js";
export type { ServerSentEvent, WebhookRejection } from "./webhook.js";

/** One capability the agent sells. */
export const WEBHOOK_PATH = "/aicp/webhook";

const MAX_WEBHOOK_BODY = 2 * 1024 * 1024;
const QUOTE_TTL_MS = 30_000;
/** After the close, how long an outcome may take to arrive before the agent asks for it. */
const OUTCOME_GRACE_MS = 10_000;
/** How long remembered auctions and tasks are kept, for de-duplication. */
const MEMORY_MS = 3600_000;


const toBigInt = (v: bigint | string | number, what: string): bigint => {
  try {
    const b = BigInt(v);
    if (b < 0n) throw new Error("negative");
    return b;
  } catch {
    throw new TypeError(`${what} must be a non-negative integer amount in base units, got ${String(v)}`);
  }
};

type Assignment = { taskId: string; auctionId: string; capability: string; input: unknown; price: string | null; deadline: string; attempt: number };
type PendingBid = { capability: string; price: bigint; budget: bigint; taskIds: string[]; closesAt: number; token: string };

/**
 * Creates an agent (not started). See the module documentation for the protocol.
 * @throws TypeError on invalid options (no capabilities, negative prices, bad concurrency)
 */
export function createAgent(options: AgentOptions): Agent {
  if (!options.capabilities.length) throw new TypeError("an agent needs at least one capability");
  const maxConcurrency = options.maxConcurrency ?? 4;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1 || maxConcurrency > 1000) throw new TypeError("maxConcurrency must be an integer in 1..1000");
  const defaultEta = options.etaMs ?? 5_000;
  const offers = new Map(
    options.capabilities.map((c) => [c.capability, { floor: toBigInt(c.minPrice, `minPrice of ${c.capability}`), etaMs: c.etaMs ?? defaultEta }]),
  );
  if (offers.size !== options.capabilities.length) throw new TypeError("capabilities must be distinct");
  const pricing = options.pricing ?? staticFloor();
  const pollWaitMs = Math.min(60_000, Math.max(0, options.pollWaitMs ?? 25_000));
  const reconcileMs = options.reconcileMs ?? 5_000;
  const tolerance = options.webhookToleranceMs ?? DEFAULT_WEBHOOK_TOLERANCE_MS;
  const log = options.log ?? (() => undefined);
  const session = createSession({ baseUrl: options.baseUrl, wallet: options.wallet, ...options.siwe });
  const address = session.address;
  const mode: "webhook" | "pull" = options.endpoint ? "webhook" : "pull";

  const listeners = new Map<keyof AgentEvents, Set<(p: never) => void>>();
  function emit<E extends keyof AgentEvents>(event: E, payload: AgentEvents[E]) {
    for (const l of listeners.get(event) ?? []) {
      try {
        (l as (p: AgentEvents[E]) => void)(payload);
      } catch (err) {
        log("error", `listener of ${event} threw`, { err: (err as Error).message });
      }
    }
  }
  function on<E extends keyof AgentEvents>(event: E, l: (p: AgentEvents[E]) => void) {
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(l as (p: never) => void);
    return () => void set.delete(l as (p: never) => void);
  }
  const problem = (context: string, error: unknown) => {
    const e = error instanceof Error ? error : new Error(String(error));
    log("warn", context, { err: e.message });
    emit("error", { error: e, context });
  };

  const stats = { bids: 0, wins: 0, losses: 0, failovers: 0, delivered: 0, failed: 0, earnings: 0n, earningsByToken: {} as Record<string, bigint> };
  let running = 0;
  let secret: string | undefined = options.webhookSecret;
  let server: Server | undefined;
  let webhookUrl: string | undefined;
  /** Aborted by `stop()`: no new work. */
  let stopper = new AbortController();
  /** Aborted when `stop()` has waited out its drain time: running tasks are given up. */
  let killer = new AbortController();
  let started = false;
  const background: Promise<unknown>[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let unwatchPayouts: (() => void) | undefined;

  /** Auctions already considered (bid on, or declined for good), by auction id → when to forget. */
  const considered = new Map<string, number>();
  /** Bids awaiting their outcome. */
  const pending = new Map<string, PendingBid>();
  /** Auctions whose outcome is recorded. */
  const decided = new Map<string, { outcome: "won" | "lost"; at: number }>();
  /** Assignments taken, by `taskId:attempt`. */
  const taken = new Map<string, number>();
  /** Token of each task's auction, for the earnings per token. */
  const tokens = new Map<string, string>();
  const quotes = new Map<string, { at: number; price: Promise<bigint | undefined> }>();

  // Waking the long-poll loop early: a cfp webhook or SSE event, or a freed slot.
  let wake: () => void = () => undefined;
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = () => undefined;
        resolve();
      }
      wake = done;
      if (stopper.signal.aborted) done();
    });

  function quoteFor(cfp: CallForProposals): Promise<bigint | undefined> {
    const key = `${cfp.capability}|${cfp.complexity}|${cfp.urgency}`;
    const hit = quotes.get(key);
    if (hit && Date.now() - hit.at < QUOTE_TTL_MS) return hit.price;
    const qs = new URLSearchParams({ capability: cfp.capability, complexity: String(cfp.complexity), urgency: cfp.urgency, agent: address });
    const price = session
      .request<{ price: string; agent?: { price: string } }>("GET", `/v1/pricing/quote?${qs}`)
      .then((q) => BigInt(q.agent?.price ?? q.price))
      .catch((err) => {
        problem("pricing quote", err);
        quotes.delete(key);
        return undefined;
      });
    quotes.set(key, { at: Date.now(), price });
    return price;
  }

  // ---- bidding -------------------------------------------------------------------------

  async function consider(cfp: CallForProposals): Promise<void> {
    if (stopper.signal.aborted || considered.has(cfp.auctionId) || decided.has(cfp.auctionId)) return;
    const offer = offers.get(cfp.capability);
    const closesAt = Date.parse(cfp.closesAt) || Date.now();
    const forgetAt = Math.max(closesAt, Date.now()) + MEMORY_MS;
    if (!offer || cfp.myProposal || !Array.isArray(cfp.taskIds) || !cfp.taskIds.length || !/^\d+$/.test(String(cfp.budget))) {
      considered.set(cfp.auctionId, forgetAt);
      return;
    }
    // Full: leave the call unconsidered, so that it is looked at again when a slot frees up.
    if (running + pendingWins() >= maxConcurrency) return;
    considered.set(cfp.auctionId, forgetAt);
    const budget = BigInt(cfp.budget);
    let price: bigint | undefined;
    try {
      const asked = await pricing.price({
        auctionId: cfp.auctionId,
        capability: cfp.capability,
        floor: offer.floor,
        budget,
        complexity: cfp.complexity,
        urgency: cfp.urgency,
        rule: cfp.rule,
        load: running + pendingWins(),
        maxConcurrency,
        quote: () => quoteFor(cfp),
      });
      price = asked === undefined ? undefined : clampBid(asked, offer.floor, budget);
    } catch (err) {
      problem(`pricing strategy ${pricing.name}`, err);
      return;
    }
    if (price === undefined) {
      log("debug", "not bidding", { auctionId: cfp.auctionId, floor: String(offer.floor), budget: cfp.budget });
      return;
    }
    const taskId = cfp.taskIds[0]!;
    tokens.set(cfp.auctionId, cfp.token.toLowerCase());
    pending.set(cfp.auctionId, { capability: cfp.capability, price, budget, taskIds: cfp.taskIds, closesAt, token: cfp.token.toLowerCase() });
    try {
      await session.request("POST", `/v1/tasks/${taskId}/proposals`, { price: price.toString(), etaMs: offer.etaMs }, { signal: stopper.signal });
    } catch (err) {
      pending.delete(cfp.auctionId);
      // A network failure may be retried at the next poll; a refusal is final for this call.
      if (err instanceof AicpHttpError && err.status === 0) considered.delete(cfp.auctionId);
      if (!stopper.signal.aborted) problem(`proposal on ${cfp.auctionId}`, err);
      return;
    }
    stats.bids++;
    log("debug", "bid", { auctionId: cfp.auctionId, price: price.toString() });
    emit("bid", { auctionId: cfp.auctionId, taskId, capability: cfp.capability, price, budget });
  }

  /** Bids whose auction has closed but whose outcome is not known yet count toward the load. */
  function pendingWins() {
    const now = Date.now();
    let n = 0;
    for (const p of pending.values()) if (p.closesAt <= now) n++;
    return n;
  }

  function recordOutcome(auctionId: string, won: boolean, taskId: string | undefined, price: bigint | undefined, failover: boolean) {
    const prev = decided.get(auctionId);
    if (prev) {
      // A failover award after a loss: a new task for this agent, but not a new auction outcome.
      if (won && failover && prev.outcome === "lost" && taskId) {
        prev.outcome = "won";
        stats.failovers++;
        emit("won", { auctionId, taskId, price: price ?? 0n, failover: true });
      }
      return;
    }
    const bid = pending.get(auctionId);
    pending.delete(auctionId);
    decided.set(auctionId, { outcome: won ? "won" : "lost", at: Date.now() });
    // A failover award means the auction itself was lost (its first winner failed).
    const wonAuction = won && !failover;
    if (wonAuction) {
      stats.wins++;
      emit("won", { auctionId, taskId: taskId ?? bid?.taskIds[0] ?? "", price: price ?? bid?.price ?? 0n, failover: false });
    } else {
      if (bid) {
        stats.losses++;
        emit("lost", { auctionId, taskIds: bid.taskIds });
      }
      if (won) {
        stats.failovers++;
        emit("won", { auctionId, taskId: taskId ?? "", price: price ?? 0n, failover: true });
      }
    }
    if (bid) {
      try {
        pricing.observe?.({ capability: bid.capability, won: wonAuction, price: bid.price, budget: bid.budget });
      } catch (err) {
        problem(`pricing strategy ${pricing.name} (observe)`, err);
      }
    }
    wake();
  }

  async function pollLoop() {
    const signal = stopper.signal;
    let backoff = 250;
    while (!signal.aborted) {
      try {
        const { items } = await session.request<{ items: CallForProposals[] }>("GET", `/v1/cfps?waitMs=${pollWaitMs}`, undefined, { signal });
        backoff = 250;
        const fresh = items.filter((c) => !considered.has(c.auctionId) && !decided.has(c.auctionId));
        for (const c of fresh) track(consider(c));
        // The list holds calls still open that this agent declined or cannot take now: the
        // coordinator answers at once while there are any, so wait for news instead of spinning.
        if (items.length > 0) await nap(fresh.length ? 50 : 500);
      } catch (err) {
        if (signal.aborted) break;
        problem("long-poll of calls for proposals", err);
        await sleep(backoff, signal);
        backoff = Math.min(10_000, backoff * 2);
      }
    }
  }

  // ---- work ----------------------------------------------------------------------------

  function track<T>(p: Promise<T>): Promise<T> {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  }

  async function tokenOf(auctionId: string, taskId: string): Promise<string> {
    const known = tokens.get(auctionId);
    if (known) return known;
    try {
      const t = await session.request<{ token: string }>("GET", `/v1/tasks/${taskId}`);
      tokens.set(auctionId, t.token.toLowerCase());
      return t.token.toLowerCase();
    } catch {
      return "unknown";
    }
  }

  function assigned(a: Assignment) {
    const key = `${a.taskId}:${a.attempt}`;
    if (taken.has(key) || stopper.signal.aborted) return;
    taken.set(key, Date.now() + MEMORY_MS);
    const price = a.price === null ? 0n : BigInt(a.price);
    // The assignment may come before `accept-proposal` (webhooks are queued; SSE may have
    // missed it): it is the award too. After a recorded loss it can only be a failover.
    const prev = decided.get(a.auctionId);
    if (!prev) recordOutcome(a.auctionId, true, a.taskId, price, false);
    else if (prev.outcome === "lost") recordOutcome(a.auctionId, true, a.taskId, price, true);
    track(run(a, price));
  }

  async function run(a: Assignment, price: bigint) {
    running++;
    const started = Date.now();
    const abort = new AbortController();
    const deadline = new Date(a.deadline);
    // setTimeout holds at most 2^31 − 1 ms (~24.8 days); a later deadline would fire at once.
    const timeoutMs = Math.min(2 ** 31 - 1, options.taskTimeoutMs ?? Math.max(0, deadline.getTime() - Date.now()));
    let timer: NodeJS.Timeout | undefined;
    let onKill: () => void = () => undefined;
    // Gives up at the timeout, or when `stop()` has waited out its drain time.
    const givenUp = new Promise<never>((_, reject) => {
      const giveUp = (e: Error) => {
        abort.abort(e);
        reject(e);
      };
      timer = setTimeout(() => giveUp(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      onKill = () => giveUp(new Error("the agent stopped before finishing the task"));
      killer.signal.addEventListener("abort", onKill, { once: true });
    });
    try {
      let output: unknown;
      try {
        output = await Promise.race([
          options.handler({ taskId: a.taskId, auctionId: a.auctionId, capability: a.capability, input: a.input, price, deadline, attempt: a.attempt, signal: abort.signal }),
          givenUp,
        ]);
        if (output === undefined) throw new Error("the handler returned no output");
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        stats.failed++;
        let reported = false;
        try {
          await session.request("POST", `/v1/tasks/${a.taskId}/failure`, { reason: (error.message || "failed").slice(0, 500) });
          reported = true;
        } catch (e) {
          problem(`failure report of ${a.taskId}`, e);
        }
        log("info", "task failed", { taskId: a.taskId, attempt: a.attempt, err: error.message });
        emit("failed", { taskId: a.taskId, capability: a.capability, attempt: a.attempt, error, reported });
        return;
      }
      try {
        const r = await session.request<{ resultHash: string }>("POST", `/v1/tasks/${a.taskId}/result`, { output });
        const token = await tokenOf(a.auctionId, a.taskId);
        stats.delivered++;
        stats.earnings += price;
        stats.earningsByToken[token] = (stats.earningsByToken[token] ?? 0n) + price;
        log("info", "delivered", { taskId: a.taskId, price: price.toString(), ms: Date.now() - started });
        emit("delivered", { taskId: a.taskId, capability: a.capability, price, token, resultHash: r.resultHash, durationMs: Date.now() - started });
      } catch (err) {
        // Refused (the task timed out, or was failed over meanwhile) or unreachable.
        stats.failed++;
        const error = err instanceof Error ? err : new Error(String(err));
        problem(`delivery of ${a.taskId}`, error);
        emit("failed", { taskId: a.taskId, capability: a.capability, attempt: a.attempt, error, reported: false });
      }
    } finally {
      clearTimeout(timer);
      killer.signal.removeEventListener("abort", onKill);
      running--;
      wake();
    }
  }

  // ---- pull mode: event stream and reconciliation -----------------------------------------

  function onEvent(type: string, data: Record<string, unknown>) {
    switch (type) {
      case "cfp":
        track(consider(data as unknown as CallForProposals));
        wake();
        break;
      case "accept-proposal": {
        const price = typeof data["price"] === "string" ? BigInt(data["price"]) : undefined;
        const failover = data["failover"] === true;
        // A bid of this agent's, or a failover to it; the assignment itself records any other award.
        if (pending.has(String(data["auctionId"])) || failover) recordOutcome(String(data["auctionId"]), true, String(data["taskId"]), price, failover);
        break;
      }
      case "reject-proposal":
        // Only for a bid of this agent's that awaits its outcome (anything else is stale or foreign).
        if (pending.has(String(data["auctionId"]))) recordOutcome(String(data["auctionId"]), false, undefined, undefined, false);
        break;
      case "task-assigned":
        assigned(data as unknown as Assignment);
        break;
    }
  }

  async function streamLoop() {
    const signal = stopper.signal;
    let backoff = 250;
    while (!signal.aborted) {
      try {
        const res = await session.open("/v1/events", { signal, headers: { accept: "text/event-stream" } });
        backoff = 250;
        // Events published before the coordinator subscribed this stream are not replayed.
        track(reconcile());
        for await (const ev of readServerSentEvents(res.body!)) {
          let data: Record<string, unknown>;
          try {
            data = JSON.parse(ev.data) as Record<string, unknown>;
          } catch {
            continue;
          }
          onEvent(ev.event, data);
        }
      } catch (err) {
        if (signal.aborted) break;
        problem("event stream", err);
      }
      await sleep(backoff, signal);
      backoff = Math.min(10_000, backoff * 2);
    }
  }

  /** Running tasks of this agent that no event announced (pull mode), and outcomes of overdue bids. */
  async function reconcile() {
    if (stopper.signal.aborted) return;
    if (mode === "pull") {
      try {
        const list = await session.request<{ items: { id: string; auctionId: string; capability: string; input: unknown; price: string | null; deadline: string; token: string; execution: { attempts: number } }[] }>(
          "GET",
          `/v1/tasks?agent=${address}&status=running&limit=200`,
        );
        for (const t of list.items) {
          tokens.set(t.auctionId, t.token.toLowerCase());
          assigned({ taskId: t.id, auctionId: t.auctionId, capability: t.capability, input: t.input, price: t.price, deadline: t.deadline, attempt: t.execution.attempts });
        }
      } catch (err) {
        problem("reconciling running tasks", err);
      }
    }
    const now = Date.now();
    const overdue = [...pending.entries()].filter(([, b]) => b.closesAt + OUTCOME_GRACE_MS < now).slice(0, 20);
    for (const [auctionId, bid] of overdue) {
      try {
        const t = await session.request<{ agent: string | null; price: string | null; auction: { status: string }; proposals?: { agent: string; outcome: string }[] }>(
          "GET",
          `/v1/tasks/${bid.taskIds[0]}`,
        );
        const mine = t.proposals?.find((p) => p.agent === address);
        if (mine?.outcome === "accepted") recordOutcome(auctionId, true, bid.taskIds[0], t.price ? BigInt(t.price) : bid.price, false);
        else if (mine?.outcome === "rejected") recordOutcome(auctionId, false, undefined, undefined, false);
        else if (t.auction.status !== "open") pending.delete(auctionId); // cancelled or expired: no outcome
      } catch (err) {
        if (err instanceof AicpHttpError && err.status === 404) pending.delete(auctionId);
        else problem(`outcome of ${auctionId}`, err);
      }
    }
    for (const m of [considered, taken]) for (const [k, until] of m) if (until < now) m.delete(k);
    for (const [k, d] of decided) if (d.at + MEMORY_MS < now) decided.delete(k);
  }

  async function reconcileLoop() {
    const signal = stopper.signal;
    while (!signal.aborted) {
      await sleep(reconcileMs, signal);
      if (!signal.aborted) await reconcile();
    }
  }

  // ---- webhook mode --------------------------------------------------------------------

  function readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_WEBHOOK_BODY) {
          reject(new Error("body too large"));
          req.destroy();
        } else chunks.push(c);
      });
      req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      req.on("error", reject);
    });
  }

  function serve(host: string, port: number): Promise<Server> {
    const srv = createServer((req, res) => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "POST" || path !== WEBHOOK_PATH) {
        res.writeHead(404).end();
        return;
      }
      readBody(req).then(
        (raw) => {
          const header = req.headers["x-aicp-signature"];
          const v = verifyWebhookSignature(secret ?? "", Array.isArray(header) ? header[0] : header, raw, tolerance);
          if (!secret || !v.ok) {
            problem("webhook refused", new Error(`signature ${v.ok ? "unverifiable (no secret)" : v.reason}`));
            res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: v.ok ? "no secret" : v.reason }));
            return;
          }
          let ev: { type?: unknown; data?: unknown };
          try {
            ev = JSON.parse(raw) as typeof ev;
          } catch {
            res.writeHead(400).end();
            return;
          }
          if (typeof ev.type !== "string" || typeof ev.data !== "object" || ev.data === null) {
            res.writeHead(400).end();
            return;
          }
          // Refuse new work while stopping: the coordinator retries or fails over.
          if (ev.type === "task-assigned" && stopper.signal.aborted) {
            res.writeHead(503).end();
            return;
          }
          res.writeHead(ev.type === "task-assigned" ? 200 : 204).end();
          onEvent(ev.type, ev.data as Record<string, unknown>);
        },
        () => {
          res.writeHead(413).end();
        },
      );
    });
    return new Promise((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(port, host, () => {
        srv.off("error", reject);
        resolve(srv);
      });
    });
  }

  // ---- registration --------------------------------------------------------------------

  async function register() {
    const body = {
      name: options.name,
      capabilities: options.capabilities.map((c) => ({ capability: c.capability, minPrice: offers.get(c.capability)!.floor.toString() })),
      endpointUrl: webhookUrl ?? null,
      maxConcurrency,
    };
    try {
      const r = await session.request<{ webhookSecret: string }>("POST", "/v1/agents", body);
      secret = r.webhookSecret;
      if (options.secretFile) {
        await mkdir(dirname(options.secretFile), { recursive: true });
        await writeFile(options.secretFile, `${secret}\n`, { mode: 0o600 });
      }
      log("info", "registered", { address, mode });
      return;
    } catch (err) {
      if (!(err instanceof AicpHttpError && err.code === "AGENT_EXISTS")) throw err;
    }
    if (!secret && options.secretFile) secret = (await readFile(options.secretFile, "utf8").catch(() => "")).trim() || undefined;
    if (mode === "webhook" && !secret)
      throw new Error(
        `${address} is registered already and its webhook secret is unknown (the coordinator returns it only at the first registration): pass webhookSecret or secretFile, or run in pull mode`,
      );
    await session.request("PATCH", `/v1/agents/${address}`, body);
    log("info", "updated registration", { address, mode });
  }

  return {
    address,
    mode,
    session,
    get webhookUrl() {
      return webhookUrl;
    },
    async start() {
      if (started) throw new Error("the agent is started already");
      started = true;
      stopper = new AbortController();
      killer = new AbortController();
      try {
        await session.login();
        if (options.endpoint) {
          server = await serve(options.endpoint.host, options.endpoint.port);
          const port = (server.address() as AddressInfo).port;
          const host = options.endpoint.host.includes(":") ? `[${options.endpoint.host}]` : options.endpoint.host;
          webhookUrl = options.endpoint.publicUrl ?? `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}${WEBHOOK_PATH}`;
        }
        await register();
      } catch (err) {
        started = false;
        await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
        server = undefined;
        throw err;
      }
      background.push(pollLoop(), reconcileLoop());
      if (mode === "pull") background.push(streamLoop());
      if (options.payouts) {
        try {
          unwatchPayouts = await options.payouts.watch((p) => emit("payout", p));
        } catch (err) {
          problem("payouts watch", err);
        }
      }
    },
    async stop(opts = {}) {
      if (!started) return;
      stopper.abort();
      wake();
      const drainUntil = Date.now() + (opts.drainMs ?? 5_000);
      while (inFlight.size && Date.now() < drainUntil) await Promise.race([Promise.allSettled([...inFlight]), sleep(Math.max(0, drainUntil - Date.now()))]);
      // What is still running is given up and reported as failed (bounded: reports time out).
      killer.abort();
      await Promise.race([Promise.allSettled([...inFlight]), sleep(5_000)]);
      await Promise.allSettled(background.splice(0));
      unwatchPayouts?.();
      unwatchPayouts = undefined;
      if (server) {
        const s = server;
        server = undefined;
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
      started = false;
    },
    stats() {
      const decidedCount = stats.wins + stats.losses;
      return { ...stats, earningsByToken: { ...stats.earningsByToken }, running, winRate: decidedCount ? stats.wins / decidedCount : 0 };
    },
    on,
    once(event, filter) {
      return new Promise((resolve) => {
        const off = on(event, (p) => {
          if (filter && !filter(p)) return;
          off();
          resolve(p);
        });
      });
    },
    async withdraw(token) {
      if (!options.payouts) throw new Error("no payouts provider is configured: pass payouts: createChainPayouts({ chain, wallet }) to createAgent");
      return options.payouts.withdraw(token);
    },
  };
}
