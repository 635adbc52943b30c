import type { Queryable } from "../db/index.js";
import { taskIdFromKey } from "../protocol/keys.js";
import { postMovements, totalOf, type Movement, type Posting } from "../ledger/store.js";
import type { ChainEvent } from "./events.js";

/**
 * Projections of the contracts' state into Postgres, maintained by the indexer from confirmed
 * events, in block/log order, inside the indexer's transaction:
 *
 * - `escrows` (TaskEscrow, one row per task; `state` named after `ITaskEscrow.State`: funded,
 *   awarded, delivered, disputed, released, refunded, resolved);
 * - `disputes` (DisputeResolver; `status` after `IDisputeResolver.Status`: awaiting_ruling,
 *   ruled, finalized) and `dispute_evidence` rows with source `chain` from ERC-1497 `Evidence`
 *   events (the evidence group id is the dispute id);
 * - `channel_accounts` (a payer's on-chain deposit per token and pending withdrawal) and
 *   `channel_pairs.settled` (the on-chain settled amount per pair; `accepted` is the
 *   coordinator's and only raised to stay ≥ settled);
 * - `reputation_epochs.anchored_at/anchored_tx` (RootAnchored whose epoch and root match);
 * - the double-entry ledger (src/ledger/store.ts) of every on-chain movement of money, one
 *   group per event, `<chain>:<txHash>:<logIndex>`, tagged with the block number so a reorg
 *   rolls it back:
 *
 * | event                          | from                      | to                                   |
 * |--------------------------------|---------------------------|--------------------------------------|
 * | EscrowFunded                   | wallet:<buyer>            | escrow:<task>                        |
 * | EscrowAwarded                  | escrow:<task>             | escrow-credit:<buyer> (refundedToBuyer − debitedFromBuyer) |
 * | EscrowReleased                 | escrow:<task>             | escrow-credit:<agent> (agentAmount), treasury (fee) |
 * | EscrowRefunded / Reclaimed     | escrow:<task>             | escrow-credit:<buyer>                |
 * | RulingExecuted                 | escrow:<task>             | escrow-credit:<agent>, escrow-credit:<buyer>, treasury |
 * | TaskEscrow.Withdrawn           | escrow-credit:<account>, then treasury for the rest (fees credited while it was the treasury) | wallet:<account> |
 * | Deposited                      | wallet:<payer>            | channel-deposit:<payer>              |
 * | VoucherSettled                 | channel-deposit:<payer>   | channel-claimable:<payee>            |
 * | DepositWithdrawn               | channel-deposit:<payer>   | wallet:<payer>                       |
 * | PaymentChannels.Withdrawn      | channel-claimable:<payee> | wallet:<payee>                       |
 *
 * Amounts are token base units (the event's token; `0x0…0` = native currency). Off-chain
 * movements between channel-* accounts (promises, owed amounts) are the channel domain's and
 * leave the per-token sum of channel-* accounts equal to PaymentChannels' balance; that is what
 * {@link ../settlement/invariants.checkChainInvariants} checks. A domain that already moves
 * money into `channel-claimable:<payee>` for a VoucherSettled (through channel-owed accounts)
 * should move the owed amount back to `channel-deposit:<payer>` instead, so the payee is not
 * credited twice.
 *
 * Idempotency comes from the indexer: an event is projected only when its chain_events row is
 * new (chain, tx hash, log index). Hot events (deposits, settlements) are folded in memory and
 * written with one statement per table per batch; everything else is one statement per event.
 */

/** Postgres takes timestamps up to 294276 AD, JS dates to 275760 AD: clamp uint64 seconds to 9999-12-31. */
const MAX_SECONDS = 253_402_300_799n;

/** Unix seconds (decimal string) → Date, clamped so a hostile uint64 cannot break the batch. */
function secondsToDate(s: unknown): Date {
  const v = BigInt(String(s));
  return new Date(Number(v > MAX_SECONDS ? MAX_SECONDS : v) * 1000);
}
/** Like secondsToDate, with 0 meaning "not set". */
const optionalDate = (s: unknown) => (BigInt(String(s)) === 0n ? null : secondsToDate(s));
const addr = (v: unknown) => String(v).toLowerCase();
const amount = (v: unknown) => BigInt(String(v));

export type ProjectorOptions = {
  /** Chain name of the ledger groups (`<chain>:<tx>:<log>`); defaults to the event's chain. */
  chain?: string;
  /** Post ledger movements (default true); off when replaying events whose postings were kept. */
  ledger?: boolean;
};

