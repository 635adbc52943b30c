/**
 * `aicp agent …` (an agent operator's earnings and on-chain payouts) and `aicp dispute …`
 * (arbitrators' case lists and rulings; parties' evidence and appeals; anyone's finalize).
 */
import { readFileSync } from "node:fs";
import { extname, basename } from "node:path";
import type { Command } from "commander";
import type { CliContext } from "./context.js";
import { emit, fields, table } from "./output.js";
import { BuyerError } from "../sdk/buyer-errors.js";
import { multihashSha256, readEvidenceUri, type Erc1497Evidence } from "../protocol/disputes.js";
import type { Task } from "../sdk/buyer.js";

type Action = <A extends unknown[]>(program: Command, fn: (ctx: CliContext, ...args: A) => Promise<void>) => (...args: A) => Promise<void>;

/** Sums an agent's tasks by settlement route and status group (prices, base units). */
function earningsOf(tasks: Task[], token: string) {
  const rows = new Map<string, { route: string; paid: bigint; pending: bigint; tasks: number }>();
  for (const t of tasks) {
    if (t.token !== token || !t.price) continue;
    const r = rows.get(t.settlement) ?? { route: t.settlement, paid: 0n, pending: 0n, tasks: 0 };
    const price = BigInt(t.price);
    if (["accepted", "settled"].includes(t.status)) r.paid += price; // a dispute's split shows in what the contract holds
    else if (["awarded", "running", "delivered", "disputed"].includes(t.status)) r.pending += price;
    r.tasks++;
    rows.set(t.settlement, r);
  }
  return [...rows.values()];
}

