/**
 * `npm run demo -- --chain substrate`: the marketplace against the running stack's Substrate
 * chain (`npm start -- --chain substrate|both`), the way its users drive it over HTTP and from
 * their own accounts: buyers signed in with Sign-In with Substrate post escrow tasks in the test
 * asset and fund each from their account (the funding plan's `utility.batchAll`); reference agents
 * signed in with sr25519 accounts win the sealed auctions and deliver; each escrow then settles
 * through the buyer's custody multisig — accepted by the buyer (`multisig.asMulti` of the payout
 * the coordinator proposed), released by silence past the acceptance window (the arbitrator's
 * co-signer), refunded when nobody can do the task, or split by the arbitrator's ruling after a
 * dispute; a buyer deposits into its channel balance (the same custody account) and pays channel-route
 * tasks with sr25519 vouchers over their SCALE payload, which the settlement worker pays out in a
 * batch through custody (the coordinator proposes, the arbitrator's co-signer executes); and an
 * epoch's reputation root is anchored by a coordinator remark.
 *
 * Checks, to the base unit: every buyer's, agent's and the treasury's asset balance moved by
 * exactly what the outcomes say (rulingSplit of each price), and every buyer's custody account
 * holds exactly what the coordinator's ledger says it holds. The report lists the chain's events
 * of the run (multisig executions, utility batches, transfers, remarks).
 */
import type { ApiPromise } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import type { EventRecord } from "@polkadot/types/interfaces";
import { stringToU8a, u8aToHex } from "@polkadot/util";
import { connectSubstrate, createSubmitter } from "../chain/substrate/client.js";
import { decodeMemo, toAccountHex } from "../chain/substrate/codec.js";
import { custodyOf } from "../chain/substrate/custody.js";
import { devPair, SUBSTRATE_DEV_ROLES } from "../chain/substrate/local-chain.js";
import { voucherPayload } from "../chain/substrate/vouchers.js";
import { createReferenceAgent } from "../agents-ref/kinds.js";
import { rulingSplit } from "../protocol/disputes.js";
import type { SubstrateChainInfo } from "../protocol/network.js";
import type { SubstrateCall } from "../protocol/settlement.js";
import { createSession, type Session } from "../sdk/session.js";
import type { Agent } from "../sdk/agent.js";
import type { DemoProgress } from "./progress.js";
import { DemoError, until } from "./util.js";

export type SubstrateDemoOptions = {
  url: string;
  /** Escrow tasks to post (at least 4: accepted, silent, disputed, refunded). */
  tasks: number;
  /** Of those, released by silence after the acceptance window. */
  silent: number;
  /** The arbitrator's ruling: the agent's share in bps. */
  split: number;
  /** Channel-route tasks paid by vouchers (0: none). */
  channelTasks?: number;
  adminKey: string;
  progress: DemoProgress;
  stepTimeoutMs?: number;
};

type Outcome = "accept" | "silent" | "dispute" | "refund";
type Tracked = { id: string; buyer: KeyringPair; outcome: Outcome; budget: bigint; opening: bigint; status: string; agent?: string; price?: bigint; disputeId?: string };

export type SubstrateDemoReport = {
  chain: { rpcUrl: string; genesisHash: string; runtime: string; token: string; symbol: string; decimals: number };
  blocks: { from: number; to: number };
  tasks: { id: string; outcome: Outcome; status: string; buyer: string; agent: string | null; budget: string; price: string | null }[];
  /** The run's chain events by `section.Method` (only those of AICP accounts' extrinsics). */
  events: Record<string, number>;
  anchor: { epoch: number; root: string; block: number | null } | null;
  /** The channel route: one buyer's deposit (and the custody's opening amount), its tasks and the vouchers that paid them (base units). */
  channel: { buyer: string; deposit: string; opening: string; vouchers: number; tasks: { id: string; status: string; agent: string | null; price: string | null }[] } | null;
  /** Expected and actual asset balance change per account (base units). */
  balances: { who: string; account: string; expected: string; actual: string }[];
  /** Each buyer's custody account: on-chain asset balance and what the ledger holds. */
  custody: { buyer: string; account: string; onChain: string; ledger: string }[];
  /** The coordinator's and the arbitrator's native balance change (fees, multisig deposits), planck: on-chain and in the ledger. */
  operators: { who: string; account: string; onChain: string; ledger: string }[];
  violations: string[];
  seconds: number;
};

