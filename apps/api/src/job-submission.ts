/**
 * The life of a mutating request: deadline, idempotency key, synchronous
 * checks, then one commit (claim, job record and queue entry together, see
 * core's store/submission.ts), answer.
 *
 * Redis outages: every command is bounded (the request client's timeout) and
 * the submission has a deadline on Redis's own clock, read with TIME at the
 * start: `deadline = TIME + timeout - margin`. Every write of the submission
 * is a script that checks TIME against it, so a command that reaches Redis
 * late (buffered by CLIENT PAUSE, a stalled server) changes nothing. A 503
 * after a timeout is sent no earlier than `timeout` after TIME answered, so
 * by then Redis's clock is past the deadline (assumption: Redis's clock does
 * not step back by more than the margin) and the request can no longer take
 * effect. A request refused before its commit forgets its idempotency key.
 */
import { createHash } from "node:crypto";
import {
  AppError,
  ERROR_STATUS,
  isErrorCode,
  type JobAction,
  type JobRequestOptions,
  type JobView,
  JOB_STEPS,
  versionMismatch,
} from "@netforge/core/contract";
import {
  checkTokenQuota,
  commitJobEvent,
  getJob,
  getNetworkVersion,
  isRedisUnavailableError,
  isTerminal,
  type JobRecord,
  newJobId,
  newJobRecord,
  redisTimeMs,
  confirmedOnReplica,
  connectionEpoch,
  portField,
  readStoreState,
  releaseNetworkClaim,
  type StoreState,
  releasePortClaims,
  toJobView,
  type TokenQuota,
} from "@netforge/core/store";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv, Services } from "./context";
import { claimIdempotencyKey, idempotencyRedisKey, parseIdempotencyKey, releaseIdempotencyKey, requestFingerprint } from "./idempotency";
import { apiHalfOf } from "./actions/index";
import { type JobBody, PlacedElsewhere, type PreparedJob } from "./job-preparers";
import { parsePreferWait } from "./prefer-header";

/** How long a repeat waits for a concurrent first request (same key) to create its job. */
const REPEAT_WAIT_MS = 5_000;
/** Kept off the submission's deadline: Redis clock steps and rounding up to this much cannot let a late write through. */
const DEADLINE_MARGIN_MS = 50;

/**
 * How long a request waits for a store that is re-publishing after it lost its data (store-epoch.ts) before it
 * is answered 503: the usual rebuild (a second or two) is waited out, a longer one is said.
 */
const STORE_REBUILD_WAIT_MS = 3_000;

/** The 503 of a request that came while the store re-publishes its index after losing its data. */
export function storeRebuilding(st: { why?: string; settlesInMs: number }): AppError {
  return new AppError(
    "UNAVAILABLE",
    "the store (Redis) lost its data and the hosts are re-publishing their networks and claims; nothing was applied: retry in a few seconds",
    { reason: "store_rebuilding", ...(st.why ? { phase: st.why } : {}) },
  );
}

/**
 * The store's state as this process can tell: an epoch that was seen and is gone is a reset no worker has noticed
 * yet (a second at most), rebuilding too.
 */
async function storeState(s: Services): Promise<StoreState> {
  const st = await readStoreState(s.redis, s.keys);
  if (st.kind === "settled" && st.epoch === null && s.storeEpochSeen) return { kind: "rebuilding", why: "lost", settlesInMs: 0 };
  if (st.kind === "settled" && st.epoch !== null) s.storeEpochSeen = st.epoch;
  return st;
}

/**
 * A refusal read from the index (no such network or host, a state...) while the store was reset under the
 * request is not the truth: answered as the reset instead. Only refusals pay for the second read.
 */
async function refusalUnderReset(s: Services, err: unknown, sawEpoch: string | null): Promise<unknown> {
  if (!(err instanceof AppError) || ERROR_STATUS[err.code] >= 500 || sawEpoch === null) return err;
  const now = await storeState(s).catch(() => null);
  if (now === null || (now.kind === "settled" && now.epoch === sawEpoch)) return err;
  return storeRebuilding(now.kind === "rebuilding" ? now : { why: "reset", settlesInMs: 0 });
}

