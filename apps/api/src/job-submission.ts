/**
 * The life of a mutating request: idempotency key, synchronous checks (and
 * the claim), job record, queue, answer. Every step that can fail after an
 * earlier one took something gives it back (claim, idempotency key), so a
 * refused request leaves no trace in Redis.
 */
import {
  AppError,
  commitJobEvent,
  ERROR_STATUS,
  getJob,
  isErrorCode,
  isTerminal,
  type JobAction,
  type JobRecord,
  type JobView,
  JOB_STEPS,
  newJobId,
  newJobRecord,
  releaseNetworkClaim,
  saveNewJob,
  toJobView,
} from "@netforge/core";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv, Services } from "./context";
import {
  claimIdempotencyKey,
  idempotencyHeldFor,
  idempotencyRedisKey,
  parseIdempotencyKey,
  releaseIdempotencyKey,
  requestFingerprint,
} from "./idempotency";
import { planOf } from "./dry-run";
import { JOB_PREPARERS, type JobBody } from "./job-preparers";
import { parsePreferWait } from "./prefer-header";

/** How long a repeat waits for a concurrent first request (same key) to create its job. */
const REPEAT_WAIT_MS = 5_000;

/** Submit a job action whose body is already parsed; `raw` is the body as sent (for the idempotency fingerprint). */
export async function submitJob<A extends JobAction>(
  s: Services,
  c: Context<AppEnv>,
  action: A,
  body: JobBody<A>,
  raw: unknown,
): Promise<Response> {
  if ((body as { dryRun?: unknown }).dryRun === true) return answerDryRun(s, c, action, body);
  const waitSeconds = preferredWait(s, c);
  const idemKey = parseIdempotencyKey(c.req.header("Idempotency-Key"));
  const jobId = newJobId();

  let idemRedisKey: string | null = null;
  if (idemKey !== null) {
    idemRedisKey = idempotencyRedisKey(s.keys, c.get("token"), idemKey);
    const fingerprint = requestFingerprint(action, raw);
    // A repeat whose first request gave up before creating its job takes the key over and does the work itself.
    for (let attempt = 0; ; attempt++) {
      const claim = await claimIdempotencyKey(s.redis, idemRedisKey, fingerprint, jobId);
      if (claim.kind === "new") break;
      const original = await awaitOriginalJob(s, idemRedisKey, claim.jobId);
      if (original !== null) {
        c.header("Idempotent-Replayed", "true");
        return answerJob(s, c, original, waitSeconds);
      }
      if (attempt >= 10) throw new AppError("INVALID_STATE", "requests with this Idempotency-Key keep failing; retry later", {});
    }
  }

  let record: JobRecord | null = null;
  let claimedOn: { network: string; host: string } | null = null;
  let saved = false;
  try {
    const prepared = await JOB_PREPARERS[action](s.redis, s.keys, body);
    if (prepared.claimed) claimedOn = { network: prepared.network, host: prepared.host };
    record = newJobRecord({
      id: jobId,
      action,
      network: prepared.network,
      host: prepared.host,
      payload: prepared.payload,
      steps: JOB_STEPS[action],
      requestId: c.get("requestId"),
    });
    await saveNewJob(s.redis, s.keys, record);
    saved = true;
    await s.queues.enqueue(prepared.host, { jobId, action, payload: prepared.payload });
  } catch (err) {
    await undo(s, c, { claimedOn, idemRedisKey, jobId, savedRecord: saved ? record : null });
    throw err;
  }
  s.metrics.jobEnqueued(action);
  c.get("log").info({ jobId, action, network: record.network, host: record.host }, "job queued");
  return answerJob(s, c, record, waitSeconds);
}

/**
 * `"dryRun": true`: the same checks as the real call (nothing claimed, queued or changed), then the plan
 * instead of a job (see dry-run.ts).
 */
async function answerDryRun<A extends JobAction>(s: Services, c: Context<AppEnv>, action: A, body: JobBody<A>): Promise<Response> {
  const prepared = await JOB_PREPARERS[action](s.redis, s.keys, body, { checkOnly: true });
  return c.json({ plan: await planOf(s, action, prepared) }, 200);
}

