import type { Queryable } from "../db/index.js";

/**
 * Reactions to task transitions that must commit together with the transition (settlement
 * intents in the transactional outbox, channel promises, the ledger). Each runs inside the
 * transaction that changes the task; several domains may subscribe.
 */
export type TaskTxHooks = {
  /**
   * An award at auction close, or a re-award to a runner-up on failover. `settlement` is the
   * task's settlement route when the caller has it at hand (subscribers that care read it otherwise).
   */
  awarded?(t: Queryable, task: { id: string; agent: string; price: bigint; failover: boolean; settlement?: string }): Promise<void>;
  /** The awarded agent delivered; `resultHash` = keccak256 of the output's canonical JSON; `settlement` as for `awarded`. */
  delivered?(t: Queryable, task: { id: string; agent: string; price: bigint; resultHash: string; settlement?: string }): Promise<void>;
  /** The task ended without delivery: no valid proposal, every runner-up failed, or cancelled. */
  ended?(t: Queryable, task: { id: string; status: "expired" | "failed" | "cancelled" }): Promise<void>;
};

/** Runs one transition through every subscriber, in registration order. */
export function createTaskTxHooks() {
  const subs: TaskTxHooks[] = [];
  const all: Required<TaskTxHooks> & { subscribe(h: TaskTxHooks): void } = {
    subscribe: (h) => void subs.push(h),
    async awarded(t, task) {
      for (const s of subs) await s.awarded?.(t, task);
    },
    async delivered(t, task) {
      for (const s of subs) await s.delivered?.(t, task);
    },
    async ended(t, task) {
      for (const s of subs) await s.ended?.(t, task);
    },
  };
  return all;
}

export type TaskTxHookBus = ReturnType<typeof createTaskTxHooks>;
