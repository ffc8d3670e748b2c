/** One client request and its answer, as a client process writes it (one JSON line each) and the checker reads it. */
export interface Op {
  client: number;
  seq: number;
  /** The action (`create-network`...) or a label for a malformed request (`bad-json`). */
  action: string;
  /** The network the request names (absent: none). */
  network?: string;
  dryRun: boolean;
  /** The API base URL it went to. */
  api: string;
  body: unknown;
  idempotencyKey?: string;
  /** seq of the request this one repeats with the same Idempotency-Key. */
  retryOf?: number;
  sentAt: number;
  ms: number;
  /** HTTP status; 0: no answer within the bound (a hang); -1: the connection failed (the API process was down). */
  status: number;
  code?: string;
  reason?: string;
  jobId?: string;
  replayed?: boolean;
  /** Whether the request was meant to be valid (the client's own expectation, for reporting only). */
  valid: boolean;
  error?: string;
}

/** The bound on one request: no answer by then is a hang. */
export const REQUEST_BOUND_MS = 30_000;

/**
 * A job's end as its client saw it (polling GET /api/jobs/<id> after the 202, as a real client would): the
 * checker's only source for a job whose record a later FLUSHALL deleted. One JSON line each in the client's
 * `.jobs.jsonl` file.
 */
export interface SeenJob {
  client: number;
  jobId: string;
  state: string;
  /** The host the job ran on. */
  host?: string;
  createdAt: string;
  finishedAt: string | null;
  seenAt: number;
}

/** The file a client writes its seen jobs to, beside its request log. */
export const seenJobsFile = (log: string) => log.replace(/\.jsonl$/, ".jobs.jsonl");
