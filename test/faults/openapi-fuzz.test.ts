/**
 * Fault injection (issue 11, item 9): ≥ 5,000 requests generated from the coordinator's own
 * OpenAPI document (every operation, with a chain so that the escrow, dispute and channel routes
 * exist), sent by callers of every kind (anonymous, a wallet, a registered agent, the operator).
 * Bodies, queries and path parameters are drawn from the operation's JSON Schemas: values that
 * fit the schema, values that break it (wrong types, out-of-range numbers, oversized strings,
 * missing required fields, extra keys) and real ids of the callers' own resources. No answer
 * may be a 500 (a 503 must carry an error code); each answer is JSON with `{ error: { code } }`
 * when it is a 4xx.
 */
import { expect } from "chai";
import fc from "fast-check";
import { randomUUID } from "node:crypto";
import { Client, newAgent, newUser, startHarness, taskBody, type Harness } from "../service/harness.js";
import { startChain, type TestChain } from "../service/chain-harness.js";
import { figures } from "./lib.js";

const REQUESTS = Number(process.env["FAULT_FUZZ_REQUESTS"] ?? 5_000);

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  $ref?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  nullable?: boolean;
  additionalProperties?: boolean | Schema;
};
type Operation = { method: string; path: string; params: { name: string; in: string; schema?: Schema; required?: boolean }[]; body?: Schema };

/** Strings that look like what the API takes, to get past the first check more often. */
const PLAUSIBLE = [
  "0x0000000000000000000000000000000000000000",
  "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
  "1000000",
  "1",
  "0",
  "-1",
  "115792089237316195423570985008687907853269984665640564039457584007913129639936",
  new Date(Date.now() + 3_600_000).toISOString(),
  "2020-01-01T00:00:00Z",
  "first-price",
  "second-price",
  "uniform-price",
  "auto",
  "channel",
  "escrow",
  "normal",
  "text.summarize",
  `0x${"ab".repeat(32)}`,
  `0x${"cd".repeat(65)}`,
  "ipfs://evidence",
  "",
  " ",
  "ünïcödé",
  "__proto__",
  "x".repeat(5_000),
];

