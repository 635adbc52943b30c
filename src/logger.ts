import { pino, type Logger } from "pino";

export type { Logger };

/** Structured JSON logs (pino). `name` tags the process role, e.g. `api` or `worker`. */
export function createLogger(level: string, name = "aicp"): Logger {
  return pino({ level, name, base: { pid: process.pid } });
}
