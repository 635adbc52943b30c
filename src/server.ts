import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Config } from "./config.js";
import { createContext, type AppContext } from "./context.js";
import { createServices, type Services } from "./services.js";
import { createApp } from "./api/app.js";
import { startWorkers } from "./workers.js";
import { startIndexer, type Indexer } from "./indexer/indexer.js";

export type Role = "api" | "worker" | "all";

export type Coordinator = {
  ctx: AppContext;
  services: Services;
  /** Base URL of the API (undefined for a worker-only process). */
  url?: string;
  server?: Server;
  /** The chain indexer, when this process runs it (see `opts.indexer`). */
  indexer?: Indexer;
  /** Graceful stop: stop accepting requests, finish in-flight jobs, close connections. */
  close(): Promise<void>;
};

/**
 * Starts a coordinator process with the given role: `api` serves HTTP, `worker` runs the
 * BullMQ workers and the sweeper, `all` does both. Migrates the database first.
 */
export async function startCoordinator(config: Config, role: Role = "all", opts: { sweepMs?: number; indexer?: boolean } = {}): Promise<Coordinator> {
  const ctx = await createContext(config, { role });
  let domain = config.AUTH_DOMAIN ?? `${config.HOST}:${config.PORT}`;
  const services = createServices(ctx, () => domain);
  const stopWorkers = role === "api" ? undefined : startWorkers(ctx, services, opts);
  // The chain indexer (one per chain holds the advisory lock): by default in worker processes when a deployment exists.
  const indexer = (opts.indexer ?? (role !== "api" && ctx.chain.deployment !== undefined)) ? await startIndexer(ctx, services) : undefined;
  let server: Server | undefined;
  let url: string | undefined;
  if (role !== "worker") {
    const { app } = createApp(ctx, services);
    server = createServer(app);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(config.PORT, config.HOST, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    url = config.PUBLIC_URL ?? `http://${config.HOST}:${port}`;
    if (!config.AUTH_DOMAIN) domain = `${config.HOST}:${port}`;
  }
  return {
    ctx,
    services,
    url,
    server,
    indexer,
    async close() {
      if (server) {
        server.closeIdleConnections();
        const closing = new Promise<void>((r) => server!.close(() => r()));
        setTimeout(() => server?.closeAllConnections(), 2_000).unref();
        await closing;
      }
      await indexer?.stop();
      await stopWorkers?.();
      await services.execution.idle();
      await services.channels.close();
      await services.channelSettlement.close();
      await ctx.close();
    },
  };
}
