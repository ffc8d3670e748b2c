/**
 * The live display of one job: a spinner (ora) on the running step with its
 * elapsed time, and one persisted line per finished step (✔ succeeded,
 * ✖ failed, ↓ skipped, ↶ undone). Progress goes to stderr, results to stdout.
 */
import type { Ora } from "ora";
import type { ApiClient } from "./client";
import { CliError, EXIT } from "./exit-codes";
import { followJob, isTerminalState, type JobStepView, type JobViewLike } from "./job-stream";

const SYMBOL: Record<string, string> = { succeeded: "✔", failed: "✖", skipped: "↓", undone: "↶" };

/** "0.4s", "12.0s", "2m05s". */
export function formatElapsed(ms: number): string {
  const v = Math.max(0, ms);
  if (v < 60_000) return `${(v / 1000).toFixed(1)}s`;
  const m = Math.floor(v / 60_000);
  return `${m}m${String(Math.floor((v % 60_000) / 1000)).padStart(2, "0")}s`;
}

function stepElapsed(s: JobStepView, now: number): string {
  if (!s.startedAt) return "";
  const end = s.finishedAt ? Date.parse(s.finishedAt) : now;
  return formatElapsed(end - Date.parse(s.startedAt));
}

export type FollowOutcome = { kind: "done"; job: JobViewLike } | { kind: "detached"; job: JobViewLike };

/** Follow `job` to its end with a live display (or silently with `quiet`); Ctrl-C detaches. */
export async function followWithProgress(client: ApiClient, first: JobViewLike, opts: { quiet: boolean }): Promise<FollowOutcome> {
  const stream = process.stderr;
  // Loaded here, not at start: a command that follows no job does not pay for the spinner's modules.
  const { default: ora } = await import("ora");
  const spinner: Ora = ora({ stream, discardStdin: false, isEnabled: !opts.quiet && stream.isTTY === true, isSilent: opts.quiet });
  const say = (line: string) => {
    if (!opts.quiet) stream.write(`${line}\n`);
  };
  const printed = new Map<string, string>();
  let latest = first;
  let note = "";
  const stop = new AbortController();
  let detached = false;
  const onSigint = () => {
    detached = true;
    stop.abort();
  };
  process.on("SIGINT", onSigint);

  const started = Date.now();
  const refresh = () => {
    const running = latest.progress.steps.find((s) => s.state === "running");
    const now = Date.now();
    let text: string;
    if (running) text = `${running.name} (${stepElapsed(running, now)})`;
    else if (latest.state === "queued") text = `queued on host ${latest.host} (${formatElapsed(now - started)})`;
    else text = `${latest.state} (${formatElapsed(now - started)})`;
    spinner.text = note ? `${text}  ${note}` : text;
  };
  const update = (job: JobViewLike) => {
    latest = job;
    for (const s of job.progress.steps) {
      if (s.state === "pending" || s.state === "running" || printed.get(s.name) === s.state) continue;
      printed.set(s.name, s.state);
      const symbol = SYMBOL[s.state] ?? "•";
      const suffix = s.state === "undone" ? "undone" : s.state === "skipped" ? "skipped" : stepElapsed(s, Date.now());
      const line = `${symbol} ${s.name}${suffix ? ` (${suffix})` : ""}`;
      if (spinner.isSpinning) spinner.clear();
      say(line);
    }
    if (!isTerminalState(job.state)) {
      refresh();
      if (!spinner.isSpinning) spinner.start();
    }
  };

  say(`job ${first.id}: ${first.action} ${first.network} on host ${first.host}`);
  update(first);
  const ticker = setInterval(refresh, 100);
  try {
    if (!isTerminalState(first.state)) {
      for await (const job of followJob(client, first.id, {
        signal: stop.signal,
        onReconnect: (attempt, reason) => {
          note = `(event stream lost: ${reason}; reconnecting, attempt ${attempt})`;
          refresh();
        },
      })) {
        note = "";
        update(job);
      }
    }
  } catch (err) {
    spinner.stop();
    throw err instanceof CliError ? err : new CliError((err as Error).message, EXIT.UNEXPECTED);
  } finally {
    clearInterval(ticker);
    process.off("SIGINT", onSigint);
    spinner.stop();
  }
  if (detached || !isTerminalState(latest.state)) return { kind: "detached", job: latest };
  return { kind: "done", job: latest };
}
