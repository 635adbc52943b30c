import type { Queryable } from "../db/index.js";
import type { Posting } from "../ledger/store.js";
import { taskTransitions } from "../tasks/transitions.js";

/**
 * SQL of the channel route. Tables (migrations 003 and 006): `channel_accounts` (a payer's
 * deposit per token, projected from PaymentChannels by the indexer), `channel_pairs` (per
 * payer, payee and token: the highest accepted voucher and the amount settled on-chain),
 * `vouchers`, `channel_promises` (budgets reserved for open channel-route tasks),
 * `channel_settlements` and the double-entry `ledger_entries`. Amounts are NUMERIC(78,0),
 * read as decimal strings and handled as bigint.
 *
 * Locking rule (deadlock freedom): whoever raises what a payer owes or has promised holds the
 * payer's `channel_accounts` row (FOR UPDATE) first, rows locked in (payer, token) order.
 */

/** `payer|token`, `payer|payee|token`: map keys. */
export const accountKey = (payer: string, token: string) => `${payer}|${token}`;
export const pairKey = (payer: string, payee: string, token: string) => `${payer}|${payee}|${token}`;

/** A delivery authorization as stored (amounts as decimal strings, token base units). */
export type AuthorizationRow = { digest: string; token: string; salt: string; max_amount: string; committed: string; claimed: string; expiry: Date };

export type AccountState = { deposit: bigint; withdrawalAvailableAt: Date | null };

export type DueTask = { id: string; price: bigint; promised: bigint };

export type AcceptedVoucher = {
  payer: string;
  payee: string;
  token: string;
  cumulative: bigint;
  signature: string;
  increase: bigint;
  tasks: DueTask[];
};

/** A balanced group of ledger entries (see src/ledger/store.ts) posted in bulk. */
export type LedgerGroup = { group: string; token: string; kind: string; entries: (Posting & { taskId?: string })[] };

/**
 * The rows of balanced ledger groups, with `postMovement`'s rules (src/ledger/store.ts): each
 * group sums to zero, zero entries are dropped.
 * @throws Error on an unbalanced group (a bug, never user input)
 */
function ledgerRows(groups: LedgerGroup[]) {
  const rows: { g: string; a: string; tok: string; amt: string; k: string; task: string | null }[] = [];
  for (const m of groups) {
    const entries = m.entries.filter((e) => e.amount !== 0n);
    const sum = entries.reduce((a, e) => a + e.amount, 0n);
    if (sum !== 0n) throw new Error(`unbalanced ledger movement ${m.group}: sums to ${sum}`);
    for (const e of entries) rows.push({ g: m.group, a: e.account, tok: m.token.toLowerCase(), amt: e.amount.toString(), k: m.kind, task: e.taskId ?? null });
  }
  return rows;
}

