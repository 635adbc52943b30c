/**
 * Waits `ms` milliseconds, or less when `signal` aborts (it resolves then, never rejects): the
 * SDKs' polling loops stop at once on shutdown. No Node-only API, so it runs in browsers too.
 */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
