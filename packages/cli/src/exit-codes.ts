/**
 * Exit codes of `netforge`: one per class of failure, so scripts can tell a
 * mistake in the request from a conflict, a job that failed on its host and
 * an API that cannot be reached.
 */
export const EXIT = {
  OK: 0,
  /** An unexpected error (a bug, or the API answered 500). */
  UNEXPECTED: 1,
  /** Bad usage or a request the API refused as invalid (VALIDATION_FAILED, UNSUPPORTED_FOR_TYPE, PAYLOAD_TOO_LARGE). */
  VALIDATION: 2,
  /** Refused because of the cluster's state (NAME_TAKEN, CIDR_CONFLICT, INVALID_STATE, IDEMPOTENCY_MISMATCH: HTTP 409; PRECONDITION_FAILED: 412). */
  CONFLICT: 3,
  /** The network, job or host does not exist (NOT_FOUND). */
  NOT_FOUND: 4,
  /** The job ran on its host and failed (its error is printed). */
  JOB_FAILED: 5,
  /** The token is missing, unknown or lacks the role (UNAUTHORIZED, FORBIDDEN), or sits in a config file others may read. */
  AUTH: 6,
  /** The API cannot be reached, is unavailable (503: no Redis, no host) or rate-limits (429), or the event stream was lost. */
  CONNECTION: 7,
  /** A question on the terminal (delete?) answered no: nothing was sent. */
  CANCELLED: 8,
  /** Ctrl-C while following a job: the job goes on; `netforge job watch <id>` follows it again. */
  DETACHED: 130,
} as const;

/** The table shown by --help and the README. */
export const EXIT_CODE_HELP = `Exit codes:
  0    success (a followed job succeeded)
  1    unexpected error (API answered 500, or a bug)
  2    invalid usage or request (VALIDATION_FAILED, UNSUPPORTED_FOR_TYPE, PAYLOAD_TOO_LARGE)
  3    conflict with the cluster's state (NAME_TAKEN, CIDR_CONFLICT, INVALID_STATE, IDEMPOTENCY_MISMATCH,
       PRECONDITION_FAILED: the network changed since the plan)
  4    not found (NOT_FOUND)
  5    the job failed on its host (its error code, message and details are printed)
  6    authentication or permission (UNAUTHORIZED, FORBIDDEN; a config file other users may read or write)
  7    connection problem: API unreachable, unavailable (503), rate limited (429), or the job's event stream lost
  8    cancelled: a confirmation question (delete) was answered no; nothing was sent
  130  detached with Ctrl-C while following a job (the job continues)`;

/** The exit code for an error answer of the API. */
export function exitCodeForApiError(status: number, code: string): number {
  if (code === "VALIDATION_FAILED" || code === "UNSUPPORTED_FOR_TYPE" || code === "PAYLOAD_TOO_LARGE") return EXIT.VALIDATION;
  if (code === "UNAUTHORIZED" || code === "FORBIDDEN" || status === 401 || status === 403) return EXIT.AUTH;
  if (code === "NOT_FOUND" || status === 404) return EXIT.NOT_FOUND;
  if (status === 409 || status === 412) return EXIT.CONFLICT;
  if (status === 429 || status === 503 || status === 502 || status === 504) return EXIT.CONNECTION;
  if (status === 400 || status === 413 || status === 422) return EXIT.VALIDATION;
  return EXIT.UNEXPECTED;
}

/** An API error as the API sent it. */
export interface ApiErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
  requestId?: string;
}

/** A failure that ends the command with `exitCode` after printing its message. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly apiError: ApiErrorBody | null = null,
  ) {
    super(message);
    this.name = "CliError";
  }
}
