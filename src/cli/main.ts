/**
 * `aicp`: the AICP buyer's command line, on the buyer SDK (src/sdk/buyer.ts).
 *
 *   aicp --account 5 channel deposit 10                # 10 tUSD into PaymentChannels
 *   aicp --account 5 task post examples/task.json --wait --accept
 *   aicp --account 5 workflow post examples/workflow.json --wait --accept
 *   aicp --account 5 pay --auto --max-per-task 1 --max-total 20
 *   aicp --substrate //Eve task post examples/task-substrate.json --wait --accept   # on Substrate
 *
 * Amounts typed on the command line are token units, exact to the token's decimals ("1.5" tUSD
 * = 1 500 000 base units), or base units with the suffix `base` ("1500000base") or with
 * `--base-units`. Results go to stdout (`--json` for machine-readable output), progress and
 * errors to stderr; any failure exits non-zero with `error: CODE: message`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { Command, Option } from "commander";
import type { Buyer, Task, Workflow } from "../sdk/buyer.js";
import { FINAL_TASK_STATUSES } from "../sdk/buyer.js";
import { BuyerError, PolicyError } from "../sdk/buyer-errors.js";
import type { SpendingPolicy, VoucherPayment } from "../sdk/buyer-vouchers.js";
import { createContext, Env, wantsNetwork, type CliContext, type GlobalFlags, type SubstrateSettings } from "./context.js";
import { substrateNetwork, substratePair } from "../sdk/substrate-buyer.js";
import { chainFromNetwork } from "../sdk/buyer-chain.js";
import { readTaskFile, readWorkflowFile } from "./files.js";
import { emit, fields, preview, printError, table } from "./output.js";
import { counterProgress, taskProgress, workflowProgress } from "./progress.js";
import { registerWalletCommands } from "./wallet-commands.js";

const UNBOUNDED = 2n ** 256n - 1n;

/** Runs `fn` with the context and turns any failure into a readable error and exit code 1. */
function action<A extends unknown[]>(program: Command, fn: (ctx: CliContext, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    let ctx: CliContext | undefined;
    const flags = program.opts<GlobalFlags>();
    try {
      // Only AICP_URL needed: without chain settings the coordinator says where it settles.
      const url = flags.url ?? process.env["AICP_URL"] ?? "http://127.0.0.1:3000";
      const uri = flags.substrate ?? process.env["AICP_SUBSTRATE_URI"];
      let substrate: SubstrateSettings | undefined;
      if (uri) {
        const info = await substrateNetwork(url);
        if (!info) throw new BuyerError("NO_CHAIN", `The coordinator at ${url} lists no Substrate chain (GET /v1/network); start it with npm start -- --chain substrate.`);
        substrate = { info, pair: await substratePair(uri, info.ss58Prefix) };
      }
      const network = !substrate && wantsNetwork(flags) ? await chainFromNetwork(url).catch(() => undefined) : undefined;
      ctx = createContext(flags, process.env, network, substrate);
      await fn(ctx, ...args);
    } catch (err) {
      printError(err, ctx?.url ?? flags.url ?? process.env["AICP_URL"] ?? "the coordinator", flags.json === true);
      process.exitCode = 1;
    } finally {
      ctx?.close();
    }
  };
}

/** A one-line summary of a task's state for progress displays. */
async function taskLine(ctx: CliContext, t: Task): Promise<string> {
  const who = t.agent ? ` by ${t.agent.slice(0, 10)}…` : "";
  const price = t.price ? ` for ${await ctx.describe(t.price, t.token)}` : "";
  const fail = t.execution.failureReason ? ` (${t.execution.failureReason})` : "";
  return `${t.status}${who}${price}${fail}`;
}

