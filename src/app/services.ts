import { createDashboardService, type DashboardService } from "../dashboard/service.js";
import type { AppContext } from "../context.js";
import { createNotifier } from "../events/notifier.js";
import { createDisputeService, type DisputeService } from "../disputes/service.js";
import { agentRepository } from "../agents/repository.js";
import { createAgentService, type AgentService } from "../agents/service.js";
import { createAuctionService, type AuctionService } from "../auction/service.js";
import { createAuthService, type AuthService } from "../auth/service.js";
import { createTaskService, type TaskService } from "../tasks/service.js";
import { createBreakerStore, type BreakerStore } from "../scheduling/breaker-store.js";
import { createExecutionService, type ExecutionService } from "../scheduling/execution.js";
import { createReputationService, type ReputationService } from "../reputation/service.js";
import { createWorkflowService, type WorkflowService } from "../workflows/service.js";
import { createTaskTxHooks, type TaskTxHookBus } from "../tasks/hooks.js";
import type { SettlementHooks } from "../tasks/service.js";
import { connectEvm } from "../chain/evm/chain.js";
import { createTxSender, type TxSender } from "../chain/evm/sender.js";
import { createEvmNetworkInfo } from "../chain/evm/network.js";
import type { EvmChain } from "../chain/evm/chain.js";
import type { NetworkInfo } from "../protocol/network.js";
import type { SubstrateChain } from "../chain/substrate/chain.js";
import { createEvmBackend, readEscrow } from "../chain/evm/backend.js";
import type { SettlementBackend } from "../settlement/backend.js";
import { registerAnchoring } from "../reputation/anchoring.js";
import { createChannelService, type ChannelService } from "../channels/service.js";
import { createChannelSettlement, type ChannelSettlement } from "../channels/settlement.js";
import { createEscrowService, type EscrowService } from "../escrow/service.js";
import { createEventRegistry, type EventRegistry } from "../settlement/events.js";

/** The domain services, wired once per process from the context. */
export type Services = {
  dashboard: DashboardService;
  auth: AuthService;
  agents: AgentService;
  auction: AuctionService;
  tasks: TaskService;
  breakers: BreakerStore;
  execution: ExecutionService;
  reputation: ReputationService;
  workflows: WorkflowService;
  /** Transaction hooks of task transitions (award, delivery, end) for the settlement domains. */
  txHooks: TaskTxHookBus;
  /** Settlement hooks of task posting (route resolution, channel promise, escrow funding plan). */
  settlementHooks: SettlementHooks;
  /** The settlement chain (undefined without a deployments file). */
  backend?: SettlementBackend;
  /** The nonce-managed sender of coordinator transactions (the outbox), with the backend. */
  sender?: TxSender;
  /** The channel route: deposits, promises, vouchers (src/channels). */
  channels: ChannelService;
  /** Batch settlement of vouchers and the watchtower (src/channels/settlement.ts). */
  channelSettlement: ChannelSettlement;
  /** Handlers of confirmed chain events, run by the indexer in its transaction (src/indexer). */
  events: EventRegistry;
  /** The EVM connection of the settlement backend (the operator audit checks invariants against it). */
  evm?: EvmChain;
  /** The Substrate chain's head (SUBSTRATE_RPC_URL), for `/ready`; absent without one. */
  substrateHead?: () => Promise<number>;
  /** GET /v1/network's answer (the chain, contracts, tokens, fee, windows). */
  network: (opts?: { abi?: boolean }) => Promise<NetworkInfo>;
  /** The escrow route (src/escrow), when a chain is configured. */
  escrow?: EscrowService;
  /** Disputes of escrow tasks as arbitrators and parties read them (src/disputes), with the escrow route. */
  disputes?: DisputeService;
};

/**
 * @param domain the `host[:port]` SIWE messages must name (resolved lazily: the port may be
 *   known only after the server listens)
 */
/**
 * @param substrate the Substrate settlement chain when SUBSTRATE_RPC_URL is set: its accounts sign
 *   in (SIWS against its genesis hash) and GET /v1/network lists it
 */
