/**
 * A test wallet for the browser tests: an EIP-1193 provider injected into the page and announced
 * by EIP-6963 (`eip6963:announceProvider`), also set as `window.ethereum`. It signs with a local
 * Hardhat key held in Node (exposed to the page with `page.exposeFunction`), so the page's code
 * meets the same requests a real wallet answers:
 *
 *   eth_requestAccounts / eth_accounts   the key's address
 *   eth_chainId                           the wallet's current chain (it starts elsewhere, so the
 *                                         page must switch: EIP-3326, then EIP-3085 when unknown)
 *   wallet_switchEthereumChain            EIP-3326; 4902 for a chain not added yet
 *   wallet_addEthereumChain               EIP-3085
 *   personal_sign                         EIP-191 (SIWE)
 *   eth_signTypedData_v4                  EIP-712
 *   eth_sendTransaction                   signed and sent to the chain's RPC
 *   anything else                         forwarded to the RPC of the current chain
 *
 * `rejectNext()` makes the next signing request fail with EIP-1193 code 4001 (user rejected).
 */
import type { BrowserContext, Page } from "playwright-core";
import { JsonRpcProvider, NonceManager, Wallet, getBytes, isHexString } from "ethers";

export type TestWallet = {
  address: string;
  /** Requests the page sent, in order (method names). */
  requests: string[];
  /** The next personal_sign / eth_signTypedData_v4 / eth_sendTransaction is rejected (4001). */
  rejectNext(): void;
  /** Transaction hashes the wallet sent. */
  sent: string[];
  /** Requests the chain refused (method: message), for failure reports. */
  failures: string[];
  /** The wallet's owner switches it to `chainId` (known or not): `chainChanged` is emitted in `page`. */
  switchChain(page: Page, chainId: number): Promise<void>;
};

type RpcError = { code: number; message: string };

// Plain JavaScript (a string, so no build step rewrites it) run in the page before its own code.
const INIT = `(() => {
  const info = __INFO__;
  const listeners = new Map();
  const bridge = window.__aicpWallet;
  const provider = {
    isAicpTestWallet: true,
    async request({ method, params }) {
      const out = JSON.parse(await bridge(method, JSON.stringify(params ?? [])));
      for (const [event, value] of out.emit ?? []) for (const l of listeners.get(event) ?? []) l(value);
      if (out.error) throw Object.assign(new Error(out.error.message), { code: out.error.code });
      return out.result;
    },
    on(event, l) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(l);
      return provider;
    },
    removeListener(event, l) {
      listeners.get(event)?.delete(l);
      return provider;
    },
  };
  window.ethereum = provider;
  // The test moves the wallet (another chain, another account) as its owner would.
  window.__aicpWalletEmit = (event, value) => { for (const l of listeners.get(event) ?? []) l(value); };
  const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();`;

const ICON = "data:image/svg+xml;base64," + Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" rx="3" fill="#2b6cb0"/></svg>').toString("base64");

/**
 * Injects a wallet holding `privateKey` into every page of `context` (call before `goto`).
 * `rpcUrl` serves `chainId`; the wallet starts on chain 1 without knowing `chainId`.
 */
