import express, { type Express } from "express";
import helmet from "helmet";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { AppContext } from "../context.js";

/** Where `npm install` / `npm start` build the web app (scripts/build-web.mjs). */
export const WEB_DIST = join(import.meta.dirname, "..", "..", "web", "dist");

/** The web app's client-side routes: each serves index.html. */
const PAGES = ["/", "/buyer", "/agent", "/arbitrator", "/dashboard"];

/**
 * Serves the web app at / (buyer, agent operator, arbitrator) and /dashboard, under a content
 * security policy that lets the page reach only this coordinator and the chain's public RPC URL
 * (reads that do not go through the wallet).
 */
export function mountWebApp(app: Express, ctx: AppContext): void {
  const rpc = (() => {
    try {
      return new URL(ctx.config.PUBLIC_RPC_URL ?? ctx.config.CHAIN_RPC_URL).origin;
    } catch {
      return undefined;
    }
  })();
  const csp = helmet({
    contentSecurityPolicy: {
      directives: {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", ...(rpc ? [rpc] : [])],
      },
    },
  });
  if (!existsSync(join(WEB_DIST, "index.html"))) {
    ctx.log.warn({ dir: WEB_DIST }, "the web app is not built (npm install builds it; or node scripts/build-web.mjs)");
    app.get(PAGES, (_req, res) => {
      res.status(503).type("text/plain").send("The web app is not built: run npm install (or node scripts/build-web.mjs), then restart.");
    });
    return;
  }
  app.use("/assets", csp, express.static(join(WEB_DIST, "assets"), { immutable: true, maxAge: "1y", index: false }));
  app.get(PAGES, csp, (_req, res) => {
    res.setHeader("cache-control", "no-cache");
    res.sendFile(join(WEB_DIST, "index.html"));
  });
}
