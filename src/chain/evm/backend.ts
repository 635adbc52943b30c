import { Contract, Interface, Signature, TypedDataEncoder, ZeroAddress, getAddress, type InterfaceAbi } from "ethers";
import { z } from "zod";
import type { IntentKind } from "../../settlement/outbox-store.js";
import { type EvmChain } from "./chain.js";
import { taskKey } from "../../protocol/keys.js";
import { encodeSettleBatch } from "./vouchers.js";
import { FUNDING_AUTHORIZATION_TYPES, PERMIT_TYPES, escrowDomain } from "../../protocol/eip712.js";
import { AppError, badRequest, unavailable } from "../../errors.js";
import type { FundingTask, PartyCallKind, PermitTypedData, SettlementBackend, TxRequest, UnsignedCall } from "../../settlement/backend.js";
import type { FundingPlan } from "../../protocol/settlement.js";

const Address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "an 0x address");
const Uuid = z.string().uuid();
const Amount = z.union([z.string().regex(/^\d+$/, "a decimal integer"), z.bigint()]).transform((v) => BigInt(v));
const Bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "a bytes32 hex string");
const Epoch = z.union([z.number().int().min(1), z.string().regex(/^[1-9]\d*$/)]).transform((v) => BigInt(v));

/** Payload schemas of the outbox intents (src/chain/outbox.ts). */
const payloads = {
  "escrow.award": z.object({ taskId: Uuid, agent: Address, price: Amount }),
  "escrow.deliver": z.object({ taskId: Uuid, resultHash: Bytes32 }),
  "escrow.release": z.object({ taskId: Uuid }),
  "escrow.refund": z.object({ taskId: Uuid }),
  "channels.settleBatch": z.object({
    vouchers: z.array(z.object({ payer: Address, payee: Address, token: Address, cumulative: Amount, signature: z.string().regex(/^0x([0-9a-fA-F]{130})$/) })).min(1),
  }),
  "channels.claimDelivered": z.object({
    authorization: z.object({ payer: Address, token: Address, salt: Bytes32, maxAmount: Amount, expiry: Amount }),
    signature: z.string().regex(/^0x([0-9a-fA-F]{2})+$/),
    claims: z.array(z.object({ payee: Address, amount: Amount, settledBefore: Amount })).min(1),
  }),
  "anchor.anchor": z.object({ epoch: Epoch, root: Bytes32, uri: z.string().max(2048).default("") }),
  "disputes.finalize": z.object({ disputeId: z.string().regex(/^\d+$/) }),
  "disputes.reassign": z.object({ disputeId: z.string().regex(/^\d+$/) }),
} satisfies Record<IntentKind, z.ZodType>;

const TOKEN_ABI = [
  "function approve(address spender, uint256 amount) returns (bool)",
  "function nonces(address owner) view returns (uint256)",
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
];
const tokenIface = new Interface(TOKEN_ABI);


const unix = (d: Date) => Math.floor(d.getTime() / 1000);

function fmtArg(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return `[${v.map(fmtArg).join(", ")}]`;
  return String(v);
}

const ESCROW_STATES = ["none", "funded", "awarded", "delivered", "disputed", "released", "refunded", "resolved"] as const;

/**
 * TaskEscrow's current record of a task (`escrowOf(taskKey(id))` at the latest block), with the
 * state named as `ITaskEscrow.State` in lower case and addresses lower-case (null when zero).
 * @throws when the RPC does not answer
 */
export async function readEscrow(evm: EvmChain, taskId: string) {
  const e = (await evm.escrow.escrowOf(taskKey(taskId))) as unknown as { state: bigint; buyer: string; agent: string; price: bigint; amount: bigint };
  const a = (x: string) => (x === ZeroAddress ? null : x.toLowerCase());
  return { state: ESCROW_STATES[Number(e.state)] ?? "none", buyer: a(e.buyer), agent: a(e.agent), price: e.price, amount: e.amount };
}

/** The EVM backend with its extra, EVM-only surface. */
export type EvmSettlementBackend = SettlementBackend<TxRequest> & { readonly evm: EvmChain };

