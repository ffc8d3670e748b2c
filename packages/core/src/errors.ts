/**
 * One error model for the whole system: a stable machine code, an HTTP status
 * derived from the code in one table, a human message and structured details.
 * The API serialises it as `{ error: { code, message, details, requestId } }`;
 * a job that fails stores the same object as its `error`.
 */

/** Every machine-readable error code netforge emits, mapped to its HTTP status. */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NAME_TAKEN: 409,
  CIDR_CONFLICT: 409,
  NETWORK_IN_USE: 409,
  PORT_CONFLICT: 409,
  IP_CONFLICT: 409,
  INVALID_STATE: 409,
  IDEMPOTENCY_MISMATCH: 409,
  LIMIT_REACHED: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_FOR_TYPE: 422,
  SRIOV_UNAVAILABLE: 422,
  NOT_ALLOWED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  HOST_COMMAND_FAILED: 502,
  NO_HOST: 503,
  HOST_UNAVAILABLE: 503,
  UNAVAILABLE: 503,
} as const;

/** A stable error code (the keys of ERROR_STATUS). */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Codes that mean "retrying the same job cannot help": the worker fails the job at once. */
export const NON_RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "VALIDATION_FAILED",
  "NOT_FOUND",
  "NAME_TAKEN",
  "CIDR_CONFLICT",
  "NETWORK_IN_USE",
  "PORT_CONFLICT",
  "IP_CONFLICT",
  "INVALID_STATE",
  "UNSUPPORTED_FOR_TYPE",
  "SRIOV_UNAVAILABLE",
  "IDEMPOTENCY_MISMATCH",
  "NOT_ALLOWED",
  "LIMIT_REACHED",
  "PRECONDITION_FAILED",
]);

/** The serialised form of an error, as it appears in HTTP bodies and job records. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
  requestId?: string;
}

/** The only error class the application throws on purpose. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  /** Overrides retry classification (e.g. a host command failure that is known to be permanent). */
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    opts: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "AppError";
    this.code = code;
    this.details = details;
    this.retryable = opts.retryable ?? !NON_RETRYABLE_CODES.has(code);
  }

  /** HTTP status for this error's code. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** Serialise for an HTTP body or a job record. */
  toBody(requestId?: string): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message, details: this.details };
    if (requestId !== undefined) body.requestId = requestId;
    return body;
  }

  /** Rebuild an AppError from its serialised form (e.g. a failed job's stored error). */
  static fromBody(body: ErrorBody): AppError {
    const code = isErrorCode(body.code) ? body.code : "INTERNAL";
    return new AppError(code, body.message, body.details ?? {});
  }
}

/** Type guard for ErrorCode values coming from untyped storage. */
export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === "string" && Object.hasOwn(ERROR_STATUS, v);
}

/** Wrap anything thrown into an AppError, keeping AppErrors as they are. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AppError("INTERNAL", message, {}, { cause: err });
}
