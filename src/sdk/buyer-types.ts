/** What the buyer SDK sends and receives: its options, the coordinator's task, workflow and channel views, and the Buyer interface (./buyer.ts implements it). */
import type { Signer } from "ethers";
import type { TokenInfo } from "./buyer-amounts.js";
import type { BuyerChain, BuyerChainOptions } from "./buyer-chain.js";
import type { PayFilter, PayRound, SpendingPolicy, VoucherPayment, VoucherSigner } from "./buyer-vouchers.js";
import type { Session } from "./session.js";
import type { FundingPlan } from "../protocol/settlement.js";
import type { PolicyError } from "./buyer-errors.js";

/** The buyer's wallet: an ethers `Wallet` (or any `Signer` with a synchronous `address`). */
export type BuyerSigner = Signer & { readonly address: string; connect?(provider: BuyerChain["provider"]): Signer };

/** Options of {@link createBuyer}. */
export type BuyerOptions = {
  /** Coordinator base URL, e.g. `http://127.0.0.1:3000` (no trailing `/v1`). */
  baseUrl: string;
  /** The buyer's identity and money. Connected to `chain.rpcUrl` when it has no provider. */
  wallet: BuyerSigner;
  /** The settlement chain; without it only the off-chain calls work (posting on the channel route with an existing deposit, reading, paying vouchers needs it for the domain). */
  chain?: BuyerChainOptions;
  /** SIWE parameters: the domain (default the host of `baseUrl`) and chain id (default the deployment's, else 31337). */
  siwe?: { domain?: string; chainId?: number };
  /** How often waits poll the coordinator, ms; default 500. */
  pollMs?: number;
};

/** A task to post (`POST /v1/tasks`). */
export type TaskSpec = {
  /** e.g. `hash.digest`. */
  capability: string;
  /** Any JSON the capability takes (≤ 64 KiB serialised). */
  input: unknown;
  /** 1–10. */
  complexity: number;
  /** `low` | `normal` | `high` | `critical` (default `normal`). */
  urgency?: string;
  /** The reserve price: the most the task may cost, base units (> 0). */
  budget: bigint | string;
  /** ERC-20 address, or {@link NATIVE_TOKEN}. */
  token: string;
  /** When the work must be delivered by (after the auction window). */
  deadline: Date | string;
  /** Sealed-bid rule (`first-price`, `second-price`, `reputation-weighted`, `uniform-price` for lots) and window, ms. */
  auction: { rule: string; windowMs: number };
  /** `auto` (default: channel below the coordinator's escrow threshold), `channel` or `escrow`. */
  route?: "auto" | "channel" | "escrow";
  /** k identical tasks in one uniform-price lot (default 1; see {@link Buyer.postLot}). */
  quantity?: number;
};

/**
 * A task as the coordinator shows it (`GET /v1/tasks/:id`). Amounts are decimal strings of base
 * units; instants ISO 8601. `output` appears once the buyer may see it (channel route: after the
 * voucher); `funding` only in the answer to an escrow-route post.
 */
export type Task = {
  id: string;
  auctionId: string;
  lotIndex: number;
  buyer: string;
  capability: string;
  input: unknown;
  complexity: number;
  urgency: string;
  budget: string;
  token: string;
  deadline: string;
  route: string;
  /** The route it settles on: `channel`, `escrow` or `offchain` (no chain configured). */
  settlement: "channel" | "escrow" | "offchain";
  /** funding → open → awarded → running → delivered → accepted → settled; or disputed → resolved, refunded, expired, failed, cancelled. */
  status: string;
  agent: string | null;
  price: string | null;
  auction: { rule: string; windowMs: number; quantity: number; status: string; eligible: number; closesAt: string; closedAt: string | null; closeReason: string | null };
  execution: { attempts: number; failovers: number; startedAt: string | null; deliveredAt: string | null; resultHash: string | null; failureReason: string | null };
  workflowId: string | null;
  nodeKey: string | null;
  output?: unknown;
  createdAt: string;
  awardedAt: string | null;
  proposals?: { agent: string; price: string; etaMs: number; outcome: string }[];
  funding?: FundingPlan;
};

/** A workflow node (`POST /v1/workflows`): inputs may refer to parents' outputs with `{ "$from": "<key>", "path": "a.b" }`. */
export type WorkflowNodeSpec = {
  key: string;
  capability: string;
  input: unknown;
  complexity: number;
  urgency?: string;
  /** Base units. */
  budget: bigint | string;
  dependsOn?: string[];
  auction?: { rule: string; windowMs: number };
};

