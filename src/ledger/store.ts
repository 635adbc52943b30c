import type { Queryable } from "../db/index.js";

/**
 * The double-entry ledger. Every movement of money is a group of entries, one per account,
 * whose amounts (token base units, signed: + credit to the account, − debit) sum to zero per
 * token. Accounts name where money is:
 *   wallet:<addr>              outside AICP (a user's own wallet)
 *   escrow:<taskId>            held by TaskEscrow for a task
 *   escrow-credit:<addr>       withdrawable from TaskEscrow (buyers' refunds, agents' pay)
 *   treasury                   platform fees withdrawable by the treasury
 *   channel-deposit:<payer>    a payer's free deposit in PaymentChannels
 *   channel-promise:<taskId>   deposit promised to an open channel-route task
 *   channel-owed:<payer>:<payee> vouched for but not yet settled on-chain
 *   channel-claimable:<payee>  settled, withdrawable by the payee
 *   custody-reserve:<buyer>    Substrate: the existential deposit keeping a buyer's custody multisig alive
 *   multisig-deposit:<addr>    Substrate: a multisig deposit reserved from the first approver until the call executes
 *   chain-fees                 Substrate: transaction fees AICP extrinsics paid (native planck)
 */
export type Posting = { account: string; amount: bigint };

export type Movement = {
  /** Idempotency key of the movement: posting the same group twice is a no-op. */
  group: string;
  token: string;
  kind: string;
  taskId?: string | null;
  /** Set when the movement comes from a chain event, so a reorg can roll it back. */
  block?: bigint | number | null;
  entries: Posting[];
};

/**
 * Posts one balanced movement inside the caller's transaction.
 * @returns false when the group was already posted
 * @throws Error when the entries do not sum to zero (a bug, never user input)
 */
export async function postMovement(t: Queryable, m: Movement): Promise<boolean> {
  const entries = m.entries.filter((e) => e.amount !== 0n);
  const sum = entries.reduce((a, e) => a + e.amount, 0n);
  if (sum !== 0n) throw new Error(`unbalanced ledger movement ${m.group}: sums to ${sum}`);
  if (entries.length === 0) return false;
  const seen = await t.query("SELECT 1 FROM ledger_entries WHERE entry_group = $1 LIMIT 1", [m.group]);
  if (seen.rowCount) return false;
  await t.query(
    `INSERT INTO ledger_entries (entry_group, account, token, amount, kind, task_id, block_number)
     SELECT $1, u.account, $2, u.amount::numeric, $3, $4, $5 FROM unnest($6::text[], $7::text[]) AS u(account, amount)`,
    [m.group, m.token.toLowerCase(), m.kind, m.taskId ?? null, m.block === undefined || m.block === null ? null : String(m.block),
      entries.map((e) => e.account), entries.map((e) => e.amount.toString())],
  );
  return true;
}

/** Removes every movement derived from blocks ≥ `fromBlock` (reorg roll-back). */
export async function rollbackFrom(t: Queryable, fromBlock: bigint | number): Promise<number> {
  const r = await t.query("DELETE FROM ledger_entries WHERE block_number >= $1", [String(fromBlock)]);
  return r.rowCount ?? 0;
}

/** Deletes every ledger group of `chain` (`<chain>:%`), before its events are replayed with postings. */
export async function deleteLedgerGroups(t: Queryable, chain: string): Promise<void> {
  await t.query("DELETE FROM ledger_entries WHERE entry_group LIKE $1 || ':%'", [chain]);
}

/** Balance of every account (optionally those starting with `prefix`), per token. */
export async function balances(t: Queryable, prefix = ""): Promise<{ account: string; token: string; balance: bigint }[]> {
  const r = await t.query<{ account: string; token: string; balance: string }>(
    `SELECT account, token, sum(amount)::text AS balance FROM ledger_entries WHERE account LIKE $1 || '%'
      GROUP BY account, token HAVING sum(amount) <> 0 ORDER BY account, token`,
    [prefix],
  );
  return r.rows.map((x) => ({ account: x.account, token: x.token, balance: BigInt(x.balance) }));
}

/** Sum of balances of accounts with `prefix` for `token`. */
export async function totalOf(t: Queryable, prefix: string, token: string): Promise<bigint> {
  const r = await t.query<{ s: string | null }>(
    "SELECT sum(amount)::text AS s FROM ledger_entries WHERE account LIKE $1 || '%' AND token = $2",
    [prefix, token.toLowerCase()],
  );
  return BigInt(r.rows[0]?.s ?? "0");
}

