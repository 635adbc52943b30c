/**
 * Disputes from a wallet: arbitrators list their cases, read one with both sides' evidence, and
 * rule a split; the parties add ERC-1497 evidence and appeal; anyone finalizes a ruling past its
 * appeal window (the coordinator does so too, so none sticks). Reads go to the coordinator
 * (GET /v1/disputes…, signed in with SIWE); actions are DisputeResolver transactions sent from
 * the wallet, simulated first so that a refusal comes back as the contract's custom error.
 *
 * Units: amounts are token base units (bigint), shares basis points (6000 = 60 % to the agent).
 */
import type { Interface, Signer } from "ethers";
import { connectBuyerChain, type BuyerChain, type BuyerChainOptions } from "./buyer-chain.js";
import { BuyerError } from "./buyer-errors.js";
import { createSession, type AgentSigner, type Session } from "./session.js";
import { taskKey } from "../protocol/keys.js";
import { evidenceUri, rulingSplit, type Erc1497Evidence, type RulingSplit } from "../protocol/disputes.js";

/** A case as GET /v1/disputes lists it (amounts in base units, decimal strings). */
export type DisputeCase = {
  id: string;
  taskId: string;
  buyer: string;
  agent: string;
  arbitrator: string;
  openedBy: string;
  status: "awaiting_ruling" | "ruled" | "finalized";
  agentShareBps: number | null;
  appealed: boolean;
  ruleDeadline: string | null;
  appealDeadline: string | null;
  openedAt: string;
  timedOut: boolean;
  token: string | null;
  price: string | null;
  amount: string | null;
};

/** One case with the task and every piece of evidence (GET /v1/disputes/:id). */
export type DisputeDetail = {
  dispute: DisputeCase & { resultHash: string | null };
  task: { id: string; capability: string; input: unknown; output: unknown; resultHash: string | null; status: string } | null;
  evidence: { party: string; uri: string | null; text: string | null; source: "api" | "chain"; txHash: string | null; at: string }[];
};

/** Which cases to list: a status, or `open`, `appealed`, `timed_out`. */
export type CaseFilter = { status?: "awaiting_ruling" | "ruled" | "finalized" | "open" | "appealed" | "timed_out"; limit?: number; offset?: number };

export type DisputesOptions = {
  /** Coordinator base URL. */
  baseUrl: string;
  wallet: Signer & AgentSigner & { connect?(p: BuyerChain["provider"]): Signer };
  chain: BuyerChainOptions | BuyerChain;
  /** The escrow fee, bps, for the split preview; read from the task's escrow on-chain when omitted. */
  feeBps?: number;
};

export type Disputes = {
  readonly session: Session;
  readonly chain: BuyerChain;
  /** The cases assigned to this wallet (an arbitrator), newest first. @throws AicpHttpError 403 ARBITRATOR_ONLY */
  cases(f?: CaseFilter): Promise<DisputeCase[]>;
  /** One case. @throws AicpHttpError 404 DISPUTE_NOT_FOUND, 403 NOT_A_PARTY */
  get(id: string | bigint): Promise<DisputeDetail>;
  /** What a ruling of `agentShareBps` pays each side, before it is signed. */
  preview(id: string | bigint, agentShareBps: number): Promise<RulingSplit & { token: string; price: bigint; amount: bigint; feeBps: number }>;
  /** Rules a split (the assigned arbitrator). @throws BuyerError BAD_SHARE | TX_REVERTED (e.g. DisputeResolverNotArbitrator, DisputeResolverRuleDeadlinePassed) */
  rule(id: string | bigint, agentShareBps: number): Promise<{ txHash: string }>;
  /** Adds ERC-1497 evidence as a party (a `data:` URI of the JSON, or a URI given). @throws BuyerError TX_REVERTED (DisputeResolverNotParty, …) */
  addEvidence(id: string | bigint, evidence: Erc1497Evidence | { uri: string }): Promise<{ txHash: string; uri: string }>;
  /** Appeals a ruling as the losing side, within the appeal window. @throws BuyerError TX_REVERTED (DisputeResolverNotAppellant, DisputeResolverAppealWindowClosed, …) */
  appeal(id: string | bigint): Promise<{ txHash: string }>;
  /** Finalizes a ruling past its appeal window (anyone): TaskEscrow pays the split. @throws BuyerError TX_REVERTED (DisputeResolverAppealWindowOpen, …) */
  finalize(id: string | bigint): Promise<{ txHash: string }>;
  close(): void;
};

