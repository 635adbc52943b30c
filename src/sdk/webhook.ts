/**
 * Verification of the coordinator's signed webhooks and parsing of its server-sent events.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Default tolerance between a webhook's timestamp and the agent's clock, ms (5 minutes, as Stripe's). */
export const DEFAULT_WEBHOOK_TOLERANCE_MS = 5 * 60_000;

/** Why a webhook signature was refused. */
export type WebhookRejection = "missing" | "malformed" | "stale" | "mismatch";

/**
 * Verifies `X-AICP-Signature: t=<ms>,v1=<hex HMAC-SHA256(secret, "<ms>.<body>")>` over the raw
 * request body (the bytes as received, before any JSON parsing).
 * @param secret the `webhookSecret` returned once by `POST /v1/agents`
 * @param header the header's value (`undefined` when absent)
 * @param rawBody the body exactly as received (UTF-8)
 * @param toleranceMs largest accepted |now − t|, ms; refuses replays of old deliveries
 * @param nowMs the agent's clock, ms since the epoch
 * @returns `{ ok: true, timestampMs }`, or `{ ok: false, reason }`
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  rawBody: string,
  toleranceMs = DEFAULT_WEBHOOK_TOLERANCE_MS,
  nowMs = Date.now(),
): { ok: true; timestampMs: number } | { ok: false; reason: WebhookRejection } {
  if (!header) return { ok: false, reason: "missing" };
  const parts = new Map<string, string[]>();
  for (const kv of header.split(",")) {
    const i = kv.indexOf("=");
    if (i <= 0) return { ok: false, reason: "malformed" };
    const k = kv.slice(0, i).trim();
    parts.set(k, [...(parts.get(k) ?? []), kv.slice(i + 1).trim()]);
  }
  const t = parts.get("t")?.[0];
  const sigs = (parts.get("v1") ?? []).filter((s) => /^[0-9a-f]{64}$/i.test(s));
  if (!t || !/^\d{1,16}$/.test(t) || sigs.length === 0) return { ok: false, reason: "malformed" };
  const timestampMs = Number(t);
  if (Math.abs(nowMs - timestampMs) > toleranceMs) return { ok: false, reason: "stale" };
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest();
  // Several v1 values may be sent while a secret rotates; any one matching is enough.
  const ok = sigs.some((s) => timingSafeEqual(Buffer.from(s, "hex"), expected));
  return ok ? { ok: true, timestampMs } : { ok: false, reason: "mismatch" };
}

/** One server-sent event (`text/event-stream`, WHATWG HTML §9.2). */
export type ServerSentEvent = { event: string; data: string; id?: string };

/**
 * Parses a `text/event-stream` body into events: `event:` (default `message`), `data:` lines
 * joined by `\n`, `id:`; comment lines (`:`) and unknown fields are skipped.
 * @param body the response body stream
 */
export async function* readServerSentEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder();
  let buf = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;
  const flushLine = function* (line: string): Generator<ServerSentEvent> {
    if (line === "") {
      if (data.length) yield { event: event || "message", data: data.join("\n"), ...(id !== undefined ? { id } : {}) };
      event = "";
      data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  };
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      if (buf[nl] === "\r" && nl === buf.length - 1) break; // a "\r\n" split across chunks
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
      yield* flushLine(line);
    }
  }
}
