/**
 * The reference agents' work, as pure functions of a task's input (no network, no clock), so
 * they can be tested alone. Each validates its input with zod and throws an {@link InputError}
 * naming the capability and the offending field; an agent reports that as the task's failure.
 *
 * Capabilities:
 * - `math.evaluate`, `math.simplify`, `math.derivative` — mathjs, in an instance where
 *   expressions cannot reach `import`, `createUnit`, `evaluate`, `parse`, `simplify` or
 *   `derivative` (the hardening mathjs documents for untrusted expressions);
 * - `text.stats`, `text.keywords` — counts and Flesch readability; keywords by keyword-extractor;
 * - `csv.stats` — csv-parse, then per-column statistics with simple-statistics;
 * - `image.colors`, `image.resize` — jimp, on a base64 PNG or a generated-image spec;
 * - `hash.digest`, `hash.compress` — node:crypto (and ethers' keccak256), node:zlib.
 */
import { createHash } from "node:crypto";
import { brotliCompressSync, brotliDecompressSync, constants as zc, deflateSync, gzipSync, gunzipSync, inflateSync } from "node:zlib";
import { keccak256 } from "ethers";
import { all, create } from "mathjs";
import { extract as extractKeywords } from "keyword-extractor";
import { parse as parseCsv } from "csv-parse/sync";
import * as ss from "simple-statistics";
import { Jimp } from "jimp";
import { z, type ZodType } from "zod";
import { generateImage, ImageSpec, pngSize, toHex, type Image } from "./images.js";

/** A task input that does not fit the capability's schema; the message names the field. */
export class InputError extends Error {
  override readonly name = "InputError";
}

/** A handler: the input of a task → its output (JSON-serialisable). */
export type Handler = (input: unknown) => Promise<unknown>;

