/**
 * Follow one job's Server-Sent Events until its terminal event, reconnecting
 * with Last-Event-ID when the stream drops (the API replays what was missed,
 * each event once). Yields every job snapshot it receives.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import type { ApiClient } from "./client";
import { CliError, EXIT } from "./exit-codes";

/** One step of a job as the API shows it (a type, not an interface: a row the CLI's table() can print as it is). */
export type JobStepView = {
  name: string;
  state: "pending" | "running" | "succeeded" | "failed" | "undone" | "skipped";
  startedAt: string | null;
  finishedAt: string | null;
};
export interface JobViewLike {
  id: string;
  action: string;
  network: string;
  host: string;
  state: "queued" | "running" | "succeeded" | "failed";
  progress: { percent: number; step: string | null; steps: JobStepView[] };
  result: unknown;
  error: { code: string; message: string; details: Record<string, unknown> } | null;
  warnings: string[];
  attempts: number;
}

export const isTerminalState = (s: string) => s === "succeeded" || s === "failed";

export interface FollowOptions {
  signal: AbortSignal;
  /** Give up after the stream could not be re-opened for this long. */
  reconnectForMs?: number;
  /** Called on each reconnect attempt (shown by the progress display). */
  onReconnect?: (attempt: number, reason: string) => void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/** The job as each event carries it, ending with the terminal one. Throws CliError(CONNECTION) when the stream stays lost. */
export async function* followJob(client: ApiClient, id: string, opts: FollowOptions): AsyncGenerator<JobViewLike> {
  let lastEventId: string | null = null;
  let failingSince: number | null = null;
  let attempt = 0;
  const budget = opts.reconnectForMs ?? 60_000;
  for (;;) {
    if (opts.signal.aborted) return;
    let reason = "the stream ended before the job did";
    try {
      const res = await client.openJobEvents(id, lastEventId, opts.signal);
      failingSince = null;
      attempt = 0;
      const events = (res.body as ReadableStream<Uint8Array>)
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream());
      for await (const ev of events) {
        if (ev.id) lastEventId = ev.id;
        if (!ev.event || !ev.data) continue;
        const job = JSON.parse(ev.data) as JobViewLike;
        yield job;
        if (ev.event === "succeeded" || ev.event === "failed") return;
      }
      // A stream resumed after the job ended may carry nothing more: the job record says how it ended.
      const job = (await client.getJob(id)) as JobViewLike;
      if (isTerminalState(job.state)) {
        yield job;
        return;
      }
    } catch (err) {
      if (opts.signal.aborted) return;
      // Errors the API answered (404, 401...) will not heal by retrying.
      if (err instanceof CliError && err.exitCode !== EXIT.CONNECTION) throw err;
      reason = err instanceof Error ? err.message : String(err);
    }
    if (opts.signal.aborted) return;
    failingSince ??= Date.now();
    if (Date.now() - failingSince > budget) {
      throw new CliError(`lost the event stream of job ${id}: ${reason}; the job continues: netforge job watch ${id}`, EXIT.CONNECTION);
    }
    attempt += 1;
    opts.onReconnect?.(attempt, reason);
    await sleep(Math.min(250 * 2 ** Math.min(attempt, 4), 4_000), opts.signal);
  }
}
