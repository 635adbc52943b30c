/** What the agent SDK takes and reports: capability offers, tasks, payouts, options, events, stats and the Agent interface (./agent.ts implements it). */
import type { CallForProposals } from "../protocol/tasks.js";
import type { AgentSigner, Session, SubstrateSigner } from "./session.js";
import type { PricingStrategy } from "./pricing.js";

export type CapabilityOffer = {
  /** e.g. `math.evaluate` (lower-case letters, digits, `.`, `_`, `-`). */
  capability: string;
  /** The least the agent accepts for one task, base units (bigint, or a decimal string/integer). */
  minPrice: bigint | string | number;
  /** Estimated time to do one task, ms, sent with each proposal; default `options.etaMs`. */
  etaMs?: number;
};

/** A call for proposals as `GET /v1/cfps` returns it (src/protocol/tasks.ts). */
export type { CallForProposals };

/** A task awarded to this agent, as the handler receives it. */
export type Task = {
  taskId: string;
  auctionId: string;
  capability: string;
  /** The buyer's input (any JSON); validate it. */
  input: unknown;
  /** What the agent is paid on delivery, base units. */
  price: bigint;
  /** The task's deadline. */
  deadline: Date;
  /** 1 for the first attempt; the coordinator retries a failed attempt with backoff. */
  attempt: number;
  /** Aborted when the agent gives up on the task (its timeout) or stops. */
  signal: AbortSignal;
};

/**
 * Payout watching and withdrawal (channels: batch-settled voucher credits and delivery claims;
 * escrow: released payouts and dispute splits). The agent SDK only forwards to it; the EVM
 * implementation is `createChainPayouts` (./payouts.ts).
 */
export type PayoutsProvider = {
  /**
   * Starts watching the agent's credits on-chain; calls `onPayout` for each.
   * @returns a function that stops watching
   */
  watch(onPayout: (p: Payout) => void): (() => void) | Promise<() => void>;
  /**
   * Withdraws the agent's whole claimable balance of `token` (pull payment).
   * @param token ERC-20 address, or the zero address for the native currency
   * @returns the amount withdrawn, base units, and the transaction hash
   */
  withdraw(token: string): Promise<{ amount: bigint; txHash: string }>;
};

/** A credit to the agent seen on-chain. */
export type Payout = { token: string; amount: bigint; route: "channel" | "escrow"; taskId?: string; txHash?: string };

/** Options of {@link createAgent}. */
export type AgentOptions = {
  /** Coordinator base URL, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /**
   * The agent's identity: an ethers `Wallet` (or anything with `address` and `signMessage`), or a
   * Substrate account (`{ kind: "substrate", address, signRaw }`): the agent then serves tasks of
   * Substrate buyers and is paid straight into that account by their custody accounts.
   */
  wallet: AgentSigner | SubstrateSigner;
  /** Display name, 1–100 characters. */
  name: string;
  /** What the agent sells (1–50 distinct capabilities). */
  capabilities: CapabilityOffer[];
  /**
   * Serve webhooks on `http://host:port/aicp/webhook` (port 0 = any free port). `publicUrl`
   * overrides the URL registered with the coordinator (behind a proxy or NAT). Without an
   * endpoint the agent runs in pull mode.
   */
  endpoint?: { host: string; port: number; publicUrl?: string };
  /** Tasks run at once (also registered as the coordinator-side limit); default 4. */
  maxConcurrency?: number;
  /** How to price bids; default {@link staticFloor}. */
  pricing?: PricingStrategy;
  /**
   * Does the work. Resolve with the output (any JSON-serialisable value, at most 1 MB), or
   * throw: the error's message (first 500 characters) is reported as the failure reason.
   */
  handler: (task: Task) => Promise<unknown>;
  /** Estimated time per task, ms, for capabilities without their own `etaMs`; default 5 000. */
  etaMs?: number;
  /** The agent gives up on a task after this long, ms (default: at the task's deadline), reports a failure and aborts `task.signal`. */
  taskTimeoutMs?: number;
  /** SIWE parameters: the domain (default the host of `baseUrl`) and chain id (default 31337). */
  siwe?: { domain?: string; chainId?: number };
  /**
   * Webhook secret of an agent registered before (the coordinator returns it once, at the
   * first registration). Needed in webhook mode when the wallet is registered already.
   */
  webhookSecret?: string;
  /** A file to keep the webhook secret in: written at the first registration, read back when registered already. */
  secretFile?: string;
  /** Largest accepted |now − webhook timestamp|, ms; default 300 000. */
  webhookToleranceMs?: number;
  /** Long-poll wait of `GET /v1/cfps`, ms (≤ 60 000); default 25 000. */
  pollWaitMs?: number;
  /** Pull mode: how often running tasks are checked for a missed assignment, and overdue bids for their outcome, ms; default 5 000. */
  reconcileMs?: number;
  /** Payout watching and withdrawal: `createChainPayouts({ chain, wallet })` (./payouts.ts); without it `withdraw` throws. */
  payouts?: PayoutsProvider;
  /** Log sink; silent by default. */
  log?: (level: "debug" | "info" | "warn" | "error", message: string, data?: Record<string, unknown>) => void;
};

