/**
 * Fuzzing the API with malformed input (fast-check): thousands of wrong types, missing and extra
 * fields, oversized strings, invalid JSON, bad amounts, addresses, dates and enums, and
 * prototype-pollution keys. Every answer must be a 4xx with `{ error: { code, message } }` —
 * never a 5xx — and nothing may be written: the tables are digested before and after.
 *
 * Each body starts valid and gets up to three mutations (a field set to an invalid value or to
 * another valid one, a field dropped, an extra key added), so the test knows whether the result
 * is valid and a single gap in validation is not masked by other errors. The few valid bodies
 * are filtered out and counted, since sending them would rightly write rows. Queries of
 * read-only routes are sent either way: valid ones must answer 200, invalid ones 400.
 */
import { expect } from "chai";
import fc from "fast-check";
import { Wallet, getAddress } from "ethers";
import { Client, ZERO, newAgent, newUser, siweMessage, startHarness, taskBody, type Harness } from "./harness.js";

type Case = { body: Record<string, unknown>; valid: boolean };
/** One field: generators of valid and of invalid values, and whether it may be left out. */
type Field = { valid: fc.Arbitrary<unknown>; invalid: fc.Arbitrary<unknown>; optional: boolean };

const BUDGET = 1_000_000n;
/** The fuzzed agent's own minimum price for the capability. */
const MIN_PRICE = 10n;
const TWO_256 = 2n ** 256n;
const DAY = 24 * 3600 * 1000;

const field = (valid: fc.Arbitrary<unknown>, invalid: fc.Arbitrary<unknown>, optional = false): Field => ({ valid, invalid, optional });

const ascii = (minLength: number, maxLength: number) => fc.string({ unit: "grapheme-ascii", minLength, maxLength });
/** Anything but a string. */
const notString = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.nat(), { maxLength: 3 }),
  fc.dictionary(ascii(1, 5), fc.nat(), { maxKeys: 3 }),
);
/** Anything but an integer in [min, max] (as it will arrive after JSON encoding). */
const notIntIn = (min: number, max: number) =>
  fc
    .oneof(
      fc.integer({ min: -1_000_000, max: 1_000_000 }),
      fc.double(),
      fc.constantFrom(min - 1, max + 1, 1.5, -0.5, 1e308, -1e308, 2 ** 53, 2 ** 64),
      fc.constantFrom("1", "5", "1e2", "", "NaN", "0x10"),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.nat(), { maxLength: 2 }),
      fc.dictionary(ascii(1, 5), fc.nat(), { maxKeys: 2 }),
    )
    .filter((v) => !(typeof v === "number" && Number.isInteger(v) && v >= min && v <= max));

const CAPABILITY = /^[a-z0-9][a-z0-9._-]*$/;
const validCapability = fc.oneof(fc.constantFrom("fuzz.cap", "a", "x-y_z.9"), fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/));
const invalidCapability = fc.oneof(
  fc.constantFrom("", "UPPER", "-lead", ".lead", "a b", "é", "x".repeat(65), "a/b", "a\u0000", "cap\n"),
  fc.stringMatching(/^[a-z0-9][a-z0-9._-]{64,80}$/), // the right letters, too long
  ascii(0, 70).filter((s) => !(s.length >= 1 && s.length <= 64 && CAPABILITY.test(s))),
  fc.string({ unit: "binary", maxLength: 10 }).filter((s) => !(s.length >= 1 && s.length <= 64 && CAPABILITY.test(s))),
  notString,
);

const validAmount = (min: bigint) =>
  fc.oneof(fc.bigInt({ min, max: min + 2_000_000n }), fc.bigInt({ min, max: TWO_256 - 1n }), fc.constant(TWO_256 - 1n)).map((v) => v.toString());
