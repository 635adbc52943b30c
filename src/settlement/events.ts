import type { Queryable } from "../db/index.js";

/** The contracts the indexer follows. */
export type ContractName = "TaskEscrow" | "DisputeResolver" | "PaymentChannels" | "ReputationAnchor";

/**
 * One decoded contract event. `args` holds the event's named arguments with bigints as decimal
 * strings and addresses in lower case, so it can be stored as JSON and replayed.
 * Idempotency key: (chain, txHash, logIndex).
 */
export type ChainEvent = {
  chain: string;
  contract: ContractName;
  name: string;
  args: Record<string, string | number | boolean>;
  blockNumber: number;
  blockHash: string;
  txHash: string;
  logIndex: number;
  /** Block timestamp, ms since epoch. */
  timestamp: number;
};

/**
 * A domain's reaction to a confirmed event, run inside the indexer's database transaction when
 * the block is applied (after the confirmation depth). It must be idempotent. It may return a
 * callback to run after the commit (notifications, queueing jobs).
 */
export type EventHandler = (t: Queryable, ev: ChainEvent) => Promise<void | (() => Promise<void>)>;

/**
 * A domain's reaction to a chain reorganisation, run inside the indexer's roll-back transaction
 * after the events of blocks ≥ `fromBlock` were deleted and the projections rebuilt (the
 * canonical blocks are applied afterwards, with their handlers, as usual).
 */
export type RollbackHandler = (t: Queryable, r: { chain: string; fromBlock: number }) => Promise<void>;

/** Where domains register their handlers; the indexer calls them in block/log order. */
export type EventRegistry = {
  on(contract: ContractName, name: string, handler: EventHandler): void;
  handlersFor(ev: ChainEvent): EventHandler[];
  /** Registers a reaction to reorgs (optional for other registry implementations). */
  onRollback?(handler: RollbackHandler): void;
  rollbackHandlers?(): RollbackHandler[];
};

export function createEventRegistry(): EventRegistry {
  const map = new Map<string, EventHandler[]>();
  const rollbacks: RollbackHandler[] = [];
  return {
    on(contract, name, handler) {
      const k = `${contract}.${name}`;
      map.set(k, [...(map.get(k) ?? []), handler]);
    },
    handlersFor(ev) {
      return map.get(`${ev.contract}.${ev.name}`) ?? [];
    },
    onRollback(handler) {
      rollbacks.push(handler);
    },
    rollbackHandlers: () => [...rollbacks],
  };
}
