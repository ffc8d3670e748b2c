/**
 * The BullMQ processor: one job at a time per network (Redis lock), steps
 * reported as progress, undo on failure, and the retry decision: conflicts
 * and validation failures end the job at once; transient host failures are
 * retried with backoff by BullMQ. A busy network lock puts the job back to
 * wait (delayed) instead of holding a worker slot.
 *
 * Fencing (see fence.ts): every step, undo and outcome write is preceded by a
 * check against Redis that this run still holds the network lock. A run that
 * lost it stops; it undoes and records only under a lock it took back, and
 * otherwise leaves host and record to the holder and runs again later.
 */
import { AppError, type ErrorCode, JOB_BACKOFF_MS, type QueuedJobData, toAppError, versionMismatch } from "@netforge/core/contract";
import {
  borrowLock,
  bumpNetworkVersion,
  countWorkerEvent,
  getJob,
  getNetworkVersion,
  isTerminal,
  tryLock,
  type HeldLock,
} from "@netforge/core/store";
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import type { HostContext } from "./context";
import { modelFor } from "@netforge/core/model";
import { NetworkType } from "@netforge/core/contract";

/** A create's network type, from its payload (other payloads have none). */
function typeInPayload(payload: unknown): NetworkType | null {
  const t = NetworkType.safeParse((payload as { type?: unknown } | null)?.type);
  return t.success ? t.data : null;
}
import { fenceFor, isLockLost, LOCK_LOST, lockLostError } from "./fence";
import { afterFinalFailure, runJobAction } from "./actions/index";
import { driverFor } from "./drivers/registry";
import { JobReporter } from "./job-reporter";
import { Revert } from "./revert";

/** How long a job waits before trying a busy network's lock again. */
const LOCK_RETRY_MS = 150;
/** How many lock TTLs failAbandonedJob waits for a busy network lock before leaving the record as it is. */
const ABANDONED_WAIT_TTLS = 4;

/** Options of the job processor (from the worker's configuration). */
export interface ProcessorOptions {
  /** TTL of the per-network lock (NETFORGE_LOCK_TTL_MS). */
  lockTtlMs: number;
  /**
   * True once the worker is stopping and its grace for running jobs is over:
   * a running job then stops before its next host step, undoes its changes
   * and goes back to the queue (see stoppedError).
   */
  interrupted?: () => boolean;
}

/** Words of the error (and the requeued step) of a job stopped by its worker's shutdown. */
export const WORKER_STOPPING = "the worker stopped before this job finished";

function stoppedError(hostId: string): AppError {
  return new AppError(
    "INTERNAL",
    `${WORKER_STOPPING} (host ${hostId}); its changes were undone and it runs again`,
    {
      workerStopping: true,
    },
    { retryable: true },
  );
}

function isWorkerStopping(err: AppError): boolean {
  return err.details.workerStopping === true;
}

