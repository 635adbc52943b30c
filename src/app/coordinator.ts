import { AppError } from "../errors.js";
import { readDeployment } from "../protocol/deployment.js";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Config } from "../config.js";
import type { AppContext } from "../context.js";
import { createContext } from "./context.js";
import { createServices, type Services } from "./services.js";
import { createApp } from "./http-app.js";
import { startWorkers } from "./workers.js";
import type { Indexer } from "../indexer/indexer.js";
import { startEvmIndexer, startSubstrateIndexer } from "./indexer.js";
import { connectSubstrateChain, type SubstrateChain } from "../chain/substrate/chain.js";

/**
 * What one process runs: `api` (HTTP), `worker` (BullMQ workers, sweeper, transaction sender),
 * `indexer` (the chain indexer only; one per chain holds an advisory lock, extra ones wait),
 * `all` (all three). Any number of api and worker processes share Postgres and Redis.
 */
export type Role = "api" | "worker" | "indexer" | "all";

export type Coordinator = {
  ctx: AppContext;
  services: Services;
  /** Base URL of the API (undefined for a worker-only process). */
  url?: string;
  server?: Server;
  /** The chain indexer, when this process runs it (see `opts.indexer`). */
  indexer?: Indexer;
  /** The Substrate chain (SUBSTRATE_RPC_URL) and its indexer (chain name `substrate`). */
  substrate?: SubstrateChain;
  substrateIndexer?: Indexer;
  /** Graceful stop: stop accepting requests, finish in-flight jobs, close connections. */
  close(): Promise<void>;
};

/**
 * Starts a coordinator process with the given role (see `Role`). Migrates the database first.
 */
export async function startCoordinator(config: Config, role: Role = "all", opts: { sweepMs?: number; indexer?: boolean } = {}): Promise<Coordinator> {
  if (config.SETTLEMENT === "chain" && !readDeployment(config.DEPLOYMENTS_FILE))
    throw new AppError(
      "SETTLEMENT_NOT_CONFIGURED",
      `No deployment at ${config.DEPLOYMENTS_FILE}: deploy the contracts (npm run deploy:localhost), fix DEPLOYMENTS_FILE, or set SETTLEMENT=none to run without a settlement chain.`,
      500,
    );
  const ctx = await createContext(config, { role });
  let domain = config.AUTH_DOMAIN ?? `${config.HOST}:${config.PORT}`;
  const substrate = config.SUBSTRATE_RPC_URL ? await connectSubstrateChain({ ...config, SUBSTRATE_RPC_URL: config.SUBSTRATE_RPC_URL }) : undefined;
  const services = createServices(ctx, () => domain, substrate);
  const stopWorkers = role === "worker" || role === "all" ? startWorkers(ctx, services, opts) : undefined;
  // The chain indexer (one per chain holds the advisory lock): in `indexer` and `all` processes
  // when a deployment exists (`opts.indexer` overrides).
  const indexer = (opts.indexer ?? ((role === "indexer" || role === "all") && ctx.chain.deployment !== undefined)) ? await startEvmIndexer(ctx, services) : undefined;
  const substrateIndexer = substrate && (opts.indexer ?? (role === "indexer" || role === "all")) ? await startSubstrateIndexer(ctx, substrate, services) : undefined;
  let server: Server | undefined;
  let url: string | undefined;
  if (role === "api" || role === "all") {
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
    ...(substrate ? { substrate } : {}),
    ...(substrateIndexer ? { substrateIndexer } : {}),
    async close() {
      if (server) {
        server.closeIdleConnections();
        const closing = new Promise<void>((r) => server!.close(() => r()));
        setTimeout(() => server?.closeAllConnections(), 2_000).unref();
        await closing;
      }
      await indexer?.stop();
      await substrateIndexer?.stop();
      await stopWorkers?.();
      await services.execution.idle();
      await services.channels.close();
      await services.channelSettlement.close();
      await ctx.close();
      await substrate?.close();
    },
  };
}
