/**
 * The AICP buyer SDK: a program (or the `aicp` command line) that buys work on the marketplace.
 *
 * `createBuyer(options)` returns a buyer bound to one wallet. It signs in with Sign-In with
 * Ethereum (EIP-4361, through the agent SDK's session, ./session.ts), posts tasks and DAG
 * workflows, and moves the buyer's own money on both payment routes:
 * - **escrow** (large payments): posting returns the funding plan; the SDK checks that its calls
 *   only approve and fund TaskEscrow for this task, sends them from the wallet (approve + fund,
 *   or an ERC-2612 permit + `fundWithPermit` with `usePermit`) and waits for the coordinator to
 *   open the task; `accept`, `dispute` and `reclaim` send the matching TaskEscrow calls;
 *   `withdraw` pulls refunds and splits back to the wallet;
 * - **channel** (small payments): `deposit` into PaymentChannels once, then pay delivered
 *   results with EIP-712 vouchers — by hand (`accept`), or automatically under a spending policy
 *   (`autoPay`, ./buyer-vouchers.ts); `requestChannelWithdrawal` / `withdrawDeposit` take the
 *   rest back after the challenge period.
 *
 * Units: token amounts are base units — `bigint` in what the SDK computes and accepts, decimal
 * strings inside the coordinator's JSON views (`Task.budget`, `Task.price`); durations in ms;
 * instants as `Date` or ISO 8601 strings. Chain operations need `options.chain`.
 *
 * @example
 * ```ts
 * const buyer = createBuyer({
 *   baseUrl: "http://127.0.0.1:3000",
 *   wallet: new Wallet(process.env.AICP_PRIVATE_KEY!),
 *   chain: { rpcUrl: "http://127.0.0.1:8545", deploymentsFile: "deployments/localhost.json" },
 * });
 * const tUSD = buyer.chain!.defaultToken;
 * await buyer.deposit(tUSD, 5_000_000n);                       // 5 tUSD (6 decimals)
 * const task = await buyer.postTask({ capability: "hash.digest", input: { text: "hi" }, complexity: 1,
 *   budget: 500_000n, token: tUSD, deadline: new Date(Date.now() + 3600_000),
 *   auction: { rule: "second-price", windowMs: 2_000 }, route: "channel" });
 * await buyer.waitTask(task.id, ["delivered"]);
 * await buyer.accept(task.id);                                 // signs and posts the voucher
 * console.log((await buyer.getTask(task.id)).output);
 * ```
 */
import { sleep } from "./sleep.js";
import { FINAL_TASK_STATUSES, FINAL_WORKFLOW_STATUSES } from "../protocol/tasks.js";
import { Interface, Signature, hexlify, randomBytes, type Signer } from "ethers";
import { taskKey } from "../protocol/keys.js";
import { DELIVERY_AUTHORIZATION_TYPES, PERMIT_TYPES, VOUCHER_TYPES, voucherDomain } from "../protocol/eip712.js";
import type { FundingPlan } from "../protocol/settlement.js";
import { NATIVE_TOKEN } from "./buyer-amounts.js";
import { connectBuyerChain, type BuyerChain, type WalletCall } from "./buyer-chain.js";
import { BuyerError } from "./buyer-errors.js";
import { createVoucherSigner, type ChannelViewJson, type SpendingPolicy } from "./buyer-vouchers.js";
import { AicpHttpError, createSession } from "./session.js";
import { readServerSentEvents } from "./webhook.js";
import type { BuyerOptions, TaskSpec, Task, Workflow, ChannelAccount, Buyer, PostOptions, WaitOptions } from "./buyer-types.js";

export type * from "./buyer-types.js";
export { AicpHttpError } from "./session.js";
export { chainFromNetwork } from "./buyer-chain.js";
export { BuyerError, PolicyError } from "./buyer-errors.js";
export { AmountError, NATIVE_TOKEN, describeAmount, formatUnits, parseAmount, type TokenInfo } from "./buyer-amounts.js";
export type { BuyerChain, BuyerChainOptions, WalletCall } from "./buyer-chain.js";
export type { PayFilter, PayRound, SpendingPolicy, VoucherPayment, VoucherSigner } from "./buyer-vouchers.js";

/** Task statuses after which nothing changes any more. */
export { FINAL_TASK_STATUSES };
/** Workflow statuses after which nothing changes any more. */
export { FINAL_WORKFLOW_STATUSES };