async function showTask(ctx: CliContext, t: Task): Promise<void> {
  const rows: [string, string | number | null | undefined][] = [
    ["task", t.id],
    ["status", t.status],
    ["capability", t.capability],
    ["route", `${t.settlement}${t.route !== t.settlement ? ` (asked ${t.route})` : ""}`],
    ["budget", await ctx.describe(t.budget, t.token)],
    ["token", t.token],
    ["deadline", t.deadline],
    ["agent", t.agent],
    ["price", t.price ? await ctx.describe(t.price, t.token) : null],
    ["auction", `${t.auction.rule}, ${t.auction.status}${t.auction.closeReason ? ` (${t.auction.closeReason})` : ""}, ${t.auction.eligible} eligible`],
    ["attempts", `${t.execution.attempts}${t.execution.failovers ? `, ${t.execution.failovers} failover(s)` : ""}`],
    ["result hash", t.execution.resultHash],
    ["failure", t.execution.failureReason ?? undefined],
  ];
  if (t.workflowId) rows.push(["workflow", `${t.workflowId} node ${t.nodeKey}`]);
  const lines = fields(rows);
  if ("output" in t) lines.push("output:", preview(t.output));
  else if (t.status === "delivered" && t.settlement === "channel") lines.push("output:   held until you pay: aicp task accept " + t.id);
  emit(ctx.json, t, () => lines);
}

/** The spending policy of `pay` from its flags. */
async function policyFrom(ctx: CliContext, o: { maxPerTask?: string; maxTotal?: string; token?: string[]; agent?: string[] }): Promise<{ policy: SpendingPolicy; token: string }> {
  const tokens = o.token?.length ? await Promise.all(o.token.map((t) => ctx.token(t))) : [await ctx.token()];
  const first = tokens[0]!;
  return {
    token: first,
    policy: {
      maxPerTask: o.maxPerTask ? await ctx.amount(o.maxPerTask, first, "--max-per-task") : UNBOUNDED,
      maxTotal: o.maxTotal ? await ctx.amount(o.maxTotal, first, "--max-total") : UNBOUNDED,
      allowTokens: tokens,
      ...(o.agent?.length ? { allowAgents: o.agent } : {}),
    },
  };
}

async function describePolicy(ctx: CliContext, p: SpendingPolicy, token: string): Promise<string> {
  const lim = async (v: bigint) => (v === UNBOUNDED ? "no limit" : await ctx.describe(v, token));
  return `policy: per task ${p.maxPerTask === UNBOUNDED ? "within its budget" : await lim(p.maxPerTask)}; in all ${p.maxTotal === UNBOUNDED ? "no limit (your deposit bounds it)" : await lim(p.maxTotal)}; tokens ${p.allowTokens.join(", ")}${p.allowAgents ? `; agents ${p.allowAgents.join(", ")}` : "; any agent"}`;
}

async function paymentLine(ctx: CliContext, p: VoucherPayment): Promise<string> {
  return `paid ${await ctx.describe(p.increase, p.token)} to ${p.payee} (cumulative ${p.cumulativeAmount}) for ${p.taskIds.length} task(s): ${p.taskIds.join(", ")}${p.idempotent ? " (already accepted)" : ""}`;
}

/** Waits for a posted task with a progress bar; with `accept`, accepts the delivered result. */
async function followTask(ctx: CliContext, buyer: Buyer, t: Task, opts: { accept?: boolean; timeoutMs: number }): Promise<Task> {
  const bar = taskProgress(() => t.status);
  // Lines are described asynchronously (token metadata): keep them in the order of the changes.
  let shown = Promise.resolve();
  const update = (x: Task) => (shown = shown.then(async () => bar.update(x, await taskLine(ctx, x))));
  try {
    let cur = await buyer.waitTask(t.id, ["delivered", "accepted", ...FINAL_TASK_STATUSES], { timeoutMs: opts.timeoutMs, onProgress: (x) => void update(x) });
    await shown;
    if (opts.accept && cur.status === "delivered") {
      bar.note(cur.settlement === "channel" ? "paying the voucher for the result" : "accepting: sending the release from your wallet");
      const r = await buyer.accept(cur.id);
      if (r.payment) bar.note(await paymentLine(ctx, r.payment));
      if (r.txHash) bar.note(`release sent in ${r.txHash}`);
      cur = await buyer.getTask(cur.id);
      await update(cur);
      await shown;
    }
    return cur;
  } finally {
    bar.stop();
  }
}

