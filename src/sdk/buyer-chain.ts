/**
 * The buyer's side of the chain: a provider, the deployed TaskEscrow and PaymentChannels (from
 * `deployments/<network>.json`, as scripts/deploy.ts writes it), ERC-20 metadata, and sending
 * calls from the buyer's own wallet with contract reverts decoded into readable errors.
 */
import { Contract, Interface, JsonRpcProvider, getAddress, type ContractRunner, type InterfaceAbi, type Signer, type TransactionReceipt } from "ethers";
import type { DisputeResolver, PaymentChannels, TaskEscrow } from "../protocol/contracts.js";
import { readDeployment, type Deployment } from "../protocol/deployment.js";
import { NATIVE_TOKEN, type TokenInfo } from "./buyer-amounts.js";
import { BuyerError } from "./buyer-errors.js";

/**
 * Where the chain is: the node's JSON-RPC URL and the deployments file of that network, or the
 * deployment itself (e.g. from the coordinator's GET /v1/network?abi=true: {@link chainFromNetwork}).
 */
export type BuyerChainOptions = {
  /** e.g. `http://127.0.0.1:8545`. */
  rpcUrl: string;
  /** e.g. `deployments/localhost.json` (unless `deployment` is given). */
  deploymentsFile?: string;
  /** The deployment (chain id, addresses, ABIs), instead of a file. */
  deployment?: Deployment;
  /** Blocks to wait for after each transaction of the buyer; default 1 (the inclusion block). */
  confirmations?: number;
};

/** A call to send from the wallet: `value` in wei (bigint or a decimal string). */
export type WalletCall = { to: string; data: string; value: bigint | string; description?: string };

/** The chain as the buyer SDK sees it. */
export type BuyerChain = {
  readonly provider: JsonRpcProvider;
  readonly chainId: number;
  readonly deployment: Deployment;
  /** TaskEscrow, read-only (connect a signer to send). */
  readonly escrow: TaskEscrow;
  /** PaymentChannels, read-only (connect a signer to send). */
  readonly channels: PaymentChannels;
  /** DisputeResolver, read-only. @throws BuyerError NOT_DEPLOYED on use when the deployment lacks it */
  readonly resolver: DisputeResolver;
  /** Lower-case address of a deployed contract. @throws BuyerError NOT_DEPLOYED */
  address(name: "TaskEscrow" | "PaymentChannels" | "DisputeResolver" | "AICPTestToken"): string;
  /** The token the deployment ships for local use (AICPTestToken, "tUSD"), if any; else the native currency. */
  readonly defaultToken: string;
  /**
   * A token address from an address, `native` / `eth`, or the symbol of a token of this
   * deployment (e.g. `tUSD`).
   * @throws BuyerError UNKNOWN_TOKEN
   */
  resolveToken(spec: string): Promise<string>;
  /** Symbol and decimals (read once per token; the native currency is ETH with 18). */
  tokenInfo(token: string): Promise<TokenInfo>;
  /** An ERC-20 (balanceOf, allowance, approve, decimals, symbol) bound to `runner`. */
  erc20(token: string, runner?: ContractRunner): Contract;
  /**
   * Sends `call` from `signer` and waits for its confirmations.
   * @throws BuyerError TX_REVERTED (with the contract's custom error), INSUFFICIENT_FUNDS, CHAIN_UNREACHABLE
   */
  send(signer: Signer, call: WalletCall): Promise<TransactionReceipt>;
  /**
   * Runs `call` from `from` against the pending block without sending it.
   * @returns undefined when it would succeed, else the contract's revert reason
   * @throws BuyerError CHAIN_UNREACHABLE (or TX_FAILED) when the node does not answer the simulation
   */
  simulate(from: string, call: WalletCall): Promise<string | undefined>;
  /** The latest block's timestamp, ms: the contracts' clock. */
  chainTimeMs(): Promise<number>;
  close(): void;
};

const ERC20_ABI = [
  "function balanceOf(address) view returns (uint256)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function approve(address spender, uint256 amount) returns (bool)",
  "function decimals() view returns (uint8)",
  "function symbol() view returns (string)",
  "function nonces(address owner) view returns (uint256)",
  "function name() view returns (string)",
];

/**
 * Connects to the chain of a deployments file.
 * @throws BuyerError NOT_DEPLOYED when the file does not exist or lacks TaskEscrow or PaymentChannels
 */
