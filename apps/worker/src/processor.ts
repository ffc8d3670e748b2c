/**
 * The BullMQ processor: one job at a time per network (Redis lock), steps
 * reported as progress, undo on failure, and the retry decision: conflicts
 * and validation failures end the job at once; transient host failures are
 * retried with backoff by BullMQ. A busy network lock puts the job back to
 * wait (delayed) instead of holding a worker slot.
 */
import {
  type AppError,
  getJob,
  isTerminal,
  type JobAction,
  JOB_BACKOFF_MS,
  type QueuedJobData,
  releaseNetworkClaim,
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
const LOCK_TTL_MS = 30_000;

export function makeProcessor(host: HostContext) {
  return async function process(job: Job<QueuedJobData>, token?: string): Promise<unknown> {
    const { jobId, action, payload } = job.data;
    const record = await getJob(host.redis, host.keys, jobId);
    if (!record) throw new UnrecoverableError(`job record ${jobId} is missing`);
    if (isTerminal(record.state)) return record.result; // delivered again after finishing: nothing to do

    const lock = await tryLock(host.redis, host.keys.networkLock(record.network), LOCK_TTL_MS);
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

async function finalFailure(host: HostContext, action: string, network: string, report: JobReporter, err: AppError) {
  // A failed create gives its name and subnet back so a corrected request can be accepted.
  if (action === "create-network") await releaseNetworkClaim(host.redis, host.keys, network, host.hostId);
  await report.failed(err);
}
