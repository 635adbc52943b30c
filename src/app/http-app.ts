import express, { type NextFunction, type Request, type Response } from "express";
import helmet from "helmet";
import { rateLimit } from "express-rate-limit";
import { pinoHttp } from "pino-http";
import swaggerUi from "swagger-ui-express";
import { OpenApiGeneratorV31 } from "@asteasolutions/zod-to-openapi";
import type { AppContext } from "../context.js";
import type { Services } from "./services.js";
import { AppError } from "../errors.js";
import { createApi } from "../http/api.js";
import { registerAuthRoutes } from "../auth/routes.js";
import { registerAgentRoutes } from "../agents/routes.js";
import { registerAuctionRoutes } from "../auction/routes.js";
import { registerOffchainAcceptRoute, registerTaskRoutes } from "../tasks/routes.js";
import { registerEventRoutes } from "../events/routes.js";
import { registerPricingRoutes } from "../pricing/routes.js";
import { registerExecutionRoutes } from "../scheduling/routes.js";
import { registerReputationRoutes } from "../reputation/routes.js";
import { registerWorkflowRoutes } from "../workflows/routes.js";
import { registerEscrowRoutes } from "../escrow/routes.js";
import { registerDisputeRoutes } from "../disputes/routes.js";
import { registerChannelRoutes } from "../channels/routes.js";
import { registerSubstrateRoutes } from "./substrate-routes.js";
import { registerNetworkRoute } from "./network-routes.js";
import { registerAuditRoute } from "./audit-routes.js";
import { registerDashboardRoutes } from "../dashboard/routes.js";
import { mountQueueBoard } from "./queue-board.js";
import { mountWebApp } from "./web-app.js";

