/**
 * The channel route end to end against a real hardhat node, Postgres and Redis: buyers
 * (Hardhat accounts #5+, and funded random wallets) deposit into PaymentChannels from their
 * wallets, post channel-route tasks, agents deliver over HTTP, buyers pay with real EIP-712
 * vouchers, the coordinator settles them in batches and watches withdrawals. Also the
 * signature layer on its own (no chain): digests, batch verification, wrong domains.
 */
import { expect } from "chai";
import { Contract, JsonRpcProvider, TypedDataEncoder, Wallet, getAddress, parseEther, type InterfaceAbi } from "ethers";
import { Client, newAgent, newUser, startHarness, taskBody, until, ZERO, type Harness } from "./harness.js";
import { HARDHAT_KEYS, authorizeDeliveries, startChain, type TestChain } from "./chain-harness.js";
import { encodeSettleBatch } from "../../src/chain/evm/vouchers.js";
import { VOUCHER_TYPES, voucherDomain } from "../../src/protocol/eip712.js";
import { connectEvm, type EvmChain } from "../../src/chain/evm/chain.js";
import { checkChainInvariants } from "../../src/chain/evm/invariants.js";
import { balances, unbalancedGroups } from "../../src/ledger/store.js";
import { checkSignatures, domainSeparator, voucherDigest, wrongDomains, type RawVoucher } from "../../src/channels/verify.js";

const CONTRACT = "0x5fbdb2315678afecb367f032d93f642f64180aa3";

async function sign(w: Wallet, chainId: number, contract: string, v: { payer: string; payee: string; token: string; cumulativeAmount: bigint }) {
  return w.signTypedData(voucherDomain(chainId, contract), VOUCHER_TYPES, v);
}

