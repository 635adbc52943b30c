/**
 * `npm run bench:gas`: the gas of every money-moving contract operation on Hardhat's in-process
 * EVM, printed as a table and written to `gas-snapshot.txt` (committed, so a regression shows in
 * review). Figures are printed, never asserted.
 *
 * settleBatch is measured in steady state: every pair has settled before (its storage slot is
 * non-zero) and every payee has a claimable balance, as in a running marketplace; per-voucher
 * figures are receipt gas ÷ n, so they include the 21 000 base and the calldata.
 */
import { writeFileSync } from "node:fs";
import { FUNDING_AUTHORIZATION_TYPES } from "../src/protocol/eip712.js";
import { network } from "hardhat";
import { Wallet, type ContractTransactionResponse } from "ethers";
import { deployAll } from "./lib/deploy.js";
import { encodeSettleBatch } from "../src/chain/evm/vouchers.js";
import { DELIVERY_AUTHORIZATION_TYPES, voucherDomain, VOUCHER_TYPES, type SignedVoucher } from "../src/protocol/eip712.js";

const { ethers, networkHelpers } = await network.create();
const [admin, coordinator, arb1, arb2, treasury, buyer, agent] = await ethers.getSigners();
const d = await deployAll(ethers, "hardhat", {
  admin: admin!, coordinator: coordinator!.address, arbitrators: [arb1!.address, arb2!.address], treasury: treasury!.address, testToken: true,
});
const at = (name: string) => d.contracts[name]!.address;
const escrow = await ethers.getContractAt("TaskEscrow", at("TaskEscrow"));
const resolver = await ethers.getContractAt("DisputeResolver", at("DisputeResolver"));
const channels = await ethers.getContractAt("PaymentChannels", at("PaymentChannels"));
const anchor = await ethers.getContractAt("ReputationAnchor", at("ReputationAnchor"));
const token = await ethers.getContractAt("AICPTestToken", at("AICPTestToken"));
const NATIVE = ethers.ZeroAddress;
const rows: [string, bigint, string][] = [];
const gas = async (label: string, tx: Promise<ContractTransactionResponse>, note = "") => {
  const r = await (await tx).wait();
  rows.push([label, r!.gasUsed, note]);
  return r!.gasUsed;
};
const id = (s: string) => ethers.id(s);
const deadline = BigInt((await networkHelpers.time.latest()) + 7 * 86400);
const escrowDomain = { name: "AICP TaskEscrow", version: "1", chainId: d.chainId, verifyingContract: at("TaskEscrow") };
/** The coordinator's FundingAuthorization of the buyer (src/protocol/eip712.ts). */
const auth = (taskId: string, token: string, amount: bigint) =>
  coordinator!.signTypedData(escrowDomain, FUNDING_AUTHORIZATION_TYPES, { taskId, buyer: buyer!.address, token, amount, deadline });

