import { Queue, UnrecoverableError, Worker, type Job, type Processor } from "bullmq";
import { AppError } from "../errors.js";
import type { Redis } from "ioredis";

/** Queue names, one per kind of background work. Job ids are deterministic so jobs are idempotent. */
export const QUEUE_NAMES = {
  auctionClose: "auction-close",
  webhooks: "webhooks",
  execution: "execution",
  chainTx: "chain-tx",
} as const;

export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export type AuctionCloseJob = { auctionId: string };
/** Dispatch of an awarded task, or the check of a running task's deadline. */
export type ExecutionJob = { kind: "dispatch" | "deadline"; taskId: string; attempt: number; agent: string };
/** One coordinator transaction of the outbox (src/chain/sender.ts); job id `tx-<outboxId>`. */
export type ChainTxJob = { outboxId: string };
export type WebhookJob = { agent: string; url: string; event: { type: string; data: Record<string, unknown> } };

export type Queues = {
  auctionClose: Queue<AuctionCloseJob>;
  webhooks: Queue<WebhookJob>;
  execution: Queue<ExecutionJob>;
  chainTx: Queue<ChainTxJob>;
  /**
   * Starts a worker on `name` sharing the queues' prefix and Redis server. A non-retryable
   * AppError thrown by `processor` ends the job at once (BullMQ's UnrecoverableError, mapped
   * here and nowhere else); anything else is retried with the queue's backoff.
   */
  worker<T>(name: QueueName, processor: Processor<T>, concurrency: number): Worker<T>;
  close(): Promise<void>;
};

/**
 * Creates the BullMQ queues under `prefix` (tests use a unique prefix each).
 * @param connection an ioredis client created with `maxRetriesPerRequest: null`
 */
export function createQueues(connection: Redis, prefix: string): Queues {
  const opts = { connection, prefix };
  const auctionClose = new Queue<AuctionCloseJob>(QUEUE_NAMES.auctionClose, {
    ...opts,
    defaultJobOptions: { attempts: 5, backoff: { type: "exponential", delay: 200 }, removeOnComplete: 1000, removeOnFail: 5000 },
  });
  const webhooks = new Queue<WebhookJob>(QUEUE_NAMES.webhooks, {
    ...opts,
    defaultJobOptions: { attempts: 4, backoff: { type: "exponential", delay: 500 }, removeOnComplete: 1000, removeOnFail: 5000 },
  });
  const execution = new Queue<ExecutionJob>(QUEUE_NAMES.execution, {
    ...opts,
    defaultJobOptions: { attempts: 5, backoff: { type: "exponential", delay: 200 }, removeOnComplete: 1000, removeOnFail: 5000 },
  });
  // Attempts back off up to ~30 s; the sender's sweep retries a job that ran out of them.
  const chainTx = new Queue<ChainTxJob>(QUEUE_NAMES.chainTx, {
    ...opts,
    defaultJobOptions: { attempts: 8, backoff: { type: "exponential", delay: 250 }, removeOnComplete: 1000, removeOnFail: 5000 },
  });
  const workers: Worker[] = [];
  // BullMQ does not close a connection it was given: close() disconnects the workers' own.
  const connections: Redis[] = [];
  return {
    auctionClose,
    webhooks,
    execution,
    chainTx,
    worker<T>(name: QueueName, processor: Processor<T>, concurrency: number) {
      const own = connection.duplicate();
      connections.push(own);
      const w = new Worker<T>(name, unrecoverableOnFinal(processor), { connection: own, prefix, concurrency });
      workers.push(w as unknown as Worker);
      return w;
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([auctionClose.close(), webhooks.close(), execution.close(), chainTx.close()]);
      for (const c of connections) c.disconnect();
    },
  };
}

/** Wraps a processor so that a non-retryable AppError becomes BullMQ's UnrecoverableError (no more attempts). */
export function unrecoverableOnFinal<T>(processor: Processor<T>): Processor<T> {
  return async (job, token, signal) => {
    try {
      return await processor(job, token, signal);
    } catch (err) {
      if (err instanceof AppError && !err.retryable) throw new UnrecoverableError(`${err.code}: ${err.message}`);
      throw err;
    }
  };
}

export type { Job };
