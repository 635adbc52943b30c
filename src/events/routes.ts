import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import type { EventBus } from "./bus.js";

/** Server-sent events (text/event-stream) of everything addressed to the signed-in wallet. */
export function registerEventRoutes(api: Api, bus: EventBus) {
  api.route({
    method: "get",
    path: "/v1/events",
    summary: "Server-sent event stream: cfp, accept-proposal, reject-proposal, auction-closed, task updates",
    tags: ["events"],
    access: "buyer",
    contentType: "text/event-stream",
    response: z.string().openapi({ description: "Server-sent events: `event: <type>` and `data: <JSON>` per message, `: keep-alive` comments every 15 s" }),
    handler: async ({ principal, req, res }) => {
      const address = walletOf(principal);
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      res.write(": connected\n\n");
      let seq = 0;
      const unsub = await bus.subscribe(address, (e) => {
        res.write(`id: ${++seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
      });
      const beat = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
      await new Promise<void>((resolve) => req.on("close", resolve));
      clearInterval(beat);
      unsub();
    },
  });
}
