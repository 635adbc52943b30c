/**
 * One driver per settlement backend for the shared backend suite (settlement-backends.test.ts):
 * the same marketplace operations — fund, award, deliver, accept, refund, dispute with a split,
 * channel deposit and batched voucher payouts, an anchor, a reorg — on the EVM (a hardhat node
 * with the deployed contracts) and on Substrate (chopsticks running Asset Hub), each driven the
 * way its users drive it (contract calls from each party's wallet; extrinsics and multisig
 * approvals from each party's key), indexed by the same indexer into Postgres.
 *
 * "Paid" means in the party's wallet: the EVM driver also performs the pull withdrawals
 * (TaskEscrow.withdraw, PaymentChannels.withdraw) that Substrate's direct transfers make moot.
 */
import { JsonRpcProvider, id as keccakId, type ContractTransactionResponse } from "ethers";
import type { ApiPromise } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { u8aToHex } from "@polkadot/util";
import type { Queryable } from "../../src/db/index.js";
import { loadConfig } from "../../src/config.js";
import { connectEvm, type EvmChain } from "../../src/chain/evm/chain.js";
import { createEvmSource } from "../../src/chain/evm/source.js";
import { checkChainInvariants } from "../../src/chain/evm/invariants.js";
import { encodeSettleBatch } from "../../src/chain/evm/vouchers.js";
import { voucherDomain, VOUCHER_TYPES } from "../../src/protocol/eip712.js";
import { taskKey } from "../../src/protocol/keys.js";
import type { ChainSource } from "../../src/settlement/chain-source.js";
import type { Logger } from "../../src/logger.js";
import { unbalancedGroups } from "../../src/ledger/store.js";
import { connectSubstrate, createSubmitter, type Submitter } from "../../src/chain/substrate/client.js";
import { devPair, seedLocalSubstrate, startLocalSubstrate, TEST_ASSET, type LocalSubstrate } from "../../src/chain/substrate/local-chain.js";
import { createSubstrateSettlement, type SubstrateSettlement } from "../../src/chain/substrate/settlement.js";
import { createSubstrateSource } from "../../src/chain/substrate/source.js";
import { toAccountHex } from "../../src/chain/substrate/codec.js";
import { voucherPayload } from "../../src/chain/substrate/vouchers.js";
import { authorizeFunding, startChain, type TestChain } from "./chain-harness.js";

export type Role = "buyer" | "agent" | "agent2" | "treasury";
export type Terms = { taskId: string; amount: bigint; price: bigint; agent: "agent" | "agent2" };

export interface BackendDriver {
  /** The indexer's chain name. */
  readonly chain: string;
  /** The token the suite pays in, as the ledger names it. */
  token: string;
  /** Platform fee, bps of the agent's share. */
  feeBps: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  source(log: Logger): ChainSource;
  /** The finalized (Substrate) or latest (EVM, confirmations 0) block the indexer should reach. */
  head(): Promise<number>;
  /** The role's account as the ledger and projections name it. */
  id(role: Role): string;
  /** The role's wallet balance of the token, base units. */
  wallet(role: Role): Promise<bigint>;
  fund(taskId: string, amount: bigint): Promise<void>;
  award(taskId: string, agent: Terms["agent"], price: bigint): Promise<void>;
  deliver(taskId: string): Promise<void>;
  /** The buyer accepts the delivery; everyone's share reaches their wallet. */
  accept(t: Terms): Promise<void>;
  /** The task failed: the whole escrow goes back to the buyer's wallet. */
  refund(t: Terms): Promise<void>;
  /** The buyer disputes; the arbitrator's ruling gives the agent `agentBps` of the price. */
  dispute(t: Terms, agentBps: number): Promise<void>;
  deposit(amount: bigint): Promise<void>;
  /** Vouchers of the buyer (cumulative amounts) settled in one batch and paid to the payees' wallets. */
  settle(vouchers: { payee: Terms["agent"]; cumulative: bigint }[]): Promise<void>;
  anchor(epoch: bigint, root: string): Promise<void>;
  /** What the buyer's fundings and deposits so far added to open their custody account (Substrate's existential deposit; 0 on the EVM), base units. */
  openingPaid(): bigint;
  /** Takes a snapshot to return to with {@link reorg}. */
  mark(): Promise<unknown>;
  /** Replaces every block after the mark with other (empty) blocks, one more than were replaced. */
  reorg(mark: unknown): Promise<void>;
  /** Money invariants against the chain: an empty list when the ledger matches it to the base unit. */
  violations(db: Queryable): Promise<string[]>;
}

