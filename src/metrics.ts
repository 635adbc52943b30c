import { Counter, Histogram, Registry, collectDefaultMetrics, Gauge } from "prom-client";

/** Prometheus metrics of one process; each context gets its own registry (no global state). */
export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: "aicp_http_requests_total",
      help: "HTTP requests by method, route and status",
      labelNames: ["method", "route", "status"] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "aicp_http_request_duration_seconds",
      help: "HTTP request latency",
      labelNames: ["method", "route"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    auctionsClosed: new Counter({
      name: "aicp_auctions_closed_total",
      help: "Auctions closed by rule and outcome",
      labelNames: ["rule", "outcome"] as const,
      registers: [registry],
    }),
    closeToAward: new Histogram({
      name: "aicp_auction_close_to_award_seconds",
      help: "From the auction's scheduled close to the award being committed",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    proposals: new Counter({ name: "aicp_proposals_total", help: "Proposals accepted", registers: [registry] }),
    webhookFailures: new Counter({
      name: "aicp_webhook_failures_total",
      help: "Webhook deliveries to agents that failed",
      registers: [registry],
    }),
    /**
     * Coordinator transactions of the escrow route that the chain refused (reverted or failed),
     * by intent kind and what the reconciliation with TaskEscrow's state did: `consistent` (the
     * chain already says what Postgres says), `task-failed` (the task was failed and refunded to
     * follow the chain), `retry` (sent again later), `operator` (needs a person: see the log).
     * Alert rule: ops/prometheus-alerts.yml.
     */
    escrowReverts: new Counter({
      name: "aicp_escrow_intent_reverted_total",
      help: "Escrow-route coordinator transactions the chain refused, by kind and reconciliation outcome",
      labelNames: ["kind", "outcome"] as const,
      registers: [registry],
    }),
    openAuctions: new Gauge({ name: "aicp_open_auctions", help: "Auctions open now (sampled)", registers: [registry] }),
    /** 0 closed, 1 half-open, 2 open; set from Postgres at each scrape (see api/app.ts). */
    breakerState: new Gauge({ name: "aicp_agent_breaker_state", help: "Circuit breaker per agent: 0 closed, 1 half-open, 2 open", labelNames: ["agent"] as const, registers: [registry] }),
  };
}
