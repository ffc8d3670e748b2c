/**
 * One BullMQ queue per host ("host-<id>"), created on first use and kept
 * for the life of the app, and the deadline-guarded commit that makes a job
 * submission take effect: claim, job record and queue entry in one MULTI
 * (see core's store/submission.ts).
 */
import { AppError, JOB_ATTEMPTS, JOB_BACKOFF_MS, type QueuedJobData } from "@netforge/core/contract";
import {
  addJobIn,
  bullJobKey,
  type CommitOutcome,
  commitOutcome,
  definedScripts,
  type HostQueue,
  jobRetention,
  type Keys,
  openHostQueue,
  type QueueClient,
  queueCommit,
  queueTombstoneDrop,
  queueTransaction,
  type Redis,
  type SubmissionCommit,
  connectionEpoch,
  isNoScriptError,
  isRedisUnavailableError,
  loadSubmissionScripts,
} from "@netforge/core/store";
import type { JobsOptions } from "bullmq";
import type { Logger } from "pino";

/** Finished BullMQ entries are trimmed by age (never kept longer than our own job records, which carry the history). */
const removeOnComplete = () => ({ age: Math.min(86_400, jobRetention().finishedSeconds) });
const removeOnFail = () => ({ age: Math.min(604_800, jobRetention().finishedSeconds) });

/** The result of a commit: the commit script's outcome, and whether BullMQ's add after it failed. */
export interface CommitResult {
  outcome: CommitOutcome;
  /** Set when the record was committed but the add in the same transaction failed (it then holds its error). */
  addError: Error | null;
}

export class HostQueues {
  private readonly queues = new Map<string, HostQueue>();
  /** A script load in flight: concurrent submissions that met NOSCRIPT together wait for one load. */
  private loading: Promise<void> | null = null;

  constructor(
    private readonly connection: Redis,
    private readonly keys: Keys,
    private readonly logger: Logger,
    /** Bound of waiting for a queue's connection (the request timeout). */
    private readonly timeoutMs: number,
  ) {}

  private queueFor(host: string): HostQueue {
    let q = this.queues.get(host);
    if (!q) {
      q = openHostQueue(this.connection, this.keys, host);
      // Outages are logged once by the connection's outage watch, not once per failed command.
      q.on("error", (err) => {
        if (!isRedisUnavailableError(err)) this.logger.warn({ err: err.message, host }, "queue error");
      });
      this.queues.set(host, q);
    }
    return q;
  }

  /** The BullMQ queue of a host (the queue dashboard shows it). */
  queue(host: string): HostQueue {
    return this.queueFor(host);
  }

  /** Jobs in a host's queue by state (/metrics: queue depth). */
  async counts(host: string): Promise<Record<string, number>> {
    const q = this.queueFor(host);
    await this.clientOf(host, q);
    return q.getJobCounts("waiting", "active", "delayed", "prioritized");
  }

  /**
   * Seconds the oldest job waiting in a host's queue has waited since it was added (0: none waiting). BullMQ
   * pushes new jobs on the left of the wait list and workers take from the right: the oldest is at index -1.
   */
  async oldestWaitingSeconds(host: string, now = Date.now()): Promise<number> {
    const q = this.queueFor(host);
    await this.clientOf(host, q);
    const id = await this.connection.lindex(q.toKey("wait"), -1);
    if (!id) return 0;
    const ts = Number(await this.connection.hget(q.toKey(id), "timestamp"));
    return Number.isFinite(ts) && ts > 0 ? Math.max(0, (now - ts) / 1000) : 0;
  }

  /** Job options: the BullMQ job id is our job id. */
  private jobOptions(jobId: string): JobsOptions & { jobId: string } {
    return {
      jobId,
      attempts: JOB_ATTEMPTS,
      backoff: { type: "exponential", delay: JOB_BACKOFF_MS },
      removeOnComplete: removeOnComplete(),
      removeOnFail: removeOnFail(),
    };
  }

