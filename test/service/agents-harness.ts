import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Wallet } from "ethers";
import { newAgent } from "./harness.js";

const script = fileURLToPath(new URL("./fixtures/agent.mjs", import.meta.url));

export type AgentProc = { address: string; proc: ChildProcess; port: number; stop(): void };

/**
 * Registers an agent with a webhook endpoint and starts it as its own process
 * (test/service/fixtures/agent.mjs) that bids and works by itself.
 */
export async function spawnAgent(
  base: string,
  capability: string,
  mode: string,
  opts: { price?: string; etaMs?: number; delayMs?: number; minPrice?: number; wallet?: Wallet } = {},
): Promise<AgentProc> {
  const port = await freePort();
  const agent = await newAgent(base, { [capability]: opts.minPrice ?? 0 }, { endpointUrl: `http://127.0.0.1:${port}/hook` }, opts.wallet);
  const proc = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      COORDINATOR: base,
      TOKEN: agent.token!,
      ADDRESS: agent.address,
      PORT: String(port),
      AGENT_MODE: mode,
      AGENT_PRICE: opts.price ?? "10",
      AGENT_ETA_MS: String(opts.etaMs ?? 200),
      AGENT_DELAY_MS: String(opts.delayMs ?? 0),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("LISTENING")) resolve();
    });
    proc.once("exit", (code) => reject(new Error(`agent exited with ${code}`)));
  });
  return { address: agent.address, proc, port, stop: () => proc.kill("SIGTERM") };
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}
