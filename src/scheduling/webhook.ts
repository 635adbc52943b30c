import { createHmac } from "node:crypto";

/**
 * Signs a webhook body: `X-AICP-Signature: t=<ms>,v1=<hex HMAC-SHA256(secret, "<ms>.<body>")>`.
 * The agent verifies it with the `webhookSecret` it received at registration and rejects
 * stale timestamps.
 */
export function signWebhookBody(secret: string, timestampMs: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${timestampMs}.${body}`).digest("hex");
  return `t=${timestampMs},v1=${mac}`;
}