export function createServices(ctx: AppContext, domain: () => string, substrate?: SubstrateChain): Services {
  const agents = createAgentService(ctx);
  const events = createEventRegistry();
  const breakers = createBreakerStore(ctx);
  const reputation = createReputationService(ctx);
  const backend = ctx.chain.deployment ? createEvmBackend(connectEvm(ctx.config)) : undefined;
  const sender = backend ? createTxSender(ctx, backend, backend.evm) : undefined;
  if (sender) registerAnchoring(sender, ctx.log);
  // Settlement domains subscribe here to react inside the transactions that change tasks.
  const txHooks = createTaskTxHooks();
  const notifier = createNotifier({ bus: ctx.bus, webhooks: ctx.queues.webhooks, endpoints: (a) => agentRepository.webhookEndpoints(ctx.db, a) });
  const execution = createExecutionService(ctx, { breakers, reputation, dispatch: (out) => notifier.send(out), tx: txHooks });
  const auction = createAuctionService(ctx, {
    notifier,
    tx: txHooks,
    async afterClose(r) {
      await execution.onAwarded(r.awarded);
      for (const e of r.expired) await execution.finished({ id: e.id, status: "expired", workflowId: e.workflowId, nodeKey: e.nodeKey, output: null, price: null });
    },
  });
  const channels = createChannelService(ctx, { verifyThreads: ctx.config.VOUCHER_VERIFY_THREADS, txHooks });
  // Posting's settlement: a channel promise and an escrow funding plan exist only with a chain.
  const settlementHooks: SettlementHooks = backend
    ? { chainConfigured: () => true, promise: (t, p) => channels.promise(t, p), authorizationRoom: (p) => channels.authorizationRoom(p), fundingPlan: (task) => backend.fundingPlan(task) }
    : { chainConfigured: () => false };
  const tasks = createTaskService(ctx, auction, settlementHooks, txHooks);
  const channelSettlement = createChannelSettlement(ctx, { channels, sender, events });
  const escrow = backend
    ? createEscrowService(ctx, {
        auction,
        events,
        txHooks,
        backend: {
          escrowOf: (taskId) => readEscrow(backend.evm, taskId),
          fundingPlan: (task) => backend.fundingPlan(task),
          callFor: (kind, taskId, args) => backend.callFor(kind, taskId, args?.evidenceURI ? { evidenceUri: args.evidenceURI } : undefined),
          chainTime: async () => ((await backend.evm.provider.getBlock("latest"))?.timestamp ?? 0) * 1000,
        },
        enqueue: (t, intent) => sender!.enqueue(t, intent), // a sender exists whenever a backend does
        outbox: sender,
      })
    : undefined;
  const workflows = createWorkflowService(ctx, tasks);
  execution.onFinished((t) => workflows.onTaskFinished(t));
  const auth = createAuthService(ctx, {
    domain,
    substrateGenesis: () => substrate?.settlement.genesisHash,
    async rolesOf(address) {
      const roles: ("buyer" | "agent" | "arbitrator")[] = ["buyer"];
      if (await agents.isAgent(address)) roles.push("agent");
      // Sign-in goes on while the chain is away; the arbitrator routes ask the chain themselves.
      if (await ctx.chain.isArbitrator(address).catch(() => false)) roles.push("arbitrator");
      return roles;
    },
  });
  const disputes = escrow ? createDisputeService(ctx.db) : undefined;
  const evmNetwork = backend ? createEvmNetworkInfo(backend.evm, ctx.config) : async (): Promise<NetworkInfo> => ({ settlement: "none", chain: null });
  const network = async (opts?: { abi?: boolean }): Promise<NetworkInfo> => {
    const [n, sub] = await Promise.all([evmNetwork(opts), substrate?.info()]);
    const chains: NonNullable<NetworkInfo["chains"]> = [];
    if (n.chain) chains.push({ kind: "evm", chainId: n.chain.chainId, rpcUrl: n.chain.rpcUrl });
    if (sub) chains.push(sub);
    return { ...n, chains };
  };
  void network().catch(() => undefined); // warm: later answers come from the cache, even while the chain is away
  const dashboard = createDashboardService(ctx, async () => (await breakers.snapshot()).filter((b) => b.state === "open").length);
  return { dashboard, auth, agents, auction, tasks, breakers, execution, reputation, workflows, txHooks, settlementHooks, backend, sender, channels, channelSettlement, events, escrow, disputes, network, ...(backend ? { evm: backend.evm } : {}), ...(substrate ? { substrateHead: async () => (await substrate.api.rpc.chain.getHeader()).number.toNumber() } : {}) };
}