const invalidAmount = (min: bigint) =>
  fc.oneof(
    fc.constantFrom(
      "-1", "1.5", "1.0", "1e6", "1E6", "0x10", " 1", "1 ", "01", "00", "", "+1", "١٢", "1_000", "Infinity", "NaN",
      TWO_256.toString(), (TWO_256 * 10n).toString(), "9".repeat(79), "1".repeat(100_000),
    ),
    fc.bigInt({ min: TWO_256, max: TWO_256 ** 2n }).map(String),
    fc.bigInt({ min: -(10n ** 30n), max: -1n }).map(String),
    fc.integer({ min: 0, max: 1_000_000 }), // a JSON number, not a decimal string
    fc.double(),
    notString,
    ...(min > 0n ? [fc.bigInt({ min: 0n, max: min - 1n }).map(String)] : []),
  );

const hex = (n: number) => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: n, maxLength: n });
const validAddress = fc.oneof(fc.constant(ZERO), hex(40).map((h) => `0x${h}`), hex(40).map((h) => getAddress(`0x${h}`)));
const invalidAddress = fc.oneof(
  fc.constantFrom("0x", "0x123", `0x${"g".repeat(40)}`, "1".repeat(42), `0X${"1".repeat(40)}`, `0x${"1".repeat(41)}`, `0x${"1".repeat(39)}`, "vitalik.eth", ""),
  hex(40).map((h) => h), // no 0x
  // A checksummed address with one letter's case flipped: a bad EIP-55 checksum.
  hex(40)
    .map((h) => getAddress(`0x${h}`))
    .filter((a) => (a.slice(2).match(/[a-fA-F]/g) ?? []).length >= 2)
    .chain((a) => {
      const letters = [...a].flatMap((ch, i) => (i >= 2 && /[a-fA-F]/.test(ch) ? [i] : []));
      return fc.constantFrom(...letters).map((i) => a.slice(0, i) + (a[i] === a[i]!.toLowerCase() ? a[i]!.toUpperCase() : a[i]!.toLowerCase()) + a.slice(i + 1));
    })
    .filter((a) => /[a-f]/.test(a.slice(2)) && /[A-F]/.test(a.slice(2))),
  ascii(0, 50).filter((s) => !/^0x[0-9a-fA-F]{40}$/.test(s)),
  notString,
);

const validDeadline = fc.oneof(
  fc.integer({ min: 2 * DAY, max: 50 * 365 * DAY }).map((ms) => new Date(Date.now() + ms).toISOString()),
  fc.constantFrom("2099-12-31T23:59:59+05:30", "2099-01-01T00:00:00.123456789Z", "9999-12-31T23:59:59Z"),
);
const invalidDeadline = fc.oneof(
  fc.constantFrom(
    "tomorrow", "", "2030-01-01", "2030-01-01T00:00:00", "2030-13-01T00:00:00Z", "2030-02-30T00:00:00Z", "2030-01-01T24:00:00Z",
    "2030-01-01T00:00Z", "2030-01-01 00:00:00Z", "2030-01-01T00:00:00+0100", "+012030-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
    "2000-01-01T00:00:00Z", // in the past
  ),
  fc.integer({ min: 1, max: 10 * DAY }).map((ms) => new Date(Date.now() - ms).toISOString()), // past
  fc.integer({ min: 0, max: 4_000_000_000_000 }), // epoch ms as a number
  notString,
);

const validInput = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(null), fc.constant({ text: "hello" }));
const invalidInput = fc.oneof(
  fc.constant("x".repeat(64 * 1024 + 1)), // over 64 KiB serialised, under the body limit
  fc.constantFrom("a\u0000b", { k: "\u0000" }, { "\u0000": 1 }, "\ud800", ["\udfff"]),
  fc.integer({ min: 64, max: 300 }).map((d) => JSON.parse("[".repeat(d) + "]".repeat(d)) as unknown), // too deep
);

const RULES = ["first-price", "second-price", "reputation-weighted", "uniform-price"];
const invalidEnum = (values: string[]) =>
  fc.oneof(fc.constantFrom("", "NORMAL", "urgent", "dutch", "english", "ship", "auto ", " "), ascii(0, 12), notString).filter((v) => !values.includes(v as string));

