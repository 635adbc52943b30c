/**
 * One error tree for AICP. Services throw `AppError`s; the API maps them to HTTP once
 * (`status` + `{ error: { code, message } }`), workers map non-retryable ones to BullMQ's
 * `UnrecoverableError`.
 */
export class AppError extends Error {
  /**
   * @param code short machine-readable code, e.g. `TASK_NOT_FOUND`
   * @param message a sentence a person can act on
   * @param status HTTP status the API answers with
   * @param retryable whether trying the same thing again later may succeed
   */
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly retryable = false,
    options?: { cause?: unknown; details?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.details = options?.details;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
  readonly details: unknown;
  /** When set, the API answers with a `Retry-After` header of this many seconds (RFC 9110 §10.2.3). */
  readonly retryAfterSeconds: number | undefined;
}

export const badRequest = (code: string, message: string, details?: unknown) =>
  new AppError(code, message, 400, false, { details });
export const unauthorized = (code: string, message: string) => new AppError(code, message, 401);
export const forbidden = (code: string, message: string) => new AppError(code, message, 403);
export const notFound = (code: string, message: string) => new AppError(code, message, 404);
export const conflict = (code: string, message: string) => new AppError(code, message, 409);
/** 409 for a request that will be valid shortly (e.g. a chain state not yet confirmed): retry after `seconds`. */
export const notYet = (code: string, message: string, seconds: number) => new AppError(code, message, 409, true, { retryAfterSeconds: seconds });
export const unavailable = (code: string, message: string, cause?: unknown) =>
  new AppError(code, message, 503, true, { cause });
