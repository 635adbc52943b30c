import type { ApiPromise } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { u8aToHex } from "@polkadot/util";
import { badRequest, conflict } from "../../errors.js";
import { rulingSplit, type RulingSplit } from "../../protocol/disputes.js";
import { assetIdOf, encodeMemo, toAccountHex, type Memo } from "./codec.js";
import type { Extrinsic, Inclusion, Submitter } from "./client.js";
import { custodyOf, othersOf, type Custody } from "./custody.js";
import { fundingPayload, verifyVoucher, type SubstrateVoucher } from "./vouchers.js";

/**
 * The Substrate settlement backend's operations, on the standard pallets of the Asset Hub
 * runtime only (Balances, Assets, Multisig, Utility, System remarks; no custom pallet):
 *
 * | operation                | extrinsic                                                                  | signed by |
 * |--------------------------|----------------------------------------------------------------------------|-----------|
 * | fund a task's escrow     | utility.batchAll[transferKeepAlive → custody, remarkWithEvent(fund)]       | buyer |
 * | channel deposit          | utility.batchAll[transferKeepAlive → custody, remarkWithEvent(deposit)]    | buyer |
 * | award, delivery, anchor  | system.remarkWithEvent(award / deliver / anchor)                           | coordinator |
 * | dispute                  | system.remarkWithEvent(dispute)                                            | buyer (or coordinator for the agent) |
 * | release, refund, ruling, payouts, deposit withdrawal | multisig.approveAsMulti by one signatory, then multisig.asMulti by a second, of utility.batchAll[transferKeepAlive…, remarkWithEvent(memo)] executed by the custody account | two of buyer, coordinator, arbitrator |
 * | batched payouts          | one utility.batchAll of approveAsMulti (coordinator), one of asMulti (arbitrator), a custody account each | coordinator, then arbitrator |
 *
 * Amounts are token base units (planck for `native`). Transfers keep the sender alive: a custody
 * account keeps the existential deposit (funded by the buyer's first funding, see {@link SubstrateSettlement.openingAmount}).
 * The first approver of a multisig operation reserves the multisig deposit
 * (`multisig.depositBase + 2 × depositFactor`), returned when the call executes or is cancelled.
 */
