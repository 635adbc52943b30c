import { connectEvm } from "../chain/evm/chain.js";
import { createEvmSource } from "../chain/evm/source.js";
import type { SubstrateChain } from "../chain/substrate/chain.js";
import type { AppContext } from "../context.js";
import { createIndexer, type Indexer } from "../indexer/indexer.js";
import { createEventRegistry, type EventRegistry } from "../settlement/events.js";

/**
 * Connects to the EVM chain of the config (DEPLOYMENTS_FILE, CHAIN_RPC_URL) and starts its
 * indexer with the services' event registry (or an empty one); the connection closes with it.
 * @throws AppError CHAIN_NOT_DEPLOYED when the deployments file is missing
 */
export async function startEvmIndexer(ctx: Pick<AppContext, "config" | "log" | "db" | "metrics">, services?: { events: EventRegistry }): Promise<Indexer> {
  const chain = connectEvm(ctx.config);
  const indexer = createIndexer(ctx, { source: createEvmSource(chain, ctx.log), registry: services?.events ?? createEventRegistry(), onStop: () => chain.close() });
  await indexer.start();
  return indexer;
}

/**
 * Starts the indexer of the Substrate chain (chain name `substrate`, finalized heads only, so
 * confirmations 0) with the services' event registry; the connection stays the caller's.
 */
export async function startSubstrateIndexer(ctx: Pick<AppContext, "config" | "log" | "db" | "metrics">, chain: SubstrateChain, services?: { events: EventRegistry }): Promise<Indexer> {
  const indexer = createIndexer(ctx, { name: "substrate", source: chain.source(ctx.log), registry: services?.events ?? createEventRegistry(), confirmations: 0 });
  await indexer.start();
  return indexer;
}