describe("voucher signatures (EIP-712, batch verification)", () => {
  const sep = domainSeparator(31337, CONTRACT);
  const wallets = Array.from({ length: 12 }, () => Wallet.createRandom() as unknown as Wallet);
  const voucher = async (i: number, amount: bigint, domain: { chainId?: number; contract?: string } = {}) => {
    const w = wallets[i % wallets.length]!;
    const v = { payer: w.address.toLowerCase(), payee: wallets[(i + 1) % wallets.length]!.address.toLowerCase(), token: ZERO, cumulativeAmount: amount };
    const signature = await sign(w, domain.chainId ?? 31337, domain.contract ?? CONTRACT, v);
    return { payer: v.payer, payee: v.payee, token: v.token, cumulative: amount.toString(), signature } satisfies RawVoucher;
  };

  it("hashes a voucher exactly as ethers' TypedDataEncoder (EIP-712)", () => {
    for (const amount of [1n, 10n ** 18n, 2n ** 128n - 1n]) {
      const v = { payer: wallets[0]!.address, payee: wallets[1]!.address, token: CONTRACT, cumulativeAmount: amount };
      expect(`0x${Buffer.from(voucherDigest(sep, v)).toString("hex")}`).to.equal(TypedDataEncoder.hash(voucherDomain(31337, CONTRACT), VOUCHER_TYPES, v));
    }
  });

  it("accepts valid signatures (recovered first, then batch-verified) and finds a bad one in a batch", async () => {
    const cache = new Map();
    const cands = wrongDomains(31337, CONTRACT, []);
    const first = await Promise.all(wallets.map((_, i) => voucher(i, 100n + BigInt(i))));
    expect(checkSignatures(first, sep, cands, cache).map((v) => v.status)).to.deep.equal(first.map(() => "ok"));
    expect(cache.size).to.equal(wallets.length);
    const batch = await Promise.all(Array.from({ length: 40 }, (_, i) => voucher(i, 1000n + BigInt(i))));
    expect(checkSignatures(batch, sep, cands, cache).every((v) => v.status === "ok")).to.equal(true);
    // One altered amount among 40 known payers: the batch fails, bisection names exactly that one.
    const bad = batch.map((v) => ({ ...v }));
    bad[23] = { ...bad[23]!, cumulative: "999999" };
    const verdicts = checkSignatures(bad, sep, cands, cache);
    expect(verdicts.map((v, i) => (v.status === "ok" ? -1 : i)).filter((i) => i >= 0)).to.deep.equal([23]);
    expect(verdicts[23]!.status).to.equal("forged");
  });

  it("tells a wrong chain id or contract from a forgery, and refuses malleable and malformed signatures", async () => {
    const cache = new Map();
    const cands = wrongDomains(31337, CONTRACT, ["0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"]);
    const mainnet = await voucher(0, 5n, { chainId: 1 });
    const otherContract = await voucher(1, 5n, { contract: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512" });
    const forged = { ...(await voucher(2, 5n)), payer: wallets[3]!.address.toLowerCase() };
    const good = await voucher(4, 5n);
    // High s: the same signature's malleable twin (n − s, v flipped) recovers to the same key but the contract rejects it.
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const s = BigInt(`0x${good.signature.slice(66, 130)}`);
    const v = parseInt(good.signature.slice(130), 16);
    const high = { ...good, signature: `${good.signature.slice(0, 66)}${(n - s).toString(16).padStart(64, "0")}${(v === 27 ? 28 : 27).toString(16)}` };
    const short = { ...good, signature: good.signature.slice(0, 120) };
    const out = checkSignatures([mainnet, otherContract, forged, good, high, short], sep, cands, cache);
    expect(out[0]).to.deep.equal({ status: "wrong-domain", chainId: 1, contract: CONTRACT });
    expect(out[1]).to.deep.equal({ status: "wrong-domain", chainId: 31337, contract: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512" });
    // Another payer changes the digest: the signature recovers to some unrelated address.
    expect(out[2]!.status).to.equal("forged");
    expect((out[2] as { signer: string }).signer).to.not.equal(forged.payer);
    expect(out[3]!.status).to.equal("ok");
    expect(out[4]!.status).to.equal("malformed");
    expect(out[5]!.status).to.equal("malformed");
  });
});

describe("channel route end to end (hardhat node + Postgres + Redis)", function () {
  this.timeout(240_000);
  let chain: TestChain;
  let h: Harness;
  let evm: EvmChain;
  let channels: Contract;
  let chainId: number;
  let contract: string;
  /** Without ethers' 250 ms call cache: a wallet's next nonce right after its last transaction. */
  let provider: JsonRpcProvider;
  const wallet = (i: number) => new Wallet(HARDHAT_KEYS[i]!, provider);
  const ENV = {
    CONFIRMATIONS: "0",
    INDEXER_POLL_MS: "100",
    // Batches only when a test asks (or a payer with a pending withdrawal pays).
    SETTLE_INTERVAL_MS: String(24 * 3600_000),
    SETTLE_MAX_PAIRS: "2000",
  };

  before(async () => {
    chain = await startChain();
    h = await startHarness({ CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, ...ENV }, "all", { sweepMs: 500 });
    evm = connectEvm(h.config);
    const d = chain.deployment.contracts["PaymentChannels"]!;
    contract = d.address.toLowerCase();
    chainId = chain.deployment.chainId;
    provider = new JsonRpcProvider(chain.url, chainId, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
    channels = new Contract(d.address, d.abi as InterfaceAbi, provider);
  });
  after(async () => {
    evm?.close();
    provider?.destroy();
    await h?.stop();
    await chain?.stop();
  });

  const db = () => h.c.ctx.db;
  const cap = () => `ch.${Math.random().toString(36).slice(2, 8)}`;
  const view = async (c: Client) => (await c.get(`/v1/channels/${c.address}`)).body;
  const account = async (c: Client, token = ZERO) => (await view(c)).accounts.find((a: { token: string }) => a.token === token);
  const task = async (c: Client, id: string) => (await c.get(`/v1/tasks/${id}`)).body;

  /**
   * Deposits native currency from the wallet and waits until the indexer has projected it; the
   * buyer also registers a delivery authorization (channel-route posts draw on one).
   */
  async function deposit(w: Wallet, c: Client, amount: bigint) {
    const a = await authorizeDeliveries(c, w, chain.deployment);
    expect(a.status, JSON.stringify(a.body)).to.equal(201);
    const before = BigInt((await account(c))?.deposit ?? "0");
    await (await (channels.connect(w) as Contract).getFunction("deposit")(ZERO, amount, { value: amount })).wait();
    await until(async () => BigInt((await account(c))?.deposit ?? "0") === before + amount, 30_000, 100);
  }

  /** A funded random wallet (Hardhat's well-known accounts are few). */
  async function fundedWallet(eth = "10") {
    const w = Wallet.createRandom().connect(provider) as unknown as Wallet;
    await (await wallet(0).sendTransaction({ to: w.address, value: parseEther(eth) })).wait();
    return w;
  }

  /** Posts a channel task that only `agent` can take, the agent bids `price` and delivers. */
  async function deliveredTask(buyer: Client, agent: Client & { capability: string }, budget: bigint, price: bigint, output: unknown = { answer: 42 }) {
    const r = await buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: budget.toString(), auction: { rule: "first-price", windowMs: 60_000 } }));
    expect(r.status, JSON.stringify(r.body)).to.equal(201);
    const t = r.body.tasks[0] as { id: string; settlement: string };
    expect(t.settlement).to.equal("channel");
    const p = await agent.post(`/v1/tasks/${t.id}/proposals`, { price: price.toString(), etaMs: 1000 });
    expect(p.status, JSON.stringify(p.body)).to.equal(201);
    await until(async () => ["awarded", "running"].includes((await task(buyer, t.id)).status), 20_000, 50);
    const d = await agent.post(`/v1/tasks/${t.id}/result`, { output });
    expect(d.status, JSON.stringify(d.body)).to.equal(200);
    return t.id;
  }

  async function agentFor(wallet?: Wallet) {
    const capability = cap();
    const a = await newAgent(h.url, { [capability]: 0 }, {}, wallet);
    return Object.assign(a, { capability });
  }

  const voucherFor = async (w: Wallet, payee: string, cumulativeAmount: bigint, domain: { chainId?: number; contract?: string } = {}) => {
    const v = { payer: w.address.toLowerCase(), payee, token: ZERO, cumulativeAmount };
    return { ...v, cumulativeAmount: cumulativeAmount.toString(), signature: await sign(w, domain.chainId ?? chainId, domain.contract ?? contract, v) };
  };

  /** What a rejected voucher must leave untouched. */
  const footprint = async () =>
    (
      await db().query<{ v: string; pairs: string; l: string; tasks: string; promises: string }>(
        `SELECT (SELECT count(*) FROM vouchers)::text AS v, (SELECT string_agg(payer || payee || accepted::text, ',' ORDER BY payer, payee) FROM channel_pairs) AS pairs,
                (SELECT count(*) FROM ledger_entries)::text AS l, (SELECT string_agg(id::text || status, ',' ORDER BY id) FROM tasks) AS tasks,
                (SELECT string_agg(task_id::text || status || amount::text, ',' ORDER BY task_id) FROM channel_promises) AS promises`,
      )
    ).rows[0];

  it("deposit → task → delivery: the buyer sees the result hash, not the output, until a voucher pays; then the output is released", async () => {
    const bw = wallet(5);
    const buyer = await newUser(h.url, bw);
    const agent = await agentFor();
    await deposit(bw, buyer, 1_000_000n);
    expect(await account(buyer)).to.deep.include({ deposit: "1000000", promised: "0", owed: "0", available: "1000000", withdrawal: null });

    const r = await buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: "300000", auction: { rule: "first-price", windowMs: 60_000 } }));
    expect(r.status).to.equal(201);
    const id = r.body.tasks[0].id as string;
    expect(await account(buyer)).to.deep.include({ promised: "300000", available: "700000" });
    await agent.post(`/v1/tasks/${id}/proposals`, { price: "120000", etaMs: 1000 });
    await until(async () => ["awarded", "running"].includes((await task(buyer, id)).status), 20_000, 50);
    // At the award the promise shrinks to the price (the only bid: no runner-up could cost more).
    expect(await account(buyer)).to.deep.include({ promised: "120000", available: "880000" });
    const output = { summary: "a paid answer" };
    expect((await agent.post(`/v1/tasks/${id}/result`, { output })).status).to.equal(200);

    const held = await task(buyer, id);
    expect(held.status).to.equal("delivered");
    expect(held.execution.resultHash).to.match(/^0x[0-9a-f]{64}$/);
    expect(held).to.not.have.property("output");
    expect((await task(agent, id)).output).to.deep.equal(output); // the agent sees its own work
    const v = await view(buyer);
    expect(v.pairs).to.deep.include({ payee: agent.address, token: ZERO, accepted: "0", settled: "0", due: "120000", nextCumulativeAmount: "120000", dueTaskIds: [id] });

    const voucher = await voucherFor(bw, agent.address, 120_000n);
    const paid = await new Client(h.url).post("/v1/vouchers", voucher); // anyone may relay it: the signature authorises
    expect(paid.status, JSON.stringify(paid.body)).to.equal(200);
    expect(paid.body).to.deep.include({ payer: bw.address.toLowerCase(), payee: agent.address, cumulativeAmount: "120000", increase: "120000", taskIds: [id], idempotent: false });
    const released = await task(buyer, id);
    expect(released.status).to.equal("accepted");
    expect(released.output).to.deep.equal(output);
    expect(await account(buyer)).to.deep.include({ deposit: "1000000", owed: "120000", promised: "0", available: "880000" });
    // The identical voucher again (addresses in EIP-55 form this time): idempotent, same tasks, nothing new.
    const again = await buyer.post("/v1/vouchers", { ...voucher, payer: bw.address, payee: getAddress(agent.address) });
    expect(again.status).to.equal(200);
    expect(again.body).to.deep.include({ taskIds: [id], idempotent: true });
    // One letter's case flipped: a wrong EIP-55 checksum.
    const at = bw.address.slice(2).search(/[a-fA-F]/) + 2;
    const flipped = bw.address.slice(0, at) + (bw.address[at] === bw.address[at]!.toLowerCase() ? bw.address[at]!.toUpperCase() : bw.address[at]!.toLowerCase()) + bw.address.slice(at + 1);
    const badSum = (await buyer.post("/v1/vouchers", { ...voucher, payer: flipped })).body;
    expect(badSum.error.code).to.equal("VALIDATION_FAILED");
    expect((await db().query("SELECT 1 FROM vouchers WHERE payer = $1", [bw.address.toLowerCase()])).rowCount).to.equal(1);
    // Ledger: the promise is empty, the price is owed to the agent, the rest went back to the deposit.
    const led = await balances(db(), "channel-");
    expect(led.find((b) => b.account === `channel-promise:${id}`)).to.equal(undefined);
    expect(led.find((b) => b.account === `channel-owed:${bw.address.toLowerCase()}:${agent.address}`)?.balance).to.equal(120_000n);
    expect(led.find((b) => b.account === `channel-deposit:${bw.address.toLowerCase()}`)?.balance).to.equal(880_000n);
    expect(await unbalancedGroups(db())).to.deep.equal([]);
  });

  it("refuses a channel task the available deposit does not cover (INSUFFICIENT_DEPOSIT, nothing written), and releases the promise on cancel", async () => {
    const bw = wallet(6);
    const buyer = await newUser(h.url, bw);
    const agent = await agentFor();
    const none = await buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: "5000" }));
    expect(none.status).to.equal(402);
    expect(none.body.error.code).to.equal("INSUFFICIENT_DEPOSIT");
    expect(none.body.error.details).to.deep.include({ available: "0", required: "5000" });
    await deposit(bw, buyer, 10_000n);
    const lot = await buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: "4000", quantity: 3, auction: { rule: "uniform-price", windowMs: 60_000 } }));
    expect(lot.status).to.equal(402); // 3 × 4000 > 10000
    expect(lot.body.error.details).to.deep.include({ available: "10000", required: "12000" });
    expect((await buyer.get(`/v1/tasks?buyer=${buyer.address}`)).body.total).to.equal(0);

    const a = await buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: "6000" }));
    expect(a.status).to.equal(201);
    const b = await buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: "6000" }));
    expect(b.status).to.equal(402);
    expect(b.body.error.details.available).to.equal("4000");
    expect(await account(buyer)).to.deep.include({ promised: "6000", available: "4000" });
    const c = await buyer.post(`/v1/tasks/${a.body.tasks[0].id}/cancel`);
    expect(c.body.status).to.equal("cancelled");
    expect(await account(buyer)).to.deep.include({ promised: "0", available: "10000" });
    const led = await balances(db(), `channel-promise:${a.body.tasks[0].id}`);
    expect(led).to.deep.equal([]);
    expect((await db().query("SELECT status FROM channel_promises WHERE task_id = $1", [a.body.tasks[0].id])).rows[0]!["status"]).to.equal("released");
    // The payer's own channels only (or the operator).
    const other = await newUser(h.url);
    expect((await other.get(`/v1/channels/${buyer.address}`)).body.error.code).to.equal("NOT_OWNER");
  });

  it("delivery authorizations: refused when missing, forged or expired; a buyer silent past the payment window is charged by a claim, once", async () => {
    const bw = await fundedWallet();
    const buyer = await newUser(h.url, bw);
    const agent = await agentFor();
    await (await (channels.connect(bw) as Contract).getFunction("deposit")(ZERO, 100_000n, { value: 100_000n })).wait();
    await until(async () => (await account(buyer))?.deposit === "100000", 30_000, 100);
    // No authorization: the post is refused with what to sign, nothing written.
    const before = await footprint();
    const none = await buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: "5000" }));
    expect(none.status, JSON.stringify(none.body)).to.equal(402);
    expect(none.body.error.code).to.equal("DELIVERY_AUTHORIZATION_REQUIRED");
    expect(none.body.error.details).to.include({ token: ZERO, required: "5000" });
    expect(await footprint()).to.deep.equal(before);
    // A workflow with channel nodes is refused up front too.
    const wf = await buyer.post("/v1/workflows", {
      nodes: [{ key: "a", capability: agent.capability, input: {}, complexity: 1, budget: "1000", dependsOn: [] }],
      totalBudget: "2000", token: ZERO, deadline: new Date(Date.now() + 600_000).toISOString(),
    });
    expect(wf.status, JSON.stringify(wf.body)).to.equal(402);
    expect(wf.body.error.code).to.equal("DELIVERY_AUTHORIZATION_REQUIRED");
    // Forged (another key) and expired authorizations are refused.
    const forged = await authorizeDeliveries(buyer, bw, chain.deployment, { signer: wallet(9) });
    expect(forged.status).to.equal(400);
    expect(forged.body.error.code).to.equal("AUTHORIZATION_FORGED");
    const expired = await authorizeDeliveries(buyer, bw, chain.deployment, { expiry: BigInt(Math.floor(Date.now() / 1000) - 10) });
    expect(expired.body.error.code).to.equal("AUTHORIZATION_EXPIRED");
    // One expiring too soon for the task's payment window does not count; a cap too small neither.
    expect((await authorizeDeliveries(buyer, bw, chain.deployment, { expiry: BigInt(Math.floor(Date.now() / 1000) + 60) })).status).to.equal(201);
    expect((await authorizeDeliveries(buyer, bw, chain.deployment, { maxAmount: 4_999n })).status).to.equal(201);
    expect((await buyer.post("/v1/tasks", taskBody({ capability: agent.capability, budget: "5000" }))).body.error.code).to.equal("DELIVERY_AUTHORIZATION_REQUIRED");
    const good = await authorizeDeliveries(buyer, bw, chain.deployment, { maxAmount: 50_000n });
    expect(good.status, JSON.stringify(good.body)).to.equal(201);
    expect(good.body).to.include({ maxAmount: "50000", committed: "0", claimed: "0" });

    const id = await deliveredTask(buyer, agent, 20_000n, 7_000n);
    const auths = (await view(buyer)).authorizations as { digest: string; committed: string }[];
    expect(auths.find((a) => a.digest === good.body.digest)?.committed).to.equal("20000");
    expect((await task(buyer, id)).status).to.equal("delivered");
    // The buyer stays silent past the payment window (backdated here): the coordinator claims the price.
    await db().query("UPDATE tasks SET delivered_at = now() - interval '2 hours' WHERE id = $1", [id]);
    await h.c.services.channelSettlement.kick("pairs");
    await until(async () => (await task(buyer, id)).status === "settled", 60_000, 200);
    expect((await task(buyer, id)).output).to.deep.equal({ answer: 42 });
    expect(await channels.getFunction("settledOf")(bw.address, agent.address, ZERO)).to.equal(7_000n);
    expect(await channels.getFunction("claimedOf")(good.body.digest)).to.equal(7_000n);
    expect(await account(buyer)).to.deep.include({ deposit: "93000", owed: "0", promised: "0", available: "93000" });
    const claims = await db().query("SELECT status, reason, amount::text FROM channel_claims WHERE $1 = ANY(task_ids)", [id]);
    expect(claims.rows).to.deep.equal([{ status: "confirmed", reason: "silence", amount: "7000" }]);
    // The buyer's voucher for it afterwards pays nothing twice: nothing is due.
    expect((await buyer.post("/v1/vouchers", await voucherFor(bw, agent.address, 7_000n))).body.error.code).to.equal("VOUCHER_STALE");
    expect(await unbalancedGroups(db())).to.deep.equal([]);
  });

  it("a reorg that drops a confirmed delivery claim puts the task back to delivered; it is claimed again, once", async () => {
    const bw = await fundedWallet();
    const buyer = await newUser(h.url, bw);
    const agent = await agentFor();
    await deposit(bw, buyer, 100_000n);
    const id = await deliveredTask(buyer, agent, 20_000n, 6_000n);
    const snap = await chain.snapshot();
    const forkedAt = await provider.getBlockNumber();
    await db().query("UPDATE tasks SET delivered_at = now() - interval '2 hours' WHERE id = $1", [id]);
    await h.c.services.channelSettlement.kick("pairs");
    await until(async () => (await task(buyer, id)).status === "settled", 60_000, 200);
    const oldHead = await provider.getBlockNumber();
    // The claim's block is dropped: a longer branch without it.
    await chain.revert(snap);
    await chain.mine(oldHead - forkedAt + 2);
    await until(async () => (await db().query("SELECT 1 FROM channel_claims WHERE $1 = ANY(task_ids) AND status = 'orphaned'", [id])).rowCount === 1, 60_000, 200);
    // Claimed again on the canonical chain, and paid once.
    await h.c.services.channelSettlement.kick("pairs");
    await until(async () => (await task(buyer, id)).status === "settled" && (await channels.getFunction("settledOf")(bw.address, agent.address, ZERO)) === 6_000n, 60_000, 200);
    expect(await channels.getFunction("claimableOf")(agent.address, ZERO)).to.be.greaterThanOrEqual(6_000n);
    const claims = await db().query("SELECT status FROM channel_claims WHERE $1 = ANY(task_ids) ORDER BY id", [id]);
    expect(claims.rows.map((r) => r["status"])).to.deep.equal(["orphaned", "confirmed"]);
    expect(await account(buyer)).to.deep.include({ deposit: "94000", promised: "0" });
    expect(await unbalancedGroups(db())).to.deep.equal([]);
  });

  it("rejects forged, wrong-domain, replayed, stale, wrong-amount and overdrawn vouchers with their codes, writing nothing", async () => {
    const bw = wallet(7);
    const buyer = await newUser(h.url, bw);
    const agent = await agentFor();
    await deposit(bw, buyer, 100_000n);
    const t1 = await deliveredTask(buyer, agent, 50_000n, 10_000n);
    const code = async (body: unknown) => {
      const before = await footprint();
      const r = await buyer.post("/v1/vouchers", body);
      expect(await footprint(), `nothing written by ${JSON.stringify(r.body)}`).to.deep.equal(before);
      return { status: r.status, code: r.body.error?.code as string | undefined, details: r.body.error?.details };
    };
    // Signed by someone else (the agent), or garbage.
    const forged = { ...(await voucherFor(wallet(8), agent.address, 10_000n)), payer: bw.address.toLowerCase() };
    expect(await code(forged)).to.include({ status: 400, code: "VOUCHER_FORGED" });
    expect(await code({ ...forged, signature: `0x${"11".repeat(65)}` })).to.include({ status: 400, code: "VOUCHER_FORGED" });
    // The payer's signature, but for mainnet, or for the TaskEscrow contract.
    const wrongChain = await code(await voucherFor(bw, agent.address, 10_000n, { chainId: 1 }));
    expect(wrongChain).to.include({ status: 400, code: "VOUCHER_WRONG_DOMAIN" });
    expect(wrongChain.details).to.include({ signedChainId: 1, chainId });
    const escrow = chain.deployment.contracts["TaskEscrow"]!.address.toLowerCase();
    expect(await code(await voucherFor(bw, agent.address, 10_000n, { contract: escrow }))).to.include({ status: 400, code: "VOUCHER_WRONG_DOMAIN" });
    // Increase ≠ what is due (10 000).
    expect(await task(buyer, t1)).to.not.have.property("output"); // still held
    const wrong = await code(await voucherFor(bw, agent.address, 9_999n));
    expect(wrong).to.include({ status: 409, code: "VOUCHER_WRONG_AMOUNT" });
    expect(wrong.details).to.deep.include({ due: "10000", expectedCumulativeAmount: "10000", taskIds: [t1] });
    expect(await code(await voucherFor(bw, agent.address, 20_000n))).to.include({ code: "VOUCHER_WRONG_AMOUNT" });

    // Pay t1 (cumulative 10 000), then t2 (cumulative 25 000).
    const v1 = await voucherFor(bw, agent.address, 10_000n);
    expect((await buyer.post("/v1/vouchers", v1)).status).to.equal(200);
    expect(await code(await voucherFor(bw, agent.address, 10_500n))).to.include({ code: "VOUCHER_WRONG_AMOUNT" }); // nothing due now
    const t2 = await deliveredTask(buyer, agent, 50_000n, 15_000n);
    const v2 = await voucherFor(bw, agent.address, 25_000n);
    expect((await buyer.post("/v1/vouchers", v2)).body.taskIds).to.deep.equal([t2]);
    // The first voucher again (an older, accepted one) is a replay; a never-seen lower amount is stale.
    expect(await code(v1)).to.include({ status: 409, code: "VOUCHER_REPLAYED" });
    expect(await code(await voucherFor(bw, agent.address, 24_000n))).to.include({ status: 409, code: "VOUCHER_STALE" });
    expect((await buyer.post("/v1/vouchers", v2)).body.idempotent).to.equal(true);
    expect((await task(buyer, t1)).output).to.deep.equal({ answer: 42 });

    // The buyer leaves while t3 is delivered unpaid: the withdrawal request gets the owed voucher
    // settled (watchtower) and t3's price claimed under the buyer's delivery authorization, so
    // the deposit that leaves is only what nobody is owed, and the available balance never goes negative.
    const t3 = await deliveredTask(buyer, agent, 40_000n, 30_000n);
    await (await (channels.connect(bw) as Contract).getFunction("requestWithdrawal")(ZERO)).wait();
    await until(async () => (await account(buyer)).withdrawal !== null, 30_000, 100);
    await until(async () => (await channels.getFunction("settledOf")(bw.address, agent.address, ZERO)) === 55_000n, 60_000, 200);
    await until(async () => (await task(buyer, t3)).status === "settled", 30_000, 100);
    expect((await task(buyer, t3)).output).to.deep.equal({ answer: 42 }); // paid by the claim: released
    expect(await channels.getFunction("claimableOf")(agent.address, ZERO)).to.be.greaterThanOrEqual(55_000n);
    const during = await account(buyer);
    expect(BigInt(during.available)).to.be.greaterThanOrEqual(0n);
    await provider.send("evm_increaseTime", [86_401]);
    await (await (channels.connect(bw) as Contract).getFunction("withdrawDeposit")(ZERO)).wait();
    await until(async () => (await account(buyer)).deposit === "0", 30_000, 100);
    expect(await account(buyer)).to.deep.include({ deposit: "0", owed: "0", promised: "0", available: "0" });
    // Nothing is due any more: a voucher for t3 on top finds nothing to pay.
    expect(await code(await voucherFor(bw, agent.address, 85_000n))).to.include({ status: 409, code: "VOUCHER_WRONG_AMOUNT" });
    expect(await unbalancedGroups(db())).to.deep.equal([]);
  });

  it("settles many pairs with one settleBatch: settledOf and claimableOf on-chain, tasks settled, ledger and chain agree", async () => {
    const payers = [wallet(9), await fundedWallet(), await fundedWallet()];
    const agents = await Promise.all(Array.from({ length: 6 }, () => agentFor()));
    const buyers = await Promise.all(payers.map((w) => newUser(h.url, w)));
    for (const [i, w] of payers.entries()) await deposit(w, buyers[i]!, 10n ** 17n);
    const expected = new Map<string, bigint>(); // payee → Σ paid
    const paidTasks: string[] = [];
    let k = 0;
    for (const [i, w] of payers.entries())
      for (const a of agents) {
        const price = 1000n + BigInt(k++);
        paidTasks.push(await deliveredTask(buyers[i]!, a, 10_000n, price));
        const r = await buyers[i]!.post("/v1/vouchers", await voucherFor(w, a.address, price));
        expect(r.status, JSON.stringify(r.body)).to.equal(200);
        expected.set(a.address, (expected.get(a.address) ?? 0n) + price);
      }
    const pairs = payers.length * agents.length;
    const before = (await db().query("SELECT count(*)::int AS n FROM chain_outbox WHERE kind = 'channels.settleBatch'")).rows[0]!["n"] as number;
    // Earlier tests may have left accepted vouchers: they join the same batch.
    expect(await h.c.services.channelSettlement.runOnce("interval")).to.be.greaterThanOrEqual(pairs);
    const batches = await db().query<{ id: string; payload: { vouchers: { payer: string }[] } }>("SELECT id::text, payload FROM chain_outbox WHERE kind = 'channels.settleBatch' ORDER BY id");
    expect(batches.rows.length).to.equal(before + 1);
    const ours = new Set(payers.map((w) => w.address.toLowerCase()));
    expect(batches.rows.at(-1)!.payload.vouchers.filter((v) => ours.has(v.payer))).to.have.length(pairs);
    await until(async () => (await db().query("SELECT 1 FROM vouchers WHERE status <> 'settled' AND payer = ANY($1)", [payers.map((w) => w.address.toLowerCase())])).rowCount === 0, 60_000, 200);
    for (const [i, w] of payers.entries())
      for (const a of agents) {
        const settled = (await channels.getFunction("settledOf")(w.address, a.address, ZERO)) as bigint;
        expect(settled, `pair ${i}/${a.address}`).to.be.greaterThan(0n);
      }
    for (const a of agents) expect(await channels.getFunction("claimableOf")(a.address, ZERO)).to.equal(expected.get(a.address));
    const ts = await db().query<{ status: string }>("SELECT DISTINCT status FROM tasks WHERE id = ANY($1::uuid[])", [paidTasks]);
    expect(ts.rows.map((r) => r.status)).to.deep.equal(["settled"]);
    const led = await balances(db(), "channel-");
    for (const a of agents) expect(led.find((b) => b.account === `channel-claimable:${a.address}`)?.balance).to.equal(expected.get(a.address));
    for (const w of payers) expect(led.filter((b) => b.account.startsWith(`channel-owed:${w.address.toLowerCase()}`))).to.deep.equal([]);
    const buyer0 = await account(buyers[0]!);
    expect(buyer0.owed).to.equal("0");
    expect(BigInt(buyer0.settled)).to.equal([...agents.keys()].reduce((s, j) => s + 1000n + BigInt(j), 0n));
    await until(async () => (await checkChainInvariants(db(), evm)).length === 0, 30_000, 200);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).to.match(/aicp_channel_vouchers_settled_total \d+/);
  });

  it("watchtower: a withdrawal request gets every outstanding voucher of that payer settled before the challenge period ends", async () => {
    const w = await fundedWallet();
    const buyer = await newUser(h.url, w);
    const agents = await Promise.all([agentFor(), agentFor()]);
    await deposit(w, buyer, 10n ** 16n);
    for (const [j, a] of agents.entries()) {
      await deliveredTask(buyer, a, 10_000n, 2_000n + BigInt(j));
      expect((await buyer.post("/v1/vouchers", await voucherFor(w, a.address, 2_000n + BigInt(j)))).status).to.equal(200);
    }
    // Nothing settles by itself here (a day-long interval): only the watchtower.
    expect((await db().query("SELECT count(*)::int AS n FROM vouchers WHERE payer = $1 AND status = 'accepted'", [w.address.toLowerCase()])).rows[0]!["n"]).to.equal(2);
    const rc = await (await (channels.connect(w) as Contract).getFunction("requestWithdrawal")(ZERO)).wait();
    const requestedAt = (await provider.getBlock(rc!.blockNumber))!.timestamp;
    await until(async () => (await channels.getFunction("settledOf")(w.address, agents[1]!.address, ZERO)) === 2_001n, 60_000, 200);
    expect(await channels.getFunction("settledOf")(w.address, agents[0]!.address, ZERO)).to.equal(2_000n);
    const dep = await channels.getFunction("depositOf")(w.address, ZERO);
    const head = (await provider.getBlock("latest"))!.timestamp;
    expect(head).to.be.lessThan(Number(dep[2])); // the challenge period is still running
    expect(Number(dep[2]) - requestedAt).to.equal(86_400);
    const s = await db().query("SELECT reason FROM channel_settlements s JOIN vouchers v ON v.settlement_id = s.id WHERE v.payer = $1", [w.address.toLowerCase()]);
    expect(s.rows.map((r) => r.reason)).to.deep.equal(["watchtower", "watchtower"]);
    expect((await account(buyer)).withdrawal.availableAt).to.equal(new Date(Number(dep[2]) * 1000).toISOString());
    // A payer whose deposit is leaving cannot promise it to new tasks.
    const r = await buyer.post("/v1/tasks", taskBody({ capability: agents[0]!.capability, budget: "1000" }));
    expect(r.body.error.code).to.equal("INSUFFICIENT_DEPOSIT");
  });

  it("handles a skipped entry: a voucher the payee relayed itself first is Stale in the coordinator's batch, and paid once", async () => {
    const w = await fundedWallet();
    const buyer = await newUser(h.url, w);
    const a = await agentFor();
    await deposit(w, buyer, 10n ** 16n);
    await deliveredTask(buyer, a, 10_000n, 4_000n);
    const v = await voucherFor(w, a.address, 4_000n);
    expect((await buyer.post("/v1/vouchers", v)).status).to.equal(200);
    const relayer = await fundedWallet();
    await provider.send("evm_setAutomine", [false]);
    try {
      expect(await h.c.services.channelSettlement.runOnce("interval")).to.be.greaterThanOrEqual(1);
      await until(async () => (await db().query("SELECT 1 FROM vouchers v JOIN chain_outbox o ON o.id = v.outbox_id WHERE v.payer = $1 AND o.status = 'sent'", [v.payer])).rowCount === 1, 30_000, 100);
      // The same voucher, relayed by someone else with a higher tip: mined first in the same block.
      // (An explicit gas limit: estimated against the pending state, where the coordinator's
      // transaction already paid, it would be the cheap estimate of a skipped entry.)
      const enc = encodeSettleBatch([{ ...v, cumulativeAmount: 4_000n }]);
      await (channels.connect(relayer) as Contract).getFunction("settleBatch")(enc.addresses, enc.entries, { gasLimit: 300_000n, maxPriorityFeePerGas: 50n * 10n ** 9n, maxFeePerGas: 200n * 10n ** 9n });
    } finally {
      await provider.send("evm_setAutomine", [true]);
    }
    await chain.mine(1);
    await until(async () => (await db().query<{ status: string }>("SELECT status FROM vouchers WHERE payer = $1", [v.payer])).rows[0]!.status === "settled", 60_000, 100);
    expect(await channels.getFunction("claimableOf")(a.address, ZERO)).to.equal(4_000n);
    const events = () =>
      db().query<{ name: string; n: number; reason: string | null }>(
        `SELECT name, count(*)::int AS n, max(args->>'reason') AS reason FROM chain_events
          WHERE contract = 'PaymentChannels' AND name IN ('VoucherSettled', 'VoucherSkipped') AND args->>'payer' = $1 GROUP BY name ORDER BY name`,
        [v.payer],
      );
    await until(async () => (await events()).rows.length === 2, 30_000, 100);
    expect((await events()).rows).to.deep.equal([{ name: "VoucherSettled", n: 1, reason: null }, { name: "VoucherSkipped", n: 1, reason: "1" }]);
    expect(await (await fetch(`${h.url}/metrics`)).text()).to.match(/aicp_channel_vouchers_skipped_total\{reason="Stale"\} [1-9]/);
    expect((await account(buyer)).owed).to.equal("0");
    await until(async () => (await checkChainInvariants(db(), evm)).length === 0, 30_000, 200);
  });

  it("crash safety: a coordinator stopped between recording the batch and its confirmation settles it exactly once after restart", async () => {
    const w = await fundedWallet();
    let buyer = await newUser(h.url, w);
    const agents = await Promise.all([agentFor(), agentFor(), agentFor()]);
    await deposit(w, buyer, 10n ** 16n);
    for (const [j, a] of agents.entries()) {
      await deliveredTask(buyer, a, 10_000n, 3_000n + BigInt(j));
      expect((await buyer.post("/v1/vouchers", await voucherFor(w, a.address, 3_000n + BigInt(j)))).status).to.equal(200);
    }
    // The chain stops mining: the batch is recorded and sent, but not confirmed.
    await provider.send("evm_setAutomine", [false]);
    try {
      expect(await h.c.services.channelSettlement.runOnce("interval")).to.be.greaterThanOrEqual(3);
      await until(async () => (await db().query("SELECT 1 FROM chain_outbox WHERE kind = 'channels.settleBatch' AND status = 'sent'")).rowCount! > 0, 30_000, 100);
      const env = { CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, ...ENV, DATABASE_SCHEMA: h.config.DATABASE_SCHEMA, QUEUE_PREFIX: h.config.QUEUE_PREFIX };
      await h.stop({ keepSchema: true });
      const settling = (await (await import("../../src/db/index.js")).createDb({ url: h.config.DATABASE_URL, schema: h.config.DATABASE_SCHEMA, poolSize: 1 }));
      expect((await settling.query("SELECT count(*)::int AS n FROM vouchers WHERE payer = $1 AND status = 'settling'", [w.address.toLowerCase()])).rows[0]!["n"]).to.equal(3);
      await settling.close();
      h = await startHarness(env, "all", { sweepMs: 500 });
    } finally {
      await provider.send("evm_setAutomine", [true]);
    }
    await chain.mine(1);
    buyer = await newUser(h.url, w);
    await until(async () => (await db().query("SELECT 1 FROM vouchers WHERE payer = $1 AND status <> 'settled'", [w.address.toLowerCase()])).rowCount === 0, 60_000, 200);
    // Once: one transaction, one VoucherSettled per pair, claimable = the price, not twice.
    const logs = await provider.getLogs({ address: contract, topics: [channels.interface.getEvent("VoucherSettled")!.topicHash, `0x${w.address.slice(2).toLowerCase().padStart(64, "0")}`], fromBlock: 0 });
    expect(logs).to.have.length(3);
    for (const [j, a] of agents.entries()) expect(await channels.getFunction("claimableOf")(a.address, ZERO)).to.equal(3_000n + BigInt(j));
    expect((await db().query("SELECT count(DISTINCT outbox_id)::int AS n FROM vouchers WHERE payer = $1", [w.address.toLowerCase()])).rows[0]!["n"]).to.equal(1);
    expect((await account(buyer)).owed).to.equal("0");
    await until(async () => (await checkChainInvariants(db(), evm)).length === 0, 30_000, 200);
  });

  it("crash safety: a batch recorded by a process that stops before sending it is sent, once, by the next one", async () => {
    const env = { CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, ...ENV, DATABASE_SCHEMA: h.config.DATABASE_SCHEMA, QUEUE_PREFIX: h.config.QUEUE_PREFIX };
    const w = await fundedWallet();
    let buyer = await newUser(h.url, w);
    const a = await agentFor();
    await deposit(w, buyer, 10n ** 16n);
    await deliveredTask(buyer, a, 10_000n, 5_000n);
    // An API-only process (no sender, no indexer) takes the voucher and records the batch, then stops.
    await h.stop({ keepSchema: true });
    h = await startHarness(env, "api");
    buyer = await newUser(h.url, w);
    expect((await buyer.post("/v1/vouchers", await voucherFor(w, a.address, 5_000n))).status).to.equal(200);
    expect(await h.c.services.channelSettlement.runOnce("interval")).to.be.greaterThanOrEqual(1);
    const row = (await db().query<{ status: string; intent: string }>("SELECT o.status, o.intent FROM vouchers v JOIN chain_outbox o ON o.id = v.outbox_id WHERE v.payer = $1", [w.address.toLowerCase()])).rows[0]!;
    expect(row.status).to.equal("pending");
    await h.stop({ keepSchema: true });
    h = await startHarness(env, "all", { sweepMs: 500 });
    await until(async () => (await db().query("SELECT 1 FROM vouchers WHERE payer = $1 AND status = 'settled'", [w.address.toLowerCase()])).rowCount === 1, 60_000, 200);
    expect(await channels.getFunction("claimableOf")(a.address, ZERO)).to.equal(5_000n);
    expect((await db().query("SELECT count(*)::int AS n FROM chain_outbox WHERE intent = $1", [row.intent])).rows[0]!["n"]).to.equal(1);
    await until(async () => (await checkChainInvariants(db(), evm)).length === 0, 30_000, 200);
  });
});
describe("finality of channel deposits (FINALITY_DEPTH deeper than CONFIRMATIONS)", function () {
  this.timeout(120_000);
  let chain: TestChain;
  let h: Harness;
  before(async () => {
    chain = await startChain();
    h = await startHarness({ CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "0", FINALITY_DEPTH: "4", INDEXER_POLL_MS: "100" });
  });
  after(async () => {
    await h?.stop();
    await chain?.stop();
  });

  it("shows a fresh deposit at once but promises and pays against it only once it is final", async () => {
    const w = new Wallet(HARDHAT_KEYS[5]!, chain.provider);
    const buyer = await newUser(h.url, w);
    expect((await authorizeDeliveries(buyer, w, chain.deployment)).status).to.equal(201);
    const agent = await newAgent(h.url, { "final.cap": 0 });
    expect((await buyer.get("/v1/network")).body.chain).to.include({ confirmations: 0, finality: 4 });
    const pc = chain.deployment.contracts["PaymentChannels"]!;
    await (await (new Contract(pc.address, pc.abi as InterfaceAbi, w)).getFunction("deposit")(ZERO, 50_000n, { value: 50_000n })).wait();
    await until(async () => (await buyer.get(`/v1/channels/${buyer.address}`)).body.accounts?.[0]?.deposit === "50000", 30_000, 100);
    const early = await buyer.post("/v1/tasks", taskBody({ capability: "final.cap", budget: "10000" }));
    expect(early.status, JSON.stringify(early.body)).to.equal(402);
    expect(early.body.error.details).to.include({ available: "0", notFinal: "50000" });
    await chain.mine(5);
    await until(async () => (await buyer.post("/v1/tasks", taskBody({ capability: "final.cap", budget: "10000" }))).status === 201, 30_000, 200);
    void agent;
  });
});
