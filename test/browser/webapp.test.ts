/**
 * The web app in a real browser: Debian's Chromium driven by playwright-core, the page served by
 * a real coordinator (Postgres, Redis, a hardhat node with the contracts) and a reference agent
 * working in-process. Each person has their own browser context holding a test wallet
 * (test/browser/wallet.ts: EIP-6963-announced EIP-1193 provider signing with a Hardhat key),
 * and does everything through the page: sign in (SIWE), post, fund, dispute, rule, pay,
 * withdraw. Money is checked on the chain, exact to the base unit. No page may log an error.
 */
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { Contract, Wallet } from "ethers";
import { startChain, type TestChain } from "../service/chain-harness.js";
import { startHarness, until, Client, type Harness } from "../service/harness.js";
import { fundLocalBuyers, localAccount, LOCAL_ROLES } from "../../src/stack/local.js";
import { createLogger } from "../../src/logger.js";
import { createReferenceAgent } from "../../src/agents-ref/kinds.js";
import { runDemo } from "../../src/demo/run.js";
import { rulingSplit, readEvidenceUri, multihashSha256 } from "../../src/protocol/disputes.js";
import type { Agent } from "../../src/sdk/agent.js";
import { collectErrors, injectWallet, type TestWallet } from "./wallet.js";

const root = join(import.meta.dirname, "..", "..");
const SHOTS = process.env["AICP_SCREENSHOTS"]; // a directory: the tests save each screen there (README)
const ERC20 = ["function balanceOf(address) view returns (uint256)"];
const ESCROW_BUYER = 16; // local accounts (Hardhat's mnemonic) that npm start's roles leave free
const CHANNEL_BUYER = 17;

type Person = { ctx: BrowserContext; page: Page; wallet: TestWallet; errors: string[]; address: string };

