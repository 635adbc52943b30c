import { z } from "zod";
import { getAddress } from "ethers";
import { requireSelf, type Api } from "../http/api.js";
import { Account, Amount } from "../http/schemas.js";
import type { ChannelService } from "./service.js";
import { forbidden } from "../errors.js";
import { tokenFitsChain } from "../protocol/settlement.js";

const Signature = z
  .string()
  .regex(/^0x([0-9a-fA-F]{128}|[0-9a-fA-F]{130})$/, "must be a 65-byte signature r ‖ s ‖ v (EVM) or a 64-byte sr25519/ed25519 signature (Substrate) as 0x hex")
  .openapi({ description: "The payer's EIP-712 signature (eth_signTypedData_v4) of the Voucher; a Substrate payer's signature of its SCALE payload" });

/**
 * An address in a voucher, normalised to lower case. Same rule as `Address`, cheaper on the hot
 * path: only a mixed-case address carries an EIP-55 checksum worth checking (one keccak256).
 */
const VoucherAddress = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "must be a 0x-prefixed 20-byte hex address")
  // zod runs refinements even when the regex failed: only a well-formed address is checksummed
  // (getAddress throws on anything else, which would be a 500).
  .refine(
    (s) => !/^0x[0-9a-fA-F]{40}$/.test(s) || s.slice(2) === s.slice(2).toLowerCase() || s.slice(2) === s.slice(2).toUpperCase() || getAddress(s.toLowerCase()) === s,
    "has a wrong EIP-55 checksum",
  )
  .transform((s) => s.toLowerCase())
  .openapi({ example: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", type: "string" });

/** A Substrate AccountId32 (0x hex) or token (`native`, `asset:<id>`) in a Substrate payer's voucher. */
const SubstrateAccount = z.string().regex(/^0x[0-9a-fA-F]{64}$/).transform((s) => s.toLowerCase());
const SubstrateToken = z.string().refine((s) => tokenFitsChain("substrate", s), 'must be "native" or "asset:<id>"');

export const VoucherBody = z
  .object({
    payer: z.union([VoucherAddress, SubstrateAccount]),
    payee: z.union([VoucherAddress, SubstrateAccount]),
    token: z.union([VoucherAddress, SubstrateToken]).openapi({ description: "ERC-20 address, or 0x000…000 for the native currency; native or asset:<id> on Substrate" }),
    cumulativeAmount: Amount(1n).openapi({ description: "Running total for the pair over the channel's life, token base units" }),
    signature: Signature,
  })
  .strict()
  .openapi("Voucher", {
    description:
      "EIP-712 `Voucher(address payer,address payee,address token,uint256 cumulativeAmount)` under the domain " +
      '{name: "AICP PaymentChannels", version: "1", chainId, verifyingContract: PaymentChannels}.',
  });

const Receipt = z
  .object({
    payer: z.string(),
    payee: z.string(),
    token: z.string(),
    cumulativeAmount: z.string(),
    increase: z.string(),
    taskIds: z.array(z.string()),
    idempotent: z.boolean(),
  })
  .openapi("VoucherReceipt");

const AuthorizationView = z
  .object({
    digest: z.string().openapi({ description: "EIP-712 digest: the authorization's id on-chain (PaymentChannels.claimedOf)" }),
    token: z.string(),
    salt: z.string(),
    maxAmount: z.string().openapi({ description: "Cap over the authorization's life, token base units" }),
    committed: z.string().openapi({ description: "Σ budgets of channel-route tasks that drew on it, token base units" }),
    claimed: z.string().openapi({ description: "Σ confirmed claims under it, token base units" }),
    expiresAt: z.string(),
  })
  .openapi("DeliveryAuthorizationView");

export const DeliveryAuthorizationBody = z
  .object({
    payer: VoucherAddress.optional().openapi({ description: "The signed-in wallet (optional; must match it)" }),
    token: VoucherAddress.openapi({ description: "ERC-20 address, or 0x000…000 for the native currency" }),
    salt: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be 32 bytes as 0x hex"),
    maxAmount: Amount(1n).openapi({ description: "Most the coordinator may claim under it in total, token base units" }),
    expiry: z
      .union([z.number().int().positive(), z.string().regex(/^[1-9]\d{0,18}$/)])
      .transform((v) => BigInt(v))
      .refine((v) => v < 2n ** 64n, "must fit uint64")
      .openapi({ type: "string", description: "Unix seconds after which no claim is accepted" }),
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "must be a 65-byte signature r ‖ s ‖ v as 0x hex"),
  })
  .strict()
  .openapi("DeliveryAuthorization", {
    description:
      "EIP-712 `DeliveryAuthorization(address payer,address token,bytes32 salt,uint256 maxAmount,uint64 expiry)` signed by the payer (the signed-in wallet) under the vouchers' domain " +
      '{name: "AICP PaymentChannels", version: "1", chainId, verifyingContract: PaymentChannels}.',
  });

const ChannelView = z
  .object({
    payer: z.string(),
    authorizations: z.array(AuthorizationView),
    accounts: z.array(
      z.object({
        token: z.string(),
        deposit: z.string(),
        settled: z.string(),
        owed: z.string(),
        promised: z.string(),
        available: z.string(),
        withdrawal: z.object({ availableAt: z.string() }).nullable(),
      }),
    ),
    pairs: z.array(
      z.object({
        payee: z.string(),
        token: z.string(),
        accepted: z.string(),
        settled: z.string(),
        due: z.string(),
        nextCumulativeAmount: z.string(),
        dueTaskIds: z.array(z.string()),
      }),
    ),
  })
  .openapi("Channels");

/** Most vouchers in one POST /v1/vouchers/batch. */
export const VOUCHER_BATCH_MAX = 500;

/**
 * GET /v1/channels/:payer (the payer or the operator: promised and owed amounts are the
 * payer's business; the deposit itself is public on-chain), POST /v1/vouchers and
 * POST /v1/vouchers/batch (public: the payer's EIP-712 signature is the authorisation, so a
 * voucher may be relayed by anyone, as settleBatch itself may).
 */
export function registerChannelRoutes(api: Api, channels: ChannelService) {
  api.route({
    method: "get",
    path: "/v1/channels/:payer",
    summary:
      "A payer's channels per token (deposit, settled, owed, promised, available = deposit − owed − promised, pending withdrawal) and, per payee, what is due now and the next voucher's cumulative amount (the payer or the operator)",
    tags: ["channels"],
    access: "user",
    params: z.object({ payer: Account }),
    response: ChannelView,
    handler: ({ params, principal }) => channels.view(requireSelf(principal, params.payer)),
  });
  api.route({
    method: "post",
    path: "/v1/channels/authorizations",
    summary:
      "Register the signed-in buyer's EIP-712 DeliveryAuthorization: channel-route tasks draw on it, and the coordinator claims delivered work under it (PaymentChannels.claimDelivered) when the buyer withdraws the deposit or does not pay within CHANNEL_PAYMENT_WINDOW_S. " +
      "Idempotent on the authorization. Errors: AUTHORIZATION_FORGED, AUTHORIZATION_EXPIRED",
    tags: ["channels"],
    access: "user",
    body: DeliveryAuthorizationBody,
    response: AuthorizationView,
    status: 201,
    handler: async ({ body, principal }) => {
      if (!principal.address) throw forbidden("WALLET_REQUIRED", "Sign in with the buyer's wallet: an authorization is the signed-in payer's.");
      if (body.payer !== undefined && body.payer !== principal.address) throw forbidden("NOT_OWNER", "An authorization is registered by its payer: sign in with that wallet.");
      return channels.authorize(principal.address, body);
    },
  });
  api.route({
    method: "post",
    path: "/v1/vouchers",
    summary:
      "Pay for delivered channel-route tasks with a cumulative EIP-712 voucher; releases their outputs. The signature is the authorisation (anyone may relay it). " +
      "Errors: VOUCHER_FORGED, VOUCHER_WRONG_DOMAIN, VOUCHER_REPLAYED, VOUCHER_STALE, VOUCHER_WRONG_AMOUNT, VOUCHER_OVERDRAWN; the identical last voucher again answers 200 with idempotent: true",
    tags: ["channels"],
    access: "public",
    body: VoucherBody,
    response: Receipt,
    handler: ({ body }) => channels.submit(body),
  });
  api.route({
    method: "post",
    path: "/v1/vouchers/batch",
    summary: `Up to ${VOUCHER_BATCH_MAX} vouchers at once (e.g. a buyer paying many agents); each is accepted or refused on its own, as POST /v1/vouchers would`,
    tags: ["channels"],
    access: "public",
    body: z.object({ vouchers: z.array(VoucherBody).min(1).max(VOUCHER_BATCH_MAX) }).strict(),
    response: z.object({
      results: z.array(z.union([z.object({ ok: z.literal(true), receipt: Receipt }), z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string(), status: z.number(), details: z.unknown().optional() }) })])),
    }),
    handler: async ({ body }) => ({ results: await channels.submitMany(body.vouchers) }),
  });
}
