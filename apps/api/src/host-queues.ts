/** One BullMQ queue per host ("host-<id>"), created on first use and kept for the life of the app. */
import { type JobAction, JOB_ATTEMPTS, JOB_BACKOFF_MS, jobRetention, type Keys, type QueuedJobData, type Redis } from "@netforge/core";
import { Queue } from "bullmq";
import type { Logger } from "pino";

/** Finished BullMQ entries are trimmed by age (never kept longer than our own job records, which carry the history). */
const removeOnComplete = () => ({ age: Math.min(86_400, jobRetention().finishedSeconds) });
const removeOnFail = () => ({ age: Math.min(604_800, jobRetention().finishedSeconds) });
/**
 * BullMQ's per-queue event stream (read by QueueEvents, which netforge does
 * not use: job events have their own streams) would otherwise hold 10,000
 * entries, a few MB per host. Trimmed approximately, so it stays near this.
 */
const QUEUE_EVENTS_MAX_LEN = 200;

export class HostQueues {
  private readonly queues = new Map<string, Queue<QueuedJobData, unknown, JobAction>>();

  constructor(
    private readonly connection: Redis,
    private readonly keys: Keys,
    private readonly logger: Logger,
  ) {}

  private queueFor(host: string): Queue<QueuedJobData, unknown, JobAction> {
    let q = this.queues.get(host);
    if (!q) {
      q = new Queue<QueuedJobData, unknown, JobAction>(this.keys.hostQueue(host), {
        connection: this.connection,
        prefix: this.keys.bull,
        streams: { events: { maxLen: QUEUE_EVENTS_MAX_LEN } },
      });
      q.on("error", (err) => this.logger.warn({ err: err.message, host }, "queue error"));
      this.queues.set(host, q);
    }
    return q;
  }

  /** Put a job on its host's queue; the BullMQ job id is our job id (a repeat add is a no-op). */
  async enqueue(host: string, data: QueuedJobData): Promise<void> {
    await this.queueFor(host).add(data.action, data, {
      jobId: data.jobId,
      attempts: JOB_ATTEMPTS,
      backoff: { type: "exponential", delay: JOB_BACKOFF_MS },
      removeOnComplete: removeOnComplete(),
      removeOnFail: removeOnFail(),
    });
  }

  /** Close every queue (the shared connection stays open: it is the caller's). */
  async close(): Promise<void> {
    const all = [...this.queues.values()];
    this.queues.clear();
    await Promise.allSettled(all.map((q) => q.close()));
  }
}