/** EVM: hardhat node, the deployed contracts, AICPTestToken. Keys: coordinator #1, arbitrators #2–#3, buyer #5, agents #6–#7. */
export function evmDriver(): BackendDriver {
  let chain: TestChain;
  let evm: EvmChain;
  let p: JsonRpcProvider;
  let token = "";
  let treasury = "";
  const w = (i: number) => chain.wallet(i).connect(p);
  const keys: Record<Exclude<Role, "treasury">, number> = { buyer: 5, agent: 6, agent2: 7 };
  const wait = async (tx: Promise<ContractTransactionResponse>) => (await (await tx).wait())!;
  const c = () => ({ escrow: evm.escrow.connect(p), resolver: evm.resolver.connect(p), channels: evm.channels.connect(p), anchor: evm.anchor.connect(p), token: evm.token!.connect(p) });
  async function asTreasury(to: string, data: string) {
    const h = (await p.send("eth_sendTransaction", [{ from: treasury, to, data }])) as string;
    await p.waitForTransaction(h);
  }
  /** Pulls TaskEscrow credits of buyer, agent(s) and treasury into their wallets. */
  async function withdrawAll(agent: Terms["agent"]) {
    const e = c().escrow;
    for (const r of ["buyer", agent] as const) if ((await e.balanceOf(w(keys[r]).address, token)) > 0n) await wait(e.connect(w(keys[r])).withdraw(token));
    if ((await e.balanceOf(treasury, token)) > 0n) await asTreasury(evm.address("TaskEscrow"), e.interface.encodeFunctionData("withdraw", [token]));
  }
  return {
    chain: "evm",
    get token() {
      return token.toLowerCase();
    },
    feeBps: 0,
    async start() {
      chain = await startChain();
      evm = connectEvm(loadConfig({ CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile }));
      p = new JsonRpcProvider(chain.url, evm.chainId, { staticNetwork: true, cacheTimeout: -1 });
      token = evm.address("AICPTestToken");
      treasury = (await c().escrow.treasury()).toLowerCase();
      this.feeBps = Number(await c().escrow.feeBps());
      await wait(c().token.connect(w(0)).mint(w(5).address, 10n ** 12n));
    },
    async stop() {
      p?.destroy();
      evm?.close();
      await chain?.stop();
    },
    source: (log) => createEvmSource(evm, log),
    openingPaid: () => 0n,
    head: () => p.getBlockNumber(),
    id: (r) => (r === "treasury" ? treasury : w(keys[r]).address.toLowerCase()),
    async wallet(r) {
      return c().token.balanceOf(r === "treasury" ? treasury : w(keys[r]).address);
    },
    async fund(taskId, amount) {
      const buyer = w(5);
      const deadline = BigInt((await p.getBlock("latest"))!.timestamp + 30 * 86_400);
      await wait(c().token.connect(buyer).approve(evm.address("TaskEscrow"), amount));
      const auth = await authorizeFunding(evm, { taskId: taskKey(taskId), buyer: buyer.address, token, amount, deadline });
      await wait(c().escrow.connect(buyer).fund(taskKey(taskId), token, amount, deadline, auth));
    },
    async award(taskId, agent, price) {
      await wait(c().escrow.connect(w(1)).award(taskKey(taskId), w(keys[agent]).address, price));
    },
    async deliver(taskId) {
      const e = await c().escrow.escrowOf(taskKey(taskId));
      const agent = [6, 7].map(w).find((x) => x.address.toLowerCase() === e.agent.toLowerCase())!;
      await wait(c().escrow.connect(agent).deliver(taskKey(taskId), keccakId(`result:${taskId}`)));
    },
    async accept(t) {
      await wait(c().escrow.connect(w(5)).release(taskKey(t.taskId)));
      await withdrawAll(t.agent);
    },
    async refund(t) {
      await wait(c().escrow.connect(w(1)).refund(taskKey(t.taskId)));
      await withdrawAll(t.agent);
    },
    async dispute(t, agentBps) {
      const { escrow, resolver } = c();
      await wait(escrow.connect(w(5)).dispute(taskKey(t.taskId), "ipfs://evidence/buyer"));
      const id = await resolver.disputeOfTask(taskKey(t.taskId));
      const arbitrator = (await resolver.disputeOf(id)).arbitrator.toLowerCase();
      const arb = [2, 3].map(w).find((x) => x.address.toLowerCase() === arbitrator)!;
      await wait(resolver.connect(arb).rule(id, agentBps));
      await p.send("evm_increaseTime", [86_401]);
      await chain.mine(1);
      await wait(resolver.connect(w(5)).finalize(id));
      await withdrawAll(t.agent);
    },
    async deposit(amount) {
      await wait(c().token.connect(w(5)).approve(evm.address("PaymentChannels"), amount));
      await wait(c().channels.connect(w(5)).deposit(token, amount));
    },
    async settle(vs) {
      const domain = voucherDomain(evm.chainId, evm.address("PaymentChannels"));
      const signed = [];
      for (const v of vs) {
        const value = { payer: w(5).address, payee: w(keys[v.payee]).address, token, cumulativeAmount: v.cumulative };
        signed.push({ ...value, signature: await w(5).signTypedData(domain, VOUCHER_TYPES, value) });
      }
      const { addresses, entries } = encodeSettleBatch(signed);
      await wait(c().channels.connect(w(1)).settleBatch(addresses, entries));
      for (const payee of new Set(vs.map((v) => v.payee))) await wait(c().channels.connect(w(keys[payee])).withdraw(token));
    },
    async anchor(epoch, root) {
      await wait(c().anchor.connect(w(1)).anchor(epoch, root, `ipfs://epoch-${epoch}`));
    },
    mark: () => chain.snapshot(),
    async reorg(mark) {
      const before = await p.getBlockNumber();
      await chain.revert(mark as string);
      const now = await p.getBlockNumber();
      await chain.mine(before - now + 1);
    },
    async violations(db) {
      return (await checkChainInvariants(db, evm, { name: "evm" })).map((v) => v.message);
    },
  };
}