const FINAL = new Set(["settled", "refunded", "resolved", "failed", "expired", "cancelled"]);
const WANTED: Record<Outcome, string> = { accept: "settled", silent: "settled", dispute: "resolved", refund: "refunded" };

/**
 * Runs the Substrate demo.
 * @throws DemoError NO_SUBSTRATE (the coordinator lists no Substrate chain), NOT_LOCAL (the chain
 *   cannot time-travel: not chopsticks), TIMEOUT (a step did not happen in time)
 */
export async function runSubstrateDemo(o: SubstrateDemoOptions): Promise<SubstrateDemoReport> {
  const started = Date.now();
  const stepMs = o.stepTimeoutMs ?? 120_000;
  const base = o.url.replace(/\/+$/, "");
  const net = (await (await fetch(`${base}/v1/network`)).json()) as { chains?: (SubstrateChainInfo | { kind: "evm" })[] };
  const info = net.chains?.find((c): c is SubstrateChainInfo => c.kind === "substrate");
  if (!info) throw new DemoError("NO_SUBSTRATE", `The coordinator at ${o.url} has no Substrate chain; start it with \`npm start -- --chain substrate\` (or both).`);
  if (!info.routes?.includes("escrow")) throw new DemoError("NO_SUBSTRATE", "The coordinator's Substrate chain offers no escrow route.");
  const api = await connectSubstrate(info.rpcUrl);
  const sub = createSubmitter(api);
  const agents: Agent[] = [];
  try {
    const token = info.asset.token;
    const [buyers, arbitrator] = await Promise.all([Promise.all(SUBSTRATE_DEV_ROLES.buyers.map((u) => devPair(u))), devPair(SUBSTRATE_DEV_ROLES.arbitrator)]);
    if (arbitrator.address !== info.custody.arbitrator && toAccountHex(arbitrator.address) !== toAccountHex(info.custody.arbitrator))
      throw new DemoError("NOT_LOCAL", `The chain's arbitrator ${info.custody.arbitrator} is not the local development arbitrator ${SUBSTRATE_DEV_ROLES.arbitrator}.`);
    const coordinator = info.custody.coordinator;
    const signer = (p: KeyringPair) => ({ kind: "substrate" as const, address: p.address, signRaw: async (m: string) => u8aToHex(p.sign(stringToU8a(m))) });
    const sessions = new Map<KeyringPair, Session>(buyers.map((b) => [b, createSession({ baseUrl: base, wallet: signer(b) })]));
    const arbitratorSession = createSession({ baseUrl: base, wallet: signer(arbitrator) });
    const balanceOf = async (who: string) => {
      const a = await api.query.assets.account(info.asset.assetId, toAccountHex(who));
      return a.isSome ? a.unwrap().balance.toBigInt() : 0n;
    };
    const send = (c: SubstrateCall, who: KeyringPair) => {
      if (c.genesisHash !== api.genesisHash.toHex()) throw new DemoError("WRONG_CHAIN", `A call for chain ${c.genesisHash} is not for ${api.genesisHash.toHex()}.`);
      return sub.submit(api.tx(api.createType("Call", c.call)), who);
    };
    const fromBlock = (await api.rpc.chain.getHeader()).number.toNumber();

    // ---- agents: the stack's Substrate agents, else in-process ones with //Agent keys ----------
    o.progress.phase("Agents with Substrate accounts (the stack's, or started in-process)");
    const listed = (await (await fetch(`${base}/v1/agents?limit=200`)).json()) as { items: { address: string; capabilities: { capability: string }[] }[] };
    const online = listed.items.filter((a) => a.address.length === 66);
    const caps = new Set(online.flatMap((a) => a.capabilities.map((c) => c.capability)));
    if (!caps.has("math.evaluate") || !caps.has("text.stats")) {
      for (const [i, kind] of (["math", "text"] as const).entries()) {
        const pair = await devPair(SUBSTRATE_DEV_ROLES.agents[i]!);
        const a = createReferenceAgent(kind, { baseUrl: base, wallet: signer(pair), maxConcurrency: 8, pollWaitMs: 1_000 });
        await a.start();
        agents.push(a);
      }
      o.progress.note(`started math and text agents in-process (${SUBSTRATE_DEV_ROLES.agents.slice(0, 2).join(", ")})`);
    } else o.progress.note(`${online.length} Substrate agents online`);
    const agentAccounts = new Set([...online.map((a) => a.address), ...agents.map((a) => a.address)]);

    // ---- plan and balances before ---------------------------------------------------------------
    const n = Math.max(4, o.tasks);
    const silent = Math.min(Math.max(1, o.silent), n - 3);
    const outcomes: Outcome[] = [...Array(n - 2 - silent).fill("accept"), ...Array(silent).fill("silent"), "dispute", "refund"];
    const treasury = info.treasury;
    const watched = [...buyers.map((b) => b.address), ...agentAccounts, treasury];
    const before = new Map(await Promise.all(watched.map(async (w) => [toAccountHex(w), await balanceOf(w)] as const)));
    // The operators' native currency: what their extrinsics cost (fees, multisig deposits) is in the ledger.
    const operators = [coordinator, info.custody.arbitrator].map(toAccountHex);
    const nativeOf = async (who: string) => (await api.query.system.account(who)).data.free.toBigInt();
    const ledgerNative = async () => {
      const a = (await (await fetch(`${base}/v1/admin/audit`, { method: "POST", headers: { "x-admin-key": o.adminKey, "content-type": "application/json" }, body: JSON.stringify({ parts: ["balances"], token: "native" }) })).json()) as {
        balances?: { account: string; balance: string }[];
      };
      return new Map((a.balances ?? []).map((b) => [b.account, BigInt(b.balance)]));
    };
    // The ledger is read once the indexer has applied every block so far (fees of the last extrinsic too).
    const indexed = async () => {
      const head = (await api.rpc.chain.getHeader()).number.toNumber();
      await until("the indexer to reach the chain's head", async () => {
        const a = (await (await fetch(`${base}/v1/admin/audit`, { method: "POST", headers: { "x-admin-key": o.adminKey, "content-type": "application/json" }, body: JSON.stringify({ parts: ["indexedBlock"], chain: "substrate" }) })).json()) as {
          indexedBlock?: number | null;
        };
        return (a.indexedBlock ?? 0) >= head;
      }, stepMs, 250);
    };
    await indexed();
    const [nativeBefore, ledgerBefore] = await Promise.all([Promise.all(operators.map(nativeOf)), ledgerNative()]);

    // ---- post and fund ---------------------------------------------------------------------------
    o.progress.phase(`Posting ${n} escrow tasks in ${info.asset.symbol}, each funded from the buyer's own account (utility.batchAll → custody multisig)`);
    const capabilities = ["math.evaluate", "text.stats"];
    const inputs: Record<string, unknown> = { "math.evaluate": { expression: "6 * 7 + 1" }, "text.stats": { text: "the agent economy settles on two chains" } };
    const tracked: Tracked[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      const buyer = buyers[i % buyers.length]!;
      const capability = outcome === "refund" ? "demo.nobody-offers-this" : capabilities[i % capabilities.length]!;
      const budget = 2_000_000n + BigInt(i) * 100_000n;
      const r = await sessions.get(buyer)!.request<{ tasks: { id: string; funding: { calls: SubstrateCall[]; opening: string } }[] }>("POST", "/v1/tasks", {
        capability,
        input: inputs[capability] ?? { note: "nobody offers this capability: the escrow is refunded" },
        complexity: 2,
        budget: budget.toString(),
        token,
        deadline: new Date(Date.now() + 3_600_000).toISOString(),
        auction: { rule: "second-price", windowMs: 500 },
        route: "escrow",
      });
      const t = r.tasks[0]!;
      // Fundings of one buyer go one after another (one nonce sequence); the opening amount is only in the first.
      await send(t.funding.calls[0]!, buyer);
      tracked.push({ id: t.id, buyer, outcome, budget, opening: BigInt(t.funding.opening), status: "funding" });
    }
    o.progress.note(`${tracked.length} tasks posted and funded`);

    // A task is done when it reached its outcome's status, or a final one that is not a step on
    // the way (a task nobody can do expires first, then its escrow is refunded).
    const done = (t: Tracked) => t.status === WANTED[t.outcome] || (FINAL.has(t.status) && t.status !== "expired");
    const refresh = async () => {
      for (const t of tracked) {
        if (done(t)) continue;
        const v = await sessions.get(t.buyer)!.request<{ status: string; agent: string | null; price: string | null; dispute: { id: string } | null }>("GET", `/v1/tasks/${t.id}`);
        t.status = v.status;
        if (v.agent) t.agent = v.agent;
        if (v.price) t.price = BigInt(v.price);
        if (v.dispute) t.disputeId = v.dispute.id;
      }
    };
    const waitFor = (what: string, f: () => boolean) =>
      until(what, async () => {
        await refresh();
        return f();
      }, stepMs, 500);

    // ---- deliveries, acceptances, the dispute ---------------------------------------------------
    o.progress.phase("Agents deliver (the coordinator attests each delivery and proposes its payout from custody)");
    await waitFor("every task to be delivered (or refunded)", () => tracked.every((t) => (t.outcome === "refund" ? done(t) : ["delivered", "accepted", "disputed", ...FINAL].includes(t.status))));
    const retrying = <T>(what: string, f: () => Promise<T>) =>
      until(what, () => f().catch((e: { code?: string }) => (e.code === "ESCROW_NOT_CONFIRMED" ? undefined : Promise.reject(e))), stepMs, 500);
    const disputed = tracked.find((t) => t.outcome === "dispute")!;
    o.progress.phase(`A dispute: the buyer disputes with ERC-1497 evidence; the arbitrator rules ${o.split} bps to the agent (remark + multisig approval)`);
    const d = await retrying("the dispute call", () =>
      sessions.get(disputed.buyer)!.request<{ call: SubstrateCall }>("POST", `/v1/tasks/${disputed.id}/dispute`, { evidenceUri: "data:application/json,%7B%22name%22%3A%22wrong%20result%22%7D", text: "The result does not match the input." }),
    );
    await send(d.call, disputed.buyer);
    await waitFor("the dispute to open", () => disputed.status === "disputed" && disputed.disputeId !== undefined);
    const ruling = await retrying("the ruling call", () => arbitratorSession.request<{ call: SubstrateCall }>("POST", `/v1/disputes/${disputed.disputeId}/ruling`, { agentShareBps: o.split }));
    await send(ruling.call, arbitrator);

    o.progress.phase("Buyers accept by executing the coordinator's payout proposal (multisig.asMulti)");
    for (const t of tracked.filter((x) => x.outcome === "accept")) {
      const r = await retrying(`the release call of ${t.id}`, () => sessions.get(t.buyer)!.request<{ call: SubstrateCall }>("POST", `/v1/tasks/${t.id}/accept`));
      await send(r.call, t.buyer);
    }
    // ---- past the windows ------------------------------------------------------------------------
    const windowS = Math.max(info.windows.acceptance, info.windows.appeal) + 5;
    o.progress.phase(`Moving the local chain's clock ${windowS} s ahead (chopsticks dev_timeTravel): past the acceptance window (silence releases) and the appeal window (the ruling executes)`);
    await until("the arbitrator's ruling to be indexed", async () => {
      const c = await arbitratorSession.request<{ dispute: { status: string } }>("GET", `/v1/disputes/${disputed.disputeId}`);
      return c.dispute.status === "ruled";
    }, stepMs, 500);
    const target = (await api.query.timestamp.now()).toNumber() + windowS * 1000;
    for (let i = 0; i < 5 && (await api.query.timestamp.now()).toNumber() < target; i++) {
      await api.rpc("dev_timeTravel" as never, target as never).catch((err: Error) => {
        throw new DemoError("NOT_LOCAL", `The chain cannot move its clock (${err.message}): the demo needs the local chopsticks chain of npm start -- --chain substrate.`);
      });
      await api.rpc("dev_newBlock" as never);
    }
    o.progress.phase("Waiting for every escrow to end (released, refunded, resolved)");
    await waitFor("every task to reach its outcome", () => tracked.every(done));

    // ---- the channel route: a deposit, tasks paid by vouchers, one settlement batch -------------
    const channelTasks = o.channelTasks ?? 3;
    let channel: SubstrateDemoReport["channel"] = null;
    const channelExpected: [string, bigint][] = [];
    if (channelTasks > 0 && info.routes?.includes("channel")) {
      const buyer = buyers[0]!;
      const session = sessions.get(buyer)!;
      const payer = toAccountHex(buyer.address);
      type View = { accounts: { token: string; deposit: string }[]; pairs: { payee: string; token: string; due: string; nextCumulativeAmount: string; dueTaskIds: string[] }[] };
      const view = () => session.request<View>("GET", `/v1/channels/${payer}`);
      const depositOf = async () => BigInt((await view()).accounts.find((a) => a.token === token)?.deposit ?? "0");
      const budget = 500_000n;
      const amount = budget * BigInt(channelTasks);
      o.progress.phase(`Channel route: ${buyer.address.slice(0, 8)}… deposits ${amount} base units into its channel balance (custody multisig) and posts ${channelTasks} channel tasks`);
      const was = await depositOf();
      const dep = await session.request<{ call: SubstrateCall; opening: string }>("POST", "/v1/channels/deposit-call", { token, amount: amount.toString() });
      await send(dep.call, buyer);
      await until("the deposit to be indexed", async () => (await depositOf()) >= was + amount, stepMs, 250);
      const ids: string[] = [];
      for (let i = 0; i < channelTasks; i++) {
        const capability = capabilities[i % capabilities.length]!;
        const r = await session.request<{ tasks: { id: string; settlement: string }[] }>("POST", "/v1/tasks", {
          capability, input: inputs[capability], complexity: 1, budget: budget.toString(), token,
          deadline: new Date(Date.now() + 3_600_000).toISOString(), auction: { rule: "second-price", windowMs: 500 }, route: "channel",
        });
        ids.push(r.tasks[0]!.id);
      }
      type View1 = { status: string; agent: string | null; price: string | null };
      const states = new Map<string, View1>();
      const poll = async (want: (v: View1) => boolean) => {
        for (const id of ids) states.set(id, await session.request<View1>("GET", `/v1/tasks/${id}`));
        return ids.every((id) => want(states.get(id)!));
      };
      await until("the channel tasks to be delivered", () => poll((v) => v.status !== "open" && v.status !== "awarded" && v.status !== "running"), stepMs, 500);
      o.progress.phase("The buyer signs one sr25519 voucher per payee over (payer, payee, asset, cumulative amount, genesis hash); the settlement worker batches them");
      let vouchers = 0;
      for (const pair of (await view()).pairs.filter((p) => p.token === token && p.dueTaskIds.some((id) => ids.includes(id)))) {
        const v = { payer, payee: pair.payee, token, cumulative: BigInt(pair.nextCumulativeAmount) };
        await session.request("POST", "/v1/vouchers", { payer, payee: pair.payee, token, cumulativeAmount: pair.nextCumulativeAmount, signature: u8aToHex(buyer.sign(voucherPayload(v, api.genesisHash.toHex()))) });
        vouchers++;
      }
      await until("the channel tasks to settle on-chain", () => poll((v) => FINAL.has(v.status)), stepMs, 500);
      channelExpected.push([buyer.address, -amount - BigInt(dep.opening)]);
      for (const id of ids) {
        const v = states.get(id)!;
        if (v.status === "settled" && v.agent && v.price) channelExpected.push([v.agent, BigInt(v.price)]); // no fee on the channel route
      }
      channel = { buyer: buyer.address, deposit: amount.toString(), opening: dep.opening, vouchers, tasks: ids.map((id) => ({ id, ...states.get(id)! })) };
    }

    // ---- reputation anchor -----------------------------------------------------------------------
    o.progress.phase("Reputation: the operator snapshots an epoch; the coordinator anchors its Merkle root with system.remarkWithEvent");
    const snap = await fetch(`${base}/v1/reputation/epochs`, { method: "POST", headers: { "x-admin-key": o.adminKey } });
    let anchor: SubstrateDemoReport["anchor"] = null;
    if (snap.status === 201) {
      const { epoch, root } = (await snap.json()) as { epoch: number; root: string };
      const block = await until(`epoch ${epoch}'s anchor remark`, () => findAnchor(api, coordinator, epoch, root, fromBlock), stepMs, 500).catch(() => null);
      anchor = { epoch, root, block };
    }

    // ---- checks ----------------------------------------------------------------------------------
    const violations: string[] = [];
    for (const t of tracked) if (t.status !== WANTED[t.outcome]) violations.push(`task ${t.id} (${t.outcome}) ended ${t.status}, not ${WANTED[t.outcome]}`);
    for (const t of channel?.tasks ?? []) if (t.status !== "settled") violations.push(`channel task ${t.id} ended ${t.status}, not settled`);
    const expected = new Map<string, bigint>([...before.keys()].map((k) => [k, 0n]));
    const add = (who: string, v: bigint) => expected.set(toAccountHex(who), (expected.get(toAccountHex(who)) ?? 0n) + v);
    for (const t of tracked) {
      add(t.buyer.address, -t.budget - t.opening);
      if (t.outcome === "refund") add(t.buyer.address, t.budget);
      else if (t.price !== undefined && t.agent) {
        const s = rulingSplit(t.price, t.budget, t.outcome === "dispute" ? o.split : 10_000, info.feeBps);
        add(t.agent, s.agent);
        add(treasury, s.fee);
        add(t.buyer.address, s.buyer);
      }
    }
    for (const [who, v] of channelExpected) add(who, v);
    const balances: SubstrateDemoReport["balances"] = [];
    for (const [account, was] of before) {
      const actual = (await balanceOf(account)) - was;
      const want = expected.get(account) ?? 0n;
      const who = buyers.find((b) => toAccountHex(b.address) === account) ? "buyer" : account === toAccountHex(treasury) ? "treasury" : "agent";
      balances.push({ who, account, expected: want.toString(), actual: actual.toString() });
      if (actual !== want) violations.push(`${who} ${account}: ${info.asset.symbol} changed by ${actual}, expected ${want}`);
    }
    // Conservation: each custody account holds what the ledger says (escrows + custody reserve).
    await indexed();
    const audit = (await (
      await fetch(`${base}/v1/admin/audit`, { method: "POST", headers: { "x-admin-key": o.adminKey, "content-type": "application/json" }, body: JSON.stringify({ parts: ["balances"], token }) })
    ).json()) as { balances?: { account: string; token: string; balance: string }[] };
    const ledger = new Map((audit.balances ?? []).map((b) => [b.account, BigInt(b.balance)]));
    const escrowsOf = new Map<string, string[]>();
    for (const t of tracked) escrowsOf.set(toAccountHex(t.buyer.address), [...(escrowsOf.get(toAccountHex(t.buyer.address)) ?? []), t.id]);
    const custody: SubstrateDemoReport["custody"] = [];
    for (const b of buyers) {
      const hex = toAccountHex(b.address);
      const c = custodyOf(b.address, coordinator, info.custody.arbitrator);
      // Every escrow of this buyer in the ledger, not only this run's: the custody holds them all.
      const held = [...ledger.entries()].filter(([k]) => k === `custody-reserve:${hex}` || k === `channel-deposit:${hex}` || (k.startsWith("escrow:") && escrowOwner(k, tracked, hex))).reduce((s, [, v]) => s + v, 0n);
      const onChain = await balanceOf(c.account);
      custody.push({ buyer: b.address, account: c.account, onChain: onChain.toString(), ledger: held.toString() });
      if ((escrowsOf.has(hex) || channel?.buyer === b.address) && onChain !== held) violations.push(`custody of ${b.address}: ${onChain} on-chain, ${held} in the ledger`);
    }
    const ledgerAfter = await ledgerNative();
    const operatorsNative: SubstrateDemoReport["operators"] = [];
    for (const [i, acct] of operators.entries()) {
      const onChain = (await nativeOf(acct)) - nativeBefore[i]!;
      const inLedger = (ledgerAfter.get(`wallet:${acct}`) ?? 0n) - (ledgerBefore.get(`wallet:${acct}`) ?? 0n);
      operatorsNative.push({ who: i === 0 ? "coordinator" : "arbitrator", account: acct, onChain: onChain.toString(), ledger: inLedger.toString() });
      if (onChain !== inLedger) violations.push(`${i === 0 ? "coordinator" : "arbitrator"} ${acct}: native changed by ${onChain} on-chain, ${inLedger} in the ledger`);
    }
    const toBlock = (await api.rpc.chain.getHeader()).number.toNumber();
    const events = await countEvents(api, fromBlock + 1, toBlock);
    if (!anchor?.block) violations.push("the epoch's anchor remark was not found on-chain");
    return {
      chain: { rpcUrl: info.rpcUrl, genesisHash: info.genesisHash, runtime: info.runtime, token, symbol: info.asset.symbol, decimals: info.asset.decimals },
      blocks: { from: fromBlock + 1, to: toBlock },
      tasks: tracked.map((t) => ({ id: t.id, outcome: t.outcome, status: t.status, buyer: t.buyer.address, agent: t.agent ?? null, budget: t.budget.toString(), price: t.price?.toString() ?? null })),
      events,
      anchor,
      channel,
      balances,
      custody,
      operators: operatorsNative,
      violations,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    for (const a of agents) await a.stop({ drainMs: 0 }).catch(() => undefined);
    await api.disconnect();
  }
}

/** Whether ledger account `escrow:<task>` is an escrow of the buyer `hex` (this run's tasks; older runs' are closed). */
function escrowOwner(account: string, tracked: Tracked[], hex: string): boolean {
  const t = tracked.find((x) => `escrow:${x.id}` === account);
  return t !== undefined && toAccountHex(t.buyer.address) === hex;
}

/** The block of the coordinator's anchor remark of `epoch` with `root` after `fromBlock`, or undefined. */
async function findAnchor(api: ApiPromise, coordinator: string, epoch: number, root: string, fromBlock: number): Promise<number | undefined> {
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  for (let n = head; n > fromBlock; n--) {
    const b = await api.rpc.chain.getBlock(await api.rpc.chain.getBlockHash(n));
    for (const x of b.block.extrinsics) {
      if (!x.isSigned || toAccountHex(x.signer.toString()) !== toAccountHex(coordinator)) continue;
      if (x.method.section !== "system" || x.method.method !== "remarkWithEvent") continue;
      const m = decodeMemo(x.method.args[0]!.toU8a(true));
      if (m?.op === "anchor" && m.epoch === String(epoch) && m.root === root.toLowerCase()) return n;
    }
  }
  return undefined;
}

/** Counts the chain's events in blocks `from..to` that show AICP's settlement at work. */
async function countEvents(api: ApiPromise, from: number, to: number): Promise<Record<string, number>> {
  const wanted = new Set(["multisig.NewMultisig", "multisig.MultisigApproval", "multisig.MultisigExecuted", "utility.BatchCompleted", "assets.Transferred", "balances.Transfer", "system.Remarked", "balances.Reserved", "balances.Unreserved"]);
  const out: Record<string, number> = {};
  for (let n = from; n <= to; n++) {
    const at = await api.at(await api.rpc.chain.getBlockHash(n));
    for (const r of (await at.query.system.events()) as unknown as EventRecord[]) {
      const k = `${r.event.section}.${r.event.method}`;
      if (wanted.has(k)) out[k] = (out[k] ?? 0) + 1;
    }
  }
  return out;
}

/** The report as text. */
export function formatSubstrateReport(r: SubstrateDemoReport): string {
  const unit = (v: string) => {
    const b = BigInt(v);
    const neg = b < 0n;
    const a = neg ? -b : b;
    const d = 10n ** BigInt(r.chain.decimals);
    return `${neg ? "-" : ""}${a / d}.${(a % d).toString().padStart(r.chain.decimals, "0")} ${r.chain.symbol}`;
  };
  const lines = [
    `AICP demo on Substrate — ${r.chain.runtime}, genesis ${r.chain.genesisHash.slice(0, 12)}…, ${r.chain.rpcUrl}, blocks ${r.blocks.from}–${r.blocks.to}, ${r.seconds} s`,
    "",
    "Tasks (escrow route, custody multisig of buyer, coordinator and arbitrator):",
    ...r.tasks.map((t) => `  ${t.id}  ${t.outcome.padEnd(8)} ${t.status.padEnd(9)} budget ${unit(t.budget)}  price ${t.price ? unit(t.price) : "-"}  agent ${t.agent ? `${t.agent.slice(0, 10)}…` : "-"}`),
    "",
    "Chain events of the run:",
    ...Object.entries(r.events).map(([k, v]) => `  ${k.padEnd(28)} ${v}`),
    "",
    ...(r.channel
      ? [
          `Channel route (deposit ${unit(r.channel.deposit)} into the custody of ${r.channel.buyer.slice(0, 10)}…, ${r.channel.vouchers} sr25519 voucher(s), paid out in the settlement batch):`,
          ...r.channel.tasks.map((t) => `  ${t.id}  ${t.status.padEnd(9)} price ${t.price ? unit(t.price) : "-"}  agent ${t.agent ? `${t.agent.slice(0, 10)}…` : "-"}`),
          "",
        ]
      : []),
    `Reputation anchor: ${r.anchor ? `epoch ${r.anchor.epoch}, root ${r.anchor.root.slice(0, 18)}…, remark in block ${r.anchor.block ?? "not found"}` : "none"}`,
    "",
    "Balances (change in base units: expected = actual):",
    ...r.balances.map((b) => `  ${b.who.padEnd(8)} ${b.account.slice(0, 12)}…  expected ${b.expected.padStart(12)}  actual ${b.actual.padStart(12)}  ${b.expected === b.actual ? "ok" : "MISMATCH"}`),
    "",
    "Custody accounts (on-chain = ledger):",
    ...r.custody.map((c) => `  ${c.account.slice(0, 12)}…  on-chain ${c.onChain.padStart(12)}  ledger ${c.ledger.padStart(12)}  ${c.onChain === c.ledger ? "ok" : "MISMATCH"}`),
    "",
    "Operators' native currency (fees and multisig deposits, planck: on-chain = ledger):",
    ...r.operators.map((x) => `  ${x.who.padEnd(11)} ${x.account.slice(0, 12)}…  on-chain ${x.onChain.padStart(16)}  ledger ${x.ledger.padStart(16)}  ${x.onChain === x.ledger ? "ok" : "MISMATCH"}`),
    "",
    r.violations.length ? `VIOLATIONS (${r.violations.length}):\n${r.violations.map((v) => `  - ${v}`).join("\n")}` : "Every invariant holds.",
  ];
  return lines.join("\n");
}