/** Parses `input` with `schema`, or throws an {@link InputError} listing every problem. */
function parseInput<T extends ZodType>(capability: string, schema: T, input: unknown): z.output<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? `input.${i.path.join(".")}` : "input"}: ${i.message}`);
  throw new InputError(`${capability}: ${issues.join("; ")}`);
}

// ---- math ---------------------------------------------------------------------------------

const math = create(all!);
// Kept before the hardening below replaces them in the expression namespace.
const { evaluate: mathEvaluateExpr, simplify: mathSimplify, derivative: mathDerivative, parse: mathParse, format: mathFormat, typeOf: mathTypeOf } = math;
const disabled = (name: string) => () => {
  throw new Error(`${name} is disabled in task expressions`);
};
math.import(
  Object.fromEntries(["import", "createUnit", "evaluate", "parse", "simplify", "derivative", "resolve", "reviver"].map((n) => [n, disabled(n)])),
  { override: true },
);

const Expression = z.string().trim().min(1, "must not be empty").max(1000, "must be at most 1000 characters");
const Identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an identifier");
const Scope = z.record(Identifier, z.number().refine(Number.isFinite, "must be finite")).refine((s) => Object.keys(s).length <= 50, "at most 50 variables");

/** Runs a mathjs call, turning its errors (syntax, undefined symbol, wrong types) into InputErrors. */
function mathCall<T>(capability: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new InputError(`${capability}: ${(err as Error).message}`);
  }
}

/** A mathjs value as JSON: its formatted text (14 significant digits), its type, and the number when it is one. */
function mathValue(v: unknown) {
  const type = mathTypeOf(v);
  if (type === "function") throw new InputError("math.evaluate: the expression defines a function; nothing to evaluate");
  return { result: mathFormat(v, { precision: 14 }), type, ...(typeof v === "number" ? { value: Number.isFinite(v) ? v : String(v) } : {}) };
}

/**
 * `math.evaluate`: evaluates an expression (numbers, units, complex numbers, matrices).
 * Input `{ expression: string (≤ 1000 chars), scope?: { [name]: number } }`.
 * Output `{ expression, result: string (14 significant digits), type: string (mathjs type), value?: number }`.
 */
export async function mathEvaluate(input: unknown) {
  const { expression, scope } = parseInput("math.evaluate", z.object({ expression: Expression, scope: Scope.optional() }).strict(), input);
  const v = mathCall("math.evaluate", () => mathEvaluateExpr(expression, { ...scope }));
  return { expression, ...mathValue(v) };
}

/**
 * `math.simplify`: algebraic simplification.
 * Input `{ expression: string }`. Output `{ expression, simplified: string, tex: string }`.
 */
export async function mathSimplifyExpr(input: unknown) {
  const { expression } = parseInput("math.simplify", z.object({ expression: Expression }).strict(), input);
  const node = mathCall("math.simplify", () => mathSimplify(mathParse(expression)));
  return { expression, simplified: node.toString(), tex: node.toTex() };
}

/**
 * `math.derivative`: symbolic derivative, optionally evaluated at a point.
 * Input `{ expression: string, variable?: string (default "x"), at?: { [name]: number } }`.
 * Output `{ expression, variable, derivative: string, tex: string, value?: number }`.
 */
export async function mathDerivativeExpr(input: unknown): Promise<{ expression: string; variable: string; derivative: string; tex: string; value?: number }> {
  const { expression, variable, at } = parseInput(
    "math.derivative",
    z.object({ expression: Expression, variable: Identifier.default("x"), at: Scope.optional() }).strict(),
    input,
  );
  const node = mathCall("math.derivative", () => mathDerivative(mathParse(expression), variable));
  const out = { expression, variable, derivative: node.toString(), tex: node.toTex() };
  if (!at) return out;
  const value = mathCall("math.derivative", () => node.evaluate({ ...at }) as unknown);
  if (typeof value !== "number") throw new InputError(`math.derivative: the derivative at the given point is not a number (${mathFormat(value)})`);
  return { ...out, value };
}

// ---- text ---------------------------------------------------------------------------------

const Text = z.string().min(1, "must not be empty").max(60_000, "must be at most 60 000 characters");
const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;

/**
 * English syllables by the usual vowel-group heuristic (silent final e, -es, -ed): a
 * readability estimate, not a dictionary (it undercounts words like "create").
 */
export function syllables(word: string): number {
  let w = word.toLowerCase().replace(/[^a-z]/g, "");
  if (!w) return 1;
  if (w.length <= 3) return 1;
  // Silent endings: -e, -ed, and -es except after a sibilant (foxes, wishes).
  w = w.replace(/(?:[^laeiouysxzh]es|[^laeiouy]ed|[^laeiouy]e)$/, (m) => m[0]!).replace(/^y/, "");
  return Math.max(1, w.match(/[aeiouy]+/g)?.length ?? 0);
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * `text.stats`: counts and readability.
 * Input `{ text: string (≤ 60 000 chars) }`.
 * Output `{ characters, charactersNoSpaces, letters, words, uniqueWords, sentences, paragraphs,
 * syllables, complexWords (≥ 3 syllables), averageWordLength (letters per word),
 * averageSentenceLength (words), lexicalDiversity (unique / words), longestWord,
 * fleschReadingEase, fleschKincaidGrade }` (ratios rounded to 2 decimals).
 */
export async function textStats(input: unknown) {
  const { text } = parseInput("text.stats", z.object({ text: Text }).strict(), input);
  const words = text.match(WORD) ?? [];
  const sentences = text.split(/(?<=[.!?…])["'”’)\]]*\s+/u).filter((s) => /[\p{L}\p{N}]/u.test(s)).length;
  const paragraphs = text.split(/\n\s*\n/).filter((p) => p.trim()).length;
  const syl = words.map(syllables);
  const totalSyl = syl.reduce((a, b) => a + b, 0);
  const letters = words.reduce((a, w) => a + (w.match(/\p{L}/gu)?.length ?? 0), 0);
  const unique = new Set(words.map((w) => w.toLowerCase()));
  const n = words.length;
  const perSentence = sentences ? n / sentences : 0;
  const perWord = n ? totalSyl / n : 0;
  return {
    characters: [...text].length,
    charactersNoSpaces: [...text.replace(/\s/g, "")].length,
    letters,
    words: n,
    uniqueWords: unique.size,
    sentences,
    paragraphs,
    syllables: totalSyl,
    complexWords: syl.filter((s) => s >= 3).length,
    averageWordLength: n ? round(letters / n) : 0,
    averageSentenceLength: round(perSentence),
    lexicalDiversity: n ? round(unique.size / n) : 0,
    longestWord: words.reduce((a, w) => (w.length > a.length ? w : a), ""),
    // Flesch (1948) reading ease and Kincaid et al. (1975) grade level.
    fleschReadingEase: n ? round(206.835 - 1.015 * perSentence - 84.6 * perWord) : 0,
    fleschKincaidGrade: n ? round(0.39 * perSentence + 11.8 * perWord - 15.59) : 0,
  };
}

/**
 * `text.keywords`: the most frequent words once stopwords are removed (keyword-extractor).
 * Input `{ text: string, language?: ISO 639-1 code (default "en"), limit?: 1–100 (default 10) }`.
 * Output `{ language, candidates: number, keywords: [{ keyword, count }] }` by count, then first occurrence.
 */
export async function textKeywords(input: unknown) {
  const { text, language, limit } = parseInput(
    "text.keywords",
    z
      .object({
        text: Text,
        language: z.enum(["ar", "cs", "da", "de", "en", "es", "fa", "fr", "gl", "it", "ko", "nl", "pl", "pt", "ro", "ru", "sv", "tr", "vi"]).default("en"),
        limit: z.number().int().min(1).max(100).default(10),
      })
      .strict(),
    input,
  );
  const words = extractKeywords(text, { language, remove_digits: true, return_changed_case: true, remove_duplicates: false });
  const counts = new Map<string, number>();
  for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
  const keywords = [...counts.entries()]
    .map(([keyword, count], order) => ({ keyword, count, order }))
    .sort((a, b) => b.count - a.count || a.order - b.order)
    .slice(0, limit)
    .map(({ keyword, count }) => ({ keyword, count }));
  return { language, candidates: words.length, keywords };
}

// ---- csv ----------------------------------------------------------------------------------

const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Statistics of one CSV column. */
export type ColumnStats =
  | { name: string; index: number; type: "number"; count: number; missing: number; sum: number; mean: number; median: number; stddev: number; sampleStddev: number | null; min: number; max: number }
  | { name: string; index: number; type: "text"; count: number; missing: number; distinct: number; top: { value: string; count: number } }
  | { name: string; index: number; type: "empty"; count: 0; missing: number };

/**
 * `csv.stats`: per-column statistics. A column is numeric when every non-empty cell is a
 * decimal number; empty cells count as missing.
 * Input `{ csv: string, delimiter?: one character (default ","), header?: boolean (default true) }`.
 * Output `{ rows, columns: ColumnStats[] }` — numeric: count, missing, sum, mean, median,
 * stddev (population), sampleStddev (n − 1; null below 2 values), min, max; text: count,
 * missing, distinct, top value.
 */
export async function csvStats(input: unknown) {
  const { csv, delimiter, header } = parseInput(
    "csv.stats",
    z
      .object({
        csv: z.string().min(1, "must not be empty").max(60_000, "must be at most 60 000 characters"),
        delimiter: z.string().length(1).default(","),
        header: z.boolean().default(true),
      })
      .strict(),
    input,
  );
  let records: string[][];
  try {
    records = parseCsv(csv, { delimiter, bom: true, skip_empty_lines: true, trim: true }) as string[][];
  } catch (err) {
    throw new InputError(`csv.stats: input.csv: ${(err as Error).message}`);
  }
  if (records.length === 0) throw new InputError("csv.stats: input.csv: no records");
  const width = records[0]!.length;
  const names = header ? records[0]!.map((h, i) => h || `column${i + 1}`) : Array.from({ length: width }, (_, i) => `column${i + 1}`);
  const rows = header ? records.slice(1) : records;
  const columns: ColumnStats[] = names.map((name, index) => {
    const cells = rows.map((r) => r[index] ?? "");
    const present = cells.filter((c) => c !== "");
    const missing = cells.length - present.length;
    if (present.length === 0) return { name, index, type: "empty", count: 0, missing };
    if (present.every((c) => NUMBER.test(c))) {
      const xs = present.map(Number);
      return {
        name,
        index,
        type: "number",
        count: xs.length,
        missing,
        sum: ss.sum(xs),
        mean: ss.mean(xs),
        median: ss.median(xs),
        stddev: ss.standardDeviation(xs),
        sampleStddev: xs.length >= 2 ? ss.sampleStandardDeviation(xs) : null,
        min: ss.min(xs),
        max: ss.max(xs),
      };
    }
    const freq = new Map<string, number>();
    for (const c of present) freq.set(c, (freq.get(c) ?? 0) + 1);
    let top = { value: "", count: 0 };
    for (const [value, count] of freq) if (count > top.count) top = { value, count };
    return { name, index, type: "text", count: present.length, missing, distinct: freq.size, top };
  });
  return { rows: rows.length, columns };
}

// ---- image --------------------------------------------------------------------------------

/** Largest decoded image accepted, pixels per side. */
const MAX_SIDE = 2048;

const ImageSource = {
  /** A PNG, base64-encoded. */
  png: z.string().min(1).max(1_400_000).regex(/^[A-Za-z0-9+/=\s]+$/, "must be base64").optional(),
  /** Or a spec of an image to generate. */
  generate: ImageSpec.optional(),
};
const oneSource = (v: { png?: string; generate?: unknown }) => (v.png === undefined) !== (v.generate === undefined);
const ONE_SOURCE = { message: "give exactly one of png (base64) or generate (an image spec)" };

async function loadImage(capability: string, src: { png?: string; generate?: ImageSpec }): Promise<Image> {
  if (src.generate) return generateImage(src.generate);
  const buf = Buffer.from(src.png!, "base64");
  const size = pngSize(buf);
  if (!size) throw new InputError(`${capability}: input.png: not a PNG image`);
  if (size.width < 1 || size.height < 1 || size.width > MAX_SIDE || size.height > MAX_SIDE)
    throw new InputError(`${capability}: input.png: ${size.width}×${size.height} is outside 1–${MAX_SIDE} px per side`);
  try {
    return (await Jimp.read(buf)) as Image;
  } catch (err) {
    throw new InputError(`${capability}: input.png: cannot decode (${(err as Error).message})`);
  }
}

/**
 * `image.colors`: dominant colours by a quantised histogram — each pixel falls in a bucket of
 * `bits` bits per channel; the biggest buckets are reported with the mean colour of their
 * pixels (so a solid colour comes out exactly). Transparent pixels (alpha < 128) are ignored.
 * Input `{ png?: base64 | generate?: ImageSpec, count?: 1–32 (default 5), bits?: 1–8 (default 4) }`.
 * Output `{ width, height, pixels (counted), colors: [{ hex: "rrggbb", rgb: [r, g, b], share (0–1, 4 decimals), pixels }] }`.
 */
export async function imageColors(input: unknown) {
  const args = parseInput(
    "image.colors",
    z
      .object({ ...ImageSource, count: z.number().int().min(1).max(32).default(5), bits: z.number().int().min(1).max(8).default(4) })
      .strict()
      .refine(oneSource, ONE_SOURCE),
    input,
  );
  const img = await loadImage("image.colors", args);
  const { data, width, height } = img.bitmap;
  const shift = 8 - args.bits;
  const buckets = new Map<number, { n: number; r: number; g: number; b: number }>();
  let counted = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3]! < 128) continue;
    const r = data[i]!, g = data[i + 1]!, b = data[i + 2]!;
    const key = ((r >> shift) << (2 * args.bits)) | ((g >> shift) << args.bits) | (b >> shift);
    const s = buckets.get(key);
    if (s) {
      s.n++;
      s.r += r;
      s.g += g;
      s.b += b;
    } else buckets.set(key, { n: 1, r, g, b });
    counted++;
  }
  const colors = [...buckets.values()]
    .sort((a, b) => b.n - a.n)
    .slice(0, args.count)
    .map((s) => {
      const rgb = [s.r / s.n, s.g / s.n, s.b / s.n].map(Math.round) as [number, number, number];
      return { hex: toHex(...rgb), rgb, share: round(s.n / counted, 4), pixels: s.n };
    });
  return { width, height, pixels: counted, colors };
}

/**
 * `image.resize`: resizes with jimp (bilinear). With one side only, the other keeps the aspect
 * ratio. Modes with both sides: `fit` (default: the largest size within the box, aspect kept),
 * `cover` (fills the box, cropped), `contain` (fills the box, letterboxed), `exact` (stretched).
 * Input `{ png?: base64 | generate?: ImageSpec, width?: 1–2048, height?: 1–2048, mode? }`.
 * Output `{ original: { width, height }, width, height, bytes, png: base64 }`.
 */
export async function imageResize(input: unknown) {
  const args = parseInput(
    "image.resize",
    z
      .object({
        ...ImageSource,
        width: z.number().int().min(1).max(MAX_SIDE).optional(),
        height: z.number().int().min(1).max(MAX_SIDE).optional(),
        mode: z.enum(["fit", "cover", "contain", "exact"]).default("fit"),
      })
      .strict()
      .refine(oneSource, ONE_SOURCE)
      .refine((v) => v.width !== undefined || v.height !== undefined, { message: "give width, height or both" }),
    input,
  );
  const img = await loadImage("image.resize", args);
  const original = { width: img.bitmap.width, height: img.bitmap.height };
  const { width: w, height: h } = args;
  if (w !== undefined && h !== undefined) {
    if (args.mode === "fit") img.scaleToFit({ w, h });
    else if (args.mode === "cover") img.cover({ w, h });
    else if (args.mode === "contain") img.contain({ w, h });
    else img.resize({ w, h });
  } else if (w !== undefined) img.resize({ w });
  else img.resize({ h: h! });
  const png = await img.getBuffer("image/png");
  return { original, width: img.bitmap.width, height: img.bitmap.height, bytes: png.length, png: png.toString("base64") };
}

// ---- hash ---------------------------------------------------------------------------------

const HASHES = ["sha256", "sha512", "sha3-256", "sha3-512", "keccak256", "blake2b512", "sha1", "md5"] as const;
const Payload = {
  text: z.string().max(60_000, "must be at most 60 000 characters"),
  /** How `text` encodes the bytes: UTF-8 text (default), hex or base64. */
  encoding: z.enum(["utf8", "hex", "base64"]).default("utf8"),
};

function bytesOf(capability: string, text: string, encoding: "utf8" | "hex" | "base64"): Buffer {
  if (encoding === "hex" && !/^(?:0x)?(?:[0-9a-fA-F]{2})*$/.test(text)) throw new InputError(`${capability}: input.text: not an even-length hex string`);
  if (encoding === "base64" && !/^[A-Za-z0-9+/=\s]*$/.test(text)) throw new InputError(`${capability}: input.text: not base64`);
  return Buffer.from(encoding === "hex" ? text.replace(/^0x/, "") : text, encoding);
}

/**
 * `hash.digest`: digests of the input bytes, lower-case hex without `0x`. keccak256 is
 * Ethereum's (original Keccak padding), which differs from the standardised sha3-256.
 * Input `{ text: string, encoding?: "utf8" | "hex" | "base64", algorithms?: (sha256 | sha512 |
 * sha3-256 | sha3-512 | keccak256 | blake2b512 | sha1 | md5)[] (default sha256, sha3-256, keccak256) }`.
 * Output `{ bytes, digests: { [algorithm]: hex } }`.
 */
export async function hashDigest(input: unknown) {
  const { text, encoding, algorithms } = parseInput(
    "hash.digest",
    z.object({ ...Payload, algorithms: z.array(z.enum(HASHES)).min(1).max(HASHES.length).default(["sha256", "sha3-256", "keccak256"]) }).strict(),
    input,
  );
  const bytes = bytesOf("hash.digest", text, encoding);
  const digests: Record<string, string> = {};
  for (const a of new Set(algorithms)) digests[a] = a === "keccak256" ? keccak256(bytes).slice(2) : createHash(a).update(bytes).digest("hex");
  return { bytes: bytes.length, digests };
}

/**
 * `hash.compress`: compressed sizes with gzip, deflate and brotli (node:zlib), each checked by
 * decompressing it again. ratio = compressed / original (4 decimals; null for empty input).
 * Input `{ text: string, encoding?: "utf8" | "hex" | "base64", level?: 1–9 (default 6; brotli quality scales to 1–11) }`.
 * Output `{ bytes, results: { gzip | deflate | brotli: { bytes, ratio } }, best }`.
 */
export async function hashCompress(input: unknown) {
  const { text, encoding, level } = parseInput(
    "hash.compress",
    z.object({ ...Payload, level: z.number().int().min(1).max(9).default(6) }).strict(),
    input,
  );
  const bytes = bytesOf("hash.compress", text, encoding);
  const quality = Math.round(1 + ((level - 1) * 10) / 8);
  const codecs = {
    gzip: [gzipSync(bytes, { level }), gunzipSync],
    deflate: [deflateSync(bytes, { level }), inflateSync],
    brotli: [brotliCompressSync(bytes, { params: { [zc.BROTLI_PARAM_QUALITY]: quality, [zc.BROTLI_PARAM_SIZE_HINT]: bytes.length } }), brotliDecompressSync],
  } as const;
  const results: Record<string, { bytes: number; ratio: number | null }> = {};
  let best = "";
  for (const [name, [packed, unpack]] of Object.entries(codecs)) {
    if (!unpack(packed).equals(bytes)) throw new Error(`${name} did not round-trip`);
    results[name] = { bytes: packed.length, ratio: bytes.length ? round(packed.length / bytes.length, 4) : null };
    if (!best || packed.length < results[best]!.bytes) best = name;
  }
  return { bytes: bytes.length, results, best };
}

// ---- registry -----------------------------------------------------------------------------

/** Every handler by capability. */
export const handlers: Record<string, Handler> = {
  "math.evaluate": mathEvaluate,
  "math.simplify": mathSimplifyExpr,
  "math.derivative": mathDerivativeExpr,
  "text.stats": textStats,
  "text.keywords": textKeywords,
  "csv.stats": csvStats,
  "image.colors": imageColors,
  "image.resize": imageResize,
  "hash.digest": hashDigest,
  "hash.compress": hashCompress,
};

/** Options of {@link flaky}. */
export type FlakyOptions = {
  /** Share of tasks that fail, 0–1. */
  failureRate: number;
  /** How a failing task fails: `throw` (reported as a failure), `hang` (never answers: the coordinator's timeout), or `mixed` (half each). */
  mode: "throw" | "hang" | "mixed";
  /** Source of randomness in [0, 1); default Math.random (inject a seeded one in tests). */
  random?: () => number;
};

/**
 * Wraps a handler so that it fails a share of its tasks — the flaky reference agent that
 * trips its circuit breaker and makes its tasks fail over.
 */
export function flaky(inner: Handler, opts: FlakyOptions): Handler {
  if (!(opts.failureRate >= 0 && opts.failureRate <= 1)) throw new RangeError("failureRate must be in [0, 1]");
  const random = opts.random ?? Math.random;
  return async (input) => {
    if (random() >= opts.failureRate) return inner(input);
    const hang = opts.mode === "hang" || (opts.mode === "mixed" && random() < 0.5);
    // A promise that never settles holds no timer, so it does not keep the process alive.
    if (hang) return new Promise<never>(() => undefined);
    throw new Error("flaky agent: simulated failure");
  };
}