/** Substrate: chopsticks (Asset Hub runtime), the test asset tUSD; //Bob coordinator, //Charlie arbitrator, //Dave treasury, //Eve buyer. */
export function substrateDriver(): BackendDriver {
  let local: LocalSubstrate;
  let api: ApiPromise;
  let sub: Submitter;
  let s: SubstrateSettlement;
  const token = `asset:${TEST_ASSET.id}`;
  const k = {} as Record<Role | "coordinator" | "arbitrator" | "admin", KeyringPair>;
  const settled = new Map<string, bigint>();
  const custody = () => s.custody(k.buyer.address);
  let opened = 0n;
  return {
    chain: "substrate",
    token,
    feeBps: 250,
    async start() {
      const { createServer } = await import("node:net");
      const port = await new Promise<number>((resolve) => {
        const srv = createServer().listen(0, "127.0.0.1", () => {
          const n = (srv.address() as { port: number }).port;
          srv.close(() => resolve(n));
        });
      });
      local = await startLocalSubstrate(port);
      api = await connectSubstrate(local.url);
      sub = createSubmitter(api);
      const uris = { coordinator: "//Bob", arbitrator: "//Charlie", treasury: "//Dave", buyer: "//Eve", agent: "//Agent1", agent2: "//Agent2", admin: "//Alice" } as const;
      for (const [r, uri] of Object.entries(uris)) k[r as keyof typeof k] = await devPair(uri, r === "agent2" ? "ed25519" : "sr25519");
      await seedLocalSubstrate(api, sub, { accounts: Object.values(k).map((x) => x.address), native: 10n ** 15n, admin: k.admin, assetHolders: [k.buyer.address], assetAmount: 10n ** 12n });
      s = createSubstrateSettlement({ api, submitter: sub, coordinator: k.coordinator, arbitrator: k.arbitrator.address, treasury: k.treasury.address, feeBps: this.feeBps });
    },
    async stop() {
      await api?.disconnect();
      await local?.stop();
    },
    source: (log) => createSubstrateSource(api, { coordinator: k.coordinator.address, arbitrator: k.arbitrator.address, treasury: k.treasury.address, log }),
    openingPaid: () => opened,
    head: async () => (await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead())).number.toNumber(),
    id: (r) => toAccountHex(k[r].address),
    wallet: (r) => s.balance(k[r].address, token),
    async fund(taskId, amount) {
      const opening = await s.openingAmount(k.buyer.address, token);
      opened += opening;
      await sub.submit(s.fundCall({ id: taskId, buyer: k.buyer.address, token, amount, deadline: new Date(Date.now() + 30 * 86_400_000) }, opening), k.buyer);
    },
    async award(taskId, agent, price) {
      await s.award(taskId, k[agent].address, price);
    },
    async deliver(taskId) {
      await s.deliver(taskId, keccakId(`result:${taskId}`), new Date(Date.now() + 86_400_000));
    },
    async accept(t) {
      // The coordinator proposes the payout at delivery; the buyer's acceptance executes it.
      const { call } = s.payoutCall({ taskId: t.taskId, buyer: k.buyer.address, agent: k[t.agent].address, token, amount: t.amount, price: t.price });
      await s.propose(custody(), call, k.coordinator);
      await s.execute(custody(), call, k.buyer);
    },
    async refund(t) {
      // The buyer need not be there: coordinator + arbitrator.
      const call = s.refundCall({ taskId: t.taskId, buyer: k.buyer.address, token, amount: t.amount });
      await s.propose(custody(), call, k.coordinator);
      await s.execute(custody(), call, k.arbitrator);
    },
    async dispute(t, agentBps) {
      await sub.submit(s.remark({ op: "dispute", task: t.taskId, evidenceUri: "ipfs://evidence/buyer" }), k.buyer);
      // The arbitrator proposes its ruling's split; the coordinator's approval executes it.
      const { call } = s.payoutCall({ taskId: t.taskId, buyer: k.buyer.address, agent: k[t.agent].address, token, amount: t.amount, price: t.price }, agentBps);
      await s.propose(custody(), call, k.arbitrator);
      await s.execute(custody(), call, k.coordinator);
    },
    async deposit(amount) {
      const opening = await s.openingAmount(k.buyer.address, token);
      opened += opening;
      await sub.submit(s.depositCall(k.buyer.address, token, amount, opening), k.buyer);
    },
    async settle(vs) {
      const signed = vs.map((v) => {
        const voucher = { payer: k.buyer.address, payee: k[v.payee].address, token, cumulative: v.cumulative };
        return { voucher, signature: u8aToHex(k.buyer.sign(voucherPayload(voucher, s.genesisHash))) };
      });
      const calls = s.settleCalls(`batch-${Date.now()}`, signed, settled);
      await s.proposeMany(calls, k.coordinator);
      await s.executeMany(calls, k.arbitrator);
      for (const { voucher: v } of signed) {
        const key = `${toAccountHex(v.payer)}|${toAccountHex(v.payee)}|${v.token}`;
        if ((settled.get(key) ?? 0n) < v.cumulative) settled.set(key, v.cumulative);
      }
    },
    async anchor(epoch, root) {
      await s.anchor(epoch, root, `ipfs://epoch-${epoch}`);
    },
    mark: async () => (await api.rpc.chain.getHeader()).number.toNumber(),
    async reorg(mark) {
      const head = (await api.rpc.chain.getHeader()).number.toNumber();
      await api.rpc("dev_setHead" as never, mark as never);
      for (let i = 0; i <= head - (mark as number); i++) await api.rpc("dev_newBlock" as never, {} as never);
      // Nonces of the replaced blocks are void: a fresh submitter.
      sub = createSubmitter(api);
      s = createSubstrateSettlement({ api, submitter: sub, coordinator: k.coordinator, arbitrator: k.arbitrator.address, treasury: k.treasury.address, feeBps: this.feeBps });
    },
    async violations(db) {
      const out = (await unbalancedGroups(db)).map((g) => `ledger group ${g.group} sums to ${g.sum}`);
      // What custody holds on-chain = what the ledger has in custody for the buyer.
      const buyer = toAccountHex(k.buyer.address);
      const r = await db.query<{ s: string }>(
        `SELECT COALESCE(SUM(amount), 0)::text AS s FROM ledger_entries
          WHERE token = $1 AND entry_group LIKE 'substrate:%'
            AND (account IN ($2, $3) OR account IN (SELECT 'escrow:' || task_id FROM escrows WHERE buyer = $4))`,
        [token, `channel-deposit:${buyer}`, `custody-reserve:${buyer}`, buyer],
      );
      const onChain = await s.balance(custody().account, token);
      if (onChain !== BigInt(r.rows[0]!.s)) out.push(`custody holds ${onChain} on-chain, the ledger ${r.rows[0]!.s}`);
      return out;
    },
  };
}
