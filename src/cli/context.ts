/**
 * What every `aicp` command shares: the settings (flags over the environment over defaults),
 * the wallet, the buyer SDK instance, tokens and amounts.
 */
import { existsSync, readFileSync } from "node:fs";
import { HDNodeWallet, Wallet } from "ethers";
import { z } from "zod";
import { createBuyer, type Buyer, type BuyerSigner } from "../sdk/buyer.js";
import { AmountError, NATIVE_TOKEN, describeAmount, parseAmount, type TokenInfo } from "../sdk/buyer-amounts.js";
import { BuyerError } from "../sdk/buyer-errors.js";
import type { BuyerChainOptions } from "../sdk/buyer-chain.js";
import { createChainPayouts, type ChainPayouts } from "../sdk/payouts.js";
import { createDisputes, type Disputes } from "../sdk/disputes.js";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { SubstrateChainInfo } from "../protocol/network.js";
import { createSubstrateBuyer, type SubstrateBuyer } from "../sdk/substrate-buyer.js";

/** The CLI's environment, each with its default; flags override. */
export const Env = z.object({
  AICP_URL: z.string().url().default("http://127.0.0.1:3000").describe("Coordinator base URL (--url)"),
  AICP_PRIVATE_KEY: z.string().optional().describe("The buyer's private key, 0x + 64 hex digits (--key)"),
  AICP_SUBSTRATE_URI: z.string().optional().describe("The buyer's Substrate secret URI (--substrate): act as that sr25519 account on the coordinator's Substrate chain"),
  CHAIN_RPC_URL: z.string().url().default("http://127.0.0.1:8545").describe("JSON-RPC URL of the settlement chain (--rpc)"),
  DEPLOYMENTS_FILE: z.string().default("deployments/localhost.json").describe("Deployments file of that chain, as `npm run deploy` writes it (--deployments)"),
});

/** Global flags, as commander parses them. */
export type GlobalFlags = { url?: string; key?: string; account?: string; substrate?: string; rpc?: string; deployments?: string; json?: boolean; baseUnits?: boolean };

/** A Substrate buyer's settings: its key pair and the chain the coordinator lists. */
export type SubstrateSettings = { pair: KeyringPair; info: SubstrateChainInfo };

/**
 * The mnemonic of Hardhat's default accounts. Public: anyone can spend what they hold, so they
 * are for local test chains only.
 */
const HARDHAT_MNEMONIC = "test test test test test test test test test test test junk";
const LOCAL_CHAIN_IDS = new Set([31337, 1337]);

export type CliContext = {
  flags: GlobalFlags;
  url: string;
  json: boolean;
  /** The signed-in buyer (created on first use). @throws BuyerError NO_KEY */
  buyer(): Buyer;
  /** A buyer for public calls only (no key needed). */
  publicBuyer(): Buyer;
  /** The key's payouts in TaskEscrow and PaymentChannels (an agent's earnings). @throws BuyerError NO_KEY | NO_CHAIN */
  payouts(): ChainPayouts;
  /** The key's disputes client (arbitrator or party). @throws BuyerError NO_KEY | NO_CHAIN */
  disputes(): Disputes;
  /** Token address from an address, `native`, or a symbol of the deployment; the deployment's token when undefined. */
  token(spec?: string): Promise<string>;
  /** Decimals and symbol of a token, when the chain is known (else undefined: amounts then need base units). */
  tokenInfo(token: string): Promise<TokenInfo | undefined>;
  /** Reads an amount typed on the command line (token units, `…base`, or base units with --base-units). */
  amount(text: string, token: string, what: string): Promise<bigint>;
  /** `0.5 tUSD (500000 base units)`. */
  describe(amount: bigint | string, token: string): Promise<string>;
  /** Progress and notes go to stderr; results to stdout. */
  note(line: string): void;
  close(): void;
};

/**
 * Whether the chain comes from the coordinator: no chain setting (flag or environment) was given,
 * so the CLI asks the coordinator at AICP_URL which chain it settles on (GET /v1/network).
 */
export function wantsNetwork(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): boolean {
  return flags.rpc === undefined && flags.deployments === undefined && !env["CHAIN_RPC_URL"] && !env["DEPLOYMENTS_FILE"];
}

/**
 * Builds the context from the global flags and the environment; `network` is the chain the
 * coordinator named (used unless a chain setting is given).
 * @throws BuyerError BAD_SETTINGS on an invalid environment value
 */
