/**
 * `npm run demo`: drives a running AICP stack through everything it does, as its users would —
 * buyers with the buyer SDK, agents with their own keys, an arbitrator from its wallet, the
 * operator with the admin key — and reports on it (./report.ts).
 *
 * On a local Hardhat chain, with Hardhat's funded test accounts (src/stack/local.ts,
 * LOCAL_ROLES): buyers #5–#7 mint test tUSD from its open faucet, deposit into PaymentChannels
 * and pay channel-route results with EIP-712 vouchers through the SDK's automatic payer under a
 * spending policy; escrow-route tasks are funded from the buyers' wallets and accepted by the
 * release call, left to the acceptance window (silence), or disputed — the arbitrator (#2 or #3)
 * reads the dispute through the API, rules a split on-chain, and after the appeal window (the
 * demo moves the local chain's clock with `evm_increaseTime`) the escrow executes it. The flaky
 * agent wins hash tasks by price, fails, trips its circuit breaker, and its tasks fail over to
 * runner-ups. Vouchers are settled in batches by the coordinator; a reputation epoch is
 * snapshotted by the operator, anchored on-chain by the coordinator and verified on-chain with
 * ReputationAnchor.verify; finally the agents withdraw their payouts with their own keys
 * (agents #10–#15, the reference agents `npm start` runs; the demo starts any that are not
 * online in-process, in pull mode).
 *
 * The demo reads the coordinator's Postgres (ledger, task timestamps, outbox gas) for its report;
 * it never writes to it.
 */
import { JsonRpcProvider, MaxUint256, NonceManager, Wallet, type TransactionReceipt } from "ethers";
import type { Config } from "../config.js";
import { connectEvm, type EvmChain } from "../chain/evm/chain.js";
import { taskKey } from "../protocol/keys.js";
import { escrowThreshold } from "../settlement/route.js";
import { LOCAL_ROLES, localAccount } from "../stack/local.js";
import { AGENT_KINDS, createReferenceAgent, type AgentKind } from "../agents-ref/kinds.js";
import { createBuyer, FINAL_TASK_STATUSES, FINAL_WORKFLOW_STATUSES, AicpHttpError, type AutoPayer, type Buyer, type Task } from "../sdk/buyer.js";
import { createSession, type Agent } from "../sdk/agent.js";
import { channelBudget, FLAKY_WAVE, flakyTask, mixTask, planTasks, planWorkflows, type PlannedTask, type PlannedWorkflow } from "./plan.js";
import { createDemoProgress, type DemoProgress } from "./progress.js";
import { collectReport, type DemoRecord } from "./figures.js";
import type { DemoReport, Tracked } from "./report.js";
import { createAuditClient, demoStore, type AuditClient } from "./store.js";
import { createMutex, createSemaphore, DemoError, sleep, until } from "./util.js";

export { DemoError } from "./util.js";
export { formatReport, type DemoReport } from "./report.js";

/** Options of {@link runDemo}. */
export type DemoOptions = {
  /** Coordinator base URL (AICP_URL), e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** The coordinator's configuration: CHAIN_RPC_URL, DEPLOYMENTS_FILE, ADMIN_API_KEY, the database, the escrow threshold. */
  config: Config;
  /** Standalone tasks to post (default 200). */
  tasks?: number;
  /** DAG workflows to post (default 5; the first is fetch → (label, extract, analyse) → combine). */
  workflows?: number;
  /** Local account indices of the buyers (default LOCAL_ROLES.buyers: 5, 6, 7). */
  buyers?: number[];
  /** Local account indices of the arbitrators (default 2, 3). */
  arbitrators?: number[];
  /** Share of the tasks on the escrow route (default 0.1; at least 3). */
  escrowShare?: number;
  /** Escrow tasks left to the acceptance window (default 2). */
  silentEscrows?: number;
  /** The arbitrator's ruling: the agent's share, bps (default 6 000). */
  disputeShareBps?: number;
  /** Share of the tasks kept for the flaky agent's phase (hash tasks until its breaker opens; default 0.25). */
  flakyReserveShare?: number;
  /**
   * Hash tasks the flaky agent's phase may post beyond `tasks` when the reserve is spent and its
   * breaker has still not opened (5 consecutive failures are a matter of chance at a 50 % failure
   * rate); reported as extra. Default: half of `tasks`.
   */
  flakyExtraTasks?: number;
  /** Failure rate of a flaky agent the demo starts itself (default 0.5, as `npm start`'s). */
  flakyFailureRate?: number;
  /** At the end, buyers take their unused PaymentChannels deposits back (request, the challenge period passed on the local chain, withdraw); default true. */
  reclaimDeposits?: boolean;
  /** Tasks between posting and delivery at once (default 16). */
  concurrency?: number;
  /** `auto`: start in-process the reference agents that are not online; `external`: require them online. */
  agents?: "auto" | "external";
  /** Mine an empty block when none came for this long, ms, so confirmation depths pass on an idle local chain (0 = never; default 1 000). */
  mineIntervalMs?: number;
  /** Longest wait of one step, ms (default 600 000). */
  stepTimeoutMs?: number;
  /** Progress on stderr: bars on a TTY (`auto`), lines (`plain`) or nothing (`silent`). */
  progress?: "auto" | "plain" | "silent";
  /** Seed of the task inputs. */
  seed?: number;
};

type BuyerCtx = {
  index: number;
  account: number;
  label: string;
  wallet: Wallet;
  buyer: Buyer;
  /** Runs the buyer's wallet transactions one at a time (one nonce sequence). */
  tx: <T>(f: () => Promise<T>) => Promise<T>;
  payer?: AutoPayer;
  depositPlanned: bigint;
};

type AgentCtx = { kind: AgentKind; account: number; address: string; key: string; inProcess: boolean; agent?: Agent };

