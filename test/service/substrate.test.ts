import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import type { ApiPromise } from "@polkadot/api";
import type { KeyringPair } from "@polkadot/keyring/types";
import { u8aToHex } from "@polkadot/util";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { startHarness, until, type Harness } from "./harness.js";
import { connectSubstrate, createSubmitter, SubstrateTxError, type Submitter } from "../../src/chain/substrate/client.js";
import { devPair, seedLocalSubstrate, startLocalSubstrate, TEST_ASSET, type LocalSubstrate } from "../../src/chain/substrate/local-chain.js";
import { createSubstrateSettlement, type SubstrateSettlement } from "../../src/chain/substrate/settlement.js";
import { createSubstrateSource } from "../../src/chain/substrate/source.js";
import { voucherPayload, verifyVoucher, type SubstrateVoucher } from "../../src/chain/substrate/vouchers.js";
import { decodeMemo, encodeMemo, toAccountHex } from "../../src/chain/substrate/codec.js";
import { createIndexer, type Indexer } from "../../src/indexer/indexer.js";
import { createEventRegistry } from "../../src/settlement/events.js";
import { rulingSplit } from "../../src/protocol/disputes.js";
import { taskKey } from "../../src/protocol/keys.js";
import { unbalancedGroups } from "../../src/ledger/store.js";
import { AppError } from "../../src/errors.js";
import { stringToU8a, u8aWrapBytes } from "@polkadot/util";
import { createSession } from "../../src/sdk/session.js";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

const UNIT = 10n ** 12n; // planck per ROC

/**
 * The Substrate settlement backend on the real Asset Hub runtime (chopsticks, Instant blocks),
 * with the indexer writing into a fresh Postgres schema: custody multisig escrows (release,
 * refund, ruling split, no single party moves money), channel deposits and batched payouts of
 * sr25519 and ed25519 vouchers (exact to the planck, in the native currency and a pallet-assets
 * token), anchors, the ledger's conservation against on-chain balances, a reorg and a restart.
 */
