import type { Deployment } from "../protocol/deployment.js";
import type { FundingPlan, PermitTypedData, UnsignedCall } from "../protocol/settlement.js";

export type { FundingPlan, PermitTypedData, UnsignedCall };
import type { IntentKind } from "./outbox-store.js";

/** Read-only chain access the coordinator API needs: health and on-chain roles. */
export type ChainReader = {
  /** Resolves with the head block number; rejects when the RPC is unreachable. */
  ping(): Promise<number>;
  /** Whether `address` holds the arbitrator role on-chain (cached 30 s). */
  isArbitrator(address: string): Promise<boolean>;
  /**
   * Whether the contract account at `address` accepts `signature` over `digest` (ERC-1271
   * `isValidSignature(bytes32,bytes)` answering the magic value 0x1626ba7e on the EVM).
   * False for an address without code or a refusing contract.
   * @param digest 32 bytes, 0x hex (for sign-in: the EIP-191 hash of the message)
   * @throws 503 CHAIN_UNAVAILABLE when the chain does not answer
   */
  isValidContractSignature(address: string, digest: string, signature: string): Promise<boolean>;
  /** The contracts of the configured chain; undefined when nothing is deployed. */
  readonly deployment: Deployment | undefined;
  close(): void;
};

/**
 * The chain-neutral settlement interface. Auctions, scheduling, the ledger and the API speak to a
 * settlement chain only through this type (and through outbox intents, which a backend turns into
 * transactions), so that a second backend — Substrate on `@polkadot/api`, with escrow as a 2-of-3
 * multisig, batched payouts through `utility.batchAll` and anchors through
 * `system.remarkWithEvent` — slots in without touching them.
 *
 * Units everywhere: token amounts in the token's base units (wei for the native currency), as
 * `bigint` inside the coordinator and as decimal strings in anything JSON-bound (plans, calls);
 * times as `Date` inside, unix seconds on-chain.
 *
 * The EVM implementation is `createEvmBackend` (src/settlement/evm-backend.ts).
 */

/**
 * A coordinator transaction before signing: what the sender signs with the operator key.
 * For the EVM: `to` (contract address), `data` (ABI calldata, 0x hex), `value` (wei).
 */
export type TxRequest = { to: string; data: string; value: bigint };

/** What an escrow funding plan needs to know about a task. */
export type FundingTask = {
  /** The task's UUID. */
  id: string;
  /** The buyer's wallet (lower-case 0x address), the only account allowed to fund. */
  buyer: string;
  /** The token (`0x000…0` = the chain's native currency). */
  token: string;
  /** The budget, in token base units (> 0). */
  amount: bigint;
  /** After this instant the buyer may reclaim an undelivered escrow. */
  deadline: Date;
};

/** Calls a buyer (or, for `dispute`, the agent) sends from their own wallet. */
export type PartyCallKind = "release" | "dispute" | "reclaim";

/**
 * A settlement chain. `Tx` is the backend's unsigned-transaction shape (`TxRequest` on the EVM);
 * only that backend's transaction sender consumes it.
 */
export interface SettlementBackend<Tx = TxRequest> {
  /** The name under which outbox rows, indexer cursors and events of this chain are stored (`evm`). */
  readonly chain: string;
  /** The chain id (EIP-155 on the EVM), also the one vouchers and SIWE messages must name. */
  readonly chainId: number;
  /** The coordinator's operator account on this chain (lower-case); it holds only the coordinator role. */
  readonly operator: string;

  /**
   * The calls that fund `task`'s escrow from the buyer's wallet (see `FundingPlan`), carrying the
   * coordinator's funding authorization for that buyer (so no one else can fund the key). Reads the
   * chain only for the ERC-2612 permit (token domain and the buyer's permit nonce); when that read
   * fails the plan comes without `permit`.
   */
  fundingPlan(task: FundingTask): Promise<FundingPlan>;

  /**
   * The `fundWithPermit` call for a plan's permit, with the buyer's EIP-712 signature of
   * `plan.permit.typedData` split into v, r, s.
   * @param permitDeadline unix seconds the typed data was signed with (defaults to the task's deadline)
   * @throws AppError 400 BAD_PERMIT_SIGNATURE when the signature is not a 65-byte (or EIP-2098) signature
   */
  permitCall(task: FundingTask, signature: string, permitDeadline?: number): Promise<UnsignedCall>;

  /**
   * The coordinator transaction of an outbox intent (payload shapes: src/chain/outbox.ts).
   * Pure: no chain access.
   * @throws AppError 400 INVALID_INTENT_PAYLOAD (non-retryable) when the payload is malformed
   */
  buildTx(kind: IntentKind, payload: Record<string, unknown>): Tx;

  /**
   * A call a party sends from their own wallet:
   * - `release`: the buyer accepts (or releases early) — pays the agent the price less the fee;
   * - `dispute`: the buyer or the agent disputes within the acceptance window, with a first
   *   evidence URI (ERC-1497 style, may be empty) in `args.evidenceUri`;
   * - `reclaim`: the buyer takes back an undelivered escrow after the deadline.
   * @throws AppError 400 INVALID_ARGUMENT for a malformed task id or evidence URI
   */
  callFor(kind: PartyCallKind, taskId: string, args?: { evidenceUri?: string }): UnsignedCall;

  /**
   * Whether a failed estimate or call is a deterministic revert of the contract and, if so, its
   * reason: the custom error's name and arguments (`TaskEscrowInvalidState(taskId=0x…, state=0)`),
   * `Error(string)`'s message, or a panic. Undefined for anything else (network errors, node
   * rejections), which callers retry.
   */
  revertReason(err: unknown): string | undefined;

  /**
   * Resolves when the node answers within `timeoutMs` (default 2 000).
   * @throws AppError 503 CHAIN_UNREACHABLE otherwise
   */
  ping(timeoutMs?: number): Promise<void>;

  /** The head block number (EVM) or best/finalized height (Substrate). */
  headBlock(): Promise<number>;
}