/** Keys no body accepts; some try mass assignment or prototype pollution. */
const extraKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("__proto__", "constructor", "prototype", "isAdmin", "role", "buyer", "agent", "status", "id", "price", "operator") },
  { weight: 1, arbitrary: ascii(1, 12) },
);
const pollution = fc.oneof(
  fc.constant({ polluted: "yes" }),
  fc.constant({ prototype: { polluted: "yes" } }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Sets `key` as an own property even when it is `__proto__`, as JSON.parse would. */
function setOwn(o: Record<string, unknown>, key: string, value: unknown) {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A valid object: every required field, and each optional one or not. */
function validObject(fields: Record<string, Field>): fc.Arbitrary<Record<string, unknown>> {
  const names = Object.keys(fields);
  return fc.record(Object.fromEntries(names.map((n) => [n, fields[n]!.valid])), {
    requiredKeys: names.filter((n) => !fields[n]!.optional),
  }) as fc.Arbitrary<Record<string, unknown>>;
}

type Mutation = { kind: "set" | "drop" | "extra"; key: string; value?: unknown; ok: boolean };

function mutation(fields: Record<string, Field>, strict: boolean): fc.Arbitrary<Mutation> {
  const names = Object.keys(fields);
  const name = fc.constantFrom(...names);
  return fc.oneof(
    { weight: 6, arbitrary: name.chain((key) => fields[key]!.invalid.map((value): Mutation => ({ kind: "set", key, value, ok: false }))) },
    { weight: 1, arbitrary: name.chain((key) => fields[key]!.valid.map((value): Mutation => ({ kind: "set", key, value, ok: true }))) },
    { weight: 1, arbitrary: name.map((key): Mutation => ({ kind: "drop", key, ok: fields[key]!.optional })) },
    { weight: 2, arbitrary: fc.tuple(extraKey.filter((k) => !names.includes(k)), pollution).map(([key, value]): Mutation => ({ kind: "extra", key, value, ok: !strict })) },
  );
}

/**
 * A valid body (from `base`, or built from the fields) with up to three mutations. Extra keys
 * are invalid when `strict`; `cross` checks rules between fields once every field is valid.
 */
function objectCase(
  fields: Record<string, Field>,
  opts: { strict: boolean; base?: fc.Arbitrary<Record<string, unknown>>; cross?: (b: Record<string, unknown>) => boolean },
): fc.Arbitrary<Case> {
  const m = mutation(fields, opts.strict);
  // Mostly one mutation, so that a single gap in validation is not hidden behind another error;
  // sometimes none, which leaves only the rules between fields (`cross`) to break.
  const muts = fc.oneof(
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 6, arbitrary: fc.tuple(m) },
    { weight: 1, arbitrary: fc.tuple(m, m) },
    { weight: 1, arbitrary: fc.tuple(m, m, m) },
  );
  return fc.tuple(opts.base ?? validObject(fields), muts).map(([base, muts]: [Record<string, unknown>, readonly Mutation[]]) => {
    const body: Record<string, unknown> = { ...base };
    const fieldOk = new Map<string, boolean>(); // the last mutation of a field decides
    let valid = true;
    for (const m of muts) {
      if (m.kind === "drop") delete body[m.key];
      else setOwn(body, m.key, m.value);
      if (m.kind === "extra") valid &&= m.ok;
      else fieldOk.set(m.key, m.ok);
    }
    for (const ok of fieldOk.values()) valid &&= ok;
    if (valid && opts.cross && !opts.cross(body)) valid = false;
    return { body, valid };
  });
}

/** A nested object field: valid objects, mutated ones, or something that is not an object. */
const nested = (fields: Record<string, Field>, strict: boolean, notObject: fc.Arbitrary<unknown>): Field => ({
  valid: validObject(fields),
  invalid: fc.oneof(
    { weight: 4, arbitrary: objectCase(fields, { strict }).filter((c) => !c.valid).map((c) => c.body) },
    { weight: 1, arbitrary: notObject },
  ),
  optional: false,
});

const notObject = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.nat(), { maxLength: 2 }), ascii(0, 10));