/** Give back what a failed submission took. Failures here are logged, never thrown over the original error. */
async function undo(
  s: Services,
  c: Context<AppEnv>,
  what: { claimedOn: { network: string; host: string } | null; idemRedisKey: string | null; jobId: string; savedRecord: JobRecord | null },
): Promise<void> {
  const log = c.get("log");
  const steps: Promise<unknown>[] = [];
  if (what.claimedOn) steps.push(releaseNetworkClaim(s.redis, s.keys, what.claimedOn.network, what.claimedOn.host));
  if (what.idemRedisKey) steps.push(releaseIdempotencyKey(s.redis, what.idemRedisKey, what.jobId));
  if (what.savedRecord) {
    // The record exists but nothing will run it: end it, so watchers are not left waiting.
    const r = what.savedRecord;
    r.state = "failed";
    r.finishedAt = new Date().toISOString();
    r.error = { code: "INTERNAL", message: "the job could not be queued", details: {} };
    steps.push(commitJobEvent(s.redis, s.keys, r, "failed"));
  }
  for (const res of await Promise.allSettled(steps)) {
    if (res.status === "rejected") log.error({ err: res.reason }, "could not undo a failed submission");
  }
}

/** The job of the first request with this idempotency key once it exists; null when that request failed without one. */
async function awaitOriginalJob(s: Services, idemRedisKey: string, jobId: string): Promise<JobRecord | null> {
  const deadline = Date.now() + REPEAT_WAIT_MS;
  for (;;) {
    const rec = await getJob(s.redis, s.keys, jobId);
    if (rec) return rec;
    if (!(await idempotencyHeldFor(s.redis, idemRedisKey, jobId))) return null;
    if (Date.now() > deadline || s.shutdown.aborted) {
      throw new AppError("INVALID_STATE", "a request with this Idempotency-Key is still being processed; retry later", {
        retryable: true,
      });
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `Prefer: wait=N`, capped; sets Preference-Applied when honoured. */
function preferredWait(s: Services, c: Context<AppEnv>): number {
  const asked = parsePreferWait(c.req.header("Prefer"));
  if (asked === null) return 0;
  const applied = Math.min(asked, s.config.maxWaitSeconds);
  c.header("Preference-Applied", `wait=${applied}`);
  return applied;
}

/**
 * Answer with a job: 202 while it is unfinished; after a wait, 200 for a
 * succeeded job and the status of its error code for a failed one.
 */
export async function answerJob(s: Services, c: Context<AppEnv>, record: JobRecord, waitSeconds: number): Promise<Response> {
  const location = `/api/jobs/${record.id}`;
  c.header("Location", location);
  let view = toJobView(record);
  if (waitSeconds > 0 && !isTerminal(view.state)) {
    view = (await waitForTerminal(s, c, record.id, waitSeconds)) ?? view;
  }
  if (waitSeconds > 0 && view.state === "succeeded") return c.json({ job: view }, 200);
  if (waitSeconds > 0 && view.state === "failed" && view.error) {
    const code = isErrorCode(view.error.code) ? view.error.code : "INTERNAL";
    return c.json({ error: { ...view.error, requestId: c.get("requestId") }, job: view }, ERROR_STATUS[code] as ContentfulStatusCode);
  }
  return c.json({ job: view }, 202);
}

/**
 * Hold until the job is terminal or `seconds` pass (or the client leaves,
 * or the app shuts down). Listens first, reads second: a terminal event
 * published after the read is still heard.
 */
export async function waitForTerminal(s: Services, c: Context<AppEnv>, jobId: string, seconds: number): Promise<JobView | null> {
  let finish: (v: JobView | null) => void = () => {};
  const done = new Promise<JobView | null>((resolve) => {
    finish = resolve;
  });
  const off = s.bus.onJob(jobId, (ev) => {
    if (ev.type !== "progress") finish(ev.job);
  });
  const timer = setTimeout(() => finish(null), seconds * 1000);
  const stop = () => finish(null);
  const signals = [c.req.raw.signal, s.shutdown];
  for (const sig of signals) sig.addEventListener("abort", stop, { once: true });
  try {
    await s.bus.ready();
    const now = await getJob(s.redis, s.keys, jobId);
    if (now && isTerminal(now.state)) return toJobView(now);
    return await done;
  } finally {
    off();
    clearTimeout(timer);
    for (const sig of signals) sig.removeEventListener("abort", stop);
  }
}
