import type { Queryable } from "../db/index.js";
import { addr, amount, secondsToDate, type ContractProjection } from "../settlement/projection.js";

type AccountFold = {
  payer: string;
  token: string;
  /** Absolute deposit (after a Deposited/DepositWithdrawn) or a delta to add to the stored one. */
  absolute: boolean;
  value: bigint;
  /** undefined: leave the stored value; null: clear it. */
  availableAt: Date | null | undefined;
  block: number;
};

/**
 * PaymentChannels' projection: `channel_accounts` (a payer's on-chain deposit per token and
 * pending withdrawal) and `channel_pairs.settled` (the on-chain settled amount per pair;
 * `accepted` is the coordinator's and only raised to stay ≥ settled), with the ledger movements.
 * Deposits and settlements are hot: folded in memory and written with one statement per table
 * per batch.
 */
export const channelProjection: ContractProjection = {
  contract: "PaymentChannels",
  bind(t, ledger) {
    const accounts = new Map<string, AccountFold>();
    const pairs = new Map<string, { payer: string; payee: string; token: string; settled: bigint }>();
    const fold = (payer: string, token: string, block: number, f: (a: AccountFold) => void) => {
      const k = `${payer}|${token}`;
      let a = accounts.get(k);
      if (!a) accounts.set(k, (a = { payer, token, absolute: false, value: 0n, availableAt: undefined, block }));
      a.block = block;
      f(a);
    };
    return {
      async apply(ev) {
        const a = ev.args;
        switch (ev.name) {
          case "Deposited": {
            const [payer, token] = [addr(a["payer"]), addr(a["token"])];
            // The EVM's event carries the new balance; a Substrate deposit (no contract state to
            // read it from) only the amount, folded as a delta.
            fold(payer, token, ev.blockNumber, (x) => {
              if (a["newBalance"] === undefined) x.value += amount(a["amount"]);
              else {
                x.absolute = true;
                x.value = amount(a["newBalance"]);
              }
            });
            ledger.post(ev, token, "channel.deposit", [
              { account: `wallet:${payer}`, amount: -amount(a["amount"]) },
              { account: `channel-deposit:${payer}`, amount: amount(a["amount"]) },
            ]);
            return;
          }
          case "VoucherSettled":
          case "DeliveryClaimed": {
            // A claim settles like a voucher: the pair's settled amount rises to `cumulativeAmount`
            // and what moved goes from the deposit to the payee's claimable balance.
            const [payer, payee, token] = [addr(a["payer"]), addr(a["payee"]), addr(a["token"])];
            const moved = amount(ev.name === "VoucherSettled" ? a["increase"] : a["amount"]);
            fold(payer, token, ev.blockNumber, (x) => (x.value -= moved));
            const k = `${payer}|${payee}|${token}`;
            const settled = amount(a["cumulativeAmount"]);
            const p = pairs.get(k);
            if (!p) pairs.set(k, { payer, payee, token, settled });
            else if (settled > p.settled) p.settled = settled;
            ledger.post(ev, token, ev.name === "VoucherSettled" ? "channel.settle" : "channel.claim", [
              { account: `channel-deposit:${payer}`, amount: -moved },
              { account: `channel-claimable:${payee}`, amount: moved },
            ]);
            return;
          }
          case "WithdrawalRequested":
            fold(addr(a["payer"]), addr(a["token"]), ev.blockNumber, (x) => (x.availableAt = secondsToDate(a["availableAt"])));
            return;
          case "WithdrawalCancelled":
            fold(addr(a["payer"]), addr(a["token"]), ev.blockNumber, (x) => (x.availableAt = null));
            return;
          case "DepositWithdrawn": {
            const [payer, token] = [addr(a["payer"]), addr(a["token"])];
            // The EVM withdraws the whole deposit; a Substrate withdrawal (`partial`) only its amount.
            fold(payer, token, ev.blockNumber, (x) => {
              if (a["partial"] === true) x.value -= amount(a["amount"]);
              else {
                x.absolute = true;
                x.value = 0n;
              }
              x.availableAt = null;
            });
            ledger.post(ev, token, "channel.deposit-withdraw", [
              { account: `channel-deposit:${payer}`, amount: -amount(a["amount"]) },
              { account: `wallet:${payer}`, amount: amount(a["amount"]) },
            ]);
            return;
          }
          case "Withdrawn": {
            const [payee, token] = [addr(a["payee"]), addr(a["token"])];
            ledger.post(ev, token, "channel.withdraw", [
              { account: `channel-claimable:${payee}`, amount: -amount(a["amount"]) },
              { account: `wallet:${payee}`, amount: amount(a["amount"]) },
            ]);
            return;
          }
          default:
            return; // VoucherSkipped: kept in chain_events only
        }
      },
      async flush() {
        if (accounts.size) {
          const xs = [...accounts.values()];
          accounts.clear();
          // One statement: update the rows that exist (absolute or delta), insert the others.
          await t.query(
            `WITH u AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::bool[], $6::timestamptz[], $7::bigint[])
             AS u(payer, token, value, absolute, avail_set, avail, block)),
         upd AS (
           UPDATE channel_accounts c
              SET deposit = CASE WHEN u.absolute THEN u.value::numeric ELSE c.deposit + u.value::numeric END,
                  withdrawal_available_at = CASE WHEN u.avail_set THEN u.avail ELSE c.withdrawal_available_at END,
                  updated_block = u.block
             FROM u WHERE c.payer = u.payer AND c.token = u.token
           RETURNING c.payer, c.token)
         INSERT INTO channel_accounts (payer, token, deposit, withdrawal_available_at, updated_block)
         SELECT u.payer, u.token, u.value::numeric, CASE WHEN u.avail_set THEN u.avail END, u.block FROM u
          WHERE NOT EXISTS (SELECT 1 FROM upd WHERE upd.payer = u.payer AND upd.token = u.token)`,
            [
              xs.map((x) => x.payer),
              xs.map((x) => x.token),
              xs.map((x) => x.value.toString()),
              xs.map((x) => x.absolute),
              xs.map((x) => x.availableAt !== undefined),
              xs.map((x) => x.availableAt ?? null),
              xs.map((x) => x.block),
            ],
          );
        }
        if (pairs.size) {
          const xs = [...pairs.values()];
          pairs.clear();
          await t.query(
            `INSERT INTO channel_pairs (payer, payee, token, accepted, settled)
         SELECT u.payer, u.payee, u.token, u.settled::numeric, u.settled::numeric
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(payer, payee, token, settled)
         ON CONFLICT (payer, payee, token) DO UPDATE
           SET settled = GREATEST(channel_pairs.settled, EXCLUDED.settled),
               accepted = GREATEST(channel_pairs.accepted, EXCLUDED.settled),
               updated_at = now()`,
            [xs.map((x) => x.payer), xs.map((x) => x.payee), xs.map((x) => x.token), xs.map((x) => x.settled.toString())],
          );
        }
      },
    };
  },
  async reset(t: Queryable) {
    // Zeroed, not deleted: a request that waits on an account's row lock during a reorg's
    // rebuild then reads the rebuilt row (a deleted row would read as no deposit at all).
    await t.query("UPDATE channel_accounts SET deposit = 0, withdrawal_available_at = NULL WHERE deposit <> 0 OR withdrawal_available_at IS NOT NULL");
    await t.query("UPDATE channel_pairs SET settled = 0, updated_at = now() WHERE settled <> 0");
  },
};