export function buildProgram(): Command {
  const program = new Command()
    .name("aicp")
    .description("Buy work on an AICP marketplace: post tasks and workflows, fund them, pay agents, withdraw.")
    .option("--url <url>", "coordinator base URL (AICP_URL; default http://127.0.0.1:3000)")
    .option("--key <hex>", "the buyer's private key (AICP_PRIVATE_KEY)")
    .option("--account <n>", "use Hardhat's well-known test account n (LOCAL CHAINS ONLY: its key is public)")
    .option("--substrate <suri>", "act as this Substrate account (sr25519 secret URI; //Eve etc. on local chains only) on the coordinator's Substrate chain (AICP_SUBSTRATE_URI)")
    .option("--rpc <url>", "JSON-RPC URL of the chain (CHAIN_RPC_URL; default http://127.0.0.1:8545)")
    .option("--deployments <file>", "deployments file (DEPLOYMENTS_FILE; default deployments/localhost.json)")
    .option("--base-units", "read bare integer amounts as base units instead of token units")
    .option("--json", "print results as JSON")
    .showHelpAfterError("(aicp --help lists the commands)")
    .addHelpText(
      "after",
      [
        "",
        "Amounts: token units exact to the token's decimals (1.5 = 1500000 base units of tUSD),",
        "or base units with the suffix base (1500000base). In task and workflow files amounts",
        'must name their unit ("0.5 tUSD" or "500000base"); see examples/.',
        "",
        "Environment:",
        ...Object.entries(Env.shape).map(([k, v]) => `  ${k.padEnd(18)} ${v.description ?? ""}`),
      ].join("\n"),
    );

  // ---- tasks ----
  const task = program.command("task").description("post, follow, accept, dispute and reclaim tasks");
  task
    .command("post <file>")
    .description("post a task from a JSON file (escrow route: funds it from your wallet)")
    .option("--wait", "wait for the result with a progress bar")
    .option("--accept", "with --wait: accept the delivered result (escrow: release; channel: pay the voucher)")
    .option("--permit", "escrow route: fund with an ERC-2612 permit (one transaction) instead of approve + fund")
    .option("--timeout <seconds>", "give up waiting after this long", "600")
    .action(
      action(program, async (ctx, file: string, o: { wait?: boolean; accept?: boolean; permit?: boolean; timeout: string }) => {
        const spec = await readTaskFile(ctx, file);
        const buyer = ctx.buyer();
        ctx.note(`posting ${spec.capability} with a budget of ${await ctx.describe(BigInt(spec.budget), spec.token)}`);
        let t = await buyer.postTask(spec, { usePermit: o.permit === true, onFunding: (d) => ctx.note(`wallet: ${d}`) });
        ctx.note(`task ${t.id} ${t.status} on the ${t.settlement} route`);
        if (o.wait) {
          t = await followTask(ctx, buyer, t, { accept: o.accept === true, timeoutMs: Number(o.timeout) * 1000 });
          await showTask(ctx, t);
          if ((FINAL_TASK_STATUSES as readonly string[]).includes(t.status) && !["settled", "resolved"].includes(t.status))
            throw new BuyerError("TASK_ENDED", `Task ${t.id} ended ${t.status}${t.execution.failureReason ? `: ${t.execution.failureReason}` : ""}.`);
          return;
        }
        emit(ctx.json, t, () => fields([["task", t.id], ["status", t.status], ["route", t.settlement], ["next", `aicp task show ${t.id}`]]));
      }),
    );
  task
    .command("show <id>")
    .description("a task's state, price, agent and (once you may see it) output")
    .action(action(program, async (ctx, id: string) => showTask(ctx, await ctx.buyer().getTask(id))));
  task
    .command("list")
    .description("your tasks, newest first")
    .option("--status <status>", "only tasks in this status")
    .option("--limit <n>", "at most this many", "20")
    .action(
      action(program, async (ctx, o: { status?: string; limit: string }) => {
        const r = await ctx.buyer().listTasks({ ...(o.status ? { status: o.status } : {}), limit: Number(o.limit) });
        const rows = await Promise.all(r.items.map(async (t) => [t.id, t.status, t.settlement, t.capability, t.price ? await ctx.describe(t.price, t.token) : "—"]));
        emit(ctx.json, r, () => [...table(["task", "status", "route", "capability", "price"], rows), `${r.total} in all`]);
      }),
    );
  task
    .command("accept <id>")
    .description("accept a delivered result: escrow sends the release from your wallet; channel pays its voucher")
    .action(
      action(program, async (ctx, id: string) => {
        const r = await ctx.buyer().accept(id);
        const line = r.payment ? await paymentLine(ctx, r.payment) : `task ${id} accepted${r.txHash ? `; release sent in ${r.txHash}` : ""}`;
        emit(ctx.json, r, () => [line]);
      }),
    );
  task
    .command("dispute <id>")
    .description("dispute a delivered escrow result with evidence (sends the dispute from your wallet)")
    .requiredOption("--evidence <uri>", "ERC-1497 evidence URI (ipfs://…, https://…)")
    .option("--text <text>", "what is wrong, for the arbitrator")
    .action(
      action(program, async (ctx, id: string, o: { evidence: string; text?: string }) => {
        const r = await ctx.buyer().dispute(id, o.evidence, o.text);
        emit(ctx.json, r, () => [`task ${id} disputed in ${r.txHash}; an arbitrator rules on-chain`]);
      }),
    );
  task
    .command("reclaim <id>")
    .description("take back an undelivered escrow after its deadline")
    .action(
      action(program, async (ctx, id: string) => {
        const r = await ctx.buyer().reclaim(id);
        emit(ctx.json, r, () => [`escrow of task ${id} reclaimed in ${r.txHash}; withdraw it with: aicp withdraw`]);
      }),
    );
  task
    .command("cancel <id>")
    .description("cancel a task's auction before the award")
    .action(action(program, async (ctx, id: string) => showTask(ctx, await ctx.buyer().cancelTask(id))));

  // ---- workflows ----
  const workflow = program.command("workflow").description("post and follow DAG workflows");
  workflow
    .command("post <file>")
    .description("post a workflow (DAG of tasks) from a JSON file")
    .option("--wait", "wait for it with a progress bar per node")
    .option("--accept", "with --wait: pay channel-route results as they arrive, within the workflow's budgets")
    .option("--timeout <seconds>", "give up waiting after this long", "900")
    .action(
      action(program, async (ctx, file: string, o: { wait?: boolean; accept?: boolean; timeout: string }) => {
        const spec = await readWorkflowFile(ctx, file);
        const buyer = ctx.buyer();
        if (spec.route === "channel" && buyer.chain) {
          // Each node promises its budget out of the deposit when it is auctioned; a short deposit fails nodes.
          const available = (await buyer.channel(spec.token)).available;
          if (available < BigInt(spec.totalBudget))
            ctx.note(`warning: your available channel deposit is ${await ctx.describe(available, spec.token)}, below the total budget; nodes may fail for want of deposit (aicp channel deposit <amount>)`);
        }
        ctx.note(`posting a workflow of ${spec.nodes.length} nodes with a total budget of ${await ctx.describe(BigInt(spec.totalBudget), spec.token)}`);
        let w = await buyer.postWorkflow(spec);
        ctx.note(`workflow ${w.id} ${w.status}`);
        if (!o.wait) {
          emit(ctx.json, w, () => fields([["workflow", w.id], ["status", w.status], ["nodes", w.nodes.map((n) => n.key).join(", ")], ["next", `aicp workflow show ${w.id}`]]));
          return;
        }
        const payer = o.accept
          ? buyer.autoPay(
              {
                // A node costs at most its budget plus what it may draw on the reserve (≤ total − Σ budgets).
                maxPerTask: spec.nodes.reduce((m, n) => (BigInt(n.budget) > m ? BigInt(n.budget) : m), 0n) + BigInt(spec.totalBudget) - spec.nodes.reduce((a, n) => a + BigInt(n.budget), 0n),
                maxTotal: BigInt(spec.totalBudget),
                allowTokens: [spec.token],
              },
              { intervalMs: 1000, onRefusal: (e) => ctx.note(`refused: ${e.message}`) },
            )
          : undefined;
        const bars = workflowProgress();
        try {
          w = await buyer.waitWorkflow(w.id, (x) => bars.update(x), { timeoutMs: Number(o.timeout) * 1000 });
        } finally {
          bars.stop();
        }
        if (payer) {
          // The last results are paid for once delivered; give the signer a round for them.
          const due = async () => (await buyer.channel(spec.token)).pairs.some((p) => p.due > 0n);
          for (let i = 0; i < 20 && (await due()); i++) await sleep(250);
          await payer.stop();
          ctx.note(`paid ${await ctx.describe(payer.spent()[spec.token] ?? 0n, spec.token)} in ${payer.stats().payments} voucher(s)`);
        }
        await showWorkflow(ctx, buyer, w);
        if (w.status !== "completed") throw new BuyerError("WORKFLOW_ENDED", `Workflow ${w.id} ended ${w.status}.`);
      }),
    );
  workflow
    .command("show <id>")
    .description("a workflow's nodes, agents, prices, critical path and budget ledger")
    .action(
      action(program, async (ctx, id: string) => {
        const buyer = ctx.buyer();
        await showWorkflow(ctx, buyer, await buyer.getWorkflow(id));
      }),
    );

  // ---- channels ----
  const channel = program.command("channel").description("your PaymentChannels deposit (the channel route of small payments)");
  channel
    .command("deposit <amount>")
    .description("deposit into PaymentChannels from your wallet (approve + deposit; native as value)")
    .option("--token <token>", "address, native, or a symbol of the deployment (default: its token)")
    .option("--permit", "ERC-2612 permit instead of a separate approve")
    .option("--wait", "wait until the coordinator has indexed the deposit")
    .action(
      action(program, async (ctx, amountText: string, o: { token?: string; permit?: boolean; wait?: boolean }) => {
        const token = await ctx.token(o.token);
        const amount = await ctx.amount(amountText, token, "amount");
        if (amount === 0n) throw new BuyerError("BAD_AMOUNT", "amount: a deposit must be above zero.");
        const buyer = ctx.buyer();
        const before = o.wait ? (await buyer.channel(token)).deposit : 0n;
        const r = await buyer.deposit(token, amount, { usePermit: o.permit === true, onStep: (d) => ctx.note(`wallet: ${d}`) });
        if (o.wait) {
          ctx.note("waiting for the coordinator to index the deposit…");
          await buyer.waitDeposit(token, before + amount);
        }
        const what = await ctx.describe(amount, token);
        emit(ctx.json, r, () => [`deposited ${what} into PaymentChannels (transactions ${r.txHashes.join(", ")})`]);
      }),
    );
  channel
    .command("show")
    .description("your deposit, what is owed, promised and available, and what is due per agent")
    .option("--token <token>", "address, native, or a symbol (default: the deployment's token)")
    .action(
      action(program, async (ctx, o: { token?: string }) => {
        const token = await ctx.token(o.token);
        const c = await ctx.buyer().channel(token);
        const d = (v: bigint) => ctx.describe(v, token);
        const lines = fields([
          ["token", token],
          ["deposit", await d(c.deposit)],
          ["settled", await d(c.settled)],
          ["owed", await d(c.owed)],
          ["promised", await d(c.promised)],
          ["available", await d(c.available)],
          ["withdrawal", c.withdrawal ? `pending, available at ${c.withdrawal.availableAt.toISOString()}` : "none"],
          ...(c.onChain && c.onChain.balance !== c.deposit ? [["on-chain", `${await d(c.onChain.balance)} (the coordinator has not indexed the difference yet)`] as [string, string]] : []),
        ]);
        if (c.pairs.length) {
          lines.push("", ...table(["agent", "accepted", "settled", "due now", "tasks due"], await Promise.all(c.pairs.map(async (p) => [p.payee, String(p.accepted), String(p.settled), String(p.due), String(p.dueTaskIds.length)]))));
          lines.push("(per-agent amounts in base units)");
        }
        emit(ctx.json, c, () => lines);
      }),
    );
  channel
    .command("withdraw")
    .description("take your deposit back: requests the withdrawal, then withdraws after the challenge period")
    .option("--token <token>", "address, native, or a symbol (default: the deployment's token)")
    .option("--wait", "wait out the challenge period (with a countdown) and withdraw")
    .option("--cancel", "cancel a pending withdrawal request instead")
    .action(
      action(program, async (ctx, o: { token?: string; wait?: boolean; cancel?: boolean }) => {
        const token = await ctx.token(o.token);
        const buyer = ctx.buyer();
        if (o.cancel) {
          const r = await buyer.cancelChannelWithdrawal(token);
          emit(ctx.json, r, () => [`withdrawal request cancelled in ${r.txHash}`]);
          return;
        }
        let bar: ReturnType<typeof counterProgress> | undefined;
        let startLeft = 0;
        const r = await buyer.withdrawChannel(token, {
          wait: o.wait === true,
          onWaiting: (left, at) => {
            if (!bar) {
              startLeft = left || 1;
              bar = counterProgress("challenge period", BigInt(startLeft));
              ctx.note(`withdrawal available at ${at.toISOString()}; waiting…`);
            }
            bar.update(BigInt(startLeft - left), `${Math.ceil(left / 1000)} s left`);
          },
        });
        bar?.stop();
        if (r.status === "requested")
          emit(ctx.json, r, () => [`withdrawal requested${r.txHash ? ` in ${r.txHash}` : ""}; available at ${r.availableAt.toISOString()}`, "run `aicp channel withdraw` again after that (or with --wait)"]);
        else emit(ctx.json, r, () => [`withdrew ${r.amount} base units in ${r.txHash}`]);
      }),
    );

  // ---- paying ----
  program
    .command("pay")
    .description("pay delivered channel-route results with vouchers under a spending policy (once, or --auto)")
    .option("--auto", "keep running: pay results as they are delivered (Ctrl-C stops)")
    .option("--max-per-task <amount>", "refuse any task priced above this (token units; default: within its budget)")
    .option("--max-total <amount>", "stop paying once this much is paid (token units; default: no limit)")
    .addOption(new Option("--token <token...>", "tokens it may pay in (default: the deployment's token)"))
    .addOption(new Option("--agent <address...>", "agents it may pay (default: any)"))
    .option("--interval <ms>", "with --auto: also check every this many ms", "2000")
    .action(
      action(program, async (ctx, o: { auto?: boolean; maxPerTask?: string; maxTotal?: string; token?: string[]; agent?: string[]; interval: string }) => {
        const { policy, token } = await policyFrom(ctx, o);
        const buyer = ctx.buyer();
        ctx.note(await describePolicy(ctx, policy, token));
        if (!o.auto) {
          const r = await buyer.payDue(policy);
          for (const p of r.paid) ctx.note(await paymentLine(ctx, p));
          for (const e of r.refused) printError(e, ctx.url, ctx.json);
          for (const e of r.errors) printError(e, ctx.url, ctx.json);
          emit(ctx.json, r, () => [`${r.paid.length} voucher(s) paid, ${r.refused.length} refused${r.paid.length + r.refused.length === 0 ? " (nothing due)" : ""}`]);
          if (r.refused.length || r.errors.length) process.exitCode = 1;
          return;
        }
        const bar = counterProgress("paid", policy.maxTotal === UNBOUNDED ? undefined : policy.maxTotal);
        const show = async () => {
          const spent = payer.spent()[token] ?? 0n;
          const s = payer.stats();
          bar.update(spent, `${await ctx.describe(spent, token)} | ${s.payments} voucher(s) | ${s.refused} refused`);
        };
        const payer = buyer.autoPay(policy, {
          intervalMs: Number(o.interval),
          onPayment: (p) => void paymentLine(ctx, p).then((l) => bar.log(l)),
          onRefusal: (e: PolicyError) => bar.log(`refused: ${e.code}: ${e.message}`),
          onError: (e) => bar.log(`warning: ${e.message}`),
          onRound: () => void show(),
        });
        ctx.note("paying delivered results as they arrive; Ctrl-C stops");
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
        await payer.stop();
        bar.stop();
        const spent = payer.spent();
        emit(ctx.json, { spent, ...payer.stats() }, () => [`stopped: paid ${payer.stats().payments} voucher(s), refused ${payer.stats().refused}`]);
      }),
    );

  program
    .command("withdraw")
    .description("withdraw your balance in TaskEscrow (refunds, reclaimed escrows, dispute splits) to your wallet")
    .option("--token <token>", "address, native, or a symbol (default: the deployment's token)")
    .action(
      action(program, async (ctx, o: { token?: string }) => {
        const token = await ctx.token(o.token);
        const r = await ctx.buyer().withdraw(token);
        emit(ctx.json, r, () => [`withdrew ${r.amount} base units in ${r.txHash}`]);
      }),
    );

  // ---- market ----
  program
    .command("agents")
    .description("registered agents, their capabilities, floors, reputation and health")
    .option("--capability <capability>", "only agents selling this")
    .action(
      action(program, async (ctx, o: { capability?: string }) => {
        const r = await ctx.publicBuyer().agents({ ...(o.capability ? { capability: o.capability } : {}), limit: 100 });
        const rows = r.items.map((a) => [a.address, a.name, a.capabilities.map((c) => `${c.capability}≥${c.minPrice}`).join(" "), `${a.reputation.tier} ${a.reputation.successes}/${a.reputation.successes + a.reputation.failures}`, a.suspended ? "suspended" : a.health.status]);
        emit(ctx.json, r, () => [...table(["agent", "name", "capabilities (floor, base units)", "reputation", "health"], rows), `${r.total} agent(s)`]);
      }),
    );
  program
    .command("quote <capability>")
    .description("the suggested price for a capability: base rate × complexity × urgency × reputation multiplier")
    .option("--complexity <n>", "1–10", "1")
    .option("--urgency <urgency>", "low | normal | high | critical", "normal")
    .option("--agent <address>", "also the price for this agent's reputation tier")
    .option("--token <token>", "token the price is shown in (default: the deployment's token)")
    .action(
      action(program, async (ctx, capability: string, o: { complexity: string; urgency: string; agent?: string; token?: string }) => {
        const q = await ctx.publicBuyer().quote({ capability, complexity: Number(o.complexity), urgency: o.urgency, ...(o.agent ? { agent: o.agent } : {}) });
        const token = await ctx.token(o.token).catch(() => undefined);
        const d = (v: string) => (token ? ctx.describe(v, token) : Promise.resolve(`${v} base units`));
        const lines = fields([["capability", q.capability], ["price", await d(q.price)], ...(q.agent ? [["agent price", `${await d(q.agent.price)} (tier ${q.agent.tier})`] as [string, string]] : [])]);
        lines.push("by reputation tier:", ...(await Promise.all(Object.entries(q.byTier).map(async ([tier, p]) => `  ${tier.padEnd(10)} ${await d(p)}`))));
        emit(ctx.json, q, () => lines);
      }),
    );
  program
    .command("events")
    .description("print your event stream (task updates, vouchers) as it arrives; Ctrl-C stops")
    .action(
      action(program, async (ctx) => {
        const sub = ctx.buyer().events((e) => process.stdout.write(ctx.json ? `${JSON.stringify(e)}\n` : `${e.type} ${JSON.stringify(e.data)}\n`), { onError: (e) => ctx.note(`reconnecting: ${e.message}`) });
        await new Promise<void>((resolve) => {
          process.once("SIGINT", () => resolve());
          process.once("SIGTERM", () => resolve());
        });
        sub.stop();
        await sub.done;
      }),
    );
  registerWalletCommands(program, action);
  return program;
}

