import { z } from "zod";
import type { Api } from "../http/api.js";
import type { AuthService } from "./service.js";

export function registerAuthRoutes(api: Api, auth: AuthService) {
  api.route({
    method: "get",
    path: "/v1/auth/nonce",
    summary: "Get a single-use nonce for a Sign-In with Ethereum (EIP-4361) message",
    tags: ["auth"],
    access: "public",
    response: z.object({ nonce: z.string(), expiresAt: z.string() }),
    handler: () => auth.issueNonce(),
  });
  api.route({
    method: "post",
    path: "/v1/auth/login",
    summary: "Sign in with an EIP-4361 message and its signature; returns a bearer token",
    tags: ["auth"],
    access: "public",
    body: z.object({ message: z.string().min(1).max(4096), signature: z.string().max(200) }),
    response: z.object({ token: z.string(), address: z.string(), roles: z.array(z.string()), expiresAt: z.string() }),
    handler: ({ body }) => auth.login(body.message, body.signature),
  });
  api.route({
    method: "get",
    path: "/v1/auth/session",
    // Roles are looked up at the time of the call (a token's claims date from its sign-in):
    // registering as an agent or being granted the arbitrator role shows here at once.
    summary: "Who the bearer token (or admin key) speaks for, and the roles it holds now (buyer, agent, arbitrator, operator)",
    tags: ["auth"],
    access: "user",
    response: z.object({ address: z.string().nullable(), roles: z.array(z.enum(["buyer", "agent", "arbitrator", "operator"])) }),
    handler: async ({ principal }) =>
      principal.address ? { address: principal.address, roles: await auth.rolesOf(principal.address) } : { address: null, roles: ["operator" as const] },
  });
}
