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
import { enqueue, type OutboxHooks } from "../settlement/outbox-store.js";
import { settlementStore } from "../channels/settlement-store.js";
import { verifyVoucher } from "../chain/substrate/vouchers.js";
import { createSubstrateSender, type CustodyFacts, type SubstrateSender } from "../chain/substrate/sender.js";
import { createSubstrateEscrowBackend } from "../chain/substrate/escrow.js";
import { custodyFacts } from "../escrow/repository.js";
import { disputeRepository } from "../disputes/repository.js";
import { indexerRepository } from "../indexer/repository.js";

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
  /** The Substrate chain's outbox sender (with the arbitrator's co-signer when its key is here). */
  substrateSender?: SubstrateSender;
  /** The channel route: deposits, promises, vouchers (src/channels). */
  channels: ChannelService;
  /** Batch settlement of vouchers and the watchtower (src/channels/settlement.ts). */
  channelSettlement: ChannelSettlement;
  /** Handlers of confirmed chain events, run by the indexer in its transaction (src/indexer). */
  events: EventRegistry;
  /** The EVM connection of the settlement backend (the operator audit checks invariants against it). */
  evm?: EvmChain;
  /** The arbitrator of the Substrate custody accounts (0x hex), when a Substrate chain is configured. */
  substrateArbitrator?: string;
  /** The Substrate chain itself (its Substrate-only routes). */
  substrate?: SubstrateChain;
  /** The Substrate chain's head (SUBSTRATE_RPC_URL), for `/ready`; absent without one. */
  substrateHead?: () => Promise<{ best: number; finalized: number }>;
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
  const backend = ctx.chain.deployment ? createEvmBackend(connectEvm(ctx.config)) : undefined;
  const reputation = createReputationService(ctx, [...(backend ? ["evm"] : []), ...(substrate ? ["substrate"] : [])]);
  const sender = backend ? createTxSender(ctx, backend, backend.evm) : undefined;
  if (sender) registerAnchoring(sender, ctx.log);
  // Substrate: custody operations read the indexed escrows and disputes before signing.
  const facts: CustodyFacts = {
    escrow: (taskId) => custodyFacts(ctx.db, taskId),
    async dispute(id) {
      const d = await disputeRepository.get(ctx.db, Number(id));
      return d ? { taskId: d.taskId, status: d.status, agentShareBps: d.agentShareBps, appealDeadline: d.appealDeadline ? new Date(d.appealDeadline) : null } : undefined;
    },
    indexedBlock: async () => (await indexerRepository.cursor(ctx.db, "substrate"))?.number ?? 0,
    settledOf: (pairs) => settlementStore.settledOf(ctx.db, pairs),
  };
  const substrateSender = substrate
    ? createSubstrateSender(ctx, { settlement: substrate.settlement, coordinator: substrate.coordinator, ...(substrate.arbitrator ? { arbitrator: substrate.arbitrator } : {}), facts, acceptanceWindowS: ctx.config.SUBSTRATE_ACCEPTANCE_WINDOW_S })
    : undefined;
  if (substrateSender) registerAnchoring(substrateSender, ctx.log);
  const substrateEscrow = substrate ? createSubstrateEscrowBackend(substrate.settlement, facts, substrate.prefix) : undefined;
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
  const channels = createChannelService(ctx, {
    verifyThreads: ctx.config.VOUCHER_VERIFY_THREADS,
    txHooks,
    ...(substrate ? { substrateVouchers: (v) => verifyVoucher(v, v.signature, substrate.settlement.genesisHash) } : {}),
  });
  // Posting's settlement: a channel promise and an escrow funding plan exist only with a chain.
  const settlementHooks: SettlementHooks = {
    chainConfigured: (chain = "evm") => (chain === "evm" ? backend !== undefined : substrateEscrow !== undefined),
    // The channel route settles through PaymentChannels; Substrate tasks take the escrow route.
    channelsOn: (chain) => (chain === "evm" ? backend !== undefined : substrateSender !== undefined),
    ...(backend || substrateSender ? { promise: (t, p) => channels.promise(t, p) } : {}),
    ...(backend ? { authorizationRoom: (p) => channels.authorizationRoom(p) } : {}),
    ...(backend || substrateEscrow
      ? {
          fundingPlan: (task) => {
            if (task.chain === "substrate") return substrateEscrow!.fundingPlan(task);
            return backend!.fundingPlan(task);
          },
        }
      : {}),
  };
  const tasks = createTaskService(ctx, auction, settlementHooks, txHooks);
  // Channel batches go to their payers' chain: the hooks of every sender.
  const senders = [sender, substrateSender].filter((x) => x !== undefined);
  const outboxHooks: OutboxHooks = {
    onConfirmed: (kind, h) => senders.forEach((x) => x.onConfirmed(kind, h)),
    onReverted: (kind, h) => senders.forEach((x) => x.onReverted(kind, h)),
  };
  const channelSettlement = createChannelSettlement(ctx, { channels, sender: outboxHooks, events, chains: [...(sender ? (["evm"] as const) : []), ...(substrateSender ? (["substrate"] as const) : [])] });
  const escrow =
    backend || substrateEscrow
      ? createEscrowService(ctx, {
          auction,
          events,
          txHooks,
          backends: {
            ...(backend
              ? {
                  evm: {
                    escrowOf: (taskId) => readEscrow(backend.evm, taskId),
                    fundingPlan: (task) => backend.fundingPlan(task),
                    callFor: (kind, taskId, args) => backend.callFor(kind, taskId, args?.evidenceURI ? { evidenceUri: args.evidenceURI } : undefined),
                    chainTime: async () => ((await backend.evm.provider.getBlock("latest"))?.timestamp ?? 0) * 1000,
                  },
                }
              : {}),
            ...(substrateEscrow ? { substrate: substrateEscrow } : {}),
          },
          // The intent names its chain; that chain's sender sends it.
          enqueue: (t, intent) => enqueue(t, intent),
          outbox: [sender, substrateSender].filter((x) => x !== undefined),
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
      if (address.length === 66) {
        // Substrate: the custody accounts' arbitrator (SUBSTRATE_ARBITRATOR) arbitrates their disputes.
        if (substrate && address === substrate.settlement.arbitrator) roles.push("arbitrator");
      } else if (await ctx.chain.isArbitrator(address).catch(() => false)) roles.push("arbitrator");
      return roles;
    },
  });
  const disputes = escrow ? createDisputeService(ctx.db, substrateEscrow) : undefined;
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
  return { dashboard, auth, agents, auction, tasks, breakers, execution, reputation, workflows, txHooks, settlementHooks, backend, sender, ...(substrateSender ? { substrateSender } : {}), ...(substrate ? { substrateArbitrator: substrate.settlement.arbitrator, substrate } : {}), channels, channelSettlement, events, escrow, disputes, network, ...(backend ? { evm: backend.evm } : {}), ...(substrate ? { substrateHead: () => substrateHeads(substrate) } : {}) };
}

/**
 * The Substrate chain's best and finalized heights, for display (`/ready`): the indexer applies
 * finalized blocks only, so best − finalized is what is not settled yet.
 */
async function substrateHeads(substrate: SubstrateChain): Promise<{ best: number; finalized: number }> {
  const api = substrate.api;
  const [best, fin] = await Promise.all([api.rpc.chain.getHeader(), api.rpc.chain.getFinalizedHead().then((h) => api.rpc.chain.getHeader(h))]);
  return { best: best.number.toNumber(), finalized: fin.number.toNumber() };
}
