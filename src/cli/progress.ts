/**
 * Progress displays of long `aicp` operations, on stderr: cli-progress bars on a terminal, and
 * one timestamped line per change otherwise (logs, CI, pipes), so both a person and a log reader
 * can follow a task, a workflow, the voucher signer or a challenge period.
 */
import cliProgress from "cli-progress";
import type { Task, Workflow } from "../sdk/buyer.js";

const tty = () => process.stderr.isTTY === true;
const stamp = () => new Date().toISOString().slice(11, 19);
const line = (s: string) => process.stderr.write(`[${stamp()}] ${s}\n`);

/** The happy path of a task; anything else ends the bar. */
const TASK_STEPS = ["funding", "open", "awarded", "running", "delivered", "accepted", "settled"];

export type TaskProgress = { update(t: Task, detail?: string): void; note(s: string): void; stop(): void };

/** A bar over the task's lifecycle (funding → … → settled). */
export function taskProgress(describe: (t: Task) => string): TaskProgress {
  let bar: cliProgress.SingleBar | undefined;
  let last = "";
  return {
    update(t, detail) {
      const step = TASK_STEPS.indexOf(t.status);
      const value = step >= 0 ? step : TASK_STEPS.length - 1;
      const text = detail ?? describe(t);
      if (!tty()) {
        if (text !== last) line(`task ${t.id.slice(0, 8)} ${text}`);
        last = text;
        return;
      }
      if (!bar) {
        bar = new cliProgress.SingleBar(
          { format: `task ${t.id.slice(0, 8)} [{bar}] {status} | {duration_formatted}`, hideCursor: true, barsize: 24, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        bar.start(TASK_STEPS.length - 1, value, { status: text });
      } else bar.update(value, { status: text });
    },
    note(s) {
      if (!tty()) line(s);
      else bar?.update({ status: s });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}

const NODE_STEPS: Record<string, number> = { pending: 0, auctioning: 1, running: 2, done: 3, failed: 3, cancelled: 3 };

export type WorkflowProgress = { update(w: Workflow): void; stop(): void };

/** One bar per node (pending → auctioning → running → done) under an overall bar. */
export function workflowProgress(): WorkflowProgress {
  let multi: cliProgress.MultiBar | undefined;
  let overall: cliProgress.SingleBar | undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  const seen = new Map<string, string>();
  return {
    update(w) {
      const finished = w.nodes.filter((n) => NODE_STEPS[n.status] === 3).length;
      if (!tty()) {
        for (const n of w.nodes) {
          const s = `${n.status}${n.taskStatus && n.status !== "done" ? ` (task ${n.taskStatus})` : ""}${n.agent ? ` by ${n.agent.slice(0, 10)}` : ""}${n.failureReason ? `: ${n.failureReason}` : ""}`;
          if (seen.get(n.key) !== s) line(`workflow ${w.id.slice(0, 8)} node ${n.key}: ${s}`);
          seen.set(n.key, s);
        }
        if (seen.get("") !== w.status) line(`workflow ${w.id.slice(0, 8)}: ${w.status} (${finished}/${w.nodes.length} nodes finished)`);
        seen.set("", w.status);
        return;
      }
      if (!multi) {
        multi = new cliProgress.MultiBar(
          { format: "{name} [{bar}] {status}", hideCursor: true, barsize: 20, stream: process.stderr, clearOnComplete: false },
          cliProgress.Presets.shades_classic,
        );
        const width = Math.max(8, ...w.nodes.map((n) => n.key.length));
        overall = multi.create(w.nodes.length, finished, { name: "workflow".padEnd(width), status: w.status });
        for (const n of w.nodes) bars.set(n.key, multi.create(3, NODE_STEPS[n.status] ?? 0, { name: n.key.padEnd(width), status: n.status }));
      }
      overall!.update(finished, { status: `${w.status} ${finished}/${w.nodes.length}` });
      for (const n of w.nodes) bars.get(n.key)?.update(NODE_STEPS[n.status] ?? 0, { status: `${n.status}${n.agent ? ` ${n.agent.slice(0, 10)}` : ""}${n.failureReason ? ` ${n.failureReason.slice(0, 40)}` : ""}` });
    },
    stop() {
      multi?.stop();
      multi = undefined;
    },
  };
}

export type CounterProgress = { update(value: bigint, status: string): void; log(s: string): void; stop(): void };

/**
 * A bar from 0 to `total` (bigint-safe: shown in per-mille), or a status line when `total` is
 * undefined — for the voucher signer's spending and a challenge period's countdown.
 */
export function counterProgress(label: string, total: bigint | undefined): CounterProgress {
  let bar: cliProgress.SingleBar | undefined;
  const scale = (v: bigint) => (total && total > 0n ? Number((v * 1000n) / total) : 0);
  return {
    update(value, status) {
      if (!tty()) return;
      if (!bar) {
        bar = new cliProgress.SingleBar(
          { format: total ? `${label} [{bar}] {status}` : `${label} {status}`, hideCursor: true, barsize: 24, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        bar.start(1000, scale(value), { status });
      } else bar.update(Math.min(1000, scale(value)), { status });
    },
    log(s) {
      if (bar) {
        // Print above the bar: clear its line, write, and let the next update redraw it.
        process.stderr.write(`\r\x1b[2K${s}\n`);
        bar.render?.();
      } else line(s);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
