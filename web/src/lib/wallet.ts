/**
 * Wallets by the standards: EIP-6963 discovery of injected wallets (window.ethereum as the
 * fallback), EIP-1193 requests through viem, EIP-3326 / EIP-3085 to switch to (or add) the
 * coordinator's chain, EIP-4361 sign-in, EIP-712 signatures, and transactions followed from
 * signing to their confirmations.
 */
import { createStore, type EIP6963ProviderDetail } from "mipd";
import { BaseError, createPublicClient, createWalletClient, custom, decodeErrorResult, defineChain, getAddress, numberToHex, type Abi, type Chain, type EIP1193Provider, type Hex } from "viem";
import { createSiweMessage } from "viem/siwe";
import { api, auth, getNetwork, type Network, type Session } from "./api";

export type WalletDetail = { id: string; name: string; icon?: string; provider: EIP1193Provider };

const store = createStore();

/** The injected wallets announced by EIP-6963, else window.ethereum. */
export function discoverWallets(): WalletDetail[] {
  const found: WalletDetail[] = store.getProviders().map((d: EIP6963ProviderDetail) => ({ id: d.info.rdns || d.info.uuid, name: d.info.name, icon: d.info.icon, provider: d.provider as unknown as EIP1193Provider }));
  const legacy = (window as unknown as { ethereum?: EIP1193Provider }).ethereum;
  if (found.length === 0 && legacy) found.push({ id: "window.ethereum", name: "Browser wallet (window.ethereum)", provider: legacy });
  return found;
}
export const onWalletsChanged = (fn: () => void) => store.subscribe(fn);

/** A wallet error in words a person can act on. */
export function walletMessage(err: unknown): string {
  const e = err as { code?: number; message?: string; shortMessage?: string; cause?: { code?: number } };
  const code = e.code ?? e.cause?.code;
  if (code === 4001) return "You rejected the request in your wallet; nothing was signed or sent.";
  if (code === 4100) return "The wallet has not authorised this site: connect it first.";
  if (code === 4902) return "Your wallet does not know this chain; add it when asked.";
  const msg = e.shortMessage ?? e.message ?? String(err);
  if (/user rejected|user denied/i.test(msg)) return "You rejected the request in your wallet; nothing was signed or sent.";
  if (/insufficient funds/i.test(msg)) return "Insufficient balance: the wallet cannot pay this amount plus gas.";
  if (/ERC20InsufficientBalance|transfer amount exceeds balance/i.test(msg)) return "Insufficient token balance for this payment.";
  return msg;
}

function chainOf(n: NonNullable<Network["chain"]>): Chain {
  return defineChain({ id: n.chainId, name: n.chainId === 31337 ? "AICP local (Hardhat)" : `Chain ${n.chainId}`, nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [n.rpcUrl] } } });
}

export type Connected = {
  address: `0x${string}`;
  wallet: WalletDetail;
  chain: Chain;
  network: NonNullable<Network["chain"]>;
  abis: Record<string, unknown[]>;
  walletClient: ReturnType<typeof createWalletClient>;
  publicClient: ReturnType<typeof createPublicClient>;
};

/**
 * Connects a wallet (eth_requestAccounts) and puts it on the coordinator's chain:
 * wallet_switchEthereumChain (EIP-3326), and wallet_addEthereumChain (EIP-3085) when the wallet
 * does not know it.
 * @throws Error with a readable message (rejected, wrong chain not added, no settlement chain)
 */
export async function connect(w: WalletDetail): Promise<Connected> {
  const net = await getNetwork();
  if (!net.chain) throw new Error("This coordinator settles off-chain only (SETTLEMENT=none): no wallet needed.");
  const chain = chainOf(net.chain);
  const [raw] = (await w.provider.request({ method: "eth_requestAccounts" })) as string[];
  if (!raw) throw new Error("The wallet gave no account.");
  await ensureChain(w.provider, net.chain);
  const address = getAddress(raw);
  return {
    address,
    wallet: w,
    chain,
    network: net.chain,
    abis: net.abis ?? {},
    walletClient: createWalletClient({ account: address, chain, transport: custom(w.provider) }),
    publicClient: createPublicClient({ chain, transport: custom(w.provider) }),
  };
}

/** Switches the wallet to the chain (EIP-3326), adding it first when unknown (EIP-3085). */
export async function ensureChain(p: EIP1193Provider, n: NonNullable<Network["chain"]>): Promise<void> {
  const current = Number(await p.request({ method: "eth_chainId" }));
  if (current === n.chainId) return;
  const chainId = numberToHex(n.chainId);
  try {
    await p.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  } catch (err) {
    if ((err as { code?: number }).code !== 4902) throw err;
    await p.request({ method: "wallet_addEthereumChain", params: [{ chainId, chainName: chainOf(n).name, rpcUrls: [n.rpcUrl], nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } }] });
  }
  const after = Number(await p.request({ method: "eth_chainId" }));
  if (after !== n.chainId) throw new Error(`Wrong chain: the wallet is on ${after}, the marketplace settles on ${n.chainId}. Switch networks in your wallet.`);
}

