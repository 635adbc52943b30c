import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import { Amount } from "../http/schemas.js";
import { conflict } from "../errors.js";
import type { SubstrateChain } from "../chain/substrate/chain.js";
import { chainOfAccount, tokenFitsChain, type SubstrateCall } from "../protocol/settlement.js";

/**
 * Routes only the Substrate backend has: the channel deposit of a Substrate buyer, as a call for
 * its own account — `utility.batchAll[transferKeepAlive → the buyer's custody multisig,
 * remark(deposit)]`, with the custody account's existential deposit on the first one (base units).
 */
export function registerSubstrateRoutes(api: Api, substrate: SubstrateChain) {
  api.route({
    method: "post",
    path: "/v1/channels/deposit-call",
    summary: "Substrate buyers: the call that deposits into your channel balance (your custody account); EVM buyers deposit into PaymentChannels from the wallet",
    tags: ["channels"],
    access: "buyer",
    body: z.object({ token: z.string().refine((t) => tokenFitsChain("substrate", t), 'must be "native" or "asset:<id>"'), amount: Amount(1n) }).strict(),
    response: z.object({ custody: z.string(), opening: z.string(), call: z.object({ chain: z.literal("substrate"), genesisHash: z.string(), call: z.string(), description: z.string() }) }),
    handler: async ({ body, principal }) => {
      const buyer = walletOf(principal);
      if (chainOfAccount(buyer) !== "substrate") throw conflict("DEPOSIT_FROM_WALLET", "EVM accounts deposit into PaymentChannels from the wallet (deposit(token, amount)).");
      const s = substrate.settlement;
      const opening = await s.openingAmount(buyer, body.token);
      const custody = s.custody(buyer).account;
      const call: SubstrateCall = {
        chain: "substrate",
        genesisHash: s.genesisHash,
        call: s.depositCall(buyer, body.token, body.amount, opening).method.toHex(),
        description: `deposit ${body.amount} base units of ${body.token} into your channel balance (custody ${custody})${opening ? `, plus ${opening} to open the custody account` : ""}`,
      };
      return { custody, opening: opening.toString(), call };
    },
  });
}
