import type { AppContext } from "../context.js";
import { badRequest, conflict, forbidden, notFound, unavailable } from "../errors.js";
import type { Queryable } from "../db/index.js";
import { resolveRoute } from "../settlement/route.js";
import { chainOfAccount, tokenFitsChain, type SettlementChain } from "../protocol/settlement.js";
import type { TaskTxHooks } from "./hooks.js";
import type { Principal } from "../http/api.js";
import type { Outgoing } from "../events/bus.js";
import type { AuctionRule, CallForProposals, Urgency } from "../protocol/tasks.js";
import { taskRepository as repo, type TaskFilter, type TaskRow } from "./repository.js";
import { taskTransitions as transitions } from "./transitions.js";

export type TaskSpec = {
  capability: string;
  input: unknown;
  complexity: number;
  urgency: Urgency;
  /** Reserve price in token base units. */
  budget: bigint;
  /** ERC-20 token address, or the zero address for the native currency. */
  token: string;
  /** When the work must be delivered by. */
  deadline: Date;
  auction: { rule: AuctionRule; windowMs: number };
  route: "auto" | "channel" | "escrow";
  /** k identical tasks in one uniform-price lot (default 1). */
  quantity: number;
  /** Set when the task is a node of a workflow. */
  workflow?: { id: string; nodeKey: string };
};

export type TaskView = ReturnType<typeof toView>;

export type TaskService = {
  /**
   * Posts a task (or a lot of k identical tasks) and opens its sealed-bid auction: a call for
   * proposals goes to every eligible agent and the close is scheduled at now + windowMs.
   * @returns the tasks (one per lot unit)
   * @throws 400 DEADLINE_TOO_SOON | WINDOW_OUT_OF_RANGE | LOT_RULE | LOT_TOO_LARGE
   */
  post(buyer: string, spec: TaskSpec): Promise<TaskView[]>;
  /** Proposals are shown to the buyer (and operator) after the close, to an agent only its own. */
  get(id: string, viewer: Principal): Promise<TaskView>;
  /**
   * Refuses a route that cannot settle here (before anything is written, e.g. a workflow's).
   * @throws 503 SETTLEMENT_UNAVAILABLE for `channel` or `escrow` without a settlement chain
   */
  checkRoute(route: "auto" | "channel" | "escrow"): void;
  /**
   * Before a workflow is accepted: the budgets that will settle on the channel route (by
   * `route` and each budget, token base units), with the `reserve` overruns may draw on, fit in one of the buyer's delivery authorizations
   * that outlives `deadline` (nothing is committed yet; each node commits when it is posted).
   * @throws 402 DELIVERY_AUTHORIZATION_REQUIRED (details: token, required, expiresAfter)
   */
  checkChannelFunding(buyer: string, p: { token: string; route: "auto" | "channel" | "escrow"; budgets: bigint[]; reserve: bigint; deadline: Date }): Promise<void>;
  /** A page of tasks; the input only where {@link privacyOf} lets `viewer` see it, never the output. */
  list(f: TaskFilter, viewer: Principal): Promise<{ items: TaskView[]; total: number }>;
  /**
   * Cancels the task's auction (the whole lot) before the award.
   * @throws 403 NOT_BUYER, 409 NOT_CANCELLABLE
   */
  cancel(id: string, buyer: string): Promise<TaskView>;
  /**
   * The buyer accepts a delivered off-chain task (no settlement backend: nothing moves on a
   * chain); with a chain, POST /v1/tasks/:id/accept is the escrow route's (src/escrow).
   * @throws 404 TASK_NOT_FOUND, 403 NOT_BUYER, 409 NOT_DELIVERED | PAY_WITH_VOUCHER, 503 ESCROW_UNAVAILABLE
   */
  acceptOffchain(id: string, buyer: string): Promise<{ taskId: string; status: string; call: null }>;
};

/**
 * What a viewer may see of a task's private fields (issue: privacy of inputs and outputs): the
 * operator, the buyer and the assigned agent see the input; agents invited to bid see the input
 * (it is in their call for proposals); an arbitrator of the task's dispute sees input and output.
 * Everyone else gets the public fields only. The output is further held back on the channel
 * route until a voucher pays for it (the buyer sees the result hash meanwhile).
 */