export function connectBuyerChain(opts: BuyerChainOptions): BuyerChain {
  let deployment: Deployment | undefined = opts.deployment;
  if (!deployment) {
    if (!opts.deploymentsFile) throw new BuyerError("NOT_DEPLOYED", "Give the chain's deployments file, or its deployment (see chainFromNetwork).");
    try {
      deployment = readDeployment(opts.deploymentsFile);
    } catch (err) {
      throw new BuyerError("NOT_DEPLOYED", `Cannot read the deployments file ${opts.deploymentsFile}: ${(err as Error).message}`);
    }
  }
  if (!deployment) throw new BuyerError("NOT_DEPLOYED", `No deployments file at ${opts.deploymentsFile}; deploy the contracts first (npm run deploy:localhost) or point --deployments / DEPLOYMENTS_FILE at it.`);
  const d = deployment;
  const provider = new JsonRpcProvider(opts.rpcUrl, d.chainId, { staticNetwork: true, pollingInterval: 250 });
  const confirmations = opts.confirmations ?? 1;
  const address = (name: string): string => {
    const c = d.contracts[name];
    if (!c) throw new BuyerError("NOT_DEPLOYED", `${name} is missing from ${opts.deploymentsFile ?? "the deployment"}.`);
    return c.address.toLowerCase();
  };
  const contract = <T>(name: string) => new Contract(address(name), d.contracts[name]!.abi as InterfaceAbi, provider) as unknown as T;
  const escrow = contract<TaskEscrow>("TaskEscrow");
  const channels = contract<PaymentChannels>("PaymentChannels");
  let resolver: DisputeResolver | undefined;
  // Every ABI of the deployment, to decode a custom error whichever contract raised it.
  const errors = new Interface(Object.values(d.contracts).flatMap((c) => (c.abi as { type?: string }[]).filter((f) => f.type === "error")) as InterfaceAbi);
  const infos = new Map<string, Promise<TokenInfo>>();
  const nextNonce = new Map<string, number>();
  const testToken = d.contracts["AICPTestToken"]?.address.toLowerCase();

  function revertReason(err: unknown): string | undefined {
    const e = err as { code?: string; data?: unknown; revert?: { name: string; args: unknown[] } | null; reason?: string | null; info?: { error?: { message?: string; data?: unknown } }; message?: string };
    if (e?.code !== "CALL_EXCEPTION") return undefined;
    const data = typeof e.data === "string" ? e.data : typeof e.info?.error?.data === "string" ? e.info.error.data : undefined;
    if (data && data.length >= 10) {
      try {
        const parsed = errors.parseError(data);
        if (parsed) return `${parsed.name}(${parsed.fragment.inputs.map((p, i) => `${p.name || i}=${String(parsed.args[i])}`).join(", ")})`;
      } catch {
        /* not one of ours */
      }
      if (e.revert) return `${e.revert.name}(${e.revert.args.map(String).join(", ")})`;
      return `unknown custom error ${data.slice(0, 10)}`;
    }
    return e.reason ?? "execution reverted without a reason";
  }

  function sendError(err: unknown, what: string): BuyerError {
    if (err instanceof BuyerError) return err;
    const reason = revertReason(err);
    if (reason) return new BuyerError("TX_REVERTED", `${what} was refused by the contract: ${reason}`, { reason });
    const e = err as { code?: string; message?: string; shortMessage?: string; error?: { message?: string } };
    // ethers does not map every node error ("could not coalesce error"): the node's own message says more.
    const msg = e.code === "UNKNOWN_ERROR" && e.error?.message ? e.error.message : (e.shortMessage ?? e.message ?? String(err));
    if (e.code === "UNKNOWN_ERROR" && /revert/i.test(msg)) return new BuyerError("TX_REVERTED", `${what} reverted on-chain: ${msg}`, { reason: msg });
    if (e.code === "INSUFFICIENT_FUNDS" || /insufficient funds/i.test(msg)) return new BuyerError("INSUFFICIENT_FUNDS", `${what}: the wallet cannot pay for it (value plus gas): ${msg}`);
    if (e.code === "NETWORK_ERROR" || e.code === "TIMEOUT" || /ECONNREFUSED|fetch failed|socket hang up/i.test(msg))
      return new BuyerError("CHAIN_UNREACHABLE", `${what}: the chain at ${opts.rpcUrl} does not answer (${msg}).`);
    return new BuyerError("TX_FAILED", `${what} failed: ${msg}`);
  }

  function tokenInfo(token: string): Promise<TokenInfo> {
    const t = token.toLowerCase();
    let p = infos.get(t);
    if (!p) {
      p = (async (): Promise<TokenInfo> => {
        if (t === NATIVE_TOKEN) return { address: t, symbol: "ETH", decimals: 18 };
        const c = new Contract(t, ERC20_ABI, provider);
        try {
          const [symbol, decimals] = await Promise.all([c.getFunction("symbol")() as Promise<string>, c.getFunction("decimals")() as Promise<bigint>]);
          return { address: t, symbol, decimals: Number(decimals) };
        } catch (err) {
          const e = sendError(err, `Reading the token ${t}`);
          if (e.code === "CHAIN_UNREACHABLE") throw e;
          throw new BuyerError("UNKNOWN_TOKEN", `${t} does not answer symbol() and decimals() like an ERC-20 on chain ${d.chainId}.`);
        }
      })();
      p.catch(() => infos.delete(t));
      infos.set(t, p);
    }
    return p;
  }

  return {
    provider,
    chainId: d.chainId,
    deployment: d,
    escrow,
    channels,
    get resolver() {
      return (resolver ??= contract<DisputeResolver>("DisputeResolver"));
    },
    address: (name) => address(name),
    defaultToken: testToken ?? NATIVE_TOKEN,
    async resolveToken(spec) {
      const s = spec.trim();
      if (/^0x[0-9a-fA-F]{40}$/.test(s)) return getAddress(s.toLowerCase()).toLowerCase();
      if (/^(native|eth)$/i.test(s)) return NATIVE_TOKEN;
      for (const [name, c] of Object.entries(d.contracts)) {
        if (!(c.abi as { name?: string }[]).some((f) => f.name === "decimals")) continue;
        const info = await tokenInfo(c.address.toLowerCase()).catch(() => undefined);
        if (info && (info.symbol.toLowerCase() === s.toLowerCase() || name.toLowerCase() === s.toLowerCase())) return info.address;
      }
      throw new BuyerError("UNKNOWN_TOKEN", `Unknown token "${spec}": give an address, "native", or the symbol of a token of this deployment${testToken ? " (tUSD)" : ""}.`);
    },
    tokenInfo,
    erc20: (token, runner) => new Contract(token, ERC20_ABI, runner ?? provider),
    async send(signer, call) {
      const what = call.description ?? `The call to ${call.to}`;
      try {
        // ethers answers a repeated eth_getTransactionCount from a short-lived cache, so a second
        // transaction right after the first would reuse its nonce: take the larger of the node's
        // pending count and the one after our last transaction.
        const from = (await signer.getAddress()).toLowerCase();
        const nonce = Math.max(await provider.getTransactionCount(from, "pending"), nextNonce.get(from) ?? 0);
        // A quarter over the estimate, as wallets do: storage another transaction changes between the
        // estimate and the block (a balance emptied, so a write costs a fresh slot) would otherwise
        // run the call out of gas. The estimate itself reverts with the contract's error.
        const estimate = await provider.estimateGas({ from, to: call.to, data: call.data, value: BigInt(call.value) });
        const tx = await signer.sendTransaction({ to: call.to, data: call.data, value: BigInt(call.value), nonce, gasLimit: (estimate * 125n) / 100n });
        nextNonce.set(from, nonce + 1);
        const receipt = await tx.wait(confirmations);
        if (!receipt || receipt.status !== 1) throw new BuyerError("TX_REVERTED", `${what} reverted on-chain (transaction ${tx.hash}).`, { txHash: tx.hash });
        return receipt;
      } catch (err) {
        throw sendError(err, what);
      }
    },
    async simulate(from, call) {
      try {
        await provider.call({ from, to: call.to, data: call.data, value: BigInt(call.value), blockTag: "pending" });
        return undefined;
      } catch (err) {
        const reason = revertReason(err);
        if (reason) return reason;
        throw sendError(err, call.description ?? `Simulating the call to ${call.to}`);
      }
    },
    async chainTimeMs() {
      const b = await provider.getBlock("latest");
      return Number(b?.timestamp ?? Math.floor(Date.now() / 1000)) * 1000;
    },
    close: () => provider.destroy(),
  };
}

