/** Calls and reads of the marketplace's contracts, with the ABIs the coordinator publishes (GET /v1/network?abi=true). */
import { encodeFunctionData, type Abi, type Hex } from "viem";
import type { Call, Connected } from "./wallet";

export type ContractName = "TaskEscrow" | "PaymentChannels" | "DisputeResolver" | "ReputationAnchor" | "AICPTestToken";

const ERC20_ABI = [
  { type: "function", name: "approve", stateMutability: "nonpayable", inputs: [{ name: "spender", type: "address" }, { name: "amount", type: "uint256" }], outputs: [{ type: "bool" }] },
  { type: "function", name: "allowance", stateMutability: "view", inputs: [{ name: "owner", type: "address" }, { name: "spender", type: "address" }], outputs: [{ type: "uint256" }] },
  { type: "function", name: "balanceOf", stateMutability: "view", inputs: [{ name: "owner", type: "address" }], outputs: [{ type: "uint256" }] },
] as const satisfies Abi;

export function addressOf(c: Connected, name: ContractName): Hex {
  const a = c.network.contracts[name];
  if (!a) throw new Error(`${name} is not deployed on this chain.`);
  return a as Hex;
}

/** A call of `fn` on a marketplace contract. */
export function call(c: Connected, name: ContractName, fn: string, args: unknown[], description: string, value: bigint = 0n): Call {
  const abi = c.abis[name] as Abi | undefined;
  if (!abi) throw new Error(`No ABI for ${name} (the coordinator's GET /v1/network?abi=true).`);
  return { to: addressOf(c, name), data: encodeFunctionData({ abi, functionName: fn, args } as never), value, description };
}

/** A view function of a marketplace contract. */
export function read<T>(c: Connected, name: ContractName, fn: string, args: unknown[]): Promise<T> {
  return c.publicClient.readContract({ address: addressOf(c, name), abi: c.abis[name] as Abi, functionName: fn, args } as never) as Promise<T>;
}

/** ERC-20 approve of `spender` for `amount` base units. */
export function approveCall(token: string, spender: string, amount: bigint, description: string): Call {
  return { to: token, data: encodeFunctionData({ abi: ERC20_ABI, functionName: "approve", args: [spender as Hex, amount] }), value: 0n, description };
}

export function tokenBalance(c: Connected, token: string, owner: string): Promise<bigint> {
  if (/^0x0{40}$/.test(token)) return c.publicClient.getBalance({ address: owner as Hex });
  return c.publicClient.readContract({ address: token as Hex, abi: ERC20_ABI, functionName: "balanceOf", args: [owner as Hex] });
}

export function allowance(c: Connected, token: string, owner: string, spender: string): Promise<bigint> {
  return c.publicClient.readContract({ address: token as Hex, abi: ERC20_ABI, functionName: "allowance", args: [owner as Hex, spender as Hex] });
}
