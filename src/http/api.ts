import express, { type Request, type Response, type Router } from "express";
import { z, type ZodType } from "zod";
import { OpenAPIRegistry, extendZodWithOpenApi } from "@asteasolutions/zod-to-openapi";
import { jwtVerify } from "jose";
import { timingSafeEqual } from "node:crypto";
import { AppError, forbidden, unauthorized } from "../errors.js";

extendZodWithOpenApi(z);

/**
 * Who may call a route:
 * - `public`: anyone;
 * - `buyer`: any wallet signed in with SIWE (EIP-4361);
 * - `agent`: a signed-in wallet registered as an agent;
 * - `arbitrator`: a signed-in wallet holding ARBITRATOR_ROLE on the DisputeResolver;
 * - `operator`: the admin key from the config (`X-Admin-Key`);
 * - `user`: any signed-in wallet, or the operator.
 */
export type Access = "public" | "buyer" | "agent" | "arbitrator" | "operator" | "user";

export type Principal = { address?: string; operator: boolean };

export type RouteSpec<P extends ZodType, Q extends ZodType, B extends ZodType> = {
  method: "get" | "post" | "patch" | "put" | "delete";
  /** Express-style path under the router, e.g. `/v1/tasks/:id`. */
  path: string;
  summary: string;
  tags: string[];
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /** Response schema of the success status, for the OpenAPI document. */
  response?: ZodType;
  /** Media type of the success response; default `application/json` (`text/event-stream` for SSE). */
  contentType?: string;
  status?: number;
  handler: (input: {
    params: z.infer<P>;
    query: z.infer<Q>;
    body: z.infer<B>;
    principal: Principal;
    req: Request;
    res: Response;
  }) => Promise<unknown>;
};

const bearer = { type: "http", scheme: "bearer", bearerFormat: "JWT" } as const;

/** A router that validates with zod, enforces `access`, and records each route in OpenAPI. */
export type Api = {
  router: Router;
  registry: OpenAPIRegistry;
  route<P extends ZodType = ZodType<Record<string, never>>, Q extends ZodType = ZodType<Record<string, never>>, B extends ZodType = ZodType<undefined>>(
    spec: RouteSpec<P, Q, B>,
  ): void;
};

/**
 * What the kit needs to authenticate and authorize callers (built by the composition root).
 * - `authSecret`: HMAC key of the HS256 session tokens (AUTH_SECRET);
 * - `adminKey`: the operator's `X-Admin-Key`;
 * - `isAgent` / `isArbitrator`: role lookups for `agent` and `arbitrator` routes.
 */
export type ApiAuth = {
  authSecret: string;
  adminKey: string;
  isAgent(address: string): Promise<boolean>;
  isArbitrator(address: string): Promise<boolean>;
};

export function createApi(hooks: ApiAuth): Api {
  const router = express.Router();
  const registry = new OpenAPIRegistry();
  const bearerAuth = registry.registerComponent("securitySchemes", "bearerAuth", bearer);
  const adminKey = registry.registerComponent("securitySchemes", "adminKey", { type: "apiKey", in: "header", name: "X-Admin-Key" });
  const secret = new TextEncoder().encode(hooks.authSecret);
  // Session tokens that verified already, so that an agent's every long-poll and proposal does
  // not pay for another HMAC check through WebCrypto. A hit still honours the token's expiry
  // (an expired one goes through jwtVerify again, which refuses it). Only verified tokens
  // enter; the oldest entry goes when the map is full.
  const verified = new Map<string, { sub: string; exp: number }>();
  const VERIFIED_MAX = 10_000;
  const adminBuf = Buffer.from(hooks.adminKey);

  async function principalOf(req: Request): Promise<Principal> {
    const key = req.header("x-admin-key");
    if (key !== undefined) {
      const b = Buffer.from(key);
      if (b.length !== adminBuf.length || !timingSafeEqual(b, adminBuf)) throw unauthorized("BAD_ADMIN_KEY", "The admin key is not valid.");
      return { operator: true };
    }
    const auth = req.header("authorization");
    if (!auth) return { operator: false };
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) throw unauthorized("BAD_AUTH_HEADER", "Send the session token as `Authorization: Bearer <token>`.");
    const token = m[1]!;
    const hit = verified.get(token);
    if (hit) {
      if (hit.exp > Math.floor(Date.now() / 1000)) return { address: hit.sub, operator: false };
      verified.delete(token);
    }
    try {
      const { payload } = await jwtVerify(token, secret, { algorithms: ["HS256"], issuer: "aicp" });
      if (typeof payload.sub !== "string") throw new Error("no subject");
      if (typeof payload.exp === "number") {
        if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!);
        verified.set(token, { sub: payload.sub, exp: payload.exp });
      }
      return { address: payload.sub, operator: false };
    } catch (err) {
      const expired = (err as { code?: string }).code === "ERR_JWT_EXPIRED";
      throw unauthorized(
        expired ? "TOKEN_EXPIRED" : "TOKEN_INVALID",
        expired ? "The session token has expired; sign in again." : "The session token is not valid.",
      );
    }
  }

  async function authorize(access: Access, p: Principal): Promise<void> {
    if (access === "public") return;
    if (access === "operator") {
      if (!p.operator) throw p.address ? forbidden("OPERATOR_ONLY", "Only the operator may do this.") : unauthorized("AUTH_REQUIRED", "Send the admin key as X-Admin-Key.");
      return;
    }
    // The operator reads what users and arbitrators read (e.g. every dispute).
    if ((access === "user" || access === "arbitrator") && p.operator) return;
    if (!p.address) throw unauthorized("AUTH_REQUIRED", "Sign in with Ethereum and send `Authorization: Bearer <token>`.");
    if (access === "agent" && !(await hooks.isAgent(p.address)))
      throw forbidden("AGENT_ONLY", "Only a registered agent may do this; register with POST /v1/agents.");
    if (access === "arbitrator" && !(await hooks.isArbitrator(p.address)))
      throw forbidden("ARBITRATOR_ONLY", "Only a holder of the on-chain arbitrator role may do this.");
  }

  return {
    router,
    registry,
    route(spec) {
      const openapiPath = spec.path.replace(/:(\w+)/g, "{$1}");
      const status = spec.status ?? 200;
      registry.registerPath({
        method: spec.method,
        path: openapiPath,
        operationId: operationIdOf(spec.method, spec.path),
        summary: spec.summary,
        tags: spec.tags,
        description: `Access: ${spec.access}.`,
        security:
          spec.access === "public" ? [] : spec.access === "operator" ? [{ [adminKey.name]: [] }] : spec.access === "user" ? [{ [bearerAuth.name]: [] }, { [adminKey.name]: [] }] : [{ [bearerAuth.name]: [] }],
        request: {
          ...(spec.params ? { params: spec.params as never } : {}),
          ...(spec.query ? { query: spec.query as never } : {}),
          ...(spec.body ? { body: { content: { "application/json": { schema: spec.body } } } } : {}),
        },
        responses: {
          [status]: {
            description: "Success",
            ...(spec.response ? { content: { [spec.contentType ?? "application/json"]: { schema: spec.response } } } : {}),
          },
          "4XX": { description: "`{ error: { code, message } }`", content: { "application/json": { schema: ErrorBody } } },
        },
      });
      router[spec.method](spec.path, async (req: Request, res: Response) => {
        // A public route ignores bad credentials: a client holding an expired token must still
        // be able to fetch a nonce and sign in again.
        const principal = spec.access === "public" ? await principalOf(req).catch(() => ({ operator: false })) : await principalOf(req);
        await authorize(spec.access, principal);
        refuseUnstorable(req.params, req.query, req.body);
        const params = parse("params", spec.params, req.params);
        const query = parse("query", spec.query, req.query);
        const body = parse("body", spec.body, req.body);
        const out = await spec.handler({ params, query, body, principal, req, res } as never);
        if (res.headersSent) return;
        if (out === undefined) res.status(status === 200 ? 204 : status).end();
        else res.status(status).json(out);
      });
    },
  };
}