/**
 * The chain a coordinator settles on, from its public GET /v1/network?abi=true: the RPC URL it
 * gives wallets, the chain id, the contracts' addresses and ABIs — so that a client needs only
 * the coordinator's URL.
 * @returns undefined when the coordinator runs without a settlement chain
 * @throws BuyerError COORDINATOR_UNREACHABLE when it does not answer
 */
export async function chainFromNetwork(baseUrl: string): Promise<BuyerChainOptions | undefined> {
  let body: { chain: { chainId: number; rpcUrl: string; contracts: Record<string, string> } | null; abis?: Record<string, unknown[]> };
  try {
    const res = await fetch(`${baseUrl.replace(/\/+$/, "")}/v1/network?abi=true`, { headers: { accept: "application/json" } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = (await res.json()) as typeof body;
  } catch (err) {
    throw new BuyerError("COORDINATOR_UNREACHABLE", `Cannot read ${baseUrl}/v1/network: ${(err as Error).message}`);
  }
  if (!body.chain) return undefined;
  const contracts = Object.fromEntries(Object.entries(body.chain.contracts).map(([name, address]) => [name, { address, blockNumber: 0, abi: body.abis?.[name] ?? [] }]));
  return { rpcUrl: body.chain.rpcUrl, deployment: { network: `chain-${body.chain.chainId}`, chainId: body.chain.chainId, contracts } };
}