/** Signs in with Ethereum (EIP-4361): a nonce from the coordinator, the message signed by the wallet (EOA or ERC-1271 contract wallet). */
export async function signIn(c: Connected): Promise<Session> {
  const { nonce } = await api<{ nonce: string }>("GET", "/v1/auth/nonce");
  const message = createSiweMessage({
    address: c.address,
    chainId: c.network.chainId,
    domain: location.host,
    nonce,
    uri: location.origin,
    version: "1",
    statement: "Sign in to the AICP marketplace.",
    issuedAt: new Date(),
    expirationTime: new Date(Date.now() + 10 * 60_000),
  });
  const signature = await c.walletClient.signMessage({ account: c.address, message });
  const s = await api<Session>("POST", "/v1/auth/login", { message, signature });
  auth.set(s);
  return s;
}

/** What a transaction is doing, for the progress display. */
export type TxStage = { stage: "signing" } | { stage: "sent"; hash: Hex } | { stage: "confirming"; hash: Hex; confirmations: number; wanted: number } | { stage: "confirmed"; hash: Hex; confirmations: number; wanted: number } | { stage: "failed"; hash?: Hex; error: string };

export type Call = { to: string; data: string; value: string | bigint; description?: string };

/**
 * Sends `call` from the wallet and follows it: signing → sent (hash) → each confirmation up to
 * the chain's confirmation depth. Resolves once included (≥ 1 confirmation); the count goes on.
 * @throws Error (readable) when rejected, reverted or unaffordable
 */
export async function sendCall(c: Connected, call: Call, onStage: (s: TxStage) => void): Promise<Hex> {
  onStage({ stage: "signing" });
  let hash: Hex;
  try {
    await ensureChain(c.wallet.provider, c.network);
    // Run it first: a call the contract would refuse is explained by its custom error, not sent.
    await c.publicClient.call({ account: c.address, to: call.to as Hex, data: call.data as Hex, value: BigInt(call.value) }).catch((err: unknown) => {
      throw new Error(revertMessage(c, err));
    });
    hash = await c.walletClient.sendTransaction({ account: c.address, chain: c.chain, to: call.to as Hex, data: call.data as Hex, value: BigInt(call.value) });
  } catch (err) {
    const error = walletMessage(err);
    onStage({ stage: "failed", error });
    throw new Error(error);
  }
  onStage({ stage: "sent", hash });
  const wanted = Math.max(1, c.network.confirmations);
  const receipt = await c.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 250 });
  if (receipt.status !== "success") {
    const error = `The transaction reverted on-chain (${hash}).`;
    onStage({ stage: "failed", hash, error });
    throw new Error(error);
  }
  const count = async () => Number((await c.publicClient.getBlockNumber({ cacheTime: 0 })) - receipt.blockNumber) + 1;
  let n = await count();
  onStage({ stage: n >= wanted ? "confirmed" : "confirming", hash, confirmations: n, wanted });
  void (async () => {
    for (let i = 0; n < wanted && i < 600; i++) {
      await new Promise((r) => setTimeout(r, 500));
      n = await count().catch(() => n);
      onStage({ stage: n >= wanted ? "confirmed" : "confirming", hash, confirmations: Math.min(n, wanted), wanted });
    }
  })();
  return hash;
}

/** The custom Solidity error in a failed call, decoded with the contracts' ABIs, in words. */
export function revertMessage(c: Connected, err: unknown): string {
  let data: Hex | undefined;
  if (err instanceof BaseError) err.walk((e) => typeof (e as { data?: unknown }).data === "string" && ((data = (e as { data: Hex }).data), true));
  const abi = Object.values(c.abis).flat().filter((x) => (x as { type?: string }).type === "error") as Abi;
  if (data && data.length >= 10) {
    try {
      const d = decodeErrorResult({ abi, data });
      const args = (d.args ?? []).map((a) => String(a)).join(", ");
      const hint = /Pause/.test(d.errorName) ? " The operator has paused this contract; try again later." : /InsufficientBalance|InsufficientAllowance/.test(d.errorName) ? " Insufficient token balance or allowance." : /Deadline|Expired/.test(d.errorName) ? " The deadline or authorization has passed." : "";
      return `The contract refused: ${d.errorName}(${args}).${hint}`;
    } catch {
      /* not one of ours */
    }
  }
  return walletMessage(err);
}

/** EIP-712 typed data signed in the wallet (eth_signTypedData_v4). @throws Error (readable) when rejected */
export async function signTyped(c: Connected, domain: Record<string, unknown>, types: Record<string, readonly { name: string; type: string }[]>, primaryType: string, message: Record<string, unknown>): Promise<Hex> {
  try {
    return await c.walletClient.signTypedData({ account: c.address, domain, types, primaryType, message } as never);
  } catch (err) {
    throw new Error(walletMessage(err));
  }
}