export function createContext(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env, network?: BuyerChainOptions, substrate?: SubstrateSettings): CliContext {
  const parsed = Env.safeParse(Object.fromEntries(Object.keys(Env.shape).map((k) => [k, env[k] === "" ? undefined : env[k]])));
  if (!parsed.success) throw new BuyerError("BAD_SETTINGS", `Invalid environment: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const e = parsed.data;
  const url = flags.url ?? e.AICP_URL;
  const rpcUrl = flags.rpc ?? e.CHAIN_RPC_URL;
  const deploymentsFile = flags.deployments ?? e.DEPLOYMENTS_FILE;
  const explicitDeployments = flags.deployments !== undefined || !!env["DEPLOYMENTS_FILE"];
  // Without a deployments file the CLI still talks to the coordinator (reads, off-chain routes);
  // a file named explicitly must exist.
  if (!existsSync(deploymentsFile) && explicitDeployments)
    throw new BuyerError("NOT_DEPLOYED", `No deployments file at ${deploymentsFile}; deploy the contracts first (npm run deploy:localhost) or fix --deployments / DEPLOYMENTS_FILE.`);
  // Named chain settings win; else the chain the coordinator names (GET /v1/network), else the default file.
  const explicitChain = explicitDeployments || flags.rpc !== undefined || !!env["CHAIN_RPC_URL"];
  const chain: BuyerChainOptions | undefined = !explicitChain && network ? network : existsSync(deploymentsFile) ? { rpcUrl, deploymentsFile } : network;
  let buyer: Buyer | undefined;

  function wallet(): BuyerSigner {
    if (flags.key !== undefined && flags.account !== undefined) throw new BuyerError("BAD_SETTINGS", "Give --key or --account, not both.");
    const key = flags.key ?? (flags.account === undefined ? e.AICP_PRIVATE_KEY : undefined);
    if (key !== undefined) {
      const hex = key.startsWith("0x") ? key : `0x${key}`;
      if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new BuyerError("BAD_KEY", "The private key must be 32 bytes: 0x followed by 64 hex digits.");
      return new Wallet(hex);
    }
    if (flags.account !== undefined) {
      if (!/^\d{1,3}$/.test(flags.account)) throw new BuyerError("BAD_SETTINGS", `--account takes a small account index (0, 1, 2, …), not "${flags.account}".`);
      const b = buyerChainId();
      if (b !== undefined ? !LOCAL_CHAIN_IDS.has(b) : !isLoopback(url))
        throw new BuyerError("NOT_LOCAL", `--account uses Hardhat's public test keys and is refused on ${b !== undefined ? `chain ${b}` : url}; use --key on anything but a local test chain.`);
      return HDNodeWallet.fromPhrase(HARDHAT_MNEMONIC, undefined, `m/44'/60'/0'/0/${Number(flags.account)}`) as unknown as BuyerSigner;
    }
    throw new BuyerError("NO_KEY", "This command acts as a buyer: give --key or AICP_PRIVATE_KEY (or --account N for Hardhat's test account N on a local chain).");
  }

  function buyerChainId(): number | undefined {
    if (!chain) return undefined;
    if (chain.deployment) return chain.deployment.chainId;
    try {
      return (JSON.parse(readFileSync(chain.deploymentsFile!, "utf8")) as { chainId?: number }).chainId;
    } catch {
      return undefined;
    }
  }

  /** The buyer when a key is given, else a key-less one for reading the chain (token metadata). */
  let reader: Buyer | undefined;
  function chainBuyer(): Buyer {
    if (buyer) return buyer;
    try {
      return ctx.buyer();
    } catch (err) {
      if (!(err instanceof BuyerError && err.code === "NO_KEY")) throw err;
    }
    reader ??= createBuyer({ baseUrl: url, wallet: Wallet.createRandom() as unknown as BuyerSigner, ...(chain ? { chain } : {}) });
    return reader;
  }

  let substrateBuyer: SubstrateBuyer | undefined;
  /**
   * A Substrate account acts through the SDK's Substrate buyer (tasks, acceptance, disputes,
   * reclaim); the EVM-only operations (channel deposits, vouchers, TaskEscrow withdrawals) say so.
   */
  function substrateAsBuyer(s: SubstrateSettings): Buyer {
    if ((flags.substrate ?? env["AICP_SUBSTRATE_URI"] ?? "").startsWith("//") && !isLoopback(url))
      throw new BuyerError("NOT_LOCAL", `A development key (//Name) is public and is refused on ${url}; give your own secret URI.`);
    substrateBuyer ??= createSubstrateBuyer({ baseUrl: url, pair: s.pair, rpcUrl: s.info.rpcUrl });
    const sb = substrateBuyer;
    return new Proxy(sb, {
      get(target, key) {
        if (key in target) return target[key as keyof SubstrateBuyer];
        if (key === "chain" || key === "then") return undefined;
        return () => {
          throw new BuyerError("NOT_ON_SUBSTRATE", `${String(key)} is not available for a Substrate account: its tasks settle on the escrow route through its custody account.`);
        };
      },
    }) as unknown as Buyer;
  }

  const ctx: CliContext = {
    flags,
    url,
    json: flags.json === true,
    buyer() {
      if (substrate) return (buyer ??= substrateAsBuyer(substrate));
      buyer ??= createBuyer({ baseUrl: url, wallet: wallet(), ...(chain ? { chain } : {}) });
      return buyer;
    },
    payouts() {
      const b = ctx.buyer();
      if (!b.chain) throw new BuyerError("NO_CHAIN", "Payouts are on-chain: the coordinator names no chain and no deployments file was given.");
      return createChainPayouts({ chain: b.chain, wallet: wallet() });
    },
    disputes() {
      const b = ctx.buyer();
      if (!b.chain) throw new BuyerError("NO_CHAIN", "Disputes are on-chain: the coordinator names no chain and no deployments file was given.");
      return createDisputes({ baseUrl: url, wallet: wallet() as never, chain: b.chain });
    },
    publicBuyer() {
      return buyer ?? (reader ??= createBuyer({ baseUrl: url, wallet: Wallet.createRandom() as unknown as BuyerSigner, ...(chain ? { chain } : {}) }));
    },
    async token(spec) {
      if (substrate) {
        const { asset } = substrate.info;
        if (spec === undefined || spec.toLowerCase() === asset.symbol.toLowerCase() || spec === asset.token) return asset.token;
        if (/^native$/i.test(spec) || spec.toLowerCase() === substrate.info.native.symbol.toLowerCase()) return "native";
        if (/^asset:\d{1,10}$/.test(spec)) return spec;
        throw new BuyerError("UNKNOWN_TOKEN", `Token "${spec}" is not on the Substrate chain: use ${asset.symbol}, ${substrate.info.native.symbol}, native or asset:<id>.`);
      }
      if (!chain) {
        if (spec === undefined) throw new BuyerError("NO_CHAIN", "No token given and no deployments file to take the default from: pass --token <address>.");
        if (/^0x[0-9a-fA-F]{40}$/.test(spec)) return spec.toLowerCase();
        if (/^(native|eth)$/i.test(spec)) return NATIVE_TOKEN;
        throw new BuyerError("NO_CHAIN", `Token "${spec}" is a symbol; symbols are read from the deployments file (--deployments), or give the token's address.`);
      }
      const c = chainBuyer().chain!;
      return spec === undefined ? c.defaultToken : c.resolveToken(spec);
    },
    async tokenInfo(token) {
      if (substrate) {
        const { asset, native } = substrate.info;
        if (token === asset.token) return { address: token, symbol: asset.symbol, decimals: asset.decimals };
        if (token === "native") return { address: token, symbol: native.symbol, decimals: native.decimals };
        return undefined;
      }
      if (!chain) return token === NATIVE_TOKEN ? { address: NATIVE_TOKEN, symbol: "ETH", decimals: 18 } : undefined;
      return chainBuyer().chain!.tokenInfo(token);
    },
    async amount(text, token, what) {
      try {
        return parseAmount(text, await ctx.tokenInfo(token), { baseUnits: flags.baseUnits === true });
      } catch (err) {
        if (err instanceof AmountError) throw new BuyerError("BAD_AMOUNT", `${what}: ${err.message}`);
        throw err;
      }
    },
    async describe(amount, token) {
      return describeAmount(amount, await ctx.tokenInfo(token).catch(() => undefined));
    },
    note(line) {
      process.stderr.write(`${line}\n`);
    },
    close() {
      if (substrateBuyer) void substrateBuyer.close();
      else buyer?.close();
      reader?.close();
    },
  };
  return ctx;
}

function isLoopback(u: string): boolean {
  const h = new URL(u).hostname;
  return h === "127.0.0.1" || h === "localhost" || h === "::1" || h === "[::1]";
}
