import "@polkadot/api-augment";
import { ApiPromise, WsProvider } from "@polkadot/api";
import type { SubmittableExtrinsic } from "@polkadot/api/types";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { EventRecord, DispatchError } from "@polkadot/types/interfaces";
import { cryptoWaitReady } from "@polkadot/util-crypto";
import { AppError } from "../../errors.js";

export type Extrinsic = SubmittableExtrinsic<"promise">;

/**
 * Connects to a Substrate node over WebSocket and waits for its metadata.
 * @param url ws:// or wss:// URL
 * @param timeoutMs how long to wait for the first connection (default 30 000)
 * @throws AppError 503 CHAIN_UNREACHABLE when the node does not answer in time
 */
export async function connectSubstrate(url: string, timeoutMs = 30_000): Promise<ApiPromise> {
  await cryptoWaitReady();
  const provider = new WsProvider(url, 1000, {}, timeoutMs);
  const api = new ApiPromise({ provider, noInitWarn: true, throwOnConnect: true });
  const timer = new Promise<never>((_, rej) => setTimeout(() => rej(new AppError("CHAIN_UNREACHABLE", `The Substrate node at ${url} did not answer within ${timeoutMs} ms.`, 503, true)), timeoutMs).unref());
  try {
    return await Promise.race([api.isReadyOrError, timer]);
  } catch (err) {
    await api.disconnect().catch(() => undefined);
    throw err instanceof AppError ? err : new AppError("CHAIN_UNREACHABLE", `The Substrate node at ${url} did not answer: ${(err as Error).message}`, 503, true);
  }
}

/** What a submitted extrinsic did, once it is in a block. */
export type Inclusion = {
  blockHash: string;
  blockNumber: number;
  /** Index of the extrinsic in its block (with the block number: a multisig timepoint). */
  index: number;
  /** The extrinsic's events (phase ApplyExtrinsic(index)). */
  events: EventRecord[];
  /** Fee paid by the signer, planck: Balances.Withdraw of the signer less the refund deposited back. */
  fee: bigint;
};

/**
 * The extrinsic failed in the runtime (a module error such as `balances.InsufficientBalance`,
 * `multisig.AlreadyApproved`) or the pool refused it (bad nonce, cannot pay fees).
 * `dispatch` is `section.Name` for module errors.
 */
export class SubstrateTxError extends AppError {
  /** @param dispatch `section.Name` of the runtime error (`pool.Invalid` for a refusal by the pool) */
  constructor(
    readonly dispatch: string,
    message: string,
  ) {
    super("CHAIN_TX_FAILED", message, 422);
  }
}

/** `section.Name` of a dispatch error, or its string form. */
export function dispatchErrorName(api: ApiPromise, e: DispatchError): string {
  if (e.isModule) {
    const m = api.registry.findMetaError(e.asModule);
    return `${m.section}.${m.name}`;
  }
  if (e.isToken) return `token.${e.asToken.type}`;
  if (e.isArithmetic) return `arithmetic.${e.asArithmetic.type}`;
  return e.type;
}

/**
 * Signs and submits extrinsics, one signer at a time in order (its own nonce counter, so several
 * submissions by one key in one block do not collide), and resolves at inclusion.
 * Nested failures count as failures: a `utility.batchAll` that reverts, a multisig whose
 * executed call failed (`MultisigExecuted.result` Err) or a proxy call that failed.
 */
export type Submitter = {
  /**
   * @throws SubstrateTxError with the runtime's error name when the extrinsic (or the call a
   *   multisig executed) failed; the pool's refusal otherwise
   */
  submit(tx: Extrinsic, signer: KeyringPair): Promise<Inclusion>;
};

