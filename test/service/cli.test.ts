/**
 * The `aicp` command line as a user runs it: a child process (bin/aicp.mjs) against a real
 * coordinator (Postgres, Redis, in-process) and a real hardhat node, with reference agents (the
 * agent SDK and the reference handlers, in-process) doing the work.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Contract, NonceManager, Wallet } from "ethers";
import { startHarness, until, type Harness } from "./harness.js";
import { startChain, type TestChain } from "./chain-harness.js";
import { createReferenceAgent, type AgentKind } from "../../src/agents-ref/kinds.js";
import type { Agent } from "../../src/sdk/agent.js";
import { connectEvm } from "../../src/chain/evm/chain.js";
import { taskKey } from "../../src/protocol/keys.js";
import { rulingSplit } from "../../src/protocol/disputes.js";

const root = new URL("../../", import.meta.url).pathname;
const bin = join(root, "bin", "aicp.mjs");

type Run = { code: number | null; stdout: string; stderr: string };

describe("aicp CLI (child process) against a coordinator and a hardhat node", function () {
  this.timeout(300_000);
  let chain: TestChain;
  let h: Harness;
  let token: string;
  let dir: string;
  const agents: Agent[] = [];
  /** The reference agents' wallets, by lower-case address (their keys drive `aicp agent …`). */
  const agentWallets = new Map<string, Wallet>();
  /** The task the escrow test leaves in dispute, for the dispute commands. */
  let disputedTask = "";

  /** Runs `aicp args…`; resolves with the exit code and both streams. */
  function aicp(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; onStderr?: (text: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [bin, ...args], {
        cwd: root,
        env: { ...process.env, AICP_URL: h.url, CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, AICP_PRIVATE_KEY: "", ...opts.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        opts.onStderr?.(stderr, child);
      });
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`aicp ${args.join(" ")} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, opts.timeoutMs ?? 120_000);
      child.on("error", reject);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }
  const json = <T = Record<string, unknown>>(r: Run): T => {
    expect(r.code, `exit code\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).to.equal(0);
    return JSON.parse(r.stdout) as T;
  };
  const file = (name: string, content: unknown) => {
    const f = join(dir, name);
    writeFileSync(f, typeof content === "string" ? content : JSON.stringify(content, null, 2));
    return f;
  };
  const taskFile = (over: Record<string, unknown> = {}) => ({ ...(JSON.parse(readFileSync(join(root, "examples", "task.json"), "utf8")) as Record<string, unknown>), ...over });
  const escrowFile = (over: Record<string, unknown> = {}) => ({ ...(JSON.parse(readFileSync(join(root, "examples", "task-escrow.json"), "utf8")) as Record<string, unknown>), ...over });
  const tokenBalance = async (account: number) =>
    (await new Contract(token, ["function balanceOf(address) view returns (uint256)"], chain.provider).getFunction("balanceOf")(chain.wallet(account).address)) as bigint;
  const onChainDeposit = async (account: number) => {
    const channels = new Contract(chain.deployment.contracts["PaymentChannels"]!.address, ["function depositOf(address,address) view returns (uint256,uint64,uint64)"], chain.provider);
    return ((await channels.getFunction("depositOf")(chain.wallet(account).address, token)) as [bigint])[0];
  };

  before(async () => {
    chain = await startChain();
    h = await startHarness(
      { CHAIN_RPC_URL: chain.url, DEPLOYMENTS_FILE: chain.deploymentsFile, CONFIRMATIONS: "0", INDEXER_POLL_MS: "100", SETTLE_INTERVAL_MS: "500", WORKFLOW_WINDOW_MS: "1000" },
      "all",
      { sweepMs: 300 },
    );
    dir = mkdtempSync(join(tmpdir(), "aicp-cli-"));
    token = chain.deployment.contracts["AICPTestToken"]!.address.toLowerCase();
    const tUSD = new Contract(token, ["function mint(address,uint256)"], new NonceManager(chain.wallet(0)));
    for (const i of [5, 7, 8, 9]) await (await tUSD.getFunction("mint")(chain.wallet(i).address, 1_000n * 10n ** 6n)).wait();
    for (const kind of ["hash", "image", "math", "csv"] as AgentKind[]) {
      const w = Wallet.createRandom() as unknown as Wallet;
      agentWallets.set(w.address.toLowerCase(), w);
      const a = createReferenceAgent(kind, { baseUrl: h.url, wallet: w, pollWaitMs: 1000, reconcileMs: 1000 });
      await a.start();
      agents.push(a);
    }
  });
  after(async () => {
    for (const a of agents) await a.stop({ drainMs: 0 }).catch(() => undefined);
    await h?.stop();
    await chain?.stop();
  });

  it("deposits into the channel; `channel show` reports it once the indexer has seen it", async () => {
    const before = json<{ deposit: string }>(await aicp(["--account", "5", "--json", "channel", "show"]));
    expect(before.deposit).to.equal("0");
    const r = await aicp(["--account", "5", "channel", "deposit", "10"]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/deposited 10 tUSD \(10000000 base units\)/);
    expect(await onChainDeposit(5)).to.equal(10_000_000n);
    const shown = await until(async () => {
      const v = json<{ deposit: string; available: string }>(await aicp(["--account", "5", "--json", "channel", "show"]));
      return v.deposit === "10000000" && v;
    }, 30_000, 200);
    expect(shown.available).to.equal("10000000");
    const text = await aicp(["--account", "5", "channel", "show"]);
    expect(text.stdout).to.match(/deposit\s+10 tUSD \(10000000 base units\)/);
  });

  it("needs only AICP_URL: without chain settings it takes the chain, contracts and ABIs from GET /v1/network", async () => {
    const only = { CHAIN_RPC_URL: "", DEPLOYMENTS_FILE: "" };
    const before = await onChainDeposit(8);
    const r = await aicp(["--account", "8", "channel", "deposit", "1.5", "--wait"], { env: only });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/deposited 1.5 tUSD \(1500000 base units\)/);
    expect(await onChainDeposit(8)).to.equal(before + 1_500_000n);
    const shown = json<{ deposit: string }>(await aicp(["--account", "8", "--json", "channel", "show"], { env: only }));
    expect(BigInt(shown.deposit)).to.equal(before + 1_500_000n);
  });

  it("posts a task from a JSON file and follows it to its final state while a reference agent does the work", async () => {
    const f = file("task.json", taskFile());
    const r = await aicp(["--account", "5", "--json", "task", "post", f, "--wait", "--accept"]);
    const t = json<{ id: string; status: string; settlement: string; price: string; output: { digests: { sha256: string } } }>(r);
    expect(t.settlement).to.equal("channel");
    expect(t.status).to.equal("accepted");
    // The reference hash agent did real work: the digest of the file's text.
    const text = (taskFile().input as { text: string }).text;
    expect(t.output.digests.sha256).to.equal(createHash("sha256").update(text).digest("hex"));
    expect(r.stderr).to.match(/delivered by 0x/);
    // The voucher is settled in a batch on-chain: the task's final state.
    const settled = await until(async () => {
      const v = json<{ status: string }>(await aicp(["--account", "5", "--json", "task", "show", t.id]));
      return v.status === "settled" && v;
    }, 60_000, 500);
    expect(settled.status).to.equal("settled");
    expect(await onChainDeposit(5)).to.equal(10_000_000n - BigInt(t.price));
  });

  it("posts the example workflow (fetch → label, extract, analyse → combine) and pays its nodes", async () => {
    const r = await aicp(["--account", "5", "--json", "workflow", "post", join(root, "examples", "workflow.json"), "--wait", "--accept"], { timeoutMs: 240_000 });
    const w = json<{ status: string; nodes: { key: string; status: string; taskId: string }[] }>(r);
    expect(w.status).to.equal("completed");
    expect(w.nodes.map((n) => n.status)).to.deep.equal(["done", "done", "done", "done", "done"]);
    const combine = w.nodes.find((n) => n.key === "combine")!;
    const t = json<{ status: string; output: { result: string } }>(await aicp(["--account", "5", "--json", "task", "show", combine.taskId]));
    expect(t.status).to.be.oneOf(["accepted", "settled"]);
    // Three equal stripes: the dominant colour covers a third of the image.
    expect(JSON.parse(t.output.result)).to.include({ dominantShare: 0.3333 });
  });

  it("a workflow on the escrow route: each node waits for funding with its plan linked; the CLI funds them from the wallet and the workflow completes", async () => {
    const wf = file("wf-escrow.json", {
      route: "escrow",
      nodes: [
        { key: "hash", capability: "hash.digest", input: { text: "escrow workflow", algorithms: ["sha256"] }, complexity: 1, budget: "0.3 tUSD" },
        { key: "again", capability: "hash.digest", input: { text: { $from: "hash", path: "digests.sha256" }, algorithms: ["keccak256"] }, complexity: 1, budget: "0.3 tUSD", dependsOn: ["hash"] },
      ],
      totalBudget: "1 tUSD",
      deadline: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    });
    const r = await aicp(["--account", "7", "--json", "workflow", "post", wf, "--wait", "--accept"], { timeoutMs: 240_000 });
    const w = json<{ status: string; nodes: { key: string; status: string; taskId: string }[] }>(r);
    expect(w.status, r.stderr).to.equal("completed");
    for (const n of w.nodes) {
      const t = json<{ settlement: string }>(await aicp(["--account", "7", "--json", "task", "show", n.taskId]));
      expect(t.settlement).to.equal("escrow");
    }
  });

  it("refuses bad input with a readable error and a non-zero exit, and does nothing", async () => {
    const missing = await aicp(["--account", "5", "task", "post", join(dir, "nope.json")]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/^error: FILE_NOT_FOUND: .*nope\.json: no such file/m);

    const broken = await aicp(["--account", "5", "task", "post", file("broken.json", '{\n  "capability": "hash.digest",\n  "input": { "text": "x" ,, }\n}')]);
    expect(broken.code).to.equal(1);
    expect(broken.stderr).to.match(/^error: INVALID_JSON: .*broken\.json is not valid JSON \(line 3, column \d+\)/m);

    const invalid = await aicp(["--account", "5", "task", "post", file("invalid.json", taskFile({ complexity: 11 }))]);
    expect(invalid.code).to.equal(1);
    expect(invalid.stderr).to.match(/INVALID_TASK_FILE/).and.to.match(/complexity:/);

    const bare = await aicp(["--account", "5", "task", "post", file("bare.json", taskFile({ budget: "500000" }))]);
    expect(bare.code).to.equal(1);
    expect(bare.stderr).to.match(/BAD_AMOUNT: .*budget: "500000" has no unit; write "500000 tUSD" .* or "500000base"/);

    const depositBefore = await onChainDeposit(5);
    for (const [amount, why] of [
      ["1.2345678", /has 7 decimal places; tUSD has 6/],
      ["1,5", /is not a number/],
      ["12abc", /names abc, but the token is tUSD/],
      ["-1", /is negative/],
      ["1e6", /exponents are not accepted/],
      ["1.5 ETH", /names ETH, but the token is tUSD/],
    ] as const) {
      const r = await aicp(["--account", "5", "channel", "deposit", amount]);
      expect(r.code, `${amount}: ${r.stderr}`).to.equal(1);
      expect(r.stderr).to.match(/^error: BAD_AMOUNT: amount: /m).and.to.match(why);
    }
    expect(await onChainDeposit(5)).to.equal(depositBefore);

    // The coordinator's own refusals come out as `error: CODE (HTTP status): message`.
    const tooSoon = await aicp(["--account", "5", "task", "post", file("soon.json", taskFile({ deadline: "+1s", auction: { rule: "second-price", windowMs: 5000 } }))]);
    expect(tooSoon.code).to.equal(1);
    expect(tooSoon.stderr).to.match(/^error: DEADLINE_TOO_SOON \(HTTP 400\): /m);

    const noKey = await aicp(["channel", "show"]);
    expect(noKey.code).to.equal(1);
    expect(noKey.stderr).to.match(/^error: NO_KEY: .*--key or AICP_PRIVATE_KEY/m);
  });

  it("the voucher signer refuses a payment above --max-per-task, and pays it within the limit", async () => {
    expect((await aicp(["--account", "7", "channel", "deposit", "5", "--wait"])).code).to.equal(0);
    const posted = json<{ id: string; status: string; price: string }>(await aicp(["--account", "7", "--json", "task", "post", file("pay.json", taskFile()), "--wait"]));
    expect(posted.status).to.equal("delivered");
    const price = BigInt(posted.price);
    expect(price > 0n).to.equal(true);
    const below = `${price - 1n}base`;

    // Automatic: the refusal is reported and nothing is signed; Ctrl-C stops it cleanly.
    const auto = await aicp(["--account", "7", "pay", "--auto", "--max-per-task", below, "--interval", "300"], {
      onStderr: (text, child) => {
        if (/refused: POLICY_MAX_PER_TASK/.test(text)) child.kill("SIGINT");
      },
    });
    expect(auto.code, auto.stderr).to.equal(0);
    expect(auto.stderr).to.match(new RegExp(`refused: POLICY_MAX_PER_TASK: Refused to pay task ${posted.id}: its price ${price} base units is above the per-task limit of ${price - 1n}`));

    // Once: the refusal is an error and a non-zero exit.
    const once = await aicp(["--account", "7", "pay", "--max-per-task", below]);
    expect(once.code).to.equal(1);
    expect(once.stderr).to.match(/^error: POLICY_MAX_PER_TASK: /m);
    const channel = json<{ owed: string; pairs: { accepted: string; due: string }[] }>(await aicp(["--account", "7", "--json", "channel", "show"]));
    expect(channel.owed).to.equal("0");
    expect(channel.pairs.map((p) => p.accepted)).to.deep.equal(["0"]);
    expect(json<{ status: string }>(await aicp(["--account", "7", "--json", "task", "show", posted.id])).status).to.equal("delivered");

    // At the price exactly it pays, and the output is released.
    const ok = await aicp(["--account", "7", "pay", "--max-per-task", `${price}base`, "--max-total", "1"]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stderr).to.match(new RegExp(`paid .*\\(${price} base units\\) to 0x[0-9a-f]{40} .*${posted.id}`));
    const paid = json<{ status: string; output?: unknown }>(await aicp(["--account", "7", "--json", "task", "show", posted.id]));
    expect(paid.status).to.be.oneOf(["accepted", "settled"]);
    expect(paid.output).to.have.property("digests");
  });

  it("escrow route: funds from the wallet (approve + fund, or a permit), accepts with a release, withdraws the refund, disputes", async () => {
    const f = file("escrow.json", escrowFile({ auction: { rule: "first-price", windowMs: 1000 } }));
    const r = await aicp(["--account", "8", "--json", "task", "post", f, "--wait", "--accept"]);
    const t = json<{ id: string; status: string; settlement: string; budget: string; price: string; output: { rows: number } }>(r);
    expect(r.stderr).to.match(/wallet: Approve TaskEscrow/).and.to.match(/wallet: Fund the escrow of task/);
    // The release may already be indexed by the time the CLI prints the task.
    expect([t.settlement, t.output.rows]).to.deep.equal(["escrow", 4]);
    expect(t.status).to.be.oneOf(["accepted", "settled"]);
    await until(async () => json<{ status: string }>(await aicp(["--account", "8", "--json", "task", "show", t.id])).status === "settled", 60_000, 500);
    // First-price: the agent's bid is the price; the rest of the budget came back to the buyer's escrow balance at the award.
    const refund = BigInt(t.budget) - BigInt(t.price);
    expect(refund > 0n).to.equal(true);
    const before = await tokenBalance(8);
    const w = await aicp(["--account", "8", "withdraw"]);
    expect(w.code, w.stderr).to.equal(0);
    expect(w.stdout).to.match(new RegExp(`withdrew ${refund} base units`));
    expect((await tokenBalance(8)) - before).to.equal(refund);
    const again = await aicp(["--account", "8", "withdraw"]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/^error: NOTHING_TO_WITHDRAW: /m);

    const p = await aicp(["--account", "8", "--json", "task", "post", f, "--wait", "--permit"]);
    const pt = json<{ id: string; status: string }>(p);
    expect(p.stderr).to.match(/\(ERC-2612 permit\)/).and.not.to.match(/Approve/);
    expect(pt.status).to.equal("delivered");
    const d = await aicp(["--account", "8", "task", "dispute", pt.id, "--evidence", "ipfs://bafy-cli-evidence", "--text", "The medians look wrong."]);
    expect(d.code, d.stderr).to.equal(0);
    await until(async () => json<{ status: string }>(await aicp(["--account", "8", "--json", "task", "show", pt.id])).status === "disputed", 60_000, 500);
    // A reclaim of a disputed escrow would revert: the coordinator hands out no call (409 ESCROW_STATE).
    const rec = await aicp(["--account", "8", "task", "reclaim", pt.id]);
    expect(rec.code).to.equal(1);
    expect(rec.stderr).to.match(/^error: ESCROW_STATE/m);
    disputedTask = pt.id;
  });

  it("aicp dispute: the arbitrator lists and reads the case, the buyer adds ERC-1497 evidence, the arbitrator rules 60/40 seeing the amounts; aicp agent: earnings and withdrawal from both contracts, exact", async () => {
    expect(disputedTask, "the escrow test left a disputed task").to.be.a("string");
    const evm = connectEvm(h.config);
    const info = await evm.resolver.disputeOf(await evm.resolver.disputeOfTask(taskKey(disputedTask)));
    const arb = [2, 3].find((i) => chain.wallet(i).address === info.arbitrator)!;
    const cases = json<{ id: string; taskId: string; status: string }[]>(await aicp(["--account", String(arb), "--json", "dispute", "list", "--status", "open"]));
    const c = cases.find((x) => x.taskId === disputedTask)!;
    expect(c.status).to.equal("awaiting_ruling");
    // A wallet without the arbitrator role has no case list.
    const refused = await aicp(["--account", "8", "dispute", "list"]);
    expect([refused.code, /ARBITRATOR_ONLY/.test(refused.stderr)]).to.deep.equal([1, true]);
    const ev = await aicp(["--account", "8", "dispute", "evidence", c.id, "--name", "Expected medians", "--description", "Hand-computed medians differ.", "--file", file("medians.csv", "city,median\nOslo,4.5\n")]);
    expect(ev.code, ev.stderr).to.equal(0);
    const shown = await until(async () => {
      const r = await aicp(["--account", String(arb), "dispute", "show", c.id]);
      return /Expected medians: Hand-computed medians differ\. \(file 1220/.test(r.stdout) && r;
    }, 30_000, 500);
    expect(shown.stdout).to.match(/\[buyer, api\] ipfs:\/\/bafy-cli-evidence/);
    // Another arbitrator cannot rule this case (it may not even read it): nothing is sent.
    const stranger = await aicp(["--account", String(arb === 2 ? 3 : 2), "dispute", "rule", c.id, "60"]);
    expect([stranger.code, /NOT_A_PARTY|DisputeResolverNotArbitrator/.test(stranger.stderr)]).to.deep.equal([1, true]);
    const e = await evm.escrow.escrowOf(taskKey(disputedTask));
    const split = rulingSplit(e.price, e.amount, 6000, Number(e.feeBps));
    const ruled = await aicp(["--account", String(arb), "dispute", "rule", c.id, "60"]);
    expect(ruled.code, ruled.stderr).to.equal(0);
    expect(ruled.stderr).to.match(new RegExp(`\\(${split.agent} base units\\)`)).and.to.match(new RegExp(`buyer [0-9.]+ tUSD \\(${split.buyer} base units\\)`));
    // Past the appeal window the coordinator finalizes it; TaskEscrow pays the split.
    await chain.provider.send("evm_increaseTime", [86_401]);
    await chain.mine(1);
    await until(async () => json<{ status: string }>(await aicp(["--account", "8", "--json", "task", "show", disputedTask])).status === "resolved", 60_000, 500);
    const agentWallet = agentWallets.get(e.agent.toLowerCase())!;
    await (await chain.wallet(0).sendTransaction({ to: agentWallet.address, value: 10n ** 17n })).wait();
    const key = ["--key", agentWallet.privateKey];
    const earned = json<{ withdrawable: { escrow: string; channels: string; total: string }; routes: { route: string }[] }>(await aicp([...key, "--json", "agent", "earnings"]));
    const [inEscrow, inChannels] = [await evm.escrow.balanceOf(agentWallet.address, token), await evm.channels.claimableOf(agentWallet.address, token)];
    expect([earned.withdrawable.escrow, earned.withdrawable.channels]).to.deep.equal([inEscrow.toString(), inChannels.toString()]);
    expect(inEscrow >= split.agent).to.equal(true);
    expect(earned.routes.map((r) => r.route)).to.include("escrow");
    const before = await new Contract(token, ["function balanceOf(address) view returns (uint256)"], chain.provider).getFunction("balanceOf")(agentWallet.address) as bigint;
    const w = await aicp([...key, "agent", "withdraw"]);
    expect(w.code, w.stderr).to.equal(0);
    expect(w.stdout).to.match(/from TaskEscrow in 0x[0-9a-f]{64}/);
    const after = await new Contract(token, ["function balanceOf(address) view returns (uint256)"], chain.provider).getFunction("balanceOf")(agentWallet.address) as bigint;
    expect(after - before).to.equal(inEscrow + inChannels);
    expect(await evm.escrow.balanceOf(agentWallet.address, token)).to.equal(0n);
    const none = await aicp([...key, "agent", "withdraw"]);
    expect([none.code, /NOTHING_TO_WITHDRAW/.test(none.stderr)]).to.deep.equal([1, true]);
  });

  it("channel withdraw: requests, waits out the challenge period, withdraws the deposit", async () => {
    expect((await aicp(["--account", "9", "channel", "deposit", "1.25"])).code).to.equal(0);
    const req = await aicp(["--account", "9", "channel", "withdraw"]);
    expect(req.code, req.stderr).to.equal(0);
    expect(req.stdout).to.match(/withdrawal requested in 0x[0-9a-f]{64}; available at /);
    const early = await aicp(["--account", "9", "channel", "withdraw"]);
    expect(early.stdout).to.match(/^withdrawal requested; available at /m);
    expect(await onChainDeposit(9)).to.equal(1_250_000n);
    await chain.provider.send("evm_increaseTime", [86_401]);
    const before = await tokenBalance(9);
    const done = await aicp(["--account", "9", "channel", "withdraw"]);
    expect(done.code, done.stderr).to.equal(0);
    expect(done.stdout).to.match(/withdrew 1250000 base units/);
    expect(await onChainDeposit(9)).to.equal(0n);
    expect((await tokenBalance(9)) - before).to.equal(1_250_000n);
  });
});
