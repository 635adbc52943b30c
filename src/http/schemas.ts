import { z } from "zod";
import { getAddress, isAddress } from "ethers";
import "./api.js"; // extends zod with .openapi()

/** An EVM address, any case; normalised to lower-case hex for storage and comparison. */
export const Address = z
  .string()
  .max(42)
  .refine((s) => /^0x[0-9a-fA-F]{40}$/.test(s) && isAddress(s), "must be a 0x-prefixed 20-byte hex address")
  .transform((s) => getAddress(s).toLowerCase())
  .openapi({ example: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", type: "string" });

/**
 * An account of either settlement chain: an EVM address (any case) or a Substrate AccountId32 as
 * 0x hex (what a Sign-In with Substrate session names); normalised to lower-case hex.
 */
export const Account = z
  .string()
  .max(66)
  .refine((s) => (/^0x[0-9a-fA-F]{40}$/.test(s) && isAddress(s)) || /^0x[0-9a-fA-F]{64}$/.test(s), "must be a 0x-prefixed 20-byte EVM address or a 32-byte Substrate account id")
  .transform((s) => (s.length === 42 ? getAddress(s).toLowerCase() : s.toLowerCase()))
  .openapi({ example: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", type: "string" });

/**
 * A token of either settlement chain: an ERC-20 address (0x000…000 for the native currency) on the
 * EVM, normalised to lower-case; `native` (planck) or `asset:<id>` (pallet-assets) on Substrate.
 */
export const Token = z
  .string()
  .max(42)
  .refine((s) => (/^0x[0-9a-fA-F]{40}$/.test(s) && isAddress(s)) || /^(native|asset:\d{1,10})$/.test(s), 'must be an ERC-20 address (0x…, 20 bytes), or on Substrate "native" or "asset:<id>"')
  .transform((s) => (s.startsWith("0x") ? getAddress(s).toLowerCase() : s))
  .openapi({ example: "0x5fbdb2315678afecb367f032d93f642f64180aa3", type: "string" });

/**
 * An amount in token base units as a decimal string (exact: never a JS number), below 2^256.
 * @param min smallest accepted value
 */
export const Amount = (min = 0n) =>
  z
    .string()
    .max(78)
    .regex(/^(0|[1-9]\d*)$/, "must be a non-negative integer in base units, as a decimal string")
    .transform((s) => BigInt(s))
    .refine((v) => v >= min && v < 2n ** 256n, `must be at least ${min} and below 2^256`)
    .openapi({ type: "string", example: "1500000", description: "token base units (decimal string)" });

export const Capability = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "lower-case letters, digits, '.', '_' or '-'")
  .openapi({ example: "text.summarize" });

export const Uuid = z.string().uuid().openapi({ type: "string", format: "uuid" });

export const Pagination = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const IdParams = z.object({ id: Uuid });

/** A call for the user's wallet to send: `value` in wei (decimal string). */
export const WalletCallSchema = z.object({ to: z.string(), data: z.string(), value: z.string(), description: z.string() }).openapi("WalletCall");

/** How a buyer funds a task's escrow from the wallet (src/protocol/settlement.ts FundingPlan). */
export const FundingPlanSchema = z
  .object({
    chain: z.string(),
    chainId: z.number().int(),
    escrow: z.string().openapi({ description: "TaskEscrow address" }),
    taskKey: z.string().openapi({ description: "The task's bytes32 id on-chain" }),
    token: z.string(),
    amount: z.string().openapi({ description: "The budget, token base units" }),
    deadline: z.number().int().openapi({ description: "unix seconds" }),
    authorization: z.string().openapi({ description: "The coordinator's EIP-712 FundingAuthorization signature" }),
    calls: z.array(WalletCallSchema).openapi({ description: "approve (ERC-20) then fund, in order" }),
    permit: z
      .object({
        typedData: z.object({
          domain: z.object({ name: z.string(), version: z.string(), chainId: z.number(), verifyingContract: z.string() }),
          types: z.object({ Permit: z.array(z.object({ name: z.string(), type: z.string() })) }),
          primaryType: z.literal("Permit"),
          message: z.object({ owner: z.string(), spender: z.string(), value: z.string(), nonce: z.string(), deadline: z.string() }),
        }),
        fundWithPermit: z.object({ to: z.string(), signature: z.string(), args: z.record(z.string(), z.union([z.string(), z.number()])) }),
      })
      .optional()
      .openapi({ description: "ERC-2612: sign typedData, then send fundWithPermit (one transaction)" }),
  })
  .openapi("FundingPlan");
