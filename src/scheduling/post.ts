import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

const httpAgent = new HttpAgent({ keepAlive: true, keepAliveMsecs: 30_000 });
const httpsAgent = new HttpsAgent({ keepAlive: true, keepAliveMsecs: 30_000 });

/**
 * POSTs a JSON body to an agent's endpoint (webhooks) and resolves with the response status
 * once the response has been read. Plain node:http with keep-alive connections costs a few
 * times less CPU per call than `fetch`, which matters at one webhook per agent and event.
 * A redirect (which `fetch` would follow) is handed to `fetch`, so redirecting endpoints
 * behave as before.
 * @throws Error on a network failure or when `timeoutMs` passes before the response ends
 */
export async function postJson(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  const target = new URL(url);
  const deadline = Date.now() + timeoutMs;
  let status: number;
  try {
    status = await once(target, headers, body, timeoutMs);
  } catch (err) {
    // The server closed an idle keep-alive connection just as it was reused: the request never
    // reached it, so sending it again on a fresh connection is safe (once).
    if (!(err as { reused?: boolean }).reused || Date.now() >= deadline) throw err;
    status = await once(target, headers, body, deadline - Date.now());
  }
  if (status >= 300 && status < 400) {
    const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  }
  return status;
}

function once(target: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  const https = target.protocol === "https:";
  return new Promise<number>((resolve, reject) => {
    let responded = false;
    const req: ClientRequest = (https ? httpsRequest : httpRequest)(
      target,
      { method: "POST", agent: https ? httpsAgent : httpAgent, headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } },
      (res: IncomingMessage) => {
        responded = true;
        res.on("error", fail);
        res.on("end", () => {
          clearTimeout(timer);
          resolve(res.statusCode ?? 0);
        });
        res.resume();
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error) {
      clearTimeout(timer);
      const code = (err as { code?: string }).code;
      if (req.reusedSocket && !responded && (code === "ECONNRESET" || code === "EPIPE")) Object.assign(err, { reused: true });
      reject(err);
    }
    req.on("error", fail);
    req.end(body);
  });
}