const taskFields: Record<string, Field> = {
  capability: field(validCapability, invalidCapability),
  input: field(validInput, invalidInput),
  complexity: field(fc.integer({ min: 1, max: 10 }), notIntIn(1, 10)),
  urgency: field(fc.constantFrom("low", "normal", "high", "critical"), invalidEnum(["low", "normal", "high", "critical"]), true),
  budget: field(validAmount(1n), invalidAmount(1n)),
  token: field(validAddress, invalidAddress),
  deadline: field(validDeadline, invalidDeadline),
  auction: nested(
    {
      rule: field(fc.constantFrom(...RULES), invalidEnum(RULES)),
      windowMs: field(fc.integer({ min: 0, max: DAY }), fc.oneof(notIntIn(0, DAY), fc.integer({ min: DAY + 1, max: 2 ** 31 }))),
    },
    true,
    notObject,
  ),
  route: field(fc.constantFrom("auto", "channel", "escrow"), invalidEnum(["auto", "channel", "escrow"]), true),
  quantity: field(fc.integer({ min: 1, max: 100 }), fc.oneof(notIntIn(1, 100), fc.integer({ min: 101, max: 10_000 })), true),
};
/** Lots of more than one task are uniform-price, and only they are. */
const lotRule = (b: Record<string, unknown>) => ((b["quantity"] as number | undefined) ?? 1) > 1 === ((b["auction"] as { rule: string }).rule === "uniform-price");
const taskCase = objectCase(taskFields, {
  strict: true,
  base: validObject(taskFields).map((b) => {
    if ((b["auction"] as { rule: string }).rule === "uniform-price") b["quantity"] = Math.max(2, (b["quantity"] as number | undefined) ?? 2);
    else if (b["quantity"] !== undefined) b["quantity"] = 1;
    return b;
  }),
  cross: lotRule,
});

const offerFields: Record<string, Field> = { capability: field(validCapability, invalidCapability), minPrice: field(validAmount(0n), invalidAmount(0n)) };
const validOffers = fc.uniqueArray(validObject(offerFields), { minLength: 1, maxLength: 8, selector: (o) => o["capability"] });
const offersField: Field = {
  valid: validOffers,
  invalid: fc.oneof(
    fc.constant([]),
    fc.constant(Array.from({ length: 51 }, (_, i) => ({ capability: `c${i}`, minPrice: "1" }))),
    validOffers.map((xs) => [...xs, { ...xs[0]!, minPrice: "7" }]), // a capability twice
    fc
      .tuple(validOffers, objectCase(offerFields, { strict: false }).filter((c) => !c.valid), fc.nat(8))
      .map(([xs, bad, i]) => [...xs.slice(0, i), bad.body, ...xs.slice(i)]),
    notObject,
  ),
  optional: false,
};
const registrationFields = (optional: boolean): Record<string, Field> => ({
  name: field(ascii(1, 100), fc.oneof(fc.constantFrom("", "x".repeat(101), "a\u0000", "\udc00"), notString), optional),
  capabilities: { ...offersField, optional },
  endpointUrl: field(
    fc.constantFrom(null, "http://127.0.0.1:9/hook", "https://agent.example/cfp?x=1"),
    fc.oneof(fc.constantFrom("ftp://agent.example/x", "not a url", "javascript:alert(1)", "//agent.example", `https://a.example/${"x".repeat(2049)}`, ""), fc.integer(), fc.boolean()),
    true,
  ),
  maxConcurrency: field(fc.integer({ min: 1, max: 1000 }), notIntIn(1, 1000), true),
});