/** Wait (bounded) until the store is settled; 503 if it does not settle in time. The epoch it settled under. */
async function awaitSettledStore(s: Services): Promise<string | null> {
  const until = Date.now() + STORE_REBUILD_WAIT_MS;
  for (;;) {
    const st = await storeState(s);
    if (st.kind === "settled") return st.epoch;
    if (Date.now() + 100 > until || s.shutdown.aborted) throw storeRebuilding(st);
    await new Promise((r) => setTimeout(r, Math.min(100, Math.max(10, st.settlesInMs || 100))));
  }
}

/** What a job records of the token that submitted it: a hash (the token itself is never stored). */
export function tokenLabel(token: string): string {
  return createHash("sha256").update(`netforge-job-owner\0${token}`).digest("hex").slice(0, 32);
}

/** The quota of unfinished jobs of the request's token (NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN). */
function quotaOf(s: Services, c: Context<AppEnv>): { owner: string; quota: TokenQuota } {
  const owner = tokenLabel(c.get("token"));
  return { owner, quota: { key: s.keys.tokenJobs(owner), limit: s.limits.queuedJobsPerToken } };
}

/** Latest Redis time (ms) at which this submission's writes may still take effect. */
async function submissionDeadline(s: Services): Promise<number> {
  return (await redisTimeMs(s.redis)) + s.config.redisTimeoutMs - DEADLINE_MARGIN_MS;
}

/**
 * Submit a job action whose body is already parsed; `raw` is the body as sent (for the idempotency
 * fingerprint); `opts`: its dryRun flag and expectPlan (the action route read them, see core's splitDryRun).
 */
export async function submitJob<A extends JobAction>(
  s: Services,
  c: Context<AppEnv>,
  action: A,
  body: JobBody<A>,
  raw: unknown,
  opts: JobRequestOptions,
): Promise<Response> {
  // The action's checks of the request alone, before anything is claimed or queued (dry runs get the same answer).
  apiHalfOf(action).admit?.(s, body);
  // Nothing is read from an index that is being rebuilt after a store reset (a 404 or a free name there is not
  // the truth): the request waits for it, briefly, or is answered 503.
  const storeEpoch = await awaitSettledStore(s);
  if (opts.dryRun) {
    return answerDryRun(s, c, action, body, opts.ifMatch).catch(async (err: unknown) => {
      throw await refusalUnderReset(s, err, storeEpoch);
    });
  }
  const waitSeconds = preferredWait(s, c);
  const idemKey = parseIdempotencyKey(c.req.header("Idempotency-Key"));
  const jobId = newJobId();
  // The connection the deadline's clock belongs to (see commitJob).
  let epoch = connectionEpoch(s.redis);
  // Read alongside the preparer's reads (one round trip less per submission); awaited before anything is written.
  let deadline = submissionDeadline(s);
  deadline.catch(() => undefined);

  let idemRedisKey: string | null = null;
  if (idemKey !== null) {
    idemRedisKey = idempotencyRedisKey(s.keys, c.get("token"), idemKey);
    const fingerprint = requestFingerprint(action, raw);
    const waitUntil = Date.now() + REPEAT_WAIT_MS;
    // A repeat waits for the first request's job; if that request failed (key released, or its deadline passed
    // without a job), the key is taken over and this request does the work itself.
    for (;;) {
      const claim = await claimIdempotencyKey(s.redis, s.keys, idemRedisKey, fingerprint, jobId, await deadline);
      if (claim.kind === "new") break;
      const original = await getJob(s.redis, s.keys, claim.jobId);
      if (original !== null) {
        c.header("Idempotent-Replayed", "true");
        return answerJob(s, c, original, waitSeconds);
      }
      if (Date.now() > waitUntil || s.shutdown.aborted) {
        throw new AppError("INVALID_STATE", "a request with this Idempotency-Key is still being processed; retry later", {
          retryable: true,
        });
      }
      await new Promise((r) => setTimeout(r, 25));
      epoch = connectionEpoch(s.redis);
      deadline = submissionDeadline(s);
      deadline.catch(() => undefined);
    }
  }

  let record: JobRecord | null = null;
  try {
    await apiHalfOf(action).prepare(
      s.redis,
      s.keys,
      body,
      async (prepared) => {
        await checkIfMatch(s, prepared.network, opts.ifMatch);
        record = await commitJob(s, c, action, jobId, prepared, await deadline, epoch, opts, storeEpoch);
      },
      { limits: s.limits, vniRange: s.config.vniRange },
    );
  } catch (caught) {
    const err = await refusalUnderReset(s, caught, storeEpoch);
    // A refused request forgets its key at once. After an outage error the key stays: the commit may have been
    // applied just before the connection broke, and then a repeat must replay that job; if it was not, the key is
    // taken over once its deadline has passed.
    const outage =
      isRedisUnavailableError(err) || (err instanceof AppError && err.code === "UNAVAILABLE" && err.details.reason !== "store_rebuilding");
    if (idemRedisKey && !outage) {
      await releaseIdempotencyKey(s.redis, idemRedisKey, jobId).catch((e: unknown) => {
        if (!isRedisUnavailableError(e)) c.get("log").error({ err: e }, "could not release an idempotency key");
      });
    }
    throw err;
  }
  if (record === null) throw new AppError("INTERNAL", "the job was not committed");
  const committed: JobRecord = record;
  s.metrics.jobEnqueued(action);
  c.get("log").info({ jobId, action, network: committed.network, host: committed.host }, "job queued");
  return answerJob(s, c, committed, waitSeconds);
}