export function privacyOf(t: TaskRow, viewer: Principal): { input: boolean; output: boolean } {
  const me = viewer.address;
  const buyer = me !== undefined && me === t.buyer;
  const agent = me !== undefined && me === t.agent;
  const arbitrator = t.viewer_arbitrates === true;
  const held = t.settlement === "channel" && t.status === "delivered";
  return {
    input: viewer.operator || buyer || agent || arbitrator || t.viewer_invited === true,
    output: viewer.operator || (buyer && !held) || agent || arbitrator,
  };
}

function toView(t: TaskRow, proposals?: { agent: string; price: string; eta_ms: number; outcome: string }[], showOutput = false, showInput = true) {
  return {
    id: t.id,
    auctionId: t.auction_id,
    lotIndex: t.lot_index,
    buyer: t.buyer,
    capability: t.capability,
    ...(showInput ? { input: t.input } : {}),
    complexity: t.complexity,
    urgency: t.urgency,
    budget: t.budget,
    token: t.token,
    deadline: t.deadline.toISOString(),
    route: t.route,
    settlement: t.settlement,
    chain: t.chain,
    status: t.status,
    agent: t.agent,
    price: t.price,
    auction: {
      rule: t.rule,
      windowMs: t.window_ms,
      quantity: t.quantity,
      status: t.auction_status,
      eligible: t.eligible,
      proposals: t.proposed,
      closesAt: t.closes_at.toISOString(),
      closedAt: t.closed_at?.toISOString() ?? null,
      closeReason: t.close_reason,
    },
    runnerUps: t.runner_ups,
    execution: {
      attempts: t.attempts,
      failovers: t.failovers,
      startedAt: t.started_at?.toISOString() ?? null,
      deliveredAt: t.delivered_at?.toISOString() ?? null,
      resultHash: t.result_hash,
      failureReason: t.failure_reason,
    },
    workflowId: t.workflow_id,
    nodeKey: t.node_key,
    // Escrow route: where the funding plan is while the task waits for it, and the escrow's state.
    funding: t.settlement === "escrow" ? { planUrl: t.status === "funding" ? `/v1/tasks/${t.id}/funding` : null, escrowState: t.escrow_state ?? null } : null,
    dispute: t.dispute ?? null,
    ...(showOutput && t.delivered_at ? { output: t.output } : {}),
    createdAt: t.created_at.toISOString(),
    awardedAt: t.awarded_at?.toISOString() ?? null,
    ...(proposals ? { proposals: proposals.map((p) => ({ agent: p.agent, price: p.price, etaMs: p.eta_ms, outcome: p.outcome })) } : {}),
  };
}

/**
 * Settlement hooks of task posting, run inside its database transaction:
 * - `chainConfigured()`: whether a settlement backend exists (else tasks settle `offchain`);
 * - `promise`: channel route — reserve each task's budget out of the buyer's deposit (throws a
 *   4xx when the deposit does not cover it);
 * - `fundingPlan`: escrow route — the unsigned calls with which the buyer funds the escrow.
 */
export type SettlementHooks = {
  /** Whether a settlement backend serves `chain` (default `evm`). */
  chainConfigured(chain?: SettlementChain): boolean;
  /** Whether the channel route exists on `chain` (absent: on every configured chain). */
  channelsOn?(chain: SettlementChain): boolean;
  promise?(t: Queryable, p: { buyer: string; token: string; taskIds: string[]; amountPerTask: bigint; deadline: Date }): Promise<void>;
  /** Channel route: throws 402 DELIVERY_AUTHORIZATION_REQUIRED unless one authorization has room for `amount` past `deadline`. */
  authorizationRoom?(p: { buyer: string; token: string; amount: bigint; deadline: Date }): Promise<void>;
  fundingPlan?(task: { id: string; buyer: string; token: string; amount: bigint; deadline: Date; chain: SettlementChain }): Promise<unknown>;
};

/**
 * What posting and cancelling need from the auction domain (src/auction implements it; the
 * composition root passes it in, so tasks never import auctions).
 */
export type TaskAuctions = {
  /** Opens the auction inside `t`: invites the eligible agents; returns the calls for proposals to send after the commit. */
  open(t: Queryable, auction: { id: string; buyer: string; capability: string }, cfp: Omit<CallForProposals, "myProposal">): Promise<Outgoing[]>;
  close(auctionId: string, reason: "window" | "all-proposed"): Promise<boolean>;
  /** Schedules the close at `closesAt` (ms since epoch). */
  scheduleClose(auctionId: string, closesAt: number): Promise<void>;
  /** Sends post-commit messages. */
  dispatch(out: Outgoing[]): Promise<void>;
  /** Cancels an auction still open or funding, inside `t`, rejecting its proposals. @returns false when it was not */
  cancel(t: Queryable, auctionId: string): Promise<boolean>;
  /** After a cancel committed: tells the invited agents and drops the close job. */
  cancelled(auctionId: string): Promise<void>;
};