/** Applies events in order; `flush` writes what is folded in memory (call it before reading). */
export type Projector = {
  apply(ev: ChainEvent): Promise<void>;
  flush(): Promise<void>;
};

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
 * A projector bound to one transaction. Events must come in block/log order and only once
 * (the indexer projects only events whose chain_events row it just inserted).
 */
export function createProjector(t: Queryable, opts: ProjectorOptions = {}): Projector {
  const withLedger = opts.ledger !== false;
  const movements: Movement[] = [];
  /** Unflushed ledger deltas of escrow-credit accounts, `account|token` → amount. */
  const pendingCredit = new Map<string, bigint>();
  const accounts = new Map<string, AccountFold>();
  const pairs = new Map<string, { payer: string; payee: string; token: string; settled: bigint }>();

  const post = (ev: ChainEvent, token: string, kind: string, entries: Posting[], taskId: string | null = null) => {
    if (!withLedger) return;
    const tok = token.toLowerCase();
    movements.push({ group: `${opts.chain ?? ev.chain}:${ev.txHash}:${ev.logIndex}`, token: tok, kind, taskId, block: ev.blockNumber, entries });
    for (const e of entries)
      if (e.account.startsWith("escrow-credit:")) pendingCredit.set(`${e.account}|${tok}`, (pendingCredit.get(`${e.account}|${tok}`) ?? 0n) + e.amount);
  };

  const fold = (payer: string, token: string, block: number, f: (a: AccountFold) => void) => {
    const k = `${payer}|${token}`;
    let a = accounts.get(k);
    if (!a) accounts.set(k, (a = { payer, token, absolute: false, value: 0n, availableAt: undefined, block }));
    a.block = block;
    f(a);
  };

  const escrowUpdate = (ev: ChainEvent, set: string, params: unknown[]) =>
    t.query(`UPDATE escrows SET ${set}, updated_block = $2 WHERE task_id = $1`, [taskIdFromKey(String(ev.args["taskId"])), ev.blockNumber, ...params]);

  async function apply(ev: ChainEvent): Promise<void> {
    const a = ev.args;
    switch (`${ev.contract}.${ev.name}`) {
      // ---------------------------------------------------------------- TaskEscrow
      case "TaskEscrow.EscrowFunded": {
        const task = taskIdFromKey(String(a["taskId"]));
        await t.query(
          `INSERT INTO escrows (task_id, escrow_key, buyer, token, amount, deadline, state, updated_block)
           VALUES ($1, $2, $3, $4, $5, $6, 'funded', $7)
           ON CONFLICT (task_id) DO UPDATE SET buyer = EXCLUDED.buyer, token = EXCLUDED.token, amount = EXCLUDED.amount,
             deadline = EXCLUDED.deadline, state = 'funded', updated_block = EXCLUDED.updated_block`,
          [task, String(a["taskId"]).toLowerCase(), addr(a["buyer"]), addr(a["token"]), String(a["amount"]), secondsToDate(a["deadline"]), ev.blockNumber],
        );
        post(ev, addr(a["token"]), "escrow.fund", [
          { account: `wallet:${addr(a["buyer"])}`, amount: -amount(a["amount"]) },
          { account: `escrow:${task}`, amount: amount(a["amount"]) },
        ], task);
        return;
      }
      case "TaskEscrow.EscrowAwarded": {
        const task = taskIdFromKey(String(a["taskId"]));
        await escrowUpdate(ev, "state = 'awarded', agent = $3, price = $4", [addr(a["agent"]), String(a["price"])]);
        const net = amount(a["refundedToBuyer"]) - amount(a["debitedFromBuyer"]);
        post(ev, addr(a["token"]), "escrow.award", [
          { account: `escrow:${task}`, amount: -net },
          { account: `escrow-credit:${addr(a["buyer"])}`, amount: net },
        ], task);
        return;
      }
      case "TaskEscrow.ResultDelivered":
        await escrowUpdate(ev, "state = 'delivered', result_hash = $3, delivered_at = $4, acceptance_ends_at = $5", [
          String(a["resultHash"]).toLowerCase(),
          secondsToDate(a["deliveredAt"]),
          secondsToDate(a["acceptanceEndsAt"]),
        ]);
        return;
      case "TaskEscrow.EscrowReleased": {
        const task = taskIdFromKey(String(a["taskId"]));
        await escrowUpdate(ev, "state = 'released'", []);
        post(ev, addr(a["token"]), "escrow.release", [
          { account: `escrow:${task}`, amount: -(amount(a["agentAmount"]) + amount(a["fee"])) },
          { account: `escrow-credit:${addr(a["agent"])}`, amount: amount(a["agentAmount"]) },
          { account: "treasury", amount: amount(a["fee"]) },
        ], task);
        return;
      }
      case "TaskEscrow.EscrowRefunded":
      case "TaskEscrow.EscrowReclaimed": {
        const task = taskIdFromKey(String(a["taskId"]));
        await escrowUpdate(ev, "state = 'refunded'", []);
        post(ev, addr(a["token"]), ev.name === "EscrowRefunded" ? "escrow.refund" : "escrow.reclaim", [
          { account: `escrow:${task}`, amount: -amount(a["amount"]) },
          { account: `escrow-credit:${addr(a["buyer"])}`, amount: amount(a["amount"]) },
        ], task);
        return;
      }
      case "TaskEscrow.EscrowDisputed":
        await escrowUpdate(ev, "state = 'disputed', dispute_id = $3", [String(a["disputeId"])]);
        return;
      case "TaskEscrow.RulingExecuted": {
        const task = taskIdFromKey(String(a["taskId"]));
        await escrowUpdate(ev, "state = 'resolved'", []);
        const [toAgent, toBuyer, fee] = [amount(a["agentAmount"]), amount(a["buyerAmount"]), amount(a["fee"])];
        post(ev, addr(a["token"]), "escrow.ruling", [
          { account: `escrow:${task}`, amount: -(toAgent + toBuyer + fee) },
          { account: `escrow-credit:${addr(a["agent"])}`, amount: toAgent },
          { account: `escrow-credit:${addr(a["buyer"])}`, amount: toBuyer },
          { account: "treasury", amount: fee },
        ], task);
        return;
      }
      case "TaskEscrow.Withdrawn": {
        if (!withLedger) return;
        // withdraw() pays the account's whole balance: its escrow credit plus, for a (former)
        // treasury, the fees credited to it. The ledger pools fees in one `treasury` account.
        const account = addr(a["account"]);
        const token = addr(a["token"]);
        const paid = amount(a["amount"]);
        const key = `escrow-credit:${account}`;
        const credit = (await totalOf(t, key, token)) + (pendingCredit.get(`${key}|${token}`) ?? 0n);
        const fromCredit = credit <= 0n ? 0n : credit < paid ? credit : paid;
        post(ev, token, "escrow.withdraw", [
          { account: key, amount: -fromCredit },
          { account: "treasury", amount: -(paid - fromCredit) },
          { account: `wallet:${account}`, amount: paid },
        ]);
        return;
      }

      // ---------------------------------------------------------------- DisputeResolver
      case "DisputeResolver.DisputeOpened":
        await t.query(
          `INSERT INTO disputes (dispute_id, task_id, buyer, agent, opened_by, arbitrator, status, rule_deadline, opened_at, updated_block)
           VALUES ($1, $2, $3, $4, $5, $6, 'awaiting_ruling', $7, $8, $9)
           ON CONFLICT (dispute_id) DO UPDATE SET task_id = EXCLUDED.task_id, buyer = EXCLUDED.buyer, agent = EXCLUDED.agent,
             opened_by = EXCLUDED.opened_by, arbitrator = EXCLUDED.arbitrator, status = 'awaiting_ruling', agent_share_bps = NULL,
             appealed = FALSE, rule_deadline = EXCLUDED.rule_deadline, appeal_deadline = NULL, opened_at = EXCLUDED.opened_at,
             updated_block = EXCLUDED.updated_block`,
          [String(a["disputeId"]), taskIdFromKey(String(a["taskId"])), addr(a["buyer"]), addr(a["agent"]), addr(a["openedBy"]), addr(a["arbitrator"]),
            secondsToDate(a["ruleDeadline"]), new Date(ev.timestamp), ev.blockNumber],
        );
        return;
      case "DisputeResolver.DisputeRuled":
        await t.query(
          `UPDATE disputes SET status = 'ruled', arbitrator = $2, agent_share_bps = $3, appeal_deadline = $4, updated_block = $5 WHERE dispute_id = $1`,
          [String(a["disputeId"]), addr(a["arbitrator"]), Number(a["agentShareBps"]), optionalDate(a["appealDeadline"]), ev.blockNumber],
        );
        return;
      case "DisputeResolver.DisputeAppealed":
        await t.query(
          `UPDATE disputes SET status = 'awaiting_ruling', appealed = TRUE, arbitrator = $2, rule_deadline = $3, appeal_deadline = NULL, updated_block = $4
            WHERE dispute_id = $1`,
          [String(a["disputeId"]), addr(a["arbitrator"]), secondsToDate(a["ruleDeadline"]), ev.blockNumber],
        );
        return;
      case "DisputeResolver.DisputeReassigned":
        await t.query(
          `UPDATE disputes SET status = 'awaiting_ruling', arbitrator = $2, rule_deadline = $3, updated_block = $4 WHERE dispute_id = $1`,
          [String(a["disputeId"]), addr(a["arbitrator"]), secondsToDate(a["ruleDeadline"]), ev.blockNumber],
        );
        return;
      case "DisputeResolver.DisputeFinalized":
        await t.query(`UPDATE disputes SET status = 'finalized', agent_share_bps = $2, updated_block = $3 WHERE dispute_id = $1`, [
          String(a["disputeId"]),
          Number(a["agentShareBps"]),
          ev.blockNumber,
        ]);
        return;
      case "DisputeResolver.Evidence":
        // ERC-1497: the evidence group is the dispute id; the dispute row exists (DisputeOpened
        // comes first in the same transaction when evidence is given at opening).
        await t.query(
          `INSERT INTO dispute_evidence (task_id, party, uri, source, tx_hash, log_index, at)
           SELECT d.task_id, $2, $3, 'chain', $4, $5, $6 FROM disputes d WHERE d.dispute_id = $1
           ON CONFLICT (tx_hash, log_index) DO NOTHING`,
          [String(a["_evidenceGroupID"]), addr(a["_party"]), String(a["_evidence"]), ev.txHash, ev.logIndex, new Date(ev.timestamp)],
        );
        return;

      // ---------------------------------------------------------------- PaymentChannels
      case "PaymentChannels.Deposited": {
        const [payer, token] = [addr(a["payer"]), addr(a["token"])];
        fold(payer, token, ev.blockNumber, (x) => {
          x.absolute = true;
          x.value = amount(a["newBalance"]);
        });
        post(ev, token, "channel.deposit", [
          { account: `wallet:${payer}`, amount: -amount(a["amount"]) },
          { account: `channel-deposit:${payer}`, amount: amount(a["amount"]) },
        ]);
        return;
      }
      case "PaymentChannels.VoucherSettled": {
        const [payer, payee, token] = [addr(a["payer"]), addr(a["payee"]), addr(a["token"])];
        const increase = amount(a["increase"]);
        fold(payer, token, ev.blockNumber, (x) => (x.value -= increase));
        const k = `${payer}|${payee}|${token}`;
        const settled = amount(a["cumulativeAmount"]);
        const p = pairs.get(k);
        if (!p) pairs.set(k, { payer, payee, token, settled });
        else if (settled > p.settled) p.settled = settled;
        post(ev, token, "channel.settle", [
          { account: `channel-deposit:${payer}`, amount: -increase },
          { account: `channel-claimable:${payee}`, amount: increase },
        ]);
        return;
      }
      case "PaymentChannels.WithdrawalRequested":
        fold(addr(a["payer"]), addr(a["token"]), ev.blockNumber, (x) => (x.availableAt = secondsToDate(a["availableAt"])));
        return;
      case "PaymentChannels.WithdrawalCancelled":
        fold(addr(a["payer"]), addr(a["token"]), ev.blockNumber, (x) => (x.availableAt = null));
        return;
      case "PaymentChannels.DepositWithdrawn": {
        const [payer, token] = [addr(a["payer"]), addr(a["token"])];
        fold(payer, token, ev.blockNumber, (x) => {
          x.absolute = true;
          x.value = 0n;
          x.availableAt = null;
        });
        post(ev, token, "channel.deposit-withdraw", [
          { account: `channel-deposit:${payer}`, amount: -amount(a["amount"]) },
          { account: `wallet:${payer}`, amount: amount(a["amount"]) },
        ]);
        return;
      }
      case "PaymentChannels.Withdrawn": {
        const [payee, token] = [addr(a["payee"]), addr(a["token"])];
        post(ev, token, "channel.withdraw", [
          { account: `channel-claimable:${payee}`, amount: -amount(a["amount"]) },
          { account: `wallet:${payee}`, amount: amount(a["amount"]) },
        ]);
        return;
      }

      // ---------------------------------------------------------------- ReputationAnchor
      case "ReputationAnchor.RootAnchored":
        // Same rule as reputation/anchoring.ts markEpochAnchored: the first confirmation wins.
        await t.query(
          `UPDATE reputation_epochs SET anchored_tx = $3, anchored_at = $4
            WHERE epoch = $1 AND lower(root) = lower($2) AND anchored_tx IS NULL`,
          [String(a["epoch"]), String(a["root"]), ev.txHash, secondsToDate(a["anchoredAt"])],
        );
        return;
      default:
        return; // role changes, parameter updates, VoucherSkipped: kept in chain_events only
    }
  }

  async function flush(): Promise<void> {
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
    if (movements.length) {
      const ms = movements.splice(0);
      pendingCredit.clear();
      await postMovements(t, ms);
    }
  }

  return { apply, flush };
}