/**
 * `"dryRun": true`: the same checks as the real call (nothing claimed, queued or changed), then the plan
 * instead of a job (see dry-run.ts).
 */
async function answerDryRun<A extends JobAction>(
  s: Services,
  c: Context<AppEnv>,
  action: A,
  body: JobBody<A>,
  ifMatch: number | null,
): Promise<Response> {
  let prepared: PreparedJob<A> | null = null;
  const half = apiHalfOf(action);
  await half.prepare(
    s.redis,
    s.keys,
    body,
    async (p) => {
      await checkIfMatch(s, p.network, ifMatch);
      prepared = p;
    },
    { checkOnly: true, limits: s.limits, vniRange: s.config.vniRange },
  );
  if (prepared === null) throw new AppError("INTERNAL", "the dry run prepared no job");
  await checkTokenQuota(s.redis, quotaOf(s, c).quota);
  return c.json({ plan: await half.plan(s, prepared, half.action) }, 200);
}

/**
 * If-Match at the door: the network's version must be the one the request names (412 PRECONDITION_FAILED with
 * `expected` and `current`, null for a network that does not exist). The worker checks it again under the
 * network's lock before any step, so a change that lands between the two still fails the job.
 */
async function checkIfMatch(s: Services, network: string, ifMatch: number | null): Promise<void> {
  if (ifMatch === null) return;
  const [exists, current] = await Promise.all([s.redis.exists(s.keys.network(network)), getNetworkVersion(s.redis, s.keys, network)]);
  const now = exists === 1 ? current : null;
  if (now !== ifMatch) throw versionMismatch(network, ifMatch, now);
}

/**
 * Commit one prepared job: record, queue entry and claim together, or
 * nothing. Throws the claim's refusal, or UNAVAILABLE when Redis did not take
 * it in time: with `details.jobId` when the transaction was in flight, since
 * only then could it have been applied (before the deadline, never after).
 */
