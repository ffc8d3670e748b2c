import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { JOURNAL_KEEP, JobJournal } from "./job-journal";

const logger = pino({ level: "silent" });
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "nf-journal-"));
  dirs.push(d);
  return join(d, "sub", "jobs.jsonl");
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const entry = (id: string, state: "succeeded" | "failed" = "succeeded") => ({ id, state, steps: ["a", "b"], at: "2026-12-07T00:00:00Z" });

describe("the host's job journal", () => {
  it("keeps what it recorded across a restart (a new journal reads the file), its directory made", async () => {
    const path = tmp();
    const j = new JobJournal(path, logger);
    expect(j.find("j1")).toBeUndefined();
    await j.record(entry("j1"));
    await j.record({ ...entry("j2", "failed"), error: { code: "NETWORK_IN_USE", message: "in use" } });
    const again = new JobJournal(path, logger);
    expect(again.find("j1")).toEqual(entry("j1"));
    expect(again.find("j2")?.error?.code).toBe("NETWORK_IN_USE");
  });

  it("a last line cut by a crash mid-write is skipped; the lines before it stand", async () => {
    const path = tmp();
    await new JobJournal(path, logger).record(entry("j1"));
    appendFileSync(path, '{"id":"j2","sta');
    const j = new JobJournal(path, logger);
    expect(j.find("j1")).toBeDefined();
    expect(j.find("j2")).toBeUndefined();
  });

  it("bounded: rewritten with its newest entries when it holds twice as many as it keeps", async () => {
    const path = tmp();
    const j = new JobJournal(path, logger);
    for (let i = 0; i <= 2 * JOURNAL_KEEP; i++) await j.record(entry(`j${i}`));
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines.length).toBeLessThanOrEqual(JOURNAL_KEEP + 1);
    const re = new JobJournal(path, logger);
    expect(re.find(`j${2 * JOURNAL_KEEP}`)).toBeDefined();
    expect(re.find("j0")).toBeUndefined();
  });
});
