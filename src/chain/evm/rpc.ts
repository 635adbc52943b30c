/**
 * A thin JSON-RPC 2.0 client over fetch for the indexer's hot calls (`eth_getLogs`, batched
 * `eth_getBlockByNumber`): raw JSON in and out, no per-log object wrapping, a timeout per
 * request, and an abort signal so stopping the indexer never waits for a hung node.
 */

/** A block header as the node returns it (hex quantities). */
export type RpcHeader = { number: string; hash: string; parentHash: string; timestamp: string };

/** A log as `eth_getLogs` returns it. `blockTimestamp` is an extension some nodes (EDR, geth ≥ 1.14.9) add. */
export type RpcLog = {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  blockTimestamp?: string;
  transactionHash: string;
  logIndex: string;
  removed?: boolean;
};

/** Thrown for an error answer or a transport failure; `rpcCode` is the JSON-RPC error code. */
export class RpcError extends Error {
  constructor(
    message: string,
    readonly rpcCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RpcError";
  }
}

export type Rpc = {
  call<T>(method: string, params: unknown[]): Promise<T>;
  /** Sends the calls as JSON-RPC batches of at most `maxBatch`; answers in the order asked. */
  batch<T>(calls: { method: string; params: unknown[] }[], maxBatch?: number): Promise<T[]>;
  /** Aborts every request in flight (they reject) and refuses new ones. */
  close(): void;
};

/**
 * @param url the node's HTTP JSON-RPC endpoint
 * @param timeoutMs per HTTP request (a large `eth_getLogs` answer must fit in it)
 */
export function createRpc(url: string, timeoutMs = 30_000): Rpc {
  const closing = new AbortController();
  let id = 0;
  const post = async (body: unknown): Promise<unknown> => {
    if (closing.signal.aborted) throw new RpcError("RPC client closed");
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (err) {
      throw new RpcError(`${url} unreachable: ${(err as Error).message}`, undefined, { cause: err });
    }
    const text = await res.text().catch((err: Error) => {
      throw new RpcError(`${url} answer cut: ${err.message}`, undefined, { cause: err });
    });
    if (!res.ok && !text.startsWith("{") && !text.startsWith("[")) throw new RpcError(`${url} answered HTTP ${res.status}`);
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new RpcError(`${url} answered non-JSON (HTTP ${res.status})`, undefined, { cause: err });
    }
  };
  const unwrap = <T>(m: { method: string }, r: { result?: T; error?: { code: number; message: string } } | undefined): T => {
    if (!r) throw new RpcError(`no answer to ${m.method}`);
    if (r.error) throw new RpcError(`${m.method}: ${r.error.message}`, r.error.code);
    return r.result as T;
  };
  return {
    async call<T>(method: string, params: unknown[]) {
      const r = (await post({ jsonrpc: "2.0", id: ++id, method, params })) as { result?: T; error?: { code: number; message: string } };
      return unwrap<T>({ method }, r);
    },
    async batch<T>(calls: { method: string; params: unknown[] }[], maxBatch = 200) {
      const out: T[] = [];
      for (let i = 0; i < calls.length; i += maxBatch) {
        const chunk = calls.slice(i, i + maxBatch).map((c) => ({ jsonrpc: "2.0", id: ++id, method: c.method, params: c.params }));
        const answer = await post(chunk);
        if (!Array.isArray(answer)) throw new RpcError(`batch of ${chunk[0]?.method}: ${JSON.stringify(answer).slice(0, 200)}`);
        const byId = new Map((answer as { id: number }[]).map((r) => [r.id, r]));
        for (const c of chunk) out.push(unwrap<T>(c, byId.get(c.id) as { result?: T; error?: { code: number; message: string } }));
      }
      return out;
    },
    close: () => closing.abort(),
  };
}
