/**
 * Server-Sent Events plumbing shared by the job and dashboard streams: the
 * open-stream registry (caps per token and in total, gauges, close on
 * shutdown), heartbeats, and one cleanup path whichever way a stream ends
 * (done, client gone, shutdown).
 */
import { ServerResponse } from "node:http";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { AppError } from "@netforge/core/contract";
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

/** A reserved place for one stream; released exactly once (when the stream ends, or when it never starts). */
export interface SseSlot {
  release(): void;
}

/** How long a refused client is told to wait: streams are long-lived, so a slot frees at no predictable time. */
export const SSE_RETRY_AFTER_SECONDS = 5;

/** The last thing a stream ended by shutdown carries: a comment, and a short reconnection delay for EventSource. */
export const SHUTDOWN_COMMENT = ": server shutting down; reconnect with Last-Event-ID\nretry: 1000\n\n";

export interface SseLimits {
  maxPerToken: number;
  maxTotal: number;
}

export class SseStreams {
  private readonly open = new Set<AbortController>();
  /** Reserved slots (open streams and streams being set up), per token and in total. */
  private readonly perToken = new Map<string, number>();
  private reserved = 0;
  private closed = false;
  /** Streams written straight to node's response (see respondRaw), for the shared heartbeat. */
  private readonly raw = new Set<ServerResponse>();
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly metrics: ApiMetrics,
    private readonly heartbeatMs: number,
    private readonly logger: Logger,
    private readonly limits: SseLimits = { maxPerToken: Number.POSITIVE_INFINITY, maxTotal: Number.POSITIVE_INFINITY },
  ) {}

  /**
   * Take a stream slot for `token`, or refuse with RATE_LIMITED when the
   * token or the process has as many streams open as allowed. Taken before
   * any work for the stream, and handed to `respond`, which frees it when
   * the stream ends; a caller that fails before `respond` releases it.
   */
  reserve(token: string): SseSlot {
    const mine = this.perToken.get(token) ?? 0;
    const scope = mine >= this.limits.maxPerToken ? "token" : this.reserved >= this.limits.maxTotal ? "total" : null;
    if (scope !== null) {
      this.metrics.sseRefused(scope);
      const limit = scope === "token" ? this.limits.maxPerToken : this.limits.maxTotal;
      const what = scope === "token" ? "for this token" : "on this server";
      throw new AppError("RATE_LIMITED", `too many open event streams ${what} (limit ${limit}); close one or retry later`, {
        scope,
        limit,
        retryAfterSeconds: SSE_RETRY_AFTER_SECONDS,
      });
    }
    this.perToken.set(token, mine + 1);
    this.reserved += 1;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.reserved -= 1;
        const n = (this.perToken.get(token) ?? 1) - 1;
        if (n <= 0) this.perToken.delete(token);
        else this.perToken.set(token, n);
      },
    };
  }

  /** The most streams any one token holds right now (the per-token gauge: tokens themselves are never exposed). */
  maxPerTokenInUse(): number {
    let max = 0;
    for (const n of this.perToken.values()) max = Math.max(max, n);
    return max;
  }

  /**
   * Answer `c` with an event stream driven by `body`. `cleanup` runs exactly
   * once when the stream ends for any reason (it unregisters bus listeners),
   * and `slot` is released then.
   */
  respond(c: Context<AppEnv>, slot: SseSlot, body: (ch: SseChannel) => Promise<void>, cleanup: () => void): Response {
    // Proxies (nginx) would otherwise buffer the stream.
    c.header("X-Accel-Buffering", "no");
    // Served by node's HTTP server (always, outside in-process tests): write the stream to the response itself.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing instanceof ServerResponse) return this.respondRaw(c, outgoing, slot, body, cleanup);
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
        if (this.closed && !clientSignal.aborted) {
          // Shutdown, not the end of the job: tell the client to come back (to another API, or this one
          // restarted) and resume from its Last-Event-ID; nothing of the job's history is lost.
          await stream.write(SHUTDOWN_COMMENT);
        }
      } catch (err) {
        (c.get("log") ?? this.logger).error({ err }, "SSE stream failed");
      } finally {
        clearInterval(heartbeat);
        clientSignal.removeEventListener("abort", abort);
        this.open.delete(stop);
        this.metrics.sseClosed();
        slot.release();
        cleanup();
      }
    });
  }

  /**
   * The same stream written straight to node's ServerResponse: no web
   * ReadableStream/TransformStream pair, writer and timer per stream (about
   * half of a stream's memory with Hono's streamSSE, measured at 10,000
   * streams in bench/scale.ts); one heartbeat timer serves every stream.
   */
  private respondRaw(
    c: Context<AppEnv>,
    res: ServerResponse,
    slot: SseSlot,
    body: (ch: SseChannel) => Promise<void>,
    cleanup: () => void,
  ): Response {
    const headers: Record<string, string> = {};
    c.res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    delete headers["content-type"];
    delete headers["content-length"];
    res.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "transfer-encoding": "chunked",
    });
    const stop = new AbortController();
    const abort = () => stop.abort();
    let clientGone = false;
    const gone = () => {
      clientGone = true;
      abort();
    };
    res.once("close", gone);
    this.open.add(stop);
    this.raw.add(res);
    this.ensureHeartbeat();
    this.metrics.sseOpened();
    if (this.closed) abort();
    /** Write, waiting for the socket to drain when its buffer is full (a slow client holds only its own stream). */
    const write = async (text: string) => {
      if (res.writableEnded || res.destroyed) return;
      if (!res.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.once("drain", done);
          res.once("close", done);
        });
      }
    };
    // The stream keeps its request id, not the request's context (headers, request objects, its child logger)
    // for its whole life.
    const requestId: string | undefined = c.get("requestId");
    void (async () => {
      try {
        await write(": connected\n\n");
        await body({
          signal: stop.signal,
          send: async (event, id, data) => {
            if (stop.signal.aborted) return;
            await write(`event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`);
          },
        });
        if (this.closed && !clientGone) await write(SHUTDOWN_COMMENT);
      } catch (err) {
        (requestId ? this.logger.child({ requestId }) : this.logger).error({ err }, "SSE stream failed");
      } finally {
        res.off("close", gone);
        if (!res.writableEnded) res.end();
        this.raw.delete(res);
        this.open.delete(stop);
        this.metrics.sseClosed();
        slot.release();
        cleanup();
      }
    })();
    return RESPONSE_ALREADY_SENT;
  }

  /** One timer writes the heartbeat comment to every raw stream; it stops when none is left. */
  private ensureHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      if (this.raw.size === 0 && this.heartbeat) {
        clearInterval(this.heartbeat);
        this.heartbeat = null;
        return;
      }
      for (const res of this.raw) if (!res.writableEnded && !res.destroyed) res.write(": hb\n\n");
    }, this.heartbeatMs);
    this.heartbeat.unref();
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
