/**
 * Statistics shared by the benchmarks: quantiles and their formatting, the coordinator's
 * Prometheus text (`/metrics`), and the machine's CPU time and load.
 */
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";

export const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
export const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : "–");
export const dist = (xs: number[]) => `p50 ${f(quantile(xs, 0.5))}  p95 ${f(quantile(xs, 0.95))}  p99 ${f(quantile(xs, 0.99))}  max ${f(Math.max(...xs))} ms  (n=${xs.length})`;

/** Prometheus text: the value of one sample (first match), or NaN. */
export function sample(text: string, name: string): number {
  for (const line of text.split("\n")) if (line.startsWith(`${name} `)) return Number(line.split(" ").pop());
  return NaN;
}

export type Buckets = { le: number; n: number }[];

/** A histogram's buckets, summed over every label set whose labels contain `match`. */
export function histogram(text: string, name: string, match = ""): Buckets {
  const by = new Map<number, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}_bucket{`) || !line.includes(match)) continue;
    const le = /le="([^"]+)"/.exec(line)![1]!;
    const key = le === "+Inf" ? Infinity : Number(le);
    by.set(key, (by.get(key) ?? 0) + Number(line.split(" ").pop()));
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([le, n]) => ({ le, n }));
}

/** The upper bound of the bucket holding the q-quantile, in ms ("≤ x"). */
export function bucketQuantile(b: Buckets, q: number): string {
  const total = b.at(-1)?.n ?? 0;
  if (total === 0) return "–";
  const hit = b.find((x) => x.n >= q * total)!;
  return hit.le === Infinity ? `> ${b.at(-2)!.le * 1000}` : `≤ ${hit.le * 1000}`;
}

/** Bucket counts of `after` minus those of `before` (a histogram over an interval). */
export const diff = (after: Buckets, before: Buckets) => after.map((x) => ({ le: x.le, n: x.n - (before.find((y) => y.le === x.le)?.n ?? 0) }));

/** Per `method route` of `aicp_http_request_duration_seconds`: request count and latency sum (s). */
export function routeTotals(text: string): Map<string, { count: number; sum: number }> {
  const out = new Map<string, { count: number; sum: number }>();
  for (const m of text.matchAll(/^aicp_http_request_duration_seconds_(sum|count)\{method="([^"]+)",route="([^"]+)"\}\s+([0-9.eE+-]+)/gm)) {
    const key = `${m[2]} ${m[3]}`;
    const e = out.get(key) ?? { count: 0, sum: 0 };
    e[m[1] as "sum" | "count"] = Number(m[4]);
    out.set(key, e);
  }
  return out;
}

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat), or NaN elsewhere. */
export function machineCpu(): number {
  try {
    const [, ...x] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/);
    const [user, nice, system, , , irq, softirq, steal] = x.map(Number);
    return (user! + nice! + system! + irq! + softirq! + (steal ?? 0)) / 100; // USER_HZ
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds used so far by every process whose command name starts with one of `names`, or
 * (`cmdline`) whose command line matches (Linux /proc; NaN elsewhere). Processes that exited
 * are not counted.
 */
export function processCpu(names: string[], cmdline?: RegExp): number {
  let total = 0;
  try {
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        if (!names.some((n) => comm.startsWith(n)) && !(cmdline && cmdline.test(readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ")))) continue;
        const x = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        total += (Number(x[11]) + Number(x[12])) / 100; // utime + stime, USER_HZ
      } catch {
        /* exited meanwhile */
      }
    }
    return total;
  } catch {
    return NaN;
  }
}

/** "2 CPUs, load average 1.2 1.5 1.9 (1/5/15 min)". */
export const machineLine = () => `${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} (1/5/15 min)`;

/**
 * A whole-number command-line flag of a benchmark (`parseArgs` gives strings).
 * @throws Error naming the flag when it is not an integer ≥ `min`
 */
export function intFlag<K extends string>(flags: Partial<Record<K, string | boolean | undefined>>, name: K, min: number): number {
  const v = Number(flags[name]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return v;
}