/** Creates the dispute client of a wallet. */
export function createDisputes(opts: DisputesOptions): Disputes {
  const chain = "provider" in opts.chain ? opts.chain : connectBuyerChain(opts.chain);
  const owned = !("provider" in opts.chain);
  const signer: Signer = !opts.wallet.provider && opts.wallet.connect ? opts.wallet.connect(chain.provider) : opts.wallet;
  const session = createSession({ baseUrl: opts.baseUrl, wallet: opts.wallet, chainId: chain.chainId });
  const from = opts.wallet.address.toLowerCase();

  async function sendResolver(fn: "rule" | "submitEvidence" | "appeal" | "finalize", args: unknown[], description: string) {
    const call = { to: chain.address("DisputeResolver"), data: (chain.resolver.interface as unknown as Interface).encodeFunctionData(fn, args), value: 0n, description };
    const refused = await chain.simulate(from, call);
    if (refused) throw new BuyerError("TX_REVERTED", `${description} was refused by the contract: ${refused}`, { reason: refused });
    return { txHash: (await chain.send(signer, call)).hash };
  }

  const api: Disputes = {
    session,
    chain,
    async cases(f = {}) {
      const q = new URLSearchParams();
      if (f.status) q.set("status", f.status);
      if (f.limit !== undefined) q.set("limit", String(f.limit));
      if (f.offset !== undefined) q.set("offset", String(f.offset));
      return (await session.request<{ items: DisputeCase[] }>("GET", `/v1/disputes${q.size ? `?${q}` : ""}`)).items;
    },
    get: (id) => session.request<DisputeDetail>("GET", `/v1/disputes/${id}`),
    async preview(id, agentShareBps) {
      const d = (await api.get(id)).dispute;
      if (d.price === null || d.amount === null || d.token === null) throw new BuyerError("NO_ESCROW", `Dispute ${id} has no indexed escrow yet.`);
      // The fee the escrow was funded under (it is fixed per escrow), unless given.
      const feeBps = opts.feeBps ?? Number((await chain.escrow.escrowOf(taskKey(d.taskId))).feeBps);
      const price = BigInt(d.price);
      const amount = BigInt(d.amount);
      return { ...rulingSplit(price, amount, agentShareBps, feeBps), token: d.token, price, amount, feeBps };
    },
    async rule(id, agentShareBps) {
      if (!Number.isInteger(agentShareBps) || agentShareBps < 0 || agentShareBps > 10_000) throw new BuyerError("BAD_SHARE", "The agent's share is whole basis points from 0 to 10000 (6000 = 60 %).");
      return sendResolver("rule", [BigInt(id), agentShareBps], `Ruling ${agentShareBps / 100} % to the agent on dispute ${id}`);
    },
    async addEvidence(id, evidence) {
      const uri = "uri" in evidence ? evidence.uri : evidenceUri(evidence);
      return { ...(await sendResolver("submitEvidence", [BigInt(id), uri], `Evidence on dispute ${id}`)), uri };
    },
    appeal: (id) => sendResolver("appeal", [BigInt(id)], `The appeal of dispute ${id}`),
    finalize: (id) => sendResolver("finalize", [BigInt(id)], `Finalizing dispute ${id}`),
    close() {
      if (owned) chain.close();
    },
  };
  return api;
}
