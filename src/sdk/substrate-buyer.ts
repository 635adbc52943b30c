/**
 * `createSubstrateBuyer(options)`: a buyer with a Substrate account (sr25519/ed25519 key pair, as
 * @polkadot/keyring gives it). It signs in with Sign-In with Substrate, posts tasks (which settle
 * on the coordinator's Substrate chain, on the escrow route) and sends the calls the coordinator
 * hands out from its own account: the funding `utility.batchAll` into the buyer's custody
 * multisig, the acceptance (`multisig.asMulti` of the payout the coordinator proposed), a dispute
 * remark, a reclaim approval. Each call is checked to be for the chain the coordinator lists
 * (genesis hash) before it is signed.
 *
 * ```ts
 * const pair = new Keyring({ type: "sr25519" }).addFromUri("//Eve");
 * const buyer = createSubstrateBuyer({ baseUrl: "http://127.0.0.1:3000", pair });
 * const t = await buyer.postTask({ capability: "math.evaluate", input: { expression: "1+1" }, complexity: 1,
 *   budget: 2_000_000n, token: "asset:1984", deadline: new Date(Date.now() + 3_600_000), auction: { rule: "second-price", windowMs: 500 } });
 * await buyer.waitTask(t.id, "delivered");
 * await buyer.accept(t.id);
 * ```
 *
 * Amounts are token base units (`bigint` in, decimal strings on the wire).
 */
import { ApiPromise, WsProvider } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { DispatchError } from "@polkadot/types/interfaces";
import { stringToU8a, u8aToHex } from "@polkadot/util";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { Keyring } from "@polkadot/keyring";
import type { SubstrateChainInfo } from "../protocol/network.js";
import type { SubstrateCall } from "../protocol/settlement.js";
import { FINAL_TASK_STATUSES } from "../protocol/tasks.js";
import { BuyerError } from "./buyer-errors.js";
import type { Task, TaskSpec, WaitOptions } from "./buyer-types.js";
import { AicpHttpError, createSession, type Session } from "./session.js";
import { sleep } from "./sleep.js";

export type SubstrateBuyerOptions = {
  /** Coordinator base URL (no trailing `/v1`). */
  baseUrl: string;
  /** The buyer's key pair (its address: SS58). */
  pair: KeyringPair;
  /** WebSocket URL of the chain; default the one the coordinator lists in GET /v1/network. */
  rpcUrl?: string;
  /** Polling interval of `waitTask` and of retries while the chain confirms, ms (default 500). */
  pollMs?: number;
};

export type SubstrateBuyer = {
  /** The account as the coordinator names it: 0x hex AccountId32. */
  readonly address: string;
  readonly session: Session;
  /** Posts a task; on the escrow route sends the funding call from the account (`onFunding` told first). */
  postTask(spec: TaskSpec, opts?: { onFunding?: (description: string) => void }): Promise<Task>;
  getTask(id: string): Promise<Task>;
  listTasks(filter?: { status?: string; limit?: number; offset?: number }): Promise<{ items: Task[]; total: number }>;
  cancelTask(id: string): Promise<Task>;
  /** Polls until the task is in one of `statuses`. @throws BuyerError TASK_ENDED | TIMEOUT | ABORTED */
  waitTask(id: string, statuses: string | readonly string[], opts?: WaitOptions<Task>): Promise<Task>;
  /** Accepts a delivered escrow result: executes the payout from custody. @returns the extrinsic's hash */
  accept(taskId: string): Promise<{ taskId: string; settlement: string; txHash: string }>;
  /** Disputes a delivered result with an ERC-1497 evidence URI (sends the dispute remark). */
  dispute(taskId: string, evidenceUri: string, text?: string): Promise<{ taskId: string; txHash: string }>;
  /** Approves the refund of an undelivered escrow after its deadline (the arbitrator co-signs it). */
  reclaim(taskId: string): Promise<{ taskId: string; txHash: string }>;
  /**
   * Signs and submits a call the coordinator handed out, resolving once it is in a block.
   * @throws BuyerError WRONG_CHAIN (another genesis hash), TX_FAILED (the runtime's error, e.g. `assets.BalanceLow`)
   */
  send(call: SubstrateCall): Promise<{ txHash: string; blockHash: string }>;
  close(): Promise<void>;
};