export type SubstrateSettlement = {
  readonly api: ApiPromise;
  /** The coordinator's account (0x hex). */
  readonly coordinator: string;
  /** The arbitrator co-signing custody operations (0x hex). */
  readonly arbitrator: string;
  /** Where platform fees go (0x hex). */
  readonly treasury: string;
  readonly feeBps: number;
  readonly genesisHash: string;
  /** The custody account of `buyer` (0x hex or SS58). */
  custody(buyer: string): Custody;
  /**
   * What a buyer's first funding of an empty custody account adds so that it exists: the
   * existential deposit of the token (native ED, or the asset's minBalance), base units. 0 once
   * the custody account holds at least that much.
   */
  openingAmount(buyer: string, token: string): Promise<bigint>;
  /** A transferKeepAlive of `amount` of `token` to `to`. @throws 400 INVALID_TOKEN, INVALID_ACCOUNT */
  transfer(token: string, to: string, amount: bigint): Extrinsic;
  /**
   * The buyer's call funding a task's escrow (budget + opening amount when the custody is empty),
   * carrying the coordinator's funding authorization for exactly this buyer, token, amount and deadline.
   */
  fundCall(task: { id: string; buyer: string; token: string; amount: bigint; deadline: Date }, opening?: bigint): Extrinsic;
  /** The buyer's call depositing into their channel balance. */
  depositCall(buyer: string, token: string, amount: bigint, opening?: bigint): Extrinsic;
  /** A remark carrying `memo` (attestations). */
  remark(memo: Memo): Extrinsic;
  /** Coordinator attestations, submitted with the coordinator's key. */
  award(taskId: string, agent: string, price: bigint): Promise<Inclusion>;
  deliver(taskId: string, resultHash: string, acceptanceEndsAt: Date): Promise<Inclusion>;
  anchor(epoch: bigint, root: string, uri: string): Promise<Inclusion>;
  /**
   * The custody call paying a task out: the agent `price − fee` (fee = price × feeBps / 10 000),
   * the fee to the treasury and the unused budget back to the buyer; `agentBps` < 10 000 is a
   * ruling's split (rulingSplit, the same arithmetic as the EVM's DisputeResolver).
   */
  payoutCall(e: EscrowTerms, agentBps?: number, disputeId?: string): { call: Extrinsic; split: RulingSplit };
  /** The custody call refunding a task's whole escrow to the buyer. */
  refundCall(e: Pick<EscrowTerms, "taskId" | "buyer" | "token" | "amount">): Extrinsic;
  /** The custody call returning unused channel deposit to the buyer. */
  withdrawCall(buyer: string, token: string, amount: bigint): Extrinsic;
  /**
   * The custody calls of a payout batch, one per payer: each pays every payee the increase of its
   * voucher over what was settled before, in one utility.batchAll with a `settle` memo.
   * @param settled the cumulative amount already paid per `payer|payee|token`
   * @throws 400 BAD_VOUCHER_SIGNATURE for a voucher the payer did not sign; 409 VOUCHER_NOT_NEWER for one not above what was settled
   */
  settleCalls(batch: string, vouchers: { voucher: SubstrateVoucher; signature: string }[], settled: Map<string, bigint>): { custody: Custody; call: Extrinsic; total: bigint }[];
  /** The coordinator's sr25519 funding authorization of a task (0x hex; see vouchers.ts `fundingPayload`). */
  fundingAuthorization(task: { id: string; buyer: string; token: string; amount: bigint; deadline: Date }): string;
  /** The approveAsMulti by `signer` (0x hex or SS58) of a custody call, unsigned: nothing moves yet. */
  approval(custody: Custody, call: Extrinsic, signer: string): Extrinsic;
  /** The asMulti by `signer` that executes a proposed custody call, unsigned. @throws 409 NOT_PROPOSED */
  execution(custody: Custody, call: Extrinsic, signer: string): Promise<Extrinsic>;
  /** The pending proposal of a custody call: who approved it (0x hex) and who holds its deposit; undefined when none. */
  proposal(custody: Custody, call: Extrinsic): Promise<{ approvals: string[]; depositor: string } | undefined>;
  /** utility.batchAll of `calls`. */
  batch(calls: Extrinsic[]): Extrinsic;
  /** First approval of a custody call (multisig.approveAsMulti): nothing moves yet. */
  propose(custody: Custody, call: Extrinsic, signer: KeyringPair): Promise<Inclusion>;
  /** The approval that executes a proposed custody call (multisig.asMulti with its timepoint). @throws 409 NOT_PROPOSED */
  execute(custody: Custody, call: Extrinsic, signer: KeyringPair): Promise<Inclusion>;
  /** Several proposals in one extrinsic (utility.batchAll of approveAsMulti). */
  proposeMany(items: { custody: Custody; call: Extrinsic }[], signer: KeyringPair): Promise<Inclusion>;
  /** Several executions in one extrinsic (utility.batchAll of asMulti). */
  executeMany(items: { custody: Custody; call: Extrinsic }[], signer: KeyringPair): Promise<Inclusion>;
  /** Withdraws a pending proposal (multisig.cancelAsMulti by its depositor), returning the deposit. */
  cancel(custody: Custody, call: Extrinsic, signer: KeyringPair): Promise<Inclusion>;
  /** Free balance of `token` held by `account`, base units. */
  balance(account: string, token: string): Promise<bigint>;
};

/** A funded task's escrow terms. Accounts 0x hex or SS58; amounts base units. */
export type EscrowTerms = { taskId: string; buyer: string; agent: string; token: string; amount: bigint; price: bigint };

export type SubstrateSettlementOptions = {
  api: ApiPromise;
  submitter: Submitter;
  /** The coordinator's key (attestations, proposals). */
  coordinator: KeyringPair;
  arbitrator: string;
  treasury: string;
  /** Platform fee, bps of the agent's share. */
  feeBps: number;
};

/** Weight limit for executing a custody call: generous, the runtime charges what was used. */
const MAX_WEIGHT = 5_000_000_000;

