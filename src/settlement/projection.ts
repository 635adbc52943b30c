import type { Queryable } from "../db/index.js";
import { postMovements, type Movement, type Posting } from "../ledger/store.js";
import type { ChainEvent, ContractName } from "./events.js";

/**
 * The projection kit. Each contract's events have one projection module, the store of the
 * tables derived from them (escrow/projection.ts, disputes/projection.ts, channels/projection.ts,
 * reputation/projection.ts); the indexer runs them through {@link createProjector}.
 *
 * Projections of the contracts' state into Postgres, maintained by the indexer from confirmed
 * events, in block/log order, inside the indexer's transaction:
 *
 * - `escrows` (TaskEscrow, one row per task; `state` named after `ITaskEscrow.State`: funded,
 *   awarded, delivered, disputed, released, refunded, resolved);
 * - `disputes` (DisputeResolver; `status` after `IDisputeResolver.Status`: awaiting_ruling,
 *   ruled, finalized) and `dispute_evidence` rows with source `chain` from ERC-1497 `Evidence`
 *   events (the evidence group id is the dispute id);
 * - `channel_accounts` (a payer's on-chain deposit per token and pending withdrawal) and
 *   `channel_pairs.settled` (the on-chain settled amount per pair; `accepted` is the
 *   coordinator's and only raised to stay ≥ settled);
 * - `reputation_epochs.anchored_at/anchored_tx` (RootAnchored whose epoch and root match);
 * - the double-entry ledger (src/ledger/store.ts) of every on-chain movement of money, one
 *   group per event, `<chain>:<txHash>:<logIndex>`, tagged with the block number so a reorg
 *   rolls it back:
 *
 * | event                          | from                      | to                                   |
 * |--------------------------------|---------------------------|--------------------------------------|
 * | EscrowFunded                   | wallet:<buyer>            | escrow:<task>                        |
 * | EscrowAwarded                  | (nothing moves: the escrow holds the budget until it ends) |        |
 * | EscrowReleased                 | escrow:<task>             | escrow-credit:<agent> (agentAmount), treasury (fee), escrow-credit:<buyer> (buyerAmount: unused budget) |
 * | EscrowRefunded / Reclaimed     | escrow:<task>             | escrow-credit:<buyer>                |
 * | RulingExecuted                 | escrow:<task>             | escrow-credit:<agent>, escrow-credit:<buyer>, treasury |
 * | TaskEscrow.Withdrawn           | escrow-credit:<account>, then treasury for the rest (fees credited while it was the treasury) | wallet:<account> |
 * | Deposited                      | wallet:<payer>            | channel-deposit:<payer>              |
 * | VoucherSettled                 | channel-deposit:<payer>   | channel-claimable:<payee>            |
 * | DepositWithdrawn               | channel-deposit:<payer>   | wallet:<payer>                       |
 * | PaymentChannels.Withdrawn      | channel-claimable:<payee> | wallet:<payee>                       |
 * | CustodyReserved (Substrate)    | wallet:<buyer>            | custody-reserve:<buyer>              |
 * | FeePaid (Substrate)            | wallet:<signer>           | chain-fees                           |
 * | DepositReserved / Unreserved (Substrate) | wallet:<approver> | multisig-deposit:<approver> (and back) |
 *
 * Amounts are token base units (the event's token; `0x0…0` = native currency). Off-chain
 * movements between channel-* accounts (promises, owed amounts) are the channel domain's and
 * leave the per-token sum of channel-* accounts equal to PaymentChannels' balance; that is what
 * checkChainInvariants (src/chain/evm/invariants.ts) checks. A domain that already moves
 * money into `channel-claimable:<payee>` for a VoucherSettled (through channel-owed accounts)
 * should move the owed amount back to `channel-deposit:<payer>` instead, so the payee is not
 * credited twice.
 *
 * Idempotency comes from the indexer: an event is projected only when its chain_events row is
 * new (chain, tx hash, log index). Hot events (deposits, settlements) are folded in memory and
 * written with one statement per table per batch; everything else is one statement per event.
 */

/** Postgres takes timestamps up to 294276 AD, JS dates to 275760 AD: clamp uint64 seconds to 9999-12-31. */
const MAX_SECONDS = 253_402_300_799n;