/**
 * The settlement backend on an EVM chain (ethers v6, the typed contracts of `connectEvm`):
 * TaskEscrow for the escrow route, PaymentChannels for batch settlement, ReputationAnchor for
 * the epoch roots. Escrow task ids are `taskKey(uuid)`; custom errors decode against every AICP
 * contract's ABI (and the test token's).
 */
export function createEvmBackend(evm: EvmChain): EvmSettlementBackend {
  const escrowAddr = evm.address("TaskEscrow");
  const channelsAddr = evm.address("PaymentChannels");
  const anchorAddr = evm.address("ReputationAnchor");
  const resolverAddr = evm.address("DisputeResolver");
  // One interface with every error of every contract, for decoding reverts.
  const errors = new Interface(
    Object.values(evm.deployment.contracts).flatMap((c) => (c.abi as { type?: string }[]).filter((f) => f.type === "error")) as InterfaceAbi,
  );
  const domains = new Map<string, PermitTypedData["domain"] | null>();

  const call = (to: string, data: string, value: bigint, description: string): UnsignedCall => ({ to, data, value: value.toString(), description });

  function parse<K extends IntentKind>(kind: K, payload: unknown): z.output<(typeof payloads)[K]> {
    const schema = payloads[kind] as z.ZodType | undefined;
    if (!schema) throw badRequest("INVALID_INTENT_PAYLOAD", `Unknown intent kind ${String(kind)}.`);
    const r = schema.safeParse(payload);
    if (!r.success) throw badRequest("INVALID_INTENT_PAYLOAD", `Malformed ${kind} payload: ${r.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}.`);
    return r.data as z.output<(typeof payloads)[K]>;
  }

  function checkTaskId(taskId: string): string {
    if (!Uuid.safeParse(taskId).success) throw badRequest("INVALID_ARGUMENT", "taskId must be a UUID.");
    return taskKey(taskId);
  }

  /** The token's ERC-2612 domain, checked against its DOMAIN_SEPARATOR; null if it has none. */
  async function permitDomain(token: string): Promise<PermitTypedData["domain"] | null> {
    const hit = domains.get(token);
    if (hit !== undefined) return hit;
    const c = new Contract(token, TOKEN_ABI, evm.provider);
    let domain: PermitTypedData["domain"] | null = null;
    try {
      const [d, separator] = await Promise.all([c.getFunction("eip712Domain")(), c.getFunction("DOMAIN_SEPARATOR")()]);
      const candidate = { name: d[1] as string, version: d[2] as string, chainId: Number(d[3]), verifyingContract: getAddress(d[4] as string) };
      if (TypedDataEncoder.hashDomain(candidate) === separator) domain = candidate;
    } catch (err) {
      // A revert means the token has no ERC-5267/2612 domain: remember that. Anything else
      // (network) is not cached, so the next plan tries again.
      if ((err as { code?: string }).code !== "CALL_EXCEPTION" && (err as { code?: string }).code !== "BAD_DATA") throw err;
    }
    domains.set(token, domain);
    return domain;
  }

  /** The coordinator's FundingAuthorization of `task` for its buyer (no chain access). */
  const authorize = (task: FundingTask) =>
    evm.operator.signTypedData(escrowDomain(evm.chainId, getAddress(escrowAddr)), FUNDING_AUTHORIZATION_TYPES, {
      taskId: taskKey(task.id),
      buyer: getAddress(task.buyer),
      token: getAddress(task.token),
      amount: task.amount,
      deadline: unix(task.deadline),
    });

  return {
    chain: "evm",
    chainId: evm.chainId,
    operator: evm.operator.address.toLowerCase(),
    evm,

    async fundingPlan(task) {
      const key = taskKey(task.id);
      const deadline = unix(task.deadline);
      const token = task.token.toLowerCase();
      const authorization = await authorize(task);
      const base = { chain: "evm", chainId: evm.chainId, escrow: escrowAddr, taskKey: key, token, amount: task.amount.toString(), deadline, authorization };
      const fund = evm.escrow.interface.encodeFunctionData("fund", [key, token, task.amount, deadline, authorization]);
      if (token === ZeroAddress) {
        return { ...base, calls: [call(escrowAddr, fund, task.amount, `Fund the escrow of task ${task.id} with ${task.amount} wei`)] };
      }
      const plan: FundingPlan = {
        ...base,
        calls: [
          call(token, tokenIface.encodeFunctionData("approve", [escrowAddr, task.amount]), 0n, `Approve TaskEscrow to take ${task.amount} base units of ${token}`),
          call(escrowAddr, fund, 0n, `Fund the escrow of task ${task.id} with ${task.amount} base units of ${token}`),
        ],
      };
      try {
        const domain = await permitDomain(token);
        if (domain) {
          const nonce = (await new Contract(token, TOKEN_ABI, evm.provider).getFunction("nonces")(task.buyer)) as bigint;
          plan.permit = {
            typedData: {
              domain,
              types: PERMIT_TYPES,
              primaryType: "Permit",
              message: { owner: getAddress(task.buyer), spender: getAddress(escrowAddr), value: task.amount.toString(), nonce: nonce.toString(), deadline: String(deadline) },
            },
            fundWithPermit: {
              to: escrowAddr,
              signature: "fundWithPermit(bytes32,address,uint256,uint64,uint256,uint8,bytes32,bytes32,bytes)",
              args: { taskId: key, token, amount: task.amount.toString(), deadline, permitDeadline: deadline, authorization },
            },
          };
        }
      } catch {
        // The chain did not answer: approve + fund still works; the permit is an optimisation.
      }
      return plan;
    },

    async permitCall(task, signature, permitDeadline) {
      let sig: Signature;
      try {
        sig = Signature.from(signature);
      } catch {
        throw badRequest("BAD_PERMIT_SIGNATURE", "The permit signature must be a 65-byte (or 64-byte EIP-2098) hex signature.");
      }
      const deadline = unix(task.deadline);
      const data = evm.escrow.interface.encodeFunctionData("fundWithPermit", [
        taskKey(task.id), task.token, task.amount, deadline, permitDeadline ?? deadline, sig.v, sig.r, sig.s, await authorize(task),
      ]);
      return call(escrowAddr, data, 0n, `Fund the escrow of task ${task.id} with ${task.amount} base units of ${task.token.toLowerCase()} (ERC-2612 permit)`);
    },

    buildTx(kind, payload) {
      switch (kind) {
        case "escrow.award": {
          const p = parse(kind, payload);
          return { to: escrowAddr, data: evm.escrow.interface.encodeFunctionData("award", [taskKey(p.taskId), p.agent, p.price]), value: 0n };
        }
        case "escrow.deliver": {
          const p = parse(kind, payload);
          return { to: escrowAddr, data: evm.escrow.interface.encodeFunctionData("deliver", [taskKey(p.taskId), p.resultHash]), value: 0n };
        }
        case "escrow.release": {
          const p = parse(kind, payload);
          return { to: escrowAddr, data: evm.escrow.interface.encodeFunctionData("release", [taskKey(p.taskId)]), value: 0n };
        }
        case "escrow.refund": {
          const p = parse(kind, payload);
          return { to: escrowAddr, data: evm.escrow.interface.encodeFunctionData("refund", [taskKey(p.taskId)]), value: 0n };
        }
        case "channels.settleBatch": {
          const p = parse(kind, payload);
          let encoded: ReturnType<typeof encodeSettleBatch>;
          try {
            encoded = encodeSettleBatch(p.vouchers.map((v) => ({ payer: v.payer, payee: v.payee, token: v.token, cumulativeAmount: v.cumulative, signature: v.signature })));
          } catch (err) {
            throw badRequest("INVALID_INTENT_PAYLOAD", `Cannot encode settleBatch: ${(err as Error).message}.`);
          }
          return { to: channelsAddr, data: evm.channels.interface.encodeFunctionData("settleBatch", [encoded.addresses, encoded.entries]), value: 0n };
        }
        case "channels.claimDelivered": {
          const p = parse(kind, payload);
          const data = evm.channels.interface.encodeFunctionData("claimDelivered", [p.authorization, p.signature, p.claims]);
          return { to: channelsAddr, data, value: 0n };
        }
        case "disputes.finalize": {
          const p = parse(kind, payload);
          return { to: resolverAddr, data: evm.resolver.interface.encodeFunctionData("finalize", [BigInt(p.disputeId)]), value: 0n };
        }
        case "disputes.reassign": {
          const p = parse(kind, payload);
          return { to: resolverAddr, data: evm.resolver.interface.encodeFunctionData("reassign", [BigInt(p.disputeId)]), value: 0n };
        }
        case "anchor.anchor": {
          const p = parse(kind, payload);
          if (p.epoch >= 2n ** 64n) throw badRequest("INVALID_INTENT_PAYLOAD", "anchor.anchor epoch does not fit uint64.");
          return { to: anchorAddr, data: evm.anchor.interface.encodeFunctionData("anchor", [p.epoch, p.root, p.uri]), value: 0n };
        }
        default:
          throw badRequest("INVALID_INTENT_PAYLOAD", `Unknown intent kind ${String(kind)}.`);
      }
    },

    callFor(kind: PartyCallKind, taskId, args = {}) {
      const key = checkTaskId(taskId);
      switch (kind) {
        case "release":
          return call(escrowAddr, evm.escrow.interface.encodeFunctionData("release", [key]), 0n, `Accept the result of task ${taskId} and release the price to the agent`);
        case "reclaim":
          return call(escrowAddr, evm.escrow.interface.encodeFunctionData("reclaim", [key]), 0n, `Reclaim the undelivered escrow of task ${taskId} after its deadline`);
        case "dispute": {
          const uri = args.evidenceUri ?? "";
          if (uri.length > 2048) throw badRequest("INVALID_ARGUMENT", "The evidence URI is longer than 2048 characters.");
          return call(escrowAddr, evm.escrow.interface.encodeFunctionData("dispute", [key, uri]), 0n, `Dispute the result of task ${taskId}${uri ? ` with evidence ${uri}` : ""}`);
        }
        default:
          throw badRequest("INVALID_ARGUMENT", `Unknown call ${String(kind)}.`);
      }
    },

    revertReason(err) {
      const e = err as { code?: string; data?: unknown; reason?: string | null; revert?: { name: string; args: unknown[] } | null; info?: { error?: { message?: string } }; message?: string };
      if (e?.code !== "CALL_EXCEPTION") return undefined;
      const data = typeof e.data === "string" ? e.data : undefined;
      if (data && data.length >= 10) {
        try {
          const parsed = errors.parseError(data);
          if (parsed) return `${parsed.name}(${parsed.fragment.inputs.map((p, i) => `${p.name || i}=${fmtArg(parsed.args[i])}`).join(", ")})`;
        } catch {
          /* not one of ours: fall through to the builtin decoding */
        }
        if (e.revert) return `${e.revert.name}(${e.revert.args.map(fmtArg).join(", ")})`;
        return `unknown custom error ${data.slice(0, 10)}`;
      }
      // No revert data: a plain `revert()` or an invalid opcode — still the contract's answer,
      // as long as the node said so (not e.g. "insufficient funds", which is the operator's).
      const msg = `${e.info?.error?.message ?? ""} ${e.message ?? ""}`;
      return /revert/i.test(msg) && !/insufficient funds|nonce/i.test(msg) ? "execution reverted without data" : undefined;
    },

    async ping(timeoutMs = 2_000) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          evm.provider.getBlockNumber(),
          new Promise((_, rej) => {
            timer = setTimeout(() => rej(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw unavailable("CHAIN_UNREACHABLE", `The chain RPC does not answer (${(err as Error).message}).`, err);
      } finally {
        clearTimeout(timer);
      }
    },

    headBlock: () => evm.provider.getBlockNumber(),
  };
}