export function makeProcessor(host: HostContext, opts: ProcessorOptions) {
  return async function process(job: Job<QueuedJobData>, token?: string): Promise<unknown> {
    const { jobId, action, payload } = job.data;
    const record = await getJob(host.redis, host.keys, jobId);
    if (!record) throw new UnrecoverableError(`job record ${jobId} is missing`);
    if (isTerminal(record.state)) return record.result; // delivered again after finishing: nothing to do

    const parent = job.data.parent;
    // A member host's part of a job spanning hosts runs under its coordinator's lock, never one of its own: a
    // coordinator that no longer holds it (finished, failed, gone) leaves nothing for a stale part to do.
    const lock = parent
      ? await borrowLock(host.redis, host.keys.networkLock(record.network), parent.lockToken, opts.lockTtlMs)
      : await tryLock(host.redis, host.keys.networkLock(record.network), opts.lockTtlMs);
    if (!lock && parent) {
      host.logger.warn({ jobId, parent: parent.jobId }, "a member part whose coordinating job no longer holds the network: not applied");
      // Its record ends here: no run can hold that token again, so nothing else would ever end it (it stayed "queued"
      // when a killed coordinator's job, delivered again, had queued parts of its own: ADR 0051). Not fenced: there
      // is no lock to fence with, and no other run of this part can write under a token that is gone.
      await new JobReporter(host.redis, host.keys, record).failed(
        new AppError(
          "INTERNAL",
          `not applied: its coordinating job ${parent.jobId} (host ${parent.host}) no longer holds the network (it ended, or its worker stopped and the job runs again with parts of its own)`,
          { parent: parent.jobId, notApplied: true },
          { retryable: false },
        ),
      );
      return null;
    }
    if (!lock) {
      // Counted for /metrics; a lost increment must not fail the job.
      await countWorkerEvent(host.redis, host.keys, host.hostId, "lock_waits").catch(() => undefined);
      await job.moveToDelayed(Date.now() + LOCK_RETRY_MS + Math.floor(Math.random() * 100), token);
      throw new DelayedError();
    }
    const logger = host.logger.child({ jobId, action, network: record.network, requestId: record.requestId });
    const lockKey = host.keys.networkLock(record.network);
    /** The lock this run holds now: the one taken above, or the one taken back after losing it. */
    let held: HeldLock | null = lock;
    const report = new JobReporter(host.redis, host.keys, record, fenceFor(lock, record.network));
    report.interrupt = () => (opts.interrupted?.() ? stoppedError(host.hostId) : null);
    const revert = new Revert();
    const unpinFirewall = host.firewall.pin(record.network);
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    // What an earlier delivery of this job id got to (read before this one resets the steps): see JobContext.
    const earlierSteps = new Set(record.progress.steps.filter((s) => s.state === "running" || s.state === "succeeded").map((s) => s.name));
    // This host finished this job before (job-journal.ts) and the store lost the outcome: a success is run again as
    // the redelivery of a job whose steps were all done; a final failure is recorded again below.
    const journaled = host.journal?.find(jobId);
    if (journaled?.state === "succeeded") for (const s of journaled.steps) earlierSteps.add(s);
    const journal = (state: "succeeded" | "failed", error?: AppError) =>
      host.journal?.record({
        id: jobId,
        state,
        steps: record.progress.steps.filter((s) => s.state === "succeeded").map((s) => s.name),
        ...(error ? { error: { code: error.code, message: error.message, details: error.details } } : {}),
        at: new Date().toISOString(),
      }) ?? Promise.resolve();
    try {
      await report.started(attempt);
      logger.info({ attempt }, "job started");
      if (journaled)
        logger.warn({ state: journaled.state }, "this host finished this job before and the store lost its outcome: recording it again");
      if (journaled?.state === "failed") {
        const e = journaled.error;
        throw new AppError((e?.code ?? "INTERNAL") as ErrorCode, e?.message ?? "this job failed on this host before", e?.details ?? {}, {
          retryable: false,
        });
      }
      // Nothing read from Redis is trusted: the payload must pass the schemas the API used, for this job's
      // action, network and host (VALIDATION_FAILED, final, before any host step).
      if (record.action !== action) {
        throw new AppError(
          "VALIDATION_FAILED",
          `the queued job's action '${action}' is not its record's '${record.action}'; nothing was changed`,
          {
            issues: [{ path: "action", message: `must be '${record.action}'` }],
          },
        );
      }
      // If-Match: the network's version now, under its lock, must be the one the request was made against. A
      // redelivered job that already began skips it (its own success may have moved the version).
      const ifMatch = job.data.ifMatch;
      if (ifMatch !== undefined && earlierSteps.size === 0) {
        const exists = (await host.redis.exists(host.keys.network(record.network))) === 1;
        const current = exists ? await getNetworkVersion(host.redis, host.keys, record.network) : null;
        if (current !== ifMatch) throw versionMismatch(record.network, ifMatch, current);
      }
      const expectPlan = job.data.expectPlan;
      const ctx = {
        ...host,
        logger,
        report,
        revert,
        earlierSteps,
        lockToken: lock.token,
        ...(expectPlan ? { expectPlan } : {}),
        ...(parent ? { parentJob: { jobId: parent.jobId, host: parent.host } } : {}),
      };
      // The network's type before the job (the catalog's; a create's from its payload): see below.
      const typeBefore = host.catalog.get(record.network)?.def.spec?.type ?? typeInPayload(payload);
      const result = await runJobAction(action, ctx, payload, { network: record.network, host: host.hostId });
      // A type made on a host device (bridge, sriov) changed what the host's inventory shows (a NIC's master, VFs):
      // published before the success, so a dry run made right after it plans from the host as it is now.
      if (typeBefore && modelFor(typeBefore).door && host.publishHostNow) {
        await host.publishHostNow().catch((err: unknown) => logger.warn({ err }, "could not publish the host's inventory after the job"));
      }
      // What the type publishes of its host state besides the index record (an overlay's part on this member).
      const after = typeBefore ? driverFor(typeBefore).afterJob : undefined;
      if (after)
        await after(host, record.network).catch((err: unknown) =>
          logger.warn({ err }, "could not publish the network's host state after the job"),
        );
      // A change applied: the network's version +1 (nothing for a network the job removed), before the success
      // is recorded, so whoever sees the success reads the new version.
      await report.fence?.("bumping the network's version");
      // (A member's part: the coordinating job bumps it once, for the whole job.)
      if (!parent) await bumpNetworkVersion(host.redis, host.keys, record.network);
      await journal("succeeded");
      await report.succeeded(result); // fenced: only under the lock
      revert.success();
      host.hostChanged(record.network);
      logger.info("job succeeded");
      return result;
    } catch (thrown) {
      let err = toAppError(thrown);
      // Another delivery of this very job (BullMQ gave it out again after its lock lapsed) already ended it: its
      // outcome stands (the fenced writes refuse to overwrite it), and what this run did is not undone, since the
      // host is now as that outcome left it (chaos seed 3003: a delete's "succeeded" overwritten by "failed").
      const now = await getJob(host.redis, host.keys, jobId).catch(() => null);
      if (now && isTerminal(now.state)) {
        logger.warn(
          { attempt, err: err.message, state: now.state },
          "another delivery of this job already ended it: nothing undone or recorded",
        );
        return now.result;
      }
      if (parent && (isLockLost(err) || !(await lock.confirm()))) {
        // The coordinator let go of the network: it has given up on this part (and undoes what it knows of);
        // nothing more is done or recorded here under a lock that is not ours.
        logger.warn({ err: err.message, parent: parent.jobId }, "a member part lost its coordinator's lock: stopped");
        throw new UnrecoverableError(err.message);
      }
      if (isLockLost(err) || !(await lock.confirm())) {
        // Whatever failed, it failed while the lock was (or became) someone else's: the host may have been
        // changed by the lock's next holder, so the finding means nothing; stop as a lost lock.
        if (!isLockLost(err)) err = lockLostError(record.network, "handling its failure");
        await lock.release().catch(() => undefined); // deletes nothing unless the key still had our token
        held = await tryLock(host.redis, lockKey, opts.lockTtlMs).catch(() => null);
        if (!held) {
          // Someone else holds the network now. Touch neither the host (our undo could undo their work) nor
          // the record (it may be written by another run of this very job): the holder's work stands, and this
          // job runs again once the lock is free, from whatever state the host is in then.
          logger.warn({ attempt, err: err.message }, `${LOCK_LOST}: not undoing or recording anything; the job runs again later`);
          return await runAgainLater(job, token, attempt, maxAttempts, err);
        }
        logger.warn({ attempt, err: err.message }, `${LOCK_LOST}; took it back to undo this attempt`);
        report.fence = fenceFor(held, record.network);
      }
      const fence = report.fence;
      const failedStep = record.progress.steps.find((s) => s.state === "failed")?.name;
      if (failedStep && err.details.step === undefined) err.details.step = failedStep;
      const undo = await revert.run({ before: (e) => fence?.(`undo '${e.label}'`) ?? Promise.resolve() });
      report.markUndone(undo.undone.map((u) => u.step).filter((s): s is string => s !== null));
      if (undo.failed.length > 0) {
        err.details.undoFailures = undo.failed.map((f) => ({ undo: f.entry.label, error: f.error }));
        logger.error({ undoFailures: err.details.undoFailures }, "undo incomplete");
      }
      const stopped = isWorkerStopping(err) && undo.failed.length === 0;
      const final = !stopped && (!err.retryable || attempt >= maxAttempts);
      try {
        if (stopped) {
          // Shutdown, host back as before this attempt: back to the queue as it was (DelayedError uses no
          // attempt); the next start of this host's worker runs it from the beginning.
          await report.requeued(`${WORKER_STOPPING} (host ${host.hostId})`);
          logger.warn({ attempt }, "job stopped by shutdown, changes undone, requeued");
          await job.moveToDelayed(Date.now() + 1000, token);
          throw new DelayedError();
        }
        if (final) await journal("failed", err);
        if (final && parent) {
          // The coordinating job owns the claims and the index: a member part only records its own failure.
          await report.fence?.("recording failure");
          await report.failed(err);
          logger.warn({ code: err.code, err: err.message }, "member part failed");
        } else if (final) {
          await finalFailure(host, action, record.network, report, err);
          logger.warn({ code: err.code, err: err.message, details: err.details }, "job failed");
        } else {
          const delay = JOB_BACKOFF_MS * 2 ** (attempt - 1);
          await report.retrying(err, delay);
          logger.warn({ code: err.code, err: err.message, attempt, delay }, "job failed, will retry");
        }
      } catch (recordErr) {
        if (!isLockLost(recordErr)) throw recordErr;
        logger.warn({ attempt, err: err.message }, `${LOCK_LOST} before recording the outcome; the job runs again later`);
        return await runAgainLater(job, token, attempt, maxAttempts, err);
      }
      throw final ? new UnrecoverableError(err.message) : err;
    } finally {
      unpinFirewall();
      await held?.release().catch((e: unknown) => logger.warn({ err: e }, "could not release the network lock; it expires"));
    }
  };
}