/**
 * The OpenAPI operationId of a route: the method and the path's words in camel case, each
 * parameter as `By<Name>` — `get /v1/tasks/:id/funding` → `getTasksByIdFunding`.
 */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .replace(/^\/v1\//, "")
    .split("/")
    .filter(Boolean)
    .map((seg) => (seg.startsWith(":") ? `By${seg.slice(1)}` : seg))
    .flatMap((seg) => seg.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  return method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
}

/** Deepest JSON nesting accepted: deeper input overflows the stack of validation and serialisation. */
const MAX_DEPTH = 64;
const UNSTORABLE = /[\0\p{Cs}]/u;

/**
 * Refuses (400) what Postgres cannot store and the validators cannot walk, before either sees it:
 * NUL characters (TEXT and JSONB reject them), unpaired UTF-16 surrogates (JSONB rejects them)
 * and nesting deeper than MAX_DEPTH. Iterative, so a hostile body cannot overflow the stack here.
 */
function refuseUnstorable(params: unknown, query: unknown, body: unknown): void {
  const stack: [unknown, string, number][] = [[params, "params", 0], [query, "query", 0], [body, "body", 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, path, depth] = item;
    let problem: string | undefined;
    if (typeof v === "string") {
      if (UNSTORABLE.test(v)) problem = "must not contain NUL characters or unpaired surrogates";
    } else if (v !== null && typeof v === "object") {
      if (depth >= MAX_DEPTH) problem = `must not be nested more than ${MAX_DEPTH} levels deep`;
      else
        for (const [k, x] of Object.entries(v)) {
          if (UNSTORABLE.test(k)) problem = "must not have keys with NUL characters or unpaired surrogates";
          stack.push([x, `${path}.${k}`, depth + 1]);
        }
    }
    if (problem) throw new AppError("VALIDATION_FAILED", `Invalid ${path}: ${problem}`, 400, false, { details: [{ path, message: problem }] });
  }
}

function parse(where: string, schema: ZodType | undefined, value: unknown): unknown {
  if (!schema) return where === "body" ? undefined : {};
  const r = schema.safeParse(value ?? (where === "body" ? undefined : {}));
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const at = first && first.path.length ? `${where}.${first.path.join(".")}` : where;
  throw new AppError("VALIDATION_FAILED", `Invalid ${at}: ${first?.message ?? "bad input"}`, 400, false, {
    details: r.error.issues.slice(0, 10).map((i) => ({ path: [where, ...i.path].join("."), message: i.message })),
  });
}

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) })
  .openapi("Error");

/** Only the signed-in `address` itself (or the operator) may act on this resource. */
export function requireSelf(p: Principal, address: string): string {
  if (p.operator) return address;
  if (!p.address) throw unauthorized("AUTH_REQUIRED", "Sign in first.");
  if (p.address !== address) throw forbidden("NOT_OWNER", "You may act only on your own resources.");
  return p.address;
}

/** The signed-in wallet address; 401 when absent. */
export function walletOf(p: Principal): string {
  if (!p.address) throw unauthorized("AUTH_REQUIRED", "Sign in first (Sign-In with Ethereum or with Substrate).");
  return p.address;
}