/** Retries `f` while the coordinator answers 409 ESCROW_NOT_CONFIRMED (the chain has not confirmed yet). */
async function whileUnconfirmed<T>(f: () => Promise<T>, pollMs: number, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (!(err instanceof AicpHttpError && err.code === "ESCROW_NOT_CONFIRMED") || Date.now() > end) throw err;
      await sleep(pollMs);
    }
  }
}

export function createSubstrateBuyer(o: SubstrateBuyerOptions): SubstrateBuyer {
  const pollMs = o.pollMs ?? 500;
  const base = o.baseUrl.replace(/\/+$/, "");
  const session = createSession({ baseUrl: o.baseUrl, wallet: { kind: "substrate", address: o.pair.address, signRaw: async (m) => u8aToHex(o.pair.sign(stringToU8a(m))) } });
  let api: Promise<ApiPromise> | undefined;
  const request = <T>(method: string, path: string, body?: unknown) => session.request<T>(method, path, body);
  const getTask = (id: string) => request<Task>("GET", `/v1/tasks/${encodeURIComponent(id)}`);

  function connect(): Promise<ApiPromise> {
    api ??= (async () => {
      await cryptoWaitReady();
      let url = o.rpcUrl;
      if (!url) {
        const n = (await (await fetch(`${base}/v1/network`)).json()) as { chains?: { kind: string; rpcUrl?: string }[] };
        url = n.chains?.find((c) => c.kind === "substrate")?.rpcUrl;
        if (!url) throw new BuyerError("NO_CHAIN", "The coordinator lists no Substrate chain (GET /v1/network).");
      }
      return ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
    })();
    return api;
  }

  async function send(call: SubstrateCall): Promise<{ txHash: string; blockHash: string }> {
    const a = await connect();
    if (call.chain !== "substrate" || call.genesisHash !== a.genesisHash.toHex())
      throw new BuyerError("WRONG_CHAIN", `The call is for chain ${call.genesisHash}, not ${a.genesisHash.toHex()}; it was not sent.`, { call });
    const tx = a.tx(a.createType("Call", call.call));
    const name = (e: DispatchError) => (e.isModule ? (({ section, name: n }) => `${section}.${n}`)(a.registry.findMetaError(e.asModule)) : e.type);
    return new Promise((resolve, reject) => {
      let unsub: (() => void) | undefined;
      tx.signAndSend(o.pair, (r) => {
        if (r.isError) return reject(new BuyerError("TX_FAILED", `The transaction was dropped (${r.status.type}).`));
        if (!r.status.isInBlock) return;
        unsub?.();
        if (r.dispatchError) return reject(new BuyerError("TX_FAILED", `${call.description}: ${name(r.dispatchError)}`));
        const nested = r.events.find(({ event }) => a.events.multisig.MultisigExecuted.is(event) && (event.data[4] as unknown as { isErr: boolean }).isErr);
        if (nested) return reject(new BuyerError("TX_FAILED", `${call.description}: ${name((nested.event.data[4] as unknown as { asErr: DispatchError }).asErr)}`));
        resolve({ txHash: tx.hash.toHex(), blockHash: r.status.asInBlock.toHex() });
      })
        .then((u) => (unsub = u))
        .catch((err: Error) => reject(new BuyerError("TX_FAILED", `The node refused ${call.description}: ${err.message}`)));
    });
  }

  return {
    address: session.address,
    session,
    async postTask(spec, opts = {}) {
      const r = await request<{ tasks: (Task & { funding: { calls?: SubstrateCall[] } | null })[] }>("POST", "/v1/tasks", {
        ...spec,
        budget: BigInt(spec.budget).toString(),
        deadline: spec.deadline instanceof Date ? spec.deadline.toISOString() : spec.deadline,
      });
      const t = r.tasks[0]!;
      for (const c of t.funding?.calls ?? []) {
        opts.onFunding?.(c.description);
        await send(c);
      }
      return t;
    },
    getTask,
    listTasks: (f = {}) => {
      const q = new URLSearchParams({ buyer: session.address, ...Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])) });
      return request("GET", `/v1/tasks?${q}`);
    },
    cancelTask: (id) => request("POST", `/v1/tasks/${encodeURIComponent(id)}/cancel`),
    async waitTask(id, statuses, opts = {}) {
      const want = new Set(typeof statuses === "string" ? [statuses] : statuses);
      const end = Date.now() + (opts.timeoutMs ?? 600_000);
      let last = "";
      for (;;) {
        const t = await getTask(id);
        if (t.status !== last) {
          last = t.status;
          opts.onProgress?.(t);
        }
        if (want.has(t.status)) return t;
        if ((FINAL_TASK_STATUSES as readonly string[]).includes(t.status)) throw new BuyerError("TASK_ENDED", `Task ${id} ended ${t.status} instead of reaching ${[...want].join(" or ")}.`, { task: t });
        if (opts.signal?.aborted) throw new BuyerError("ABORTED", `Stopped waiting for task ${id}.`);
        if (Date.now() > end) throw new BuyerError("TIMEOUT", `Task ${id} is still ${t.status} after ${opts.timeoutMs ?? 600_000} ms.`, { task: t });
        await sleep(pollMs, opts.signal);
      }
    },
    async accept(taskId) {
      const r = await whileUnconfirmed(() => request<{ call: SubstrateCall | null }>("POST", `/v1/tasks/${encodeURIComponent(taskId)}/accept`), pollMs);
      if (!r.call) throw new BuyerError("NOT_ESCROW", `Task ${taskId} has no release call to send.`);
      return { taskId, settlement: "escrow", txHash: (await send(r.call)).txHash };
    },
    async dispute(taskId, evidenceUri, text) {
      const r = await whileUnconfirmed(() => request<{ call: SubstrateCall }>("POST", `/v1/tasks/${encodeURIComponent(taskId)}/dispute`, { evidenceUri, ...(text ? { text } : {}) }), pollMs);
      return { taskId, txHash: (await send(r.call)).txHash };
    },
    async reclaim(taskId) {
      const r = await request<{ call: SubstrateCall }>("POST", `/v1/tasks/${encodeURIComponent(taskId)}/reclaim`);
      return { taskId, txHash: (await send(r.call)).txHash };
    },
    send,
    async close() {
      if (api) await (await api).disconnect();
    },
  };
}

/** The Substrate chain the coordinator at `baseUrl` lists (GET /v1/network), or undefined. */
export async function substrateNetwork(baseUrl: string): Promise<SubstrateChainInfo | undefined> {
  const n = (await (await fetch(`${baseUrl.replace(/\/+$/, "")}/v1/network`)).json()) as { chains?: ({ kind: string } & Partial<SubstrateChainInfo>)[] };
  return n.chains?.find((c): c is SubstrateChainInfo => c.kind === "substrate");
}

/** An sr25519 key pair from a secret URI (a mnemonic, a hex seed, or a development `//Name`). @throws BuyerError BAD_KEY */
export async function substratePair(uri: string, ss58Format?: number): Promise<KeyringPair> {
  await cryptoWaitReady();
  try {
    return new Keyring({ type: "sr25519", ...(ss58Format !== undefined ? { ss58Format } : {}) }).addFromUri(uri);
  } catch (err) {
    throw new BuyerError("BAD_KEY", `Not a Substrate secret URI: ${(err as Error).message}`);
  }
}
