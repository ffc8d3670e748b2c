/**
 * The host's own record of the jobs it finished (issue 16, ADR 0048 "Fourth round"). A job's outcome lives in the
 * store, and the store can lose it after the client saw it: a primary paused past its failover wakes believing it
 * is still the primary and takes writes (a job's "succeeded", which a client reading through it sees) until the
 * sentinels demote it and it throws them away; the job then looks unfinished, BullMQ gives it out again, and the
 * second run, finding its own work done (a deleted network gone, a stopped one stopped), failed (chaos seed 3003:
 * three jobs whose client saw "succeeded" ended "failed"). The host is where the work happened, so the host keeps
 * the word: right before a job's outcome is recorded in the store, the worker appends it here (one JSON line,
 * fsynced). A delivery of a job the journal has finished does not start it again from nothing: a success runs the
 * action as the redelivery of a job whose every step was done (the handlers' `earlierSteps` path: bookkeeping
 * only, the host left as it is), a final failure records the same failure again (its changes were undone).
 * Bounded: rewritten with its newest KEEP entries when it holds twice that many. NETFORGE_JOB_JOURNAL=off: none.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { open, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";

/** What the journal keeps of a finished job. */
export interface JournalEntry {
  id: string;
  state: "succeeded" | "failed";
  /** The steps that had run (succeeded) when it finished: a redelivery's `earlierSteps`. */
  steps: string[];
  /** A final failure's error (code, message, details), recorded again on a redelivery. */
  error?: { code: string; message: string; details?: Record<string, unknown> };
  at: string;
}

/** Entries kept after a rewrite (the journal is rewritten when it holds twice as many). */
export const JOURNAL_KEEP = 2_000;

export class JobJournal {
  private readonly entries = new Map<string, JournalEntry>();
  private lines = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {
    try {
      for (const line of readFileSync(path, "utf8").split("\n")) {
        if (line.trim() === "") continue;
        try {
          const e = JSON.parse(line) as JournalEntry;
          if (typeof e.id === "string" && (e.state === "succeeded" || e.state === "failed")) {
            this.entries.set(e.id, e);
            this.lines++;
          }
        } catch {
          // a line cut by a crash mid-write: the entries before it stand
        }
      }
    } catch {
      // no journal yet
    }
  }

  /** The finished job `id`, if this host finished it. */
  find(id: string): JournalEntry | undefined {
    return this.entries.get(id);
  }

  /** Append (and fsync) a finished job, before its outcome goes to the store. Never throws: logged. */
  record(entry: JournalEntry): Promise<void> {
    this.entries.set(entry.id, entry);
    const next = this.writing.then(() => this.append(entry));
    this.writing = next.catch(() => undefined);
    return next.catch((err: unknown) => this.logger.warn({ err, path: this.path }, "could not write the job journal"));
  }

  private async append(entry: JournalEntry): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    if (this.lines + 1 > 2 * JOURNAL_KEEP) {
      // Rewritten whole (a temporary file renamed over it: never a half journal) with the newest entries.
      const keep = [...this.entries.values()].slice(-JOURNAL_KEEP);
      this.entries.clear();
      for (const e of keep) this.entries.set(e.id, e);
      const tmp = `${this.path}.tmp`;
      await writeFile(tmp, keep.map((e) => `${JSON.stringify(e)}\n`).join(""));
      await rename(tmp, this.path);
      this.lines = keep.length;
      return;
    }
    const f = await open(this.path, "a");
    try {
      await f.write(`${JSON.stringify(entry)}\n`);
      await f.datasync();
    } finally {
      await f.close();
    }
    this.lines++;
  }
}
