/**
 * The demo's progress display on stderr: cli-progress bars on a terminal (tasks and workflows
 * reaching a final state, with a status line), and timestamped plain lines otherwise (logs, CI,
 * pipes) — a summary line whenever the counts change, at most every few seconds.
 */
import cliProgress from "cli-progress";

/** Counts shown while the demo runs. */
export type DemoCounts = {
  tasksPlanned: number;
  tasksPosted: number;
  /** Demo tasks (workflow nodes included) by status. */
  byStatus: Record<string, number>;
  tasksFinal: number;
  tasksTracked: number;
  workflowsPlanned: number;
  workflowsDone: number;
  vouchers: number;
  breaker: string;
};

export type DemoProgress = {
  /** A step of the demo starts (printed as a line in both modes). */
  phase(title: string): void;
  /** A notable event (printed as a line). */
  note(line: string): void;
  update(c: DemoCounts): void;
  stop(): void;
};

const stamp = () => new Date().toISOString().slice(11, 19);

const summary = (c: DemoCounts) => {
  const states = Object.entries(c.byStatus)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([s, n]) => `${s} ${n}`)
    .join(", ");
  return `posted ${c.tasksPosted}/${c.tasksPlanned} · final ${c.tasksFinal}/${c.tasksTracked} (${states || "none yet"}) · workflows ${c.workflowsDone}/${c.workflowsPlanned} · vouchers ${c.vouchers} · flaky breaker ${c.breaker}`;
};

/**
 * @param mode `auto` (bars on a TTY, lines otherwise), `plain` (lines), `silent` (nothing)
 * @param write where lines go (default stderr)
 */
export function createDemoProgress(mode: "auto" | "plain" | "silent", write: (s: string) => void = (s) => process.stderr.write(s)): DemoProgress {
  if (mode === "silent") return { phase: () => undefined, note: () => undefined, update: () => undefined, stop: () => undefined };
  const tty = mode === "auto" && process.stderr.isTTY === true;
  const line = (s: string) => write(`[${stamp()}] ${s}\n`);
  if (!tty) {
    let last = "";
    let lastAt = 0;
    return {
      phase: (t) => line(`== ${t}`),
      note: line,
      update(c) {
        const s = summary(c);
        // A line when the counts change (at most every 3 s), and every 30 s while they do not.
        if (Date.now() - lastAt < (s === last ? 30_000 : 3_000)) return;
        last = s;
        lastAt = Date.now();
        line(s);
      },
      stop: () => undefined,
    };
  }
  const multi = new cliProgress.MultiBar(
    { format: "{name} [{bar}] {value}/{total} {status}", hideCursor: true, barsize: 28, stream: process.stderr, clearOnComplete: false, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const posted = multi.create(1, 0, { name: "posted   ", status: "" });
  const final = multi.create(1, 0, { name: "final    ", status: "" });
  const flows = multi.create(1, 0, { name: "workflows", status: "" });
  let phaseTitle = "";
  return {
    phase(t) {
      phaseTitle = t;
      multi.log(`[${stamp()}] == ${t}\n`);
    },
    note: (s) => multi.log(`[${stamp()}] ${s}\n`),
    update(c) {
      posted.setTotal(Math.max(1, c.tasksPlanned));
      posted.update(c.tasksPosted, { status: phaseTitle });
      final.setTotal(Math.max(1, c.tasksTracked));
      const states = Object.entries(c.byStatus).map(([s, n]) => `${s} ${n}`).join(" · ");
      final.update(c.tasksFinal, { status: states });
      flows.setTotal(Math.max(1, c.workflowsPlanned));
      flows.update(c.workflowsDone, { status: `vouchers ${c.vouchers} · flaky breaker ${c.breaker}` });
    },
    stop: () => multi.stop(),
  };
}
