import type { AppContext } from "./context.js";
import { createAgentService, type AgentService } from "./agents/service.js";
import { createAuctionService, type AuctionService } from "./auction/service.js";
import { createAuthService, type AuthService } from "./auth/service.js";
import { createTaskService, type TaskService } from "./tasks/service.js";

/** The domain services, wired once per process from the context. */
export type Services = { auth: AuthService; agents: AgentService; auction: AuctionService; tasks: TaskService };

/**
 * @param domain the `host[:port]` SIWE messages must name (resolved lazily: the port may be
 *   known only after the server listens)
 */
export function createServices(ctx: AppContext, domain: () => string): Services {
  const agents = createAgentService(ctx);
  const auction = createAuctionService(ctx);
  const tasks = createTaskService(ctx, auction);
  const auth = createAuthService(ctx, {
    domain,
    async rolesOf(address) {
      const roles = ["buyer"];
      if (await agents.isAgent(address)) roles.push("agent");
      if (await ctx.chain.isArbitrator(address)) roles.push("arbitrator");
      return roles;
    },
  });
  return { auth, agents, auction, tasks };
}
