/**
 * Wire vocabulary of tasks, shared by the coordinator, both SDKs, the CLI and the web app.
 * Task lifecycle in FIPA Contract Net terms (DESIGN.md "Task lifecycle").
 */

/** Every status a task can have; the allowed changes between them are in src/tasks/transitions.ts. */
export const TASK_STATUSES = [
  "funding",
  "open",
  "awarded",
  "running",
  "delivered",
  "accepted",
  "disputed",
  "settled",
  "refunded",
  "resolved",
  "expired",
  "failed",
  "cancelled",
] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses after which nothing changes any more. */
export const FINAL_TASK_STATUSES = ["settled", "refunded", "resolved", "expired", "failed", "cancelled"] as const satisfies readonly TaskStatus[];

/** Statuses of a workflow run after which nothing changes any more. */
export const FINAL_WORKFLOW_STATUSES = ["completed", "failed", "cancelled"] as const;

/**
 * Sealed-bid auction rules (see src/auction/rules.ts): first-price, second-price (Vickrey 1961),
 * reputation-weighted second-price, and uniform-price for lots of k identical tasks.
 */
export type AuctionRule = "first-price" | "second-price" | "reputation-weighted" | "uniform-price";
export const AUCTION_RULES: readonly AuctionRule[] = ["first-price", "second-price", "reputation-weighted", "uniform-price"];

/**
 * A call for proposals (FIPA Contract Net `cfp`) as an invited agent receives it from
 * `GET /v1/cfps`, SSE or a webhook; `myProposal` is the agent's own sealed proposal when it has
 * made one (absent in pushed calls).
 */
export type CallForProposals = {
  auctionId: string;
  /** The tasks of the lot (one unless the buyer posted k identical tasks). */
  taskIds: string[];
  capability: string;
  input: unknown;
  complexity: number;
  urgency: string;
  /** Reserve price, token base units, decimal string. */
  budget: string;
  /** ERC-20 address, or the zero address for the native currency. */
  token: string;
  /** ISO 8601. */
  deadline: string;
  rule: string;
  quantity: number;
  /** ISO 8601: when the sealed-bid window closes. */
  closesAt: string;
  myProposal?: { price: string; etaMs: number } | null;
};

/** How the buyer asks to settle: `auto` takes the channel below the escrow threshold. */
export const ROUTES = ["auto", "channel", "escrow"] as const;
export type Route = (typeof ROUTES)[number];

/** Urgency levels of a task (each has a price multiplier: src/pricing/quote.ts). */
export const URGENCIES = ["low", "normal", "high", "critical"] as const;
export type Urgency = (typeof URGENCIES)[number];
