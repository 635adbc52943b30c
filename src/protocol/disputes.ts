/**
 * Dispute arithmetic and evidence shared by the coordinator, the SDKs, the CLI and the web app:
 * the exact split TaskEscrow.executeRuling pays for a ruling, and ERC-1497 evidence documents.
 * Amounts are token base units (bigint); shares and fees are basis points (1 bps = 0.01 %).
 */
import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex } from "@noble/hashes/utils";

/** 100 % in basis points. */
export const BPS = 10_000;

/** What a ruling pays, token base units; the same integer arithmetic as TaskEscrow.executeRuling (floor of mulDiv). */
export type RulingSplit = {
  /** The agent's share of the price before the fee: ⌊price × agentShareBps / 10 000⌋. */
  agentShare: bigint;
  /** The protocol fee on the agent's share: ⌊agentShare × feeBps / 10 000⌋. */
  fee: bigint;
  /** What the agent is credited: agentShare − fee. */
  agent: bigint;
  /** What the buyer is credited: the escrowed amount − agentShare (the unused budget comes back too). */
  buyer: bigint;
};

/**
 * The split of a ruling giving the agent `agentShareBps` of `price`, from an escrow holding `amount`.
 * @param price the awarded price, base units
 * @param amount the escrowed amount (the whole budget), base units; price ≤ amount
 * @param agentShareBps 0…10 000
 * @param feeBps the escrow's fee, 0…10 000
 * @throws RangeError when a share or fee is outside 0…10 000, or price > amount
 */
export function rulingSplit(price: bigint, amount: bigint, agentShareBps: number, feeBps: number): RulingSplit {
  if (!Number.isInteger(agentShareBps) || agentShareBps < 0 || agentShareBps > BPS) throw new RangeError(`agentShareBps must be an integer 0…${BPS}`);
  if (!Number.isInteger(feeBps) || feeBps < 0 || feeBps > BPS) throw new RangeError(`feeBps must be an integer 0…${BPS}`);
  if (price < 0n || price > amount) throw new RangeError("price must be between 0 and the escrowed amount");
  const agentShare = (price * BigInt(agentShareBps)) / BigInt(BPS);
  const fee = (agentShare * BigInt(feeBps)) / BigInt(BPS);
  return { agentShare, fee, agent: agentShare - fee, buyer: amount - agentShare };
}

/**
 * An ERC-1497 evidence document (https://eips.ethereum.org/EIPS/eip-1497): a name, a description
 * and optionally a file, named by its URI and its multihash.
 */
export type Erc1497Evidence = {
  name: string;
  description: string;
  fileURI?: string;
  /** Multihash (hex, no 0x) of the file: sha2-256, `1220` + 32 bytes. */
  fileHash?: string;
  fileTypeExtension?: string;
};

/** The sha2-256 multihash (hex, `1220…`) of a file's bytes, as ERC-1497's `fileHash` names it. */
export function multihashSha256(bytes: Uint8Array): string {
  return `1220${bytesToHex(sha256(bytes))}`;
}

/**
 * The evidence as a self-contained URI for DisputeResolver.submitEvidence / TaskEscrow.dispute:
 * `data:application/json;base64,…` of the ERC-1497 JSON (so it needs no file host).
 */
export function evidenceUri(e: Erc1497Evidence): string {
  const json = JSON.stringify(e);
  const bytes = new TextEncoder().encode(json);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `data:application/json;base64,${btoa(bin)}`;
}

/** Reads an evidence URI made by {@link evidenceUri}; undefined for any other URI (an http or ipfs link is shown as a link). */
export function readEvidenceUri(uri: string): Erc1497Evidence | undefined {
  const m = /^data:application\/json;base64,([A-Za-z0-9+/=]+)$/.exec(uri);
  if (!m) return undefined;
  try {
    const bin = atob(m[1]!);
    const json = new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
    const v = JSON.parse(json) as Partial<Erc1497Evidence>;
    return typeof v.name === "string" && typeof v.description === "string" ? (v as Erc1497Evidence) : undefined;
  } catch {
    return undefined;
  }
}
