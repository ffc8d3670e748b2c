/**
 * The in-process job event bus: ONE Redis subscriber per API process on the
 * events channel, fanned out to local listeners (SSE streams, `Prefer: wait`
 * requests). Listeners register before they read the job from Redis, and
 * `ready` resolves only once SUBSCRIBE is acknowledged, so nothing published
 * after a listener's read can be missed.
 */
import { AppError } from "@netforge/core/contract";
import type { JobEvent, Redis } from "@netforge/core/store";
import type { Logger } from "pino";

export type JobEventListener = (ev: JobEvent) => void;

export class JobEventBus {
  private readonly subscriber: Redis;
  private readonly byJob = new Map<string, Set<JobEventListener>>();
  private readonly everyJob = new Set<JobEventListener>();
  /** Sees every event like an onAny listener but is not one (metrics): not counted by listenerCount. */
  private observer: JobEventListener | null = null;
  private readonly subscribed: Promise<void>;
  private closed = false;

  constructor(
    redis: Redis,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {
    // It reconnects and re-subscribes by itself; its outages are logged by the app's outage watch.
    this.subscriber = redis.duplicate();
    this.subscriber.on("message", (ch: string, message: string) => {
      if (ch === this.channel) this.dispatch(message);
    });
    this.subscribed = this.subscriber.subscribe(this.channel).then(() => undefined);
    // Callers await `ready()`; this only keeps an early failure from being an unhandled rejection.
    this.subscribed.catch(() => {});
  }

  /** The subscriber connection (for the outage watch). */
  get connection(): Redis {
    return this.subscriber;
  }

  /** Resolves once the Redis subscription is active. */
  ready(): Promise<void> {
    return this.subscribed;
  }

  /** Like ready(), but UNAVAILABLE after `ms` (the subscriber waits for Redis; a request must not). */
  async readyWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AppError("UNAVAILABLE", "the store (Redis) cannot be reached: no event subscription; retry later", {})),
        ms,
      );
    });
    try {
      await Promise.race([this.subscribed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Listen to one job's events; returns the unsubscribe function. */
  onJob(jobId: string, fn: JobEventListener): () => void {
    let set = this.byJob.get(jobId);
    if (!set) {
      set = new Set();
      this.byJob.set(jobId, set);
    }
    set.add(fn);
    return () => {
      const s = this.byJob.get(jobId);
      if (!s) return;
      s.delete(fn);
      if (s.size === 0) this.byJob.delete(jobId);
    };
  }

  /** Listen to every job's events; returns the unsubscribe function. */
  onAny(fn: JobEventListener): () => void {
    this.everyJob.add(fn);
    return () => {
      this.everyJob.delete(fn);
    };
  }

  /** Set the one observer of every event (the metrics); it is not a listener, so leak checks do not count it. */
  observe(fn: JobEventListener): void {
    this.observer = fn;
  }

  /** Registered listeners (leak checks and the metrics gauge). */
  listenerCount(): number {
    let n = this.everyJob.size;
    for (const s of this.byJob.values()) n += s.size;
    return n;
  }

  /** Stop the subscriber; listeners stay registered but receive nothing more. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.subscriber.quit();
    } catch {
      this.subscriber.disconnect();
    }
  }

  private dispatch(message: string): void {
    let ev: JobEvent;
    try {
      ev = JSON.parse(message) as JobEvent;
    } catch {
      this.logger.warn("event bus: ignoring a message that is not JSON");
      return;
    }
    const targets = [...(this.byJob.get(ev.jobId) ?? []), ...this.everyJob, ...(this.observer ? [this.observer] : [])];
    for (const fn of targets) {
      try {
        fn(ev);
      } catch (err) {
        this.logger.error({ err }, "event bus listener failed");
      }
    }
  }
}