export function createSubstrateSettlement(o: SubstrateSettlementOptions): SubstrateSettlement {
  const { api, submitter } = o;
  const coordinator = toAccountHex(o.coordinator.address);
  const arbitrator = toAccountHex(o.arbitrator);
  const treasury = toAccountHex(o.treasury);
  const genesisHash = api.genesisHash.toHex();
  const custody = (buyer: string) => custodyOf(buyer, coordinator, arbitrator);
  const remark = (m: Memo) => api.tx.system.remarkWithEvent(u8aToHex(encodeMemo(m)));
  const batch = (calls: Extrinsic[]) => api.tx.utility.batchAll(calls);

  function transfer(token: string, to: string, amount: bigint): Extrinsic {
    if (amount <= 0n) throw badRequest("INVALID_AMOUNT", "A transfer needs a positive amount.");
    const asset = assetIdOf(token);
    const dest = { Id: toAccountHex(to) };
    return asset === undefined ? api.tx.balances.transferKeepAlive(dest, amount) : api.tx.assets.transferKeepAlive(asset, dest, amount);
  }
  const transfers = (token: string, parts: [string, bigint][]) => parts.filter(([, a]) => a > 0n).map(([to, a]) => transfer(token, to, a));

  async function balance(account: string, token: string): Promise<bigint> {
    const asset = assetIdOf(token);
    if (asset === undefined) return (await api.query.system.account(toAccountHex(account))).data.free.toBigInt();
    const a = await api.query.assets.account(asset, toAccountHex(account));
    return a.isSome ? a.unwrap().balance.toBigInt() : 0n;
  }

  async function minimum(token: string): Promise<bigint> {
    const asset = assetIdOf(token);
    if (asset === undefined) return api.consts.balances.existentialDeposit.toBigInt();
    const d = await api.query.assets.asset(asset);
    if (d.isNone) throw badRequest("UNKNOWN_ASSET", `Asset ${asset} does not exist on this chain.`);
    return d.unwrap().minBalance.toBigInt();
  }

  async function pending(c: Custody, callHash: string) {
    const m = await api.query.multisig.multisigs(c.account, callHash);
    return m.isSome ? m.unwrap() : undefined;
  }

  // Weights V1 runtimes (Asset Hub's genesis runtime) take a u64 max weight and asMulti a
  // `store_call` flag; Weights V2 runtimes a { refTime, proofSize } and no flag.
  const weightV1 = api.tx.multisig.asMulti.meta.args.length === 6;
  const maxWeight = weightV1 ? MAX_WEIGHT : { refTime: MAX_WEIGHT, proofSize: 1_000_000 };
  const dyn = (f: unknown) => f as (...args: unknown[]) => Extrinsic;
  const approveCall = (c: Custody, call: Extrinsic, signer: string) => dyn(api.tx.multisig.approveAsMulti)(c.threshold, othersOf(c, signer), null, call.method.hash, weightV1 ? 0 : maxWeight);
  async function asMultiCall(c: Custody, call: Extrinsic, signer: string) {
    const p = await pending(c, call.method.hash.toHex());
    if (!p) throw conflict("NOT_PROPOSED", `No pending proposal of call ${call.method.hash.toHex()} for custody ${c.account}.`);
    const others = othersOf(c, signer);
    return weightV1 ? dyn(api.tx.multisig.asMulti)(c.threshold, others, p.when, call.method.toHex(), false, maxWeight) : dyn(api.tx.multisig.asMulti)(c.threshold, others, p.when, call.method.toHex(), maxWeight);
  }

  function fundingAuthorization(task: { id: string; buyer: string; token: string; amount: bigint; deadline: Date }): string {
    const deadline = Math.floor(task.deadline.getTime() / 1000);
    return u8aToHex(o.coordinator.sign(fundingPayload({ taskId: task.id, buyer: task.buyer, token: task.token, amount: task.amount, deadline }, genesisHash)));
  }

  return {
    api,
    coordinator,
    arbitrator,
    treasury,
    feeBps: o.feeBps,
    genesisHash,
    custody,
    async openingAmount(buyer, token) {
      const [held, min] = await Promise.all([balance(custody(buyer).account, token), minimum(token)]);
      return held >= min ? 0n : min - held;
    },
    transfer,
    fundingAuthorization,
    fundCall(task, opening = 0n) {
      const deadline = Math.floor(task.deadline.getTime() / 1000);
      const auth = fundingAuthorization(task);
      return batch([transfer(task.token, custody(task.buyer).account, task.amount + opening), remark({ op: "fund", task: task.id, token: task.token, amount: task.amount.toString(), deadline, auth })]);
    },
    depositCall(buyer, token, amount, opening = 0n) {
      return batch([transfer(token, custody(buyer).account, amount + opening), remark({ op: "deposit", token, amount: amount.toString() })]);
    },
    remark,
    award: (taskId, agent, price) => submitter.submit(remark({ op: "award", task: taskId, agent: toAccountHex(agent), price: price.toString() }), o.coordinator),
    deliver: (taskId, resultHash, endsAt) => submitter.submit(remark({ op: "deliver", task: taskId, resultHash: resultHash.toLowerCase(), acceptanceEndsAt: Math.floor(endsAt.getTime() / 1000) }), o.coordinator),
    anchor: (epoch, root, uri) => submitter.submit(remark({ op: "anchor", epoch: epoch.toString(), root: root.toLowerCase(), uri }), o.coordinator),
    payoutCall(e, agentBps = 10_000, disputeId) {
      const split = rulingSplit(e.price, e.amount, agentBps, o.feeBps);
      const agent = toAccountHex(e.agent);
      const buyer = toAccountHex(e.buyer);
      const memo: Memo =
        agentBps === 10_000
          ? { op: "release", task: e.taskId, buyer, token: e.token, agent, agentAmount: split.agent.toString(), fee: split.fee.toString(), buyerAmount: split.buyer.toString() }
          : { op: "ruling", task: e.taskId, buyer, token: e.token, agent, agentAmount: split.agent.toString(), fee: split.fee.toString(), buyerAmount: split.buyer.toString(), agentBps, ...(disputeId ? { dispute: disputeId } : {}) };
      const call = batch([...transfers(e.token, [[agent, split.agent], [treasury, split.fee], [buyer, split.buyer]]), remark(memo)]);
      return { call, split };
    },
    refundCall(e) {
      return batch([transfer(e.token, e.buyer, e.amount), remark({ op: "refund", task: e.taskId, buyer: toAccountHex(e.buyer), token: e.token, amount: e.amount.toString() })]);
    },
    withdrawCall(buyer, token, amount) {
      return batch([transfer(token, buyer, amount), remark({ op: "withdraw", buyer: toAccountHex(buyer), token, amount: amount.toString() })]);
    },
    settleCalls(batchId, vouchers, settled) {
      // Highest valid voucher per pair wins; each payer's custody pays its payees in one batch.
      const best = new Map<string, { payer: string; payee: string; token: string; cumulative: bigint }>();
      for (const { voucher: v, signature } of vouchers) {
        if (!verifyVoucher(v, signature, genesisHash)) throw badRequest("BAD_VOUCHER_SIGNATURE", `The voucher for ${v.payee} was not signed by its payer ${v.payer} on this chain.`);
        const payer = toAccountHex(v.payer);
        const payee = toAccountHex(v.payee);
        const k = `${payer}|${payee}|${v.token}`;
        if (v.cumulative <= (settled.get(k) ?? 0n)) throw conflict("VOUCHER_NOT_NEWER", `The voucher's cumulative ${v.cumulative} is not above the ${settled.get(k) ?? 0n} already settled for ${k}.`);
        const b = best.get(k);
        if (!b || v.cumulative > b.cumulative) best.set(k, { payer, payee, token: v.token, cumulative: v.cumulative });
      }
      const byPayer = new Map<string, { payer: string; token: string; entries: { payee: string; cumulative: bigint; amount: bigint }[] }>();
      for (const [k, b] of best) {
        const g = byPayer.get(`${b.payer}|${b.token}`) ?? { payer: b.payer, token: b.token, entries: [] };
        g.entries.push({ payee: b.payee, cumulative: b.cumulative, amount: b.cumulative - (settled.get(k) ?? 0n) });
        byPayer.set(`${b.payer}|${b.token}`, g);
      }
      return [...byPayer.values()].map((g) => ({
        custody: custody(g.payer),
        total: g.entries.reduce((s, x) => s + x.amount, 0n),
        call: batch([
          ...g.entries.map((x) => transfer(g.token, x.payee, x.amount)),
          remark({ op: "settle", batch: batchId, buyer: g.payer, token: g.token, entries: g.entries.map((x) => ({ payee: x.payee, cumulative: x.cumulative.toString(), amount: x.amount.toString() })) }),
        ]),
      }));
    },
    approval: (c, call, signer) => approveCall(c, call, signer),
    execution: (c, call, signer) => asMultiCall(c, call, signer),
    async proposal(c, call) {
      const p = await pending(c, call.method.hash.toHex());
      return p ? { approvals: p.approvals.map((a) => a.toHex().toLowerCase()), depositor: p.depositor.toHex().toLowerCase() } : undefined;
    },
    batch,
    propose: (c, call, signer) => submitter.submit(approveCall(c, call, signer.address), signer),
    async execute(c, call, signer) {
      return submitter.submit(await asMultiCall(c, call, signer.address), signer);
    },
    proposeMany: (items, signer) => submitter.submit(batch(items.map((i) => approveCall(i.custody, i.call, signer.address))), signer),
    async executeMany(items, signer) {
      return submitter.submit(batch(await Promise.all(items.map((i) => asMultiCall(i.custody, i.call, signer.address)))), signer);
    },
    async cancel(c, call, signer) {
      const p = await pending(c, call.method.hash.toHex());
      if (!p) throw conflict("NOT_PROPOSED", `No pending proposal of call ${call.method.hash.toHex()} for custody ${c.account}.`);
      return submitter.submit(api.tx.multisig.cancelAsMulti(c.threshold, othersOf(c, signer.address), p.when, call.method.hash), signer);
    },
    balance,
  };
}