const proposalCase = objectCase(
  {
    // Mostly between the agent's minimum and the budget (valid); sometimes below the minimum or at
    // or above the budget: valid for the schema, refused by the auction.
    price: field(
      fc
        .oneof(
          { weight: 6, arbitrary: fc.bigInt({ min: MIN_PRICE, max: BUDGET - 1n }) },
          { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: MIN_PRICE - 1n }) },
          { weight: 1, arbitrary: fc.oneof(fc.constant(BUDGET), fc.bigInt({ min: BUDGET, max: TWO_256 - 1n })) },
        )
        .map(String),
      invalidAmount(0n),
    ),
    etaMs: field(fc.integer({ min: 1, max: 30 * DAY }), fc.oneof(notIntIn(1, 30 * DAY), fc.integer({ min: 30 * DAY + 1, max: 2 ** 40 }))),
  },
  { strict: true, cross: (b) => BigInt(b["price"] as string) < BUDGET && BigInt(b["price"] as string) >= MIN_PRICE },
);

/** Bodies that are not a JSON object at all, sent as raw text. */
const rawBodies = fc.oneof(
  fc.constantFrom("{", "}", "{'a':1}", '{"a":1,}', "[1,2", "NaN", "undefined", "{a:1}", '{"a":01}', "\u0000", '{"a":"\\x41"}', "nul", "tru", '"unterminated'),
  fc.constantFrom("null", "42", '"a string"', "[]", "true", "[{}]", "1e400", "-0"),
  fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).filter((t) => t.trim() !== ""), // "" reads as {}
);

