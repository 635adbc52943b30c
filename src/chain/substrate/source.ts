import type { ApiPromise } from "@polkadot/api";
import type { Call, EventRecord } from "@polkadot/types/interfaces";
import type { Logger } from "../../logger.js";
import { taskKey } from "../../protocol/keys.js";
import type { BlockRef, ChainSource } from "../../settlement/chain-source.js";
import type { ChainEvent, ContractName } from "../../settlement/events.js";
import { decodeMemo, remarkHash, toAccountHex, tokenOf, type Memo } from "./codec.js";
import { custodyOf } from "./custody.js";
import { feeOf } from "./client.js";
import { verifyFunding } from "./vouchers.js";

/**
 * A Substrate chain as the indexer's chain source (src/indexer runs it unchanged, under the chain
 * name `substrate`):
 *
 * - `head()` is the **finalized** head: the indexer applies only finalized blocks (run it with
 *   confirmations 0).
 * - `headers(n)`: block hash, parent hash and `timestamp.now`, so the indexer's parent-hash checks
 *   detect a reorg (a block replaced at the same height) and roll back.
 * - `events(from, to)`: each block's extrinsics and `system.events`, decoded into the settlement
 *   vocabulary the projections already speak (TaskEscrow.EscrowFunded, PaymentChannels.VoucherSettled,
 *   ReputationAnchor.RootAnchored, …), with accounts as 0x hex AccountId32 and tokens `native` /
 *   `asset:<id>`. Idempotency key: `txHash` = the block hash, `logIndex` = 4 × the index of the
 *   Substrate event the settlement event comes from + k (k < 4 when one Substrate event yields
 *   several): (block hash, event index).
 *
 * Trust: a `fund` memo needs the coordinator's funding authorization for its sender; a memo counts only when its `Remarked` event (sender, blake2-256 of the bytes) is in a
 * successful extrinsic, from the right origin (the coordinator for attestations, the buyer for
 * funding, the buyer's custody multisig for money leaving custody), and when the transfers it
 * itemises are exactly the transfers of that extrinsic (Balances.Transfer / Assets.Transferred).
 * A memo's transfers are those after the previous memo of the extrinsic, so one extrinsic may
 * execute several custody calls (a batch of multisig executions). Anything else is skipped
 * (logged at debug).
 */
/** Substrate dispute ids: above any DisputeResolver id, from the dispute memo's block and event index. */
export const substrateDisputeId = (block: number, eventIndex: number): string => String(10n ** 15n + BigInt(block) * 10_000n + BigInt(eventIndex));

