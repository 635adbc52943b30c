import { Redis } from "ioredis";
import type { Logger } from "../logger.js";

/**
 * Messages to one participant (an agent or a buyer), fanned out through Redis pub/sub so that
 * every API replica can serve long-polls and SSE streams, whichever replica produced the event.
 * Event types follow FIPA Contract Net performatives: `cfp`, `accept-proposal`,
 * `reject-proposal`, plus task status changes (`task`).
 */
export type MarketEvent = { type: string; data: Record<string, unknown> };

/** One participant-facing message produced by a state change, sent after the commit (`webhook`: also as a signed webhook when the agent has an endpoint). */
export type Outgoing = { address: string; event: MarketEvent; webhook?: boolean };

export type EventBus = {
  /** Publishes to one address (lower-case hex). Fire-and-forget: delivery is at most once. */
  publish(address: string, event: MarketEvent): Promise<void>;
  /** Publishes many events in one round trip. */
  publishMany(items: { address: string; event: MarketEvent }[]): Promise<void>;
  /** Calls `handler` for each event to `address` until the returned function is called. */
  subscribe(address: string, handler: (e: MarketEvent) => void): Promise<() => void>;
  close(): Promise<void>;
};

/** How long a channel stays subscribed after its last handler left (long-polls come right back). */
const LINGER_MS = 30_000;

export function createEventBus(redis: Redis, prefix: string, log: Logger): EventBus {
  const channel = (address: string) => `${prefix}:events:${address}`;
  let sub: Promise<Redis> | undefined;
  /** Handlers per channel; `ready` settles when Redis has acknowledged the SUBSCRIBE. */
  type Channel = { handlers: Set<(e: MarketEvent) => void>; ready: Promise<void>; linger?: NodeJS.Timeout };
  const channels = new Map<string, Channel>();

  // One connection in subscriber mode, connected before its first SUBSCRIBE: a lazily
  // connecting client would send its ready check (INFO) after the queued SUBSCRIBE, which Redis
  // refuses in subscriber mode, and that SUBSCRIBE would fail.
  const subscriber = () => {
    sub ??= (async () => {
      const s = redis.duplicate({ lazyConnect: true });
      s.on("error", (err: Error) => log.warn({ err: err.message }, "Redis subscriber connection error"));
      s.on("message", (ch: string, raw: string) => {
        const c = channels.get(ch);
        if (!c || c.handlers.size === 0) return;
        let ev: MarketEvent;
        try {
          ev = JSON.parse(raw) as MarketEvent;
        } catch (err) {
          log.warn({ err, ch }, "undecodable event");
          return;
        }
        for (const h of c.handlers) h(ev);
      });
      try {
        await s.connect();
      } catch (err) {
        s.disconnect();
        sub = undefined; // the next subscribe tries again
        throw err;
      }
      return s;
    })();
    return sub;
  };

  return {
    async publish(address, event) {
      await redis.publish(channel(address), JSON.stringify(event));
    },
    async publishMany(items) {
      if (items.length === 0) return;
      const p = redis.pipeline();
      for (const { address, event } of items) p.publish(channel(address), JSON.stringify(event));
      await p.exec();
    },
    async subscribe(address, handler) {
      const ch = channel(address);
      let c = channels.get(ch);
      if (!c) {
        const entry: Channel = {
          handlers: new Set(),
          ready: subscriber().then((s) => s.subscribe(ch)).then(() => undefined),
        };
        c = entry;
        channels.set(ch, entry);
        // A failed SUBSCRIBE must not leave a channel that looks subscribed behind.
        entry.ready.catch(() => {
          if (channels.get(ch) === entry) channels.delete(ch);
        });
      }
      if (c.linger) {
        clearTimeout(c.linger);
        c.linger = undefined;
      }
      c.handlers.add(handler);
      try {
        // Every caller waits for the acknowledgement: events published after this resolves
        // reach the handler.
        await c.ready;
      } catch (err) {
        c.handlers.delete(handler);
        throw err;
      }
      const entry = c;
      return () => {
        entry.handlers.delete(handler);
        if (entry.handlers.size > 0 || channels.get(ch) !== entry || entry.linger) return;
        // Unsubscribe a little later: the same agent's next long-poll usually comes right back.
        entry.linger = setTimeout(() => {
          entry.linger = undefined;
          if (entry.handlers.size > 0 || channels.get(ch) !== entry) return;
          channels.delete(ch);
          void sub?.then((s) => s.unsubscribe(ch)).catch(() => undefined);
        }, LINGER_MS);
        entry.linger.unref();
      };
    },
    async close() {
      for (const c of channels.values()) if (c.linger) clearTimeout(c.linger);
      channels.clear();
      const s = await sub?.catch(() => undefined);
      s?.disconnect();
    },
  };
}
