/**
 * Exact token amounts for people: "1.5" tUSD ↔ 1 500 000 base units (6 decimals), with no
 * floating point anywhere — parsing and formatting work on the digits and `bigint`.
 *
 * Accepted spellings (underscores between digits are ignored):
 * - `1.5`, `0.000001`, `2`      — token units, scaled by the token's decimals;
 * - `1.5 tUSD`, `1.5tUSD`       — the same, checked against the token's symbol;
 * - `1500000base`               — base units, exactly (also `1500000 base`).
 * A decimal with more fraction digits than the token has is refused, never rounded.
 */

/** The zero address: the chain's native currency wherever a token is expected. */
export const NATIVE_TOKEN = "0x0000000000000000000000000000000000000000";

/** What amount parsing and formatting need to know about a token. */
export type TokenInfo = {
  /** Lower-case 0x address; {@link NATIVE_TOKEN} for the native currency. */
  address: string;
  /** e.g. `tUSD`, `ETH`. */
  symbol: string;
  /** Decimal places of one whole token (6 for tUSD, 18 for ETH). */
  decimals: number;
};

/** An amount that cannot be read exactly. `code` is always `BAD_AMOUNT`. */
export class AmountError extends Error {
  override readonly name = "AmountError";
  readonly code = "BAD_AMOUNT";
}

const BASE = /^([0-9][0-9_]*)\s*(?:base)$/i;
const DECIMAL = /^([0-9][0-9_]*)(?:\.([0-9][0-9_]*))?(?:\s*([A-Za-z][A-Za-z0-9.-]*))?$/;

function digits(s: string, what: string, text: string): string {
  if (/__|_$/.test(s)) throw new AmountError(`amount "${text}": misplaced "_" in the ${what}`);
  return s.replace(/_/g, "");
}

/**
 * Reads an amount into token base units.
 * @param text see the module comment for the spellings
 * @param token decimals and symbol of the token; when `undefined` only base units (`…base`) are accepted
 * @param opts.baseUnits read a bare integer (`1500000`) as base units instead of token units
 * @returns the amount in base units (≥ 0)
 * @throws AmountError naming what is wrong (sign, exponent, too many decimals, wrong symbol, …)
 */
export function parseAmount(text: string, token: TokenInfo | undefined, opts: { baseUnits?: boolean } = {}): bigint {
  const t = text.trim();
  if (t === "") throw new AmountError("amount is empty");
  if (t.startsWith("-")) throw new AmountError(`amount "${text}" is negative`);
  if (/^[0-9.]+e[+-]?[0-9]+$/i.test(t)) throw new AmountError(`amount "${text}": exponents are not accepted; write the digits out`);
  const base = BASE.exec(t);
  if (base) return BigInt(digits(base[1]!, "integer", text));
  const m = DECIMAL.exec(t);
  if (!m) throw new AmountError(`amount "${text}" is not a number; write e.g. 1.5 (token units) or 1500000base (base units)`);
  const [, whole, frac, symbol] = m;
  if (opts.baseUnits && frac === undefined && symbol === undefined) return BigInt(digits(whole!, "integer", text));
  if (opts.baseUnits && symbol === undefined)
    throw new AmountError(`amount "${text}": base units are whole numbers (no decimal point)`);
  if (!token)
    throw new AmountError(`amount "${text}": token units need the token's decimals (give the chain: --rpc and --deployments), or write base units as <integer>base`);
  if (symbol !== undefined && symbol.toLowerCase() !== token.symbol.toLowerCase())
    throw new AmountError(`amount "${text}" names ${symbol}, but the token is ${token.symbol} (${token.address})`);
  const w = digits(whole!, "integer part", text);
  const f = frac === undefined ? "" : digits(frac, "fraction", text);
  const significant = f.replace(/0+$/, "");
  if (significant.length > token.decimals)
    throw new AmountError(
      `amount "${text}" has ${significant.length} decimal places; ${token.symbol} has ${token.decimals}` +
        (token.decimals === 0 ? "" : ` (the smallest amount is 0.${"0".repeat(token.decimals - 1)}1)`),
    );
  return BigInt(w) * 10n ** BigInt(token.decimals) + BigInt((significant || "0").padEnd(token.decimals, "0").slice(0, token.decimals) || "0");
}

/**
 * Formats base units as token units, exactly, without trailing zeros: (1500000n, 6) → "1.5".
 * @param amount base units (may be negative)
 * @param decimals the token's decimal places
 */
export function formatUnits(amount: bigint, decimals: number): string {
  const neg = amount < 0n;
  const a = neg ? -amount : amount;
  const unit = 10n ** BigInt(decimals);
  const whole = a / unit;
  const frac = decimals === 0 ? "" : (a % unit).toString().padStart(decimals, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/**
 * `1.5 tUSD (1500000 base units)`: token units with the symbol and the exact base units.
 * @param amount base units
 * @param token decimals and symbol; without it only the base units are shown
 */
export function describeAmount(amount: bigint | string, token?: TokenInfo): string {
  const a = BigInt(amount);
  if (!token) return `${a} base units`;
  return `${formatUnits(a, token.decimals)} ${token.symbol} (${a} base units)`;
}
