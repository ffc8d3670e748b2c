/**
 * Keeps a job's record in step with the worker: state, attempts, the step
 * list with timings, result and error. Each change is one atomic record +
 * event write (core's commitJobEvent), which is what pollers and SSE see;
 * a step's start and every outcome are written by commitFencedJobEvent, which
 * checks and renews the network lock in the same script (see fence.ts).
 */
import type { AppError } from "@netforge/core/contract";
import {
  commitFencedJobEvent,
  commitJobEvent,
  getJob,
  type JobRecord,
  type Keys,
  percentOf,
  type Redis,
  confirmedOnReplica,
} from "@netforge/core/store";
import type { Fence } from "./fence";

/** How long an outcome write waits for a replica's confirmation (Sentinel only) before going on regardless. */
const REPLICA_WAIT_MS = 2_000;
/** How long an unconfirmed outcome is read back and written again (a Sentinel failover takes a few seconds). */
const OUTCOME_CONFIRM_MS = 15_000;
const OUTCOME_RECHECK_MS = 250;

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

  /**
   * Write the record and its event. `fenced`: only under the lock (when there is a fence), checked by the
   * write's own script in the same round trip (see Fence.write); `before` names the write for the lost-lock
   * error, `thenRecheck` when a host step follows it.
   */
  private async commit(
    type: "progress" | "succeeded" | "failed",
    fenced: { before: string; thenRecheck: boolean } | null = null,
  ): Promise<void> {
    this.record.progress.percent = type === "succeeded" ? 100 : percentOf(this.record.progress.steps);
    await this.write(type, fenced);
    if (type !== "progress") await this.confirmOutcome(type, fenced);
  }

  private async write(type: "progress" | "succeeded" | "failed", fenced: { before: string; thenRecheck: boolean } | null): Promise<void> {
    if (fenced && this.fence) {
      const record = this.record;
      await this.fence.write(
        fenced.before,
        async (lock) => (await commitFencedJobEvent(this.redis, this.keys, record, type, lock)) !== null,
        { thenRecheck: fenced.thenRecheck },
      );
    } else {
      await commitJobEvent(this.redis, this.keys, this.record, type);
    }
  }

  /**
   * An outcome must survive a failover (Sentinel): lost, the job looks unfinished and BullMQ delivers it again (the
   * chaos run, seed 2602: a create's success was lost, and its second delivery ran into its own network). Not
   * confirmed by a replica in time: read it back, and write it again if the store no longer has it (a failover
   * took it), until a replica confirms or OUTCOME_CONFIRM_MS pass. A write again that fails (the lock went with
   * the store) ends the tries: the outcome stands on the host, and what the store lost is the store's.
   */
  private async confirmOutcome(type: "succeeded" | "failed", fenced: { before: string; thenRecheck: boolean } | null): Promise<void> {
    const deadline = Date.now() + OUTCOME_CONFIRM_MS;
    while (!(await confirmedOnReplica(this.redis, REPLICA_WAIT_MS).catch(() => false))) {
      if (Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, OUTCOME_RECHECK_MS));
      const stored = await getJob(this.redis, this.keys, this.record.id).catch(() => undefined);
      if (stored === undefined || stored?.state === this.record.state) continue;
      try {
        await this.write(type, fenced);
      } catch {
        return;
      }
    }
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
    // Fenced like every later write: a store emptied between the record's read and this write (its BullMQ job gone
    // with it) must not get the record back as "running" (found by the chaos run, seed 2602: a later retry then
    // left it "queued" for its whole retention with nothing to run it). Lost, the job is lost with the store.
    await this.commit("progress", { before: "starting the job", thenRecheck: true });
  }

  /**
   * Run `fn` as the named step: running, then succeeded (or failed,
   * rethrowing). This is the one way host steps run: the step is shown
   * running by one script that first checks (and renews) the lock and writes
   * nothing when it is not held, and the lock's local flag is checked again
   * on its answer, right before `fn`. So a job that lost its lock neither
   * claims the step nor runs it (the step stays pending and the fence's
   * lost-lock error is thrown), at one round trip per step.
   */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const s = this.findStep(name);
    const stop = this.interrupt();
    if (stop) throw stop;
    const previous = this.record.progress.step;
    s.state = "running";
    s.startedAt = this.now();
    this.record.progress.step = name;
    try {
      await this.commit("progress", { before: `step '${name}'`, thenRecheck: true });
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
    await this.outcome("succeeded", "recording success", (r) => {
      r.state = "succeeded";
      r.result = result ?? null;
      r.error = null;
      r.progress.step = null;
      r.finishedAt = this.now();
    });
  }

  /** Final failure. Like success and retry, written only while the lock is held (checked by the write itself). */
  async failed(err: AppError): Promise<void> {
    await this.outcome("failed", "recording failure", (r) => {
      r.state = "failed";
      r.error = { code: err.code, message: err.message, details: err.details };
      r.finishedAt = this.now();
    });
  }

  /** A transient failure that BullMQ will retry: back to queued, with the reason as the current step. */
  async retrying(err: AppError, delayMs: number): Promise<void> {
    await this.outcome("progress", "recording the retry", (r) => {
      r.state = "queued";
      r.progress.step = `retrying in ${Math.round(delayMs / 1000)} s after: ${err.message}`;
      r.error = { code: err.code, message: err.message, details: err.details };
    });
  }

  /**
   * The worker stopped this attempt before it finished (shutdown): its changes
   * were undone and the job goes back to the queue as it was, no attempt used.
   */
  async requeued(reason: string): Promise<void> {
    await this.outcome("progress", "recording the requeue", (r) => {
      r.state = "queued";
      r.attempts = Math.max(0, r.attempts - 1);
      r.progress.step = `requeued: ${reason}`;
    });
  }

  /**
   * An outcome (or retry/requeue) write: `change` applied to the record, written under the lock (fenced in
   * the write's own round trip). When the lock turns out lost nothing was written, and the record is put
   * back as it was, so a later write (the undo's retry record, under a lock taken back) does not carry it.
   */
  private async outcome(type: "progress" | "succeeded" | "failed", before: string, change: (r: JobRecord) => void): Promise<void> {
    const r = this.record;
    const { state, result, error, finishedAt, attempts } = r;
    const { step, percent } = r.progress;
    change(r);
    try {
      await this.commit(type, { before, thenRecheck: false });
    } catch (err) {
      Object.assign(r, { state, result, error, finishedAt, attempts });
      Object.assign(r.progress, { step, percent });
      throw err;
    }
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
