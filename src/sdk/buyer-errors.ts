/**
 * Errors the buyer SDK raises itself (the coordinator's own answers arrive as
 * `AicpHttpError`, see ./session.ts). Each has a stable `code` a program can branch on and a
 * message a person can act on.
 *
 * Codes: `NO_CHAIN` (a chain operation without `chain` options), `NOT_DEPLOYED` (the deployments
 * file is missing or lacks a contract), `UNKNOWN_TOKEN`, `TX_REVERTED` (the contract refused; the
 * decoded custom error is in the message), `INSUFFICIENT_FUNDS`, `CHAIN_UNREACHABLE`,
 * `NOTHING_TO_WITHDRAW`, `CHALLENGE_PERIOD_ACTIVE`, `NO_WITHDRAWAL_REQUEST`, `TIMEOUT`,
 * `TASK_ENDED` (a wait saw the task end in another state), `NOT_DUE` (nothing to pay for a task),
 * `BAD_FUNDING_PLAN`, and the spending-policy refusals `POLICY_*` (see {@link PolicyError}).
 */
export class BuyerError extends Error {
  override readonly name: string = "BuyerError";
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/**
 * A payment the spending policy refused; nothing was signed. Codes: `POLICY_TOKEN` (token not
 * allowed), `POLICY_AGENT` (payee not allowed), `POLICY_MAX_PER_TASK` (a task's price above the
 * per-task limit), `POLICY_MAX_TOTAL` (the signer's total would pass its limit),
 * `POLICY_INCONSISTENT` (the coordinator asked for a payment that does not match the tasks:
 * not yours, not delivered, wrong token or payee, price above budget, or a due amount that is
 * not the sum of the prices).
 */
export class PolicyError extends BuyerError {
  override readonly name = "PolicyError";
}
