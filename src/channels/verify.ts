import { ECDH, randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1";
import { Field, mod } from "@noble/curves/abstract/modular";
import type { ProjPointType } from "@noble/curves/abstract/weierstrass";
import { keccak_256 } from "@noble/hashes/sha3";

/**
 * Signature checks of PaymentChannels vouchers: the EIP-712 digest of
 * `Voucher(address payer,address payee,address token,uint256 cumulativeAmount)` under the domain
 * ("AICP PaymentChannels", "1", chainId, contract), and secp256k1 ECDSA with Ethereum's
 * ecrecover semantics as OpenZeppelin's `ECDSA.tryRecover` applies them on-chain: v ∈ {27, 28}
 * (0/1 accepted and normalised), 0 < r, s < n, s ≤ n/2 (no malleable signatures).
 *
 * Speed matters here (every micro-payment is one voucher): hashing is keccak-256 over fixed
 * 32-byte words (no generic typed-data encoder), and signatures of payers whose public key is
 * known are checked together by randomized batch verification (one multi-scalar
 * multiplication for the whole batch), several times cheaper than one recovery each.
 */

type Point = ProjPointType<bigint>;
const Point = secp256k1.ProjectivePoint;
const N = secp256k1.CURVE.n;
const P = secp256k1.CURVE.Fp.ORDER;
const Fn = Field(N);
const HALF_N = N >> 1n;
const endo = secp256k1.CURVE.endo!;

const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const toBig = (b: Uint8Array) => (b.length ? BigInt(`0x${hex(b)}`) : 0n);

/** keccak256("Voucher(address payer,address payee,address token,uint256 cumulativeAmount)") */
export const VOUCHER_TYPEHASH = keccak_256(utf8("Voucher(address payer,address payee,address token,uint256 cumulativeAmount)"));
const DOMAIN_TYPEHASH = keccak_256(utf8("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"));

function word(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let x = v;
  for (let i = 31; i >= 0 && x > 0n; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

function addressWord(address: string, into: Uint8Array, at: number): void {
  const h = address.startsWith("0x") || address.startsWith("0X") ? address.slice(2) : address;
  if (h.length !== 40) throw new RangeError(`not a 20-byte address: ${address}`);
  into.set(Buffer.from(h, "hex"), at + 12);
}

/**
 * The EIP-712 domain separator of PaymentChannels at `contract` on chain `chainId`.
 * @returns 32 bytes
 */
export function domainSeparator(chainId: number | bigint, contract: string): Uint8Array {
  const buf = new Uint8Array(32 * 5);
  buf.set(DOMAIN_TYPEHASH, 0);
  buf.set(keccak_256(utf8("AICP PaymentChannels")), 32);
  buf.set(keccak_256(utf8("1")), 64);
  buf.set(word(BigInt(chainId)), 96);
  addressWord(contract, buf, 128);
  return keccak_256(buf);
}

/** A voucher as it is signed: addresses as 0x hex (any case), the amount in token base units. */
export type VoucherFields = { payer: string; payee: string; token: string; cumulativeAmount: bigint };

/**
 * The EIP-712 digest a payer signs: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(voucher)).
 * Same value as ethers' `TypedDataEncoder.hash(voucherDomain(…), VOUCHER_TYPES, voucher)`.
 */
export function voucherDigest(separator: Uint8Array, v: VoucherFields): Uint8Array {
  const s = new Uint8Array(32 * 5);
  s.set(VOUCHER_TYPEHASH, 0);
  addressWord(v.payer, s, 32);
  addressWord(v.payee, s, 64);
  addressWord(v.token, s, 96);
  s.set(word(v.cumulativeAmount), 128);
  const d = new Uint8Array(66);
  d[0] = 0x19;
  d[1] = 0x01;
  d.set(separator, 2);
  d.set(keccak_256(s), 34);
  return keccak_256(d);
}

/** A parsed 65-byte `r ‖ s ‖ v` signature. */
export type Sig = { r: bigint; s: bigint; /** 0 or 1: parity of R's y */ parity: number };

/**
 * Parses a 65-byte hex signature the way the contract accepts it.
 * @returns undefined when it is malformed, out of range or malleable (high s): such a voucher
 *   would be skipped on-chain as BadSignature
 */
export function parseSignature(signature: string): Sig | undefined {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return undefined;
  const r = BigInt(`0x${signature.slice(2, 66)}`);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  let v = parseInt(signature.slice(130, 132), 16);
  if (v < 27) v += 27;
  if (v !== 27 && v !== 28) return undefined;
  if (r === 0n || r >= N || s === 0n || s > HALF_N) return undefined;
  return { r, s, parity: v - 27 };
}

/** The canonical form of a valid signature: lower-case hex, v = 27 or 28 (what settleBatch takes). */
export function canonicalSignature(sig: Sig): string {
  return `0x${sig.r.toString(16).padStart(64, "0")}${sig.s.toString(16).padStart(64, "0")}${(27 + sig.parity).toString(16)}`;
}

/** R = (r, y) with y of the given parity, decompressed natively (OpenSSL); undefined if r is no x-coordinate. */
function pointR(sig: Sig): Point | undefined {
  const comp = new Uint8Array(33);
  comp[0] = sig.parity ? 3 : 2;
  comp.set(word(sig.r), 1);
  try {
    const un = ECDH.convertKey(comp, "secp256k1", undefined, undefined, "uncompressed") as Buffer;
    return new Point(toBig(un.subarray(1, 33)), toBig(un.subarray(33, 65)), 1n);
  } catch {
    return undefined;
  }
}

/** The Ethereum address (lower-case 0x hex) of a public key. */
export function addressOf(key: Point): string {
  const raw = key.toRawBytes(false);
  return `0x${hex(keccak_256(raw.subarray(1)).subarray(12))}`;
}

/**
 * ecrecover: the public key that signed `digest` with `sig`, or undefined.
 * Q = r⁻¹·(s·R − e·G).
 */
export function recoverKey(digest: Uint8Array, sig: Sig): Point | undefined {
  const R = pointR(sig);
  if (!R) return undefined;
  const rinv = Fn.inv(sig.r);
  const e = mod(toBig(digest), N);
  const u1 = Fn.neg(Fn.mul(e, rinv));
  const u2 = Fn.mul(sig.s, rinv);
  const Q = (u1 === 0n ? Point.ZERO : Point.BASE.multiply(u1)).add(R.multiplyUnsafe(u2));
  return Q.equals(Point.ZERO) ? undefined : Q;
}

/**
 * The addresses `sig` recovers to for each of several digests (the same signature checked
 * under other EIP-712 domains). s·R is shared, so each extra digest costs one multiplication of
 * the generator (precomputed) instead of a whole recovery.
 */
export function recoverMany(digests: Uint8Array[], sig: Sig): (string | undefined)[] {
  const R = pointR(sig);
  if (!R) return digests.map(() => undefined);
  const rinv = Fn.inv(sig.r);
  const A = R.multiplyUnsafe(Fn.mul(sig.s, rinv));
  return digests.map((d) => {
    const u1 = Fn.neg(Fn.mul(mod(toBig(d), N), rinv));
    const Q = u1 === 0n ? A : Point.BASE.multiply(u1).add(A);
    return Q.equals(Point.ZERO) ? undefined : addressOf(Q);
  });
}

/** Whether `sig` over `digest` is by `key` (exactly what ecrecover(digest, v, r, s) == key means). */
export function verifyOne(digest: Uint8Array, sig: Sig, key: Point): boolean {
  const sinv = Fn.inv(sig.s);
  const u1 = Fn.mul(mod(toBig(digest), N), sinv);
  const u2 = Fn.mul(sig.r, sinv);
  const R = (u1 === 0n ? Point.ZERO : Point.BASE.multiply(u1)).add(key.multiplyUnsafe(u2));
  if (R.equals(Point.ZERO)) return false;
  const a = R.toAffine();
  return a.x === sig.r && Number(a.y & 1n) === sig.parity;
}

/** One signature to check against a known public key. */
export type BatchItem = { digest: Uint8Array; sig: Sig; key: Point };

/**
 * Randomized batch verification (Bellare–Garay–Rabin small-exponent test, for ECDSA with the
 * recovery bit): with R_i rebuilt from (r_i, parity_i) and random 128-bit z_i, all signatures
 * are valid iff Σ z_i·(u1_i·G + u2_i·Q_i − R_i) = O, except with probability ≤ 2⁻¹²⁸ per batch.
 * The sum is one multi-scalar multiplication (Pippenger) over the R_i and, split by the GLV
 * endomorphism into 128-bit halves, over G and each distinct key.
 * @returns true when every signature is valid; false says at least one is not (bisect to find it)
 */
export function verifyBatch(items: readonly BatchItem[]): boolean {
  if (items.length === 0) return true;
  const sinv = Fn.invertBatch(items.map((x) => x.sig.s));
  const z = randomBytes(16 * items.length);
  const points: Point[] = [];
  const scalars: bigint[] = [];
  let g = 0n;
  const perKey = new Map<Point, bigint>();
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const R = pointR(it.sig);
    if (!R) return false;
    const zi = toBig(z.subarray(16 * i, 16 * i + 16)) | 1n;
    g = Fn.add(g, Fn.mul(zi, Fn.mul(mod(toBig(it.digest), N), sinv[i]!)));
    perKey.set(it.key, Fn.add(perKey.get(it.key) ?? 0n, Fn.mul(zi, Fn.mul(it.sig.r, sinv[i]!))));
    points.push(R.negate());
    scalars.push(zi);
  }
  const pushSplit = (pt: Point, k: bigint) => {
    const { k1neg, k1, k2neg, k2 } = endo.splitScalar(k);
    const lam = new Point(mod(pt.px * endo.beta, P), pt.py, pt.pz); // λ·pt, cheap
    points.push(k1neg ? pt.negate() : pt, k2neg ? lam.negate() : lam);
    scalars.push(k1, k2);
  };
  pushSplit(Point.BASE, g);
  for (const [key, k] of perKey) pushSplit(key, k);
  return msm128(points, scalars).equals(Point.ZERO);
}

/** Σ k_i·P_i for scalars below 2¹²⁸ (Pippenger's bucket method). */
function msm128(points: Point[], scalars: bigint[]): Point {
  const n = points.length;
  const c = n > 2048 ? 10 : n > 512 ? 9 : n > 128 ? 7 : n > 32 ? 5 : 3;
  const mask = BigInt((1 << c) - 1);
  let sum = Point.ZERO;
  const buckets: Point[] = new Array<Point>(1 << c);
  for (let i = Math.floor(128 / c) * c; i >= 0; i -= c) {
    buckets.fill(Point.ZERO);
    const shift = BigInt(i);
    for (let j = 0; j < n; j++) {
      const b = Number((scalars[j]! >> shift) & mask);
      if (b) buckets[b] = buckets[b]!.add(points[j]!);
    }
    let run = Point.ZERO;
    let acc = Point.ZERO;
    for (let b = buckets.length - 1; b > 0; b--) {
      run = run.add(buckets[b]!);
      acc = acc.add(run);
    }
    sum = sum.add(acc);
    if (i) for (let k = 0; k < c; k++) sum = sum.double();
  }
  return sum;
}

export type { Point };

/** A voucher to check, JSON-safe (it crosses to worker threads): the amount as a decimal string. */
export type RawVoucher = { payer: string; payee: string; token: string; cumulative: string; signature: string };

/**
 * The verdict on one voucher's signature:
 * - `ok`: by the payer under this chain's and contract's domain (`signature` in canonical form);
 * - `malformed`: not a 65-byte signature, r/s out of range, or malleable (high s);
 * - `wrong-domain`: by the payer, but for another chain id or verifying contract;
 * - `forged`: by someone else (`signer`), or by nobody.
 */
export type Verdict =
  | { status: "ok"; signature: string }
  | { status: "malformed" }
  | { status: "wrong-domain"; chainId: number; contract: string }
  | { status: "forged"; signer: string | null };

/** An EIP-712 domain a payer may have signed under by mistake (see {@link wrongDomains}). */
export type DomainCandidate = { chainId: number; contract: string; separator: Uint8Array };

/** Chain ids a wallet is commonly left on: mainnets, testnets and local development chains. */
export const COMMON_CHAIN_IDS = [1, 5, 10, 56, 100, 137, 1337, 8453, 17000, 31337, 42161, 80002, 84532, 421614, 11155111, 11155420];

/**
 * The wrong domains a voucher is checked under when it does not verify, to tell a payer who
 * signed for the wrong chain or contract (VOUCHER_WRONG_DOMAIN, fixable by signing again) from
 * a forgery: every common chain id with this PaymentChannels address or the zero address, and
 * this chain id with each other AICP contract address. It cannot catch every wrong domain (a
 * chain id or contract outside this list reads as forged), and it costs one generator
 * multiplication per candidate, only on the failure path.
 */
export function wrongDomains(chainId: number, contract: string, otherContracts: readonly string[]): DomainCandidate[] {
  const seen = new Set<string>([`${chainId}:${contract.toLowerCase()}`]);
  const out: DomainCandidate[] = [];
  const add = (id: number, c: string) => {
    const key = `${id}:${c.toLowerCase()}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ chainId: id, contract: c.toLowerCase(), separator: domainSeparator(id, c) });
  };
  for (const id of [chainId, ...COMMON_CHAIN_IDS]) {
    add(id, contract);
    add(id, "0x0000000000000000000000000000000000000000");
  }
  for (const c of otherContracts) add(chainId, c);
  return out;
}

/** Public keys of payers seen before (address → key), so later vouchers are batch-verified. */
export type KeyCache = Map<string, Point>;
const KEY_CACHE_MAX = 200_000;

/**
 * Checks the signatures of many vouchers at once: payers whose key is cached are verified in
 * one batch (bisecting on failure), the others by recovery (which then caches the key).
 * @param separator this chain's and contract's domain separator ({@link domainSeparator})
 */
export function checkSignatures(items: readonly RawVoucher[], separator: Uint8Array, candidates: readonly DomainCandidate[], cache: KeyCache): Verdict[] {
  const out: Verdict[] = new Array(items.length);
  const sigs: (Sig | undefined)[] = [];
  const digests: Uint8Array[] = [];
  const batch: { i: number; item: BatchItem }[] = [];
  const failed: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const v = items[i]!;
    const sig = parseSignature(v.signature);
    sigs.push(sig);
    const digest = voucherDigest(separator, { ...v, cumulativeAmount: BigInt(v.cumulative) });
    digests.push(digest);
    if (!sig) {
      out[i] = { status: "malformed" };
      continue;
    }
    const payer = v.payer.toLowerCase();
    const key = cache.get(payer);
    if (key) {
      batch.push({ i, item: { digest, sig, key } });
      continue;
    }
    const q = recoverKey(digest, sig);
    if (q && addressOf(q) === payer) {
      if (cache.size >= KEY_CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(payer, q);
      out[i] = { status: "ok", signature: canonicalSignature(sig) };
    } else failed.push(i);
  }
  const settle = (list: { i: number; item: BatchItem }[]) => {
    if (list.length <= 2) {
      for (const x of list) {
        if (verifyOne(x.item.digest, x.item.sig, x.item.key)) out[x.i] = { status: "ok", signature: canonicalSignature(x.item.sig) };
        else failed.push(x.i);
      }
      return;
    }
    if (verifyBatch(list.map((x) => x.item))) {
      for (const x of list) out[x.i] = { status: "ok", signature: canonicalSignature(x.item.sig) };
      return;
    }
    const mid = list.length >> 1;
    settle(list.slice(0, mid));
    settle(list.slice(mid));
  };
  settle(batch);
  for (const i of failed) {
    const v = items[i]!;
    const sig = sigs[i]!;
    const cum = BigInt(v.cumulative);
    const tries = candidates.map((c) => voucherDigest(c.separator, { ...v, cumulativeAmount: cum }));
    const signers = recoverMany([digests[i]!, ...tries], sig);
    const hit = signers.findIndex((s, k) => k > 0 && s === v.payer.toLowerCase());
    out[i] = hit > 0 ? { status: "wrong-domain", chainId: candidates[hit - 1]!.chainId, contract: candidates[hit - 1]!.contract } : { status: "forged", signer: signers[0] ?? null };
  }
  return out;
}