describe("malformed input is refused with a 4xx and writes nothing", function () {
  this.timeout(180_000);
  let h: Harness;
  let buyer: Client;
  let wallet: Client;
  let agent: Client;
  let openTask: string;
  let closedTask: string;
  let baseline: string;
  const tally = { sent: 0, validSkipped: 0, validQueries: 0 };
  const failures: string[] = [];

  /** `{ n, md5 }` of every row of the tables a request could write. */
  const digest = async () => {
    const out: Record<string, unknown> = {};
    for (const t of ["tasks", "auctions", "proposals", "agents", "agent_capabilities", "cfps"]) {
      const r = await h.c.ctx.db.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`);
      out[t] = r.rows[0];
    }
    return JSON.stringify(out);
  };

  async function send(method: string, path: string, opts: { body?: string; contentType?: string; as?: Client } = {}) {
    const headers: Record<string, string> = {};
    if (opts.body !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
    if (opts.as?.token) headers["authorization"] = `Bearer ${opts.as.token}`;
    const res = await fetch(h.url + path, { method, headers, body: opts.body });
    const text = await res.text();
    tally.sent++;
    let json: { error?: { code?: unknown; message?: unknown } } | undefined;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  }

  /** Records (and throws, so fast-check shrinks) anything but a 4xx with an error code and message. */
  function refused(r: Awaited<ReturnType<typeof send>>, what: string) {
    const ok = r.status >= 400 && r.status < 500 && typeof r.json?.error?.code === "string" && typeof r.json.error.message === "string";
    if (!ok) {
      const msg = `${what} → ${r.status} ${r.text.slice(0, 300)}`;
      failures.push(msg);
      throw new Error(msg);
    }
  }
  const show = (v: unknown) => {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s;
  };

  before(async () => {
    h = await startHarness();
    buyer = await newUser(h.url);
    wallet = await newUser(h.url);
    agent = await newAgent(h.url, { "fuzz.cap": MIN_PRICE });
    await newAgent(h.url, { "fuzz.cap": 0 }); // a second bidder: one proposal never closes the auction
    const t = await buyer.post("/v1/tasks", taskBody({ capability: "fuzz.cap", budget: BUDGET.toString(), auction: { rule: "second-price", windowMs: 1_800_000 } }));
    expect(t.status, JSON.stringify(t.body)).to.equal(201);
    openTask = t.body.tasks[0].id;
    const c = await buyer.post("/v1/tasks", taskBody({ capability: "nobody.offers.this" })); // expires at once
    closedTask = c.body.tasks[0].id;
    baseline = await digest();
  });

  after(async () => {
    await h?.stop();
  });

  const RUNS = { tasks: 900, agents: 450, patch: 450, proposals: 600, login: 300, list: 300, quote: 300 };

  it("POST /v1/tasks", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 12, arbitrary: taskCase.filter((c) => !c.valid || (tally.validSkipped++, false)).map((c) => JSON.stringify(c.body)) },
          { weight: 1, arbitrary: rawBodies },
        ),
        async (body) => refused(await send("POST", "/v1/tasks", { body, as: buyer }), `POST /v1/tasks ${show(body)}`),
      ),
      { numRuns: RUNS.tasks },
    );
  });

  it("POST /v1/agents", async () => {
    const reg = objectCase(registrationFields(false), { strict: true });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 12, arbitrary: reg.filter((c) => !c.valid || (tally.validSkipped++, false)).map((c) => JSON.stringify(c.body)) },
          { weight: 1, arbitrary: rawBodies },
        ),
        async (body) => refused(await send("POST", "/v1/agents", { body, as: wallet }), `POST /v1/agents ${show(body)}`),
      ),
      { numRuns: RUNS.agents },
    );
  });

  it("PATCH /v1/agents/:address", async () => {
    const patch = objectCase(registrationFields(true), { strict: true });
    // Whose profile: the agent's own (any case), someone else's (403 whatever the body), or not an address (400).
    const target = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom("self", "self-checksummed").map((k) => ({ path: k === "self" ? agent.address : getAddress(agent.address), self: true })) },
      { weight: 1, arbitrary: validAddress.map((a) => ({ path: String(a), self: String(a).toLowerCase() === agent.address })) },
      { weight: 1, arbitrary: fc.constantFrom("0x123", "me", "%00", "..%2f..%2fagents", `0x${"G".repeat(40)}`, "%F0%9F%98%80").map((p) => ({ path: p, self: false })) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 12, arbitrary: fc.tuple(target, patch.map((c) => ({ text: JSON.stringify(c.body), valid: c.valid }))) },
          { weight: 1, arbitrary: fc.tuple(target, rawBodies.map((text) => ({ text, valid: false }))) },
        ).filter(([t, b]) => !(t.self && b.valid) || (tally.validSkipped++, false)),
        async ([t, b]) => refused(await send("PATCH", `/v1/agents/${t.path}`, { body: b.text, as: agent }), `PATCH /v1/agents/${t.path} ${show(b.text)}`),
      ),
      { numRuns: RUNS.patch },
    );
  });

  it("POST /v1/tasks/:id/proposals", async () => {
    const target = fc.oneof(
      { weight: 8, arbitrary: fc.constant({ path: () => openTask, open: true }) },
      { weight: 1, arbitrary: fc.uuid().map((u) => ({ path: () => u, open: false })) }, // no such task
      { weight: 1, arbitrary: fc.constant({ path: () => closedTask, open: false }) }, // closed
      { weight: 1, arbitrary: fc.constantFrom("1", "not-a-uuid", "%00", `${"f".repeat(8)}-zzzz-0000-0000-000000000000`).map((p) => ({ path: () => p, open: false })) },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 12, arbitrary: fc.tuple(target, proposalCase.map((c) => ({ text: JSON.stringify(c.body), valid: c.valid }))) },
          { weight: 1, arbitrary: fc.tuple(target, rawBodies.map((text) => ({ text, valid: false }))) },
        ).filter(([t, b]) => !(t.open && b.valid) || (tally.validSkipped++, false)),
        async ([t, b]) => refused(await send("POST", `/v1/tasks/${t.path()}/proposals`, { body: b.text, as: agent }), `POST /v1/tasks/${t.path()}/proposals ${show(b.text)}`),
      ),
      { numRuns: RUNS.proposals },
    );
  });

  it("POST /v1/auth/login (a signature it cannot verify, whatever the message)", async () => {
    const host = new URL(h.url).host;
    const stranger = Wallet.createRandom();
    const siweLike = fc
      .tuple(fc.constantFrom(host, "evil.example", ""), fc.constantFrom(1, 31337), ascii(8, 24), fc.nat(5), ascii(0, 8))
      .map(([domain, chain, nonce, cut, junk]) => {
        const m = siweMessage(stranger as unknown as Wallet, nonce.replace(/[^a-zA-Z0-9]/g, "a").padEnd(8, "a"), domain || "x", chain);
        const lines = m.split("\n");
        lines.splice(lines.length - 1 - cut, cut ? 1 : 0, junk); // drop or replace a line
        return lines.join("\n");
      });
    const signature = fc.oneof(
      hex(130).map((x) => `0x${x}`),
      fc.nat(140).chain((n) => hex(n)).map((x) => `0x${x}`),
      fc.constantFrom("", "0x", "x".repeat(201)),
      notString,
    );
    const message = fc.oneof(siweLike, ascii(0, 300), fc.constant("m".repeat(4097)), notString);
    const login = objectCase({ message: field(message, message), signature: field(signature, signature) }, { strict: false });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 8, arbitrary: login.map((c) => JSON.stringify(c.body)) }, { weight: 1, arbitrary: rawBodies }),
        fc.boolean(),
        async (body, withToken) => refused(await send("POST", "/v1/auth/login", { body, as: withToken ? buyer : undefined }), `POST /v1/auth/login ${show(body)}`),
      ),
      { numRuns: RUNS.login },
    );
  });

  /**
   * Query parameters arrive as strings and numbers are coerced with `Number()` (zod's
   * `z.coerce.number()`), so the model below says what is valid the same way; a repeated key
   * arrives as an array and is invalid.
   */
  type Param = { key: string; value: string };
  const numberish = fc.oneof(
    fc.integer({ min: -5, max: 300 }).map(String),
    fc.constantFrom("", " ", "1e2", "0x10", "1.5", "abc", "Infinity", "NaN", "-0", "1e400", " 5 ", "٣", "5abc", "2**3"),
    ascii(0, 6),
  );
  const queryCase = (spec: Record<string, { value: fc.Arbitrary<string>; ok: (v: string) => boolean; required?: boolean }>) =>
    fc
      .array(
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...Object.keys(spec)).chain((key) => spec[key]!.value.map((value): Param => ({ key, value }))) },
          { weight: 1, arbitrary: fc.tuple(extraKey, ascii(0, 8)).map(([key, value]): Param => ({ key, value })) },
        ),
        { maxLength: 6 },
      )
      .map((params) => {
        let valid = true;
        for (const [key, s] of Object.entries(spec)) {
          const got = params.filter((p) => p.key === key);
          if (got.length > 1 || (got.length === 1 && !s.ok(got[0]!.value)) || (got.length === 0 && s.required)) valid = false;
        }
        const qs = params.map((p) => `${encodeURIComponent(p.key)}=${encodeURIComponent(p.value)}`).join("&");
        return { qs, valid };
      });
  const intIn = (min: number, max: number) => (v: string) => Number.isInteger(Number(v)) && Number(v) >= min && Number(v) <= max;
  const isAddress = (v: string) => {
    try {
      return /^0x[0-9a-fA-F]{40}$/.test(v) && getAddress(v) !== "";
    } catch {
      return false;
    }
  };
  const capabilityParam = { value: fc.oneof(validCapability, invalidCapability.filter((v): v is string => typeof v === "string")), ok: (v: string) => v.length >= 1 && v.length <= 64 && CAPABILITY.test(v) };
  const addressParam = { value: fc.oneof(validAddress, invalidAddress.filter((v): v is string => typeof v === "string")), ok: isAddress };

  async function fuzzQuery(path: string, cases: fc.Arbitrary<{ qs: string; valid: boolean }>, runs: number, as?: Client) {
    await fc.assert(
      fc.asyncProperty(cases, async ({ qs, valid }) => {
        const r = await send("GET", `${path}?${qs}`, { as });
        if (valid) {
          tally.validQueries++;
          if (r.status !== 200) {
            failures.push(`GET ${path}?${qs} (valid) → ${r.status} ${r.text.slice(0, 300)}`);
            throw new Error(`valid query refused: GET ${path}?${qs} → ${r.status} ${r.text.slice(0, 300)}`);
          }
        } else refused(r, `GET ${path}?${qs}`);
      }),
      { numRuns: runs },
    );
  }

  it("GET /v1/tasks (query)", async () => {
    const cases = queryCase({
      limit: { value: numberish, ok: intIn(1, 200) },
      offset: { value: fc.oneof(numberish, fc.constant("1000001")), ok: intIn(0, 1_000_000) },
      status: { value: fc.oneof(fc.constantFrom("open", "awarded", "x".repeat(33), "a\u0000"), ascii(0, 40)), ok: (v) => v.length <= 32 && !v.includes("\u0000") },
      buyer: addressParam,
      agent: addressParam,
      capability: capabilityParam,
    });
    await fuzzQuery("/v1/tasks", cases, RUNS.list, buyer);
  });

  it("GET /v1/pricing/quote (query)", async () => {
    const cases = queryCase({
      capability: { ...capabilityParam, required: true },
      complexity: { value: numberish, ok: intIn(1, 10), required: true },
      urgency: { value: fc.oneof(fc.constantFrom("low", "normal", "high", "critical"), invalidEnum(["low", "normal", "high", "critical"]).filter((v): v is string => typeof v === "string")), ok: (v) => ["low", "normal", "high", "critical"].includes(v) },
      agent: addressParam,
    });
    await fuzzQuery("/v1/pricing/quote", cases, RUNS.quote);
  });

  it("a body over BODY_LIMIT is 413 on every route that takes one; odd content types are 4xx", async () => {
    const big = JSON.stringify({ ...taskBody(), input: "x".repeat(300 * 1024) });
    const routes: [string, string, Client | undefined][] = [
      ["POST", "/v1/tasks", buyer],
      ["POST", "/v1/agents", wallet],
      ["PATCH", `/v1/agents/${agent.address}`, agent],
      ["POST", `/v1/tasks/${openTask}/proposals`, agent],
      ["POST", "/v1/auth/login", undefined],
    ];
    for (const [m, p, as] of routes) {
      const r = await send(m, p, { body: big, as });
      refused(r, `${m} ${p} with a ${big.length}-byte body`);
      expect(r.status, `${m} ${p}`).to.equal(413);
      expect(r.json?.error?.code).to.equal("BODY_TOO_LARGE");
      for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", "multipart/form-data; boundary=x"]) {
        refused(await send(m, p, { body: JSON.stringify(taskBody()), contentType, as }), `${m} ${p} as ${contentType}`);
      }
      // An empty JSON body reads as `{}`: a valid (no-op) PATCH, missing fields elsewhere.
      if (m !== "PATCH") refused(await send(m, p, { body: "", as }), `${m} ${p} with an empty body`);
    }
  });

  it("wrote nothing, never answered 5xx, and left Object.prototype alone", async () => {
    expect(failures, failures.join("\n")).to.deep.equal([]);
    expect(await digest()).to.equal(baseline);
    expect(({} as Record<string, unknown>)["polluted"]).to.equal(undefined);
    expect(Object.keys(Object.prototype)).to.deep.equal([]);
    const total = Object.values(RUNS).reduce((a, b) => a + b, 0);
    expect(tally.sent).to.be.at.least(total);
    expect(tally.sent - tally.validQueries).to.be.at.least(2_000);
    console.log(`      ${tally.sent} requests: ${tally.sent - tally.validQueries} malformed (all refused), ${tally.validQueries} valid queries answered 200; ${tally.validSkipped} valid bodies generated and not sent`);
  });
});