/** Unix seconds (decimal string) → Date, clamped so a hostile uint64 cannot break the batch. */
export function secondsToDate(s: unknown): Date {
  const v = BigInt(String(s));
  return new Date(Number(v > MAX_SECONDS ? MAX_SECONDS : v) * 1000);
}
/** Like secondsToDate, with 0 meaning "not set". */
export const optionalDate = (s: unknown) => (BigInt(String(s)) === 0n ? null : secondsToDate(s));
/** An address argument, lower case. */
export const addr = (v: unknown) => String(v).toLowerCase();
/** An amount argument (token base units, decimal string in the event's JSON). */
export const amount = (v: unknown) => BigInt(String(v));

/** Where projections post the ledger movements of their events (batched until the flush). */
export type LedgerPoster = {
  /** Whether movements are posted at all (off when replaying events whose postings were kept). */
  readonly enabled: boolean;
  /** One movement of `ev` (group `<chain>:<txHash>:<logIndex>`) in `token`'s base units. */
  post(ev: ChainEvent, token: string, kind: string, entries: Posting[], taskId?: string | null): void;
  /** What this batch has posted to `account` in `token` and not flushed yet. */
  pending(account: string, token: string): bigint;
};

/** One contract's projector, bound to the indexer's transaction. */
export type ContractProjector = {
  /** Applies one event (block/log order, each once). */
  apply(ev: ChainEvent): Promise<void>;
  /** Writes what it folded in memory (called before anyone reads the projections). */
  flush?(): Promise<void>;
};

/** A contract's projection module. */
export type ContractProjection = {
  readonly contract: ContractName;
  bind(t: Queryable, ledger: LedgerPoster): ContractProjector;
  /** Clears the tables it derives, before a replay of every stored event. */
  reset(t: Queryable): Promise<void>;
  /** Runs in a reorg before the events of blocks ≥ `fromBlock` are deleted (what it cannot rebuild by replay). */
  beforeRollback?(t: Queryable, chain: string, fromBlock: number): Promise<void>;
};

export type ProjectorOptions = {
  /** Chain name of the ledger groups (`<chain>:<tx>:<log>`); defaults to the event's chain. */
  chain?: string;
  /** Post ledger movements (default true); off when replaying events whose postings were kept. */
  ledger?: boolean;
};

/** Applies events in order; `flush` writes what is folded in memory (call it before reading). */
export type Projector = {
  apply(ev: ChainEvent): Promise<void>;
  flush(): Promise<void>;
};

/**
 * A projector of `projections` bound to one transaction. Events must come in block/log order and
 * only once (the indexer projects only events whose chain_events row it just inserted); events of
 * contracts without a projection are kept in chain_events only.
 */
export function createProjector(t: Queryable, projections: readonly ContractProjection[], opts: ProjectorOptions = {}): Projector {
  const movements: Movement[] = [];
  /** Unflushed ledger deltas, `account|token` → amount. */
  const pendingDeltas = new Map<string, bigint>();
  const ledger: LedgerPoster = {
    enabled: opts.ledger !== false,
    post(ev, token, kind, entries, taskId = null) {
      if (!ledger.enabled) return;
      const tok = token.toLowerCase();
      movements.push({ group: `${opts.chain ?? ev.chain}:${ev.txHash}:${ev.logIndex}`, token: tok, kind, taskId, block: ev.blockNumber, entries });
      for (const e of entries) pendingDeltas.set(`${e.account}|${tok}`, (pendingDeltas.get(`${e.account}|${tok}`) ?? 0n) + e.amount);
    },
    pending: (account, token) => pendingDeltas.get(`${account}|${token.toLowerCase()}`) ?? 0n,
  };
  const bound = new Map(projections.map((p) => [p.contract, p.bind(t, ledger)]));
  return {
    async apply(ev) {
      await bound.get(ev.contract)?.apply(ev);
    },
    async flush() {
      for (const p of bound.values()) await p.flush?.();
      if (movements.length) {
        const ms = movements.splice(0);
        pendingDeltas.clear();
        await postMovements(t, ms);
      }
    },
  };
}
