/**
 * What a wallet, the SDKs, the CLI and the demo need to talk to this coordinator's settlement
 * chain (GET /v1/network, no auth). Amounts in token base units (decimal strings), windows in
 * seconds, the fee in basis points.
 */
export type NetworkInfo = {
  /** "chain": tasks settle on `chain`; "none": off-chain only (SETTLEMENT=none). */
  settlement: "chain" | "none";
  chain: {
    kind: "evm";
    /** EIP-155 chain id. */
    chainId: number;
    /** A JSON-RPC URL a wallet can add (EIP-3085); PUBLIC_RPC_URL, else the coordinator's own. */
    rpcUrl: string;
    /** Blocks the indexer waits before it applies (and shows) an event. */
    confirmations: number;
    /** Blocks after which an event is taken as irreversible: deposits back promises and vouchers only from this depth. */
    finality: number;
    /** Contract addresses by name (lower-case). */
    contracts: Record<string, string>;
    /** Accepted tokens; `address` 0x000…000 is the native currency. */
    tokens: { address: string; symbol: string; decimals: number; escrowThreshold: string }[];
    feeBps: number;
    windows: { acceptanceSeconds: number; disputeRuleSeconds: number; appealSeconds: number; channelChallengeSeconds: number; channelPaymentSeconds: number };
  } | null;
  /** Every settlement chain of this coordinator: the EVM one (`chain`, when there is one) and the Substrate one. */
  chains?: ({ kind: "evm"; chainId: number; rpcUrl: string } | SubstrateChainInfo)[];
  /** With `?abi=true`: each contract's ABI (JSON), so that a client needs no deployments file. */
  abis?: Record<string, unknown[]>;
};

/**
 * A Substrate settlement chain (Asset Hub's standard pallets; src/chain/substrate). Accounts are
 * SS58 with `ss58Prefix`; amounts in planck (`native`) or the asset's base units; tokens are named
 * `native` and `asset:<id>`.
 */
export type SubstrateChainInfo = {
  kind: "substrate";
  /** ws:// or wss:// URL of a node (what polkadot.js apps or @polkadot/api connect to). */
  rpcUrl: string;
  /** The chain's genesis hash: SIWS messages' `Chain ID` and the last field of every voucher. */
  genesisHash: string;
  ss58Prefix: number;
  /** `specName/specVersion` of the runtime. */
  runtime: string;
  native: { token: "native"; symbol: string; decimals: number; existentialDeposit: string };
  asset: { token: string; assetId: number; symbol: string; decimals: number };
  /** Each buyer's custody account is the multisig of {buyer, coordinator, arbitrator} with this threshold. */
  custody: { threshold: number; coordinator: string; arbitrator: string };
  treasury: string;
  feeBps: number;
  /** Seconds: a buyer's acceptance window after delivery, the arbitrator's to rule, the appeal window before a ruling executes. */
  windows: { acceptance: number; rule: number; appeal: number };
  /** Escrow threshold per token (base units): budgets at or above settle on the escrow route. */
  escrowThresholds: Record<string, string>;
  /** The routes tasks of Substrate accounts can take here. */
  routes: ("escrow" | "channel")[];
  /** The indexer applies finalized blocks only. */
  finality: "finalized heads";
};
