/**
 * The architecture check of `npm run lint` (README "Architecture map"). It fails when:
 * 1. two files of src/ import each other, directly or through others (an import cycle);
 * 2. a top-level folder (or file) of src/ imports one that the map below does not allow; the
 *    map itself must be acyclic, so no cycle between top-level folders can appear either;
 * 3. SQL stands outside a repository/store module (`repository.ts`, `*-repository.ts`,
 *    `store.ts`, `*-store.ts`, and a contract's `projection.ts`, the store of the tables derived
 *    from its events), the task transitions (`src/tasks/transitions.ts`) and `src/db/`;
 * 4. any file but src/tasks/transitions.ts writes `tasks.status` (one owner of task state);
 * 5. a file imports from outside src/ (only src/protocol/contracts.ts, for the generated typings).
 *
 * Imports are read with the TypeScript compiler's own pre-processor (static, type-only and
 * dynamic imports alike). Usage: `tsx scripts/check-architecture.ts [--map]` (`--map` prints
 * the map as a Markdown table).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");
const SRC = join(ROOT, "src");

/** Top-level folder (or file) of src/ → what it owns → which others it may import. */
export const MAP: Record<string, { owns: string; imports: string[] }> = {
  "errors.ts": { owns: "the AppError tree (retryable or not, HTTP status)", imports: [] },
  "logger.ts": { owns: "pino loggers", imports: [] },
  "config.ts": { owns: "the only reader of process.env (validated schema)", imports: [] },
  "metrics.ts": { owns: "Prometheus metrics (prom-client)", imports: [] },
  protocol: { owns: "wire types, task statuses, EIP-712 type data, escrow keys, the deployments file shape", imports: [] },
  db: { owns: "Postgres (the only importer of pg), migrations under an advisory lock", imports: ["errors.ts", "logger.ts"] },
  queue: { owns: "BullMQ queues and workers, UnrecoverableError mapping", imports: ["errors.ts"] },
  ledger: { owns: "the double-entry ledger", imports: ["db"] },
  http: { owns: "the HTTP kit: route registration, zod validation, auth guards, shared schemas", imports: ["errors.ts"] },
  events: { owns: "market events: Redis pub/sub fan-out, SSE, the post-commit notifier (webhook jobs)", imports: ["http", "logger.ts", "queue"] },
  settlement: { owns: "the chain-neutral settlement interface, outbox intents, chain events, route choice, projections", imports: ["config.ts", "db", "errors.ts", "ledger", "protocol"] },
  "context.ts": { owns: "the AppContext type passed to every service", imports: ["config.ts", "db", "events", "logger.ts", "metrics.ts", "queue", "settlement"] },
  reputation: { owns: "scores, tiers, epochs and their Merkle anchors", imports: ["context.ts", "db", "errors.ts", "http", "logger.ts", "settlement"] },
  agents: { owns: "agent registry, capabilities, endpoints", imports: ["context.ts", "db", "errors.ts", "http", "reputation"] },
  auth: { owns: "SIWE (EIP-4361) and Sign-In with Substrate sign-in, session tokens", imports: ["context.ts", "db", "errors.ts", "http"] },
  pricing: { owns: "price quotes", imports: ["context.ts", "http", "protocol", "reputation"] },
  tasks: { owns: "tasks and their status (transitions), posting, transition hooks", imports: ["context.ts", "db", "errors.ts", "events", "http", "protocol", "settlement"] },
  auction: { owns: "auctions, calls for proposals, proposals, award rules", imports: ["agents", "context.ts", "db", "errors.ts", "events", "http", "protocol", "reputation", "tasks"] },
  scheduling: { owns: "dispatch, deadlines, retries, failover, circuit breakers", imports: ["context.ts", "db", "errors.ts", "events", "http", "reputation", "tasks"] },
  workflows: { owns: "DAG workflows", imports: ["auction", "context.ts", "db", "errors.ts", "http", "pricing", "protocol", "scheduling", "tasks"] },
  channels: { owns: "the channel route: deposits, promises, vouchers, delivery authorizations and claims, batch settlement", imports: ["context.ts", "db", "errors.ts", "http", "ledger", "logger.ts", "protocol", "queue", "settlement", "tasks"] },
  disputes: { owns: "disputes and their ERC-1497 evidence: API, repository, DisputeResolver projection", imports: ["db", "errors.ts", "http", "protocol", "settlement"] },
  escrow: { owns: "the escrow route: funding, attestations, release, refund, the parties' calls", imports: ["auction", "context.ts", "db", "disputes", "errors.ts", "events", "http", "ledger", "protocol", "settlement", "tasks"] },
  chain: { owns: "chain backends (chain/evm: ethers connection, sender, calldata, RPC, log decoding; chain/substrate: @polkadot/api connection, custody multisig calls, SCALE vouchers, block decoding, the local chopsticks chain)", imports: ["config.ts", "context.ts", "db", "errors.ts", "ledger", "logger.ts", "protocol", "queue", "settlement"] },
  indexer: { owns: "the chain-neutral indexer (a ChainSource from settlement/): cursor, stored events, confirmation depth, reorgs, replay of the projections", imports: ["channels", "context.ts", "db", "disputes", "escrow", "ledger", "reputation", "settlement"] },
  dashboard: { owns: "the live marketplace figures (GET /v1/dashboard and its SSE stream)", imports: ["context.ts", "db", "http", "protocol"] },
  app: {
    owns: "the composition root: context → services → routes → roles",
    imports: ["agents", "auction", "auth", "chain", "channels", "config.ts", "context.ts", "dashboard", "db", "disputes", "errors.ts", "escrow", "events", "http", "indexer", "ledger", "logger.ts", "metrics.ts", "pricing", "protocol", "queue", "reputation", "scheduling", "settlement", "tasks", "workflows"],
  },
  stack: { owns: "npm start's local chains (Hardhat node; chopsticks for Substrate), deployment and reference agents", imports: ["chain", "config.ts", "logger.ts", "protocol"] },
  "main.ts": { owns: "the entry point (--role)", imports: ["app", "config.ts", "errors.ts", "logger.ts", "stack"] },
  sdk: { owns: "agent and buyer SDKs (HTTP clients)", imports: ["protocol"] },
  "agents-ref": { owns: "the reference agents", imports: ["logger.ts", "sdk"] },
  cli: { owns: "the aicp CLI", imports: ["protocol", "sdk"] },
  demo: { owns: "npm run demo (its figures from the operator audit over HTTP)", imports: ["agents-ref", "chain", "config.ts", "protocol", "sdk", "settlement", "stack"] },
};

