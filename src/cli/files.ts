/**
 * Task and workflow files of `aicp task post` / `aicp workflow post`: the coordinator's JSON
 * bodies (see /docs), with conveniences for people:
 * - amounts (`budget`, `totalBudget`, `reserve`) carry their unit: `"0.5 tUSD"` (token units,
 *   exact to the token's decimals) or `"500000base"` (base units). A bare number is refused
 *   (is "500000" half a tUSD or half a million?) unless `--base-units` says bare integers are
 *   base units — which makes a raw API body valid as it is;
 * - `token`: an address, `native`, or a symbol of the deployment (`tUSD`); default the
 *   deployment's token;
 * - `deadline`: ISO 8601 or relative (`+30m`, `+2h`, `+1d`, `+90s`); default `+1h`;
 * - `auction`: default `{ "rule": "second-price", "windowMs": 2000 }`.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { BuyerError } from "../sdk/buyer-errors.js";
import type { TaskSpec, WorkflowSpec } from "../sdk/buyer.js";
import type { CliContext } from "./context.js";

const Amount = z.union([z.string().min(1), z.number()]);
const Deadline = z.string().min(1).default("+1h");
const Auction = z.object({ rule: z.string().min(1), windowMs: z.number().int().min(0) }).strict();

const TaskFile = z
  .object({
    capability: z.string().min(1),
    input: z.unknown().refine((v) => v !== undefined, "is required"),
    complexity: z.number().int().min(1).max(10),
    urgency: z.string().optional(),
    budget: Amount,
    token: z.string().optional(),
    deadline: Deadline,
    auction: Auction.default({ rule: "second-price", windowMs: 2000 }),
    route: z.enum(["auto", "channel", "escrow"]).optional(),
    quantity: z.number().int().min(1).optional(),
  })
  .strict();

const WorkflowFile = z
  .object({
    nodes: z
      .array(
        z
          .object({
            key: z.string().min(1),
            capability: z.string().min(1),
            input: z.unknown().refine((v) => v !== undefined, "is required"),
            complexity: z.number().int().min(1).max(10),
            urgency: z.string().optional(),
            budget: Amount,
            dependsOn: z.array(z.string()).optional(),
            auction: Auction.optional(),
          })
          .strict(),
      )
      .min(1),
    totalBudget: Amount,
    reserve: Amount.optional(),
    token: z.string().optional(),
    deadline: Deadline,
    route: z.enum(["auto", "channel", "escrow"]).optional(),
  })
  .strict();

/**
 * Reads a JSON file.
 * @throws BuyerError FILE_NOT_FOUND | FILE_UNREADABLE | INVALID_JSON (with the line and column)
 */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new BuyerError("FILE_NOT_FOUND", `${file}: no such file.`);
    throw new BuyerError("FILE_UNREADABLE", `${file}: cannot be read (${(err as Error).message}).`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const msg = (err as Error).message;
    const at = /position (\d+)/.exec(msg);
    let where = "";
    if (at) {
      const before = text.slice(0, Number(at[1]));
      const line = before.split("\n").length;
      where = ` (line ${line}, column ${Number(at[1]) - before.lastIndexOf("\n")})`;
    }
    throw new BuyerError("INVALID_JSON", `${file} is not valid JSON${where}: ${msg}`);
  }
}

function invalid(file: string, kind: string, err: z.ZodError): BuyerError {
  const lines = err.issues.map((i) => `  ${i.path.length ? i.path.join(".") : "(file)"}: ${i.message}`);
  return new BuyerError(kind, `${file} is not a valid ${kind === "INVALID_TASK_FILE" ? "task" : "workflow"} file:\n${lines.join("\n")}`);
}

/**
 * A deadline: ISO 8601, or `+<n><s|m|h|d>` from now.
 * @throws BuyerError BAD_DEADLINE
 */
