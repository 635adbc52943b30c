/** Wire types of settlement that wallets, SDKs and the CLI receive from the coordinator. */

/**
 * A call the user sends from their own wallet, ready to hand to `eth_sendTransaction` (or a
 * wallet library): JSON-ready, `value` in wei as a decimal string.
 */
export type UnsignedCall = { to: string; data: string; value: string; description: string };

/**
 * EIP-712 typed data of an ERC-2612 `Permit(owner, spender, value, nonce, deadline)`, in the
 * shape `eth_signTypedData_v4` and ethers' `signTypedData(domain, types, message)` take.
 */
export type PermitTypedData = {
  domain: { name: string; version: string; chainId: number; verifyingContract: string };
  types: { Permit: { name: string; type: string }[] };
  primaryType: "Permit";
  message: { owner: string; spender: string; value: string; nonce: string; deadline: string };
};

/**
 * How a buyer funds a task's escrow from their own wallet.
 * - native currency: `calls` = one `fund` call carrying `value`;
 * - ERC-20: `calls` = `approve(escrow, amount)` on the token, then `fund`;
 * - ERC-20 with ERC-2612: also `permit`, the one-transaction alternative — sign
 *   `permit.typedData`, then send the `fundWithPermit` call that
 *   `SettlementBackend.permitCall(task, signature)` builds (v, r, s filled in).
 */
export type FundingPlan = {
  /** The outbox/indexer chain name of the backend, e.g. `evm`. */
  chain: string;
  chainId: number;
  /** The escrow contract the buyer funds (lower-case). */
  escrow: string;
  /** The task's id on-chain (bytes32 hex: the UUID's 16 bytes, right-padded). */
  taskKey: string;
  token: string;
  /** The budget, token base units, decimal string. */
  amount: string;
  /** The task's deadline, unix seconds. */
  deadline: number;
  /**
   * The coordinator's EIP-712 FundingAuthorization for this buyer, token, amount and deadline
   * (65-byte 0x hex; src/protocol/eip712.ts): the last argument of `fund` and `fundWithPermit`.
   */
  authorization: string;
  /** Send these in order from the buyer's wallet. */
  calls: UnsignedCall[];
  /** Present when the token implements ERC-2612 (and the chain answered the nonce lookup). */
  permit?: {
    typedData: PermitTypedData;
    /** What `permitCall` encodes once the typed data is signed. */
    fundWithPermit: {
      to: string;
      signature: "fundWithPermit(bytes32,address,uint256,uint64,uint256,uint8,bytes32,bytes32,bytes)";
      args: { taskId: string; token: string; amount: string; deadline: number; permitDeadline: number; authorization: string };
    };
  };
};


/**
 * A Substrate call for the user's own account to sign and submit: the SCALE-encoded call
 * (`api.tx(call)` in @polkadot/api, or a wallet extension's `signPayload`), on the chain whose
 * genesis hash is `genesisHash`.
 */
export type SubstrateCall = {
  chain: "substrate";
  genesisHash: string;
  /** The call's SCALE bytes, 0x hex (its method, without signature). */
  call: string;
  description: string;
};

/**
 * How a buyer funds a task's escrow on Substrate: one `utility.batchAll` of the transfer of
 * `amount + opening` into the buyer's custody account (the 2-of-3 multisig of buyer, coordinator
 * and arbitrator) and the `fund` remark carrying the coordinator's funding authorization.
 */
export type SubstrateFundingPlan = {
  chain: "substrate";
  genesisHash: string;
  /** The buyer's custody account (SS58 with the chain's prefix). */
  custody: string;
  /** The task's UUID. */
  taskKey: string;
  /** `native` or `asset:<id>`. */
  token: string;
  /** The budget, token base units, decimal string. */
  amount: string;
  /** What a first funding adds so the custody account exists (its existential deposit), base units. */
  opening: string;
  /** unix seconds */
  deadline: number;
  /** The coordinator's sr25519 funding authorization (0x hex, 64 bytes). */
  authorization: string;
  calls: SubstrateCall[];
};

/** The settlement chains a coordinator may serve (outbox, indexer and task `chain` names). */
export type SettlementChain = "evm" | "substrate";

/**
 * The chain an account settles on: a 20-byte address (0x + 40 hex) is an EVM account, a 32-byte
 * AccountId32 (0x + 64 hex, what Sign-In with Substrate sessions name) a Substrate one.
 */
export const chainOfAccount = (account: string): SettlementChain => (account.length === 66 ? "substrate" : "evm");

/** Whether `token` names a token of `chain`: an 0x address on the EVM; `native` or `asset:<id>` on Substrate. */
export const tokenFitsChain = (chain: SettlementChain, token: string): boolean =>
  chain === "evm" ? /^0x[0-9a-f]{40}$/.test(token) : /^(native|asset:\d{1,10})$/.test(token);
