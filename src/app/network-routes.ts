import { z } from "zod";
import type { Api } from "../http/api.js";
import type { NetworkInfo } from "../protocol/network.js";

const Network = z
  .object({
    settlement: z.enum(["chain", "none"]),
    chain: z
      .object({
        kind: z.literal("evm"),
        chainId: z.number().int().openapi({ description: "EIP-155 chain id" }),
        rpcUrl: z.string().openapi({ description: "A JSON-RPC URL a wallet can add (EIP-3085)" }),
        confirmations: z.number().int().openapi({ description: "Blocks the indexer waits before applying an event" }),
        finality: z.number().int().openapi({ description: "Blocks after which an event is irreversible: deposits back promises and vouchers only from this depth" }),
        contracts: z.record(z.string(), z.string()).openapi({ description: "Contract addresses by name (TaskEscrow, DisputeResolver, PaymentChannels, ReputationAnchor, AICPTestToken)" }),
        tokens: z.array(
          z.object({
            address: z.string().openapi({ description: "0x000…000 is the native currency" }),
            symbol: z.string(),
            decimals: z.number().int(),
            escrowThreshold: z.string().openapi({ description: "route=auto: budgets at or above this (base units) go to escrow" }),
          }),
        ),
        feeBps: z.number().int().openapi({ description: "Platform fee on escrow releases, basis points" }),
        windows: z.object({
          acceptanceSeconds: z.number().int(),
          disputeRuleSeconds: z.number().int(),
          appealSeconds: z.number().int(),
          channelChallengeSeconds: z.number().int(),
          channelPaymentSeconds: z.number().int(),
        }),
      })
      .nullable(),
    chains: z
      .array(
        z.union([
          z.object({ kind: z.literal("evm"), chainId: z.number().int(), rpcUrl: z.string() }),
          z.object({
            kind: z.literal("substrate"),
            rpcUrl: z.string().openapi({ description: "ws:// URL of a node" }),
            genesisHash: z.string().openapi({ description: "SIWS `Chain ID` and the last field of every voucher" }),
            ss58Prefix: z.number().int(),
            runtime: z.string().openapi({ description: "specName/specVersion" }),
            native: z.object({ token: z.literal("native"), symbol: z.string(), decimals: z.number().int(), existentialDeposit: z.string() }),
            asset: z.object({ token: z.string().openapi({ description: "asset:<id>" }), assetId: z.number().int(), symbol: z.string(), decimals: z.number().int() }),
            custody: z.object({ threshold: z.number().int(), coordinator: z.string(), arbitrator: z.string() }).openapi({ description: "A buyer's custody account: the multisig of {buyer, coordinator, arbitrator}" }),
            treasury: z.string(),
            feeBps: z.number().int(),
            finality: z.literal("finalized heads"),
          }),
        ]),
      )
      .optional()
      .openapi({ description: "Every settlement chain: the EVM one and, when configured, the Substrate one" }),
    abis: z.record(z.string(), z.array(z.unknown())).optional().openapi({ description: "With ?abi=true: each contract's ABI" }),
  })
  .openapi("Network");

/** GET /v1/network (public): which chain, RPC, contracts, tokens, fee and windows this coordinator settles on. */
export function registerNetworkRoute(api: Api, network: (opts?: { abi?: boolean }) => Promise<NetworkInfo>) {
  api.route({
    method: "get",
    path: "/v1/network",
    summary: "The settlement chain a wallet, the SDKs and the CLI need: chain id, an RPC URL, contract addresses, accepted tokens (symbol, decimals, escrow threshold), fee in bps, windows in seconds, confirmation depth (no auth)",
    tags: ["network"],
    access: "public",
    query: z.object({ abi: z.enum(["true", "false"]).optional().openapi({ description: "Include each contract's ABI" }) }).strict(),
    response: Network,
    handler: ({ query }) => network({ abi: query.abi === "true" }),
  });
}
