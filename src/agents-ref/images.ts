/**
 * Images the project generates itself (no downloads, no binary fixtures): solid colours,
 * stripes, checkerboards and gradients, rendered with jimp into PNGs. The image agent accepts a
 * spec in place of a PNG, and the tests and the demo use them as inputs with known answers
 * (a solid `#ff0000` image's dominant colour is `ff0000`; three equal stripes have a share of
 * one third each).
 */
import { Jimp } from "jimp";
import { z } from "zod";

/** A colour as `#rrggbb` or `#rrggbbaa` (the `#` is optional). */
export const Color = z
  .string()
  .regex(/^#?[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$/, "must be a hex colour #rrggbb or #rrggbbaa");

const Side = z.number().int().min(1).max(1024);
const Direction = z.enum(["vertical", "horizontal"]).default("vertical");

/** What to draw: `solid`, `stripes` (equal bands), `checker` (two colours), or a linear `gradient`. Sides 1–1024 px. */
export const ImageSpec = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("solid"), width: Side, height: Side, color: Color }).strict(),
  z.object({ kind: z.literal("stripes"), width: Side, height: Side, colors: z.array(Color).min(1).max(16), direction: Direction }).strict(),
  z.object({ kind: z.literal("checker"), width: Side, height: Side, colors: z.tuple([Color, Color]), cell: z.number().int().min(1).max(256).default(8) }).strict(),
  z.object({ kind: z.literal("gradient"), width: Side, height: Side, from: Color, to: Color, direction: Direction }).strict(),
]);
export type ImageSpec = z.input<typeof ImageSpec>;

/** `#rrggbb[aa]` → [r, g, b, a], each 0–255 (alpha 255 when absent). */
export function parseColor(c: string): [number, number, number, number] {
  const h = c.replace(/^#/, "");
  const n = (i: number) => parseInt(h.slice(i, i + 2), 16);
  return [n(0), n(2), n(4), h.length === 8 ? n(6) : 255];
}

/** [r, g, b] → `rrggbb` (lower-case, no `#`). */
export function toHex(r: number, g: number, b: number): string {
  return [r, g, b].map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
}

/** A jimp image as jimp's `read` and constructor return it. */
export type Image = Awaited<ReturnType<typeof Jimp.read>>;

/**
 * Draws the image a spec describes.
 * @throws ZodError when the spec is invalid
 */
export function generateImage(spec: ImageSpec): Image {
  const s = ImageSpec.parse(spec);
  const img = new Jimp({ width: s.width, height: s.height, color: 0x00000000 }) as Image;
  const data = img.bitmap.data;
  const colorAt = ((): ((x: number, y: number) => [number, number, number, number]) => {
    switch (s.kind) {
      case "solid": {
        const c = parseColor(s.color);
        return () => c;
      }
      case "stripes": {
        const cs = s.colors.map(parseColor);
        const along = s.direction === "vertical" ? s.width : s.height;
        return (x, y) => cs[Math.min(cs.length - 1, Math.floor(((s.direction === "vertical" ? x : y) * cs.length) / along))]!;
      }
      case "checker": {
        const [a, b] = s.colors.map(parseColor) as [ReturnType<typeof parseColor>, ReturnType<typeof parseColor>];
        return (x, y) => ((Math.floor(x / s.cell) + Math.floor(y / s.cell)) % 2 === 0 ? a : b);
      }
      case "gradient": {
        const from = parseColor(s.from);
        const to = parseColor(s.to);
        const along = (s.direction === "vertical" ? s.height : s.width) - 1 || 1;
        return (x, y) => {
          const t = (s.direction === "vertical" ? y : x) / along;
          return from.map((f, i) => Math.round(f + (to[i]! - f) * t)) as [number, number, number, number];
        };
      }
    }
  })();
  for (let y = 0; y < s.height; y++)
    for (let x = 0; x < s.width; x++) {
      const i = (y * s.width + x) * 4;
      const [r, g, b, a] = colorAt(x, y);
      data[i] = r;
      data[i + 1] = g;
      data[i + 2] = b;
      data[i + 3] = a;
    }
  return img;
}

/** Draws the image a spec describes and encodes it as PNG. */
export async function generatePng(spec: ImageSpec): Promise<Buffer> {
  return generateImage(spec).getBuffer("image/png");
}

/**
 * Width and height from a PNG's IHDR chunk, read before decoding so that a small file that
 * inflates to a huge bitmap (a "PNG bomb") is refused cheaply.
 * @returns undefined when `buf` is not a PNG
 */
export function pngSize(buf: Buffer): { width: number; height: number } | undefined {
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (buf.length < 24 || !buf.subarray(0, 8).equals(sig) || buf.toString("latin1", 12, 16) !== "IHDR") return undefined;
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}