// --- escrow route ---
await token.mint(buyer!.address, 10n ** 15n);
await gas("TaskEscrow.fund (native)", escrow.connect(buyer).fund(id("t1"), NATIVE, 10n ** 18n, deadline, await auth(id("t1"), NATIVE, 10n ** 18n), { value: 10n ** 18n }));
await token.connect(buyer).approve(at("TaskEscrow"), 2n ** 255n);
await gas("TaskEscrow.fund (ERC-20, after approve)", escrow.connect(buyer).fund(id("t2"), await token.getAddress(), 5_000_000n, deadline, await auth(id("t2"), await token.getAddress(), 5_000_000n)));
const sig = ethers.Signature.from(
  await buyer!.signTypedData(
    { name: "AICP Test USD", version: "1", chainId: d.chainId, verifyingContract: await token.getAddress() },
    { Permit: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" }] },
    { owner: buyer!.address, spender: at("TaskEscrow"), value: 5_000_000n, nonce: await token.nonces(buyer!.address), deadline },
  ),
);
await token.connect(buyer).approve(at("TaskEscrow"), 0n);
await gas("TaskEscrow.fundWithPermit (ERC-2612)", escrow.connect(buyer).fundWithPermit(id("t3"), await token.getAddress(), 5_000_000n, deadline, deadline, sig.v, sig.r, sig.s, await auth(id("t3"), await token.getAddress(), 5_000_000n)));
await gas("TaskEscrow.award", escrow.connect(coordinator).award(id("t2"), agent!.address, 4_000_000n));
await gas("TaskEscrow.deliver (agent)", escrow.connect(agent).deliver(id("t2"), id("result")));
await gas("TaskEscrow.release (buyer)", escrow.connect(buyer).release(id("t2")));
await gas("TaskEscrow.withdraw (agent, ERC-20)", escrow.connect(agent).withdraw(await token.getAddress()));
await escrow.connect(coordinator).award(id("t3"), agent!.address, 4_000_000n);
await escrow.connect(agent).deliver(id("t3"), id("result3"));
const dispute = await gas("TaskEscrow.dispute (opens DisputeResolver case)", escrow.connect(buyer).dispute(id("t3"), "ipfs://evidence"));
const disputeId = await resolver.disputeOfTask(id("t3"));
const info = await resolver.disputeOf(disputeId);
const arbitrator = [arb1!, arb2!].find((a) => a.address === info.arbitrator)!;
const rule = await gas("DisputeResolver.rule", resolver.connect(arbitrator).rule(disputeId, 6000));
await networkHelpers.time.increase(86400 + 1);
const fin = await gas("DisputeResolver.finalize (executes the ruling on the escrow)", resolver.finalize(disputeId));
rows.push(["  dispute + ruling + finalize", dispute + rule + fin, "sum"]);

// --- reputation anchor ---
await gas("ReputationAnchor.anchor", anchor.connect(coordinator).anchor(1, id("root"), "ipfs://epoch-1"));

// --- channels: steady-state settleBatch ---
const chainId = d.chainId;
const domain = voucherDomain(chainId, at("PaymentChannels"));
const tokenAddr = await token.getAddress();
const PAYERS = 10;
const payers = Array.from({ length: PAYERS }, (_, i) => new Wallet(ethers.toBeHex(1000n + BigInt(i), 32), ethers.provider));
for (const p of payers) {
  await admin!.sendTransaction({ to: p.address, value: 10n ** 18n });
  await token.mint(p.address, 10n ** 15n);
  await token.connect(p).approve(at("PaymentChannels"), 2n ** 255n);
  await channels.connect(p).deposit(tokenAddr, 10n ** 14n);
}
const payees = Array.from({ length: 50 }, (_, i) => ethers.getAddress(ethers.toBeHex(0xa9e0000n + BigInt(i), 20)));
const cumulative = new Map<string, bigint>();
async function vouchersFor(pairs: [Wallet, string][]): Promise<SignedVoucher[]> {
  return Promise.all(
    pairs.map(async ([p, payee]) => {
      const key = `${p.address}:${payee}`;
      const amount = (cumulative.get(key) ?? 0n) + 1_000n;
      cumulative.set(key, amount);
      const v = { payer: p.address, payee, token: tokenAddr, cumulativeAmount: amount };
      return { ...v, signature: await p.signTypedData(domain, VOUCHER_TYPES, v) };
    }),
  );
}
const pairsOf = (n: number) => Array.from({ length: n }, (_, i): [Wallet, string] => [payers[i % PAYERS]!, payees[Math.floor(i / PAYERS) % payees.length]!]);
// Warm every pair and payee once (steady state), then measure.
// (In chunks: first settlements write fresh slots and would pass the per-transaction gas cap.)
const all = pairsOf(500);
for (let i = 0; i < all.length; i += 100) {
  const warm = encodeSettleBatch(await vouchersFor(all.slice(i, i + 100)));
  await (await channels.connect(coordinator).settleBatch(warm.addresses, warm.entries)).wait();
}
const perVoucher: [number, bigint][] = [];
for (const n of [1, 10, 100, 500]) {
  const vs = (await vouchersFor(pairsOf(n))).sort((a, b) => (a.payer < b.payer ? -1 : a.payer > b.payer ? 1 : 0));
  const { addresses, entries } = encodeSettleBatch(vs);
  const g = await gas(`PaymentChannels.settleBatch (${n} voucher${n > 1 ? "s" : ""}, ${Math.min(n, PAYERS)} payers)`, channels.connect(coordinator).settleBatch(addresses, entries));
  perVoucher.push([n, g / BigInt(n)]);
}
// A delivery claim under the payer's authorization (one payee, a pair already settled once).
{
  const p = payers[0]!;
  const authorization = { payer: p.address, token: tokenAddr, salt: id("bench-salt"), maxAmount: 10n ** 12n, expiry: BigInt(Math.floor(Date.now() / 1000) + 30 * 86_400) };
  const signature = await p.signTypedData(domain, DELIVERY_AUTHORIZATION_TYPES, authorization);
  const payee = payees[0]!;
  const settledBefore = (await channels.settledOf(p.address, payee, tokenAddr)) as bigint;
  await gas("PaymentChannels.claimDelivered (1 claim, existing pair)", channels.connect(coordinator).claimDelivered(authorization, signature, [{ payee, amount: 1_000n, settledBefore }]));
}
await gas("PaymentChannels.deposit (ERC-20, existing)", channels.connect(payers[0]).deposit(tokenAddr, 1_000n));
await gas("PaymentChannels.withdraw (payee)", channels.connect(await ethers.getImpersonatedSigner(payees[0]!)).withdraw(tokenAddr).catch(async () => {
  await admin!.sendTransaction({ to: payees[0], value: 10n ** 17n });
  return channels.connect(await ethers.getImpersonatedSigner(payees[0]!)).withdraw(tokenAddr);
}));

const lines = [
  "# AICP gas snapshot (npm run bench:gas; solc 0.8.28, optimizer 10 000 runs, cancun)",
  ...rows.map(([l, g, n]) => `${l.padEnd(68)} ${g.toString().padStart(9)}${n ? `  ${n}` : ""}`),
  "",
  "# settleBatch gas per voucher (steady state: pairs and payees already settled once)",
  ...perVoucher.map(([n, g]) => `settleBatch per voucher @ ${String(n).padEnd(4)} ${g.toString().padStart(9)}`),
  "# references: a minimal one-way channel close ~94 000; Raiden settle ~116 000",
];
console.log(lines.join("\n"));
writeFileSync("gas-snapshot.txt", lines.join("\n") + "\n");
