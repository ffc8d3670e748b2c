/**
 * Server-Sent Events plumbing shared by the job and dashboard streams: the
 * open-stream registry (gauge, close on shutdown), heartbeats, and one
 * cleanup path whichever way a stream ends (done, client gone, shutdown).
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { Logger } from "pino";
import type { AppEnv } from "./context";
import type { ApiMetrics } from "./metrics";

/** What a stream body gets: a sender and a signal that fires when the stream must stop. */
export interface SseChannel {
  send(event: string, id: string, data: unknown): Promise<void>;
  signal: AbortSignal;
}

export class SseStreams {
  private readonly open = new Set<AbortController>();
  private closed = false;

  constructor(
    private readonly metrics: ApiMetrics,
    private readonly heartbeatMs: number,
    private readonly logger: Logger,
  ) {}

  /**
   * Answer `c` with an event stream driven by `body`. `cleanup` runs exactly
   * once when the stream ends for any reason (it unregisters bus listeners).
   */
  respond(c: Context<AppEnv>, body: (ch: SseChannel) => Promise<void>, cleanup: () => void): Response {
    // Proxies (nginx) would otherwise buffer the stream.
    c.header("X-Accel-Buffering", "no");
    return streamSSE(c, async (stream) => {
      const stop = new AbortController();
      const abort = () => stop.abort();
      const clientSignal = c.req.raw.signal;
      this.open.add(stop);
      this.metrics.sseOpened();
      stream.onAbort(abort);
      clientSignal.addEventListener("abort", abort, { once: true });
      // A stream that slipped in during shutdown ends at once.
      if (clientSignal.aborted || this.closed) abort();
      const heartbeat = setInterval(() => {
        void stream.write(": hb\n\n");
      }, this.heartbeatMs);
      try {
        await stream.write(": connected\n\n");
        await body({
          signal: stop.signal,
          send: async (event, id, data) => {
            if (stop.signal.aborted) return;
            await stream.writeSSE({ event, id, data: JSON.stringify(data) });
          },
        });
      } catch (err) {
        (c.get("log") ?? this.logger).error({ err }, "SSE stream failed");
      } finally {
        clearInterval(heartbeat);
        clientSignal.removeEventListener("abort", abort);
        this.open.delete(stop);
        this.metrics.sseClosed();
        cleanup();
      }
    });
  }

  /** Streams open right now. */
  get size(): number {
    return this.open.size;
  }

  /** End every open stream (shutdown). */
  closeAll(): void {
    this.closed = true;
    for (const s of this.open) s.abort();
  }
}
