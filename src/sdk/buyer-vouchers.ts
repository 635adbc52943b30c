/**
 * Paying channel-route results with EIP-712 vouchers under a spending policy.
 *
 * A voucher `Voucher(payer, payee, token, cumulativeAmount)` promises a payee a running total
 * (PaymentChannels, src/chain/vouchers.ts). What is owed comes from the coordinator — never
 * from this process's memory — so a signer that restarts, or runs beside another, signs the
 * right cumulative amount: each round reads `GET /v1/channels/:payer` (per payee and token: the
 * last accepted cumulative amount, what is due now and for which tasks), checks every due task
 * against the policy and against the task itself (the buyer's own, delivered, by that payee,
 * in that token, priced within its budget, the prices summing to what is due), then signs
 * `accepted + due` and posts it to `POST /v1/vouchers`. A refusal by the coordinator because the
 * pair moved meanwhile (VOUCHER_STALE, VOUCHER_REPLAYED, VOUCHER_WRONG_AMOUNT) is answered by
 * reading the view again, once.
 *
 * Note that one voucher pays everything due to a payee in a token: when the policy refuses one
 * task of an agent, that agent's other due tasks wait too (pay them with a wider policy).
 */
import { getAddress } from "ethers";
import { BuyerError, PolicyError } from "./buyer-errors.js";
import { AicpHttpError } from "./session.js";

/**
 * Limits of automatic payment. Amounts are base units **of each token separately** (a signer
 * paying in two tokens applies the same numbers to both; give one token per signer when their
 * decimals differ).
 */
export type SpendingPolicy = {
  /** The most one task may cost, base units. */
  maxPerTask: bigint;
  /** The most this signer pays in all during its life, per token, base units (a new signer starts from zero). */
  maxTotal: bigint;
  /** Tokens it may pay in: addresses (any case; the zero address for the native currency). */
  allowTokens: string[];
  /** Payees (agent addresses) it may pay; any agent when absent. */
  allowAgents?: string[];
};

/** A voucher the coordinator accepted. Amounts in base units. */
export type VoucherPayment = {
  payee: string;
  token: string;
  /** The signed running total for the pair. */
  cumulativeAmount: bigint;
  /** What this voucher added (the sum of the paid tasks' prices); 0 when `idempotent`. */
  increase: bigint;
  /** The tasks paid; their outputs are released to the buyer. */
  taskIds: string[];
  /** The coordinator had accepted this exact voucher before. */
  idempotent: boolean;
};

/** The outcome of one payment round. */
export type PayRound = {
  paid: VoucherPayment[];
  /** Payments the policy (or the consistency checks) refused: nothing was signed for them. */
  refused: PolicyError[];
  /** Anything else that went wrong (network, a coordinator error); the next round tries again. */
  errors: Error[];
};

/** Restricts a round to some pairs: one payee, one token, or the pair that owes one task. */
export type PayFilter = { payee?: string; token?: string; taskId?: string };

/** A voucher signer bound to one payer and one policy. */
export type VoucherSigner = {
  readonly policy: Readonly<SpendingPolicy>;
  /** What this signer has paid so far, per token (lower-case address), base units. */
  spent(): Record<string, bigint>;
  /**
   * One round: reads what is due and pays every pair the policy allows. Rounds run one at a time
   * (a second call waits for the first).
   */
  payDue(filter?: PayFilter): Promise<PayRound>;
};

/** The channel view of `GET /v1/channels/:payer`, as JSON (amounts are decimal strings of base units). */
export type ChannelViewJson = {
  payer: string;
  accounts: { token: string; deposit: string; settled: string; owed: string; promised: string; available: string; withdrawal: { availableAt: string } | null }[];
  pairs: { payee: string; token: string; accepted: string; settled: string; due: string; nextCumulativeAmount: string; dueTaskIds: string[] }[];
};

/** What the signer needs from the buyer: its address, the coordinator, and EIP-712 signing. */
export type VoucherSignerDeps = {
  /** The payer, lower-case. */
  payer: string;
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Signs `Voucher(payer, payee, token, cumulativeAmount)` under the PaymentChannels domain; resolves with the 65-byte signature. */
  sign(v: { payee: string; token: string; cumulativeAmount: bigint }): Promise<string>;
};

type TaskJson = { id: string; buyer: string; agent: string | null; token: string; settlement: string; status: string; price: string | null; budget: string };

const lower = (a: string) => getAddress(a).toLowerCase();
const RETRYABLE = new Set(["VOUCHER_STALE", "VOUCHER_REPLAYED", "VOUCHER_WRONG_AMOUNT"]);

/**
 * Creates a voucher signer for `deps.payer` under `policy`.
 * @throws BuyerError BAD_POLICY when a limit is negative or no token is allowed
 */
