import type { SubstrateCall, SubstrateFundingPlan } from "../../protocol/settlement.js";
import { notYet } from "../../errors.js";
import { toSs58 } from "./codec.js";
import type { Extrinsic } from "./client.js";
import type { CustodyFacts } from "./sender.js";
import type { SubstrateSettlement } from "./settlement.js";

/**
 * The escrow route's view of the Substrate backend (the shape of src/escrow's EscrowBackend):
 * funding plans, the parties' own calls, the chain's clock and the escrow as indexed.
 *
 * - funding: the buyer's `utility.batchAll[transferKeepAlive → custody, remark(fund + the
 *   coordinator's funding authorization)]`;
 * - acceptance (`releaseCallFor`): the buyer's `multisig.asMulti` executing the payout the
 *   coordinator proposed with its delivery attestation (buyer + coordinator: 2 of 3);
 * - dispute: the buyer's (or agent's) `remarkWithEvent(dispute)` within the acceptance window;
 * - reclaim: the buyer's `multisig.approveAsMulti` of the refund, which the arbitrator's
 *   co-signer executes once the deadline has passed with nothing delivered.
 */
export function createSubstrateEscrowBackend(s: SubstrateSettlement, facts: CustodyFacts, prefix: number) {
  const genesisHash = s.genesisHash;
  const wrap = (call: Extrinsic, description: string): SubstrateCall => ({ chain: "substrate", genesisHash, call: call.method.toHex(), description });

  async function terms(taskId: string) {
    const e = await facts.escrow(taskId);
    if (!e) throw notYet("ESCROW_NOT_CONFIRMED", `The custody account has not confirmed the escrow of task ${taskId} yet; retry shortly.`, 2);
    return e;
  }

  return {
    async fundingPlan(task: { id: string; buyer: string; token: string; amount: bigint; deadline: Date }): Promise<SubstrateFundingPlan> {
      const opening = await s.openingAmount(task.buyer, task.token);
      const custody = s.custody(task.buyer);
      return {
        chain: "substrate",
        genesisHash,
        custody: toSs58(custody.account, prefix),
        taskKey: task.id,
        token: task.token,
        amount: task.amount.toString(),
        opening: opening.toString(),
        deadline: Math.floor(task.deadline.getTime() / 1000),
        authorization: s.fundingAuthorization(task),
        calls: [wrap(s.fundCall(task, opening), `fund the escrow: ${task.amount + opening} base units of ${task.token} into custody ${toSs58(custody.account, prefix)}`)],
      };
    },
    async escrowOf(taskId: string) {
      const e = await facts.escrow(taskId);
      return e ? { state: e.state, buyer: e.buyer, agent: e.agent, price: e.price, amount: e.amount } : { state: "none", buyer: null, agent: null, price: 0n, amount: 0n };
    },
    async releaseCallFor(taskId: string): Promise<SubstrateCall> {
      const e = await terms(taskId);
      if (!e.agent) throw notYet("ESCROW_NOT_CONFIRMED", `The award of task ${taskId} is not confirmed on-chain yet; retry shortly.`, 2);
      const { call } = s.payoutCall({ taskId, buyer: e.buyer, agent: e.agent, token: e.token, amount: e.amount, price: e.price });
      const c = s.custody(e.buyer);
      if (!(await s.proposal(c, call))) throw notYet("ESCROW_NOT_CONFIRMED", `The coordinator's payout proposal of task ${taskId} is not on-chain yet; retry shortly.`, 2);
      return wrap(await s.execution(c, call, e.buyer), "accept: execute the payout the coordinator proposed (multisig.asMulti)");
    },
    async callFor(kind: "release" | "dispute" | "reclaim", taskId: string, args?: { evidenceURI?: string }): Promise<SubstrateCall> {
      if (kind === "release") return this.releaseCallFor(taskId);
      if (kind === "dispute") return wrap(s.remark({ op: "dispute", task: taskId, evidenceUri: args?.evidenceURI ?? "" }), "dispute the delivered result (system.remarkWithEvent)");
      const e = await terms(taskId);
      const call = s.refundCall({ taskId, buyer: e.buyer, token: e.token, amount: e.amount });
      return wrap(s.approval(s.custody(e.buyer), call, e.buyer), "reclaim: approve the refund; the arbitrator co-signs it after the deadline (multisig.approveAsMulti)");
    },
    /** The arbitrator's ruling: batchAll[remark(rule), approveAsMulti(the split's payout)], for the arbitrator's account. */
    async rulingCall(d: { taskId: string; disputeId: string }, agentShareBps: number) {
      const e = await terms(d.taskId);
      if (!e.agent) throw notYet("ESCROW_NOT_CONFIRMED", `The award of task ${d.taskId} is not confirmed on-chain yet.`, 2);
      const { call, split } = s.payoutCall({ taskId: d.taskId, buyer: e.buyer, agent: e.agent, token: e.token, amount: e.amount, price: e.price }, agentShareBps, d.disputeId);
      const rule = s.remark({ op: "rule", task: d.taskId, dispute: d.disputeId, agentBps: agentShareBps });
      return { split, call: wrap(s.batch([rule, s.approval(s.custody(e.buyer), call, s.arbitrator)]), `rule: ${agentShareBps} bps of the price to the agent (remark + multisig.approveAsMulti)`) };
    },
    async chainTime() {
      return (await s.api.query.timestamp.now()).toNumber();
    },
  };
}