/**
 * Projects one event (a projector of one): for callers outside the indexer's batch path.
 * The caller guarantees the event is applied once (see {@link createProjector}).
 */
export async function applyProjection(t: Queryable, ev: ChainEvent, opts: ProjectorOptions = {}): Promise<void> {
  const p = createProjector(t, opts);
  await p.apply(ev);
  await p.flush();
}

type StoredEvent = {
  chain: string; contract: ChainEvent["contract"]; name: string; args: ChainEvent["args"]; block_number: string;
  block_hash: string; tx_hash: string; log_index: number; block_time: Date | null;
};

/** Reads a chain's stored events in block/log order, a page at a time (keyset pagination). */
export async function* storedEvents(t: Queryable, chain: string, pageSize = 10_000): AsyncGenerator<ChainEvent[]> {
  let after: [string, number] = ["-1", 0];
  for (;;) {
    const r = await t.query<StoredEvent>(
      `SELECT chain, contract, name, args, block_number::text, block_hash, tx_hash, log_index, block_time FROM chain_events
        WHERE chain = $1 AND (block_number, log_index) > ($2::bigint, $3::int) ORDER BY block_number, log_index LIMIT $4`,
      [chain, after[0], after[1], pageSize],
    );
    if (r.rows.length === 0) return;
    yield r.rows.map((x) => ({
      chain: x.chain, contract: x.contract, name: x.name, args: x.args, blockNumber: Number(x.block_number), blockHash: x.block_hash,
      txHash: x.tx_hash, logIndex: x.log_index, timestamp: x.block_time?.getTime() ?? 0,
    }));
    const last = r.rows[r.rows.length - 1]!;
    after = [last.block_number, last.log_index];
    if (r.rows.length < pageSize) return;
  }
}

