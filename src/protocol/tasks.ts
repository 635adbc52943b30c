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
 * A call for proposals (FIPA Contract Net `cfp`) as an invited agent receives it: amounts in
 * token base units (decimal strings), times ISO 8601; `myProposal` is the agent's own sealed
 * proposal when it has made one.
 */
export type CallForProposals = {
  auctionId: string;
  taskIds: string[];
  capability: string;
  input: unknown;
  complexity: number;
  urgency: string;
  budget: string;
  token: string;
  deadline: string;
  rule: string;
  quantity: number;
  closesAt: string;
  myProposal: { price: string; etaMs: number } | null;
};

/** How the buyer asks to settle: `auto` takes the channel below the escrow threshold. */
export const ROUTES = ["auto", "channel", "escrow"] as const;
export type Route = (typeof ROUTES)[number];

/** Urgency levels of a task (each has a price multiplier: src/pricing/quote.ts). */
export const URGENCIES = ["low", "normal", "high", "critical"] as const;
export type Urgency = (typeof URGENCIES)[number];
