import { Redis } from "ioredis";
import type { Logger } from "../logger.js";

/**
 * Messages to one participant (an agent or a buyer), fanned out through Redis pub/sub so that
 * every API replica can serve long-polls and SSE streams, whichever replica produced the event.
 * Event types follow FIPA Contract Net performatives: `cfp`, `accept-proposal`,
 * `reject-proposal`, plus task status changes (`task`).
 */
export type MarketEvent = { type: string; data: Record<string, unknown> };

export type EventBus = {
  /** Publishes to one address (lower-case hex). Fire-and-forget: delivery is at most once. */
  publish(address: string, event: MarketEvent): Promise<void>;
  /** Publishes many events in one round trip. */
  publishMany(items: { address: string; event: MarketEvent }[]): Promise<void>;
  /** Calls `handler` for each event to `address` until the returned function is called. */
  subscribe(address: string, handler: (e: MarketEvent) => void): Promise<() => void>;
  close(): Promise<void>;
};

export function createEventBus(redis: Redis, prefix: string, log: Logger): EventBus {
  const channel = (address: string) => `${prefix}:events:${address}`;
  let sub: Redis | undefined;
  const handlers = new Map<string, Set<(e: MarketEvent) => void>>();

  const subscriber = () => {
    if (!sub) {
      sub = redis.duplicate();
      sub.on("message", (ch: string, raw: string) => {
        const set = handlers.get(ch);
        if (!set) return;
        let ev: MarketEvent;
        try {
          ev = JSON.parse(raw) as MarketEvent;
        } catch (err) {
          log.warn({ err, ch }, "undecodable event");
          return;
        }
        for (const h of set) h(ev);
      });
    }
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
      let set = handlers.get(ch);
      if (!set) {
        set = new Set();
        handlers.set(ch, set);
        await subscriber().subscribe(ch);
      }
      set.add(handler);
      return () => {
        const s = handlers.get(ch);
        if (!s) return;
        s.delete(handler);
        if (s.size === 0) {
          handlers.delete(ch);
          sub?.unsubscribe(ch).catch(() => undefined);
        }
      };
    },
    async close() {
      handlers.clear();
      if (sub) sub.disconnect();
    },
  };
}
