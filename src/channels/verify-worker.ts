/**
 * Worker thread of the voucher signature verifier (see verifier.ts): checks batches of
 * vouchers off the event loop of the API process. Each worker keeps its own cache of payers'
 * public keys; the pool sends a payer's vouchers always to the same worker.
 */
import { parentPort, workerData } from "node:worker_threads";
import { checkSignatures, type DomainCandidate, type KeyCache, type RawVoucher } from "./verify.js";

const { separator, candidates } = workerData as { separator: Uint8Array; candidates: DomainCandidate[] };
const cache: KeyCache = new Map();

parentPort!.on("message", (m: { id: number; items: RawVoucher[] }) => {
  try {
    parentPort!.postMessage({ id: m.id, verdicts: checkSignatures(m.items, separator, candidates, cache) });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message });
  }
});
