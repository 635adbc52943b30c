import type { Queryable } from "../db/index.js";
import { totalOf } from "../ledger/store.js";
import { taskIdFromKey } from "../protocol/keys.js";
import type { ChainEvent } from "../settlement/events.js";
import { addr, amount, secondsToDate, type ContractProjection } from "../settlement/projection.js";

/**
 * TaskEscrow's projection: `escrows` (one row per task; `state` named after
 * `ITaskEscrow.State`: funded, awarded, delivered, disputed, released, refunded, resolved) and
 * the ledger movements of escrow money (src/settlement/projection.ts has the table).
 */
export const escrowProjection: ContractProjection = {
  contract: "TaskEscrow",
  bind(t, ledger) {
    const escrowUpdate = (ev: ChainEvent, set: string, params: unknown[]) =>
      t.query(`UPDATE escrows SET ${set}, updated_block = $2 WHERE task_id = $1`, [taskIdFromKey(String(ev.args["taskId"])), ev.blockNumber, ...params]);
    return {
      async apply(ev) {
        const a = ev.args;
        switch (ev.name) {
          case "EscrowFunded": {
            const task = taskIdFromKey(String(a["taskId"]));
            await t.query(
              `INSERT INTO escrows (task_id, escrow_key, buyer, token, amount, deadline, state, updated_block)
             VALUES ($1, $2, $3, $4, $5, $6, 'funded', $7)
             ON CONFLICT (task_id) DO UPDATE SET buyer = EXCLUDED.buyer, token = EXCLUDED.token, amount = EXCLUDED.amount,
               deadline = EXCLUDED.deadline, state = 'funded', updated_block = EXCLUDED.updated_block`,
              [task, String(a["taskId"]).toLowerCase(), addr(a["buyer"]), addr(a["token"]), String(a["amount"]), secondsToDate(a["deadline"]), ev.blockNumber],
            );
            ledger.post(
              ev,
              addr(a["token"]),
              "escrow.fund",
              [
                { account: `wallet:${addr(a["buyer"])}`, amount: -amount(a["amount"]) },
                { account: `escrow:${task}`, amount: amount(a["amount"]) },
              ],
              task,
            );
            return;
          }
          case "EscrowAwarded":
            // No money moves at an award: the escrow holds the whole budget until it ends.
            await escrowUpdate(ev, "state = 'awarded', agent = $3, price = $4", [addr(a["agent"]), String(a["price"])]);
            return;
          case "ResultDelivered":
            await escrowUpdate(ev, "state = 'delivered', result_hash = $3, delivered_at = $4, acceptance_ends_at = $5", [
              String(a["resultHash"]).toLowerCase(),
              secondsToDate(a["deliveredAt"]),
              secondsToDate(a["acceptanceEndsAt"]),
            ]);
            return;
          case "EscrowReleased": {
            const task = taskIdFromKey(String(a["taskId"]));
            await escrowUpdate(ev, "state = 'released'", []);
            ledger.post(
              ev,
              addr(a["token"]),
              "escrow.release",
              [
                { account: `escrow:${task}`, amount: -(amount(a["agentAmount"]) + amount(a["fee"]) + amount(a["buyerAmount"])) },
                { account: `escrow-credit:${addr(a["agent"])}`, amount: amount(a["agentAmount"]) },
                { account: "treasury", amount: amount(a["fee"]) },
                { account: `escrow-credit:${addr(a["buyer"])}`, amount: amount(a["buyerAmount"]) },
              ],
              task,
            );
            return;
          }
          case "EscrowRefunded":
          case "EscrowReclaimed": {
            const task = taskIdFromKey(String(a["taskId"]));
            await escrowUpdate(ev, "state = 'refunded'", []);
            ledger.post(
              ev,
              addr(a["token"]),
              ev.name === "EscrowRefunded" ? "escrow.refund" : "escrow.reclaim",
              [
                { account: `escrow:${task}`, amount: -amount(a["amount"]) },
                { account: `escrow-credit:${addr(a["buyer"])}`, amount: amount(a["amount"]) },
              ],
              task,
            );
            return;
          }
          case "EscrowDisputed":
            if (ev.chain === "substrate") {
              // A memo anyone can write: it counts only from the buyer or the awarded agent of a
              // delivered escrow, within its acceptance window (what TaskEscrow.dispute checks).
              await t.query(
                `UPDATE escrows SET state = 'disputed', dispute_id = $3, updated_block = $2
                  WHERE task_id = $1 AND state = 'delivered' AND $4 IN (buyer, agent) AND acceptance_ends_at >= $5`,
                [taskIdFromKey(String(a["taskId"])), ev.blockNumber, String(a["disputeId"]), addr(a["by"]), secondsToDate(a["at"])],
              );
              return;
            }
            await escrowUpdate(ev, "state = 'disputed', dispute_id = $3", [String(a["disputeId"])]);
            return;
          case "RulingExecuted": {
            const task = taskIdFromKey(String(a["taskId"]));
            await escrowUpdate(ev, "state = 'resolved'", []);
            const [toAgent, toBuyer, fee] = [amount(a["agentAmount"]), amount(a["buyerAmount"]), amount(a["fee"])];
            ledger.post(
              ev,
              addr(a["token"]),
              "escrow.ruling",
              [
                { account: `escrow:${task}`, amount: -(toAgent + toBuyer + fee) },
                { account: `escrow-credit:${addr(a["agent"])}`, amount: toAgent },
                { account: `escrow-credit:${addr(a["buyer"])}`, amount: toBuyer },
                { account: "treasury", amount: fee },
              ],
              task,
            );
            return;
          }
          case "CustodyReserved":
            // Substrate: what a buyer's first funding adds so the custody multisig account exists
            // (the existential deposit); it stays in custody, the buyer's, until the account closes.
            ledger.post(ev, addr(a["token"]), "custody.reserve", [
              { account: `wallet:${addr(a["account"])}`, amount: -amount(a["amount"]) },
              { account: `custody-reserve:${addr(a["account"])}`, amount: amount(a["amount"]) },
            ]);
            return;
          case "FeePaid":
            // Substrate: the transaction fee an AICP extrinsic cost its signer (native planck).
            ledger.post(ev, addr(a["token"]), "chain.fee", [
              { account: `wallet:${addr(a["account"])}`, amount: -amount(a["amount"]) },
              { account: "chain-fees", amount: amount(a["amount"]) },
            ]);
            return;
          case "DepositReserved":
          case "DepositUnreserved": {
            // Substrate: a multisig deposit reserved from (and later returned to) the first approver.
            const sign = ev.name === "DepositReserved" ? 1n : -1n;
            ledger.post(ev, addr(a["token"]), ev.name === "DepositReserved" ? "multisig.deposit" : "multisig.deposit-return", [
              { account: `wallet:${addr(a["account"])}`, amount: -sign * amount(a["amount"]) },
              { account: `multisig-deposit:${addr(a["account"])}`, amount: sign * amount(a["amount"]) },
            ]);
            return;
          }
          case "Withdrawn": {
            if (!ledger.enabled) return;
            // withdraw() pays the account's whole balance: its escrow credit plus, for a (former)
            // treasury, the fees credited to it. The ledger pools fees in one `treasury` account.
            const account = addr(a["account"]);
            const token = addr(a["token"]);
            const paid = amount(a["amount"]);
            const key = `escrow-credit:${account}`;
            const credit = (await totalOf(t, key, token)) + ledger.pending(key, token);
            const fromCredit = credit <= 0n ? 0n : credit < paid ? credit : paid;
            ledger.post(ev, token, "escrow.withdraw", [
              { account: key, amount: -fromCredit },
              { account: "treasury", amount: -(paid - fromCredit) },
              { account: `wallet:${account}`, amount: paid },
            ]);
            return;
          }
          default:
            return;
        }
      },
    };
  },
  async reset(t: Queryable) {
    await t.query("DELETE FROM escrows");
  },
};
