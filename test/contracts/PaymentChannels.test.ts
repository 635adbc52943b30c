import { DELIVERY_AUTHORIZATION_TYPES, PERMIT_TYPES, VOUCHER_TYPES } from "../../src/protocol/eip712.js";
import { expectErc165, IACCESS_CONTROL_ID } from "./erc165.behavior.js";
import { expect } from "chai";
import { Signature, TypedDataEncoder, Wallet, concat, hexlify, randomBytes, solidityPacked } from "ethers";
import type { Signer, TypedDataDomain } from "ethers";
import hre, { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";

import { IPaymentChannels__factory } from "../../types/ethers-contracts/index.js";
import type { PaymentChannels } from "../../types/ethers-contracts/index.js";

const { ethers, networkHelpers } = await network.create();

/** The native currency's token address in the channels. */
const NATIVE = ethers.ZeroAddress;
/** One tUSD in base units (6 decimals). */
const USD = 1_000_000n;
/** The fixture's challenge period, in seconds. */
const CHALLENGE_PERIOD = 24n * 3600n;
/** Size of one packed settleBatch entry, in bytes. */
const ENTRY_SIZE = 87;

/** Mirrors IPaymentChannels.SkipReason. */
const Skip = { BadSignature: 0n, Stale: 1n, Overdrawn: 2n } as const;


type Voucher = { payer: string; payee: string; token: string; cumulativeAmount: bigint };
type SignedVoucher = Voucher & { signature: string };

/** The EIP-712 domain of a PaymentChannels deployment. */
async function domainOf(channels: PaymentChannels, chainId?: bigint): Promise<TypedDataDomain> {
  return {
    name: "AICP PaymentChannels",
    version: "1",
    chainId: chainId ?? (await ethers.provider.getNetwork()).chainId,
    verifyingContract: await channels.getAddress(),
  };
}

/** Signs `voucher` with `signer` (normally the payer) for `channels`. */
async function sign(channels: PaymentChannels, signer: Signer, voucher: Voucher): Promise<SignedVoucher> {
  const signature = await signer.signTypedData(await domainOf(channels), VOUCHER_TYPES, voucher);
  return { ...voucher, signature };
}

/**
 * Packs vouchers into settleBatch's calldata: an address table and 87-byte entries
 * (uint16 payer index, uint16 payee index, uint16 token index, uint128 amount, 65-byte signature).
 */
function encodeBatch(vouchers: SignedVoucher[]): { addresses: string[]; entries: string } {
  const addresses: string[] = [];
  const index = new Map<string, number>();
  const at = (address: string): number => {
    const key = address.toLowerCase();
    let i = index.get(key);
    if (i === undefined) {
      i = addresses.length;
      addresses.push(address);
      index.set(key, i);
    }
    return i;
  };
  const entries = concat(
    vouchers.map((v) =>
      solidityPacked(
        ["uint16", "uint16", "uint16", "uint128", "bytes"],
        [at(v.payer), at(v.payee), at(v.token), v.cumulativeAmount, v.signature],
      ),
    ),
  );
  return { addresses, entries };
}

async function settle(channels: PaymentChannels, vouchers: SignedVoucher[], from?: HardhatEthersSigner) {
  const { addresses, entries } = encodeBatch(vouchers);
  return (from ? channels.connect(from) : channels).settleBatch(addresses, entries);
}

async function fixture() {
  const signers = await ethers.getSigners();
  const at = (i: number): HardhatEthersSigner => {
    const signer = signers[i];
    if (!signer) throw new Error(`the network has fewer than ${i + 1} accounts`);
    return signer;
  };
  const [admin, settler, payer, payer2, payee, payee2, stranger] = [0, 1, 2, 3, 4, 5, 6].map(at) as [
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
  ];
  const channels = await ethers.deployContract("PaymentChannels", [admin.address, CHALLENGE_PERIOD]);
  const token = await ethers.deployContract("AICPTestToken");
  const tokenAddress = await token.getAddress();
  for (const p of [payer, payer2]) {
    await token.mint(p.address, 1_000_000n * USD);
    await token.connect(p).approve(channels, ethers.MaxUint256);
  }
  // Payer: 1 000 tUSD and 10 ETH deposited; payer2: 100 tUSD.
  await channels.connect(payer).deposit(tokenAddress, 1_000n * USD);
  await channels.connect(payer).deposit(NATIVE, ethers.parseEther("10"), { value: ethers.parseEther("10") });
  await channels.connect(payer2).deposit(tokenAddress, 100n * USD);
  return { channels, token, tokenAddress, admin, settler, payer, payer2, payee, payee2, stranger };
}

/** Signs an ERC-2612 permit of `value` from `owner` to `spender`. */
async function signPermit(
  token: Awaited<ReturnType<typeof fixture>>["token"],
  owner: HardhatEthersSigner,
  spender: string,
  value: bigint,
  deadline: bigint,
) {
  const domain = {
    name: await token.name(),
    version: "1",
    chainId: (await ethers.provider.getNetwork()).chainId,
    verifyingContract: await token.getAddress(),
  };
  const types = PERMIT_TYPES;
  const nonce = await token.nonces(owner.address);
  return Signature.from(
    await owner.signTypedData(domain, types, { owner: owner.address, spender, value, nonce, deadline }),
  );
}

type Authorization = { payer: string; token: string; salt: string; maxAmount: bigint; expiry: bigint };

/** Signs a DeliveryAuthorization with `signer` (normally the payer) for `channels`. */
async function authorize(channels: PaymentChannels, signer: Signer, a: Partial<Authorization> & { payer: string; token: string }) {
  const full: Authorization = { salt: hexlify(randomBytes(32)), maxAmount: 100n * USD, expiry: (await now()) + 86_400n, ...a };
  const signature = await signer.signTypedData(await domainOf(channels), DELIVERY_AUTHORIZATION_TYPES, full);
  return { authorization: full, signature };
}

async function now(): Promise<bigint> {
  return BigInt(await networkHelpers.time.latest());
}

describe("PaymentChannels", function () {
  describe("deployment", function () {
    it("grants the admin role and records the challenge period", async function () {
      const { channels, admin } = await networkHelpers.loadFixture(fixture);
      expect(await channels.hasRole(await channels.DEFAULT_ADMIN_ROLE(), admin.address)).to.equal(true);
      expect(await channels.challengePeriod()).to.equal(CHALLENGE_PERIOD);
      expect(await channels.MAX_CHALLENGE_PERIOD()).to.equal(30n * 24n * 3600n);
      expect(await channels.BATCH_ENTRY_SIZE()).to.equal(BigInt(ENTRY_SIZE));
      const tx = channels.deploymentTransaction();
      await expect(tx).to.emit(channels, "ChallengePeriodUpdated").withArgs(0, CHALLENGE_PERIOD);
    });

    it("rejects a zero admin and a challenge period of zero or above 30 days", async function () {
      const { channels, admin } = await networkHelpers.loadFixture(fixture);
      const deploy = (args: unknown[]) => ethers.deployContract("PaymentChannels", args);
      await expect(deploy([NATIVE, 3600])).to.be.revertedWithCustomError(channels, "PaymentChannelsZeroAddress");
      await expect(deploy([admin.address, 0]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsInvalidChallengePeriod")
        .withArgs(0);
      await expect(deploy([admin.address, 30 * 24 * 3600 + 1]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsInvalidChallengePeriod")
        .withArgs(30 * 24 * 3600 + 1);
    });

    it("exposes the EIP-712 domain, type hash and digest the off-chain verifier uses", async function () {
      const { channels, payer, payee, tokenAddress } = await networkHelpers.loadFixture(fixture);
      const domain = await domainOf(channels);
      expect(await channels.domainSeparator()).to.equal(TypedDataEncoder.hashDomain(domain));
      expect(await channels.VOUCHER_TYPEHASH()).to.equal(
        ethers.id("Voucher(address payer,address payee,address token,uint256 cumulativeAmount)"),
      );
      const voucher = { payer: payer.address, payee: payee.address, token: tokenAddress, cumulativeAmount: 123n };
      expect(await channels.hashVoucher(voucher)).to.equal(TypedDataEncoder.hash(domain, VOUCHER_TYPES, voucher));
      const [, name, version, chainId, verifyingContract] = await channels.eip712Domain();
      expect([name, version, chainId, verifyingContract]).to.deep.equal([
        "AICP PaymentChannels",
        "1",
        domain.chainId,
        domain.verifyingContract,
      ]);
    });

    it("reports ERC-165 support for IPaymentChannels and IAccessControl", async function () {
      const { channels } = await networkHelpers.loadFixture(fixture);
      await expectErc165(channels, IPaymentChannels__factory.createInterface(), [IACCESS_CONTROL_ID]);
    });
  });

  describe("deposit", function () {
    it("takes the native currency and reports the new balance", async function () {
      const { channels, payer } = await networkHelpers.loadFixture(fixture);
      const amount = ethers.parseEther("1");
      const tx = channels.connect(payer).deposit(NATIVE, amount, { value: amount });
      await expect(tx).to.emit(channels, "Deposited").withArgs(payer.address, NATIVE, amount, ethers.parseEther("11"));
      await expect(tx).to.changeEtherBalances(ethers, [payer, channels], [-amount, amount]);
      const [balance, requestedAt, availableAt] = await channels.depositOf(payer.address, NATIVE);
      expect([balance, requestedAt, availableAt]).to.deep.equal([ethers.parseEther("11"), 0n, 0n]);
    });

    it("pulls an approved ERC-20", async function () {
      const { channels, token, tokenAddress, payer } = await networkHelpers.loadFixture(fixture);
      const tx = channels.connect(payer).deposit(tokenAddress, 5n * USD);
      await expect(tx)
        .to.emit(channels, "Deposited")
        .withArgs(payer.address, tokenAddress, 5n * USD, 1_005n * USD);
      await expect(tx).to.changeTokenBalances(ethers, token, [payer, channels], [-5n * USD, 5n * USD]);
    });

    it("rejects a zero amount and a value that does not match", async function () {
      const { channels, tokenAddress, payer } = await networkHelpers.loadFixture(fixture);
      await expect(channels.connect(payer).deposit(NATIVE, 0)).to.be.revertedWithCustomError(
        channels,
        "PaymentChannelsZeroAmount",
      );
      await expect(channels.connect(payer).deposit(NATIVE, 10, { value: 9 }))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsMsgValueMismatch")
        .withArgs(10, 9);
      await expect(channels.connect(payer).deposit(tokenAddress, 10, { value: 1 }))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsMsgValueMismatch")
        .withArgs(0, 1);
    });

    it("cancels a pending withdrawal request: topping up keeps the channel open", async function () {
      const { channels, tokenAddress, payer } = await networkHelpers.loadFixture(fixture);
      await channels.connect(payer).requestWithdrawal(tokenAddress);
      const tx = channels.connect(payer).deposit(tokenAddress, USD);
      await expect(tx).to.emit(channels, "WithdrawalCancelled").withArgs(payer.address, tokenAddress);
      await expect(tx)
        .to.emit(channels, "Deposited")
        .withArgs(payer.address, tokenAddress, USD, 1_001n * USD);
      const [, requestedAt, availableAt] = await channels.depositOf(payer.address, tokenAddress);
      expect([requestedAt, availableAt]).to.deep.equal([0n, 0n]);
      await expect(channels.connect(payer).withdrawDeposit(tokenAddress)).to.be.revertedWithCustomError(
        channels,
        "PaymentChannelsNoWithdrawalRequest",
      );
    });
  });

  describe("depositWithPermit", function () {
    it("deposits with a permit instead of an approval", async function () {
      const { channels, token, tokenAddress, stranger } = await networkHelpers.loadFixture(fixture);
      await token.mint(stranger.address, 50n * USD);
      const deadline = (await now()) + 3600n;
      const sig = await signPermit(token, stranger, await channels.getAddress(), 50n * USD, deadline);
      const tx = channels.connect(stranger).depositWithPermit(tokenAddress, 50n * USD, deadline, sig.v, sig.r, sig.s);
      await expect(tx)
        .to.emit(channels, "Deposited")
        .withArgs(stranger.address, tokenAddress, 50n * USD, 50n * USD);
      await expect(tx).to.changeTokenBalances(ethers, token, [stranger, channels], [-50n * USD, 50n * USD]);
    });

    it("still deposits when someone front-ran the permit", async function () {
      const { channels, token, tokenAddress, stranger, settler } = await networkHelpers.loadFixture(fixture);
      await token.mint(stranger.address, 50n * USD);
      const deadline = (await now()) + 3600n;
      const spender = await channels.getAddress();
      const sig = await signPermit(token, stranger, spender, 50n * USD, deadline);
      await token.connect(settler).permit(stranger.address, spender, 50n * USD, deadline, sig.v, sig.r, sig.s);
      await expect(channels.connect(stranger).depositWithPermit(tokenAddress, 50n * USD, deadline, sig.v, sig.r, sig.s))
        .to.emit(channels, "Deposited")
        .withArgs(stranger.address, tokenAddress, 50n * USD, 50n * USD);
    });

    it("fails with a bad permit and no allowance, for zero, and for the native currency", async function () {
      const { channels, token, tokenAddress, stranger } = await networkHelpers.loadFixture(fixture);
      await token.mint(stranger.address, 50n * USD);
      const deadline = (await now()) + 3600n;
      // Signed for 1 tUSD, used for 50: the permit reverts and no allowance exists.
      const sig = await signPermit(token, stranger, await channels.getAddress(), USD, deadline);
      await expect(channels.connect(stranger).depositWithPermit(tokenAddress, 50n * USD, deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsPermitFailed")
        .withArgs(tokenAddress, 0, 50n * USD);
      await expect(
        channels.connect(stranger).depositWithPermit(tokenAddress, 0, deadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(channels, "PaymentChannelsZeroAmount");
      await expect(
        channels.connect(stranger).depositWithPermit(NATIVE, 1, deadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(channels, "PaymentChannelsPermitForNativeToken");
    });
  });

  describe("settleBatch", function () {
    it("settles the good entries of a mixed batch and skips the bad ones with their reason", async function () {
      const { channels, tokenAddress, settler, payer, payer2, payee, payee2, stranger } =
        await networkHelpers.loadFixture(fixture);
      // An earlier settlement so that a stale voucher exists.
      await settle(channels, [
        await sign(channels, payer, {
          payer: payer.address,
          payee: payee2.address,
          token: tokenAddress,
          cumulativeAmount: 7n * USD,
        }),
      ]);

      const good1 = await sign(channels, payer, {
        payer: payer.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: 10n * USD,
      });
      const good2 = await sign(channels, payer, {
        payer: payer.address,
        payee: payee2.address,
        token: NATIVE,
        cumulativeAmount: ethers.parseEther("0.5"),
      });
      const good3 = await sign(channels, payer2, {
        payer: payer2.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: 30n * USD,
      });
      // Signed by a stranger in the payer's name.
      const forged = await sign(channels, stranger, {
        payer: payer.address,
        payee: stranger.address,
        token: tokenAddress,
        cumulativeAmount: 500n * USD,
      });
      // The pair (payer, payee2, tUSD) already settled 7 tUSD.
      const stale = await sign(channels, payer, {
        payer: payer.address,
        payee: payee2.address,
        token: tokenAddress,
        cumulativeAmount: 7n * USD,
      });
      // payer2 has 100 tUSD and 30 are taken by good3 first.
      const overdrawn = await sign(channels, payer2, {
        payer: payer2.address,
        payee: payee2.address,
        token: tokenAddress,
        cumulativeAmount: 71n * USD,
      });
      const batch = [good1, forged, good2, stale, good3, overdrawn];
      const { addresses, entries } = encodeBatch(batch);
      expect(await channels.connect(settler).settleBatch.staticCall(addresses, entries)).to.equal(3n);

      const tx = channels.connect(settler).settleBatch(addresses, entries);
      await expect(tx)
        .to.emit(channels, "VoucherSettled")
        .withArgs(payer.address, payee.address, tokenAddress, 10n * USD, 10n * USD);
      await expect(tx)
        .to.emit(channels, "VoucherSettled")
        .withArgs(payer.address, payee2.address, NATIVE, ethers.parseEther("0.5"), ethers.parseEther("0.5"));
      await expect(tx)
        .to.emit(channels, "VoucherSettled")
        .withArgs(payer2.address, payee.address, tokenAddress, 30n * USD, 30n * USD);
      await expect(tx)
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, stranger.address, tokenAddress, 500n * USD, Skip.BadSignature);
      await expect(tx)
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, payee2.address, tokenAddress, 7n * USD, Skip.Stale);
      await expect(tx)
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer2.address, payee2.address, tokenAddress, 71n * USD, Skip.Overdrawn);

      expect((await channels.depositOf(payer.address, tokenAddress))[0]).to.equal(1_000n * USD - 7n * USD - 10n * USD);
      expect((await channels.depositOf(payer.address, NATIVE))[0]).to.equal(ethers.parseEther("9.5"));
      expect((await channels.depositOf(payer2.address, tokenAddress))[0]).to.equal(70n * USD);
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(40n * USD);
      expect(await channels.claimableOf(payee2.address, tokenAddress)).to.equal(7n * USD);
      expect(await channels.claimableOf(payee2.address, NATIVE)).to.equal(ethers.parseEther("0.5"));
      expect(await channels.claimableOf(stranger.address, tokenAddress)).to.equal(0n);
      expect(await channels.settledOf(payer.address, payee.address, tokenAddress)).to.equal(10n * USD);
      expect(await channels.settledOf(payer.address, payee2.address, NATIVE)).to.equal(ethers.parseEther("0.5"));
      expect(await channels.settledOf(payer2.address, payee.address, tokenAddress)).to.equal(30n * USD);
      expect(await channels.settledOf(payer2.address, payee2.address, tokenAddress)).to.equal(0n);
      expect(await channels.settledOf(payer.address, stranger.address, tokenAddress)).to.equal(0n);
    });

    it("is idempotent: the same voucher again is Stale and moves nothing", async function () {
      const { channels, tokenAddress, payer, payee } = await networkHelpers.loadFixture(fixture);
      const voucher = await sign(channels, payer, {
        payer: payer.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: 10n * USD,
      });
      await settle(channels, [voucher]);
      const tx = settle(channels, [voucher]);
      await expect(tx)
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, payee.address, tokenAddress, 10n * USD, Skip.Stale);
      await expect(tx).not.to.emit(channels, "VoucherSettled");
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(10n * USD);
      expect((await channels.depositOf(payer.address, tokenAddress))[0]).to.equal(990n * USD);
    });

    it("pays only the increase of a later voucher, and an older one is Stale", async function () {
      const { channels, tokenAddress, payer, payee } = await networkHelpers.loadFixture(fixture);
      const v = (cumulativeAmount: bigint) =>
        sign(channels, payer, { payer: payer.address, payee: payee.address, token: tokenAddress, cumulativeAmount });
      const v10 = await v(10n * USD);
      const v25 = await v(25n * USD);
      await settle(channels, [v10]);
      await expect(settle(channels, [v25]))
        .to.emit(channels, "VoucherSettled")
        .withArgs(payer.address, payee.address, tokenAddress, 25n * USD, 15n * USD);
      await expect(settle(channels, [v10]))
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, payee.address, tokenAddress, 10n * USD, Skip.Stale);
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(25n * USD);
    });

    it("processes entries in order: two vouchers of a pair in one batch settle as the higher one", async function () {
      const { channels, tokenAddress, payer, payee } = await networkHelpers.loadFixture(fixture);
      const v = (cumulativeAmount: bigint) =>
        sign(channels, payer, { payer: payer.address, payee: payee.address, token: tokenAddress, cumulativeAmount });
      const [v10, v25] = [await v(10n * USD), await v(25n * USD)];
      const ascending = settle(channels, [v10, v25]);
      await expect(ascending)
        .to.emit(channels, "VoucherSettled")
        .withArgs(payer.address, payee.address, tokenAddress, 10n * USD, 10n * USD);
      await expect(ascending)
        .to.emit(channels, "VoucherSettled")
        .withArgs(payer.address, payee.address, tokenAddress, 25n * USD, 15n * USD);
      const v40 = await v(40n * USD);
      const v30 = await v(30n * USD);
      const descending = settle(channels, [v40, v30]);
      await expect(descending)
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, payee.address, tokenAddress, 30n * USD, Skip.Stale);
      expect(await channels.settledOf(payer.address, payee.address, tokenAddress)).to.equal(40n * USD);
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(40n * USD);
      expect((await channels.depositOf(payer.address, tokenAddress))[0]).to.equal(960n * USD);
    });

    it("never pays a payer above its deposit and never partially", async function () {
      const { channels, tokenAddress, payer2, payee, payee2 } = await networkHelpers.loadFixture(fixture);
      // payer2 has 100 tUSD: 60 + 60 cannot both settle, the second is skipped whole.
      const a = await sign(channels, payer2, {
        payer: payer2.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: 60n * USD,
      });
      const b = await sign(channels, payer2, {
        payer: payer2.address,
        payee: payee2.address,
        token: tokenAddress,
        cumulativeAmount: 60n * USD,
      });
      const exact = await sign(channels, payer2, {
        payer: payer2.address,
        payee: payee2.address,
        token: tokenAddress,
        cumulativeAmount: 40n * USD,
      });
      const tx = settle(channels, [a, b, exact]);
      await expect(tx)
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer2.address, payee2.address, tokenAddress, 60n * USD, Skip.Overdrawn);
      await expect(tx)
        .to.emit(channels, "VoucherSettled")
        .withArgs(payer2.address, payee2.address, tokenAddress, 40n * USD, 40n * USD);
      expect((await channels.depositOf(payer2.address, tokenAddress))[0]).to.equal(0n);
      expect(await channels.claimableOf(payee2.address, tokenAddress)).to.equal(40n * USD);
    });

    it("carries balances correctly across interleaved payers, payees and tokens", async function () {
      const { channels, tokenAddress, payer, payer2, payee, payee2 } = await networkHelpers.loadFixture(fixture);
      const e = ethers.parseEther;
      const specs: [HardhatEthersSigner, HardhatEthersSigner, string, bigint][] = [
        [payer, payee, tokenAddress, 1n * USD],
        [payer, payee, NATIVE, e("1")],
        [payer2, payee, tokenAddress, 2n * USD],
        [payer, payee2, tokenAddress, 3n * USD],
        [payer2, payee2, tokenAddress, 4n * USD],
        [payer, payee, tokenAddress, 5n * USD],
        [payer, payee2, NATIVE, e("2")],
        [payer2, payee, tokenAddress, 6n * USD],
        [payer2, payee, tokenAddress, 106n * USD], // increase 100 > 94 left: Overdrawn
      ];
      const vouchers = [];
      for (const [p, q, t, amount] of specs) {
        vouchers.push(
          await sign(channels, p, { payer: p.address, payee: q.address, token: t, cumulativeAmount: amount }),
        );
      }
      expect(
        await channels.settleBatch.staticCall(...(Object.values(encodeBatch(vouchers)) as [string[], string])),
      ).to.equal(8n);
      await settle(channels, vouchers);
      expect((await channels.depositOf(payer.address, tokenAddress))[0]).to.equal(1_000n * USD - 5n * USD - 3n * USD);
      expect((await channels.depositOf(payer.address, NATIVE))[0]).to.equal(e("7"));
      expect((await channels.depositOf(payer2.address, tokenAddress))[0]).to.equal(100n * USD - 6n * USD - 4n * USD);
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(11n * USD);
      expect(await channels.claimableOf(payee.address, NATIVE)).to.equal(e("1"));
      expect(await channels.claimableOf(payee2.address, tokenAddress)).to.equal(7n * USD);
      expect(await channels.claimableOf(payee2.address, NATIVE)).to.equal(e("2"));
    });

    it("skips malformed, malleable and mismatched signatures as BadSignature without reverting", async function () {
      const { channels, tokenAddress, payer, payee } = await networkHelpers.loadFixture(fixture);
      const voucher = { payer: payer.address, payee: payee.address, token: tokenAddress, cumulativeAmount: 10n * USD };
      const good = await sign(channels, payer, voucher);
      const sig = Signature.from(good.signature);
      const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      // The same signature with s' = n - s and the other v: valid for ecrecover, rejected as malleable.
      const highS = concat([sig.r, ethers.toBeHex(n - BigInt(sig.s), 32), sig.v === 27 ? "0x1c" : "0x1b"]);
      const wrongV = concat([sig.r, sig.s, "0x00"]);
      const zeros = hexlify(new Uint8Array(65));
      // A signature for a different amount than the entry carries.
      const other = await sign(channels, payer, { ...voucher, cumulativeAmount: 11n * USD });
      // An entry in the name of address(0) with an invalid signature: recovers to address(0).
      const zeroPayer = { ...voucher, payer: NATIVE, signature: zeros };
      const batch = [
        { ...voucher, signature: highS },
        { ...voucher, signature: wrongV },
        { ...voucher, signature: zeros },
        { ...voucher, signature: other.signature },
        zeroPayer,
      ];
      const tx = settle(channels, batch);
      await expect(tx)
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, payee.address, tokenAddress, 10n * USD, Skip.BadSignature);
      await expect(tx)
        .to.emit(channels, "VoucherSkipped")
        .withArgs(NATIVE, payee.address, tokenAddress, 10n * USD, Skip.BadSignature);
      await expect(tx).not.to.emit(channels, "VoucherSettled");
      const receipt = await (await tx).wait();
      expect(receipt?.logs.length).to.equal(batch.length);
      // The untouched good signature still settles.
      await expect(settle(channels, [good])).to.emit(channels, "VoucherSettled");
    });

    it("does not replay a voucher signed for another deployment", async function () {
      const { channels, admin, tokenAddress, payer, payee } = await networkHelpers.loadFixture(fixture);
      const other = await ethers.deployContract("PaymentChannels", [admin.address, CHALLENGE_PERIOD]);
      await other.connect(payer).deposit(NATIVE, ethers.parseEther("1"), { value: ethers.parseEther("1") });
      const forOther = await sign(other, payer, {
        payer: payer.address,
        payee: payee.address,
        token: NATIVE,
        cumulativeAmount: ethers.parseEther("1"),
      });
      await expect(settle(channels, [forOther]))
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, payee.address, NATIVE, ethers.parseEther("1"), Skip.BadSignature);
      await expect(settle(other, [forOther])).to.emit(other, "VoucherSettled");
      // ...and a voucher signed with another chain id in the domain is skipped too.
      const wrongChain = await payer.signTypedData(await domainOf(channels, 1n), VOUCHER_TYPES, {
        payer: payer.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: USD,
      });
      await expect(
        settle(channels, [
          {
            payer: payer.address,
            payee: payee.address,
            token: tokenAddress,
            cumulativeAmount: USD,
            signature: wrongChain,
          },
        ]),
      )
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, payee.address, tokenAddress, USD, Skip.BadSignature);
    });

    it("may be called by anyone, and an empty batch settles nothing", async function () {
      const { channels, tokenAddress, payer, payee, stranger } = await networkHelpers.loadFixture(fixture);
      const voucher = await sign(channels, payer, {
        payer: payer.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: USD,
      });
      await expect(settle(channels, [voucher], stranger)).to.emit(channels, "VoucherSettled");
      expect(await channels.settleBatch.staticCall([], "0x")).to.equal(0n);
      await expect(channels.settleBatch([], "0x")).not.to.emit(channels, "VoucherSettled");
    });

    it("reverts on a malformed batch: a partial entry or an index outside the table", async function () {
      const { channels, tokenAddress, payer, payee } = await networkHelpers.loadFixture(fixture);
      const voucher = await sign(channels, payer, {
        payer: payer.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: USD,
      });
      const { addresses, entries } = encodeBatch([voucher, voucher]);
      const truncated = ethers.dataSlice(entries, 0, 2 * ENTRY_SIZE - 1);
      await expect(channels.settleBatch(addresses, truncated))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsMalformedBatch")
        .withArgs(2 * ENTRY_SIZE - 1);
      // Second entry: payee index 3 with a 3-address table.
      const bad = concat([
        ethers.dataSlice(entries, 0, ENTRY_SIZE),
        "0x00000003",
        ethers.dataSlice(entries, ENTRY_SIZE + 4),
      ]);
      await expect(channels.settleBatch(addresses, bad))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsBatchIndexOutOfRange")
        .withArgs(1, 3);
      const badToken = concat(["0x000000010005", ethers.dataSlice(entries, 6, ENTRY_SIZE)]);
      await expect(channels.settleBatch(addresses, badToken))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsBatchIndexOutOfRange")
        .withArgs(0, 5);
      const badPayer = concat(["0xffff", ethers.dataSlice(entries, 2, ENTRY_SIZE)]);
      await expect(channels.settleBatch(addresses, badPayer))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsBatchIndexOutOfRange")
        .withArgs(0, 0xffff);
    });
  });

  describe("claimDelivered", function () {
    async function claimFixture() {
      const f = await fixture();
      await f.channels.connect(f.admin).grantRole(await f.channels.COORDINATOR_ROLE(), f.settler.address);
      return f;
    }

    it("pays delivered work under the payer's authorization and raises the pair's settled amount", async function () {
      const { channels, tokenAddress, payer, payee, payee2, settler } = await networkHelpers.loadFixture(claimFixture);
      const { authorization, signature } = await authorize(channels, payer, { payer: payer.address, token: tokenAddress, maxAmount: 100n * USD });
      const digest = await channels.hashDeliveryAuthorization(authorization);
      const tx = channels.connect(settler).claimDelivered(authorization, signature, [
        { payee: payee.address, amount: 30n * USD, settledBefore: 0n },
        { payee: payee.address, amount: 10n * USD, settledBefore: 30n * USD },
        { payee: payee2.address, amount: 5n * USD, settledBefore: 0n },
      ]);
      await expect(tx).to.emit(channels, "DeliveryClaimed").withArgs(payer.address, payee.address, digest, tokenAddress, 30n * USD, 30n * USD);
      await expect(tx).to.emit(channels, "DeliveryClaimed").withArgs(payer.address, payee.address, digest, tokenAddress, 10n * USD, 40n * USD);
      await expect(tx).to.emit(channels, "DeliveryClaimed").withArgs(payer.address, payee2.address, digest, tokenAddress, 5n * USD, 5n * USD);
      expect(await channels.claimedOf(digest)).to.equal(45n * USD);
      expect((await channels.depositOf(payer.address, tokenAddress))[0]).to.equal(955n * USD);
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(40n * USD);
      expect(await channels.settledOf(payer.address, payee.address, tokenAddress)).to.equal(40n * USD);
      expect(await channels.settledOf(payer.address, payee2.address, tokenAddress)).to.equal(5n * USD);
    });

    it("never pays twice with vouchers: a voucher covering claimed work is Stale, a later one pays only its increase", async function () {
      const { channels, tokenAddress, payer, payee, settler } = await networkHelpers.loadFixture(claimFixture);
      const { authorization, signature } = await authorize(channels, payer, { payer: payer.address, token: tokenAddress });
      await channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee.address, amount: 20n * USD, settledBefore: 0n }]);
      const covering = await sign(channels, payer, { payer: payer.address, payee: payee.address, token: tokenAddress, cumulativeAmount: 20n * USD });
      await expect(settle(channels, [covering], settler))
        .to.emit(channels, "VoucherSkipped")
        .withArgs(payer.address, payee.address, tokenAddress, 20n * USD, Skip.Stale);
      const later = await sign(channels, payer, { payer: payer.address, payee: payee.address, token: tokenAddress, cumulativeAmount: 27n * USD });
      await expect(settle(channels, [later], settler))
        .to.emit(channels, "VoucherSettled")
        .withArgs(payer.address, payee.address, tokenAddress, 27n * USD, 7n * USD);
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(27n * USD);
    });

    it("pays delivered work while a withdrawal is pending; the payer then gets only the rest", async function () {
      const { channels, token, tokenAddress, payer, payee, settler } = await networkHelpers.loadFixture(claimFixture);
      const { authorization, signature } = await authorize(channels, payer, { payer: payer.address, token: tokenAddress, expiry: (await now()) + 30n * 86_400n });
      await channels.connect(payer).requestWithdrawal(tokenAddress);
      await channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee.address, amount: 60n * USD, settledBefore: 0n }]);
      await networkHelpers.time.increase(CHALLENGE_PERIOD);
      await expect(channels.connect(payer).withdrawDeposit(tokenAddress)).to.changeTokenBalances(ethers, token, [payer, channels], [940n * USD, -940n * USD]);
      await expect(channels.connect(payee).withdraw(tokenAddress)).to.changeTokenBalances(ethers, token, [payee, channels], [60n * USD, -60n * USD]);
    });

    it("accepts a contract wallet's ERC-1271 signature", async function () {
      const { channels, token, tokenAddress, payer, payee, settler } = await networkHelpers.loadFixture(claimFixture);
      const wallet = await ethers.deployContract("TestContractWallet", [payer.address]);
      const walletAddress = await wallet.getAddress();
      await token.mint(settler.address, 10n * USD);
      await token.connect(settler).approve(channels, 10n * USD);
      // The wallet deposits through an impersonated call (it has no code to call out).
      await networkHelpers.impersonateAccount(walletAddress);
      await networkHelpers.setBalance(walletAddress, ethers.parseEther("1"));
      const asWallet = await ethers.getSigner(walletAddress);
      await token.connect(settler).transfer(walletAddress, 10n * USD);
      await token.connect(asWallet).approve(channels, 10n * USD);
      await channels.connect(asWallet).deposit(tokenAddress, 10n * USD);
      const { authorization, signature } = await authorize(channels, payer, { payer: walletAddress, token: tokenAddress, maxAmount: 10n * USD });
      await expect(channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee.address, amount: 4n * USD, settledBefore: 0n }]))
        .to.emit(channels, "DeliveryClaimed");
      const forged = await authorize(channels, payee, { payer: walletAddress, token: tokenAddress, maxAmount: 10n * USD });
      await expect(channels.connect(settler).claimDelivered(forged.authorization, forged.signature, [{ payee: payee.address, amount: 1n, settledBefore: 4n * USD }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsInvalidAuthorization")
        .withArgs(walletAddress);
    });

    it("is for the coordinator role only", async function () {
      const { channels, tokenAddress, payer, payee, stranger } = await networkHelpers.loadFixture(claimFixture);
      const { authorization, signature } = await authorize(channels, payer, { payer: payer.address, token: tokenAddress });
      await expect(channels.connect(payee).claimDelivered(authorization, signature, [{ payee: payee.address, amount: 1n, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "AccessControlUnauthorizedAccount")
        .withArgs(payee.address, await channels.COORDINATOR_ROLE());
      await expect(channels.connect(stranger).claimDelivered(authorization, signature, [{ payee: stranger.address, amount: 1n, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "AccessControlUnauthorizedAccount");
    });

    it("refuses an expired authorization, a forged or foreign-domain signature, and empty or zero claims", async function () {
      const { channels, tokenAddress, payer, payee, settler, stranger } = await networkHelpers.loadFixture(claimFixture);
      const expired = await authorize(channels, payer, { payer: payer.address, token: tokenAddress, expiry: (await now()) + 5n });
      await networkHelpers.time.increase(10);
      await expect(channels.connect(settler).claimDelivered(expired.authorization, expired.signature, [{ payee: payee.address, amount: 1n, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsAuthorizationExpired")
        .withArgs(expired.authorization.expiry);
      const forged = await authorize(channels, stranger, { payer: payer.address, token: tokenAddress });
      await expect(channels.connect(settler).claimDelivered(forged.authorization, forged.signature, [{ payee: payee.address, amount: 1n, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsInvalidAuthorization")
        .withArgs(payer.address);
      const good = await authorize(channels, payer, { payer: payer.address, token: tokenAddress });
      const otherChain = await payer.signTypedData(await domainOf(channels, 1n), DELIVERY_AUTHORIZATION_TYPES, good.authorization);
      await expect(channels.connect(settler).claimDelivered(good.authorization, otherChain, [{ payee: payee.address, amount: 1n, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsInvalidAuthorization");
      // Changing any field after signing breaks the signature (here: a higher cap).
      await expect(channels.connect(settler).claimDelivered({ ...good.authorization, maxAmount: good.authorization.maxAmount + 1n }, good.signature, [{ payee: payee.address, amount: 1n, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsInvalidAuthorization");
      await expect(channels.connect(settler).claimDelivered(good.authorization, good.signature, [])).to.be.revertedWithCustomError(channels, "PaymentChannelsZeroAmount");
      await expect(channels.connect(settler).claimDelivered(good.authorization, good.signature, [{ payee: payee.address, amount: 0n, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsZeroAmount");
    });

    it("refuses a claim when the pair's settled amount moved (an outstanding voucher settles first)", async function () {
      const { channels, tokenAddress, payer, payee, settler } = await networkHelpers.loadFixture(claimFixture);
      const { authorization, signature } = await authorize(channels, payer, { payer: payer.address, token: tokenAddress });
      await settle(channels, [await sign(channels, payer, { payer: payer.address, payee: payee.address, token: tokenAddress, cumulativeAmount: 3n * USD })], settler);
      await expect(channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee.address, amount: USD, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsSettledMismatch")
        .withArgs(payee.address, 0n, 3n * USD);
      await expect(channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee.address, amount: USD, settledBefore: 3n * USD }]))
        .to.emit(channels, "DeliveryClaimed")
        .withArgs(payer.address, payee.address, await channels.hashDeliveryAuthorization(authorization), tokenAddress, USD, 4n * USD);
    });

    it("never claims past the authorization's cap, over several calls", async function () {
      const { channels, tokenAddress, payer, payee, payee2, settler } = await networkHelpers.loadFixture(claimFixture);
      const { authorization, signature } = await authorize(channels, payer, { payer: payer.address, token: tokenAddress, maxAmount: 10n * USD });
      await channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee.address, amount: 8n * USD, settledBefore: 0n }]);
      await expect(channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee2.address, amount: 3n * USD, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsAuthorizationExceeded")
        .withArgs(10n * USD, 11n * USD);
      await channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee2.address, amount: 2n * USD, settledBefore: 0n }]);
      expect(await channels.claimedOf(await channels.hashDeliveryAuthorization(authorization))).to.equal(10n * USD);
    });

    it("never takes more than the deposit", async function () {
      const { channels, tokenAddress, payer2, payee, settler } = await networkHelpers.loadFixture(claimFixture);
      const { authorization, signature } = await authorize(channels, payer2, { payer: payer2.address, token: tokenAddress, maxAmount: 1_000n * USD });
      await expect(channels.connect(settler).claimDelivered(authorization, signature, [{ payee: payee.address, amount: 101n * USD, settledBefore: 0n }]))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsDepositInsufficient")
        .withArgs(100n * USD, 101n * USD);
      expect((await channels.depositOf(payer2.address, tokenAddress))[0]).to.equal(100n * USD);
    });
  });

  describe("withdrawal of a deposit", function () {
    it("waits out the challenge period, during which vouchers still settle (watchtower)", async function () {
      const { channels, token, tokenAddress, payer, payee, settler } = await networkHelpers.loadFixture(fixture);
      const voucher = await sign(channels, payer, {
        payer: payer.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: 250n * USD,
      });
      const request = channels.connect(payer).requestWithdrawal(tokenAddress);
      const requestedAt = (await now()) + 1n;
      await expect(request)
        .to.emit(channels, "WithdrawalRequested")
        .withArgs(payer.address, tokenAddress, 1_000n * USD, requestedAt + CHALLENGE_PERIOD);
      expect(await channels.depositOf(payer.address, tokenAddress)).to.deep.equal([
        1_000n * USD,
        requestedAt,
        requestedAt + CHALLENGE_PERIOD,
      ]);
      await expect(channels.connect(payer).withdrawDeposit(tokenAddress))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsChallengePeriodActive")
        .withArgs(requestedAt + CHALLENGE_PERIOD);

      // The coordinator settles the outstanding voucher before the period ends.
      await networkHelpers.time.increaseTo(requestedAt + CHALLENGE_PERIOD - 10n);
      await expect(settle(channels, [voucher], settler)).to.emit(channels, "VoucherSettled");

      await networkHelpers.time.increaseTo(requestedAt + CHALLENGE_PERIOD);
      expect(await channels.connect(payer).withdrawDeposit.staticCall(tokenAddress)).to.equal(750n * USD);
      const tx = channels.connect(payer).withdrawDeposit(tokenAddress);
      await expect(tx)
        .to.emit(channels, "DepositWithdrawn")
        .withArgs(payer.address, tokenAddress, 750n * USD);
      await expect(tx).to.changeTokenBalances(ethers, token, [payer, channels], [750n * USD, -750n * USD]);
      expect(await channels.depositOf(payer.address, tokenAddress)).to.deep.equal([0n, 0n, 0n]);
      await expect(channels.connect(payer).withdrawDeposit(tokenAddress)).to.be.revertedWithCustomError(
        channels,
        "PaymentChannelsNoWithdrawalRequest",
      );
      // The payee's share is untouched by the payer's withdrawal.
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(250n * USD);
    });

    it("pays the native currency back and snapshots the period at request time", async function () {
      const { channels, admin, payer } = await networkHelpers.loadFixture(fixture);
      await channels.connect(payer).requestWithdrawal(NATIVE);
      const [, , availableAt] = await channels.depositOf(payer.address, NATIVE);
      await channels.connect(admin).setChallengePeriod(30n * 24n * 3600n);
      expect((await channels.depositOf(payer.address, NATIVE))[2]).to.equal(availableAt);
      await networkHelpers.time.increaseTo(availableAt);
      const tx = channels.connect(payer).withdrawDeposit(NATIVE);
      await expect(tx).to.emit(channels, "DepositWithdrawn").withArgs(payer.address, NATIVE, ethers.parseEther("10"));
      await expect(tx).to.changeEtherBalances(
        ethers,
        [payer, channels],
        [ethers.parseEther("10"), -ethers.parseEther("10")],
      );
    });

    it("rejects requests on an empty deposit and duplicate requests", async function () {
      const { channels, tokenAddress, payer, stranger } = await networkHelpers.loadFixture(fixture);
      await expect(channels.connect(stranger).requestWithdrawal(tokenAddress)).to.be.revertedWithCustomError(
        channels,
        "PaymentChannelsNothingToWithdraw",
      );
      await channels.connect(payer).requestWithdrawal(tokenAddress);
      const [, , availableAt] = await channels.depositOf(payer.address, tokenAddress);
      await expect(channels.connect(payer).requestWithdrawal(tokenAddress))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsWithdrawalAlreadyRequested")
        .withArgs(availableAt);
    });

    it("has nothing to pay when vouchers used the whole deposit; the request can be cancelled", async function () {
      const { channels, tokenAddress, payer2, payee } = await networkHelpers.loadFixture(fixture);
      await channels.connect(payer2).requestWithdrawal(tokenAddress);
      const all = await sign(channels, payer2, {
        payer: payer2.address,
        payee: payee.address,
        token: tokenAddress,
        cumulativeAmount: 100n * USD,
      });
      await settle(channels, [all]);
      await networkHelpers.time.increase(CHALLENGE_PERIOD);
      await expect(channels.connect(payer2).withdrawDeposit(tokenAddress)).to.be.revertedWithCustomError(
        channels,
        "PaymentChannelsNothingToWithdraw",
      );
      await expect(channels.connect(payer2).cancelWithdrawal(tokenAddress))
        .to.emit(channels, "WithdrawalCancelled")
        .withArgs(payer2.address, tokenAddress);
      expect(await channels.depositOf(payer2.address, tokenAddress)).to.deep.equal([0n, 0n, 0n]);
      await expect(channels.connect(payer2).cancelWithdrawal(tokenAddress)).to.be.revertedWithCustomError(
        channels,
        "PaymentChannelsNoWithdrawalRequest",
      );
    });
  });

  describe("payee withdraw", function () {
    it("pays out the claimable balance in ERC-20 and native currency, once", async function () {
      const { channels, token, tokenAddress, payer, payee } = await networkHelpers.loadFixture(fixture);
      await settle(channels, [
        await sign(channels, payer, {
          payer: payer.address,
          payee: payee.address,
          token: tokenAddress,
          cumulativeAmount: 12n * USD,
        }),
        await sign(channels, payer, {
          payer: payer.address,
          payee: payee.address,
          token: NATIVE,
          cumulativeAmount: 3n,
        }),
      ]);
      expect(await channels.connect(payee).withdraw.staticCall(tokenAddress)).to.equal(12n * USD);
      const erc20 = channels.connect(payee).withdraw(tokenAddress);
      await expect(erc20)
        .to.emit(channels, "Withdrawn")
        .withArgs(payee.address, tokenAddress, 12n * USD);
      await expect(erc20).to.changeTokenBalances(ethers, token, [payee, channels], [12n * USD, -12n * USD]);
      const native = channels.connect(payee).withdraw(NATIVE);
      await expect(native).to.emit(channels, "Withdrawn").withArgs(payee.address, NATIVE, 3n);
      await expect(native).to.changeEtherBalances(ethers, [payee, channels], [3n, -3n]);
      expect(await channels.claimableOf(payee.address, tokenAddress)).to.equal(0n);
      await expect(channels.connect(payee).withdraw(tokenAddress)).to.be.revertedWithCustomError(
        channels,
        "PaymentChannelsNothingClaimable",
      );
    });
  });

  describe("administration", function () {
    it("lets only the admin change the challenge period, within bounds", async function () {
      const { channels, admin, stranger } = await networkHelpers.loadFixture(fixture);
      await expect(channels.connect(admin).setChallengePeriod(3600))
        .to.emit(channels, "ChallengePeriodUpdated")
        .withArgs(CHALLENGE_PERIOD, 3600);
      expect(await channels.challengePeriod()).to.equal(3600n);
      await expect(channels.connect(stranger).setChallengePeriod(60))
        .to.be.revertedWithCustomError(channels, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, await channels.DEFAULT_ADMIN_ROLE());
      await expect(channels.connect(admin).setChallengePeriod(0))
        .to.be.revertedWithCustomError(channels, "PaymentChannelsInvalidChallengePeriod")
        .withArgs(0);
    });
  });

  describe("gas", function () {
    /**
     * Settles `n` vouchers from `payerCount` payers to `payeeCount` payees (one token, sorted by
     * payer), every pair and payee already settled once, and returns the receipt's gas per voucher
     * (the 21 000 base and the calldata included).
     */
    async function gasPerVoucher(n: number, payerCount: number, payeeCount: number): Promise<number> {
      const { channels, token, tokenAddress } = await networkHelpers.loadFixture(fixture);
      const payers: Wallet[] = [];
      for (let i = 0; i < payerCount; i++) {
        const w = new Wallet(hexlify(randomBytes(32)), ethers.provider);
        await networkHelpers.setBalance(w.address, ethers.parseEther("1"));
        await token.mint(w.address, 1_000_000n * USD);
        await token.connect(w).approve(channels, ethers.MaxUint256);
        await channels.connect(w).deposit(tokenAddress, 1_000_000n * USD);
        payers.push(w);
      }
      const payees = Array.from({ length: payeeCount }, () => Wallet.createRandom().address);
      const vouchers = async (round: bigint) => {
        const out: SignedVoucher[] = [];
        for (let i = 0; i < n; i++) {
          const payer = payers[Math.floor((i * payerCount) / n)]!;
          const payee = payees[i % payeeCount]!;
          out.push(
            await sign(channels, payer, {
              payer: payer.address,
              payee,
              token: tokenAddress,
              cumulativeAmount: round * USD + BigInt(i),
            }),
          );
        }
        return out;
      };
      const first = await vouchers(1n);
      for (let i = 0; i < n; i += 100) await settle(channels, first.slice(i, i + 100));
      const receipt = await (await settle(channels, await vouchers(2n))).wait();
      return Number(receipt!.gasUsed) / n;
    }

    it("reports gas per voucher to existing payees", async function () {
      this.timeout(300_000);
      // Budgets: the gas measured when this was written plus ~3%. Coverage instrumentation
      // inflates the numbers, so only a loose bound applies under --coverage.
      const coverage = hre.globalOptions.coverage === true;
      const rows: [string, number][] = [];
      for (const [n, payers, payees, budget] of [
        [10, 1, 10, 23_000],
        [100, 10, 10, 15_800],
        [100, 1, 100, 20_000],
        [500, 10, 50, 15_100],
      ] as const) {
        const gas = await gasPerVoucher(n, payers, payees);
        rows.push([`${n} vouchers, ${payers} payer(s) x ${payees} payees`, Math.round(gas)]);
        expect(gas).to.be.lessThan(coverage ? 30_000 : budget);
      }
      console.log(rows.map(([k, v]) => `      ${k}: ${v} gas/voucher`).join("\n"));
    });
  });

  describe("pause", function () {
    it("is for the admin only, and refuses a second pause or an unpause when running", async function () {
      const { channels, admin, stranger } = await networkHelpers.loadFixture(fixture);
      await expect(channels.connect(stranger).pause()).to.be.revertedWithCustomError(channels, "AccessControlUnauthorizedAccount");
      await expect(channels.connect(admin).unpause()).to.be.revertedWithCustomError(channels, "ExpectedPause");
      await expect(channels.connect(admin).pause()).to.emit(channels, "Paused").withArgs(admin.address);
      await expect(channels.connect(admin).pause()).to.be.revertedWithCustomError(channels, "EnforcedPause");
      await expect(channels.connect(stranger).unpause()).to.be.revertedWithCustomError(channels, "AccessControlUnauthorizedAccount");
      await expect(channels.connect(admin).unpause()).to.emit(channels, "Unpaused").withArgs(admin.address);
    });

    it("stops deposits (native, ERC-20, permit), withdrawal requests and deposit withdrawals; cancelling a request goes on", async function () {
      const { channels, token, tokenAddress, admin, payer, payer2, stranger } = await networkHelpers.loadFixture(fixture);
      await channels.connect(payer2).requestWithdrawal(tokenAddress);
      await channels.connect(admin).pause();
      await expect(channels.connect(payer).deposit(tokenAddress, USD)).to.be.revertedWithCustomError(channels, "EnforcedPause");
      await expect(channels.connect(payer).deposit(NATIVE, 1n, { value: 1n })).to.be.revertedWithCustomError(channels, "EnforcedPause");
      const deadline = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
      const sig = await signPermit(token, stranger, await channels.getAddress(), USD, deadline);
      await expect(channels.connect(stranger).depositWithPermit(tokenAddress, USD, deadline, sig.v, sig.r, sig.s)).to.be.revertedWithCustomError(channels, "EnforcedPause");
      await expect(channels.connect(payer).requestWithdrawal(tokenAddress)).to.be.revertedWithCustomError(channels, "EnforcedPause");
      await networkHelpers.time.increase(CHALLENGE_PERIOD + 1n);
      await expect(channels.connect(payer2).withdrawDeposit(tokenAddress)).to.be.revertedWithCustomError(channels, "EnforcedPause");
      await expect(channels.connect(payer2).cancelWithdrawal(tokenAddress)).to.emit(channels, "WithdrawalCancelled");
      await channels.connect(admin).unpause();
      await expect(channels.connect(payer).deposit(tokenAddress, USD)).to.emit(channels, "Deposited");
    });
  });
});
