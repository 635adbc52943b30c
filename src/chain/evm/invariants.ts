import { Contract } from "ethers";
import type { Queryable } from "../../db/index.js";
import type { EvmChain } from "./chain.js";
import { contractSums, unbalancedGroups } from "../../ledger/store.js";

const NATIVE = "0x0000000000000000000000000000000000000000";
const ERC20 = ["function balanceOf(address) view returns (uint256)"];

/** One broken invariant; amounts in token base units (decimal strings). */
export type InvariantViolation =
  | { kind: "escrow-balance" | "channels-balance"; token: string; block: number | "latest"; onChain: string; ledger: string; message: string }
  | { kind: "unbalanced-group"; token: string; group: string; sum: string; message: string };

/**
 * The money invariants between the chain and the ledger (DESIGN.md, "Invariants": money is
 * conserved to the base unit, on-chain and in the ledger), checked at the indexer's cursor
 * block so blocks not yet applied (confirmation depth) do not count:
 *
 * - for every token seen (native, the deployment's test token, every token in the ledger),
 *   TaskEscrow's balance (`eth_getBalance` or ERC-20 `balanceOf`) = Σ `escrow:*` +
 *   Σ `escrow-credit:*` + `treasury`;
 * - PaymentChannels' balance = Σ `channel-*` (deposit, promise, owed, claimable);
 * - every ledger group sums to zero per token (double entry).
 *
 * Tokens sent to a contract without a call (a plain ERC-20 transfer) show up as a violation:
 * they are on-chain but in no account.
 * @param chain the EVM connection (its deployment names the contracts)
 * @param opts.name the indexer's chain name (default `evm`); `opts.block` overrides the block
 * @returns the violations, empty when everything holds
 */
export async function checkChainInvariants(db: Queryable, chain: EvmChain, opts: { name?: string; block?: number } = {}): Promise<InvariantViolation[]> {
  const out: InvariantViolation[] = [];
  for (const g of await unbalancedGroups(db))
    out.push({ kind: "unbalanced-group", token: g.token, group: g.group, sum: g.sum.toString(), message: `ledger group ${g.group} sums to ${g.sum} in ${g.token}` });

  // One statement, one snapshot: the cursor and the sums agree even while the indexer applies.
  const snap = await contractSums(db, opts.name ?? "evm");

  const cursorBlock = snap.block;
  const block: number | "latest" = opts.block ?? (cursorBlock ? Number(cursorBlock) : "latest");
  const sums = snap.sums;
  const tokens = new Set([NATIVE, ...sums.keys()]);
  if (chain.deployment.contracts["AICPTestToken"]) tokens.add(chain.address("AICPTestToken"));

  const balanceOf = async (token: string, holder: string): Promise<bigint> =>
    token === NATIVE
      ? chain.provider.getBalance(holder, block)
      : ((await new Contract(token, ERC20, chain.provider).getFunction("balanceOf")(holder, { blockTag: block })) as bigint);

  const escrow = chain.address("TaskEscrow");
  const channels = chain.address("PaymentChannels");
  for (const token of tokens) {
    const [escrowOnChain, channelsOnChain] = await Promise.all([balanceOf(token, escrow), balanceOf(token, channels)]);
    const escrowLedger = sums.get(token)?.escrow ?? 0n;
    const channelsLedger = sums.get(token)?.channels ?? 0n;
    if (escrowOnChain !== escrowLedger)
      out.push({
        kind: "escrow-balance", token, block, onChain: escrowOnChain.toString(), ledger: escrowLedger.toString(),
        message: `TaskEscrow holds ${escrowOnChain} of ${token} at block ${block}, the ledger's escrow:*, escrow-credit:* and treasury ${escrowLedger}`,
      });
    if (channelsOnChain !== channelsLedger)
      out.push({
        kind: "channels-balance", token, block, onChain: channelsOnChain.toString(), ledger: channelsLedger.toString(),
        message: `PaymentChannels holds ${channelsOnChain} of ${token} at block ${block}, the ledger's channel-* ${channelsLedger}`,
      });
  }
  return out;
}
