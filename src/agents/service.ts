import { randomBytes } from "node:crypto";
import type { AppContext } from "../context.js";
import { conflict, notFound } from "../errors.js";
import { isUniqueViolation } from "../db/index.js";
import { multiplierFor } from "../reputation/tiers.js";
import { agentRepository as repo, type AgentRow } from "./repository.js";

export type CapabilityOffer = { capability: string; minPrice: bigint };

export type AgentRegistration = {
  name: string;
  capabilities: CapabilityOffer[];
  endpointUrl?: string | null;
  maxConcurrency?: number;
};

/** The public view of an agent (amounts as decimal strings of token base units). */
export type AgentView = ReturnType<typeof toView>;

export type AgentService = {
  /**
   * Registers the signed-in wallet as an agent. Returns the profile and, once only, the
   * HMAC secret with which it can verify webhook calls (`X-AICP-Signature`).
   * @throws 409 AGENT_EXISTS
   */
  register(address: string, reg: AgentRegistration): Promise<AgentView & { webhookSecret: string }>;
  /** @throws 404 AGENT_NOT_FOUND */
  update(address: string, patch: Partial<AgentRegistration>): Promise<AgentView>;
  /** @throws 404 AGENT_NOT_FOUND */
  get(address: string): Promise<AgentView>;
  list(f: { capability?: string; limit: number; offset: number }): Promise<{ items: AgentView[]; total: number }>;
  /** Operator: suspend (ineligible for calls for proposals) or reinstate. @throws 404 AGENT_NOT_FOUND */
  setSuspended(address: string, suspended: boolean, reason?: string): Promise<AgentView>;
  isAgent(address: string): Promise<boolean>;
  /** Webhook secret and endpoint of an agent, for signed pushes. */
  endpointOf(address: string): Promise<{ url: string | null; secret: string } | undefined>;
};

function toView(r: AgentRow) {
  const rep = multiplierFor(r.successes_decayed, r.failures_decayed);
  // OPEN past its recovery time reads as HALF_OPEN (the next call is a trial).
  const breaker =
    r.breaker_state === "open" && r.breaker_retry_at && r.breaker_retry_at.getTime() <= Date.now() ? "half_open" : (r.breaker_state ?? "closed");
  return {
    address: r.address,
    name: r.name,
    capabilities: r.capabilities.map((c) => ({ capability: c.capability, minPrice: c.min_price })),
    endpointUrl: r.endpoint_url,
    maxConcurrency: r.max_concurrency,
    suspended: r.suspended,
    suspendedReason: r.suspended_reason,
    load: r.load,
    reputation: { successes: r.successes, failures: r.failures, tier: rep.tier, multiplierBps: Number(rep.multiplierBps) },
    health: {
      status: r.suspended ? "suspended" : breaker === "open" ? "unavailable" : r.load >= r.max_concurrency ? "saturated" : "available",
      breaker: {
        state: breaker,
        consecutiveFailures: r.breaker_failures ?? 0,
        reopenings: r.breaker_reopen_count ?? 0,
        retryAt: r.breaker_retry_at?.toISOString() ?? null,
      },
    },
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export function createAgentService(ctx: AppContext): AgentService {
  const { db } = ctx;
  // Agent-ness is checked on every agent route; a short cache keeps that off the database.
  const known = new Map<string, number>();

  async function get(address: string) {
    const row = await repo.get(db, address);
    if (!row) throw notFound("AGENT_NOT_FOUND", `No agent is registered at ${address}.`);
    return toView(row);
  }

  return {
    async register(address, reg) {
      const webhookSecret = randomBytes(32).toString("hex");
      try {
        await db.tx((t) =>
          repo.insert(
            t,
            { address, name: reg.name, endpointUrl: reg.endpointUrl ?? null, webhookSecret, maxConcurrency: reg.maxConcurrency ?? 10 },
            reg.capabilities,
          ),
        );
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict("AGENT_EXISTS", `${address} is already registered; use PATCH to update it.`);
        throw err;
      }
      known.set(address, Date.now() + 60_000);
      return { ...(await get(address)), webhookSecret };
    },
    async update(address, patch) {
      if (!(await repo.exists(db, address))) throw notFound("AGENT_NOT_FOUND", `No agent is registered at ${address}.`);
      await db.tx((t) => repo.update(t, address, patch, patch.capabilities));
      return get(address);
    },
    get,
    async list(f) {
      const { rows, total } = await repo.list(db, f);
      return { items: rows.map(toView), total };
    },
    async setSuspended(address, suspended, reason) {
      if (!(await repo.setSuspended(db, address, suspended, suspended ? (reason ?? null) : null)))
        throw notFound("AGENT_NOT_FOUND", `No agent is registered at ${address}.`);
      return get(address);
    },
    async isAgent(address) {
      const until = known.get(address);
      if (until && until > Date.now()) return true;
      const ok = await repo.exists(db, address);
      if (ok) known.set(address, Date.now() + 60_000);
      return ok;
    },
    async endpointOf(address) {
      const row = await repo.endpoint(db, address);
      return row ? { url: row.endpoint_url, secret: row.webhook_secret } : undefined;
    },
  };
}