export function createVoucherSigner(deps: VoucherSignerDeps, policy: SpendingPolicy): VoucherSigner {
  if (policy.maxPerTask < 0n || policy.maxTotal < 0n) throw new BuyerError("BAD_POLICY", "Spending limits must not be negative.");
  if (policy.allowTokens.length === 0) throw new BuyerError("BAD_POLICY", "The spending policy allows no token.");
  const tokens = new Set(policy.allowTokens.map(lower));
  const agents = policy.allowAgents ? new Set(policy.allowAgents.map(lower)) : undefined;
  const spent = new Map<string, bigint>();
  let queue: Promise<unknown> = Promise.resolve();

  const refuse = (code: string, message: string, pair: { payee: string; token: string; nextCumulativeAmount: string; dueTaskIds: string[]; due: string }) =>
    new PolicyError(code, message, { payee: pair.payee, token: pair.token, cumulativeAmount: pair.nextCumulativeAmount, due: pair.due, taskIds: pair.dueTaskIds });

  /** Checks one due pair; resolves with what to sign, or a refusal. */
  async function decide(pair: ChannelViewJson["pairs"][number]): Promise<{ cumulative: bigint; due: bigint } | PolicyError> {
    const due = BigInt(pair.due);
    const accepted = BigInt(pair.accepted);
    const cumulative = BigInt(pair.nextCumulativeAmount);
    if (!tokens.has(pair.token)) return refuse("POLICY_TOKEN", `Refused to pay ${pair.payee} ${due} base units of ${pair.token}: that token is not allowed (allowed: ${[...tokens].join(", ")}).`, pair);
    if (agents && !agents.has(pair.payee)) return refuse("POLICY_AGENT", `Refused to pay ${pair.payee}: that agent is not in the allowed list.`, pair);
    if (cumulative !== accepted + due || pair.dueTaskIds.length === 0)
      return refuse("POLICY_INCONSISTENT", `Refused to pay ${pair.payee}: the coordinator's figures do not add up (accepted ${accepted} + due ${due} ≠ ${cumulative}, or no task named).`, pair);
    const tasks = await Promise.all(pair.dueTaskIds.map((id) => deps.request<TaskJson>("GET", `/v1/tasks/${encodeURIComponent(id)}`)));
    let sum = 0n;
    for (const t of tasks) {
      const price = t.price === null ? null : BigInt(t.price);
      const wrong =
        t.buyer !== deps.payer ? "is not yours"
        : t.agent !== pair.payee ? `was done by ${t.agent ?? "nobody"}, not ${pair.payee}`
        : t.token !== pair.token ? `is priced in ${t.token}`
        : t.settlement !== "channel" ? `settles on the ${t.settlement} route`
        : t.status !== "delivered" ? `is ${t.status}, not delivered`
        : price === null || price > BigInt(t.budget) ? `has a price (${t.price}) above its budget (${t.budget})`
        : undefined;
      if (wrong) return refuse("POLICY_INCONSISTENT", `Refused to pay ${pair.payee}: task ${t.id} ${wrong}.`, pair);
      if (price! > policy.maxPerTask)
        return refuse("POLICY_MAX_PER_TASK", `Refused to pay task ${t.id}: its price ${price} base units is above the per-task limit of ${policy.maxPerTask}.`, { ...pair, dueTaskIds: [t.id] });
      sum += price!;
    }
    if (sum !== due) return refuse("POLICY_INCONSISTENT", `Refused to pay ${pair.payee}: the due amount ${due} is not the sum of the tasks' prices (${sum}).`, pair);
    const already = spent.get(pair.token) ?? 0n;
    if (already + due > policy.maxTotal)
      return refuse("POLICY_MAX_TOTAL", `Refused to pay ${pair.payee} ${due} base units: with the ${already} paid already it would pass the total limit of ${policy.maxTotal}.`, pair);
    return { cumulative, due };
  }

  const matches = (p: ChannelViewJson["pairs"][number], f: PayFilter) =>
    BigInt(p.due) > 0n && (!f.payee || p.payee === lower(f.payee)) && (!f.token || p.token === lower(f.token)) && (!f.taskId || p.dueTaskIds.includes(f.taskId));

  async function round(filter: PayFilter): Promise<PayRound> {
    const out: PayRound = { paid: [], refused: [], errors: [] };
    const view = () => deps.request<ChannelViewJson>("GET", `/v1/channels/${deps.payer}`);
    let pairs: ChannelViewJson["pairs"];
    try {
      pairs = (await view()).pairs.filter((p) => matches(p, filter));
    } catch (err) {
      out.errors.push(err as Error);
      return out;
    }
    for (let pair of pairs) {
      for (let attempt = 1; ; attempt++) {
        try {
          const d = await decide(pair);
          if (d instanceof PolicyError) {
            out.refused.push(d);
            break;
          }
          const signature = await deps.sign({ payee: pair.payee, token: pair.token, cumulativeAmount: d.cumulative });
          const r = await deps.request<{ cumulativeAmount: string; increase: string; taskIds: string[]; idempotent: boolean }>("POST", "/v1/vouchers", {
            payer: deps.payer,
            payee: pair.payee,
            token: pair.token,
            cumulativeAmount: d.cumulative.toString(),
            signature,
          });
          const increase = BigInt(r.increase);
          spent.set(pair.token, (spent.get(pair.token) ?? 0n) + increase);
          out.paid.push({ payee: pair.payee, token: pair.token, cumulativeAmount: BigInt(r.cumulativeAmount), increase, taskIds: r.taskIds, idempotent: r.idempotent });
          break;
        } catch (err) {
          // The pair moved since the view was read (another signer, a new delivery): read it again, once.
          if (err instanceof AicpHttpError && RETRYABLE.has(err.code) && attempt === 1) {
            try {
              const fresh = (await view()).pairs.find((p) => p.payee === pair.payee && p.token === pair.token);
              if (!fresh || !matches(fresh, filter)) break;
              pair = fresh;
              continue;
            } catch (e) {
              out.errors.push(e as Error);
              break;
            }
          }
          out.errors.push(err as Error);
          break;
        }
      }
    }
    return out;
  }

  return {
    policy: Object.freeze({ ...policy }),
    spent: () => Object.fromEntries(spent),
    payDue(filter = {}) {
      const run = queue.then(() => round(filter));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
