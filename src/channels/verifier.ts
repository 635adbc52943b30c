import { Worker } from "node:worker_threads";
import type { Logger } from "../logger.js";
import { checkSignatures, domainSeparator, wrongDomains, type KeyCache, type RawVoucher, type Verdict } from "./verify.js";

/**
 * Verifies voucher signatures on a pool of worker threads (or inline with `threads: 0`).
 * Concurrent requests are coalesced: while a lane is busy its next vouchers queue up and go
 * out together as one batch, so batch verification grows with the load. A payer's vouchers
 * always go to the same lane, whose key cache then knows the payer.
 */
export type SignatureVerifier = {
  /** One verdict per voucher, in order (see `Verdict`). */
  check(items: readonly RawVoucher[]): Promise<Verdict[]>;
  close(): Promise<void>;
};

/** Most vouchers sent to one lane at once. */
const LANE_BATCH = 2048;

type Waiter = { item: RawVoucher; resolve(v: Verdict): void; reject(e: Error): void };

type Lane = { queue: Waiter[]; busy: boolean; run(items: RawVoucher[]): Promise<Verdict[]>; close(): Promise<void> };

/**
 * @param opts.chainId and opts.contract: this chain's id and the PaymentChannels address
 *   (the EIP-712 domain vouchers must be signed under)
 * @param opts.otherContracts: the other AICP contract addresses, as likely wrong domains
 * @param opts.threads: worker threads (0 = verify on the calling thread)
 */
export function createSignatureVerifier(opts: { chainId: number; contract: string; otherContracts: string[]; threads: number; log?: Logger }): SignatureVerifier {
  const separator = domainSeparator(opts.chainId, opts.contract);
  const candidates = wrongDomains(opts.chainId, opts.contract, opts.otherContracts);
  const lanes: Lane[] = [];
  if (opts.threads <= 0) {
    const cache: KeyCache = new Map();
    lanes.push({
      queue: [],
      busy: false,
      // Deferred to the next turn so that concurrent requests share a batch.
      run: (items) => new Promise((resolve, reject) => setImmediate(() => {
        try {
          resolve(checkSignatures(items, separator, candidates, cache));
        } catch (err) {
          reject(err as Error);
        }
      })),
      close: async () => undefined,
    });
  } else {
    const file = new URL(import.meta.url.endsWith(".ts") ? "./verify-worker.ts" : "./verify-worker.js", import.meta.url);
    for (let i = 0; i < opts.threads; i++) lanes.push(workerLane(file, separator, candidates, opts.log));
  }

  const pump = (lane: Lane) => {
    if (lane.busy || lane.queue.length === 0) return;
    lane.busy = true;
    const batch = lane.queue.splice(0, LANE_BATCH);
    lane
      .run(batch.map((w) => w.item))
      .then(
        (verdicts) => batch.forEach((w, i) => w.resolve(verdicts[i]!)),
        (err: Error) => batch.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        lane.busy = false;
        pump(lane);
      });
  };

  const laneOf = (payer: string) => {
    let h = 0;
    for (let i = payer.length - 8; i < payer.length; i++) h = (h * 31 + payer.charCodeAt(i)) >>> 0;
    return lanes[h % lanes.length]!;
  };

  return {
    check(items) {
      const touched = new Set<Lane>();
      const all = items.map(
        (item) =>
          new Promise<Verdict>((resolve, reject) => {
            const lane = laneOf(item.payer.toLowerCase());
            lane.queue.push({ item, resolve, reject });
            touched.add(lane);
          }),
      );
      for (const lane of touched) pump(lane);
      return Promise.all(all);
    },
    async close() {
      await Promise.all(lanes.map((l) => l.close()));
    },
  };
}

function workerLane(file: URL, separator: Uint8Array, candidates: ReturnType<typeof wrongDomains>, log?: Logger): Lane {
  let worker: Worker;
  let seq = 0;
  const inflight = new Map<number, { resolve(v: Verdict[]): void; reject(e: Error): void }>();
  let closing = false;
  const spawn = () => {
    worker = new Worker(file, { workerData: { separator, candidates } });
    worker.unref();
    worker.on("message", (m: { id: number; verdicts?: Verdict[]; error?: string }) => {
      const w = inflight.get(m.id);
      if (!w) return;
      inflight.delete(m.id);
      if (m.verdicts) w.resolve(m.verdicts);
      else w.reject(new Error(m.error ?? "verifier worker failed"));
    });
    // A dead worker fails what it held and is replaced, so one bad input cannot stop verification.
    worker.on("error", (err) => log?.error({ err }, "voucher verifier worker failed"));
    worker.on("exit", (code) => {
      for (const w of inflight.values()) w.reject(new Error(`voucher verifier worker exited (${code})`));
      inflight.clear();
      if (!closing) spawn();
    });
  };
  spawn();
  return {
    queue: [],
    busy: false,
    run(items) {
      return new Promise((resolve, reject) => {
        const id = ++seq;
        inflight.set(id, { resolve, reject });
        worker.postMessage({ id, items });
      });
    },
    async close() {
      closing = true;
      await worker.terminate();
    },
  };
}