async function showWorkflow(ctx: CliContext, buyer: Buyer, w: Workflow): Promise<void> {
  const rows = await Promise.all(w.nodes.map(async (n) => [n.key, n.status, n.capability, n.agent ? `${n.agent.slice(0, 10)}…` : "—", n.price ? await ctx.describe(n.price, w.token) : "—", n.durationMs !== null ? `${n.durationMs} ms` : "—"]));
  const lines = [
    ...fields([
      ["workflow", w.id],
      ["status", w.status],
      ["total budget", await ctx.describe(w.totalBudget, w.token)],
      ["reserve", `${await ctx.describe(w.reserve, w.token)} (used ${w.reserveUsed})`],
      ["wall time", w.wallMs !== null ? `${w.wallMs} ms` : null],
      ["critical path", `${w.criticalPath.nodes.join(" → ")} (${w.criticalPath.ms} ms)`],
    ]),
    "",
    ...table(["node", "status", "capability", "agent", "price", "time"], rows),
  ];
  // The outputs of the sinks (nodes no other node depends on) are the workflow's results.
  const sinks = w.nodes.filter((n) => n.taskId && !w.nodes.some((m) => m.dependsOn.includes(n.key)));
  for (const n of sinks) {
    const t = await buyer.getTask(n.taskId!).catch(() => undefined);
    if (t && "output" in t) lines.push("", `output of ${n.key}:`, preview(t.output));
    else if (t?.status === "delivered") lines.push("", `output of ${n.key}: held until paid (aicp task accept ${t.id})`);
  }
  emit(ctx.json, w, () => lines);
}

/** Entry point: parses `argv` and runs the command. */
export async function main(argv = process.argv): Promise<void> {
  await buildProgram().parseAsync(argv);
}

// Run when executed directly (`tsx src/cli/main.ts`); bin/aicp.mjs imports it and calls main().
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    printError(err, process.env["AICP_URL"] ?? "the coordinator", process.argv.includes("--json"));
    process.exitCode = 1;
  });
}
