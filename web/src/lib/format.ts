/** Exact token amounts: base units (bigint) ↔ token units, never through floating point. */

export type TokenInfo = { address: string; symbol: string; decimals: number };

/** `1500000` with 6 decimals → `1.5`. */
export function formatUnits(amount: bigint | string, decimals: number): string {
  const v = BigInt(amount);
  const neg = v < 0n;
  const a = neg ? -v : v;
  const base = 10n ** BigInt(decimals);
  const whole = a / base;
  const frac = (a % base).toString().padStart(decimals, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/**
 * `1.5` with 6 decimals → 1500000n.
 * @throws Error when the text is not a non-negative decimal or has more decimals than the token
 */
export function parseUnits(text: string, decimals: number): bigint {
  const s = text.trim();
  const m = /^(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) throw new Error(`"${text}" is not an amount (digits, optionally a point and decimals)`);
  const frac = m[2] ?? "";
  if (frac.length > decimals) throw new Error(`at most ${decimals} decimals`);
  return BigInt(m[1]!) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
}

export const short = (a: string | null | undefined, n = 6) => (a ? `${a.slice(0, n + 2)}…${a.slice(-4)}` : "—");
