import { expect } from "chai";
import { network } from "hardhat";

const { ethers, networkHelpers } = await network.create();

async function fixture() {
  const [owner, anyone] = await ethers.getSigners();
  const token = await ethers.deployContract("AICPTestToken");
  return { token, owner: owner!, anyone: anyone! };
}

describe("AICPTestToken", () => {
  it("is a 6-decimal ERC-20 with an open faucet and an ERC-2612 domain", async () => {
    const { token, anyone } = await networkHelpers.loadFixture(fixture);
    expect(await token.decimals()).to.equal(6n);
    expect(await token.symbol()).to.equal("tUSD");
    await expect(token.connect(anyone).mint(anyone.address, 1_500_000n))
      .to.emit(token, "Transfer")
      .withArgs(ethers.ZeroAddress, anyone.address, 1_500_000n);
    expect(await token.balanceOf(anyone.address)).to.equal(1_500_000n);
    expect((await token.eip712Domain()).name).to.equal("AICP Test USD");
  });
});