/** A DAG workflow: Σ node budgets + reserve ≤ totalBudget. */
export type WorkflowSpec = {
  nodes: WorkflowNodeSpec[];
  /** Base units. */
  totalBudget: bigint | string;
  /** Base units; default a share of the total set by the coordinator (10%). */
  reserve?: bigint | string;
  token: string;
  deadline: Date | string;
  /** Channel (or auto below the threshold) is what the SDK pays automatically; escrow-route nodes are not funded by it. */
  route?: "auto" | "channel" | "escrow";
};

/** A workflow as the coordinator shows it (amounts decimal strings of base units, times ms). */
export type Workflow = {
  id: string;
  buyer: string;
  /** `running`, `completed`, `failed` or `cancelled`. */
  status: string;
  totalBudget: string;
  reserve: string;
  reserveUsed: string;
  token: string;
  route: string;
  deadline: string;
  createdAt: string;
  finishedAt: string | null;
  wallMs: number | null;
  criticalPath: { nodes: string[]; ms: number };
  ledger: Record<string, string>;
  nodes: {
    key: string;
    /** `pending`, `auctioning`, `running`, `done`, `failed` or `cancelled`. */
    status: string;
    dependsOn: string[];
    capability: string;
    budget: string;
    taskId: string | null;
    taskStatus: string | null;
    /** For an escrow-route node waiting for funding: the path of its funding plan (GET). */
    funding?: string | null;
    agent: string | null;
    price: string | null;
    attempts: number;
    failureReason: string | null;
    startedAt: string | null;
    finishedAt: string | null;
    durationMs: number | null;
  }[];
};

/** One token's channel, with bigint amounts (base units). */
export type ChannelAccount = {
  token: string;
  /** In PaymentChannels as the coordinator has indexed it (settlements deducted). */
  deposit: bigint;
  settled: bigint;
  /** Vouched for, not settled yet. */
  owed: bigint;
  /** Held for open, awarded and delivered tasks. */
  promised: bigint;
  /** deposit − owed − promised: what new tasks may promise (negative when over-committed). */
  available: bigint;
  /** A pending withdrawal of the deposit. */
  withdrawal: { availableAt: Date } | null;
  /** Per payee: the last accepted cumulative amount, what is settled, what is due now and for which tasks. */
  pairs: { payee: string; accepted: bigint; settled: bigint; due: bigint; nextCumulativeAmount: bigint; dueTaskIds: string[] }[];
  /** The contract's own figures (with `chain`): the balance and a pending withdrawal's time. */
  onChain?: { balance: bigint; withdrawalAvailableAt: Date | null };
};

/** An event of `GET /v1/events` (`task`, `voucher`, `cfp`, …); `data` is the parsed JSON. */
export type BuyerEvent = { type: string; data: unknown; id?: string };

/** A running automatic payer ({@link Buyer.autoPay}). */
export type AutoPayer = {
  /** Stops after the round in progress. */
  stop(): Promise<void>;
  /** Settles when the payer stops (by `stop()` or the signal). */
  readonly done: Promise<void>;
  /** What it has paid, per token, base units. */
  spent(): Record<string, bigint>;
  /** Counters: vouchers accepted, refusals reported, rounds run. */
  stats(): { payments: number; refused: number; rounds: number };
};


