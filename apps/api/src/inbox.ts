/** A small async FIFO between a push-based source (the event bus) and one sequential consumer (an SSE loop). */

/** What `take` can return besides an item. */
export const TIMED_OUT = Symbol("timed out");
export const STOPPED = Symbol("stopped");

export class Inbox<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | null = null;
  private overflowed = false;

  /** `limit` bounds memory when the consumer stalls; past it the inbox reports STOPPED. */
  constructor(private readonly limit = 10_000) {}

  push(item: T): void {
    if (this.items.length >= this.limit) this.overflowed = true;
    else this.items.push(item);
    this.wake?.();
  }

  /** The next item; TIMED_OUT after `timeoutMs` without one; STOPPED on abort or overflow. */
  async take(signal: AbortSignal, timeoutMs: number): Promise<T | typeof TIMED_OUT | typeof STOPPED> {
    for (;;) {
      if (signal.aborted || this.overflowed) return STOPPED;
      const item = this.items.shift();
      if (item !== undefined) return item;
      const outcome = await new Promise<"wake" | "timeout">((resolve) => {
        const done = (why: "wake" | "timeout") => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          this.wake = null;
          resolve(why);
        };
        const onAbort = () => done("wake");
        const timer = setTimeout(() => done("timeout"), timeoutMs);
        signal.addEventListener("abort", onAbort, { once: true });
        this.wake = () => done("wake");
      });
      if (outcome === "timeout" && this.items.length === 0 && !signal.aborted) return TIMED_OUT;
    }
  }
}
