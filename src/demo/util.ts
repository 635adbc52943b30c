/** Small concurrency helpers of the demo. */

/** Raised when the demo cannot go on (wrong chain, coordinator unreachable, a step timed out). */
export class DemoError extends Error {
  override readonly name = "DemoError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

import { setTimeout as sleep } from "node:timers/promises";

export { sleep };

/**
 * Polls `f` until it returns something truthy.
 * @throws DemoError TIMEOUT naming `what`
 */
export async function until<T>(what: string, f: () => Promise<T | undefined | false | null>, timeoutMs: number, stepMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > end)
      throw new DemoError("TIMEOUT", `${what} did not happen within ${Math.round(timeoutMs / 1000)} s${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`);
    await sleep(stepMs);
  }
}

/** Runs the functions given to it one at a time (a wallet's transactions: one nonce sequence). */
export function createMutex(): <T>(f: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(f: () => Promise<T>) => {
    const run = tail.then(f);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** A counting semaphore: at most `n` holders at once. */
export function createSemaphore(n: number): { acquire(): Promise<void>; release(): void; readonly free: number } {
  let free = n;
  const waiting: (() => void)[] = [];
  return {
    acquire() {
      if (free > 0) {
        free--;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
    get free() {
      return free;
    },
  };
}