/** Builds the Express 5 application: `/v1` routes, OpenAPI, Swagger UI, health and metrics. */
export function createApp(ctx: AppContext, services: Services) {
  const { config, metrics } = ctx;
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", "loopback");
  app.set("query parser", "simple");

  const api = createApi({
    authSecret: config.AUTH_SECRET,
    adminKey: config.ADMIN_API_KEY,
    isAgent: (a) => services.agents.isAgent(a),
    // Substrate accounts: the custody accounts' arbitrator; EVM addresses: DisputeResolver's role.
    isArbitrator: async (a) => (a.length === 66 ? a === services.substrateArbitrator : ctx.chain.isArbitrator(a)),
  });
  registerAuthRoutes(api, services.auth);
  registerAgentRoutes(api, services.agents);
  registerTaskRoutes(api, services.tasks);
  registerAuctionRoutes(api, services.auction);
  registerEventRoutes(api, ctx.bus);
  registerPricingRoutes(api, ctx);
  registerExecutionRoutes(api, services.execution);
  registerReputationRoutes(api, services.reputation);
  registerWorkflowRoutes(api, services.workflows);
  if (services.escrow) {
    registerEscrowRoutes(api, services.escrow);
    if (services.disputes) registerDisputeRoutes(api, services.disputes);
  }
  else registerOffchainAcceptRoute(api, services.tasks);
  registerChannelRoutes(api, services.channels);
  if (services.substrate) registerSubstrateRoutes(api, services.substrate);
  registerNetworkRoute(api, services.network);
  registerAuditRoute(api, ctx, services.evm);
  registerDashboardRoutes(api, services.dashboard);
  const openapi = new OpenApiGeneratorV31(api.registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: {
      title: "AICP coordinator API",
      version: "1.0.0",
      license: { name: "UNLICENSED (private)", identifier: "LicenseRef-AICP-Private" },
      description:
        "Marketplace coordinator for autonomous AI agents: SIWE sign-in, agents, tasks and sealed-bid auctions (FIPA Contract Net). Amounts are token base units as decimal strings.",
    },
    servers: [{ url: "/" }],
  });

  app.get("/openapi.json", (_req, res) => {
    res.json(openapi);
  });
  app.use("/docs", helmet({ contentSecurityPolicy: { directives: { "script-src": ["'self'"], "style-src": ["'self'", "'unsafe-inline'"], "img-src": ["'self'", "data:"] } } }), swaggerUi.serve, swaggerUi.setup(openapi as never));

  // Bull Board (the operator's view of the BullMQ queues), behind the admin key.
  mountQueueBoard(app, ctx);

  app.use(helmet());
  if (config.LOG_LEVEL !== "silent")
    app.use(
      pinoHttp({
        logger: ctx.log,
        // One short line per request, never headers (they carry bearer tokens and the admin key);
        // successes at debug so that long-polls don't flood the log.
        serializers: { req: (r: { method: string; url: string }) => ({ method: r.method, url: r.url }), res: (r: { statusCode: number }) => ({ status: r.statusCode }) },
        customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? "error" : res.statusCode >= 400 ? "info" : "debug"),
        autoLogging: { ignore: (req) => req.url === "/health" },
      }),
    );
  app.use((req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.on("finish", () => {
      const route = (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? "unmatched" : req.path);
      end({ method: req.method, route });
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  });

  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/ready", async (_req, res) => {
    const check = async (f: () => Promise<unknown>) => {
      const t = Date.now();
      try {
        const v = await Promise.race([f(), new Promise((_, rej) => setTimeout(() => rej(new Error("timeout")), 2_000))]);
        // A check may say more (the Substrate chain: its best and finalized heights).
        return { ok: true, ms: Date.now() - t, ...(v && typeof v === "object" && !Array.isArray(v) && "best" in v ? (v as object) : {}) };
      } catch (err) {
        return { ok: false, ms: Date.now() - t, error: (err as Error).message };
      }
    };
    const [postgres, redis, chain, outbox, substrate, substrateOutbox] = await Promise.all([
      check(() => ctx.db.query("SELECT 1")),
      check(() => ctx.redis.ping()),
      check(() => ctx.chain.ping()),
      services.sender?.status().catch(() => undefined),
      services.substrateHead ? check(services.substrateHead) : undefined,
      services.substrateSender?.status().catch(() => undefined),
    ]);
    // Postgres and Redis are required; without a settlement chain the coordinator still runs
    // auctions but cannot settle, so it reports degraded rather than down. Each configured chain
    // (the EVM with a deployment, Substrate with SUBSTRATE_RPC_URL) must answer for `ready`.
    const chains = [ctx.chain.deployment || !substrate ? chain.ok : undefined, substrate?.ok].filter((x) => x !== undefined);
    const status = !postgres.ok || !redis.ok ? "down" : chains.every(Boolean) ? "ready" : "degraded";
    // The outbox backlog says what waits for the chain (coordinator transactions not yet confirmed).
    res.status(status === "down" ? 503 : 200).json({
      status,
      checks: { postgres, redis, chain, ...(substrate ? { substrate } : {}) },
      ...(outbox ? { outbox } : {}),
      ...(substrateOutbox ? { substrateOutbox } : {}),
    });
  });
  app.get("/metrics", async (_req, res) => {
    // Breakers live in Postgres (shared by every replica); sample them at scrape time.
    const open = await services.breakers.snapshot().catch(() => []);
    metrics.breakerState.reset();
    for (const b of open) metrics.breakerState.set({ agent: b.agent }, b.state === "open" ? 2 : b.state === "half_open" ? 1 : 0);
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  if (config.RATE_LIMIT_PER_MINUTE > 0) {
    app.use(
      "/v1",
      rateLimit({
        windowMs: 60_000,
        limit: config.RATE_LIMIT_PER_MINUTE,
        standardHeaders: "draft-8",
        legacyHeaders: false,
        handler: (_req, res) => {
          res.status(429).json({ error: { code: "RATE_LIMITED", message: "Too many requests; slow down and retry after the Retry-After delay." } });
        },
      }),
    );
  }
  app.use("/v1", express.json({ limit: config.BODY_LIMIT, strict: false }));
  app.use(api.router);
  // The web app (buyer, agent operator, arbitrator, dashboard), built by Vite into web/dist.
  mountWebApp(app, ctx);

  app.use((req, res) => {
    res.status(404).json({ error: { code: "NOT_FOUND", message: `No route ${req.method} ${req.path}.` } });
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return;
    if (err instanceof AppError) {
      if (err.retryAfterSeconds !== undefined) res.setHeader("Retry-After", String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
      res.status(err.status).json({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === "entity.too.large") {
      res.status(413).json({ error: { code: "BODY_TOO_LARGE", message: `The body exceeds ${config.BODY_LIMIT}.` } });
      return;
    }
    if (e.type === "entity.parse.failed") {
      res.status(400).json({ error: { code: "INVALID_JSON", message: "The body is not valid JSON." } });
      return;
    }
    if (e.type && typeof e.status === "number" && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: { code: "BAD_REQUEST", message: e.message ?? "Bad request." } });
      return;
    }
    ctx.log.error({ err, url: req.url }, "unhandled error");
    res.status(500).json({ error: { code: "INTERNAL", message: "Internal error; it has been logged." } });
  });
  return { app, openapi };
}