/**
 * After a lost lock that could not be taken back: hand the job back to BullMQ
 * without recording anything. Before the last attempt this is an ordinary
 * retry (backoff); on the last attempt the job is put back to wait instead,
 * because failing it finally would leave its record unfinished (we may not
 * write it) — the next run, under the lock, records the outcome itself.
 * If BullMQ's own job lock is gone too, another run of this job has it.
 */
async function runAgainLater(
  job: Job<QueuedJobData>,
  token: string | undefined,
  attempt: number,
  maxAttempts: number,
  err: AppError,
): Promise<never> {
  if (attempt < maxAttempts) throw err;
  await job.moveToDelayed(Date.now() + JOB_BACKOFF_MS, token);
  throw new DelayedError();
}

/**
 * A job BullMQ failed without our processor finishing it (it stalled more
 * often than allowed: its workers kept dying). Its record would otherwise say
 * "running" forever; fail it like any final failure, but only under the
 * network lock. The lock is usually still held by the dead worker's last run
 * of this job (it expires within the TTL) or by another job of the network,
 * so it is tried again every second (TTL/3 if shorter) for up to ABANDONED_WAIT_TTLS
 * TTLs. If it is still busy then (or the worker stops), the record is left
 * as it is (see docs/adr/0008-fencing.md).
 */
