import type { Queryable } from "../db/index.js";
import { DECAY_SQL } from "../reputation/repository.js";

export type AgentRow = {
  address: string;
  name: string;
  endpoint_url: string | null;
  webhook_secret: string;
  max_concurrency: number;
  suspended: boolean;
  suspended_reason: string | null;
  created_at: Date;
  updated_at: Date;
  capabilities: { capability: string; min_price: string }[];
  load: number;
  successes: number;
  failures: number;
  breaker_state: string | null;
  breaker_failures: number | null;
  breaker_retry_at: Date | null;
  breaker_reopen_count: number | null;
  /** Σ decayed counts over the agent's capabilities (they set the tier). */
  successes_decayed: number;
  failures_decayed: number;
};

const DECAY_FACTOR = (col: string) => `r.${col} * ${DECAY_SQL("now()", "r")}`;

const SELECT_AGENT = `
  SELECT a.*,
    COALESCE((SELECT json_agg(json_build_object('capability', c.capability, 'min_price', c.min_price::text) ORDER BY c.capability)
              FROM agent_capabilities c WHERE c.agent = a.address), '[]') AS capabilities,
    (SELECT count(*)::int FROM tasks t WHERE t.agent = a.address AND t.status IN ('awarded', 'running')) AS load,
    COALESCE((SELECT sum(successes)::int FROM reputation_stats r WHERE r.agent = a.address), 0) AS successes,
    COALESCE((SELECT sum(failures)::int FROM reputation_stats r WHERE r.agent = a.address), 0) AS failures,
    COALESCE((SELECT sum(${DECAY_FACTOR("successes_decayed")}) FROM reputation_stats r WHERE r.agent = a.address), 0) AS successes_decayed,
    COALESCE((SELECT sum(${DECAY_FACTOR("failures_decayed")}) FROM reputation_stats r WHERE r.agent = a.address), 0) AS failures_decayed,
    b.state AS breaker_state, b.failures AS breaker_failures, b.retry_at AS breaker_retry_at, b.reopen_count AS breaker_reopen_count
  FROM agents a LEFT JOIN agent_breakers b ON b.agent = a.address`;

/**
 * Agents eligible for a call for proposals for capability $1: registered, not suspended,
 * offering the capability, below their concurrency limit, and whose circuit breaker is not
 * open (an open breaker makes an agent ineligible at once, with no network call).
 */
const ELIGIBLE = `
  SELECT a.address, a.endpoint_url, c.min_price::text AS min_price
    FROM agent_capabilities c JOIN agents a ON a.address = c.agent
   WHERE c.capability = $1 AND NOT a.suspended
     AND (SELECT count(*) FROM tasks t WHERE t.agent = a.address AND t.status IN ('awarded', 'running')) < a.max_concurrency
     AND NOT EXISTS (SELECT 1 FROM agent_breakers b WHERE b.agent = a.address AND b.state = 'open' AND b.retry_at > now())`;

