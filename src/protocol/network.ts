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
  /** With `?abi=true`: each contract's ABI (JSON), so that a client needs no deployments file. */
  abis?: Record<string, unknown[]>;
};
