/**
 * The test run judges and cleans up only what it started: a redis-server
 * started by someone else during the run is neither counted nor killed; one
 * carrying the run's marker, or living in a namespace the run created, is.
 * And the summary's exit code agrees with its "N passed, N failed" line.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RUN_DIR_ENV, recordNamespace, recordProcess } from "@netforge/sandbox";
import { execa, type ResultPromise } from "execa";
import { afterEach, describe, expect, it } from "vitest";
import { readRunNamespaces, runProcesses } from "./support/run-processes";

const started: ResultPromise[] = [];
const namespaces: string[] = [];
const dirs: string[] = [];

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", ...extra };
  return env;
}

function redis(dir: string, env: Record<string, string>, prefix: string[] = []): ResultPromise {
  const args = ["--port", "0", "--unixsocket", join(dir, `${started.length}.sock`), "--save", "", "--appendonly", "no", "--dir", dir];
  const p = prefix.length
    ? execa(prefix[0]!, [...prefix.slice(1), "redis-server", ...args], { env, extendEnv: false, reject: false, stdio: "ignore" })
    : execa("redis-server", args, { env, extendEnv: false, reject: false, stdio: "ignore" });
  started.push(p);
  return p;
}

async function waitFor(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterEach(async () => {
  for (const p of started.splice(0)) {
    if (p.pid) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await p;
  }
  for (const n of namespaces.splice(0)) await execa("ip", ["netns", "del", n], { reject: false });
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("test-run ownership", () => {
  it("counts a registered redis-server and one inside the run's namespace, never an unrelated one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nf-runproc-"));
    dirs.push(dir);
    const runDir = join(dir, "run");
    const runId = `t${Date.now().toString(36)}`;
    const ns = `nfv-rp-${process.pid}`;
    await execa("ip", ["netns", "add", ns]);
    namespaces.push(ns);
    const unrelated = redis(dir, cleanEnv());
    const marked = redis(dir, cleanEnv());
    const inNamespace = redis(dir, cleanEnv(), ["ip", "netns", "exec", ns]);
    const saved = process.env[RUN_DIR_ENV];
    process.env[RUN_DIR_ENV] = runDir;
    try {
      recordNamespace(ns);
      recordProcess(marked.pid!);
    } finally {
      if (saved === undefined) delete process.env[RUN_DIR_ENV];
      else process.env[RUN_DIR_ENV] = saved;
    }

    const ours = readRunNamespaces(runDir);
    expect(ours.names.has(ns)).toBe(true);
    await waitFor(() => {
      const p = runProcesses(runId, ours);
      return p.size >= 2 && [...p.values()].every((c) => c === "redis-server");
    });
    const found = runProcesses(runId, ours);
    expect(found.has(marked.pid!)).toBe(true);
    expect(found.has(unrelated.pid!)).toBe(false);
    // `ip netns exec` execs redis-server in place: same pid.
    expect(found.has(inNamespace.pid!)).toBe(true);
    expect([...found.values()].every((c) => c === "redis-server")).toBe(true);
  });
});

describe("a namespace inode the kernel reused", () => {
  it("a process in another run's namespace is not counted, even when its inode is one this run recorded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nf-runproc-"));
    dirs.push(dir);
    // The other lane's namespace, under a name this run never had; this run recorded its inode number for a
    // namespace (by now deleted) that had the same number: the kernel hands freed numbers out again.
    const other = `nfv-rpo-${process.pid}`;
    await execa("ip", ["netns", "add", other]);
    namespaces.push(other);
    const inode = statSync(join("/run/netns", other)).ino;
    const theirs = redis(dir, cleanEnv(), ["ip", "netns", "exec", other]);
    await waitFor(
      () => existsSync(`/proc/${theirs.pid}/comm`) && readFileSync(`/proc/${theirs.pid}/comm`, "utf8").trim() === "redis-server",
    );
    const runId = `t${Date.now().toString(36)}`;
    const mine = { names: new Set([`nfv-gone-${process.pid}`]), inodes: new Set([inode]), pids: new Set<string>() };
    expect(runProcesses(runId, mine).has(theirs.pid!)).toBe(false);
    // Under one of this run's names, the same namespace is this run's.
    const named = { ...mine, names: new Set([other]) };
    expect(runProcesses(runId, named).has(theirs.pid!)).toBe(true);
  });
});

describe("summary line and exit code", () => {
  const summarize = (results: object | null, leftovers: boolean) => {
    const dir = mkdtempSync(join(tmpdir(), "nf-sum-"));
    dirs.push(dir);
    const r = join(dir, "r.json");
    const l = join(dir, "l.json");
    if (results) writeFileSync(r, JSON.stringify(results));
    if (leftovers) writeFileSync(l, "{}");
    return execa("node", ["scripts/summarize-results.mjs", r, l], { reject: false, cwd: join(__dirname, "..") });
  };
  const ok = { numPassedTests: 5, numFailedTests: 0, testResults: [{ status: "passed", assertionResults: [] }] };

  it("two lanes (two vitest processes) add up; a lane without results is a failure", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nf-sum-"));
    dirs.push(dir);
    const a = join(dir, "a.json");
    const b = join(dir, "b.json");
    writeFileSync(a, JSON.stringify(ok));
    writeFileSync(b, JSON.stringify({ ...ok, numPassedTests: 3, numFailedTests: 1 }));
    const cwd = join(__dirname, "..");
    const both = await execa("node", ["scripts/summarize-results.mjs", `${a}:${join(dir, "la.json")}`, `${b}:${join(dir, "lb.json")}`], {
      reject: false,
      cwd,
    });
    expect(both.stdout).toBe("8 passed, 1 failed");
    expect(both.exitCode).toBe(1);
    const missing = await execa(
      "node",
      ["scripts/summarize-results.mjs", `${a}:${join(dir, "la.json")}`, `${join(dir, "none.json")}:${join(dir, "lb.json")}`],
      {
        reject: false,
        cwd,
      },
    );
    expect(missing.stdout).toBe("5 passed, 1 failed");
    expect(missing.exitCode).toBe(1);
  });

  it("exits 0 only when nothing failed", async () => {
    const r = await summarize(ok, false);
    expect(r.stdout).toBe("5 passed, 0 failed");
    expect(r.exitCode).toBe(0);
  });
  it("a leftover fails the run: line and exit code agree", async () => {
    const r = await summarize(ok, true);
    expect(r.stdout).toBe("5 passed, 1 failed");
    expect(r.exitCode).toBe(1);
  });
  it("a suite broken outside its tests counts, and fails the exit code", async () => {
    const r = await summarize({ ...ok, testResults: [{ status: "failed", assertionResults: [{ status: "passed" }] }] }, false);
    expect(r.stdout).toBe("5 passed, 1 failed");
    expect(r.exitCode).toBe(1);
  });
  it("the slowest files go to stderr, slowest first; stdout stays the one line", async () => {
    const file = (name: string, seconds: number) => ({
      name,
      status: "passed",
      startTime: 1000,
      endTime: 1000 + seconds * 1000,
      assertionResults: [],
    });
    const r = await summarize({ ...ok, testResults: [file("/x/a.test.ts", 2), file("/x/b.test.ts", 30)] }, false);
    expect(r.stdout).toBe("5 passed, 0 failed");
    expect(r.stderr.split("\n")).toEqual(["slow file:    30.0 s  /x/b.test.ts", "slow file:     2.0 s  /x/a.test.ts"]);
  });
  it("names every failed test, broken suite and leftover on stderr, after the slow files (a log cut to its tail shows them)", async () => {
    const results = {
      ...ok,
      numFailedTests: 1,
      testResults: [
        {
          name: "/x/a.test.ts",
          status: "failed",
          assertionResults: [{ status: "failed", fullName: "a does b", failureMessages: ["\nAssertionError: expected 1 to be 2\n  at x"] }],
        },
        { name: "/x/b.test.ts", status: "failed", message: "Hook timed out in 10000ms", assertionResults: [] },
      ],
    };
    const r = await summarize(results, true);
    expect(r.stdout).toBe("5 passed, 3 failed");
    const lines = r.stderr.split("\n");
    expect(lines).toContain("FAILED /x/a.test.ts > a does b: AssertionError: expected 1 to be 2");
    expect(lines).toContain("FAILED /x/b.test.ts (outside any test): Hook timed out in 10000ms");
    expect(lines.at(-1)).toMatch(/^LEFTOVERS \(.*\/l\.json\): \{\}$/);
  });
  it("no results file: one failure", async () => {
    const r = await summarize(null, false);
    expect(r.stdout).toBe("0 passed, 1 failed");
    expect(r.exitCode).toBe(1);
  });
});
