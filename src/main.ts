/**
 * `npm start`: the AICP coordinator. `--role api|worker|all` (default all) selects what this
 * process runs; any number of API and worker processes may share one Postgres and Redis.
 */
import { loadConfig } from "./config.js";
import { AppError } from "./errors.js";
import { startCoordinator, type Role } from "./server.js";

const roleArg = process.argv.find((a) => a.startsWith("--role="))?.split("=")[1] ?? process.argv[process.argv.indexOf("--role") + 1];
const role = (["api", "worker", "all"].includes(roleArg ?? "") ? roleArg : "all") as Role;

try {
  const config = loadConfig();
  const c = await startCoordinator(config, role);
  c.ctx.log.info({ role, url: c.url }, "AICP coordinator started");
  if (c.url) {
    console.log(`\nAICP coordinator (${role})\n  API:     ${c.url}/v1\n  Docs:    ${c.url}/docs\n  OpenAPI: ${c.url}/openapi.json\n  Health:  ${c.url}/health  Ready: ${c.url}/ready  Metrics: ${c.url}/metrics\nPress Ctrl-C to stop.\n`);
  }
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    c.ctx.log.info({ sig }, "shutting down");
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await c.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
} catch (err) {
  if (err instanceof AppError || (err instanceof Error && err.message.startsWith("Invalid configuration"))) {
    console.error(`\nAICP could not start: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