export function parseDeadline(text: string, now = Date.now()): Date {
  const rel = /^\+(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (rel) return new Date(now + Number(rel[1]) * { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[rel[2] as "s" | "m" | "h" | "d"]);
  const d = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(d.getTime()))
    throw new BuyerError("BAD_DEADLINE", `deadline "${text}" is neither an ISO 8601 date-time (2030-01-01T12:00:00Z) nor relative (+30m, +2h, +1d).`);
  return d;
}

/** Reads a file amount: bare numbers only with --base-units (then base units), else a unit is required. */
async function fileAmount(ctx: CliContext, value: string | number, token: string, what: string): Promise<bigint> {
  const text = String(value).trim();
  if (typeof value === "number" && (!ctx.flags.baseUnits || !Number.isSafeInteger(value)))
    throw new BuyerError("BAD_AMOUNT", `${what}: ${value} is a JSON number; write the amount as a string with its unit, e.g. "0.5 tUSD" or "500000base" (JSON numbers lose digits).`);
  if (/^[0-9_.]+$/.test(text) && !ctx.flags.baseUnits) {
    const info = await ctx.tokenInfo(token).catch(() => undefined);
    throw new BuyerError(
      "BAD_AMOUNT",
      `${what}: "${text}" has no unit; write "${text} ${info?.symbol ?? "<symbol>"}" for token units or "${text}base" for base units (or pass --base-units to read bare integers as base units).`,
    );
  }
  return ctx.amount(text, token, what);
}

/**
 * Reads a task file into the SDK's spec.
 * @throws BuyerError FILE_NOT_FOUND | INVALID_JSON | INVALID_TASK_FILE | BAD_AMOUNT | BAD_DEADLINE | UNKNOWN_TOKEN
 */
export async function readTaskFile(ctx: CliContext, file: string): Promise<TaskSpec> {
  const parsed = TaskFile.safeParse(await readJsonFile(file));
  if (!parsed.success) throw invalid(file, "INVALID_TASK_FILE", parsed.error);
  const f = parsed.data;
  const token = await ctx.token(f.token);
  return {
    capability: f.capability,
    input: f.input,
    complexity: f.complexity,
    ...(f.urgency ? { urgency: f.urgency } : {}),
    budget: await fileAmount(ctx, f.budget, token, `${file}: budget`),
    token,
    deadline: parseDeadline(f.deadline),
    auction: f.auction,
    ...(f.route ? { route: f.route } : {}),
    ...(f.quantity ? { quantity: f.quantity } : {}),
  };
}

/**
 * Reads a workflow file into the SDK's spec.
 * @throws BuyerError FILE_NOT_FOUND | INVALID_JSON | INVALID_WORKFLOW_FILE | BAD_AMOUNT | BAD_DEADLINE | UNKNOWN_TOKEN
 */
export async function readWorkflowFile(ctx: CliContext, file: string): Promise<WorkflowSpec> {
  const parsed = WorkflowFile.safeParse(await readJsonFile(file));
  if (!parsed.success) throw invalid(file, "INVALID_WORKFLOW_FILE", parsed.error);
  const f = parsed.data;
  const token = await ctx.token(f.token);
  const nodes = [];
  for (const n of f.nodes)
    nodes.push({
      key: n.key,
      capability: n.capability,
      input: n.input,
      complexity: n.complexity,
      ...(n.urgency ? { urgency: n.urgency } : {}),
      budget: await fileAmount(ctx, n.budget, token, `${file}: node ${n.key}: budget`),
      ...(n.dependsOn ? { dependsOn: n.dependsOn } : {}),
      ...(n.auction ? { auction: n.auction } : {}),
    });
  return {
    nodes,
    totalBudget: await fileAmount(ctx, f.totalBudget, token, `${file}: totalBudget`),
    ...(f.reserve !== undefined ? { reserve: await fileAmount(ctx, f.reserve, token, `${file}: reserve`) } : {}),
    token,
    deadline: parseDeadline(f.deadline),
    ...(f.route ? { route: f.route } : {}),
  };
}