export function createSubmitter(api: ApiPromise): Submitter {
  const nonces = new Map<string, number>();
  const chains = new Map<string, Promise<unknown>>();

  async function once(tx: Extrinsic, signer: KeyringPair): Promise<Inclusion> {
    const who = signer.address;
    // The larger of the pool's next index and ours: another program signing with the same key
    // (a wallet, the SDK) moves the chain's count past our cache.
    const next = (await api.rpc.system.accountNextIndex(who)).toNumber();
    const nonce = Math.max(next, nonces.get(who) ?? 0);
    const result = await new Promise<Inclusion>((resolve, reject) => {
      let unsub: (() => void) | undefined;
      tx.signAndSend(signer, { nonce }, (r) => {
        if (r.isError) {
          unsub?.();
          return reject(new SubstrateTxError("pool.Invalid", `The transaction was dropped: ${r.status.type}`));
        }
        if (r.status.isFuture) {
          // A nonce ahead of the account's: it would wait for a gap nothing fills.
          unsub?.();
          return reject(new SubstrateTxError("pool.Invalid", `The transaction's nonce ${nonce} is ahead of the account's; it was not sent.`));
        }
        if (!r.status.isInBlock) return;
        unsub?.();
        const index = r.txIndex ?? 0;
        const blockHash = r.status.asInBlock.toHex();
        const failed = failureOf(api, r.events);
        if (failed) return reject(new SubstrateTxError(failed.name, failed.message));
        api.rpc.chain
          .getHeader(blockHash)
          .then((h) => resolve({ blockHash, blockNumber: h.number.toNumber(), index, events: r.events, fee: feeOf(api, r.events, signer.address)?.fee ?? 0n }))
          .catch(reject);
      })
        .then((u) => (unsub = u))
        .catch((err: Error) => reject(new SubstrateTxError("pool.Invalid", `The node refused the transaction: ${err.message}`)));
    }).catch((err: unknown) => {
      // Pool refusal: the nonce was not used; anything that reached a block used it.
      if (err instanceof SubstrateTxError && err.dispatch === "pool.Invalid") nonces.delete(who);
      else nonces.set(who, nonce + 1);
      throw err;
    });
    nonces.set(who, nonce + 1);
    return result;
  }

  return {
    submit(tx, signer) {
      const prev = chains.get(signer.address) ?? Promise.resolve();
      const next = prev.catch(() => undefined).then(() => once(tx, signer));
      chains.set(signer.address, next);
      return next;
    },
  };
}

/**
 * Why an included extrinsic failed, from its events: `System.ExtrinsicFailed` (the runtime's
 * error, e.g. `multisig.AlreadyApproved`) or a multisig execution whose call failed
 * (`MultisigExecuted.result` Err); undefined when it succeeded.
 */
export function failureOf(api: ApiPromise, events: EventRecord[]): { name: string; message: string } | undefined {
  for (const { event } of events) {
    if (api.events.system.ExtrinsicFailed.is(event)) {
      const name = dispatchErrorName(api, event.data[0] as unknown as DispatchError);
      return { name, message: `The transaction failed: ${name}` };
    }
  }
  const nested = events.find(({ event }) => api.events.multisig.MultisigExecuted.is(event) && event.data[4] && (event.data[4] as unknown as { isErr: boolean }).isErr);
  if (nested) {
    const name = dispatchErrorName(api, (nested.event.data[4] as unknown as { asErr: DispatchError }).asErr);
    return { name, message: `The multisig call failed: ${name}` };
  }
  return undefined;
}

/**
 * The signer's fee in an extrinsic's events (native planck): its Balances.Withdraw less the refund
 * deposited back to it after the dispatch; `at` is the Withdraw's position in `events`.
 * Undefined when the signer paid nothing.
 */
export function feeOf(api: ApiPromise, events: EventRecord[], signer: string): { fee: bigint; at: number } | undefined {
  const id = api.createType("AccountId32", signer).toHex();
  let withdraw: { amount: bigint; at: number } | undefined;
  let refunded = 0n;
  events.forEach(({ event }, at) => {
    if (api.events.balances.Withdraw.is(event) && event.data[0].toHex() === id && !withdraw) withdraw = { amount: event.data[1].toBigInt(), at };
    else if (api.events.balances.Deposit.is(event) && event.data[0].toHex() === id && withdraw) refunded = event.data[1].toBigInt();
  });
  return withdraw && withdraw.amount > refunded ? { fee: withdraw.amount - refunded, at: withdraw.at } : undefined;
}
