/**
 * DAG checks and analysis for workflows (finish-to-start edges). Pure functions.
 */
export type DagNode = { key: string; dependsOn: string[] };

export type DagProblem =
  | { code: "DUPLICATE_KEY"; key: string }
  | { code: "UNKNOWN_DEPENDENCY"; key: string; dependsOn: string }
  | { code: "CYCLE"; cycle: string[] };

/** Finds the first problem: a duplicate key, a reference to an unknown key, or a cycle (named). */
export function checkDag(nodes: DagNode[]): DagProblem | undefined {
  const keys = new Set<string>();
  for (const n of nodes) {
    if (keys.has(n.key)) return { code: "DUPLICATE_KEY", key: n.key };
    keys.add(n.key);
  }
  for (const n of nodes) for (const d of n.dependsOn) if (!keys.has(d)) return { code: "UNKNOWN_DEPENDENCY", key: n.key, dependsOn: d };
  // Iterative DFS with colours; on a back edge, the stack from the target to here is the cycle.
  const deps = new Map(nodes.map((n) => [n.key, n.dependsOn]));
  const colour = new Map<string, 0 | 1 | 2>();
  for (const start of nodes.map((n) => n.key)) {
    if (colour.get(start)) continue;
    const stack: { key: string; i: number }[] = [{ key: start, i: 0 }];
    colour.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const ds = deps.get(top.key)!;
      if (top.i >= ds.length) {
        colour.set(top.key, 2);
        stack.pop();
        continue;
      }
      const next = ds[top.i++]!;
      const c = colour.get(next) ?? 0;
      if (c === 1) {
        const from = stack.findIndex((s) => s.key === next);
        return { code: "CYCLE", cycle: [...stack.slice(from).map((s) => s.key), next] };
      }
      if (c === 0) {
        colour.set(next, 1);
        stack.push({ key: next, i: 0 });
      }
    }
  }
  return undefined;
}

/** Every node reachable from `key` along dependency edges reversed (its descendants). */
export function descendants(nodes: DagNode[], key: string): string[] {
  const children = new Map<string, string[]>();
  for (const n of nodes) for (const d of n.dependsOn) children.set(d, [...(children.get(d) ?? []), n.key]);
  const seen = new Set<string>();
  const todo = [...(children.get(key) ?? [])];
  while (todo.length) {
    const k = todo.pop()!;
    if (seen.has(k)) continue;
    seen.add(k);
    todo.push(...(children.get(k) ?? []));
  }
  return [...seen];
}

/**
 * The critical path: the chain of nodes with the largest total duration (ms), given each
 * node's duration (actual when finished, else an estimate).
 */
export function criticalPath(nodes: DagNode[], duration: (key: string) => number): { path: string[]; ms: number } {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const memo = new Map<string, { ms: number; path: string[] }>();
  const longest = (key: string): { ms: number; path: string[] } => {
    const hit = memo.get(key);
    if (hit) return hit;
    let best: { ms: number; path: string[] } = { ms: 0, path: [] };
    for (const d of byKey.get(key)!.dependsOn) {
      const c = longest(d);
      if (c.ms > best.ms || (c.ms === best.ms && best.path.length === 0)) best = c;
    }
    const r = { ms: best.ms + duration(key), path: [...best.path, key] };
    memo.set(key, r);
    return r;
  };
  let best = { ms: 0, path: [] as string[] };
  for (const n of nodes) {
    const c = longest(n.key);
    if (c.ms > best.ms) best = c;
  }
  return best;
}

/**
 * Replaces `{ "$from": "<parentKey>", "path": "a.b.0" }` objects anywhere in `input` with the
 * value at that path of the parent's output (the whole output without `path`).
 */
export function resolveInputs(input: unknown, outputs: Record<string, unknown>): unknown {
  if (Array.isArray(input)) return input.map((v) => resolveInputs(v, outputs));
  if (input === null || typeof input !== "object") return input;
  const o = input as Record<string, unknown>;
  if (typeof o["$from"] === "string" && Object.keys(o).every((k) => k === "$from" || k === "path")) {
    let v: unknown = outputs[o["$from"]];
    if (typeof o["path"] === "string" && o["path"] !== "")
      for (const part of o["path"].split(".")) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined;
    return v ?? null;
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolveInputs(v, outputs)]));
}

/** The parent keys an input refers to through `$from`. */
export function referencedKeys(input: unknown, acc = new Set<string>()): Set<string> {
  if (Array.isArray(input)) input.forEach((v) => referencedKeys(v, acc));
  else if (input !== null && typeof input === "object") {
    const o = input as Record<string, unknown>;
    if (typeof o["$from"] === "string") acc.add(o["$from"]);
    else Object.values(o).forEach((v) => referencedKeys(v, acc));
  }
  return acc;
}