describe("Substrate settlement (chopsticks Asset Hub + Postgres)", function () {
  this.timeout(300_000);
  let chain: LocalSubstrate;
  let api: ApiPromise;
  let sub: Submitter;
  let s: SubstrateSettlement;
  let h: Harness;
  let indexer: Indexer;
  let coordinator: KeyringPair, arbitrator: KeyringPair, treasury: KeyringPair, buyer: KeyringPair, buyer2: KeyringPair, agent: KeyringPair, agent2: KeyringPair, admin: KeyringPair, stranger: KeyringPair;
  const FEE_BPS = 250;
  const hex = (p: KeyringPair) => toAccountHex(p.address);
  const bal = (p: KeyringPair | string, token = "native") => s.balance(typeof p === "string" ? p : p.address, token);
  const q = async <T = Record<string, string>>(sql: string, params: unknown[] = []) => (await h.c.ctx.db.query(sql, params)).rows as T[];
  const newIndexer = () =>
    createIndexer(h.c.ctx, {
      name: "substrate",
      source: createSubstrateSource(api, { coordinator: coordinator.address, arbitrator: arbitrator.address, treasury: treasury.address }),
      registry: createEventRegistry(),
      confirmations: 0,
      pollMs: 50,
    });
  const caughtUp = () =>
    until(async () => {
      const fin = (await api.rpc.chain.getHeader(await api.rpc.chain.getFinalizedHead())).number.toNumber();
      const st = indexer.status();
      return st.applied !== null && st.applied >= fin;
    }, 60_000, 25);
  /** Ledger total of an account for a token (base units). */
  const ledger = async (account: string, token = "native") =>
    BigInt((await q<{ s: string }>("SELECT COALESCE(SUM(amount), 0)::text AS s FROM ledger_entries WHERE account = $1 AND token = $2 AND entry_group LIKE 'substrate:%'", [account, token]))[0]!.s);
  /** Conservation: each custody account's on-chain balance = what the ledger says it holds. */
  async function checkCustody(b: KeyringPair, token = "native") {
    await caughtUp();
    const c = s.custody(b.address);
    const held = await q<{ s: string }>(
      `SELECT COALESCE(SUM(e.amount), 0)::text AS s FROM ledger_entries e
        WHERE e.token = $2 AND e.entry_group LIKE 'substrate:%'
          AND (e.account IN ($1, $3) OR e.account IN (SELECT 'escrow:' || task_id FROM escrows WHERE buyer = $4))`,
      [`channel-deposit:${hex(b)}`, token, `custody-reserve:${hex(b)}`, hex(b)],
    );
    expect(await bal(c.account, token), `custody of ${b.address} (${token})`).to.equal(BigInt(held[0]!.s));
    expect(await unbalancedGroups(h.c.ctx.db)).to.deep.equal([]);
  }

  before(async () => {
    chain = await startLocalSubstrate(Number(process.env["SUBSTRATE_TEST_PORT"] ?? (await freePort())));
    api = await connectSubstrate(chain.url);
    sub = createSubmitter(api);
    [coordinator, arbitrator, treasury, buyer, buyer2, agent, agent2, admin, stranger] = await Promise.all([
      devPair("//Bob"),
      devPair("//Charlie"),
      devPair("//Dave"),
      devPair("//Eve"),
      devPair("//Ferdie", "ed25519"),
      devPair("//Agent1"),
      devPair("//Agent2", "ed25519"),
      devPair("//Alice"),
      devPair("//Mallory"),
    ]);
    const everyone = [coordinator, arbitrator, treasury, buyer, buyer2, agent, agent2, stranger].map((k) => k.address);
    await seedLocalSubstrate(api, sub, { accounts: everyone, native: 1000n * UNIT, admin, assetHolders: [buyer.address, buyer2.address], assetAmount: 1_000_000_000n });
    s = createSubstrateSettlement({ api, submitter: sub, coordinator, arbitrator: arbitrator.address, treasury: treasury.address, feeBps: FEE_BPS });
    // The coordinator connects to the chain (SUBSTRATE_RPC_URL): it runs the Substrate indexer,
    // lists the chain in GET /v1/network and signs its accounts in.
    h = await startHarness({ SUBSTRATE_RPC_URL: chain.url });
    indexer = h.c.substrateIndexer!;
  });
  after(async () => {
    await indexer?.stop();
    await h?.stop();
    await api?.disconnect();
    await chain?.stop();
  });

  /** Funds a task from `b` and returns its terms (amount in planck). */
  async function funded(b: KeyringPair, amount: bigint, token = "native") {
    const task = { id: randomUUID(), buyer: b.address, token, amount, deadline: new Date(Date.now() + 3_600_000) };
    const opening = await s.openingAmount(b.address, token);
    const inc = await sub.submit(s.fundCall(task, opening), b);
    return { task, opening, fee: inc.fee };
  }

  it("a memo round-trips and anything else in a remark is not a memo", () => {
    const m = { op: "award" as const, task: randomUUID(), agent: `0x${"ab".repeat(32)}`, price: "5" };
    expect(decodeMemo(encodeMemo(m))).to.deep.equal(m);
    expect(decodeMemo(new TextEncoder().encode("hello"))).to.equal(undefined);
    expect(decodeMemo(new TextEncoder().encode('aicp:1:{"op":"award","price":"-1"}'))).to.equal(undefined);
    expect(() => toAccountHex("not-an-address")).to.throw(AppError, /SS58/);
  });

  it("escrow: fund → award → deliver → the buyer accepts; agent, treasury and buyer paid exactly, fees and deposits accounted", async () => {
    const amount = 10n * UNIT;
    const price = 6n * UNIT;
    const before = { buyer: await bal(buyer), agent: await bal(agent), treasury: await bal(treasury), coordinator: await bal(coordinator) };
    const { task, opening, fee: fundFee } = await funded(buyer, amount);
    expect(opening).to.equal(api.consts.balances.existentialDeposit.toBigInt());
    const custody = s.custody(buyer.address);
    expect(await bal(custody.account)).to.equal(amount + opening);
    const fees: bigint[] = [];
    fees.push((await s.award(task.id, agent.address, price)).fee);
    fees.push((await s.deliver(task.id, `0x${"11".repeat(32)}`, new Date(Date.now() + 60_000))).fee);
    const { call, split } = s.payoutCall({ taskId: task.id, buyer: buyer.address, agent: agent.address, token: "native", amount, price });
    expect(split).to.deep.equal(rulingSplit(price, amount, 10_000, FEE_BPS));
    // The coordinator proposes; its multisig deposit is reserved until the buyer's approval executes.
    const proposal = await s.propose(custody, call, coordinator);
    fees.push(proposal.fee);
    const deposit = api.consts.multisig.depositBase.toBigInt() + 2n * api.consts.multisig.depositFactor.toBigInt();
    expect((await api.query.system.account(coordinator.address)).data.reserved.toBigInt()).to.equal(deposit);
    expect(await bal(custody.account)).to.equal(amount + opening); // nothing moved on one approval
    const exec = await s.execute(custody, call, buyer);
    expect(exec.events.some(({ event }) => api.events.multisig.MultisigExecuted.is(event))).to.equal(true);
    expect(exec.events.some(({ event }) => api.events.utility.BatchCompleted.is(event))).to.equal(true);
    expect((await api.query.system.account(coordinator.address)).data.reserved.toBigInt()).to.equal(0n);
    expect(await bal(agent)).to.equal(before.agent + split.agent);
    expect(await bal(treasury)).to.equal(before.treasury + split.fee);
    expect(await bal(buyer)).to.equal(before.buyer - amount - opening - fundFee - exec.fee + split.buyer);
    expect(await bal(coordinator)).to.equal(before.coordinator - fees.reduce((a, b) => a + b, 0n));
    expect(await bal(custody.account)).to.equal(opening);
    await caughtUp();
    const [row] = await q("SELECT state, agent, price::text, buyer FROM escrows WHERE task_id = $1", [task.id]);
    expect(row).to.deep.include({ state: "released", agent: hex(agent), price: price.toString(), buyer: hex(buyer) });
    expect(await ledger(`wallet:${hex(agent)}`)).to.be.at.least(split.agent);
    expect(await ledger(`escrow:${task.id}`)).to.equal(0n);
    await checkCustody(buyer);
  });

  it("no single party moves custody money: a lone approval executes nothing, the proposer cannot approve twice, an unproposed call is refused", async () => {
    const amount = 2n * UNIT;
    const { task } = await funded(buyer, amount);
    const custody = s.custody(buyer.address);
    const held = await bal(custody.account);
    const { call } = s.payoutCall({ taskId: task.id, buyer: buyer.address, agent: stranger.address, token: "native", amount, price: amount });
    const early = await s.execute(custody, call, coordinator).catch((e: unknown) => e);
    expect(early).to.be.instanceOf(AppError).with.property("code", "NOT_PROPOSED");
    await s.propose(custody, call, coordinator);
    const again = await s.execute(custody, call, coordinator).catch((e: unknown) => e);
    expect(again).to.be.instanceOf(SubstrateTxError);
    expect((again as SubstrateTxError).dispatch).to.equal("multisig.AlreadyApproved");
    // A stranger is not a signatory of the buyer's custody.
    expect(() => s.proposeMany([{ custody, call }], stranger)).to.throw(/not a signatory/);
    expect(await bal(custody.account)).to.equal(held);
    // The proposer withdraws the proposal and gets its deposit back; the escrow is refunded
    // with the arbitrator (the buyer gone): coordinator + arbitrator.
    await s.cancel(custody, call, coordinator);
    expect((await api.query.system.account(coordinator.address)).data.reserved.toBigInt()).to.equal(0n);
    const before = await bal(buyer);
    const refund = s.refundCall({ taskId: task.id, buyer: buyer.address, token: "native", amount });
    await s.propose(custody, refund, coordinator);
    await s.execute(custody, refund, arbitrator);
    expect(await bal(buyer)).to.equal(before + amount);
    await caughtUp();
    expect((await q("SELECT state FROM escrows WHERE task_id = $1", [task.id]))[0]).to.deep.equal({ state: "refunded" });
    await checkCustody(buyer);
  });

  it("a forged memo moves nothing in the projections: a stranger's funding of the buyer's task, award and release", async () => {
    const amount = UNIT;
    const { task } = await funded(buyer, amount);
    // The stranger funds the buyer's task from its own account: with an authorization it signed
    // itself, and with the coordinator's genuine one for the buyer (copied from the buyer's call).
    const theirs = s.custody(stranger.address).account;
    const genuine = s.fundCall({ ...task, amount }).method.args[0] as unknown as { args: unknown[] }[];
    const copiedMemo = genuine[1]!.args[0] as { toU8a(b: boolean): Uint8Array };
    const deadline = Math.floor(task.deadline.getTime() / 1000);
    const selfSigned = u8aToHex(stranger.sign(new Uint8Array(64)));
    for (const memo of [
      u8aToHex(encodeMemo({ op: "fund", task: task.id, token: "native", amount: "5", deadline, auth: selfSigned })),
      u8aToHex(copiedMemo.toU8a(true)),
    ])
      await sub.submit(api.tx.utility.batchAll([s.transfer("native", theirs, 10_000_000n), api.tx.system.remarkWithEvent(memo)]), stranger);
    await sub.submit(s.remark({ op: "award", task: task.id, agent: hex(stranger), price: amount.toString() }), stranger);
    // A "release" memo next to a transfer from the stranger's own account.
    await sub.submit(api.tx.utility.batchAll([s.transfer("native", stranger.address, 1000n), s.remark({ op: "release", task: task.id, buyer: hex(buyer), token: "native", agent: hex(stranger), agentAmount: "1000", fee: "0", buyerAmount: "0" })]), stranger);
    await caughtUp();
    expect((await q("SELECT state, agent, buyer, amount::text FROM escrows WHERE task_id = $1", [task.id]))[0]).to.deep.equal({ state: "funded", agent: null, buyer: hex(buyer), amount: amount.toString() });
    // Only the buyer's funding is in the task's escrow; the stranger's transfers are its own (its fees are booked, nothing else).
    expect(await ledger(`escrow:${task.id}`)).to.equal(amount);
    expect(await ledger(`custody-reserve:${hex(stranger)}`)).to.equal(0n);
    await checkCustody(buyer);
  });

  it("dispute: the arbitrator's 60/40 ruling executes as one batch with the coordinator's approval, exact to the planck", async () => {
    const amount = 5n * UNIT + 7n;
    const price = 4n * UNIT + 3n;
    const { task } = await funded(buyer, amount);
    await s.award(task.id, agent.address, price);
    await s.deliver(task.id, `0x${"22".repeat(32)}`, new Date(Date.now() + 60_000));
    await sub.submit(s.remark({ op: "dispute", task: task.id, evidenceUri: "ipfs://evidence" }), buyer);
    const before = { buyer: await bal(buyer), agent: await bal(agent), treasury: await bal(treasury) };
    const { call, split } = s.payoutCall({ taskId: task.id, buyer: buyer.address, agent: agent.address, token: "native", amount, price }, 6000);
    expect(split).to.deep.equal(rulingSplit(price, amount, 6000, FEE_BPS));
    await s.propose(s.custody(buyer.address), call, arbitrator);
    await s.execute(s.custody(buyer.address), call, coordinator);
    expect(await bal(agent)).to.equal(before.agent + split.agent);
    expect(await bal(treasury)).to.equal(before.treasury + split.fee);
    expect(await bal(buyer)).to.equal(before.buyer + split.buyer);
    await caughtUp();
    expect((await q("SELECT state FROM escrows WHERE task_id = $1", [task.id]))[0]).to.deep.equal({ state: "resolved" });
    await checkCustody(buyer);
  });

  it("vouchers: SCALE payload signed by sr25519 and ed25519 keys; a wrong key, chain or amount fails verification", () => {
    const v: SubstrateVoucher = { payer: buyer.address, payee: agent.address, token: "native", cumulative: 123n };
    const g = s.genesisHash;
    expect(verifyVoucher(v, u8aToHex(buyer.sign(voucherPayload(v, g))), g)).to.equal(true);
    const wrapped = new Uint8Array([...new TextEncoder().encode("<Bytes>"), ...voucherPayload(v, g), ...new TextEncoder().encode("</Bytes>")]);
    expect(verifyVoucher(v, u8aToHex(buyer.sign(wrapped)), g), "signRaw's <Bytes> wrapping").to.equal(true);
    const v2: SubstrateVoucher = { ...v, payer: buyer2.address };
    expect(verifyVoucher(v2, u8aToHex(buyer2.sign(voucherPayload(v2, g))), g), "ed25519").to.equal(true);
    expect(verifyVoucher(v, u8aToHex(stranger.sign(voucherPayload(v, g))), g)).to.equal(false);
    expect(verifyVoucher(v, u8aToHex(buyer.sign(voucherPayload(v, `0x${"00".repeat(32)}`))), g)).to.equal(false);
    expect(verifyVoucher({ ...v, cumulative: 124n }, u8aToHex(buyer.sign(voucherPayload(v, g))), g)).to.equal(false);
    expect(verifyVoucher(v, "0x1234", g)).to.equal(false);
  });

  it("GET /v1/network lists the Substrate chain; its accounts sign in with SIWS (signRaw's wrapping accepted); forged, replayed and wrong-chain messages are refused", async () => {
    const net = (await (await fetch(`${h.url}/v1/network`)).json()) as { chains: { kind: string; genesisHash?: string; ss58Prefix?: number; asset?: { token: string; symbol: string; decimals: number } }[] };
    const subChain = net.chains.find((c) => c.kind === "substrate")!;
    expect(subChain).to.deep.include({ genesisHash: s.genesisHash, ss58Prefix: api.registry.chainSS58 });
    expect(subChain.asset).to.deep.equal({ token: `asset:${TEST_ASSET.id}`, assetId: TEST_ASSET.id, symbol: TEST_ASSET.symbol, decimals: TEST_ASSET.decimals });
    const ready = (await (await fetch(`${h.url}/ready`)).json()) as { checks: { substrate?: { ok: boolean; best: number; finalized: number } } };
    expect(ready.checks.substrate?.ok).to.equal(true);
    // Best and finalized heads for display (chopsticks finalizes each block at once).
    const best = (await api.rpc.chain.getHeader()).number.toNumber();
    expect(ready.checks.substrate!.best).to.be.within(best - 2, best + 2);
    expect(ready.checks.substrate!.finalized).to.be.at.most(ready.checks.substrate!.best);
    const host = new URL(h.url).host;
    const login = async (who: KeyringPair, o: { chainId?: string; sign?: (m: string) => string; nonce?: string } = {}) => {
      const nonce = o.nonce ?? ((await (await fetch(`${h.url}/v1/auth/nonce`)).json()) as { nonce: string }).nonce;
      const message = `${host} wants you to sign in with your Substrate account:\n${who.address}\n\nSign in to AICP\n\nURI: ${h.url}\nVersion: 1\nChain ID: ${o.chainId ?? s.genesisHash}\nNonce: ${nonce}\nIssued At: ${new Date().toISOString()}`;
      const signature = o.sign ? o.sign(message) : u8aToHex(who.sign(u8aWrapBytes(stringToU8a(message))));
      const r = await fetch(`${h.url}/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ message, signature }) });
      return { status: r.status, body: (await r.json()) as { address?: string; token?: string; error?: { code: string } }, nonce };
    };
    const ok = await login(buyer);
    expect(ok.status).to.equal(200);
    expect(ok.body.address).to.equal(hex(buyer));
    const who = await fetch(`${h.url}/v1/auth/session`, { headers: { authorization: `Bearer ${ok.body.token}` } });
    expect(((await who.json()) as { address: string }).address).to.equal(hex(buyer));
    // ed25519 keys sign the unwrapped text.
    expect((await login(buyer2, { sign: (m) => u8aToHex(buyer2.sign(stringToU8a(m))) })).status).to.equal(200);
    const forged = await login(buyer, { sign: (m) => u8aToHex(stranger.sign(stringToU8a(m))) });
    expect([forged.status, forged.body.error?.code]).to.deep.equal([401, "SIWE_BAD_SIGNATURE"]);
    // The forged attempt did not burn the nonce; the genuine one can still use it once.
    expect((await login(buyer, { nonce: forged.nonce })).status).to.equal(200);
    const replay = await login(buyer, { nonce: forged.nonce });
    expect([replay.status, replay.body.error?.code]).to.deep.equal([401, "SIWE_NONCE_INVALID"]);
    const wrongChain = await login(buyer, { chainId: `0x${"12".repeat(32)}` });
    expect([wrongChain.status, wrongChain.body.error?.code]).to.deep.equal([401, "SIWE_CHAIN_MISMATCH"]);
    const malformed = await fetch(`${h.url}/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ message: `${host} wants you to sign in with your Substrate account:\nnot-an-address\n`, signature: "0x00" }) });
    expect([malformed.status, ((await malformed.json()) as { error: { code: string } }).error.code]).to.deep.equal([400, "SIWS_MALFORMED"]);
  });

  it("the SDK signs in with a Substrate account (genesis hash from GET /v1/network); a Substrate account registers as an agent", async () => {
    const session = createSession({ baseUrl: h.url, wallet: { kind: "substrate", address: buyer2.address, signRaw: async (m) => u8aToHex(buyer2.sign(stringToU8a(m))) } });
    expect(session.address).to.equal(hex(buyer2));
    const me = await session.request<{ address: string; roles: string[] }>("GET", "/v1/auth/session");
    expect(me).to.deep.equal({ address: hex(buyer2), roles: ["buyer"] });
    expect(session.logins).to.equal(1);
    // A Substrate account registers as an agent and is found under its account id.
    const agentSession = createSession({ baseUrl: h.url, wallet: { kind: "substrate", address: agent2.address, signRaw: async (m) => u8aToHex(agent2.sign(stringToU8a(m))) } });
    const reg = await agentSession.request<{ address: string }>("POST", "/v1/agents", { name: "wasm-runner", capabilities: [{ capability: "text.summarize", minPrice: "1000" }] });
    expect(reg.address).to.equal(hex(agent2));
    const found = await fetch(`${h.url}/v1/agents/${hex(agent2)}`);
    expect([found.status, ((await found.json()) as { address: string }).address]).to.deep.equal([200, hex(agent2)]);
    expect((await agentSession.request<{ roles: string[] }>("GET", "/v1/auth/session")).roles).to.include("agent");
    const bad = await fetch(`${h.url}/v1/agents/0x1234`);
    expect(bad.status).to.equal(400);
    expect(((await bad.json()) as { error: { code: string; message: string } }).error.message).to.match(/20-byte EVM address or a 32-byte Substrate account id/);
  });

  it("channel payouts: two buyers' vouchers to two agents paid in one batch of proposals and one of executions, then only the increase; native and tUSD", async () => {
    const token = `asset:${TEST_ASSET.id}`;
    for (const [b, tk, amt] of [
      [buyer, "native", 3n * UNIT],
      [buyer2, "native", 3n * UNIT],
      [buyer, token, 500_000n],
    ] as const)
      await sub.submit(s.depositCall(b.address, tk, amt, await s.openingAmount(b.address, tk)), b);
    const sign = (payer: KeyringPair, payee: KeyringPair, tk: string, cumulative: bigint) => {
      const voucher = { payer: payer.address, payee: payee.address, token: tk, cumulative };
      return { voucher, signature: u8aToHex(payer.sign(voucherPayload(voucher, s.genesisHash))) };
    };
    const settled = new Map<string, bigint>();
    const before = { a1: await bal(agent), a2: await bal(agent2), a1t: await bal(agent, token) };
    const round1 = [sign(buyer, agent, "native", 100_001n), sign(buyer, agent2, "native", 200_002n), sign(buyer2, agent, "native", 300_003n), sign(buyer, agent, token, 40_000n), sign(buyer, agent, "native", 50n)];
    const calls = s.settleCalls("b1", round1, settled);
    expect(calls.length).to.equal(3); // buyer native, buyer2 native, buyer tUSD
    await s.proposeMany(calls, coordinator);
    await s.executeMany(calls, arbitrator);
    expect(await bal(agent)).to.equal(before.a1 + 100_001n + 300_003n);
    expect(await bal(agent2)).to.equal(before.a2 + 200_002n);
    expect(await bal(agent, token)).to.equal(before.a1t + 40_000n);
    for (const { voucher: v } of round1) {
      const k = `${toAccountHex(v.payer)}|${toAccountHex(v.payee)}|${v.token}`;
      if ((settled.get(k) ?? 0n) < v.cumulative) settled.set(k, v.cumulative);
    }
    // Stale and forged vouchers are refused before anything is proposed.
    expect(() => s.settleCalls("b2", [sign(buyer, agent, "native", 100_001n)], settled)).to.throw(AppError, /not above/);
    const forged = { ...sign(buyer, agent, "native", 999_999n), signature: sign(stranger, agent, "native", 999_999n).signature };
    expect(() => s.settleCalls("b2", [forged], settled)).to.throw(AppError, /not signed/);
    const round2 = s.settleCalls("b2", [sign(buyer, agent, "native", 150_001n)], settled);
    await s.proposeMany(round2, coordinator);
    await s.executeMany(round2, arbitrator);
    expect(await bal(agent)).to.equal(before.a1 + 150_001n + 300_003n);
    await caughtUp();
    expect(await q("SELECT payer, token, settled::text FROM channel_pairs WHERE payee = $1 ORDER BY channel_pairs.settled", [hex(agent)])).to.deep.equal([
      { payer: hex(buyer), token, settled: "40000" },
      { payer: hex(buyer), token: "native", settled: "150001" },
      { payer: hex(buyer2), token: "native", settled: "300003" },
    ]);
    expect(await ledger(`channel-deposit:${hex(buyer)}`)).to.equal(3n * UNIT - 150_001n - 200_002n);
    expect(await ledger(`channel-deposit:${hex(buyer)}`, token)).to.equal(500_000n - 40_000n);
    for (const b of [buyer, buyer2]) await checkCustody(b);
    await checkCustody(buyer, token);
    // The buyer takes unused deposit back with the arbitrator, without the coordinator.
    const w = s.withdrawCall(buyer.address, "native", UNIT);
    await s.propose(s.custody(buyer.address), w, buyer);
    await s.execute(s.custody(buyer.address), w, arbitrator);
    await checkCustody(buyer);
    expect(await ledger(`channel-deposit:${hex(buyer)}`)).to.equal(2n * UNIT - 150_001n - 200_002n);
  });

  it("reputation anchor: the epoch's Merkle root in a remark from the coordinator; proofs verify against the root read back from the chain", async () => {
    const tree = StandardMerkleTree.of(
      [
        [hex(agent), "9000"],
        [hex(agent2), "7000"],
      ],
      ["bytes32", "uint256"],
    );
    const inc = await s.anchor(7n, tree.root, "ipfs://epoch-7");
    expect(inc.events.some(({ event }) => api.events.system.Remarked.is(event))).to.equal(true);
    await caughtUp();
    const [ev] = await q<{ args: { root: string; epoch: string } }>("SELECT args FROM chain_events WHERE chain = 'substrate' AND name = 'RootAnchored' AND args->>'epoch' = '7'");
    expect(ev!.args.root).to.equal(tree.root);
    expect(StandardMerkleTree.verify(ev!.args.root, ["bytes32", "uint256"], [hex(agent), "9000"], tree.getProof(0))).to.equal(true);
    expect(StandardMerkleTree.verify(ev!.args.root, ["bytes32", "uint256"], [hex(agent), "9001"], tree.getProof(0))).to.equal(false);
    // A stranger's anchor remark is not an anchor.
    await sub.submit(s.remark({ op: "anchor", epoch: "8", root: tree.root, uri: "" }), stranger);
    await caughtUp();
    expect(await q("SELECT 1 FROM chain_events WHERE chain = 'substrate' AND name = 'RootAnchored' AND args->>'epoch' = '8'")).to.deep.equal([]);
  });

  it("fees and multisig deposits to the planck: the coordinator's and the arbitrator's native balances are the ledger's", async () => {
    await caughtUp();
    for (const k of [coordinator, arbitrator]) {
      const acct = (await api.query.system.account(k.address)).data;
      // Seeded with 1000 units outside AICP; since then only fees and multisig deposits moved.
      expect(acct.free.toBigInt(), `${k.address} free`).to.equal(1000n * UNIT + (await ledger(`wallet:${hex(k)}`)));
      expect(acct.reserved.toBigInt(), `${k.address} reserved`).to.equal(await ledger(`multisig-deposit:${hex(k)}`));
    }
    expect(await ledger("chain-fees")).to.be.greaterThan(0n);
    expect(await unbalancedGroups(h.c.ctx.db)).to.deep.equal([]);
  });

  it("indexer: idempotent on (block hash, event index), resumes after a restart, rolls back a block replaced by a reorg", async () => {
    await caughtUp();
    const count = async () => Number((await q<{ n: string }>("SELECT count(*)::text AS n FROM chain_events WHERE chain = 'substrate'"))[0]!.n);
    const n0 = await count();
    await indexer.stop();
    // While the indexer is down: a funding it must pick up from its cursor.
    const { task } = await funded(buyer, UNIT);
    indexer = newIndexer();
    await indexer.start();
    await caughtUp();
    expect(await count()).to.equal(n0 + 2); // EscrowFunded and the buyer's FeePaid, once each
    expect((await q("SELECT state FROM escrows WHERE task_id = $1", [task.id]))[0]).to.deep.equal({ state: "funded" });
    // Reorg: the head block (the funding) is replaced by an empty block at the same height.
    const head = (await api.rpc.chain.getHeader()).number.toNumber();
    const fork = await funded(buyer, 2n * UNIT);
    await caughtUp();
    expect((await q("SELECT state FROM escrows WHERE task_id = $1", [fork.task.id]))[0]).to.deep.equal({ state: "funded" });
    await api.rpc("dev_setHead" as never, head as never);
    await api.rpc("dev_newBlock" as never, {} as never);
    await api.rpc("dev_newBlock" as never, {} as never);
    await until(async () => indexer.status().reorgs > 0, 60_000, 50);
    await caughtUp();
    expect(await q("SELECT state FROM escrows WHERE task_id = $1", [fork.task.id])).to.deep.equal([]);
    expect(await q("SELECT 1 FROM chain_events WHERE chain = 'substrate' AND args->>'taskId' = $1", [taskKey(fork.task.id)])).to.deep.equal([]);
    // The submitter's nonce for the buyer is stale after the reorg: a fresh one.
    sub = createSubmitter(api);
    s = createSubstrateSettlement({ api, submitter: sub, coordinator, arbitrator: arbitrator.address, treasury: treasury.address, feeBps: FEE_BPS });
    await checkCustody(buyer);
  });
});
