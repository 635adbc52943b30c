import type { AppContext } from "./context.js";
import { createAgentService, type AgentService } from "./agents/service.js";
import { createAuctionService, type AuctionService } from "./auction/service.js";
import { createAuthService, type AuthService } from "./auth/service.js";
import { createTaskService, type TaskService } from "./tasks/service.js";
import { createBreakerStore, type BreakerStore } from "./scheduling/breakers.js";
import { createExecutionService, type ExecutionService } from "./scheduling/execution.js";
import { createReputationService, type ReputationService } from "./reputation/service.js";
import { createWorkflowService, type WorkflowService } from "./workflows/service.js";

/** The domain services, wired once per process from the context. */
export type Services = {
  auth: AuthService;
  agents: AgentService;
  auction: AuctionService;
  tasks: TaskService;
  breakers: BreakerStore;
  execution: ExecutionService;
  reputation: ReputationService;
  workflows: WorkflowService;
};

/**
 * @param domain the `host[:port]` SIWE messages must name (resolved lazily: the port may be
 *   known only after the server listens)
 */
export function createServices(ctx: AppContext, domain: () => string): Services {
  const agents = createAgentService(ctx);
  const breakers = createBreakerStore(ctx);
  const reputation = createReputationService(ctx);
  // The auction and execution services call each other through these late-bound hooks.
  const late: { execution?: ExecutionService } = {};
  const auction = createAuctionService(ctx, {
    async afterClose(r) {
      await late.execution!.onAwarded(r.awarded);
      for (const e of r.expired) await late.execution!.finished({ id: e.id, status: "expired", workflowId: e.workflowId, nodeKey: e.nodeKey, output: null, price: null });
    },
  });
  const execution = createExecutionService(ctx, { breakers, reputation, dispatch: (out) => auction.dispatch(out) });
  late.execution = execution;
  const tasks = createTaskService(ctx, auction);
  const workflows = createWorkflowService(ctx, tasks);
  execution.onFinished((t) => workflows.onTaskFinished(t));
  const auth = createAuthService(ctx, {
    domain,
    async rolesOf(address) {
      const roles = ["buyer"];
      if (await agents.isAgent(address)) roles.push("agent");
      if (await ctx.chain.isArbitrator(address)) roles.push("arbitrator");
      return roles;
    },
  });
  return { auth, agents, auction, tasks, breakers, execution, reputation, workflows };
}
