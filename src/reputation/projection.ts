import { secondsToDate, type ContractProjection } from "../settlement/projection.js";
import { reputationRepository as repo } from "./repository.js";

/**
 * ReputationAnchor's projection: `reputation_epochs.anchored_at/anchored_tx` from RootAnchored
 * events whose epoch and root match ours (the same rule as the sender's confirmation hook: the
 * first confirmation wins).
 */
export const anchorProjection: ContractProjection = {
  contract: "ReputationAnchor",
  bind(t) {
    return {
      async apply(ev) {
        if (ev.name !== "RootAnchored") return;
        await repo.markAnchored(t, {
          epoch: BigInt(String(ev.args["epoch"])),
          root: String(ev.args["root"]),
          txHash: ev.txHash,
          at: secondsToDate(ev.args["anchoredAt"]),
          chain: ev.chain,
        });
      },
    };
  },
  // Anchors are not cleared by a replay: epochs still unmarked are marked again.
  async reset() {},
  async beforeRollback(t, chain, fromBlock) {
    await repo.forgetAnchorsFrom(t, chain, fromBlock);
  },
};
