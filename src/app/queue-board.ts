import type { Express, NextFunction, Request, Response } from "express";
import { timingSafeEqual } from "node:crypto";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { AppContext } from "../context.js";

/** Where the operator's queue board is served. */
export const QUEUE_BOARD_PATH = "/admin/queues";

/**
 * Mounts Bull Board at /admin/queues for the operator: the admin key as `X-Admin-Key`, or as the
 * password of HTTP Basic authentication (any user name) so that a browser can open it. Shows
 * each queue's jobs (waiting, active, delayed, failed), with retry and clean.
 */
export function mountQueueBoard(app: Express, ctx: AppContext): void {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(QUEUE_BOARD_PATH);
  const q = ctx.queues;
  createBullBoard({ queues: [q.auctionClose, q.execution, q.chainTx, q.webhooks].map((x) => new BullMQAdapter(x)), serverAdapter: adapter, options: { uiConfig: { boardTitle: "AICP queues" } } });
  const key = Buffer.from(ctx.config.ADMIN_API_KEY);
  const same = (given: string) => {
    const b = Buffer.from(given);
    return b.length === key.length && timingSafeEqual(b, key);
  };
  const guard = (req: Request, res: Response, next: NextFunction) => {
    const header = req.header("x-admin-key");
    const basic = /^Basic\s+(\S+)$/i.exec(req.header("authorization") ?? "");
    const password = basic ? Buffer.from(basic[1]!, "base64").toString("utf8").split(":").slice(1).join(":") : undefined;
    if ((header !== undefined && same(header)) || (password !== undefined && same(password))) return next();
    res.setHeader("WWW-Authenticate", 'Basic realm="AICP operator (password: the admin key)"');
    res.status(401).json({ error: { code: "AUTH_REQUIRED", message: "The queue board is the operator's: give the admin key (X-Admin-Key, or as the Basic password)." } });
  };
  app.use(QUEUE_BOARD_PATH, guard, adapter.getRouter());
}
