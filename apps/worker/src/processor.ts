/**
 * The BullMQ processor: one job at a time per network (Redis lock), steps
 * reported as progress, undo on failure, and the retry decision: conflicts
 * and validation failures end the job at once; transient host failures are
 * retried with backoff by BullMQ. A busy network lock puts the job back to
 * wait (delayed) instead of holding a worker slot.
 */
import {
  AppError,
  getJob,
  getNetwork,
  isTerminal,
  type JobAction,
  JOB_BACKOFF_MS,
  type QueuedJobData,
  releaseNetworkClaim,
  removeNetwork,
  toAppError,
  tryLock,
} from "@netforge/core";
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import type { HostContext } from "./context";
import { HANDLERS } from "./handlers/index";
import { JobReporter } from "./job-reporter";
import { Revert } from "./revert";

/** How long a job waits before trying a busy network's lock again. */
const LOCK_RETRY_MS = 150;

/** Options of the job processor (from the worker's configuration). */
export interface ProcessorOptions {
  /** TTL of the per-network lock (NETFORGE_LOCK_TTL_MS). */
  lockTtlMs: number;
}

export function makeProcessor(host: HostContext, opts: ProcessorOptions) {
  return async function process(job: Job<QueuedJobData>, token?: string): Promise<unknown> {
    const { jobId, action, payload } = job.data;
    const record = await getJob(host.redis, host.keys, jobId);
    if (!record) throw new UnrecoverableError(`job record ${jobId} is missing`);
    if (isTerminal(record.state)) return record.result; // delivered again after finishing: nothing to do

    const lock = await tryLock(host.redis, host.keys.networkLock(record.network), opts.lockTtlMs);
    if (!lock) {
      await job.moveToDelayed(Date.now() + LOCK_RETRY_MS + Math.floor(Math.random() * 100), token);
      throw new DelayedError();
    }
    const logger = host.logger.child({ jobId, action, network: record.network, requestId: record.requestId });
    const report = new JobReporter(host.redis, host.keys, record);
    const revert = new Revert();
    const attempt = job.attemptsMade + 1;
    try {
      await report.started(attempt);
      logger.info({ attempt }, "job started");
      const handler = HANDLERS[action as JobAction] as (ctx: unknown, p: unknown) => Promise<unknown>;
      const result = await handler({ ...host, logger, report, revert }, payload);
      revert.success();
      await report.succeeded(result);
      host.hostChanged();
      logger.info("job succeeded");
      return result;
    } catch (thrown) {
      const err = toAppError(thrown);
      const failedStep = record.progress.steps.find((s) => s.state === "failed")?.name;
      if (failedStep && err.details.step === undefined) err.details.step = failedStep;
      const undo = await revert.run();
      report.markUndone(undo.undone.map((u) => u.step).filter((s): s is string => s !== null));
      if (undo.failed.length > 0) {
        err.details.undoFailures = undo.failed.map((f) => ({ undo: f.entry.label, error: f.error }));
        logger.error({ undoFailures: err.details.undoFailures }, "undo incomplete");
      }
      const maxAttempts = job.opts.attempts ?? 1;
      const final = !err.retryable || attempt >= maxAttempts;
      if (final) {
        await finalFailure(host, action, record.network, report, err);
        logger.warn({ code: err.code, err: err.message, details: err.details }, "job failed");
        throw new UnrecoverableError(err.message);
      }
      const delay = JOB_BACKOFF_MS * 2 ** (attempt - 1);
      await report.retrying(err, delay);
      logger.warn({ code: err.code, err: err.message, attempt, delay }, "job failed, will retry");
      throw err;
    } finally {
      await lock.release();
    }
  };
}

/**
 * A job BullMQ failed without our processor finishing it (it stalled more
 * often than allowed: its workers kept dying). Its record would otherwise say
 * "running" forever; fail it like any final failure, under the network lock.
 */
export async function failAbandonedJob(
  host: HostContext,
  job: Job<QueuedJobData>,
  reason: string,
  opts: ProcessorOptions,
): Promise<void> {
  if (!(await job.isFailed())) return; // a failed attempt that BullMQ will retry
  const record = await getJob(host.redis, host.keys, job.data.jobId);
  if (!record || isTerminal(record.state)) return; // our processor already recorded the outcome
  const lock = await tryLock(host.redis, host.keys.networkLock(record.network), opts.lockTtlMs);
  try {
    const err = new AppError("INTERNAL", `the job was abandoned: ${reason}`, { attempts: job.attemptsMade });
    await finalFailure(host, job.data.action, record.network, new JobReporter(host.redis, host.keys, record), err);
    host.logger.error({ jobId: record.id, reason }, "abandoned job marked failed");
  } finally {
    await lock?.release();
  }
}

async function finalFailure(host: HostContext, action: string, network: string, report: JobReporter, err: AppError) {
  if (action === "create-network") {
    // The create job itself writes the index record only on success, but a reconcile may have indexed the
    // half-made network meanwhile (the start-up reconcile after a crash mid-create, or a periodic one while
    // it was defined). Libvirt no longer has it (undone), so drop that record now, under the network lock,
    // instead of leaving a ghost network in list/describe until the next reconcile.
    try {
      if ((await host.virsh.info(network)) === null) {
        const rec = await getNetwork(host.redis, host.keys, network);
        if (rec?.host === host.hostId) await removeNetwork(host.redis, host.keys, network);
      }
    } catch (e) {
      host.logger.warn({ err: e, network }, "could not check for a stale index record; the next reconcile removes it");
    }
    // A failed create gives its name and subnet back so a corrected request can be accepted.
    await releaseNetworkClaim(host.redis, host.keys, network, host.hostId);
  }
  await report.failed(err);
}