async function commitJob<A extends JobAction>(
  s: Services,
  c: Context<AppEnv>,
  action: A,
  jobId: string,
  prepared: PreparedJob<A>,
  deadlineMs: number,
  epoch: number,
  opts: JobRequestOptions,
  storeEpoch: string | null,
): Promise<JobRecord> {
  // The deadline is on the clock of the server TIME was read from. After a reconnect (a Sentinel failover) the
  // commit would run on another server, whose clock may lag: then the deadline could let it apply after we
  // answered 503. Not sent at all instead (nothing applied, a plain 503).
  if (connectionEpoch(s.redis) !== epoch) {
    throw new AppError("UNAVAILABLE", "the store (Redis) reconnected during the request (failover?); the request was not applied", {});
  }
  const { owner, quota } = quotaOf(s, c);
  const record = newJobRecord({
    id: jobId,
    action,
    network: prepared.network,
    host: prepared.host,
    payload: prepared.payload,
    steps: JOB_STEPS[action],
    requestId: c.get("requestId"),
    owner,
  });
  const data = {
    jobId,
    action,
    payload: prepared.payload,
    ...(opts.expectPlan !== null ? { expectPlan: opts.expectPlan } : {}),
    ...(opts.ifMatch !== null ? { ifMatch: opts.ifMatch } : {}),
  };
  const result = await s.queues
    .commit(prepared.host, data, { deadlineMs, record, claim: prepared.claim, portClaim: prepared.portClaim ?? null, quota, storeEpoch })
    .catch((err: unknown) => {
      if (!isRedisUnavailableError(err)) throw err;
      throw new AppError(
        "UNAVAILABLE",
        `the store (Redis) did not answer in time; the request takes effect only if Redis applied it before the deadline: GET /api/jobs/${jobId} tells (404: it did not)`,
        { jobId },
        { cause: err },
      );
    });
  switch (result.outcome.kind) {
    case "expired":
      throw new AppError("UNAVAILABLE", "the store (Redis) answered too late; the request was not applied", {});
    case "rebuilding":
      // The store was reset between the door's check and the commit: refused atomically, nothing applied.
      throw storeRebuilding(result.outcome);
    case "place":
      throw new PlacedElsewhere(result.outcome.host);
    case "refused":
      throw result.outcome.error;
    case "applied":
      break;
  }
  if (result.addError) {
    await failUnqueuedJob(s, c, record, prepared);
    throw new AppError("INTERNAL", "the job could not be queued", {}, { cause: result.addError });
  }
  // On a replicated Redis (Sentinel), 202 only once a replica holds the job too: a failover right after must not
  // lose an accepted job. Unconfirmed, the outcome is unknown (the primary may keep it or die with it): answered
  // like any commit in flight during an outage, with the job id to look up.
  if (!(await confirmedOnReplica(s.redis, Math.floor(s.config.redisTimeoutMs / 2)).catch(() => false))) {
    throw new AppError(
      "UNAVAILABLE",
      `the store (Redis) did not confirm the job on a replica in time (failover?); it takes effect only if it survived: GET /api/jobs/${jobId} tells (404: it did not)`,
      { jobId },
    );
  }
  return record;
}

/**
 * The record and claim were committed but BullMQ's add in the same
 * transaction failed (Redis answered, so this can be undone): end the job, so
 * watchers are not left waiting, and give the claim back.
 */
async function failUnqueuedJob<A extends JobAction>(
  s: Services,
  c: Context<AppEnv>,
  r: JobRecord,
  prepared: PreparedJob<A>,
): Promise<void> {
  r.state = "failed";
  r.finishedAt = new Date().toISOString();
  r.error = { code: "INTERNAL", message: "the job could not be queued", details: {} };
  const steps: Promise<unknown>[] = [commitJobEvent(s.redis, s.keys, r, "failed")];
  if (prepared.claim) steps.push(releaseNetworkClaim(s.redis, s.keys, prepared.claim.name, prepared.host));
  const pc = prepared.portClaim;
  if (pc) steps.push(releasePortClaims(s.redis, s.keys, pc.host, pc.network, [portField(pc.protocol, pc.hostPort, pc.hostIp)]));
  for (const res of await Promise.allSettled(steps)) {
    if (res.status === "rejected") c.get("log").error({ err: res.reason }, "could not undo a failed submission");
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
    await s.bus.readyWithin(s.config.redisTimeoutMs);
    const now = await getJob(s.redis, s.keys, jobId);
    if (now && isTerminal(now.state)) return toJobView(now);
    return await done;
  } finally {
    off();
    clearTimeout(timer);
    for (const sig of signals) sig.removeEventListener("abort", stop);
  }
}