/**
 * Rebuilds the chain-derived projections from the stored chain_events of `chain`, replaying
 * them in block/log order: clears escrows, disputes, chain evidence and channel accounts,
 * resets channel_pairs.settled to 0, then re-projects. With `ledger: true` it also deletes and
 * re-posts this chain's ledger groups (`<chain>:%`); the indexer's reorg path keeps them
 * (they were rolled back by block with ledger.rollbackFrom) and passes false.
 * Reputation anchors are not cleared here (see {@link forgetAnchorsFrom}); replay re-marks
 * epochs still unmarked.
 * @returns how many events were replayed
 */
export async function rebuildProjections(t: Queryable, opts: { chain?: string; ledger?: boolean } = {}): Promise<{ events: number }> {
  const chain = opts.chain ?? "evm";
  await t.query("DELETE FROM escrows");
  await t.query("DELETE FROM dispute_evidence WHERE source = 'chain'");
  await t.query("DELETE FROM disputes");
  await t.query("DELETE FROM channel_accounts");
  await t.query("UPDATE channel_pairs SET settled = 0, updated_at = now() WHERE settled <> 0");
  if (opts.ledger) await t.query("DELETE FROM ledger_entries WHERE entry_group LIKE $1 || ':%'", [chain]);
  const p = createProjector(t, { chain, ledger: opts.ledger === true });
  let events = 0;
  for await (const page of storedEvents(t, chain)) {
    for (const ev of page) await p.apply(ev);
    await p.flush();
    events += page.length;
  }
  return { events };
}

/**
 * Un-marks the reputation epochs anchored by RootAnchored events of blocks ≥ `fromBlock`
 * (call it before those events are deleted in a reorg): the anchor transaction is orphaned.
 */
export async function forgetAnchorsFrom(t: Queryable, chain: string, fromBlock: number): Promise<number> {
  const r = await t.query(
    `UPDATE reputation_epochs e SET anchored_tx = NULL, anchored_at = NULL
       FROM chain_events c
      WHERE c.chain = $1 AND c.block_number >= $2 AND c.contract = 'ReputationAnchor' AND c.name = 'RootAnchored'
        AND e.anchored_tx = c.tx_hash`,
    [chain, fromBlock],
  );
  return r.rowCount ?? 0;
}