/** Outside src/, only the generated contract typings (typechain, `types/`), and only through src/protocol/contracts.ts. */
const OUTSIDE_ALLOWED = join(ROOT, "types");
const OUTSIDE_GATEWAY = "protocol/contracts.ts";

const SQL_HOME = /(^|\/)(repository|[\w-]+-repository|store|[\w-]+-store|projection|transitions)\.ts$/;
const SQL = /\b(SELECT\s[\s\S]{0,400}?\bFROM\b|INSERT\s+INTO\b|UPDATE\s+\w+(\s+\w+)?\s+SET\b|DELETE\s+FROM\b)/;
const WRITES_TASK_STATUS = /(\bUPDATE\s+tasks\b(\s+\w+)?\s+SET\b(?:(?!\bWHERE\b)[^`"'])*?\bstatus\s*=|\bINSERT\s+INTO\s+tasks\b)/i;
const STATUS_OWNER = "tasks/transitions.ts";

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith(".ts") ? [p] : [];
  });
}

const top = (file: string) => relative(SRC, file).split("/")[0]!;

function resolveImport(from: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  const base = resolve(dirname(from), spec);
  for (const c of [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts"), base]) {
    try {
      if (statSync(c).isFile()) return c;
    } catch {
      /* try the next */
    }
  }
  return base;
}

/** Strongly connected components of size > 1 (Tarjan). */
function cycles(nodes: string[], edges: Map<string, Set<string>>): string[][] {
  let i = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, i);
    low.set(v, i++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) out.push(c.sort());
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return out;
}

/** Runs the checks over src/. @returns the problems found (empty: the architecture holds) */
export function checkArchitecture(): string[] {
  const problems: string[] = [];
  const files = walk(SRC);
  const fileEdges = new Map<string, Set<string>>();
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    const rel = relative(SRC, f);
    const deps = new Set<string>();
    for (const imp of ts.preProcessFile(text, true, true).importedFiles) {
      const target = resolveImport(f, imp.fileName);
      if (!target) continue;
      if (!target.startsWith(SRC + "/")) {
        if (!target.startsWith(OUTSIDE_ALLOWED + "/") || rel !== OUTSIDE_GATEWAY)
          problems.push(`${rel} imports ${relative(ROOT, target)}, outside src/ (only ${OUTSIDE_GATEWAY} may, and only types/)`);
        continue;
      }
      deps.add(target);
      const [a, b] = [top(f), top(target)];
      if (a !== b && !(MAP[a]?.imports ?? []).includes(b)) problems.push(`${rel} imports ${relative(SRC, target)}: ${a} may not import ${b} (README "Architecture map")`);
    }
    fileEdges.set(f, deps);
    if (!MAP[top(f)]) problems.push(`src/${top(f)} is not in the architecture map (scripts/check-architecture.ts)`);
    const code = text.replace(/^\s*(\/\/|\*|\/\*).*$/gm, "");
    if (SQL.test(code) && !SQL_HOME.test(rel) && !rel.startsWith("db/")) problems.push(`${rel} holds SQL: move it to its domain's repository`);
    if (WRITES_TASK_STATUS.test(code) && rel !== STATUS_OWNER) problems.push(`${rel} writes tasks.status: only ${STATUS_OWNER} may (call its transitions)`);
  }
  for (const c of cycles(files, fileEdges)) problems.push(`import cycle between files: ${c.map((f) => relative(SRC, f)).join(" ↔ ")}`);
  const mapEdges = new Map(Object.entries(MAP).map(([k, v]) => [k, new Set(v.imports)]));
  for (const c of cycles(Object.keys(MAP), mapEdges)) problems.push(`the architecture map has a cycle: ${c.join(" ↔ ")}`);
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  if (process.argv.includes("--map")) {
    console.log("| folder | owns | may import |\n|---|---|---|");
    for (const [k, v] of Object.entries(MAP)) console.log(`| \`${k}\` | ${v.owns} | ${v.imports.map((x) => `\`${x}\``).join(", ") || "—"} |`);
  } else {
    const problems = checkArchitecture();
    for (const p of problems) console.error(`architecture: ${p}`);
    if (problems.length) process.exit(1);
    console.log("architecture: ok (no import cycles, folders import only what the map allows, SQL only in repositories, one writer of tasks.status)");
  }
}