export async function injectWallet(context: BrowserContext, privateKey: string, rpcUrl: string, chainId: number): Promise<TestWallet> {
  const rpc = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true, cacheTimeout: -1 });
  const key = new Wallet(privateKey);
  const signer = new NonceManager(key.connect(rpc));
  const known = new Set<number>([1]);
  let current = 1;
  let reject = false;
  const hex = (n: number) => "0x" + n.toString(16);
  const w: TestWallet = {
    address: key.address,
    requests: [],
    sent: [],
    failures: [],
    rejectNext: () => void (reject = true),
    async switchChain(page, id) {
      known.add(id);
      current = id;
      await page.evaluate((h) => (globalThis as unknown as { __aicpWalletEmit(e: string, v: unknown): void }).__aicpWalletEmit("chainChanged", h), hex(id));
    },
  };

  async function handle(method: string, params: unknown[]): Promise<{ result?: unknown; error?: RpcError; emit?: [string, unknown][] }> {
    w.requests.push(method);
    const signing = ["personal_sign", "eth_signTypedData_v4", "eth_sendTransaction"].includes(method);
    if (signing && reject) {
      reject = false;
      return { error: { code: 4001, message: "User rejected the request." } };
    }
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return { result: [key.address] };
      case "eth_chainId":
        return { result: hex(current) };
      case "net_version":
        return { result: String(current) };
      case "wallet_switchEthereumChain": {
        const id = Number((params[0] as { chainId: string }).chainId);
        if (!known.has(id)) return { error: { code: 4902, message: `Unrecognized chain ID ${hex(id)}. Try adding the chain using wallet_addEthereumChain first.` } };
        current = id;
        return { result: null, emit: [["chainChanged", hex(id)]] };
      }
      case "wallet_addEthereumChain": {
        const p = params[0] as { chainId: string; rpcUrls: string[] };
        const id = Number(p.chainId);
        if (id !== chainId) return { error: { code: -32602, message: `The test wallet only serves chain ${chainId}.` } };
        known.add(id);
        current = id;
        return { result: null, emit: [["chainChanged", hex(id)]] };
      }
      case "personal_sign": {
        const [data, from] = params as [string, string];
        if (from.toLowerCase() !== key.address.toLowerCase()) return { error: { code: 4100, message: "Unknown account." } };
        return { result: await key.signMessage(isHexString(data) ? getBytes(data) : data) };
      }
      case "eth_signTypedData_v4": {
        const [from, json] = params as [string, string];
        if (from.toLowerCase() !== key.address.toLowerCase()) return { error: { code: 4100, message: "Unknown account." } };
        const td = JSON.parse(json) as { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> };
        const { EIP712Domain: _d, ...types } = td.types;
        return { result: await key.signTypedData(td.domain, types, td.message) };
      }
      case "eth_sendTransaction": {
        if (current !== chainId) return { error: { code: 4901, message: `The wallet is on chain ${current}.` } };
        const tx = params[0] as { to?: string; data?: string; value?: string; gas?: string };
        try {
          const sent = await signer.sendTransaction({ to: tx.to, data: tx.data, value: tx.value ? BigInt(tx.value) : 0n, ...(tx.gas ? { gasLimit: BigInt(tx.gas) } : {}) });
          w.sent.push(sent.hash);
          return { result: sent.hash };
        } catch (err) {
          signer.reset();
          const e = err as { shortMessage?: string; message: string; info?: { error?: RpcError } };
          w.failures.push(`eth_sendTransaction: ${e.message}`);
          return { error: { code: e.info?.error?.code ?? -32000, message: e.info?.error?.message ?? e.shortMessage ?? e.message } };
        }
      }
      default: {
        if (current !== chainId) return { error: { code: 4901, message: `The test wallet has no RPC for chain ${current}.` } };
        try {
          return { result: await rpc.send(method, params) };
        } catch (err) {
          const e = err as { error?: RpcError; info?: { error?: RpcError }; message: string };
          const inner = e.error ?? e.info?.error;
          w.failures.push(`${method}: ${e.message}`);
          return { error: { code: inner?.code ?? -32603, message: inner?.message ?? e.message } };
        }
      }
    }
  }

  await context.exposeFunction("__aicpWallet", async (method: string, params: string) => JSON.stringify(await handle(method, JSON.parse(params) as unknown[])));
  const info = { uuid: "6f1c8a4e-0000-4000-8000-00000000a1c9", name: "AICP Test Wallet", rdns: "dev.aicp.testwallet", icon: ICON };
  await context.addInitScript({ content: INIT.replace("__INFO__", JSON.stringify(info)) });
  return w;
}

/** Console errors and page errors of `page`, collected for the "no error" assertion. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}