  /** The queue's client once it is initialised (BullMQ's scripts loaded), bounded: it waits for a connection otherwise. */
  private async clientOf(host: string, q: HostQueue): Promise<QueueClient> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("Command timed out")), this.timeoutMs);
    });
    try {
      return await Promise.race([q.client, timeout]);
    } catch (err) {
      // A queue whose initialisation failed stays failed: drop it, the next request builds a new one.
      q.client.catch(() => {
        if (this.queues.get(host) === q) {
          this.queues.delete(host);
          void q.close().catch(() => undefined);
        }
      });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Commit a submission on `host`: one MULTI of the tombstone, the guarded
   * commit script, BullMQ's add of `data`, and the tombstone drop. Throws when
   * Redis does not answer (timeout, connection lost); otherwise reports what
   * happened. A commit script Redis did not hold (NOSCRIPT: nothing was
   * applied, see core's store/submission.ts) is loaded and the commit sent
   * once more, on the same connection and with the same deadline.
   */
  async commit(host: string, data: QueuedJobData, commit: Omit<SubmissionCommit, "bullJobKey">): Promise<CommitResult> {
    const q = this.queueFor(host);
    const client = await this.clientOf(host, q);
    // The queue's client is this.connection behind BullMQ's adapter: its epoch and defined scripts are that client's.
    const epoch = connectionEpoch(this.connection);
    for (let attempt = 0; ; attempt++) {
      const res = await this.commitOnce(q, client, data, commit);
      const [commitErr, commitRes] = res[1] ?? [new Error("no commit result"), null];
      const addErr = res[2]?.[0] ?? null;
      if (isNoScriptError(commitErr) || isNoScriptError(addErr)) {
        try {
          await this.loadScripts();
        } catch (err) {
          // Commit not applied: the load's error is the answer. Commit applied but not queued: that outcome must
          // still reach the caller (it fails the job and releases the claim); the next NOSCRIPT loads again.
          if (commitErr) throw err;
          this.logger.warn({ err: (err as Error).message }, "could not load the submission scripts");
        }
      }
      if (commitErr && isNoScriptError(commitErr) && attempt === 0) {
        // Same server only: the deadline is on its clock (a reconnect may have reached another one).
        if (connectionEpoch(this.connection) !== epoch) {
          throw new AppError(
            "UNAVAILABLE",
            "the store (Redis) reconnected during the request (failover?); the request was not applied",
            {},
          );
        }
        continue;
      }
      if (commitErr) throw commitErr;
      const outcome = commitOutcome(commitRes, commit.claim, commit.portClaim ?? null);
      return { outcome, addError: outcome.kind === "applied" ? addErr : null };
    }
  }

  private async commitOnce(
    q: HostQueue,
    client: QueueClient,
    data: QueuedJobData,
    commit: Omit<SubmissionCommit, "bullJobKey">,
  ): Promise<[Error | null, unknown][]> {
    const jobKey = bullJobKey(q, data.jobId);
    // BullMQ's transaction wraps an ioredis MULTI: our commands go on it as plain commands and EVALSHAs.
    const multi = queueTransaction(client);
    queueCommit(multi, this.keys, { ...commit, bullJobKey: jobKey });
    await addJobIn(multi, q, data, this.jobOptions(data.jobId));
    queueTombstoneDrop(multi, jobKey);
    const res = await multi.exec();
    if (res === null) throw new AppError("INTERNAL", "the submission transaction was discarded");
    return res;
  }

  /** Load the commit script with BullMQ's add scripts (they must come and go together: core's store/submission.ts). */
  private loadScripts(): Promise<void> {
    this.loading ??= this.loadScriptsNow().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private async loadScriptsNow(): Promise<void> {
    await loadSubmissionScripts(this.connection, definedScripts(this.connection, "add"));
  }

  /** Close every queue (the shared connection stays open: it is the caller's). */
  async close(): Promise<void> {
    const all = [...this.queues.values()];
    this.queues.clear();
    await Promise.allSettled(all.map((q) => q.close()));
  }
}