export function createTaskService(
  ctx: AppContext,
  auction: TaskAuctions,
  settlement: SettlementHooks = { chainConfigured: () => false },
  tx?: TaskTxHooks,
): TaskService {
  const { db, config } = ctx;

  return {
    async post(buyer, spec) {
      const now = ctx.now();
      const { windowMs } = spec.auction;
      if (windowMs < config.AUCTION_MIN_WINDOW_MS || windowMs > config.AUCTION_MAX_WINDOW_MS)
        throw badRequest("WINDOW_OUT_OF_RANGE", `auction.windowMs must be between ${config.AUCTION_MIN_WINDOW_MS} and ${config.AUCTION_MAX_WINDOW_MS}.`);
      if (spec.deadline.getTime() <= now + windowMs)
        throw badRequest("DEADLINE_TOO_SOON", "The deadline must fall after the auction window closes.");
      if (spec.quantity > config.MAX_LOT_SIZE)
        throw badRequest("LOT_TOO_LARGE", `A lot holds at most ${config.MAX_LOT_SIZE} tasks.`);
      if ((spec.quantity > 1) !== (spec.auction.rule === "uniform-price"))
        throw badRequest("LOT_RULE", "Lots of more than one task use the uniform-price rule, and only they do.");
      // The buyer's account kind picks the chain; the token must be one of that chain's.
      const chain = chainOfAccount(buyer);
      if (!tokenFitsChain(chain, spec.token))
        throw badRequest(
          "TOKEN_CHAIN_MISMATCH",
          chain === "evm"
            ? `Tasks of an EVM account settle on the EVM: token must be an ERC-20 address or 0x000…000, not ${JSON.stringify(spec.token)}.`
            : `Tasks of a Substrate account settle on Substrate: token must be "native" or "asset:<id>", not ${JSON.stringify(spec.token)}.`,
        );
      let route = resolveRoute(config, settlement.chainConfigured(chain), spec.token, spec.budget, spec.route);
      if (route === "channel" && settlement.channelsOn && !settlement.channelsOn(chain)) {
        if (spec.route === "channel") throw unavailable("CHANNEL_UNAVAILABLE", `The channel route is not available on ${chain} here; post with route "escrow" or "auto".`);
        route = "escrow"; // auto: the protected route rather than none
      }
      if (route === "escrow" && spec.quantity > 1)
        throw badRequest("LOT_ESCROW", "A lot of several tasks settles on the channel route; escrow holds one task each.");
      if (route === "escrow" && !settlement.fundingPlan) throw unavailable("ESCROW_UNAVAILABLE", "The escrow route is not available right now.");
      const funding = route === "escrow";
      const closesAt = now + windowMs;
      let out: Outgoing[] = [];
      const { auctionId, ids } = await db.tx(async (t) => {
        // The auction and its tasks (one per lot unit) in one statement.
        const { auctionId, ids } = await transitions.post(t, {
          buyer, capability: spec.capability, rule: spec.auction.rule, windowMs, quantity: spec.quantity, budget: spec.budget.toString(),
          closesAt: new Date(funding ? spec.deadline : closesAt), status: funding ? "funding" : "open", input: spec.input, complexity: spec.complexity,
          urgency: spec.urgency, token: spec.token, deadline: spec.deadline, route: spec.route, workflowId: spec.workflow?.id ?? null,
          nodeKey: spec.workflow?.nodeKey ?? null, settlement: route, chain,
        });
        if (route === "channel" && settlement.promise)
          await settlement.promise(t, { buyer, token: spec.token, taskIds: ids, amountPerTask: spec.budget, deadline: spec.deadline });
        // Escrow route: the auction opens when the indexer sees EscrowFunded confirmed.
        if (funding) return { auctionId, ids };
        out = await auction.open(t, { id: auctionId, buyer, capability: spec.capability }, {
          auctionId,
          taskIds: ids,
          capability: spec.capability,
          input: spec.input,
          complexity: spec.complexity,
          urgency: spec.urgency,
          budget: spec.budget.toString(),
          token: spec.token,
          deadline: spec.deadline.toISOString(),
          rule: spec.auction.rule,
          quantity: spec.quantity,
          closesAt: new Date(closesAt).toISOString(),
        });
        return { auctionId, ids };
      });
      const rows = await repo.byAuction(db, auctionId);
      if (funding) {
        const t = rows[0]!;
        const plan = await settlement.fundingPlan!({ id: t.id, buyer, token: spec.token, amount: spec.budget, deadline: spec.deadline, chain });
        const view = toView(t);
        // The plan itself comes inline once, with where to read it again.
        return [{ ...view, funding: { ...view.funding!, ...(plan as object) } }];
      }
      if (out.length === 0) {
        await auction.close(auctionId, "all-proposed"); // nobody to ask: expires at once
      } else {
        await auction.scheduleClose(auctionId, closesAt);
        await auction.dispatch(out);
      }
      const fresh = out.length === 0 ? await repo.byAuction(db, auctionId) : rows;
      return fresh.filter((r) => ids.includes(r.id)).map((r) => toView(r));
    },

    async get(id, viewer) {
      const t = await repo.getFor(db, id, viewer.address ?? null);
      if (!t) throw notFound("TASK_NOT_FOUND", `No task ${id}.`);
      let proposals: Awaited<ReturnType<typeof repo.proposals>> | undefined;
      const closed = t.auction_status !== "open";
      if (viewer.operator || (viewer.address === t.buyer && closed)) proposals = await repo.proposals(db, t.auction_id);
      else if (viewer.address && viewer.address !== t.buyer) {
        const own = await repo.proposals(db, t.auction_id, viewer.address);
        if (own.length) proposals = own;
      }
      const see = privacyOf(t, viewer);
      return toView(t, proposals, see.output, see.input);
    },

    async checkChannelFunding(buyer, p) {
      const channel = p.budgets.filter((b) => resolveRoute(config, settlement.chainConfigured(), p.token, b, p.route) === "channel");
      if (channel.length === 0 || !settlement.authorizationRoom) return;
      await settlement.authorizationRoom({ buyer, token: p.token, amount: channel.reduce((a, b) => a + b, p.reserve), deadline: p.deadline });
    },

    checkRoute(route) {
      resolveRoute(config, settlement.chainConfigured(), "0x0000000000000000000000000000000000000000", 0n, route);
    },

    async list(f, viewer) {
      const { rows, total } = await repo.list(db, f, viewer.address ?? null);
      return {
        items: rows.map((r) => {
          const see = privacyOf(r, viewer);
          return toView(r, undefined, false, see.input);
        }),
        total,
      };
    },

    async acceptOffchain(id, buyer) {
      const t = await repo.get(db, id);
      if (!t) throw notFound("TASK_NOT_FOUND", `No task ${id}.`);
      if (t.buyer !== buyer) throw forbidden("NOT_BUYER", "Only the buyer may accept the result.");
      if (!["delivered", "accepted"].includes(t.status)) throw conflict("NOT_DELIVERED", `The task is ${t.status}; only a delivered result can be accepted.`);
      if (t.settlement === "channel")
        throw conflict("PAY_WITH_VOUCHER", "Channel-route results are accepted by paying them: POST /v1/vouchers with your EIP-712 voucher.");
      if (t.settlement === "escrow") throw unavailable("ESCROW_UNAVAILABLE", "The escrow route is not available right now.");
      await transitions.accept(db, id);
      return { taskId: id, status: "accepted", call: null };
    },

    async cancel(id, buyer) {
      const t = await repo.get(db, id);
      if (!t) throw notFound("TASK_NOT_FOUND", `No task ${id}.`);
      if (t.buyer !== buyer) throw forbidden("NOT_BUYER", "Only the buyer who posted the task may cancel it.");
      const ok = await db.tx(async (q) => {
        if (!(await auction.cancel(q, t.auction_id))) return false;
        for (const id of await transitions.cancelAuction(q, t.auction_id)) await tx?.ended?.(q, { id, status: "cancelled" });
        return true;
      });
      if (!ok) throw conflict("NOT_CANCELLABLE", `The task is ${t.status}; only a task whose auction is still open can be cancelled.`);
      await auction.cancelled(t.auction_id);
      return toView((await repo.get(db, id))!);
    },
  };
}