describe("the web app in Chromium, with a test wallet", function () {
  this.timeout(300_000);
  let chain: TestChain;
  let h: Harness;
  let browser: Browser;
  let agent: Agent;
  let tusd: string;
  let operator: Client;
  const people: Person[] = [];
  const agentKey = localAccount(LOCAL_ROLES.agents["text"]!).privateKey;

  before(async () => {
    const built = spawnSync(process.execPath, [join(root, "scripts/build-web.mjs"), "--if-stale"], { cwd: root, encoding: "utf8" });
    if (built.status !== 0) throw new Error(`web build failed: ${built.stderr}`);
    chain = await startChain();
    h = await startHarness(
      { CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "1", INDEXER_POLL_MS: "100", SETTLE_INTERVAL_MS: "500", AUCTION_MIN_WINDOW_MS: "0" },
      "all",
      { sweepMs: 300 },
    );
    // As under npm start: a block a second besides the automined ones, so confirmations come.
    await chain.provider.send("evm_setIntervalMining", [500]);
    await fundLocalBuyers(h.config, chain.deployment, createLogger("silent"));
    tusd = chain.deployment.contracts["AICPTestToken"]!.address.toLowerCase();
    // The page's buyers are not the demo's (its money checks count its own buyers' events).
    const mint = new Contract(tusd, ["function mint(address to, uint256 amount)"], new Wallet(localAccount(LOCAL_ROLES.admin).privateKey, chain.provider));
    for (const b of [ESCROW_BUYER, CHANNEL_BUYER]) await (await mint.getFunction("mint")(localAccount(b).address, 1_000n * 10n ** 6n)).wait();
    agent = createReferenceAgent("text", { baseUrl: h.url, wallet: new Wallet(agentKey), maxConcurrency: 4, reconcileMs: 1_000, siwe: { chainId: 31337 } });
    await agent.start();
    operator = new Client(h.url);
    operator.adminKey = h.config.ADMIN_API_KEY;
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-background-networking"] });
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await agent?.stop({ drainMs: 500 });
    await h?.stop();
    await chain?.stop();
  });

  afterEach(async function () {
    if (this.currentTest?.state === "failed") {
      // What each person saw, for the failure report.
      const dir = SHOTS ?? join(root, ".scratch");
      mkdirSync(dir, { recursive: true });
      for (const p of people) if (p.wallet.failures.length) console.log(`wallet ${p.address}:\n  ${p.wallet.failures.join("\n  ")}`);
      for (const [i, p] of people.entries()) await p.page.screenshot({ path: join(dir, `failed-${i}.png`), fullPage: true }).catch(() => undefined);
    }
    for (const p of people) expect(p.errors, `${p.address}: errors in the page`).to.deep.equal([]);
  });

  /** A person with their own browser and wallet, on `path`, connected and signed in. */
  async function open(key: string, path: string, viewport = { width: 1366, height: 768 }): Promise<Person> {
    const ctx = await browser.newContext({ viewport });
    const wallet = await injectWallet(ctx, key, chain.url, 31337);
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    await page.goto(h.url + path);
    await page.getByRole("button", { name: "Connect AICP Test Wallet" }).click();
    await page.getByText("signed in", { exact: true }).waitFor();
    const p = { ctx, page, wallet, errors, address: wallet.address.toLowerCase() };
    people.push(p);
    return p;
  }
  const task = async (id: string) => (await operator.get(`/v1/tasks/${id}`)).body as { status: string; price: string | null; budget: string; agent: string | null; dispute: { id: string; arbitrator: string } | null };
  const balance = async (token: string, who: string) => (await new Contract(token, ERC20, chain.provider).getFunction("balanceOf")(who)) as bigint;
  const shot = async (page: Page, name: string) => {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  /** Fills the buyer's task form and posts; @returns the new task's id. */
  async function postTask(page: Page, f: { text: string; budget: string; route: "escrow" | "channel"; windowMs?: string }) {
    const form = page.getByRole("region", { name: "Post a task" });
    await form.getByLabel("Capability").fill("text.stats");
    await form.getByLabel("Input (JSON)").fill(JSON.stringify({ text: f.text }));
    await form.getByLabel("Budget (tUSD)").fill(f.budget);
    await form.getByLabel("Token").selectOption({ label: "tUSD" });
    await form.getByLabel("Route").selectOption(f.route);
    await form.getByLabel("Auction window (ms)").fill(f.windowMs ?? "500");
    const known = new Set(await page.locator("article[data-task-id]").evaluateAll((xs) => xs.map((x) => x.getAttribute("data-task-id"))));
    await form.getByRole("button", { name: "Post task" }).click();
    return until(async () => (await page.locator("article[data-task-id]").evaluateAll((xs) => xs.map((x) => x.getAttribute("data-task-id")))).find((id) => id && !known.has(id)), 20_000, 100) as Promise<string>;
  }
  /** Waits until `scope` shows transactions and each has reached its confirmations. */
  const allConfirmed = (scope: Locator) =>
    until(async () => (await scope.locator(".tx").count()) > 0 && (await scope.locator(".tx:not(.tx-confirmed)").count()) === 0, 60_000, 100);
  const card = (page: Page, id: string) => page.locator(`article[data-task-id="${id}"]`);
  const waitStatus = (page: Page, id: string, status: string, ms = 60_000) => card(page, id).and(page.locator(`[data-status="${status}"]`)).waitFor({ timeout: ms });

  it("speaks plainly: a rejected signature, the wrong chain, an insufficient balance, an expired sign-in; keyboard only; a phone-width screen", async () => {
    // Keyboard only: Tab reaches the wallet button, Enter connects and signs in.
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    const poor = await injectWallet(ctx, localAccount(8).privateKey, chain.url, 31337); // holds ETH for gas, no tUSD
    await ctx.clock.install(); // time flows as usual; the test moves it forward below
    const page = await ctx.newPage();
    const errors = collectErrors(page);
    people.push({ ctx, page, wallet: poor, errors, address: poor.address.toLowerCase() });
    await page.goto(h.url + "/buyer");
    const connect = page.getByRole("button", { name: "Connect AICP Test Wallet" });
    await connect.waitFor();
    for (let i = 0; i < 20 && !(await connect.evaluate((b) => b === (globalThis as unknown as { document: { activeElement: unknown } }).document.activeElement)); i++) await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await page.getByText("signed in", { exact: true }).waitFor();
    // Nothing is wider than the phone's screen.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).to.be.at.most(390);
    await shot(page, "buyer-phone");

    // A rejected signature: the deposit's approval is refused in the wallet.
    const region = page.getByRole("region", { name: "Channel deposit and balances" });
    await region.getByLabel("Amount (tUSD)").fill("1");
    poor.rejectNext();
    await region.getByRole("button", { name: "Deposit", exact: true }).click();
    await region.getByRole("alert").filter({ hasText: "You rejected the request in your wallet; nothing was signed or sent." }).waitFor();

    // An insufficient balance: an escrow this wallet cannot fund.
    const id = await postTask(page, { text: "No money, no escrow.", budget: "3", route: "escrow" });
    await waitStatus(page, id, "funding");
    await card(page, id).getByRole("button", { name: "Fund escrow from wallet" }).click();
    await card(page, id).getByRole("alert").filter({ hasText: "Insufficient balance" }).waitFor();

    // The wrong chain: the owner switches the wallet away; the page says so, and a transaction switches back.
    await poor.switchChain(page, 1);
    await page.getByRole("alert").filter({ hasText: "Wrong chain: your wallet is on chain 1" }).waitFor();
    await poor.switchChain(page, 31337);
    await page.getByRole("alert").filter({ hasText: "Wrong chain" }).waitFor({ state: "detached" });

    // An expired sign-in (the page's clock passes the session's expiry): the page says so and offers to sign in again.
    await page.clock.setSystemTime(Date.now() + h.config.AUTH_TOKEN_TTL_MS + 60_000);
    await page.getByRole("alert").filter({ hasText: "Your sign-in has expired: sign in again with your wallet." }).waitFor({ timeout: 15_000 });
    await page.getByRole("button", { name: "Sign in with Ethereum" }).waitFor();
    expect(await page.getByRole("tablist", { name: "How to post" }).count()).to.equal(0); // the buyer's controls wait for a new sign-in
  });

  it("escrow: a buyer signs in, posts, funds from the wallet; the agent delivers; the buyer disputes with evidence; the arbitrator rules 60/40 in the page; both withdraw exact amounts", async () => {
    const buyer = await open(localAccount(ESCROW_BUYER).privateKey, "/buyer");
    // The wallet started on another chain: the page switched it (EIP-3326 → 4902 → EIP-3085), then signed in (EIP-4361).
    expect(buyer.wallet.requests).to.include.members(["eth_requestAccounts", "wallet_switchEthereumChain", "wallet_addEthereumChain", "personal_sign"]);
    const buyerBefore = await balance(tusd, buyer.address);
    const id = await postTask(buyer.page, { text: "Sealed-bid auctions let agents compete on price. The buyer pays the second price.", budget: "5", route: "escrow" });
    await waitStatus(buyer.page, id, "funding");
    await shot(buyer.page, "buyer");
    await card(buyer.page, id).getByRole("button", { name: "Fund escrow from wallet" }).click();
    // approve (unless an allowance is left), then fund: each transaction's progress ends confirmed, with its hash.
    await allConfirmed(card(buyer.page, id));
    expect(await card(buyer.page, id).locator(".tx .hash").first().textContent()).to.match(/^tx 0x[0-9a-f]{64}$/);
    await until(async () => (await task(id)).status === "delivered", 90_000, 200).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await task(id))}`);
    });
    await card(buyer.page, id).getByRole("button", { name: "Open dispute" }).waitFor({ timeout: 30_000 });
    const t = await task(id);
    expect(t.status).to.equal("delivered");
    expect(t.agent).to.equal(agent.address.toLowerCase());
    const price = BigInt(t.price!);
    const amount = BigInt(t.budget);
    expect(await card(buyer.page, id).locator(".amount").first().getAttribute("data-base-units")).to.equal(amount.toString());

    // Dispute with an ERC-1497 evidence document whose file is hashed in the page.
    const file = Buffer.from("The expected output counts 15 words; the delivered one counts 14.\n");
    const c = card(buyer.page, id);
    await c.getByLabel("Title").fill("Wrong word count");
    await c.getByLabel("Description").fill("The word count is off by one.");
    await c.getByLabel("File (hashed, not uploaded)").setInputFiles({ name: "expected.txt", mimeType: "text/plain", buffer: file });
    await c.getByRole("button", { name: "Open dispute" }).click();
    await waitStatus(buyer.page, id, "disputed", 60_000);
    const disputed = await until(async () => ((await task(id)).dispute?.arbitrator ? task(id) : undefined), 30_000, 200);
    const disputeId = disputed.dispute!.id;
    const detail = (await operator.get(`/v1/disputes/${disputeId}`)).body as { evidence: { uri: string | null; party: string }[] };
    const doc = detail.evidence.map((e) => (e.uri ? readEvidenceUri(e.uri) : undefined)).find((d) => d?.fileHash);
    expect(doc).to.deep.include({ name: "Wrong word count", fileHash: multihashSha256(new Uint8Array(file)), fileTypeExtension: "txt" });

    // The arbitrator the resolver assigned opens the case and rules 60% to the agent.
    const arbIndex = LOCAL_ROLES.arbitrators.find((i) => localAccount(i).address.toLowerCase() === disputed.dispute!.arbitrator)!;
    const arb = await open(localAccount(arbIndex).privateKey, "/arbitrator");
    await arb.page.getByRole("button", { name: `Open case #${disputeId}` }).click();
    const feeBps = Number((await operator.get("/v1/network")).body.chain.feeBps);
    const split = rulingSplit(price, amount, 6000, feeBps);
    await arb.page.getByLabel("Agent's share of the price (%)").fill("60");
    const preview = arb.page.getByTestId("split-preview");
    await preview.locator(`.amount[data-base-units="${split.agent}"]`).waitFor();
    expect(await preview.locator(".amount").evaluateAll((xs) => xs.map((x) => x.getAttribute("data-base-units")))).to.deep.equal([split.agent, split.fee, split.buyer].map(String));
    expect(await preview.textContent()).to.contain("60% of the price");
    await shot(arb.page, "arbitrator");
    await arb.page.getByRole("button", { name: "Sign the ruling" }).click();
    await arb.page.locator(".tx-confirmed", { hasText: `Rule 60% to the agent on dispute #${disputeId}` }).waitFor({ timeout: 30_000 });
    await arb.page.getByTestId("case-status").filter({ hasText: "ruled" }).waitFor({ timeout: 30_000 });

    // Past the appeal window the coordinator finalizes; the escrow credits both sides.
    const appealSeconds = Number((await operator.get("/v1/network")).body.chain.windows.appealSeconds);
    await chain.provider.send("evm_increaseTime", [appealSeconds + 1]);
    await chain.mine(2);
    await until(async () => (await task(id)).status === "resolved", 60_000, 200);

    // Both withdraw from their pages.
    await buyer.page.getByTestId("escrow-balance").locator(`.amount[data-base-units="${split.buyer}"]`).waitFor({ timeout: 30_000 });
    await buyer.page.getByRole("button", { name: "Withdraw escrow balance" }).click();
    await buyer.page.locator(".tx-confirmed", { hasText: "Withdraw your TaskEscrow balance" }).waitFor({ timeout: 30_000 });
    expect(await balance(tusd, buyer.address)).to.equal(buyerBefore - amount + split.buyer);

    const agentPerson = await open(agentKey, "/agent");
    const agentBefore = await balance(tusd, agentPerson.address);
    await agentPerson.page.getByTestId("payout-escrow").locator(`.amount[data-base-units="${split.agent}"]`).waitFor({ timeout: 30_000 });
    await shot(agentPerson.page, "agent");
    await agentPerson.page.getByRole("button", { name: "Withdraw from TaskEscrow" }).click();
    await agentPerson.page.locator(".tx-confirmed", { hasText: "Withdraw from TaskEscrow" }).waitFor({ timeout: 30_000 });
    expect(await balance(tusd, agentPerson.address)).to.equal(agentBefore + split.agent);
    await agentPerson.page.getByTestId("payout-escrow").locator('.amount[data-base-units="0"]').waitFor();
    const earned = agentPerson.page.getByRole("region", { name: "Earnings per route" }).locator("tbody tr", { hasText: "escrow" }).locator(".amount").first();
    expect(await earned.getAttribute("data-base-units")).to.equal(split.agent.toString());
  });

  it("channel: a buyer deposits, posts, pays the delivered result with an EIP-712 voucher signed in the wallet; the agent withdraws from PaymentChannels", async () => {
    const buyer = await open(localAccount(CHANNEL_BUYER).privateKey, "/buyer");
    const region = buyer.page.getByRole("region", { name: "Channel deposit and balances" });
    await region.getByLabel("Token").selectOption({ label: "tUSD" });
    const deposit = buyer.page.getByTestId("channel-deposit").locator(".amount");
    await until(async () => (await deposit.getAttribute("data-base-units")) !== null, 10_000, 100);
    const before = BigInt((await deposit.getAttribute("data-base-units"))!);
    await region.getByLabel("Amount (tUSD)").fill("10");
    await region.getByRole("button", { name: "Deposit", exact: true }).click();
    await buyer.page.getByTestId("channel-deposit").locator(`.amount[data-base-units="${before + 10_000_000n}"]`).waitFor({ timeout: 30_000 });
    expect(buyer.wallet.requests).to.include("eth_signTypedData_v4"); // the DeliveryAuthorization

    const id = await postTask(buyer.page, { text: "Payment channels batch many small payments into one transaction.", budget: "2", route: "channel" });
    await card(buyer.page, id).getByRole("button", { name: "Pay with a signed voucher" }).waitFor({ timeout: 60_000 });
    const t = await task(id);
    const price = BigInt(t.price!);
    await card(buyer.page, id).getByRole("button", { name: "Pay with a signed voucher" }).click();
    await until(async () => ["accepted", "settled"].includes((await task(id)).status), 30_000, 200);

    // The coordinator settles the voucher on-chain in its next batch; the agent claims from its page.
    const agentPerson = await open(agentKey, "/agent");
    const payouts = agentPerson.page.getByRole("region", { name: "Payouts" });
    await payouts.getByLabel("Token").selectOption({ label: "tUSD" });
    const claimable = agentPerson.page.getByTestId("payout-channels").locator(".amount");
    await until(async () => BigInt((await claimable.getAttribute("data-base-units")) ?? "0") > 0n, 60_000, 250);
    const due = BigInt((await claimable.getAttribute("data-base-units"))!);
    expect(due).to.equal(price); // PaymentChannels takes no fee: the voucher's amount is the price
    const held = await balance(tusd, agentPerson.address);
    await payouts.getByRole("button", { name: "Withdraw from PaymentChannels" }).click();
    await payouts.locator(".tx-confirmed", { hasText: "Withdraw from PaymentChannels" }).waitFor({ timeout: 30_000 });
    expect(await balance(tusd, agentPerson.address)).to.equal(held + due);
    await buyer.page.getByTestId("channel-deposit").locator(`.amount[data-base-units="${before + 10_000_000n - price}"]`).waitFor({ timeout: 30_000 });

    // A workflow from its JSON, drawn as a DAG before it is posted; its first nodes run at once.
    const form = buyer.page.getByRole("region", { name: "Post a task" });
    await form.getByRole("tab", { name: "Workflow (DAG)" }).click();
    const dag = form.getByRole("img", { name: "Workflow DAG" });
    expect(await dag.locator("rect").count()).to.equal(3);
    expect(await dag.locator("line").count()).to.equal(2);
    await form.getByRole("button", { name: "Post workflow" }).click();
    const posted = await form.getByRole("status").filter({ hasText: "Posted workflow" }).textContent();
    const workflowId = /workflow ([0-9a-f-]{36})/.exec(posted!)![1]!;
    await until(async () => {
      const w = (await operator.get(`/v1/workflows/${workflowId}`)).body as { nodes: { key: string; taskStatus: string | null }[] };
      return ["delivered", "accepted", "settled"].includes(w.nodes.find((n) => n.key === "stats")?.taskStatus ?? "");
    }, 60_000, 250);
  });

  // Last: the demo moves the chain's clock past its windows (disputes, acceptance).
  it("dashboard: the live figures move while the demo runs; the operator pauses and unpauses a contract from the wallet", async () => {
    const op = await open(localAccount(LOCAL_ROLES.admin).privateKey, "/dashboard");
    await op.page.getByText("live (server-sent events, one sample per second)").waitFor({ timeout: 15_000 });
    const figure = async (name: string) => Number(await op.page.locator(`[data-figure="${name}"]`).textContent());
    const head0 = await figure("head");
    const batches0 = await figure("batches");
    const seen = { posted: 0, awarded: 0, open: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const k of Object.keys(seen) as (keyof typeof seen)[]) seen[k] = Math.max(seen[k], await figure(k));
        await op.page.waitForTimeout(250);
      }
    })();
    const report = await runDemo({ url: h.url, config: h.config, tasks: 12, workflows: 1, escrowShare: 0.2, silentEscrows: 0, flakyReserveShare: 0.1, flakyFailureRate: 1, progress: "silent", stepTimeoutMs: 90_000 });
    sampling = false;
    await sampler;
    expect(report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`)).to.deep.equal([]);
    expect(seen.posted, "tasks posted per second").to.be.greaterThan(0);
    expect(seen.awarded, "tasks awarded per second").to.be.greaterThan(0);
    expect(await figure("head")).to.be.greaterThan(head0);
    await until(async () => (await figure("batches")) > batches0, 30_000, 250);
    // The charts drew the history (uPlot canvases).
    expect(await op.page.locator(".chart canvas").count()).to.be.greaterThan(3);
    await shot(op.page, "dashboard");

    const row = op.page.getByRole("row", { name: /TaskEscrow/ });
    await row.getByRole("button", { name: "Pause TaskEscrow" }).click();
    await row.locator('[data-paused="true"]').waitFor({ timeout: 30_000 });
    expect(await op.page.locator('[data-paused="true"]').count()).to.equal(1);
    await row.getByRole("button", { name: "Unpause TaskEscrow" }).click();
    await row.locator('[data-paused="false"]').waitFor({ timeout: 30_000 });
  });
});