const UNBOUNDED = 2n ** 256n - 1n;
/** Lifetime of the delivery authorizations the SDK signs (30 days). */
const AUTHORIZATION_LIFETIME_S = 30 * 86_400;
const ERC20 = new Interface(["function approve(address spender, uint256 amount) returns (bool)"]);

/**
 * Creates a buyer. Nothing is sent until the first call.
 * @throws BuyerError NOT_DEPLOYED when `chain.deploymentsFile` is missing
 */
export function createBuyer(options: BuyerOptions): Buyer {
  const chain = options.chain ? connectBuyerChain(options.chain) : undefined;
  const wallet: Signer = chain && !options.wallet.provider && options.wallet.connect ? options.wallet.connect(chain.provider) : options.wallet;
  const address = options.wallet.address.toLowerCase();
  const pollMs = options.pollMs ?? 500;
  const session = createSession({
    baseUrl: options.baseUrl,
    wallet: options.wallet,
    ...(options.siwe?.domain ? { domain: options.siwe.domain } : {}),
    chainId: options.siwe?.chainId ?? chain?.chainId ?? 31337,
  });
  const request = <T>(method: string, path: string, body?: unknown) => session.request<T>(method, path, body);
  // Public routes need no sign-in.
  const base = options.baseUrl.replace(/\/+$/, "");
  async function publicGet<T>(path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(base + path, { headers: { accept: "application/json" } });
    } catch (err) {
      throw new AicpHttpError(0, "NETWORK", `GET ${path}: ${(err as Error).message}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const e = (body as { error?: { code?: string; message?: string; details?: unknown } } | undefined)?.error;
      throw new AicpHttpError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? (text.slice(0, 200) || res.statusText), e?.details);
    }
    return body as T;
  }

  const needChain = (what: string): BuyerChain => {
    if (!chain) throw new BuyerError("NO_CHAIN", `${what} needs the chain: pass chain: { rpcUrl, deploymentsFile } (CLI: --rpc and --deployments).`);
    return chain;
  };
  const send = (call: WalletCall) => needChain("Sending a transaction").send(wallet, call);

  async function signVoucher(v: { payee: string; token: string; cumulativeAmount: bigint }): Promise<string> {
    const c = needChain("Signing a voucher");
    return wallet.signTypedData(voucherDomain(c.chainId, c.address("PaymentChannels")), VOUCHER_TYPES, { payer: address, payee: v.payee, token: v.token, cumulativeAmount: v.cumulativeAmount });
  }
  const voucherSigner = (policy: SpendingPolicy) => createVoucherSigner({ payer: address, request, sign: signVoucher }, policy);

  const specBody = (spec: TaskSpec) => ({
    capability: spec.capability,
    input: spec.input,
    complexity: spec.complexity,
    ...(spec.urgency ? { urgency: spec.urgency } : {}),
    budget: BigInt(spec.budget).toString(),
    token: spec.token,
    deadline: spec.deadline instanceof Date ? spec.deadline.toISOString() : spec.deadline,
    auction: spec.auction,
    ...(spec.route ? { route: spec.route } : {}),
    ...(spec.quantity !== undefined ? { quantity: spec.quantity } : {}),
  });

  /**
   * Checks a funding plan before any of it is sent: every call goes to this deployment's
   * TaskEscrow (fund of this task, for its budget and token) or approves exactly that escrow on
   * the task's token; a coordinator cannot make the wallet pay anyone else.
   */
  function checkPlan(task: Task, plan: FundingPlan) {
    const c = needChain("Funding an escrow");
    const escrow = c.address("TaskEscrow");
    const bad = (why: string) => new BuyerError("BAD_FUNDING_PLAN", `The coordinator's funding plan for task ${task.id} was not sent: ${why}.`, { plan });
    if (plan.chainId !== c.chainId) throw bad(`it is for chain ${plan.chainId}, the wallet's chain is ${c.chainId}`);
    if (plan.escrow.toLowerCase() !== escrow) throw bad(`it funds ${plan.escrow}, not this deployment's TaskEscrow ${escrow}`);
    if (plan.taskKey.toLowerCase() !== taskKey(task.id)) throw bad("its task key is not this task's");
    if (BigInt(plan.amount) !== BigInt(task.budget) || plan.token.toLowerCase() !== task.token) throw bad(`it moves ${plan.amount} of ${plan.token}, the task's budget is ${task.budget} of ${task.token}`);
    for (const call of plan.calls) {
      const to = call.to.toLowerCase();
      if (to === escrow) {
        const parsed = c.escrow.interface.parseTransaction({ data: call.data, value: BigInt(call.value) });
        if (!parsed || parsed.name !== "fund") throw bad(`a call to the escrow is ${parsed?.name ?? "unknown"}, not fund`);
        const [key, token, amount] = parsed.args as unknown as [string, string, bigint];
        const native = task.token === NATIVE_TOKEN;
        if (key.toLowerCase() !== taskKey(task.id) || token.toLowerCase() !== task.token || amount !== BigInt(task.budget) || BigInt(call.value) !== (native ? amount : 0n))
          throw bad("its fund call does not match the task");
      } else if (to === task.token) {
        const parsed = ERC20.parseTransaction({ data: call.data });
        if (!parsed || parsed.name !== "approve" || String(parsed.args[0]).toLowerCase() !== escrow || (parsed.args[1] as bigint) !== BigInt(task.budget) || BigInt(call.value) !== 0n)
          throw bad("a token call is not approve(escrow, budget)");
      } else throw bad(`a call goes to ${call.to}, neither the escrow nor the token`);
    }
  }

  async function fund(task: Task, opts: PostOptions = {}): Promise<string[]> {
    const plan = task.funding;
    if (!plan) throw new BuyerError("BAD_FUNDING_PLAN", `Task ${task.id} came without a funding plan.`);
    const c = needChain("Funding an escrow");
    checkPlan(task, plan);
    const hashes: string[] = [];
    if (opts.usePermit && plan.permit) {
      const p = plan.permit;
      if (p.typedData.domain.verifyingContract.toLowerCase() !== task.token || p.typedData.message.spender.toLowerCase() !== c.address("TaskEscrow") || BigInt(p.typedData.message.value) !== BigInt(task.budget))
        throw new BuyerError("BAD_FUNDING_PLAN", `The permit of task ${task.id} does not approve the escrow for the budget on the task's token.`);
      const signature = Signature.from(await wallet.signTypedData(p.typedData.domain, { Permit: p.typedData.types.Permit }, p.typedData.message));
      const a = p.fundWithPermit.args;
      const data = c.escrow.interface.encodeFunctionData("fundWithPermit", [plan.taskKey, task.token, BigInt(task.budget), plan.deadline, a.permitDeadline, signature.v, signature.r, signature.s, plan.authorization]);
      const description = `Fund the escrow of task ${task.id} with ${task.budget} base units (ERC-2612 permit)`;
      opts.onFunding?.(description);
      hashes.push((await send({ to: plan.escrow, data, value: 0n, description })).hash);
      return hashes;
    }
    for (const call of plan.calls) {
      if (call.to.toLowerCase() === task.token) {
        const allowance = (await c.erc20(task.token).getFunction("allowance")(address, plan.escrow)) as bigint;
        if (allowance >= BigInt(task.budget)) continue;
      }
      opts.onFunding?.(call.description);
      hashes.push((await send(call)).hash);
    }
    return hashes;
  }

  /**
   * Signs an EIP-712 DeliveryAuthorization (PaymentChannels' domain) for `maxAmount` base units
   * of `token` until `expiry` (unix seconds) and registers it: the coordinator may then claim
   * delivered channel-route work under it if this buyer withdraws or does not pay in time.
   */
  async function authorizeDeliveries(token: string, maxAmount: bigint, expiry: bigint) {
    const c = needChain("Signing a delivery authorization");
    const value = { payer: address, token: token.toLowerCase(), salt: hexlify(randomBytes(32)), maxAmount, expiry };
    const signature = await wallet.signTypedData(voucherDomain(c.chainId, c.address("PaymentChannels")), DELIVERY_AUTHORIZATION_TYPES, value);
    return request<{ digest: string }>("POST", "/v1/channels/authorizations", { ...value, maxAmount: maxAmount.toString(), expiry: expiry.toString(), signature });
  }

  /**
   * Runs `call`; when the coordinator asks for a delivery authorization (402), signs one for what
   * it names and runs `call` again (up to three times: concurrent posts may use each other's).
   */
  async function withAuthorization<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof AicpHttpError) || err.code !== "DELIVERY_AUTHORIZATION_REQUIRED" || !chain || attempt > 3) throw err;
        const d = err.details as { token: string; required: string; expiresAfter: string };
        const expiry = BigInt(Math.max(Math.floor(Date.parse(d.expiresAfter) / 1000), Math.floor(Date.now() / 1000) + AUTHORIZATION_LIFETIME_S));
        await authorizeDeliveries(d.token, BigInt(d.required), expiry);
      }
    }
  }

  async function post(spec: TaskSpec, opts: PostOptions = {}): Promise<Task[]> {
    const { tasks } = await withAuthorization(() => request<{ tasks: Task[] }>("POST", "/v1/tasks", specBody(spec)));
    const first = tasks[0]!;
    if (first.status !== "funding") return tasks;
    if (!chain)
      throw new BuyerError("NO_CHAIN", `Task ${first.id} is on the escrow route and waits for funding from your wallet; give the chain (rpcUrl and deploymentsFile) to fund it.`, { task: first });
    await fund(first, opts);
    const opened = await waitTask(first.id, [...OPEN_OR_LATER], { timeoutMs: opts.openTimeoutMs ?? 120_000 }).catch((err: unknown) => {
      if (err instanceof BuyerError && err.code === "TIMEOUT")
        throw new BuyerError("TIMEOUT", `Task ${first.id} is funded on-chain, but the coordinator has not opened it yet (it waits for the funding's confirmations); check it later with getTask.`, { taskId: first.id });
      throw err;
    });
    return [opened];
  }

  async function waitTask(id: string, statuses: string | readonly string[], opts: WaitOptions<Task> = {}): Promise<Task> {
    const want = new Set(typeof statuses === "string" ? [statuses] : statuses);
    const end = Date.now() + (opts.timeoutMs ?? 600_000);
    let last = "";
    for (;;) {
      const t = await getTask(id);
      const key = `${t.status}|${t.execution.attempts}|${t.agent ?? ""}`;
      if (key !== last) {
        last = key;
        opts.onProgress?.(t);
      }
      if (want.has(t.status)) return t;
      if ((FINAL_TASK_STATUSES as readonly string[]).includes(t.status))
        throw new BuyerError("TASK_ENDED", `Task ${id} ended ${t.status}${t.execution.failureReason ? ` (${t.execution.failureReason})` : ""} instead of reaching ${[...want].join(" or ")}.`, { task: t });
      if (opts.signal?.aborted) throw new BuyerError("ABORTED", `Stopped waiting for task ${id}.`);
      if (Date.now() > end) throw new BuyerError("TIMEOUT", `Task ${id} is still ${t.status} after ${opts.timeoutMs ?? 600_000} ms.`, { task: t });
      await sleep(pollMs, opts.signal);
    }
  }

  const getTask = (id: string) => request<Task>("GET", `/v1/tasks/${encodeURIComponent(id)}`);

  function toAccount(view: ChannelViewJson, token: string): ChannelAccount {
    const a = view.accounts.find((x) => x.token === token);
    return {
      token,
      deposit: BigInt(a?.deposit ?? 0),
      settled: BigInt(a?.settled ?? 0),
      owed: BigInt(a?.owed ?? 0),
      promised: BigInt(a?.promised ?? 0),
      available: BigInt(a?.available ?? 0),
      withdrawal: a?.withdrawal ? { availableAt: new Date(a.withdrawal.availableAt) } : null,
      pairs: view.pairs
        .filter((p) => p.token === token)
        .map((p) => ({ payee: p.payee, accepted: BigInt(p.accepted), settled: BigInt(p.settled), due: BigInt(p.due), nextCumulativeAmount: BigInt(p.nextCumulativeAmount), dueTaskIds: p.dueTaskIds })),
    };
  }

  async function onChainDeposit(token: string) {
    const c = needChain("Reading the channel deposit");
    const [balance, , availableAt] = await c.channels.depositOf(address, token);
    return { balance, withdrawalAvailableAt: availableAt > 0n ? new Date(Number(availableAt) * 1000) : null };
  }

  async function channelCall(fn: "requestWithdrawal" | "cancelWithdrawal" | "withdrawDeposit", token: string, description: string) {
    const c = needChain(description);
    return send({ to: c.address("PaymentChannels"), data: c.channels.interface.encodeFunctionData(fn as "withdrawDeposit", [token]), value: 0n, description });
  }

  /** The amount argument of the first `event` the contract at `at` emitted in a receipt. */
  function amountFrom(receipt: { logs: readonly { address: string; topics: readonly string[]; data: string }[] }, iface: Interface, at: string, event: string): bigint | undefined {
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== at) continue;
      const parsed = iface.parseLog({ topics: [...log.topics], data: log.data });
      if (parsed?.name === event) return parsed.args.getValue("amount") as bigint;
    }
    return undefined;
  }

  /** Sends the escrow call the coordinator built, after checking it is `fn` on this task. */
  async function sendEscrowCall(taskId: string, call: WalletCall, fn: "release" | "dispute" | "reclaim") {
    const c = needChain("Sending an escrow call");
    const parsed = call.to.toLowerCase() === c.address("TaskEscrow") ? c.escrow.interface.parseTransaction({ data: call.data, value: BigInt(call.value) }) : null;
    if (!parsed || parsed.name !== fn || String(parsed.args[0]).toLowerCase() !== taskKey(taskId) || BigInt(call.value) !== 0n)
      throw new BuyerError("BAD_CALL", `The coordinator's ${fn} call for task ${taskId} is not TaskEscrow.${fn} of that task; it was not sent.`, { call });
    return send(call);
  }

  const buyer: Buyer = {
    address,
    chain,
    session,
    signIn: () => session.login(),

    async postTask(spec, opts) {
      return (await post(spec, opts))[0]!;
    },
    postLot: post,
    fund,
    getTask,
    listTasks: (f = {}) => {
      const q = new URLSearchParams({ buyer: address, ...Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])) });
      return request("GET", `/v1/tasks?${q}`);
    },
    cancelTask: (id) => request("POST", `/v1/tasks/${encodeURIComponent(id)}/cancel`),
    waitTask,

    postWorkflow: (spec) =>
      withAuthorization(() =>
        request<Workflow>("POST", "/v1/workflows", {
          nodes: spec.nodes.map((n) => ({ ...n, budget: BigInt(n.budget).toString() })),
          totalBudget: BigInt(spec.totalBudget).toString(),
          ...(spec.reserve !== undefined ? { reserve: BigInt(spec.reserve).toString() } : {}),
          token: spec.token,
          deadline: spec.deadline instanceof Date ? spec.deadline.toISOString() : spec.deadline,
          ...(spec.route ? { route: spec.route } : {}),
        }),
      ),
    getWorkflow: (id) => request<Workflow>("GET", `/v1/workflows/${encodeURIComponent(id)}`),
    async waitWorkflow(id, onProgress, opts = {}) {
      const end = Date.now() + (opts.timeoutMs ?? 600_000);
      const funded = new Set<string>();
      let last = "";
      for (;;) {
        const w = await buyer.getWorkflow(id);
        const key = `${w.status}|${w.nodes.map((n) => `${n.key}:${n.status}:${n.taskStatus}`).join(",")}`;
        if (key !== last) {
          last = key;
          onProgress?.(w);
        }
        if ((FINAL_WORKFLOW_STATUSES as readonly string[]).includes(w.status)) return w;
        // Escrow nodes wait for the buyer's wallet: fund each once (its plan fetched again).
        if (chain && opts.fund !== false)
          for (const n of w.nodes)
            if (n.funding && n.taskId && !funded.has(n.taskId)) {
              funded.add(n.taskId);
              const { plan } = await request<{ taskId: string; plan: Task["funding"] }>("GET", `/v1/tasks/${encodeURIComponent(n.taskId)}/funding`);
              await fund({ ...(await getTask(n.taskId)), funding: plan });
            }
        if (opts.signal?.aborted) throw new BuyerError("ABORTED", `Stopped waiting for workflow ${id}.`);
        if (Date.now() > end) throw new BuyerError("TIMEOUT", `Workflow ${id} is still ${w.status} after ${opts.timeoutMs ?? 600_000} ms.`, { workflow: w });
        await sleep(pollMs, opts.signal);
      }
    },

    async deposit(token, amount, opts = {}) {
      const c = needChain("A channel deposit");
      if (amount <= 0n) throw new BuyerError("BAD_AMOUNT", "A deposit must be above zero.");
      const t = token.toLowerCase();
      const channels = c.address("PaymentChannels");
      const hashes: string[] = [];
      const step = (description: string) => (opts.onStep?.(description), description);
      if (t === NATIVE_TOKEN) {
        const data = c.channels.interface.encodeFunctionData("deposit", [NATIVE_TOKEN, amount]);
        hashes.push((await send({ to: channels, data, value: amount, description: step(`Deposit ${amount} wei into PaymentChannels`) })).hash);
        return { amount, txHashes: hashes };
      }
      if (opts.usePermit) {
        const erc = c.erc20(t);
        const [name, nonce] = await Promise.all([erc.getFunction("name")() as Promise<string>, erc.getFunction("nonces")(address) as Promise<bigint>]);
        const deadline = BigInt(Math.floor(Date.now() / 1000) + 3600);
        const sig = Signature.from(
          await wallet.signTypedData(
            { name, version: "1", chainId: c.chainId, verifyingContract: t },
            PERMIT_TYPES,
            { owner: address, spender: channels, value: amount, nonce, deadline },
          ),
        );
        const data = c.channels.interface.encodeFunctionData("depositWithPermit", [t, amount, deadline, sig.v, sig.r, sig.s]);
        hashes.push((await send({ to: channels, data, value: 0n, description: step(`Deposit ${amount} base units of ${t} into PaymentChannels (ERC-2612 permit)`) })).hash);
        return { amount, txHashes: hashes };
      }
      const allowance = (await c.erc20(t).getFunction("allowance")(address, channels)) as bigint;
      if (allowance < amount)
        hashes.push((await send({ to: t, data: ERC20.encodeFunctionData("approve", [channels, amount]), value: 0n, description: step(`Approve PaymentChannels for ${amount} base units of ${t}`) })).hash);
      const data = c.channels.interface.encodeFunctionData("deposit", [t, amount]);
      hashes.push((await send({ to: channels, data, value: 0n, description: step(`Deposit ${amount} base units of ${t} into PaymentChannels`) })).hash);
      return { amount, txHashes: hashes };
    },

    authorizeDeliveries: (token, maxAmount, expiry) => authorizeDeliveries(token, maxAmount, expiry ?? BigInt(Math.floor(Date.now() / 1000) + AUTHORIZATION_LIFETIME_S)),

    async channel(token) {
      const t = (token ?? needChain("The default token").defaultToken).toLowerCase();
      const view = await request<ChannelViewJson>("GET", `/v1/channels/${address}`);
      const account = toAccount(view, t);
      if (chain) account.onChain = await onChainDeposit(t);
      return account;
    },
    async waitDeposit(token, atLeast, opts = {}) {
      const end = Date.now() + (opts.timeoutMs ?? 60_000);
      for (;;) {
        const view = await request<ChannelViewJson>("GET", `/v1/channels/${address}`);
        const account = toAccount(view, token.toLowerCase());
        if (account.deposit >= atLeast) return account;
        if (Date.now() > end || opts.signal?.aborted)
          throw new BuyerError("TIMEOUT", `The coordinator shows a deposit of ${account.deposit} base units of ${token}, not yet ${atLeast}; it applies deposits after their confirmations.`, { deposit: account.deposit.toString() });
        await sleep(pollMs, opts.signal);
      }
    },
    async requestChannelWithdrawal(token) {
      const t = token.toLowerCase();
      const before = await onChainDeposit(t);
      if (before.balance === 0n) throw new BuyerError("NOTHING_TO_WITHDRAW", `You have no deposit of ${t} in PaymentChannels.`);
      const receipt = await channelCall("requestWithdrawal", t, `Request the withdrawal of your ${t} deposit from PaymentChannels`);
      const after = await onChainDeposit(t);
      return { availableAt: after.withdrawalAvailableAt ?? new Date(), txHash: receipt.hash };
    },
    async cancelChannelWithdrawal(token) {
      const receipt = await channelCall("cancelWithdrawal", token.toLowerCase(), `Cancel the withdrawal of your ${token} deposit`);
      return { txHash: receipt.hash };
    },
    async withdrawDeposit(token) {
      const c = needChain("A channel withdrawal");
      const t = token.toLowerCase();
      const d = await onChainDeposit(t);
      if (!d.withdrawalAvailableAt) throw new BuyerError("NO_WITHDRAWAL_REQUEST", `No withdrawal of ${t} is pending; request one first (the deposit leaves after the challenge period).`);
      const call = { to: c.address("PaymentChannels"), data: c.channels.interface.encodeFunctionData("withdrawDeposit", [t]), value: 0n, description: `Withdraw your ${t} deposit from PaymentChannels` };
      // The pending block is the contract's clock (the latest block's time lags on an idle chain).
      const refused = await c.simulate(address, call);
      if (refused && /ChallengePeriodActive/.test(refused))
        throw new BuyerError("CHALLENGE_PERIOD_ACTIVE", `The challenge period runs until ${d.withdrawalAvailableAt.toISOString()}; withdraw after that.`, { availableAt: d.withdrawalAvailableAt.toISOString() });
      const receipt = await send(call);
      const amount = amountFrom(receipt, c.channels.interface as unknown as Interface, c.address("PaymentChannels"), "DepositWithdrawn") ?? d.balance;
      return { amount, txHash: receipt.hash };
    },
    async withdrawChannel(token, opts = {}) {
      const c = needChain("A channel withdrawal");
      const t = token.toLowerCase();
      let d = await onChainDeposit(t);
      let txHash: string | undefined;
      if (!d.withdrawalAvailableAt) {
        txHash = (await buyer.requestChannelWithdrawal(t)).txHash;
        d = await onChainDeposit(t);
      }
      const availableAt = d.withdrawalAvailableAt!;
      for (;;) {
        try {
          if (!txHash || opts.wait) return { status: "withdrawn", ...(await buyer.withdrawDeposit(t)) };
        } catch (err) {
          if (!(err instanceof BuyerError && err.code === "CHALLENGE_PERIOD_ACTIVE")) throw err;
        }
        if (!opts.wait) return { status: "requested", availableAt, ...(txHash ? { txHash } : {}) };
        const left = availableAt.getTime() - Math.max(Date.now(), await c.chainTimeMs());
        opts.onWaiting?.(Math.max(0, left), availableAt);
        if (opts.signal?.aborted) throw new BuyerError("ABORTED", "Stopped waiting for the challenge period.");
        await sleep(Math.min(1000, Math.max(200, left)), opts.signal);
      }
    },

    voucherSigner,
    payDue: (policy, filter) => voucherSigner(policy).payDue(filter),
    autoPay(policy, opts = {}) {
      const signer = voucherSigner(policy);
      const ac = new AbortController();
      const onAbort = () => ac.abort();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      let wake: (() => void) | undefined;
      const reported = new Set<string>();
      const counters = { payments: 0, refused: 0, rounds: 0 };
      const sub = buyer.events(
        (e) => {
          if (e.type === "task" && (e.data as { status?: string } | null)?.status === "delivered") wake?.();
        },
        { signal: ac.signal, onError: (e) => opts.onError?.(e) },
      );
      const done = (async () => {
        while (!ac.signal.aborted) {
          const r = await signer.payDue();
          counters.rounds++;
          for (const p of r.paid) {
            counters.payments++;
            opts.onPayment?.(p);
          }
          for (const e of r.refused) {
            const d = e.details as { payee: string; token: string; cumulativeAmount: string };
            const key = `${e.code}|${d.payee}|${d.token}|${d.cumulativeAmount}`;
            if (reported.has(key)) continue;
            reported.add(key);
            counters.refused++;
            opts.onRefusal?.(e);
          }
          for (const e of r.errors) opts.onError?.(e);
          opts.onRound?.(r);
          await new Promise<void>((resolve) => {
            wake = resolve;
            void sleep(opts.intervalMs ?? 2_000, ac.signal).then(resolve);
          });
          wake = undefined;
        }
        sub.stop();
        await sub.done;
        opts.signal?.removeEventListener("abort", onAbort);
      })();
      return {
        async stop() {
          ac.abort();
          wake?.();
          await done;
        },
        done,
        spent: () => signer.spent(),
        stats: () => ({ ...counters }),
      };
    },

    async accept(taskId, opts = {}) {
      const t = await getTask(taskId);
      if (t.settlement === "channel") {
        if (t.status !== "delivered") throw new BuyerError("NOT_DUE", `Task ${taskId} is ${t.status}; only a delivered channel-route result is paid by voucher.`, { task: t });
        const policy = opts.policy ?? { maxPerTask: UNBOUNDED, maxTotal: UNBOUNDED, allowTokens: [t.token], allowAgents: [t.agent!] };
        const r = await voucherSigner(policy).payDue({ payee: t.agent!, token: t.token, taskId });
        if (r.refused[0]) throw r.refused[0];
        if (r.errors[0]) throw r.errors[0];
        const payment = r.paid.find((p) => p.taskIds.includes(taskId)) ?? r.paid[0];
        if (!payment) throw new BuyerError("NOT_DUE", `The coordinator shows nothing due for task ${taskId}.`);
        return { taskId, settlement: t.settlement, payment };
      }
      const r = await request<{ taskId: string; status: string; call: WalletCall | null }>("POST", `/v1/tasks/${encodeURIComponent(taskId)}/accept`);
      if (!r.call) return { taskId, settlement: t.settlement };
      return { taskId, settlement: t.settlement, txHash: (await sendEscrowCall(taskId, r.call, "release")).hash };
    },
    async dispute(taskId, evidenceUri, text) {
      const r = await request<{ call: WalletCall }>("POST", `/v1/tasks/${encodeURIComponent(taskId)}/dispute`, { evidenceUri, ...(text ? { text } : {}) });
      return { taskId, txHash: (await sendEscrowCall(taskId, r.call, "dispute")).hash };
    },
    async reclaim(taskId) {
      const r = await request<{ call: WalletCall }>("POST", `/v1/tasks/${encodeURIComponent(taskId)}/reclaim`);
      return { taskId, txHash: (await sendEscrowCall(taskId, r.call, "reclaim")).hash };
    },
    async escrowBalance(token) {
      return needChain("Reading the escrow balance").escrow.balanceOf(address, token.toLowerCase());
    },
    async withdraw(token) {
      const c = needChain("An escrow withdrawal");
      const t = token.toLowerCase();
      const balance = await buyer.escrowBalance(t);
      if (balance === 0n) throw new BuyerError("NOTHING_TO_WITHDRAW", `You have nothing to withdraw of ${t} in TaskEscrow.`);
      const receipt = await send({ to: c.address("TaskEscrow"), data: c.escrow.interface.encodeFunctionData("withdraw", [t]), value: 0n, description: `Withdraw your ${t} balance from TaskEscrow` });
      return { amount: amountFrom(receipt, c.escrow.interface as unknown as Interface, c.address("TaskEscrow"), "Withdrawn") ?? balance, txHash: receipt.hash };
    },

    events(onEvent, opts = {}) {
      const ac = new AbortController();
      const stopOuter = () => ac.abort();
      opts.signal?.addEventListener("abort", stopOuter, { once: true });
      const done = (async () => {
        let backoff = 500;
        while (!ac.signal.aborted) {
          try {
            const res = await session.open("/v1/events", { signal: ac.signal, headers: { accept: "text/event-stream" } });
            backoff = 500;
            for await (const ev of readServerSentEvents(res.body!)) {
              let data: unknown = ev.data;
              try {
                data = JSON.parse(ev.data);
              } catch {
                /* keep the text */
              }
              onEvent({ type: ev.event, data, ...(ev.id !== undefined ? { id: ev.id } : {}) });
            }
          } catch (err) {
            if (ac.signal.aborted) break;
            opts.onError?.(err as Error);
          }
          await sleep(backoff, ac.signal);
          backoff = Math.min(backoff * 2, 15_000);
        }
        opts.signal?.removeEventListener("abort", stopOuter);
      })();
      return { stop: () => ac.abort(), done };
    },

    agents: (f = {}) => {
      const q = new URLSearchParams(Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])));
      return publicGet(`/v1/agents${q.size ? `?${q}` : ""}`);
    },
    quote: (q) => {
      const p = new URLSearchParams({ capability: q.capability, complexity: String(q.complexity), ...(q.urgency ? { urgency: q.urgency } : {}), ...(q.agent ? { agent: q.agent } : {}) });
      return publicGet(`/v1/pricing/quote?${p}`);
    },
    tokenInfo: (token) => needChain("Reading a token").tokenInfo(token),
    close: () => chain?.close(),
  };
  return buyer;
}

/** Every status a task can have once its escrow is funded and the coordinator has opened it. */
const OPEN_OR_LATER = ["open", "awarded", "running", "delivered", "accepted", "rejected", "disputed", ...FINAL_TASK_STATUSES];