export const channelRepository = {
  /** Locks the payers' account rows in (payer, token) order; absent accounts are simply absent. */
  async lockAccounts(t: Queryable, keys: { payer: string; token: string }[]): Promise<Map<string, AccountState>> {
    const r = await t.query<{ payer: string; token: string; deposit: string; withdrawal_available_at: Date | null }>(
      `SELECT payer, token, deposit::text, withdrawal_available_at FROM channel_accounts
        WHERE (payer, token) IN (SELECT u.payer, u.token FROM unnest($1::text[], $2::text[]) AS u(payer, token))
        ORDER BY payer, token FOR UPDATE`,
      [keys.map((k) => k.payer), keys.map((k) => k.token)],
    );
    return new Map(r.rows.map((x) => [accountKey(x.payer, x.token), { deposit: BigInt(x.deposit), withdrawalAvailableAt: x.withdrawal_available_at }]));
  },

  /** What one account owes (Σ accepted − settled over its pairs) and has promised (Σ held promises), in one read. */
  async owedAndPromised(t: Queryable, payer: string, token: string): Promise<{ owed: bigint; promised: bigint }> {
    const r = await t.query<{ owed: string; promised: string }>(
      `SELECT (SELECT COALESCE(sum(accepted - settled), 0)::text FROM channel_pairs WHERE payer = $1 AND token = $2) AS owed,
              (SELECT COALESCE(sum(amount), 0)::text FROM channel_promises WHERE payer = $1 AND token = $2 AND status IN ('held', 'claiming')) AS promised`,
      [payer, token],
    );
    return { owed: BigInt(r.rows[0]!.owed), promised: BigInt(r.rows[0]!.promised) };
  },

  /**
   * In one statement: commits `amount × taskIds` of the payer's delivery authorization for
   * `token` (the one expiring first, no earlier than `notBefore`, with room), inserts held
   * promises of `amount` for `taskIds` drawing on it and posts `groups` to the ledger (as `post`)
   * — or, when no authorization has room, writes nothing. Run under the account's row lock
   * (`lockAccounts`). @returns the authorization's digest, or undefined when none had room
   */
  async insertPromises(
    t: Queryable,
    p: { taskIds: string[]; payer: string; token: string; amount: bigint; notBefore: Date },
    groups: LedgerGroup[],
  ): Promise<string | undefined> {
    const r = await t.query<{ digest: string }>(
      `WITH a AS (
         UPDATE channel_authorizations SET committed = committed + $4::numeric * cardinality($1::uuid[])
          WHERE digest = (SELECT digest FROM channel_authorizations
                           WHERE payer = $2 AND token = $3 AND expiry >= $6 AND max_amount - committed >= $4::numeric * cardinality($1::uuid[])
                           ORDER BY expiry, created_at LIMIT 1)
         RETURNING digest),
       ins AS (
         INSERT INTO channel_promises (task_id, payer, token, amount, authorization_digest)
         SELECT u, $2, $3, $4::numeric, a.digest FROM a CROSS JOIN unnest($1::uuid[]) AS u),
       led AS (
         INSERT INTO ledger_entries (entry_group, account, token, amount, kind, task_id)
         SELECT x.g, x.a, x.tok, x.amt::numeric, x.k, x.task::uuid FROM jsonb_to_recordset($5::jsonb) AS x(g text, a text, tok text, amt text, k text, task text)
          WHERE EXISTS (SELECT 1 FROM a) AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.entry_group = x.g))
       SELECT digest FROM a`,
      [p.taskIds, p.payer, p.token, p.amount.toString(), JSON.stringify(ledgerRows(groups)), p.notBefore],
    );
    return r.rows[0]?.digest;
  },

  /**
   * Promises of a Substrate payer (no EIP-712 delivery authorization: the custody multisig's
   * co-signers stand behind delivered work), with their ledger groups.
   */
  async insertUnbackedPromises(t: Queryable, p: { taskIds: string[]; payer: string; token: string; amount: bigint }, groups: LedgerGroup[]): Promise<void> {
    await t.query("INSERT INTO channel_promises (task_id, payer, token, amount) SELECT u, $2, $3, $4::numeric FROM unnest($1::uuid[]) AS u", [p.taskIds, p.payer, p.token, p.amount.toString()]);
    await channelRepository.post(t, groups);
  },

  /**
   * Deposits applied but not final yet: per account (`payer|token`), Σ of the Deposited amounts
   * in the last `extraBlocks` applied blocks (the indexer's cursor minus `extraBlocks`).
   */
  async unfinalDeposits(q: Queryable, keys: { payer: string; token: string }[], extraBlocks: number): Promise<Map<string, bigint>> {
    if (extraBlocks <= 0 || keys.length === 0) return new Map();
    const r = await q.query<{ payer: string; token: string; pending: string }>(
      `SELECT lower(e.args->>'payer') AS payer, lower(e.args->>'token') AS token, sum((e.args->>'amount')::numeric)::text AS pending
         FROM chain_events e JOIN indexer_cursors c ON c.chain = e.chain
        WHERE e.chain = 'evm' AND e.contract = 'PaymentChannels' AND e.name = 'Deposited' AND e.block_number > c.block_number - $3
          AND (lower(e.args->>'payer'), lower(e.args->>'token')) IN (SELECT u.p, u.t FROM unnest($1::text[], $2::text[]) AS u(p, t))
        GROUP BY 1, 2`,
      [keys.map((k) => k.payer), keys.map((k) => k.token), extraBlocks],
    );
    return new Map(r.rows.map((x) => [accountKey(x.payer, x.token), BigInt(x.pending)]));
  },

  /** Whether one authorization for `token` has room for `amount` and expires no earlier than `notBefore` (read only). */
  async hasAuthorizationRoom(q: Queryable, p: { payer: string; token: string; amount: bigint; notBefore: Date }): Promise<boolean> {
    const r = await q.query(
      "SELECT 1 FROM channel_authorizations WHERE payer = $1 AND token = $2 AND expiry >= $4 AND max_amount - committed >= $3::numeric LIMIT 1",
      [p.payer, p.token, p.amount.toString(), p.notBefore],
    );
    return (r.rowCount ?? 0) > 0;
  },

  /** Stores a verified delivery authorization (idempotent on its digest). @returns the stored row */
  async insertAuthorization(
    t: Queryable,
    a: { digest: string; payer: string; token: string; salt: string; maxAmount: bigint; expiry: Date; signature: string },
  ): Promise<AuthorizationRow> {
    await t.query(
      `INSERT INTO channel_authorizations (digest, payer, token, salt, max_amount, expiry, signature)
       VALUES ($1, $2, $3, $4, $5::numeric, $6, $7) ON CONFLICT (digest) DO NOTHING`,
      [a.digest, a.payer, a.token, a.salt, a.maxAmount.toString(), a.expiry, a.signature],
    );
    return (await channelRepository.authorizations(t, a.payer, a.digest))[0]!;
  },

  /** A payer's delivery authorizations (newest first), or the one with `digest`. */
  async authorizations(q: Queryable, payer: string, digest?: string): Promise<AuthorizationRow[]> {
    const r = await q.query<AuthorizationRow>(
      `SELECT a.digest, a.token, a.salt, a.max_amount::text AS max_amount, a.committed::text AS committed, a.expiry,
              COALESCE((SELECT sum(c.amount) FROM channel_claims c WHERE c.authorization_digest = a.digest AND c.status = 'confirmed'), 0)::text AS claimed
         FROM channel_authorizations a WHERE a.payer = $1 AND ($2::text IS NULL OR a.digest = $2) ORDER BY a.created_at DESC LIMIT 100`,
      [payer, digest ?? null],
    );
    return r.rows;
  },

  /**
   * Everything a batch of vouchers is decided on, in one round trip (run it after
   * `lockAccounts`, in a new statement, so that it sees what the previous lock holder committed):
   * Σ owed per account, each pair's amounts, what is due per pair (delivered, unpaid tasks with
   * their held promise, oldest first), and the vouchers already stored at these exact amounts.
   * Each part is an index lookup per key (LATERAL … OFFSET 0 keeps the planner from turning it
   * into a scan of every delivered task when many are unpaid).
   */
  async snapshot(t: Queryable, vouchers: { payer: string; payee: string; token: string; cumulative: bigint }[]) {
    const r = await t.query<{ owed: { k: string; s: string }[]; pairs: { k: string; a: string; s: string }[]; due: { k: string; id: string; price: string; promised: string }[]; existing: { k: string; sig: string; ids: string[] }[] }>(
      `WITH v AS (SELECT u.payer, u.payee, u.token, u.cumulative FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[]) AS u(payer, payee, token, cumulative)),
            pk AS (SELECT DISTINCT payer, payee, token FROM v),
            ak AS (SELECT DISTINCT payer, token FROM v)
       SELECT
         (SELECT COALESCE(json_agg(json_build_object('k', ak.payer || '|' || ak.token, 's', o.s::text)), '[]')
            FROM ak CROSS JOIN LATERAL (SELECT COALESCE(sum(p.accepted - p.settled), 0) AS s FROM channel_pairs p WHERE p.payer = ak.payer AND p.token = ak.token OFFSET 0) o) AS owed,
         (SELECT COALESCE(json_agg(json_build_object('k', pk.payer || '|' || pk.payee || '|' || pk.token, 'a', p.accepted::text, 's', p.settled::text)), '[]')
            FROM pk CROSS JOIN LATERAL (SELECT p.accepted, p.settled FROM channel_pairs p WHERE p.payer = pk.payer AND p.payee = pk.payee AND p.token = pk.token OFFSET 0) p) AS pairs,
         (SELECT COALESCE(json_agg(json_build_object('k', pk.payer || '|' || pk.payee || '|' || pk.token, 'id', t.id, 'price', t.price::text, 'promised', pr.amount::text) ORDER BY t.delivered_at, t.id), '[]')
            FROM pk CROSS JOIN LATERAL (
                   SELECT t.id, t.price, t.delivered_at FROM tasks t
                    WHERE t.buyer = pk.payer AND t.agent = pk.payee AND t.token = pk.token AND t.status = 'delivered' AND t.settlement = 'channel' OFFSET 0) t
            JOIN channel_promises pr ON pr.task_id = t.id AND pr.status = 'held') AS due,
         (SELECT COALESCE(json_agg(json_build_object('k', x.payer || '|' || x.payee || '|' || x.token || '|' || x.cumulative::text, 'sig', x.signature, 'ids', x.task_ids)), '[]')
            FROM v CROSS JOIN LATERAL (SELECT x.* FROM vouchers x WHERE x.payer = v.payer AND x.payee = v.payee AND x.token = v.token AND x.cumulative = v.cumulative OFFSET 0) x) AS existing`,
      [vouchers.map((v) => v.payer), vouchers.map((v) => v.payee), vouchers.map((v) => v.token), vouchers.map((v) => v.cumulative.toString())],
    );
    const row = r.rows[0]!;
    const due = new Map<string, DueTask[]>();
    for (const x of row.due) {
      const list = due.get(x.k) ?? [];
      list.push({ id: x.id, price: BigInt(x.price), promised: BigInt(x.promised) });
      due.set(x.k, list);
    }
    return {
      owed: new Map(row.owed.map((x) => [x.k, BigInt(x.s)])),
      pairs: new Map(row.pairs.map((x) => [x.k, { accepted: BigInt(x.a), settled: BigInt(x.s) }])),
      due,
      existing: new Map(row.existing.map((x) => [x.k, { signature: x.sig, taskIds: x.ids }])),
    };
  },

  /**
   * Writes accepted vouchers in one go: the voucher rows, each pair's new accepted amount, the
   * paid tasks (status `accepted`, which releases their output), their promises (`vouched`, at
   * the price) and the ledger (promise → owed for the price, promise → deposit for the rest).
   */
  async accept(t: Queryable, list: AcceptedVoucher[]): Promise<void> {
    if (list.length === 0) return;
    // The highest voucher per pair in this batch (a pair may appear twice).
    const top = new Map<string, AcceptedVoucher>();
    for (const v of list) {
      const k = pairKey(v.payer, v.payee, v.token);
      const cur = top.get(k);
      if (!cur || cur.cumulative < v.cumulative) top.set(k, v);
    }
    const tasks = list.flatMap((v) => v.tasks);
    const ledger = ledgerRows(
      list.map((v) => ({
        group: `voucher:${v.payer}:${v.payee}:${v.token}:${v.cumulative}`,
        token: v.token,
        kind: "channel-voucher",
        entries: v.tasks.flatMap((x) => [
          { account: `channel-promise:${x.id}`, amount: -x.promised, taskId: x.id },
          { account: `channel-owed:${v.payer}:${v.payee}`, amount: x.price, taskId: x.id },
          { account: `channel-deposit:${v.payer}`, amount: x.promised - x.price, taskId: x.id },
        ]),
      })),
    );
    // One statement (data-modifying CTEs each run once, to completion): one round trip.
    await t.query(
      `WITH ins AS (
         INSERT INTO vouchers (payer, payee, token, cumulative, signature, task_ids, increase)
         SELECT x.payer, x.payee, x.token, x.cumulative::numeric, x.signature, x.task_ids, x.increase::numeric
           FROM jsonb_to_recordset($1::jsonb) AS x(payer text, payee text, token text, cumulative text, signature text, task_ids uuid[], increase text)),
       pairs AS (
         INSERT INTO channel_pairs (payer, payee, token, accepted)
         SELECT x.payer, x.payee, x.token, x.accepted::numeric FROM jsonb_to_recordset($2::jsonb) AS x(payer text, payee text, token text, accepted text)
         ON CONFLICT (payer, payee, token) DO UPDATE SET accepted = GREATEST(channel_pairs.accepted, EXCLUDED.accepted), updated_at = now()),
       promises AS (
         UPDATE channel_promises p SET status = 'vouched', amount = x.price::numeric, updated_at = now()
           FROM jsonb_to_recordset($4::jsonb) AS x(id uuid, price text) WHERE p.task_id = ANY($3::uuid[]) AND p.task_id = x.id AND p.status = 'held'),
       -- The groups are new: a voucher (pair, amount) is inserted once (its primary key above).
       ledger AS (
         INSERT INTO ledger_entries (entry_group, account, token, amount, kind, task_id)
         SELECT x.g, x.a, x.tok, x.amt::numeric, x.k, x.task::uuid FROM jsonb_to_recordset($5::jsonb) AS x(g text, a text, tok text, amt text, k text, task text))
       SELECT 1`,
      [
        JSON.stringify(list.map((v) => ({ payer: v.payer, payee: v.payee, token: v.token, cumulative: v.cumulative.toString(), signature: v.signature, task_ids: v.tasks.map((x) => x.id), increase: v.increase.toString() }))),
        JSON.stringify([...top.values()].map((v) => ({ payer: v.payer, payee: v.payee, token: v.token, accepted: v.cumulative.toString() }))),
        tasks.map((x) => x.id),
        JSON.stringify(tasks.map((x) => ({ id: x.id, price: x.price.toString() }))),
        JSON.stringify(ledger),
      ],
    );
    // The paid tasks → accepted (src/tasks/transitions.ts owns the status).
    await taskTransitions.paid(t, tasks.map((x) => x.id));
  },

  /**
   * Posts many ledger movements in one statement, with `postMovement`'s rules: each group sums
   * to zero, zero entries are dropped, a group already posted is skipped (idempotency key).
   * @throws Error on an unbalanced group (a bug, never user input)
   */
  async post(t: Queryable, groups: LedgerGroup[]): Promise<void> {
    const rows = ledgerRows(groups);
    if (rows.length === 0) return;
    await t.query(
      `INSERT INTO ledger_entries (entry_group, account, token, amount, kind, task_id)
       SELECT x.g, x.a, x.tok, x.amt::numeric, x.k, x.task::uuid FROM jsonb_to_recordset($1::jsonb) AS x(g text, a text, tok text, amt text, k text, task text)
        WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.entry_group = x.g)`,
      [JSON.stringify(rows)],
    );
  },

  /**
   * Shrinks a held promise (never grows it), releasing the difference to the deposit, in one
   * statement (lock, update and the ledger movement, with `post`'s rules: a balanced group,
   * skipped when already posted): to `price`, or with `runnerUps` to the highest of `price` and
   * the task's runner-up bids. The ledger group is `groupPrefix`, followed by the new amount
   * when `withTarget`.
   */
  async shrinkPromise(t: Queryable, taskId: string, price: bigint, opts: { runnerUps: boolean; groupPrefix: string; withTarget: boolean }): Promise<void> {
    await t.query(
      `WITH p AS (
         SELECT p.task_id, p.payer, p.token, p.amount,
                CASE WHEN $3::boolean
                     THEN GREATEST($2::numeric, COALESCE((SELECT max((r->>'price')::numeric) FROM jsonb_array_elements(t.runner_ups) r), $2::numeric))
                     ELSE $2::numeric END AS target
           FROM channel_promises p JOIN tasks t ON t.id = p.task_id
          WHERE p.task_id = $1::uuid AND p.status = 'held'
            FOR UPDATE OF p),
       s AS (
         UPDATE channel_promises c SET amount = p.target, updated_at = now() FROM p
          WHERE c.task_id = p.task_id AND p.amount > p.target
         RETURNING p.payer, lower(p.token) AS token, p.amount - p.target AS back,
                   CASE WHEN $5::boolean THEN $4::text || p.target::text ELSE $4::text END AS grp)
       INSERT INTO ledger_entries (entry_group, account, token, amount, kind, task_id)
       SELECT s.grp, x.account, s.token, x.amount, 'channel-promise-release', $1::uuid
         FROM s CROSS JOIN LATERAL (VALUES ($6::text, -s.back), ('channel-deposit:' || s.payer, s.back)) AS x(account, amount)
        WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.entry_group = s.grp)`,
      [taskId, price.toString(), opts.runnerUps, opts.groupPrefix, opts.withTarget, `channel-promise:${taskId}`],
    );
  },

  /** A task that ended undelivered: its held promise → released. @returns what it held (token base units), or undefined */
  async releasePromise(t: Queryable, taskId: string): Promise<{ payer: string; token: string; amount: string } | undefined> {
    const r = await t.query<{ payer: string; token: string; amount: string }>(
      "UPDATE channel_promises SET status = 'released', updated_at = now() WHERE task_id = $1 AND status IN ('held', 'claiming') RETURNING payer, token, amount::text",
      [taskId],
    );
    return r.rows[0];
  },

  /** Per token, a payer's account as GET /v1/channels/:payer shows it. */
  async accounts(q: Queryable, payer: string) {
    const r = await q.query<{ token: string; deposit: string; settled: string; owed: string; promised: string; withdrawal_available_at: Date | null }>(
      `WITH acc AS (SELECT token, deposit, withdrawal_available_at FROM channel_accounts WHERE payer = $1),
            pr AS (SELECT token, sum(settled) AS settled, sum(accepted - settled) AS owed FROM channel_pairs WHERE payer = $1 GROUP BY token),
            pm AS (SELECT token, sum(amount) AS promised FROM channel_promises WHERE payer = $1 AND status IN ('held', 'claiming') GROUP BY token)
       SELECT token, COALESCE(acc.deposit, 0)::text AS deposit, COALESCE(pr.settled, 0)::text AS settled, COALESCE(pr.owed, 0)::text AS owed,
              COALESCE(pm.promised, 0)::text AS promised, acc.withdrawal_available_at
         FROM acc FULL JOIN pr USING (token) FULL JOIN pm USING (token) ORDER BY token`,
      [payer],
    );
    return r.rows;
  },

  /** Per payee and token: the pair's amounts and what is due now (delivered, unpaid tasks). */
  async payerPairs(q: Queryable, payer: string) {
    const r = await q.query<{ payee: string; token: string; accepted: string; settled: string; due: string; due_task_ids: string[] | null }>(
      `WITH d AS (SELECT agent AS payee, token, sum(price) AS due, array_agg(id::text ORDER BY delivered_at, id) AS ids FROM tasks t
                   WHERE buyer = $1 AND status = 'delivered' AND settlement = 'channel'
                     AND NOT EXISTS (SELECT 1 FROM channel_promises p WHERE p.task_id = t.id AND p.status = 'claiming')
                   GROUP BY agent, token)
       SELECT payee, token, COALESCE(p.accepted, 0)::text AS accepted, COALESCE(p.settled, 0)::text AS settled,
              COALESCE(d.due, 0)::text AS due, d.ids AS due_task_ids
         FROM (SELECT payee, token, accepted, settled FROM channel_pairs WHERE payer = $1) p FULL JOIN d USING (payee, token)
        ORDER BY payee, token`,
      [payer],
    );
    return r.rows;
  },
};