/** Events of an agent and their payloads (amounts in base units). */
export type AgentEvents = {
  /** A proposal was sent. */
  bid: { auctionId: string; taskId: string; capability: string; price: bigint; budget: bigint };
  /** An auction was won (`failover`: the task came to this agent as the runner-up of a failed winner). */
  won: { auctionId: string; taskId: string; price: bigint; failover: boolean };
  /** An auction was lost. */
  lost: { auctionId: string; taskIds: string[] };
  /** A task's output was accepted by the coordinator. */
  delivered: { taskId: string; capability: string; price: bigint; token: string; resultHash: string; durationMs: number };
  /** A task failed here (handler threw, timed out, or delivery was refused). */
  failed: { taskId: string; capability: string; attempt: number; error: Error; reported: boolean };
  /** A credit seen by the payouts provider. */
  payout: Payout;
  /** A recoverable problem (network, refused proposal, bad webhook); the agent carries on. */
  error: { error: Error; context: string };
};

/** Counters since `start()`. */
export type AgentStats = {
  /** Proposals sent. */
  bids: number;
  /** Auctions won (failover assignments not included). */
  wins: number;
  /** Auctions lost. */
  losses: number;
  /** wins / (wins + losses); 0 before any outcome. */
  winRate: number;
  /** Tasks that came as the runner-up of a failed winner. */
  failovers: number;
  /** Tasks running now. */
  running: number;
  /** Tasks delivered. */
  delivered: number;
  /** Task attempts that failed here. */
  failed: number;
  /** Sum of the prices of delivered tasks, base units (all tokens together). */
  earnings: bigint;
  /** The same per token address (lower-case). */
  earningsByToken: Record<string, bigint>;
};

/** A running marketplace agent. */
export type Agent = {
  /** The wallet address, lower-case hex. */
  readonly address: string;
  /** The webhook URL registered with the coordinator (webhook mode, after `start()`). */
  readonly webhookUrl: string | undefined;
  /** `webhook` when an endpoint is served, else `pull`. */
  readonly mode: "webhook" | "pull";
  /**
   * Signs in, serves the webhook endpoint (webhook mode), registers or updates the agent, and
   * starts receiving work. Resolves once the agent is registered and listening.
   * @throws AicpHttpError when sign-in or registration is refused; Error in webhook mode when
   *   the wallet is registered already and its webhook secret is unknown
   */
  start(): Promise<void>;
  /**
   * Stops taking work, waits up to `drainMs` (default 5 000) for running tasks, and closes the
   * endpoint and streams.
   */
  stop(opts?: { drainMs?: number }): Promise<void>;
  /** A snapshot of the counters. */
  stats(): AgentStats;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends keyof AgentEvents>(event: E, listener: (payload: AgentEvents[E]) => void): () => void;
  /** Resolves with the next occurrence of `event` for which `filter` holds. */
  once<E extends keyof AgentEvents>(event: E, filter?: (payload: AgentEvents[E]) => boolean): Promise<AgentEvents[E]>;
  /**
   * Withdraws the claimable balance of `token` through the payouts provider.
   * @throws Error when no payouts provider is configured (pass `payouts: createChainPayouts(…)`)
   */
  withdraw(token: string): Promise<{ amount: bigint; txHash: string }>;
  /** The signed-in HTTP session (for calls the SDK does not wrap). */
  readonly session: Session;
};

/** Path of the webhook endpoint served in webhook mode. */