/** SQL of the agents domain. Amounts stay strings here; the service converts to bigint. */
export const agentRepository = {
  async insert(
    q: Queryable,
    a: { address: string; name: string; endpointUrl: string | null; webhookSecret: string; maxConcurrency: number },
    caps: { capability: string; minPrice: bigint }[],
  ) {
    await q.query(
      `INSERT INTO agents (address, name, endpoint_url, webhook_secret, max_concurrency) VALUES ($1, $2, $3, $4, $5)`,
      [a.address, a.name, a.endpointUrl, a.webhookSecret, a.maxConcurrency],
    );
    await replaceCapabilities(q, a.address, caps);
  },

  async update(
    q: Queryable,
    address: string,
    patch: { name?: string; endpointUrl?: string | null; maxConcurrency?: number },
    caps?: { capability: string; minPrice: bigint }[],
  ) {
    await q.query(
      `UPDATE agents SET name = COALESCE($2, name),
         endpoint_url = CASE WHEN $3::boolean THEN $4 ELSE endpoint_url END,
         max_concurrency = COALESCE($5, max_concurrency), updated_at = now()
       WHERE address = $1`,
      [address, patch.name ?? null, patch.endpointUrl !== undefined, patch.endpointUrl ?? null, patch.maxConcurrency ?? null],
    );
    if (caps) await replaceCapabilities(q, address, caps);
  },

  async setSuspended(q: Queryable, address: string, suspended: boolean, reason: string | null) {
    const r = await q.query(
      "UPDATE agents SET suspended = $2, suspended_reason = $3, updated_at = now() WHERE address = $1",
      [address, suspended, reason],
    );
    return r.rowCount === 1;
  },

  async get(q: Queryable, address: string): Promise<AgentRow | undefined> {
    const r = await q.query<AgentRow>(`${SELECT_AGENT} WHERE a.address = $1`, [address]);
    return r.rows[0];
  },

  /** The agent's webhook endpoint and its signing secret. */
  async endpoint(q: Queryable, address: string): Promise<{ endpoint_url: string | null; webhook_secret: string } | undefined> {
    const r = await q.query<{ endpoint_url: string | null; webhook_secret: string }>("SELECT endpoint_url, webhook_secret FROM agents WHERE address = $1", [address]);
    return r.rows[0];
  },

  /** The webhook URL of each of `addresses` that has one. */
  async webhookEndpoints(q: Queryable, addresses: string[]): Promise<Map<string, string>> {
    const r = await q.query<{ address: string; endpoint_url: string }>("SELECT address, endpoint_url FROM agents WHERE address = ANY($1) AND endpoint_url IS NOT NULL", [addresses]);
    return new Map(r.rows.map((x) => [x.address, x.endpoint_url]));
  },

  async exists(q: Queryable, address: string): Promise<boolean> {
    const r = await q.query("SELECT 1 FROM agents WHERE address = $1", [address]);
    return r.rowCount === 1;
  },

  async list(q: Queryable, f: { capability?: string; limit: number; offset: number }) {
    const where = f.capability ? "WHERE EXISTS (SELECT 1 FROM agent_capabilities c WHERE c.agent = a.address AND c.capability = $3)" : "";
    const params: unknown[] = [f.limit, f.offset];
    if (f.capability) params.push(f.capability);
    const r = await q.query<AgentRow>(`${SELECT_AGENT} ${where} ORDER BY a.created_at, a.address LIMIT $1 OFFSET $2`, params);
    const c = await q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM agents a ${f.capability ? "WHERE EXISTS (SELECT 1 FROM agent_capabilities c WHERE c.agent = a.address AND c.capability = $1)" : ""}`,
      f.capability ? [f.capability] : [],
    );
    return { rows: r.rows, total: c.rows[0]!.n };
  },

  /**
   * Opens an auction's call for proposals in one statement: the eligible agents (see
   * ELIGIBLE; never the buyer) become its recipients (`cfps`) and their number the auction's
   * `eligible`.
   */
  async invite(q: Queryable, auction: { id: string; buyer: string; capability: string }): Promise<{ address: string; endpoint_url: string | null }[]> {
    const r = await q.query<{ address: string; endpoint_url: string | null }>(
      // Agents are paid on the buyer's chain, so only accounts of its kind (same length) are asked.
      `WITH e AS (${ELIGIBLE} AND a.address <> $3 AND length(a.address) = length($3)),
            c AS (INSERT INTO cfps (auction_id, agent) SELECT $2::uuid, e.address FROM e),
            u AS (UPDATE auctions SET eligible = (SELECT count(*) FROM e) WHERE id = $2::uuid)
       SELECT e.address, e.endpoint_url FROM e ORDER BY e.address`,
      [auction.capability, auction.id, auction.buyer],
    );
    return r.rows;
  },
};

async function replaceCapabilities(q: Queryable, address: string, caps: { capability: string; minPrice: bigint }[]) {
  await q.query("DELETE FROM agent_capabilities WHERE agent = $1", [address]);
  if (caps.length === 0) return;
  await q.query(
    `INSERT INTO agent_capabilities (agent, capability, min_price)
     SELECT $1, u.capability, u.min_price::numeric FROM unnest($2::text[], $3::text[]) AS u(capability, min_price)`,
    [address, caps.map((c) => c.capability), caps.map((c) => c.minPrice.toString())],
  );
}