describe("faults: requests generated from the OpenAPI document", function () {
  this.timeout(20 * 60_000);
  let chain: TestChain;
  let h: Harness;

  before(async () => {
    chain = await startChain();
    h = await startHarness({ CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "0", INDEXER_POLL_MS: "200" });
  });
  after(async () => {
    await h?.stop();
    await chain?.stop();
  });

  it(`answers ${REQUESTS} generated requests without a 500`, async () => {
    const doc = (await new Client(h.url).get("/openapi.json")).body as {
      paths: Record<string, Record<string, { parameters?: Operation["params"]; requestBody?: { content?: Record<string, { schema?: Schema }> } }>>;
      components?: { schemas?: Record<string, Schema> };
    };
    const defs = doc.components?.schemas ?? {};
    const resolve = (s: Schema | undefined, depth = 0): Schema => {
      if (!s) return {};
      if (s.$ref && depth < 10) return resolve(defs[s.$ref.split("/").pop()!], depth + 1);
      return s;
    };
    const ops: Operation[] = [];
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(item))
        ops.push({ method: method.toUpperCase(), path, params: op.parameters ?? [], body: op.requestBody?.content?.["application/json"]?.schema });

    // Callers and their own resources (real ids make more requests reach the handlers).
    const wallet = await newUser(h.url);
    const capability = "fuzz.cap";
    const agent = await newAgent(h.url, { [capability]: 0 });
    const operator = Object.assign(new Client(h.url), { adminKey: h.config.ADMIN_API_KEY });
    const tasks: string[] = [];
    for (const c of [wallet, agent]) {
      const r = await c.post("/v1/tasks", taskBody({ capability, route: "escrow", budget: "200000000", auction: { rule: "second-price", windowMs: 600_000 } }));
      if (r.status === 201) tasks.push(r.body.tasks[0].id as string);
    }
    const callers: Client[] = [new Client(h.url), wallet, agent, operator];

    /** A value for `schema`: fitting it (`valid`) or breaking it. */
    const value = (raw: Schema | undefined, valid: boolean, depth = 0): fc.Arbitrary<unknown> => {
      const s = resolve(raw);
      const any = fc.oneof(fc.constantFrom(...PLAUSIBLE), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}));
      if (depth > 4) return any;
      if (!valid) return fc.oneof(any, value(s, true, depth + 1));
      const alts = s.anyOf ?? s.oneOf;
      if (alts?.length) return fc.oneof(...alts.map((x) => value(x, true, depth + 1)));
      if (s.allOf?.length) return value(Object.assign({}, ...s.allOf.map((x) => resolve(x))), true, depth + 1);
      if (s.enum?.length) return fc.constantFrom(...s.enum);
      const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
      switch (type) {
        case "object": {
          const props = Object.entries(s.properties ?? {});
          return fc
            .tuple(...props.map(([k, p]) => fc.option(value(p, true, depth + 1), { nil: undefined, freq: (s.required ?? []).includes(k) ? 20 : 3 }).map((v) => [k, v] as const)), fc.option(fc.tuple(fc.constantFrom("extra", "__proto__", "constructor"), any), { freq: 5 }))
            .map(([...xs]) => {
              const extra = xs.pop() as [string, unknown] | null;
              const o: Record<string, unknown> = {};
              for (const [k, v] of xs as [string, unknown][]) if (v !== undefined) o[k] = v;
              if (extra) o[extra[0]] = extra[1];
              return o;
            });
        }
        case "array":
          return fc.array(value(s.items, true, depth + 1), { maxLength: 4 });
        case "integer":
          return fc.oneof(fc.integer({ min: s.minimum ?? 0, max: Math.min(s.maximum ?? 1_000_000, Number.MAX_SAFE_INTEGER) }), fc.integer());
        case "number":
          return fc.oneof(fc.double({ noNaN: true }), fc.integer({ min: 0, max: 10_000 }));
        case "boolean":
          return fc.boolean();
        case "string":
          return fc.oneof(fc.constantFrom(...PLAUSIBLE), fc.string({ maxLength: s.maxLength ?? 40 }));
        default:
          return any;
      }
    };

    const request = fc.record({
      op: fc.constantFrom(...ops),
      caller: fc.nat(callers.length - 1),
      valid: fc.boolean(),
      seed: fc.nat(),
    });
    const samples = fc.sample(request, REQUESTS);
    const byStatus = new Map<number, number>();
    const fiveHundreds: string[] = [];
    const badShape: string[] = [];
    const perOp = new Map<string, number>();
    const started = Date.now();
    let i = 0;
    const worker = async () => {
      while (i < samples.length) {
        const { op, caller, valid, seed } = samples[i++]!;
        const c = callers[caller]!;
        const [paramVals, queryVals, body] = fc.sample(
          fc.tuple(
            fc.tuple(...op.params.filter((p) => p.in === "path").map((p) => fc.oneof(fc.constantFrom(...tasks, randomUUID(), agent.address, wallet.address), value(p.schema, valid).map(String)))),
            fc.tuple(...op.params.filter((p) => p.in === "query").map((p) => fc.option(value(p.schema, valid), { nil: undefined }))),
            op.body ? value(op.body, valid) : fc.constant(undefined),
          ),
          { numRuns: 1, seed },
        )[0]!;
        const pathParams = op.params.filter((p) => p.in === "path");
        let k = 0;
        const path = op.path.replace(/\{(\w+)\}/g, () => encodeURIComponent(String(paramVals[k++] ?? pathParams[0]?.name)));
        const qs = new URLSearchParams();
        op.params.filter((p) => p.in === "query").forEach((p, j) => {
          const v = queryVals[j];
          if (v !== undefined) qs.set(p.name, typeof v === "string" ? v : JSON.stringify(v));
        });
        const url = `${path}${qs.size ? `?${qs}` : ""}`;
        const ac = new AbortController();
        // A long poll (waitMs) may rightly hold the request that long.
        const wait = Number(qs.get("waitMs"));
        const timer = setTimeout(() => ac.abort(), 20_000 + (Number.isFinite(wait) && wait > 0 ? Math.min(wait, 600_000) : 0));
        let status = 0;
        let text = "";
        try {
          const res = await fetch(h.url + url, {
            method: op.method,
            headers: { ...(c.token ? { authorization: `Bearer ${c.token}` } : {}), ...(c.adminKey ? { "x-admin-key": c.adminKey } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
            body: body !== undefined && !["GET", "HEAD"].includes(op.method) ? JSON.stringify(body) : undefined,
            signal: ac.signal,
          });
          status = res.status;
          if (res.headers.get("content-type")?.includes("text/event-stream")) ac.abort();
          else text = await res.text();
        } catch (err) {
          if ((err as Error).name !== "AbortError" || status === 0) {
            status = 0;
            text = (err as Error).message;
          }
        } finally {
          clearTimeout(timer);
        }
        byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
        perOp.set(`${op.method} ${op.path}`, (perOp.get(`${op.method} ${op.path}`) ?? 0) + 1);
        if (status === 0 || status === 500 || (status >= 500 && !/"code"/.test(text))) fiveHundreds.push(`${op.method} ${url} → ${status} ${text.slice(0, 200)} body=${JSON.stringify(body)?.slice(0, 200)}`);
        else if (status >= 400 && status < 500 && !/"error"\s*:\s*\{[^}]*"code"/.test(text)) badShape.push(`${op.method} ${url} → ${status} ${text.slice(0, 120)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    figures(`${REQUESTS} requests generated from /openapi.json (${ops.length} operations, 4 kinds of caller)`, [
      ...[...byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]): [string, number] => [`HTTP ${s === 0 ? "no answer" : s}`, n]),
      ["operations exercised", `${perOp.size} of ${ops.length}`],
      ["500s (or 5xx without a code, or no answer)", fiveHundreds.length],
      ["4xx without { error: { code } }", badShape.length],
      ["requests/s", ((REQUESTS * 1000) / (Date.now() - started)).toFixed(0)],
    ]);
    expect(fiveHundreds.slice(0, 10), fiveHundreds.slice(0, 10).join("\n")).to.deep.equal([]);
    expect(badShape.slice(0, 10), badShape.slice(0, 10).join("\n")).to.deep.equal([]);
    expect(perOp.size).to.equal(ops.length);
  });
});
