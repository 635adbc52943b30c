/**
 * An agent's on-chain payouts (pull payments): what TaskEscrow (released escrows, dispute
 * splits) and PaymentChannels (batch-settled vouchers, delivery claims) hold for it, watching
 * new credits, and withdrawing both to the agent's wallet. It is the agent SDK's
 * {@link PayoutsProvider} (pass it as `createAgent({ payouts })`) and what `aicp earnings` and
 * `aicp payouts withdraw` use.
 *
 * Units: token base units (bigint); the zero address is the native currency.
 */
import type { Signer } from "ethers";
import { connectBuyerChain, type BuyerChain, type BuyerChainOptions } from "./buyer-chain.js";
import { BuyerError } from "./buyer-errors.js";
import type { Payout, PayoutsProvider } from "./agent-types.js";

/** What each contract holds for the agent, base units. */
export type PayoutBalances = { escrow: bigint; channels: bigint; total: bigint };

/** One withdrawal transaction. */
export type PayoutWithdrawal = { route: "escrow" | "channel"; amount: bigint; txHash: string };

/** Options of {@link createChainPayouts}. */
export type ChainPayoutsOptions = {
  /** The chain (options, e.g. from chainFromNetwork, or a connected BuyerChain). */
  chain: BuyerChainOptions | BuyerChain;
  /** The agent's wallet; connected to the chain's provider when it has none. */
  wallet: Signer & { readonly address: string; connect?(p: BuyerChain["provider"]): Signer };
  /** Tokens `watch` follows; default the deployment's token. */
  tokens?: string[];
  /** How often `watch` reads the balances, ms; default 2 000. */
  pollMs?: number;
};

export type ChainPayouts = Omit<PayoutsProvider, "withdraw"> & {
  readonly chain: BuyerChain;
  /** What TaskEscrow and PaymentChannels hold for the agent in `token`. @throws BuyerError CHAIN_UNREACHABLE */
  balances(token: string): Promise<PayoutBalances>;
  /**
   * Withdraws everything both contracts hold for the agent in `token` (one transaction per
   * contract that holds something).
   * @returns the total withdrawn, the last transaction's hash, and each withdrawal
   * @throws BuyerError NOTHING_TO_WITHDRAW | TX_REVERTED | INSUFFICIENT_FUNDS | CHAIN_UNREACHABLE
   */
  withdraw(token: string): Promise<{ amount: bigint; txHash: string; withdrawals: PayoutWithdrawal[] }>;
  close(): void;
};

/** Creates the payouts provider of an agent's wallet on the EVM settlement chain. */
export function createChainPayouts(opts: ChainPayoutsOptions): ChainPayouts {
  const chain = "provider" in opts.chain ? opts.chain : connectBuyerChain(opts.chain);
  const owned = !("provider" in opts.chain);
  const signer: Signer = !opts.wallet.provider && opts.wallet.connect ? opts.wallet.connect(chain.provider) : opts.wallet;
  const address = opts.wallet.address.toLowerCase();
  const pollMs = opts.pollMs ?? 2_000;

  async function balances(token: string): Promise<PayoutBalances> {
    const t = token.toLowerCase();
    try {
      const [escrow, channels] = await Promise.all([chain.escrow.balanceOf(address, t), chain.channels.claimableOf(address, t)]);
      return { escrow, channels, total: escrow + channels };
    } catch (err) {
      if (err instanceof BuyerError) throw err;
      throw new BuyerError("CHAIN_UNREACHABLE", `Reading the payouts of ${address}: ${(err as Error).message}`);
    }
  }

  return {
    chain,
    balances,
    async withdraw(token) {
      const t = token.toLowerCase();
      const b = await balances(t);
      if (b.total === 0n) throw new BuyerError("NOTHING_TO_WITHDRAW", `Neither TaskEscrow nor PaymentChannels holds anything of ${t} for ${address}.`);
      const withdrawals: PayoutWithdrawal[] = [];
      if (b.escrow > 0n) {
        const r = await chain.send(signer, { to: chain.address("TaskEscrow"), data: chain.escrow.interface.encodeFunctionData("withdraw", [t]), value: 0n, description: `Withdraw ${b.escrow} base units of ${t} from TaskEscrow` });
        withdrawals.push({ route: "escrow", amount: b.escrow, txHash: r.hash });
      }
      if (b.channels > 0n) {
        const r = await chain.send(signer, { to: chain.address("PaymentChannels"), data: chain.channels.interface.encodeFunctionData("withdraw", [t]), value: 0n, description: `Withdraw ${b.channels} base units of ${t} from PaymentChannels` });
        withdrawals.push({ route: "channel", amount: b.channels, txHash: r.hash });
      }
      return { amount: withdrawals.reduce((a, w) => a + w.amount, 0n), txHash: withdrawals.at(-1)!.txHash, withdrawals };
    },
    /** Polls both balances; each increase is reported as a payout of its route (a withdrawal resets the baseline). */
    watch(onPayout: (p: Payout) => void) {
      const tokens = (opts.tokens ?? [chain.defaultToken]).map((t) => t.toLowerCase());
      const last = new Map<string, PayoutBalances>();
      let stopped = false;
      const tick = async () => {
        for (const token of tokens) {
          const b = await balances(token).catch(() => undefined);
          if (!b) continue;
          const prev = last.get(token);
          last.set(token, b);
          if (!prev) continue;
          if (b.escrow > prev.escrow) onPayout({ token, amount: b.escrow - prev.escrow, route: "escrow" });
          if (b.channels > prev.channels) onPayout({ token, amount: b.channels - prev.channels, route: "channel" });
        }
      };
      const timer = setInterval(() => void (stopped ? undefined : tick()), pollMs);
      void tick();
      return () => {
        stopped = true;
        clearInterval(timer);
      };
    },
    close() {
      if (owned) chain.close();
    },
  };
}