/** A signed-in buyer. */
export type Buyer = {
  /** The wallet's address, lower-case. */
  readonly address: string;
  /** The chain, when `options.chain` was given. */
  readonly chain: BuyerChain | undefined;
  /** The signed-in HTTP session, for calls the SDK does not wrap. */
  readonly session: Session;
  /** Signs in now (SIWE); every call signs in by itself when needed. @throws AicpHttpError */
  signIn(): Promise<void>;

  /**
   * Posts a task. On the escrow route it funds the escrow from the wallet (checking the plan
   * first), then waits until the coordinator has seen the funding and opened the auction.
   * @param opts.usePermit fund with an ERC-2612 permit and `fundWithPermit` (one transaction) when the token supports it
   * @param opts.openTimeoutMs how long to wait for the task to open after funding; default 120 000
   * @param opts.onFunding called before each wallet transaction with its description
   * @returns the task (for a lot of several tasks use {@link Buyer.postLot})
   * @throws AicpHttpError (e.g. 402 INSUFFICIENT_DEPOSIT on the channel route), BuyerError NO_CHAIN | BAD_FUNDING_PLAN | TX_REVERTED | TIMEOUT
   */
  postTask(spec: TaskSpec, opts?: PostOptions): Promise<Task>;
  /** Posts a lot of `spec.quantity` identical tasks (uniform-price); resolves with every task. */
  postLot(spec: TaskSpec, opts?: PostOptions): Promise<Task[]>;
  /** Funds an escrow-route task from its funding plan (what `postTask` does; for a retry). Resolves with the transaction hashes. */
  fund(task: Task, opts?: PostOptions): Promise<string[]>;
  getTask(id: string): Promise<Task>;
  /** `GET /v1/tasks` filtered by status, capability (the buyer's own tasks). */
  listTasks(filter?: { status?: string; capability?: string; limit?: number; offset?: number }): Promise<{ items: Task[]; total: number }>;
  /** Cancels a task's auction before the award. */
  cancelTask(id: string): Promise<Task>;
  /**
   * Waits until the task's status is one of `statuses`.
   * @param opts.onProgress called with the task whenever its status changes (and once at the start)
   * @param opts.timeoutMs default 600 000
   * @throws BuyerError TASK_ENDED (details.task) when it ends in a status not asked for, TIMEOUT
   */
  waitTask(id: string, statuses: string | readonly string[], opts?: WaitOptions<Task>): Promise<Task>;

  /** Posts a workflow (`POST /v1/workflows`). @throws AicpHttpError 400 CYCLE | UNKNOWN_DEPENDENCY | BUDGET_MISMATCH … */
  postWorkflow(spec: WorkflowSpec): Promise<Workflow>;
  getWorkflow(id: string): Promise<Workflow>;
  /**
   * Waits until the workflow is completed, failed or cancelled, calling `onProgress` whenever a
   * node changes. Escrow-route nodes that wait for funding are funded from the wallet (their plan
   * fetched from GET /v1/tasks/:id/funding) when the chain is configured, unless `fund: false`.
   * @throws BuyerError TIMEOUT (default 600 000 ms)
   */
  waitWorkflow(id: string, onProgress?: (w: Workflow) => void, opts?: Omit<WaitOptions<Workflow>, "onProgress"> & { fund?: boolean }): Promise<Workflow>;

  /**
   * Deposits into PaymentChannels from the wallet: approve (when the allowance is short) and
   * `deposit`, or `depositWithPermit` with `usePermit`; the native currency as `value`.
   * @param amount base units (> 0)
   * @throws BuyerError NO_CHAIN | TX_REVERTED | INSUFFICIENT_FUNDS
   */
  deposit(token: string, amount: bigint, opts?: { usePermit?: boolean; onStep?: (description: string) => void }): Promise<{ amount: bigint; txHashes: string[] }>;
  /**
   * Signs and registers an EIP-712 DeliveryAuthorization: channel-route tasks draw on it, and
   * the coordinator may claim delivered work under it (PaymentChannels.claimDelivered) when this
   * buyer withdraws its deposit or does not pay within the payment window. `post`/`postTask`/
   * `createWorkflow` sign one by themselves when the coordinator asks (402
   * DELIVERY_AUTHORIZATION_REQUIRED).
   * @param maxAmount the cap over its life, base units
   * @param expiry unix seconds (default: 30 days from now)
   * @throws BuyerError NO_CHAIN; AicpHttpError AUTHORIZATION_FORGED | AUTHORIZATION_EXPIRED
   */
  authorizeDeliveries(token: string, maxAmount: bigint, expiry?: bigint): Promise<{ digest: string }>;
  /** One token's channel (default: the deployment's token), with on-chain figures when the chain is configured. */
  channel(token?: string): Promise<ChannelAccount>;
  /**
   * Waits until the coordinator has indexed a deposit of at least `atLeast` base units.
   * @throws BuyerError TIMEOUT (default 60 000 ms)
   */
  waitDeposit(token: string, atLeast: bigint, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<ChannelAccount>;
  /** Starts the challenge period of a withdrawal of the whole deposit of `token`. @throws BuyerError NOTHING_TO_WITHDRAW | TX_REVERTED */
  requestChannelWithdrawal(token: string): Promise<{ availableAt: Date; txHash: string }>;
  /** Drops a pending withdrawal request. */
  cancelChannelWithdrawal(token: string): Promise<{ txHash: string }>;
  /** Takes the deposit back once the challenge period is over. @throws BuyerError NO_WITHDRAWAL_REQUEST | CHALLENGE_PERIOD_ACTIVE (details.availableAt) */
  withdrawDeposit(token: string): Promise<{ amount: bigint; txHash: string }>;
  /**
   * The whole channel withdrawal: requests it if none is pending, and — with `wait` — waits out
   * the challenge period (calling `onWaiting` each second with the ms left) and withdraws.
   */
  withdrawChannel(token: string, opts?: { wait?: boolean; onWaiting?: (msLeft: number, availableAt: Date) => void; signal?: AbortSignal }): Promise<
    { status: "requested"; availableAt: Date; txHash?: string } | { status: "withdrawn"; amount: bigint; txHash: string }
  >;

  /** A voucher signer under `policy` (see ./buyer-vouchers.ts). */
  voucherSigner(policy: SpendingPolicy): VoucherSigner;
  /** One payment round under `policy`: pays what is due now. */
  payDue(policy: SpendingPolicy, filter?: PayFilter): Promise<PayRound>;
  /**
   * Pays delivered channel-route results as they arrive, under `policy`: a round at start, on
   * every `delivered` event of the buyer's stream, and every `intervalMs` (default 2 000).
   * Refusals are reported once per payee, token and amount.
   */
  autoPay(policy: SpendingPolicy, opts?: { intervalMs?: number; signal?: AbortSignal; onPayment?: (p: VoucherPayment) => void; onRefusal?: (e: PolicyError) => void; onError?: (e: Error) => void; onRound?: (r: PayRound) => void }): AutoPayer;

  /**
   * Accepts a delivered result. Escrow: sends `release` from the wallet (pays the agent). Channel:
   * pays the voucher that covers this task (and any other result due to the same agent in that
   * token) under `opts.policy` — by default: that agent, that token, each task within its budget.
   * Off-chain: records the acceptance.
   * @throws BuyerError NOT_DUE when the task is not delivered; PolicyError; AicpHttpError
   */
  accept(taskId: string, opts?: { policy?: SpendingPolicy }): Promise<{ taskId: string; settlement: string; txHash?: string; payment?: VoucherPayment }>;
  /** Disputes a delivered escrow task with an ERC-1497 evidence URI (and optional text), sending `dispute` from the wallet. */
  dispute(taskId: string, evidenceUri: string, text?: string): Promise<{ taskId: string; txHash: string }>;
  /** Takes back an undelivered escrow after its deadline, sending `reclaim` from the wallet. */
  reclaim(taskId: string): Promise<{ taskId: string; txHash: string }>;
  /** The buyer's withdrawable balance in TaskEscrow (refunds, dispute splits), base units. */
  escrowBalance(token: string): Promise<bigint>;
  /** Withdraws that balance to the wallet. @throws BuyerError NOTHING_TO_WITHDRAW */
  withdraw(token: string): Promise<{ amount: bigint; txHash: string }>;

  /**
   * Subscribes to the buyer's server-sent events (`GET /v1/events`), reconnecting after errors.
   * @returns `stop()` and `done` (settles after stopping)
   */
  events(onEvent: (e: BuyerEvent) => void, opts?: { signal?: AbortSignal; onError?: (e: Error) => void }): { stop(): void; done: Promise<void> };

  /** Registered agents, optionally by capability (public). */
  agents(filter?: { capability?: string; limit?: number; offset?: number }): Promise<{ items: AgentView[]; total: number }>;
  /** The suggested price (base units) for a capability, complexity and urgency (public). */
  quote(q: { capability: string; complexity: number; urgency?: string; agent?: string }): Promise<{ capability: string; price: string; byTier: Record<string, string>; agent?: { tier: string; multiplierBps: number; price: string } }>;
  /** Symbol and decimals of a token. @throws BuyerError NO_CHAIN */
  tokenInfo(token: string): Promise<TokenInfo>;
  /** Closes the chain connection. */
  close(): void;
};

/** Options of posting. */
export type PostOptions = { usePermit?: boolean; openTimeoutMs?: number; onFunding?: (description: string) => void };
/** Options of waits. */
export type WaitOptions<T> = { onProgress?: (v: T) => void; timeoutMs?: number; signal?: AbortSignal };

/** An agent as `GET /v1/agents` lists it (minPrice in base units, decimal strings). */
export type AgentView = {
  address: string;
  name: string;
  capabilities: { capability: string; minPrice: string }[];
  endpointUrl: string | null;
  maxConcurrency: number;
  suspended: boolean;
  load: number;
  reputation: { successes: number; failures: number; tier: string; multiplierBps: number };
  health: { status: string };
};