/** A demo task as the demo follows it. */

const PRE_DELIVERY = new Set(["funding", "open", "awarded", "running"]);
const FINAL = new Set<string>(FINAL_TASK_STATUSES);
const ESCROW_STATE = ["None", "Funded", "Awarded", "Delivered", "Disputed", "Released", "Refunded", "Resolved"];

/**
 * Runs the demo against a running stack and returns its report (the caller prints it and
 * exits with `report.ok`).
 * @throws DemoError when it cannot run: not a local Hardhat chain, the coordinator or the
 *   database unreachable, agents missing with `agents: "external"`, or a step timing out
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const o = {
    tasks: 200, workflows: 5, buyers: [...LOCAL_ROLES.buyers], arbitrators: [...LOCAL_ROLES.arbitrators], escrowShare: 0.1, silentEscrows: 2,
    disputeShareBps: 6_000, flakyReserveShare: 0.25, flakyFailureRate: 0.5, reclaimDeposits: true, concurrency: 16, agents: "auto" as const, mineIntervalMs: 1_000,
    stepTimeoutMs: 600_000, progress: "auto" as const, seed: 2024,
    ...options,
  };
  const flakyExtraTasks = options.flakyExtraTasks ?? Math.ceil(o.tasks / 2);
  const { config } = o;
  const url = o.url.replace(/\/+$/, "");
  const progress = createDemoProgress(o.progress);
  const startedAt = Date.now();
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  let evm: EvmChain | undefined;
  try {
    evm = connectEvm(config);
    // The figures come from the coordinator's operator audit over HTTP, not from its database.
    const db = createAuditClient(url, config.ADMIN_API_KEY);
    return await demo({ ...o, flakyExtraTasks }, url, evm, db, progress, startedAt, cleanups);
  } finally {
    progress.stop();
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    evm?.close();
  }
}

async function demo(
  o: Required<Omit<DemoOptions, "url" | "config">> & { config: Config },
  url: string,
  evm: EvmChain,
  db: AuditClient,
  progress: DemoProgress,
  startedAt: number,
  cleanups: (() => Promise<unknown> | unknown)[],
): Promise<DemoReport> {
  const { config } = o;
  // A provider without ethers' short call cache: a wallet's next nonce right after its last transaction.
  const provider = new JsonRpcProvider(config.CHAIN_RPC_URL, evm.chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 200 });
  cleanups.push(() => provider.destroy());
  const record: DemoRecord = {
    startedAt, url, txs: [], postErrors: [], workflows: [], flakyTransitions: [], silence: [], withdrawals: [], notes: [],
    fromBlock: 0, toBlock: 0, timeTravel: [], tracked: new Map(), buyers: [], agents: [], arbitrators: [], openingDeposits: new Map(), vouchers: 0,
    tasksPlanned: 0, tasksPosted: 0, extraTasks: 0, dispute: undefined, epoch: undefined, flaky: undefined,
  };
  const gasTx = (route: string, kind: string, hashes: string | string[] | undefined) => {
    for (const hash of [hashes ?? []].flat()) record.txs.push({ route, kind, hash });
  };

  // ---- preflight --------------------------------------------------------------------------
  progress.phase(`Checking the stack: coordinator ${url}, chain ${config.CHAIN_RPC_URL}`);
  const chainId = Number(await provider.send("eth_chainId", []).catch((err: Error) => {
    throw new DemoError("CHAIN_UNREACHABLE", `The chain at ${config.CHAIN_RPC_URL} does not answer (${err.message}); start the stack with \`npm start\` or set CHAIN_RPC_URL.`);
  }));
  if (chainId !== evm.chainId) throw new DemoError("WRONG_CHAIN", `${config.DEPLOYMENTS_FILE} is for chain ${evm.chainId}, the node at ${config.CHAIN_RPC_URL} is chain ${chainId}.`);
  const local = await provider.send("hardhat_metadata", []).then(() => true, () => false);
  if (!local || chainId !== 31337)
    throw new DemoError("NOT_LOCAL", "The demo uses Hardhat's public test accounts and moves the chain's clock: it runs against a local Hardhat chain only (npm start).");
  if ((await provider.getCode(evm.address("TaskEscrow"))) === "0x")
    throw new DemoError("NOT_DEPLOYED", `No TaskEscrow at ${evm.address("TaskEscrow")} on this chain: ${config.DEPLOYMENTS_FILE} belongs to another chain instance.`);
  const health = await fetch(`${url}/health`).then((r) => r.ok, () => false);
  if (!health) throw new DemoError("COORDINATOR_UNREACHABLE", `The coordinator at ${url} does not answer /health; start it with \`npm start\` or set AICP_URL.`);
  await demoStore.ping(db).catch((err: Error) => {
    throw new DemoError("AUDIT_REFUSED", `The coordinator's operator audit refused the demo (${err.message}); run it with the coordinator's ADMIN_API_KEY.`);
  });
  if (!evm.token) throw new DemoError("NO_TEST_TOKEN", `${config.DEPLOYMENTS_FILE} has no AICPTestToken; the demo pays in the local test token.`);
  const token = evm.address("AICPTestToken");
  const tokenC = evm.token;

  // Keep blocks coming on an idle local chain (Hardhat automine makes one per transaction), so
  // the coordinator's confirmation depth passes.
  let stopTicker = () => undefined as void;
  if (o.mineIntervalMs > 0) {
    let last = -1;
    const timer = setInterval(() => {
      void (async () => {
        const head = Number(await provider.send("eth_blockNumber", []));
        if (head === last) await provider.send("evm_mine", []);
        last = head;
      })().catch(() => undefined);
    }, o.mineIntervalMs);
    stopTicker = () => clearInterval(timer);
    cleanups.push(stopTicker);
  }
  record.fromBlock = Number(await provider.send("eth_blockNumber", []));

  // ---- agents -----------------------------------------------------------------------------
  progress.phase("Agents: the six reference agents (math, text, csv, image, hash, flaky)");
  const registered = await listAgents(url);
  for (const kind of AGENT_KINDS) {
    const account = LOCAL_ROLES.agents[kind]!;
    const acct = localAccount(account);
    const address = acct.address.toLowerCase();
    const found = registered.find((a) => a.address === address);
    const online = found?.endpointUrl ? await probe(found.endpointUrl) : false;
    const ctx: AgentCtx = { kind, account, address, key: acct.privateKey, inProcess: !online };
    if (!online) {
      if (o.agents === "external") throw new DemoError("AGENT_OFFLINE", `No ${kind} agent answers at ${address} (local account #${account}); start the stack with \`npm start\`.`);
      const agent = createReferenceAgent(kind, {
        baseUrl: url,
        wallet: new Wallet(acct.privateKey),
        maxConcurrency: 16,
        reconcileMs: 2_000,
        siwe: { chainId },
        ...(kind === "flaky" ? { flaky: { failureRate: o.flakyFailureRate } } : {}),
      });
      await agent.start();
      cleanups.push(() => agent.stop({ drainMs: 2_000 }));
      ctx.agent = agent;
    }
    record.agents.push(ctx);
    progress.note(`agent ${kind.padEnd(5)} ${address} (#${account}) ${online ? `online at ${found!.endpointUrl}` : "started in-process (pull mode)"}`);
  }
  const flaky = record.agents.find((a) => a.kind === "flaky")!;
  record.arbitrators = o.arbitrators.map((i) => ({ account: i, address: localAccount(i).address.toLowerCase(), key: localAccount(i).privateKey }));

  // ---- plan -------------------------------------------------------------------------------
  const threshold = escrowThreshold(config, token);
  const reserveN = Math.round(o.tasks * o.flakyReserveShare);
  const plan = planTasks({ tasks: o.tasks, buyers: o.buyers.length, escrowShare: o.escrowShare, escrowThreshold: threshold, flakyReserve: reserveN, seed: o.seed });
  const flows = planWorkflows(o.workflows, o.buyers.length, o.seed + 1);
  record.tasksPlanned = plan.regular.length + plan.reserve.length;
  const isChannel = (p: PlannedTask) => p.route === "channel" || (p.route === "auto" && p.budget < threshold);
  // Of the escrow tasks: one disputed, some left to silence, and at least one accepted by the release call.
  const silenceTarget = Math.min(o.silentEscrows, Math.max(0, plan.regular.filter((p) => !isChannel(p)).length - 2));

  // ---- buyers: faucet, escrow allowance, channel deposit, automatic payer ---------------------
  progress.phase(`Buyers ${o.buyers.map((b) => `#${b}`).join(", ")}: tUSD from the test faucet, an allowance for TaskEscrow, a PaymentChannels deposit, automatic vouchers`);
  const buyers: BuyerCtx[] = o.buyers.map((account, index) => {
    const key = localAccount(account).privateKey;
    const wallet = new Wallet(key);
    const buyer = createBuyer({ baseUrl: url, wallet, chain: { rpcUrl: config.CHAIN_RPC_URL, deploymentsFile: config.DEPLOYMENTS_FILE }, pollMs: 500 });
    cleanups.push(() => buyer.close());
    return { index, account, label: `buyer ${index + 1}`, wallet, buyer, tx: createMutex(), depositPlanned: 0n };
  });
  record.buyers = buyers.map((b) => ({ index: b.index, account: b.account, label: b.label, address: b.buyer.address }));
  // The flaky phase's tasks go up to complexity 3 at critical urgency (extra waves included).
  let maxPerTask = channelBudget(3, "critical");
  await Promise.all(
    buyers.map(async (b) => {
      const mine = [...plan.regular, ...plan.reserve].filter((p) => p.buyer === b.index);
      const channelNeed = mine.filter(isChannel).reduce((a, p) => a + p.budget, 0n) + flows.filter((w) => w.buyer === b.index).reduce((a, w) => a + w.totalBudget, 0n);
      const escrowNeed = mine.filter((p) => !isChannel(p)).reduce((a, p) => a + p.budget, 0n);
      for (const p of mine) if (p.budget > maxPerTask && isChannel(p)) maxPerTask = p.budget;
      for (const w of flows) for (const n of w.nodes) if (n.budget > maxPerTask) maxPerTask = n.budget;
      b.depositPlanned = channelNeed;
      const chain = b.buyer.chain!;
      const signer = b.wallet.connect(chain.provider);
      record.openingDeposits.set(b.buyer.address, (await evm.channels.depositOf(b.buyer.address, token, { blockTag: record.fromBlock }))[0]);
      await b.buyer.signIn();
      await b.tx(async () => {
        const have = (await tokenC.balanceOf(b.buyer.address)) as bigint;
        const need = channelNeed + escrowNeed;
        if (have < need) {
          const r = await chain.send(signer, { to: token, data: tokenC.interface.encodeFunctionData("mint", [b.buyer.address, need - have]), value: 0n, description: "Mint test tUSD (open faucet)" });
          gasTx("setup", "tUSD mint (faucet, buyer wallet)", r.hash);
        }
        const allowance = (await tokenC.allowance(b.buyer.address, evm.address("TaskEscrow"))) as bigint;
        if (escrowNeed > 0n && allowance < escrowNeed) {
          const r = await chain.send(signer, { to: token, data: tokenC.interface.encodeFunctionData("approve", [evm.address("TaskEscrow"), MaxUint256]), value: 0n, description: "Approve TaskEscrow" });
          gasTx("escrow", "approve TaskEscrow (buyer wallet, once)", r.hash);
        }
      });
      const before = (await b.buyer.channel(token)).deposit;
      if (channelNeed > 0n) {
        const d = await b.tx(() => b.buyer.deposit(token, channelNeed));
        gasTx("channel", "approve PaymentChannels (buyer wallet)", d.txHashes.slice(0, -1));
        gasTx("channel", "deposit (buyer wallet)", d.txHashes.slice(-1));
        await b.buyer.waitDeposit(token, before + channelNeed, { timeoutMs: o.stepTimeoutMs });
        // One EIP-712 delivery authorization for the channel-route budgets (with room for the
        // flaky agent's extra tasks and workflow reserves): the coordinator may claim delivered
        // work under it if this buyer leaves or stays silent.
        await b.buyer.authorizeDeliveries(token, channelNeed * 4n);
      }
      progress.note(`${b.label} ${b.buyer.address} (#${b.account}): deposit ${fmt(channelNeed)} tUSD indexed, ${fmt(escrowNeed)} tUSD for escrows`);
    }),
  );
  for (const b of buyers) {
    b.payer = b.buyer.autoPay(
      { maxPerTask, maxTotal: b.depositPlanned + BigInt(o.flakyExtraTasks) * maxPerTask, allowTokens: [token] },
      {
        intervalMs: 1_000,
        onPayment: (p) => (record.vouchers += p.idempotent ? 0 : 1),
        onRefusal: (e) => progress.note(`${b.label}: voucher refused by the spending policy: ${e.message}`),
      },
    );
    cleanups.push(() => b.payer?.stop());
  }

  // ---- following the tasks ------------------------------------------------------------------
  const tracked = record.tracked;
  const slots = createSemaphore(Math.max(1, o.concurrency));
  const workflowIds = new Set<string>();
  const pending = new Set<Promise<unknown>>();
  const background = (p: Promise<unknown>) => {
    const q = p.catch((err: Error) => record.notes.push(err.message)).finally(() => pending.delete(q));
    pending.add(q);
  };
  let breaker = "closed";
  let flakyOpened = false;
  let disputeTaken = false;
  let postsInFlight = 0;
  const pendingEscrow = new Set<string>();
  let workflowPosts = 0;
  /** Waits like `until`, but a step that does not finish is noted and the demo goes on to its report. */
  const wait = (what: string, f: () => Promise<boolean>, ms = o.stepTimeoutMs, step = 500) =>
    until(what, f, ms, step).then(
      () => true,
      (err: Error) => {
        record.notes.push(err.message);
        progress.note(`gave up waiting: ${err.message}`);
        return false;
      },
    );

  const onStatus = (k: Tracked) => {
    if (k.slot && !PRE_DELIVERY.has(k.status)) {
      k.slot = false;
      slots.release();
    }
    if (k.settlement === "escrow" && k.status === "delivered" && !k.action) background(onEscrowDelivered(k));
  };
  const observe = (t: Task) => {
    let k = tracked.get(t.id);
    if (!k) {
      if (!t.workflowId || !workflowIds.has(t.workflowId)) return;
      k = { id: t.id, buyer: record.buyers.findIndex((b) => b.address === t.buyer), purpose: "workflow", capability: t.capability, settlement: t.settlement, status: t.status, workflowId: t.workflowId, slot: false };
      tracked.set(t.id, k);
      onStatus(k);
      return;
    }
    k.settlement = t.settlement;
    if (k.status !== t.status) {
      k.status = t.status;
      onStatus(k);
    }
  };
  const counts = () => {
    const byStatus: Record<string, number> = {};
    for (const k of tracked.values()) byStatus[k.status] = (byStatus[k.status] ?? 0) + 1;
    return {
      tasksPlanned: record.tasksPlanned, tasksPosted: record.tasksPosted, byStatus,
      tasksFinal: [...tracked.values()].filter((k) => FINAL.has(k.status)).length, tasksTracked: tracked.size,
      workflowsPlanned: flows.length, workflowsDone: record.workflows.filter((w) => (FINAL_WORKFLOW_STATUSES as readonly string[]).includes(w.status)).length,
      vouchers: record.vouchers, breaker: `${breaker}${flakyOpened ? " (has opened)" : ""}`,
    };
  };
  let polling = true;
  const poller = (async () => {
    while (polling) {
      for (const b of buyers) {
        try {
          for (let offset = 0; ; offset += 200) {
            const page = await b.buyer.listTasks({ limit: 200, offset });
            for (const t of page.items) observe(t);
            const oldest = page.items.at(-1);
            if (page.items.length < 200 || !oldest || Date.parse(oldest.createdAt) < startedAt - 5_000) break;
          }
        } catch {
          /* the next round tries again */
        }
      }
      for (const w of record.workflows) {
        if ((FINAL_WORKFLOW_STATUSES as readonly string[]).includes(w.status)) continue;
        try {
          const v = await buyers[w.buyer]!.buyer.getWorkflow(w.id);
          w.status = v.status;
          w.view = v;
        } catch {
          /* next round */
        }
      }
      progress.update(counts());
      await sleep(1_000);
    }
  })();
  const stopPoller = async () => {
    polling = false;
    await poller;
  };
  cleanups.push(stopPoller);

  // The flaky agent's breaker, as GET /v1/agents/:address shows it to anyone.
  const watcher = setInterval(() => {
    void fetch(`${url}/v1/agents/${flaky.address}`)
      .then((r) => (r.ok ? (r.json() as Promise<{ health: { breaker: { state: string; consecutiveFailures: number; reopenings: number } } }>) : undefined))
      .then((a) => {
        const s = a?.health.breaker;
        if (!s || s.state === breaker) return;
        record.flakyTransitions.push({ atMs: Date.now() - startedAt, state: s.state, consecutiveFailures: s.consecutiveFailures, reopenings: s.reopenings });
        progress.note(`flaky agent ${flaky.address}: circuit breaker ${breaker} → ${s.state} (${s.consecutiveFailures} consecutive failures, ${s.reopenings} reopenings) — GET /v1/agents/${flaky.address}`);
        breaker = s.state;
        if (s.state === "open") flakyOpened = true;
      })
      .catch(() => undefined);
  }, 250);
  const stopWatcher = () => clearInterval(watcher);
  cleanups.push(stopWatcher);

  // ---- posting ------------------------------------------------------------------------------
  // Escrow deadlines leave room for the demo's move of the chain's clock (a day and a bit per
  // run) and stay below 2^31 ms, the longest timer Node.js keeps (agents time tasks out at the deadline).
  const deadlineFor = (p: PlannedTask) => new Date(Date.now() + (isChannel(p) ? 3_600_000 : 20 * 86_400_000));
  /** Posts one task (and funds it from the buyer's wallet on the escrow route); resolves with its id. */
  async function postTask(p: PlannedTask): Promise<string | undefined> {
    const b = buyers[p.buyer]!;
    const body = {
      capability: p.capability, input: p.input, complexity: p.complexity, urgency: p.urgency, budget: p.budget.toString(), token,
      deadline: deadlineFor(p).toISOString(), auction: { rule: p.rule, windowMs: 1_500 }, route: p.route,
    };
    let task: Task | undefined;
    postsInFlight++;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          task = (await b.buyer.session.request<{ tasks: Task[] }>("POST", "/v1/tasks", body)).tasks[0]!;
          break;
        } catch (err) {
          const retry = err instanceof AicpHttpError && (err.status === 429 || err.status >= 500 || err.status === 0);
          if (!retry || attempt >= 4) throw err;
          await sleep(500 * attempt);
        }
      }
      record.tasksPosted++;
      const k: Tracked = { id: task.id, buyer: p.buyer, purpose: p.purpose, capability: p.capability, settlement: task.settlement, status: task.status, workflowId: null, slot: true };
      tracked.set(task.id, k);
      if (task.status === "funding") {
        const hashes = await b.tx(() => b.buyer.fund(task!));
        gasTx("escrow", "fund (buyer wallet)", hashes);
      }
      onStatus(k);
      return task.id;
    } catch (err) {
      record.postErrors.push(`${p.capability} (${p.route}, ${b.label}): ${(err as Error).message}`);
      const k = task && tracked.get(task.id);
      if (k) {
        // Funding failed: cancel it so that it ends (nothing was escrowed).
        await b.buyer.cancelTask(k.id).catch(() => undefined);
        if (k.slot) {
          k.slot = false;
          slots.release();
        }
      } else slots.release();
      return undefined;
    } finally {
      postsInFlight--;
    }
  }
  /** Waits for a slot of the in-flight limit, then posts in the background; `posted` settles once posted. */
  const post = async (p: PlannedTask) => {
    await slots.acquire();
    const posted = postTask(p);
    background(posted);
    return { posted };
  };

  progress.phase(`Posting ${record.tasksPlanned} tasks over both routes (escrow threshold ${fmt(threshold)} tUSD) and ${flows.length} workflows`);
  flows.forEach((w, i) => background(postWorkflow(w, i)));
  async function postWorkflow(w: PlannedWorkflow, index: number) {
    const b = buyers[w.buyer]!;
    workflowPosts++;
    let v;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          v = await b.buyer.postWorkflow({
            nodes: w.nodes.map((n) => ({ ...n, auction: { rule: "first-price", windowMs: 1_500 } })),
            totalBudget: w.totalBudget,
            reserve: w.reserve,
            token,
            deadline: new Date(Date.now() + 3_600_000),
            route: "channel",
          });
          break;
        } catch (err) {
          const retry = err instanceof AicpHttpError && (err.status === 429 || err.status >= 500 || err.status === 0);
          if (!retry || attempt >= 4) throw err;
          await sleep(500 * attempt);
        }
      }
    } catch (err) {
      record.postErrors.push(`workflow "${w.name}" (${b.label}): ${(err as Error).message}`);
      return;
    } finally {
      workflowPosts--;
    }
    workflowIds.add(v.id);
    record.workflows.push({ id: v.id, name: w.name, index, buyer: w.buyer, status: v.status, view: v });
    progress.note(`workflow ${v.id.slice(0, 8)} "${w.name}" posted by ${b.label} (${w.nodes.length} nodes, ${fmt(w.totalBudget)} tUSD)`);
  }
  for (const p of plan.regular) await post(p);

  // The flaky agent's phase: hash tasks in waves until its breaker has opened; what is left of
  // the reserve then goes back to the regular mix.
  const left = plan.reserve.slice();
  let nextWave = Math.ceil(left.length / FLAKY_WAVE);
  for (;;) {
    if (flakyOpened) {
      if (left.length) progress.note(`flaky agent's breaker has opened: the remaining ${left.length} reserve tasks go to the regular mix`);
      for (const p of left) await post(mixTask(p.index, p.buyer, o.seed));
      break;
    }
    if (left.length === 0) {
      if (record.extraTasks >= o.flakyExtraTasks) break;
      const n = Math.min(FLAKY_WAVE, o.flakyExtraTasks - record.extraTasks);
      const more = Array.from({ length: n }, (_, i) => flakyTask(record.tasksPlanned + i, (record.tasksPlanned + i) % buyers.length, nextWave));
      nextWave++;
      if (!(await topUp(more).then(() => true, (err: Error) => (record.notes.push(`topping up the deposits for extra flaky tasks failed: ${err.message}`), false)))) break;
      record.extraTasks += n;
      record.tasksPlanned += n;
      progress.note(`the reserve is spent and the flaky agent's breaker has not opened yet: ${n} hash tasks beyond --tasks (${record.extraTasks} extra so far)`);
      left.push(...more);
    }
    const wave = left.splice(0, FLAKY_WAVE);
    progress.note(`flaky phase: ${wave.length} hash tasks at complexity ${wave[0]!.complexity}, ${wave[0]!.urgency} urgency (a fresh quote: the flaky agent bids on its current reputation; ${left.length} left in reserve)`);
    const posted: Promise<string | undefined>[] = [];
    for (const p of wave) posted.push((await post(p)).posted);
    const ids = (await Promise.all(posted)).filter((id): id is string => id !== undefined);
    if (!(await wait("the flaky wave's tasks to be delivered or over", async () => flakyOpened || ids.every((id) => !PRE_DELIVERY.has(tracked.get(id)?.status ?? "open")), o.stepTimeoutMs, 200))) {
      for (const p of left.splice(0)) await post(mixTask(p.index, p.buyer, o.seed));
    }
  }
  if (!flakyOpened) record.notes.push("The flaky agent's breaker was not seen open: it needs 5 consecutive failed attempts, which its random failures did not produce in this run.");

  /** Tops up the channel deposits of the buyers of `tasks` when what is available does not cover their budgets. */
  async function topUp(tasks: PlannedTask[]) {
    for (const b of buyers) {
      const need = tasks.filter((p) => p.buyer === b.index).reduce((a, p) => a + p.budget, 0n);
      if (need === 0n) continue;
      const account = await b.buyer.channel(token);
      if (account.available >= need) continue;
      const amount = 2n * need;
      const have = (await tokenC.balanceOf(b.buyer.address)) as bigint;
      await b.tx(async () => {
        if (have < amount) {
          const chain = b.buyer.chain!;
          const r = await chain.send(b.wallet.connect(chain.provider), { to: token, data: tokenC.interface.encodeFunctionData("mint", [b.buyer.address, amount - have]), value: 0n, description: "Mint test tUSD (open faucet)" });
          gasTx("setup", "tUSD mint (faucet, buyer wallet)", r.hash);
        }
        const d = await b.buyer.deposit(token, amount);
        gasTx("channel", "approve PaymentChannels (buyer wallet)", d.txHashes.slice(0, -1));
        gasTx("channel", "deposit (buyer wallet)", d.txHashes.slice(-1));
      });
      // Settlements lower the deposit meanwhile: wait until what is available covers the wave.
      await until(`${b.label}'s top-up to be indexed`, async () => (await b.buyer.channel(token)).available >= need, o.stepTimeoutMs, 300);
      progress.note(`${b.label} tops up its channel deposit by ${fmt(amount)} tUSD`);
    }
  }

  progress.phase("Waiting for every task to be delivered or over, and for the workflows");
  await wait("every posted task to be delivered or over", async () => postsInFlight === 0 && [...tracked.values()].every((k) => !PRE_DELIVERY.has(k.status)));
  await wait("every workflow to finish", async () => workflowPosts === 0 && record.workflows.every((w) => (FINAL_WORKFLOW_STATUSES as readonly string[]).includes(w.status)));
  await wait("the escrow actions (accept, dispute, ruling)", async () => pendingEscrow.size === 0, o.stepTimeoutMs, 300);

  // ---- escrow: accept, silence, dispute --------------------------------------------------------
  async function onEscrowDelivered(k: Tracked) {
    k.action = k.purpose !== "above-threshold" && !disputeTaken ? "dispute" : k.purpose !== "above-threshold" && record.silence.length < silenceTarget ? "silence" : "accept";
    if (k.action === "dispute") disputeTaken = true;
    if (k.action === "silence") record.silence.push(k.id);
    pendingEscrow.add(k.id);
    try {
      const b = buyers[k.buyer]!;
      // The coordinator attests the delivery on-chain; the acceptance window starts there.
      const state = await until(`the delivery of task ${k.id} attested on-chain`, async () => {
        const s = Number((await evm.escrow.escrowOf(taskKey(k.id))).state);
        return s >= 3 && s;
      }, o.stepTimeoutMs);
      if (state !== 3) return void record.notes.push(`escrow of task ${k.id} is ${ESCROW_STATE[state]} on-chain; no ${k.action}`);
      if (k.action === "accept") {
        const r = await b.tx(() => b.buyer.accept(k.id));
        gasTx("escrow", "release (buyer wallet)", r.txHash);
      } else if (k.action === "silence") {
        progress.note(`escrow task ${k.id.slice(0, 8)}: ${b.label} stays silent; the coordinator releases it after the acceptance window`);
      } else {
        const r = await b.tx(() =>
          b.buyer.dispute(k.id, `urn:aicp-demo:evidence:${k.id}`, "The statistics are not what I asked for: I expected every column, including the city names, to be summarised against last year's figures."),
        );
        gasTx("escrow", "dispute (buyer wallet)", r.txHash);
        progress.note(`escrow task ${k.id.slice(0, 8)}: ${b.label} disputes the result with evidence`);
        await arbitrate(k);
      }
    } finally {
      pendingEscrow.delete(k.id);
    }
  }

  async function arbitrate(k: Tracked) {
    await until(`task ${k.id} to be disputed`, async () => tracked.get(k.id)?.status === "disputed", o.stepTimeoutMs);
    const disputeId = await evm.resolver.disputeOfTask(taskKey(k.id));
    const info = await evm.resolver.disputeOf(disputeId);
    const arb = record.arbitrators.find((a) => a.address === info.arbitrator.toLowerCase());
    if (!arb) throw new DemoError("UNKNOWN_ARBITRATOR", `Dispute ${disputeId} went to ${info.arbitrator}, not one of the local arbitrators ${o.arbitrators.map((i) => `#${i}`).join(", ")}.`);
    const wallet = new NonceManager(new Wallet(arb.key, provider));
    const session = createSession({ baseUrl: url, wallet: new Wallet(arb.key), chainId });
    type DisputeView = { dispute: { status: string }; task: { resultHash: string | null; capability: string } | null; evidence: { party: string; source: string; uri: string }[] };
    // The arbitrator reads the case: the API evidence at once, the on-chain ERC-1497 evidence once indexed.
    const read = () => session.request<DisputeView>("GET", `/v1/disputes/${disputeId}`);
    const view = await until(`dispute ${disputeId} with its on-chain evidence`, async () => {
      const v = await read();
      return v.evidence.some((e) => e.source === "chain") && v;
    }, 60_000, 300).catch(read);
    progress.note(`arbitrator #${arb.account} ${arb.address} reads dispute #${disputeId} (GET /v1/disputes/${disputeId}): ${view.evidence.length} pieces of evidence (${view.evidence.map((e) => e.source).join(", ")}), ${view.task?.capability} result ${view.task?.resultHash?.slice(0, 12)}…`);
    const ruled = await (await evm.resolver.connect(wallet).rule(disputeId, o.disputeShareBps)).wait();
    gasTx("escrow", "rule (arbitrator wallet)", ruled?.hash);
    progress.note(`arbitrator rules ${o.disputeShareBps / 100}% to the agent on-chain (DisputeResolver.rule), appealable for the appeal window`);
    await until(`the ruling of dispute ${disputeId} to be indexed`, async () => (await session.request<DisputeView>("GET", `/v1/disputes/${disputeId}`)).dispute.status === "ruled", o.stepTimeoutMs, 300);
    record.dispute = { taskId: k.id, disputeId: disputeId.toString(), arbitrator: arb.address, arbitratorKey: arb.key, evidence: view.evidence.length, agentShareBps: o.disputeShareBps };
  }

  // ---- the chain's clock: silence and the appeal window --------------------------------------
  if (record.silence.length > 0 || record.dispute) {
    const [acceptance, appeal] = await Promise.all([evm.escrow.acceptanceWindow(), evm.resolver.appealWindow()]);
    const seconds = Number(acceptance > appeal ? acceptance : appeal) + 1;
    progress.phase(`Local chain: moving the chain's clock forward by ${seconds} s (evm_increaseTime) — past the acceptance window (${acceptance} s) and the appeal window (${appeal} s)`);
    await provider.send("evm_increaseTime", [seconds]);
    await provider.send("evm_mine", []);
    record.timeTravel.push({ seconds, why: `past the acceptance window (${acceptance} s: escrows released by silence) and the appeal window (${appeal} s: the ruling final)` });
    if (record.dispute) {
      // Nobody has to finalize: past the appeal window the coordinator's sweep sends
      // DisputeResolver.finalize, and TaskEscrow executes the split.
      const id = record.dispute.disputeId;
      const arbSession = createSession({ baseUrl: url, wallet: new Wallet(record.dispute.arbitratorKey), chainId });
      await until(`the coordinator to finalize dispute ${id}`, async () => (await arbSession.request<{ dispute: { status: string } }>("GET", `/v1/disputes/${id}`)).dispute.status === "finalized", o.stepTimeoutMs, 300);
      progress.note(`dispute #${id} finalized by the coordinator after the appeal window: TaskEscrow executed the split`);
    }
  }

  // ---- everything final, batches confirmed -----------------------------------------------------
  progress.phase("Waiting for every task to reach a final state (vouchers settled in batches on-chain, escrows released)");
  await wait("every demo task to reach a final state", async () => [...tracked.values()].every((k) => FINAL.has(k.status)));
  const since = new Date(startedAt);
  await wait("the settlement worker's settleBatch transactions to be confirmed", async () => {
    return (await demoStore.openOutboxSince(db, since)) === 0;
  });
  for (const b of buyers) await b.payer?.stop();

  // ---- reputation epoch ------------------------------------------------------------------------
  progress.phase("Reputation: the operator snapshots an epoch; the coordinator anchors its Merkle root; proofs verified on-chain");
  const snap = await fetch(`${url}/v1/reputation/epochs`, { method: "POST", headers: { "x-admin-key": config.ADMIN_API_KEY } });
  if (snap.status !== 201) record.notes.push(`POST /v1/reputation/epochs answered ${snap.status}: ${(await snap.text()).slice(0, 200)}`);
  else {
    const { epoch, root } = (await snap.json()) as { epoch: number; root: string };
    type Proof = { anchored: boolean; anchoredTx: string | null; leaf: { agent: string; score: string; tasks: string }; proof: string[] };
    const anchored = await until(`epoch ${epoch} to be anchored on-chain`, async () => {
      const r = await fetch(`${url}/v1/agents/${record.agents[0]!.address}/reputation/proof?epoch=${epoch}`);
      const p = r.ok ? ((await r.json()) as Proof) : undefined;
      return p?.anchored && p;
    }, o.stepTimeoutMs, 300).catch((err: Error) => (record.notes.push(err.message), undefined));
    const proofs: NonNullable<DemoRecord["epoch"]>["proofs"] = [];
    for (const a of record.agents) {
      const r = await fetch(`${url}/v1/agents/${a.address}/reputation/proof?epoch=${epoch}`);
      if (!r.ok) continue;
      const p = (await r.json()) as Proof;
      const verified = await evm.anchor.verify(epoch, p.leaf.agent, p.leaf.score, p.leaf.tasks, p.proof);
      proofs.push({ label: `agent ${a.kind}`, agent: a.address, score: p.leaf.score, tasks: p.leaf.tasks, verified });
    }
    record.epoch = { epoch, root, anchoredTx: anchored?.anchoredTx ?? null, proofs };
    progress.note(`epoch ${epoch} root ${root.slice(0, 12)}… anchored in ${anchored?.anchoredTx?.slice(0, 12) ?? "-"}…; ${proofs.filter((p) => p.verified).length}/${proofs.length} proofs verify on-chain`);
  }

  // ---- withdrawals -------------------------------------------------------------------------------
  progress.phase("Withdrawals: agents pull their payouts from TaskEscrow and PaymentChannels with their own keys; buyers their escrow refunds and unused channel deposits");
  let lastBlock = 0;
  const noteReceipt = (r: TransactionReceipt | null | undefined) => {
    if (r && r.blockNumber > lastBlock) lastBlock = r.blockNumber;
  };
  for (const a of record.agents) {
    const wallet = new NonceManager(new Wallet(a.key, provider));
    const claimable = (await evm.channels.claimableOf(a.address, token)) as bigint;
    if (claimable > 0n) {
      const r = await (await evm.channels.connect(wallet).withdraw(token)).wait();
      noteReceipt(r);
      gasTx("payouts", "withdraw PaymentChannels (agent wallet)", r?.hash);
      record.withdrawals.push({ label: `agent ${a.kind}`, address: a.address, contract: "PaymentChannels", amount: claimable.toString(), txHash: r!.hash });
    }
    const credit = (await evm.escrow.balanceOf(a.address, token)) as bigint;
    if (credit > 0n) {
      const r = await (await evm.escrow.connect(wallet).withdraw(token)).wait();
      noteReceipt(r);
      gasTx("payouts", "withdraw TaskEscrow (agent wallet)", r?.hash);
      record.withdrawals.push({ label: `agent ${a.kind}`, address: a.address, contract: "TaskEscrow", amount: credit.toString(), txHash: r!.hash });
    }
  }
  for (const b of buyers) {
    if ((await b.buyer.escrowBalance(token)) === 0n) continue;
    const w = await b.tx(() => b.buyer.withdraw(token));
    gasTx("payouts", "withdraw TaskEscrow (buyer wallet)", w.txHash);
    noteReceipt(await provider.getTransactionReceipt(w.txHash));
    record.withdrawals.push({ label: b.label, address: b.buyer.address, contract: "TaskEscrow", amount: w.amount.toString(), txHash: w.txHash });
  }
  // Buyers take their unused channel deposits back: a withdrawal request starts the challenge
  // period (during which the coordinator, as watchtower, could still settle vouchers), then the deposit leaves.
  if (o.reclaimDeposits) {
    const requested: BuyerCtx[] = [];
    for (const b of buyers) {
      if (((await evm.channels.depositOf(b.buyer.address, token))[0] as bigint) === 0n) continue;
      const r = await b.tx(() => b.buyer.requestChannelWithdrawal(token));
      gasTx("channel", "request deposit withdrawal (buyer wallet)", r.txHash);
      requested.push(b);
    }
    if (requested.length) {
      const period = Number(await evm.channels.challengePeriod()) + 1;
      await provider.send("evm_increaseTime", [period]);
      await provider.send("evm_mine", []);
      record.timeTravel.push({ seconds: period, why: `past PaymentChannels' challenge period (${period - 1} s), so the buyers could withdraw their unused deposits` });
      progress.note(`local chain: moved the clock forward by ${period} s (evm_increaseTime), past the channel challenge period`);
      for (const b of requested) {
        const w = await b.tx(() => b.buyer.withdrawDeposit(token));
        gasTx("channel", "withdraw deposit (buyer wallet)", w.txHash);
        noteReceipt(await provider.getTransactionReceipt(w.txHash));
        record.withdrawals.push({ label: b.label, address: b.buyer.address, contract: "PaymentChannels", amount: w.amount.toString(), txHash: w.txHash });
      }
    }
  }
  progress.note(`${record.withdrawals.length} withdrawals sent`);

  // The indexer applies blocks after its confirmation depth: the report reads the ledger once it has.
  const head = Number(await provider.send("eth_blockNumber", []));
  await until("the indexer to apply the last block", async () => {
    return ((await demoStore.indexedBlock(db, "evm")) ?? -1) >= Math.max(lastBlock, head);
  }, 120_000, 300).catch((err: Error) => record.notes.push(err.message));
  // The report reads a still chain (the ticker would move the head) and final task states.
  stopTicker();
  stopWatcher();
  await stopPoller();
  record.toBlock = Number(await provider.send("eth_blockNumber", []));

  progress.phase("Report");
  record.flaky = flaky.address;
  return collectReport(record, { db, evm, provider, token, threshold });
}

async function listAgents(url: string): Promise<{ address: string; endpointUrl: string | null }[]> {
  const out: { address: string; endpointUrl: string | null }[] = [];
  for (let offset = 0; ; offset += 200) {
    const r = await fetch(`${url}/v1/agents?limit=200&offset=${offset}`);
    if (!r.ok) throw new DemoError("COORDINATOR_ERROR", `GET /v1/agents answered ${r.status}.`);
    const page = (await r.json()) as { items: { address: string; endpointUrl: string | null }[]; total: number };
    out.push(...page.items);
    if (page.items.length < 200) return out;
  }
}

/** Whether anything answers HTTP at `endpoint` (any status: the agent's webhook server is up). */
async function probe(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { method: "GET", signal: AbortSignal.timeout(1_500) });
    return true;
  } catch {
    return false;
  }
}

const fmt = (x: bigint) => (Number(x) / 1e6).toLocaleString("en-US", { maximumFractionDigits: 6 });
