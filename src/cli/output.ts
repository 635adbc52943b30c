/**
 * How `aicp` prints: results on stdout (readable text, or JSON with `--json`), progress and
 * errors on stderr. Errors of the coordinator (`{ error: { code, message, details } }`), of the
 * SDK and of the command line all come out as `error: CODE: message` plus their details.
 */
import { AicpHttpError } from "../sdk/session.js";
import { BuyerError } from "../sdk/buyer-errors.js";

/** JSON with bigints as decimal strings and Dates as ISO 8601. */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), indent);
}

/** Prints a result: `json` as JSON with `--json`, else the text lines. */
export function emit(json: boolean, value: unknown, lines: () => string[]): void {
  process.stdout.write(json ? `${toJson(value)}\n` : `${lines().join("\n")}\n`);
}

/** `key  value` lines with the keys aligned. */
export function fields(rows: [string, string | number | null | undefined][]): string[] {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.filter(([, v]) => v !== undefined).map(([k, v]) => `${k.padEnd(width)}  ${v ?? "—"}`);
}

/** A table with a header row, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [line(header), ...rows.map(line)];
}

/** A JSON value for the terminal: pretty, cut after `max` characters. */
export function preview(value: unknown, max = 2000): string {
  const s = toJson(value);
  return s.length <= max ? s : `${s.slice(0, max)}\n… (${s.length - max} more characters; --json prints everything)`;
}

/** What a failure looks like to a person, and the exit code it gives. */
export function describeError(err: unknown, url: string): { code: string; message: string; details?: unknown; status?: number } {
  if (err instanceof AicpHttpError) {
    if (err.status === 0)
      return { code: "COORDINATOR_UNREACHABLE", message: `Cannot reach the coordinator at ${url} (${err.message}). Is it running? Set --url or AICP_URL.` };
    return { code: err.code, message: err.message, status: err.status, ...(err.details !== undefined ? { details: err.details } : {}) };
  }
  if (err instanceof BuyerError) return { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) };
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === "string" && /^commander\./.test(e.code)) return { code: "USAGE", message: String(e.message) };
  return { code: "ERROR", message: err instanceof Error ? err.message : String(err) };
}

/** Prints an error to stderr (JSON with `--json`). */
export function printError(err: unknown, url: string, json: boolean): void {
  const d = describeError(err, url);
  if (json) {
    process.stderr.write(`${toJson({ error: d })}\n`);
    return;
  }
  let out = `error: ${d.code}${d.status ? ` (HTTP ${d.status})` : ""}: ${d.message}\n`;
  if (d.details !== undefined && d.details !== null && !(typeof d.details === "object" && "plan" in (d.details as object))) {
    const flat = typeof d.details === "object" && !Array.isArray(d.details) ? Object.entries(d.details as Record<string, unknown>) : [["details", d.details] as const];
    for (const [k, v] of flat) {
      const text = typeof v === "string" ? v : toJson(v, 0);
      // Whole task or workflow views are noise here, and so is what the message already says.
      if (k !== "task" && k !== "workflow" && !d.message.includes(text)) out += `  ${k}: ${text}\n`;
    }
  }
  process.stderr.write(out);
}