/**
 * The ledger's own invariant: every group sums to zero per token (double entry), so all
 * accounts together sum to zero. Returns the offending groups (empty when it balances).
 */
export async function unbalancedGroups(t: Queryable): Promise<{ group: string; token: string; sum: bigint }[]> {
  const r = await t.query<{ entry_group: string; token: string; s: string }>(
    "SELECT entry_group, token, sum(amount)::text AS s FROM ledger_entries GROUP BY entry_group, token HAVING sum(amount) <> 0",
  );
  return r.rows.map((x) => ({ group: x.entry_group, token: x.token, sum: BigInt(x.s) }));
}

/**
 * Posts many balanced movements in one statement (the indexer's hot path: one INSERT per batch
 * of blocks instead of two queries per event). Same rules as {@link postMovement}: zero entries
 * are dropped, a group already present is skipped as a whole, entries must sum to zero per group.
 * Groups repeated within `ms` are posted once (the first wins).
 * @returns how many entries were inserted
 * @throws Error when a movement does not sum to zero (a bug, never user input)
 */
export async function postMovements(t: Queryable, ms: readonly Movement[]): Promise<number> {
  const group: string[] = [], account: string[] = [], token: string[] = [], amount: string[] = [];
  const kind: string[] = [], task: (string | null)[] = [], block: (string | null)[] = [];
  const seen = new Set<string>();
  for (const m of ms) {
    if (seen.has(m.group)) continue;
    seen.add(m.group);
    const entries = m.entries.filter((e) => e.amount !== 0n);
    const sum = entries.reduce((a, e) => a + e.amount, 0n);
    if (sum !== 0n) throw new Error(`unbalanced ledger movement ${m.group}: sums to ${sum}`);
    for (const e of entries) {
      group.push(m.group);
      account.push(e.account);
      token.push(m.token.toLowerCase());
      amount.push(e.amount.toString());
      kind.push(m.kind);
      task.push(m.taskId ?? null);
      block.push(m.block === undefined || m.block === null ? null : String(m.block));
    }
  }
  if (group.length === 0) return 0;
  const r = await t.query(
    `INSERT INTO ledger_entries (entry_group, account, token, amount, kind, task_id, block_number)
     SELECT u.g, u.a, u.tok, u.amt::numeric, u.k, u.task::uuid, u.blk::bigint
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS u(g, a, tok, amt, k, task, blk)
      WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.entry_group = u.g)`,
    [group, account, token, amount, kind, task, block],
  );
  return r.rowCount ?? 0;
}

/**
 * Per token, what the ledger says each contract holds — TaskEscrow: escrow:*, escrow-credit:*
 * and treasury; PaymentChannels: channel-* — with the indexer cursor's block of `chain`, in one
 * statement (one snapshot: the cursor and the sums agree even while the indexer applies).
 * Amounts in token base units; tokens in lower case; only `chain`'s tokens (0x addresses on the
 * EVM, `native` / `asset:<id>` on Substrate: one ledger holds both chains).
 */
export async function contractSums(q: Queryable, chain: string): Promise<{ block: string | null; sums: Map<string, { escrow: bigint; channels: bigint }> }> {
  const r = await q.query<{ block: string | null; token: string | null; escrow: string | null; channels: string | null }>(
    `SELECT (SELECT block_number::text FROM indexer_cursors WHERE chain = $1) AS block, l.token,
            (sum(l.amount) FILTER (WHERE l.account LIKE 'escrow:%' OR l.account LIKE 'escrow-credit:%' OR l.account = 'treasury'))::text AS escrow,
            (sum(l.amount) FILTER (WHERE l.account LIKE 'channel-%'))::text AS channels
       FROM (SELECT 1) one LEFT JOIN ledger_entries l ON (l.token LIKE '0x%') = ($1 = 'evm') GROUP BY l.token`,
    [chain],
  );
  return {
    block: r.rows[0]?.block ?? null,
    sums: new Map(r.rows.filter((x) => x.token !== null).map((x) => [x.token!.toLowerCase(), { escrow: BigInt(x.escrow ?? "0"), channels: BigInt(x.channels ?? "0") }])),
  };
}
