/**
 * Keeps a job's record in step with the worker: state, attempts, the step
 * list with timings, result and error. Each change is one atomic record +
 * event write (core's commitJobEvent), which is what pollers and SSE see.
 */
import { type AppError, commitJobEvent, type JobRecord, type Keys, percentOf, type Redis, confirmedOnReplica } from "@netforge/core";
import type { Fence } from "./fence";

/** How long an outcome write waits for a replica's confirmation (Sentinel only) before going on regardless. */
const REPLICA_WAIT_MS = 2_000;

export class JobReporter {
  /**
   * @param fence checked right before every step (the job's network lock,
   *   see fence.ts); without one (tests of handlers alone) steps just run.
   */
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly record: JobRecord,
    public fence: Fence | null = null,
  ) {}

  /**
   * Asked before every step: an error here stops the job before that step (the
   * worker is shutting down and its grace is over). Undo and outcome writes are
   * not interrupted.
   */
  interrupt: () => AppError | null = () => null;

  private now(): string {
    return new Date().toISOString();
  }

  private async commit(type: "progress" | "succeeded" | "failed"): Promise<void> {
    this.record.progress.percent = type === "succeeded" ? 100 : percentOf(this.record.progress.steps);
    await commitJobEvent(this.redis, this.keys, this.record, type);
    // An outcome must survive a failover (Sentinel): lost, the job would look unfinished and run again.
    if (type !== "progress") await confirmedOnReplica(this.redis, REPLICA_WAIT_MS).catch(() => false);
  }

  /** The job (or a retry of it) starts running. */
  async started(attempt: number): Promise<void> {
    this.record.state = "running";
    this.record.attempts = attempt;
    this.record.startedAt ??= this.now();
    for (const s of this.record.progress.steps) {
      s.state = "pending";
      s.startedAt = null;
      s.finishedAt = null;
    }
    this.record.progress.step = null;
    await this.commit("progress");
  }

  /**
   * Run `fn` as the named step: running, then succeeded (or failed,
   * rethrowing). This is the one way host steps run: the fence is checked
   * before the step is shown running and again right before `fn`, so a job
   * that lost its lock neither claims the step nor runs it (the step stays
   * pending and the fence's lost-lock error is thrown).
   */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const s = this.findStep(name);
    const stop = this.interrupt();
    if (stop) throw stop;
    await this.fence?.(`step '${name}'`);
    const previous = this.record.progress.step;
    s.state = "running";
    s.startedAt = this.now();
    this.record.progress.step = name;
    await this.commit("progress");
    try {
      await this.fence?.(`step '${name}'`);
    } catch (err) {
      s.state = "pending";
      s.startedAt = null;
      this.record.progress.step = previous;
      throw err;
    }
    try {
      const out = await fn();
      s.state = "succeeded";
      s.finishedAt = this.now();
      return out;
    } catch (err) {
      s.state = "failed";
      s.finishedAt = this.now();
      throw err;
    }
  }

  /** Mark a step as not needed for this job (e.g. DHCP verification with DHCP off). */
  skip(name: string): void {
    const s = this.findStep(name);
    s.state = "skipped";
    s.finishedAt = this.now();
  }

  /** Mark steps whose changes were rolled back. */
  markUndone(names: Iterable<string>): void {
    for (const n of names) {
      const s = this.record.progress.steps.find((x) => x.name === n);
      if (s && s.state === "succeeded") s.state = "undone";
    }
  }

  warn(message: string): void {
    this.record.warnings.push(message);
  }

  async succeeded(result: unknown): Promise<void> {
    await this.fence?.("recording success");
    this.record.state = "succeeded";
    this.record.result = result ?? null;
    this.record.error = null;
    this.record.progress.step = null;
    this.record.finishedAt = this.now();
    await this.commit("succeeded");
  }

  /** Final failure. Like success and retry, written only after the fence confirmed the lock. */
  async failed(err: AppError): Promise<void> {
    await this.fence?.("recording failure");
    this.record.state = "failed";
    this.record.error = { code: err.code, message: err.message, details: err.details };
    this.record.finishedAt = this.now();
    await this.commit("failed");
  }

  /** A transient failure that BullMQ will retry: back to queued, with the reason as the current step. */
  async retrying(err: AppError, delayMs: number): Promise<void> {
    await this.fence?.("recording the retry");
    this.record.state = "queued";
    this.record.progress.step = `retrying in ${Math.round(delayMs / 1000)} s after: ${err.message}`;
    this.record.error = { code: err.code, message: err.message, details: err.details };
    await this.commit("progress");
  }

  /**
   * The worker stopped this attempt before it finished (shutdown): its changes
   * were undone and the job goes back to the queue as it was, no attempt used.
   */
  async requeued(reason: string): Promise<void> {
    await this.fence?.("recording the requeue");
    this.record.state = "queued";
    this.record.attempts = Math.max(0, this.record.attempts - 1);
    this.record.progress.step = `requeued: ${reason}`;
    await this.commit("progress");
  }

  private findStep(name: string) {
    let s = this.record.progress.steps.find((x) => x.name === name);
    if (!s) {
      s = { name, state: "pending", startedAt: null, finishedAt: null };
      this.record.progress.steps.push(s);
    }
    return s;
  }
}