export function registerWalletCommands(program: Command, action: Action): void {
  const agent = program.command("agent").description("an agent operator's earnings and on-chain payouts (TaskEscrow and PaymentChannels)");
  agent
    .command("earnings")
    .description("earned per route (from the coordinator) and what each contract holds for you to withdraw")
    .option("--token <token>", "address, native, or a symbol (default: the deployment's token)")
    .action(
      action(program, async (ctx, o: { token?: string }) => {
        const token = await ctx.token(o.token);
        const buyer = ctx.buyer();
        const payouts = ctx.payouts();
        const mine: Task[] = [];
        for (let offset = 0; ; offset += 200) {
          const page = await buyer.session.request<{ items: Task[]; total: number }>("GET", `/v1/tasks?agent=${buyer.address}&limit=200&offset=${offset}`);
          mine.push(...page.items);
          if (page.items.length < 200 || mine.length >= 10_000) break;
        }
        const routes = earningsOf(mine, token);
        const b = await payouts.balances(token);
        const out = { agent: buyer.address, token, routes, withdrawable: b };
        const lines = [
          ...table(["route", "tasks", "earned (price)", "in progress"], await Promise.all(routes.map(async (r) => [r.route, String(r.tasks), await ctx.describe(r.paid, token), await ctx.describe(r.pending, token)]))),
          "",
          ...fields([
            ["TaskEscrow", await ctx.describe(b.escrow, token)],
            ["PaymentChannels", await ctx.describe(b.channels, token)],
            ["withdrawable", await ctx.describe(b.total, token)],
          ]),
          b.total > 0n ? "run `aicp agent withdraw` to move it to your wallet" : "nothing to withdraw yet (vouchers count once their batch settles on-chain)",
        ];
        emit(ctx.json, out, () => lines);
      }),
    );
  agent
    .command("withdraw")
    .description("withdraw what TaskEscrow and PaymentChannels hold for you (one transaction per contract)")
    .option("--token <token>", "address, native, or a symbol (default: the deployment's token)")
    .action(
      action(program, async (ctx, o: { token?: string }) => {
        const token = await ctx.token(o.token);
        const r = await ctx.payouts().withdraw(token);
        const lines = await Promise.all(r.withdrawals.map(async (w) => `withdrew ${await ctx.describe(w.amount, token)} from ${w.route === "escrow" ? "TaskEscrow" : "PaymentChannels"} in ${w.txHash}`));
        emit(ctx.json, r, () => lines);
      }),
    );

  const dispute = program.command("dispute").description("disputes: arbitrators list, read and rule; parties add evidence and appeal; anyone finalizes");
  dispute
    .command("list")
    .description("your cases as arbitrator (newest first)")
    .option("--status <status>", "open | appealed | timed_out | awaiting_ruling | ruled | finalized")
    .action(
      action(program, async (ctx, o: { status?: string }) => {
        const items = await ctx.disputes().cases(o.status ? { status: o.status as never } : {});
        const rows = await Promise.all(
          items.map(async (d) => [d.id, d.status + (d.appealed ? " (appealed)" : "") + (d.timedOut ? " (timed out)" : ""), d.taskId, d.price && d.token ? await ctx.describe(d.price, d.token) : "—", d.ruleDeadline ?? "—"]),
        );
        emit(ctx.json, items, () => [...table(["id", "status", "task", "price", "rule by"], rows), `${items.length} case(s)`]);
      }),
    );
  dispute
    .command("show <id>")
    .description("a case: the task, both sides' evidence (ERC-1497 documents decoded), the amounts")
    .action(
      action(program, async (ctx, id: string) => {
        const d = await ctx.disputes().get(id);
        const x = d.dispute;
        const lines = [
          ...fields([
            ["dispute", x.id],
            ["task", x.taskId],
            ["status", `${x.status}${x.appealed ? " (appealed)" : ""}${x.timedOut ? " (timed out)" : ""}`],
            ["buyer", x.buyer],
            ["agent", x.agent],
            ["arbitrator", x.arbitrator],
            ["price", x.price && x.token ? await ctx.describe(x.price, x.token) : null],
            ["escrowed", x.amount && x.token ? await ctx.describe(x.amount, x.token) : null],
            ["ruling", x.agentShareBps !== null ? `${x.agentShareBps / 100} % to the agent` : null],
            ["rule by", x.ruleDeadline],
            ["appeal by", x.appealDeadline],
            ["result hash", x.resultHash],
          ]),
          "",
          `evidence (${d.evidence.length}):`,
          ...d.evidence.map((e) => {
            const doc = e.uri ? readEvidenceUri(e.uri) : undefined;
            const who = e.party === x.buyer ? "buyer" : e.party === x.agent ? "agent" : e.party;
            return `  [${who}, ${e.source}] ${doc ? `${doc.name}: ${doc.description}${doc.fileHash ? ` (file ${doc.fileHash.slice(0, 16)}…)` : ""}` : (e.uri ?? "")}${e.text ? ` — ${e.text}` : ""}`;
          }),
        ];
        emit(ctx.json, d, () => lines);
      }),
    );
  dispute
    .command("evidence <id>")
    .description("add ERC-1497 evidence as a party (on-chain; the file is hashed, not uploaded)")
    .option("--name <name>", "title of the evidence")
    .option("--description <text>", "what it shows")
    .option("--file <path>", "a file to hash into the evidence (sha2-256 multihash)")
    .option("--file-uri <uri>", "where the file can be fetched (ipfs://…, https://…)")
    .option("--uri <uri>", "an evidence URI you host instead of the JSON built here")
    .action(
      action(program, async (ctx, id: string, o: { name?: string; description?: string; file?: string; fileUri?: string; uri?: string }) => {
        let ev: Erc1497Evidence | { uri: string };
        if (o.uri) ev = { uri: o.uri };
        else {
          if (!o.name || !o.description) throw new BuyerError("BAD_EVIDENCE", "Give --name and --description (or --uri).");
          ev = { name: o.name, description: o.description };
          if (o.file) {
            ev.fileHash = multihashSha256(readFileSync(o.file));
            ev.fileTypeExtension = extname(o.file).slice(1) || "bin";
            ev.fileURI = o.fileUri ?? `file:${basename(o.file)}`;
          } else if (o.fileUri) ev.fileURI = o.fileUri;
        }
        const r = await ctx.disputes().addEvidence(id, ev);
        emit(ctx.json, r, () => [`evidence added to dispute ${id} in ${r.txHash}`]);
      }),
    );
  dispute
    .command("rule <id> <agentPercent>")
    .description("rule a split as the assigned arbitrator: the agent's share of the price in percent (60 or 60.5); prints the amounts first")
    .action(
      action(program, async (ctx, id: string, percent: string) => {
        if (!/^\d{1,3}(\.\d{1,2})?$/.test(percent) || Number(percent) > 100) throw new BuyerError("BAD_SHARE", "The agent's share is a percentage from 0 to 100 with at most two decimals.");
        const bps = Math.round(Number(percent) * 100);
        const disputes = ctx.disputes();
        const p = await disputes.preview(id, bps);
        ctx.note(`ruling ${bps / 100} % to the agent: agent ${await ctx.describe(p.agent, p.token)} (after the ${p.feeBps / 100} % fee of ${await ctx.describe(p.fee, p.token)}), buyer ${await ctx.describe(p.buyer, p.token)}`);
        const r = await disputes.rule(id, bps);
        emit(ctx.json, { ...r, split: p }, () => [`ruled in ${r.txHash}; the coordinator finalizes it after the appeal window (or: aicp dispute finalize ${id})`]);
      }),
    );
  dispute
    .command("appeal <id>")
    .description("appeal a ruling as the side that lost (within the appeal window); another arbitrator rules, finally")
    .action(
      action(program, async (ctx, id: string) => {
        const r = await ctx.disputes().appeal(id);
        emit(ctx.json, r, () => [`appealed in ${r.txHash}`]);
      }),
    );
  dispute
    .command("finalize <id>")
    .description("finalize a ruling past its appeal window: TaskEscrow pays the split (anyone may)")
    .action(
      action(program, async (ctx, id: string) => {
        const r = await ctx.disputes().finalize(id);
        emit(ctx.json, r, () => [`finalized in ${r.txHash}; withdraw with aicp agent withdraw / aicp withdraw`]);
      }),
    );
}