export function createSubstrateSource(
  api: ApiPromise,
  o: { coordinator: string; arbitrator: string; treasury: string; startBlock?: number; log?: Logger; ruleWindowS?: number; appealWindowS?: number },
): ChainSource {
  const ruleWindowS = o.ruleWindowS ?? 3 * 86400;
  const appealWindowS = o.appealWindowS ?? 86400;
  const coordinator = toAccountHex(o.coordinator);
  const treasury = toAccountHex(o.treasury);
  const arbitrator = toAccountHex(o.arbitrator);
  const genesisHash = api.genesisHash.toHex();
  const custody = (buyer: string) => custodyOf(buyer, coordinator, arbitrator).account;

  async function header(n: number): Promise<BlockRef | null> {
    const hash = await api.rpc.chain.getBlockHash(n);
    if (hash.isEmpty || /^0x0+$/.test(hash.toHex())) return null;
    const [h, at] = await Promise.all([api.rpc.chain.getHeader(hash), api.at(hash)]);
    if (h.number.toNumber() !== n) return null;
    const now = (await at.query.timestamp.now()).toNumber();
    return { number: n, hash: hash.toHex().toLowerCase(), parentHash: h.parentHash.toHex().toLowerCase(), timestamp: now };
  }

  /** Remarks reachable from a call: direct, inside batches, multisig and proxy calls. */
  function remarksOf(call: Call, out: Uint8Array[], depth = 0): void {
    if (depth > 6) return;
    const { section, method } = call;
    if (section === "system" && (method === "remarkWithEvent" || method === "remark")) out.push(call.args[0]!.toU8a(true));
    else if (section === "utility" && (method === "batch" || method === "batchAll" || method === "forceBatch")) for (const c of call.args[0] as unknown as Call[]) remarksOf(c, out, depth + 1);
    else if (section === "multisig" && method === "asMulti") {
      try {
        const inner = api.createType("Call", (call.args[3] as unknown as { toU8a(b: boolean): Uint8Array }).toU8a(true));
        remarksOf(inner, out, depth + 1);
      } catch {
        /* an opaque call this runtime cannot decode */
      }
    } else if (section === "multisig" && method === "asMultiThreshold1") remarksOf(call.args[1] as unknown as Call, out, depth + 1);
    else if (section === "proxy" && (method === "proxy" || method === "proxyAnnounced")) remarksOf(call.args[call.args.length - 1] as unknown as Call, out, depth + 1);
    else if (section === "utility" && method === "asDerivative") remarksOf(call.args[1] as unknown as Call, out, depth + 1);
  }

  type Transfer = { index: number; from: string; to: string; token: string; amount: bigint };

  /**
   * What an AICP extrinsic cost its signer and which multisig deposits it reserved or returned,
   * in native planck: `FeePaid` (Balances.Withdraw of the signer less the refund deposited back to
   * it), `DepositReserved` / `DepositUnreserved` (Balances.Reserved / Unreserved: the first
   * approver's multisig deposit and its return on execution or cancellation).
   */
  function costs(records: { index: number; r: EventRecord }[], signer: string, block: { number: number; hash: string; timestamp: number }, chain: string): ChainEvent[] {
    const out: ChainEvent[] = [];
    const ev = (name: string, index: number, account: string, amount: bigint) =>
      out.push({ chain, contract: "TaskEscrow", name, args: { account, token: "native", amount: amount.toString() }, blockNumber: block.number, blockHash: block.hash, txHash: block.hash, logIndex: index * 4 + 2, timestamp: block.timestamp });
    for (const { index, r } of records) {
      const e = r.event;
      if (api.events.balances.Reserved.is(e)) ev("DepositReserved", index, e.data[0].toHex(), e.data[1].toBigInt());
      else if (api.events.balances.Unreserved.is(e)) ev("DepositUnreserved", index, e.data[0].toHex(), e.data[1].toBigInt());
    }
    const fee = feeOf(api, records.map(({ r }) => r), signer);
    if (fee) ev("FeePaid", records[fee.at]!.index, signer, fee.fee);
    return out;
  }

  function decodeExtrinsic(records: { index: number; r: EventRecord }[], call: Call, signer: string, block: { number: number; hash: string; timestamp: number }, chain: string): ChainEvent[] {
    const bytes: Uint8Array[] = [];
    remarksOf(call, bytes);
    const memos = new Map<string, Memo>();
    for (const b of bytes) {
      const m = decodeMemo(b);
      if (m) memos.set(remarkHash(b), m);
    }
    // The coordinator's and the arbitrator's extrinsics are all AICP's (their multisig approvals
    // carry only a call hash); anyone else's when they carry a memo.
    const ours = memos.size > 0 || signer === coordinator || signer === arbitrator;
    if (!ours) return [];
    const paid = costs(records, signer, block, chain);
    if (!memos.size || records.some(({ r }) => api.events.system.ExtrinsicFailed.is(r.event))) return paid;
    const all: Transfer[] = [];
    for (const { index, r } of records) {
      const e = r.event;
      if (api.events.balances.Transfer.is(e)) all.push({ index, from: e.data[0].toHex(), to: e.data[1].toHex(), token: "native", amount: e.data[2].toBigInt() });
      else if (api.events.assets.Transferred.is(e)) all.push({ index, from: e.data[1].toHex(), to: e.data[2].toHex(), token: tokenOf(e.data[0].toNumber()), amount: e.data[3].toBigInt() });
    }
    const out: ChainEvent[] = [];
    const emit = (contract: ContractName, name: string, logIndex: number, args: ChainEvent["args"]) =>
      out.push({ chain, contract, name, args, blockNumber: block.number, blockHash: block.hash, txHash: block.hash, logIndex, timestamp: block.timestamp });
    const skip = (why: string, m: Memo) => o.log?.debug({ block: block.number, op: m.op, why }, "memo skipped");
    // Each AICP call ends with its memo, so the transfers of a memo are those between the
    // previous memo's Remarked event and its own (several custody calls can share an extrinsic).
    let windowStart = -1;
    for (const { index, r } of records) {
      if (!api.events.system.Remarked.is(r.event)) continue;
      const sender = r.event.data[0].toHex();
      const m = memos.get(r.event.data[1].toHex());
      if (!m) continue;
      const transfers = all.filter((t) => t.index > windowStart && t.index < index);
      windowStart = index;
      const li = index * 4;
      /** The transfers out of `from` in this extrinsic, checked against the memo's items (recipient → amount). */
      const exactly = (from: string, token: string, items: [string, bigint][]): Transfer[] | undefined => {
        const outs = transfers.filter((t) => t.from === from);
        const want = items.filter(([, a]) => a > 0n);
        if (outs.length !== want.length) return undefined;
        const used = new Set<Transfer>();
        for (const [to, a] of want) {
          const t = outs.find((x) => !used.has(x) && x.to === to && x.token === token && x.amount === a);
          if (!t) return undefined;
          used.add(t);
        }
        return [...used];
      };
      switch (m.op) {
        case "fund":
        case "deposit": {
          const into = custody(sender);
          const t = transfers.find((x) => x.from === sender && x.to === into && x.token === m.token && x.amount >= BigInt(m.amount));
          if (!t) {
            skip("no matching transfer into the buyer's custody", m);
            break;
          }
          if (m.op === "fund" && !verifyFunding({ taskId: m.task, buyer: sender, token: m.token, amount: BigInt(m.amount), deadline: m.deadline }, m.auth, coordinator, genesisHash)) {
            skip("no coordinator funding authorization for this buyer, token, amount and deadline", m);
            break;
          }
          const opening = t.amount - BigInt(m.amount);
          if (m.op === "fund") emit("TaskEscrow", "EscrowFunded", li, { taskId: taskKey(m.task), buyer: sender, token: m.token, amount: m.amount, deadline: String(m.deadline) });
          else emit("PaymentChannels", "Deposited", li, { payer: sender, token: m.token, amount: m.amount });
          if (opening > 0n) emit("TaskEscrow", "CustodyReserved", t.index * 4 + 1, { account: sender, token: m.token, amount: opening.toString() });
          break;
        }
        case "award":
          if (sender !== coordinator) skip("not from the coordinator", m);
          else emit("TaskEscrow", "EscrowAwarded", li, { taskId: taskKey(m.task), agent: m.agent, price: m.price });
          break;
        case "deliver":
          if (sender !== coordinator) skip("not from the coordinator", m);
          else emit("TaskEscrow", "ResultDelivered", li, { taskId: taskKey(m.task), resultHash: m.resultHash, deliveredAt: String(Math.floor(block.timestamp / 1000)), acceptanceEndsAt: String(m.acceptanceEndsAt) });
          break;
        case "anchor":
          if (sender !== coordinator) skip("not from the coordinator", m);
          else emit("ReputationAnchor", "RootAnchored", li, { epoch: m.epoch, root: m.root, uri: m.uri, anchoredAt: String(Math.floor(block.timestamp / 1000)) });
          break;
        case "dispute": {
          // The escrow projection takes it only from the buyer or the agent within the window;
          // the dispute row follows the escrow's (DisputeResolver's part: the one arbitrator).
          const disputeId = substrateDisputeId(block.number, index);
          const at = Math.floor(block.timestamp / 1000);
          emit("TaskEscrow", "EscrowDisputed", li, { taskId: taskKey(m.task), disputeId, by: sender, evidenceUri: m.evidenceUri, at: String(at) });
          emit("DisputeResolver", "DisputeOpened", li + 1, { disputeId, taskId: taskKey(m.task), openedBy: sender, arbitrator, ruleDeadline: String(at + ruleWindowS) });
          if (m.evidenceUri) emit("DisputeResolver", "Evidence", li + 3, { _evidenceGroupID: disputeId, _party: sender, _evidence: m.evidenceUri });
          break;
        }
        case "rule":
          if (sender !== arbitrator) skip("not from the arbitrator", m);
          else
            emit("DisputeResolver", "DisputeRuled", li, {
              disputeId: m.dispute,
              taskId: taskKey(m.task),
              arbitrator,
              agentShareBps: String(m.agentBps),
              appealDeadline: String(Math.floor(block.timestamp / 1000) + appealWindowS),
            });
          break;
        case "release":
        case "ruling": {
          if (sender !== custody(m.buyer)) {
            skip("not executed by the buyer's custody", m);
            break;
          }
          const moved = exactly(sender, m.token, [
            [m.agent, BigInt(m.agentAmount)],
            [treasury, BigInt(m.fee)],
            [m.buyer, BigInt(m.buyerAmount)],
          ]);
          if (!moved) {
            skip("transfers do not match the memo", m);
            break;
          }
          emit("TaskEscrow", m.op === "release" ? "EscrowReleased" : "RulingExecuted", li, {
            taskId: taskKey(m.task),
            agent: m.agent,
            buyer: m.buyer,
            token: m.token,
            agentAmount: m.agentAmount,
            fee: m.fee,
            buyerAmount: m.buyerAmount,
          });
          for (const t of moved) emit("TaskEscrow", "Withdrawn", t.index * 4 + 1, { account: t.to, token: t.token, amount: t.amount.toString() });
          if (m.op === "ruling" && m.dispute) emit("DisputeResolver", "DisputeFinalized", li + 1, { disputeId: m.dispute, taskId: taskKey(m.task), agentShareBps: String(m.agentBps) });
          break;
        }
        case "refund":
        case "withdraw": {
          // Custody pays the buyer back: a task's whole escrow, or unused channel deposit.
          const ts = sender === custody(m.buyer) ? exactly(sender, m.token, [[m.buyer, BigInt(m.amount)]]) : undefined;
          if (!ts) {
            skip("not a payment from the buyer's custody to the buyer", m);
            break;
          }
          if (m.op === "withdraw") emit("PaymentChannels", "DepositWithdrawn", li, { payer: m.buyer, token: m.token, amount: m.amount, partial: true });
          else {
            emit("TaskEscrow", "EscrowRefunded", li, { taskId: taskKey(m.task), buyer: m.buyer, token: m.token, amount: m.amount });
            emit("TaskEscrow", "Withdrawn", ts[0]!.index * 4 + 1, { account: m.buyer, token: m.token, amount: m.amount });
          }
          break;
        }
        case "settle": {
          const ts = sender === custody(m.buyer) ? exactly(sender, m.token, m.entries.map((e) => [e.payee, BigInt(e.amount)])) : undefined;
          if (!ts) {
            skip("payouts do not match the memo", m);
            break;
          }
          for (const e of m.entries) {
            const t = ts.find((x) => x.to === e.payee && x.amount === BigInt(e.amount))!;
            emit("PaymentChannels", "VoucherSettled", t.index * 4, { payer: m.buyer, payee: e.payee, token: m.token, cumulativeAmount: e.cumulative, increase: e.amount });
            emit("PaymentChannels", "Withdrawn", t.index * 4 + 1, { payee: e.payee, token: m.token, amount: e.amount });
          }
          break;
        }
      }
    }
    return [...out, ...paid].sort((a, b) => a.logIndex - b.logIndex);
  }

  async function blockEvents(n: number, chain: string): Promise<ChainEvent[]> {
    const hash = await api.rpc.chain.getBlockHash(n);
    const [signed, at] = await Promise.all([api.rpc.chain.getBlock(hash), api.at(hash)]);
    const [records, now] = await Promise.all([at.query.system.events(), at.query.timestamp.now()]);
    const block = { number: n, hash: hash.toHex().toLowerCase(), timestamp: now.toNumber() };
    const byExtrinsic = new Map<number, { index: number; r: EventRecord }[]>();
    (records as unknown as EventRecord[]).forEach((r, index) => {
      if (!r.phase.isApplyExtrinsic) return;
      const i = r.phase.asApplyExtrinsic.toNumber();
      byExtrinsic.set(i, [...(byExtrinsic.get(i) ?? []), { index, r }]);
    });
    const out: ChainEvent[] = [];
    signed.block.extrinsics.forEach((ex, i) => {
      if (!ex.isSigned) return;
      out.push(...decodeExtrinsic(byExtrinsic.get(i) ?? [], ex.method as unknown as Call, toAccountHex(ex.signer.toString()), block, chain));
    });
    return out;
  }

  return {
    startBlock: o.startBlock ?? 1,
    open() {},
    close() {},
    async head() {
      const h = await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead());
      return h.number.toNumber();
    },
    async headers(numbers) {
      const unique = [...new Set(numbers)];
      const hs = await Promise.all(unique.map(header));
      return new Map(unique.map((n, i) => [n, hs[i] ?? null]));
    },
    async events(from, to, chain) {
      const out: ChainEvent[] = [];
      for (let n = from; n <= to; n++) out.push(...(await blockEvents(n, chain)));
      return out;
    },
  };
}
