import { z } from "zod";
import { walletOf, type Api } from "../http/api.js";
import { IdParams } from "../http/schemas.js";
import type { ExecutionService } from "./execution.js";

export function registerExecutionRoutes(api: Api, execution: ExecutionService) {
  api.route({
    method: "post",
    path: "/v1/tasks/:id/result",
    summary: "Deliver the output of a task awarded to you (FIPA inform-done); resultHash = keccak256 of its canonical JSON",
    tags: ["execution"],
    access: "agent",
    params: IdParams,
    body: z
      .object({
        output: z.unknown().refine((v) => v !== undefined, "is required").refine((v) => JSON.stringify(v ?? null).length <= 1_000_000, "must serialise to at most 1 MB"),
        resultHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be a 32-byte hex hash").optional(),
      })
      .strict(),
    response: z.object({ id: z.string(), status: z.string(), resultHash: z.string() }),
    handler: ({ params, body, principal }) => execution.deliver(params.id, walletOf(principal), body.output, body.resultHash),
  });
  api.route({
    method: "post",
    path: "/v1/tasks/:id/failure",
    summary: "Report that you could not do a task awarded to you (FIPA failure); it is retried or failed over",
    tags: ["execution"],
    access: "agent",
    params: IdParams,
    body: z.object({ reason: z.string().min(1).max(500) }).strict(),
    response: z.object({ id: z.string(), status: z.string() }),
    handler: ({ params, body, principal }) => execution.reportFailure(params.id, walletOf(principal), body.reason),
  });
}