export async function failAbandonedJob(
  host: HostContext,
  job: Job<QueuedJobData>,
  reason: string,
  opts: ProcessorOptions & { stopping?: () => boolean },
): Promise<void> {
  if (!(await job.isFailed())) return; // a failed attempt that BullMQ will retry
  const deadline = Date.now() + ABANDONED_WAIT_TTLS * opts.lockTtlMs;
  for (;;) {
    const record = await getJob(host.redis, host.keys, job.data.jobId);
    if (!record || isTerminal(record.state)) return; // our processor already recorded the outcome
    const lock = await tryLock(host.redis, host.keys.networkLock(record.network), opts.lockTtlMs);
    if (lock) {
      try {
        const err = new AppError("INTERNAL", `the job was abandoned: ${reason}`, { attempts: job.attemptsMade });
        const report = new JobReporter(host.redis, host.keys, record, fenceFor(lock, record.network));
        await finalFailure(host, job.data.action, record.network, report, err);
        host.logger.error({ jobId: record.id, reason }, "abandoned job marked failed");
        return;
      } finally {
        await lock.release().catch(() => undefined);
      }
    }
    if (Date.now() > deadline || opts.stopping?.()) {
      host.logger.warn(
        { jobId: record.id, network: record.network, reason },
        "abandoned job not recorded as failed: its network lock stayed busy; the record is left as it is",
      );
      return;
    }
    // Short sleeps, so a stopping worker is not held up by this wait.
    await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(100, Math.floor(opts.lockTtlMs / 3)))));
  }
}

async function finalFailure(host: HostContext, action: string, network: string, report: JobReporter, err: AppError) {
  // The index changes below are part of the final record: only under the lock, like the record itself.
  await report.fence?.("recording failure");
  // What the action took when it was queued (a create's claim, a forward's host port) goes back with it.
  await afterFinalFailure(host, action, network);
  await report.failed(err);
}
