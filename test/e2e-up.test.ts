/**
 * The one-command start's supervisor (scripts/dev.ts, what scripts/up.sh runs) cleans up whatever happens to
 * its output (issue 21): started with its output in a pipe whose reader then goes away (`up.sh | tee` after
 * Ctrl-C killed tee), a SIGINT still removes everything it started (Redis, worker, API, the sandbox host's
 * libvirtd, dnsmasq and namespaces); after a SIGKILL, which leaves all of it running, the next start removes
 * the leftovers. And the state file never makes it kill a process that is not the one it recorded.
 * Starts sandbox hosts: run under the e2e lock.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeLoopbackPort } from "@netforge/devstack";
import { destroySandboxHost, hostNetnsName, outsideNetnsName, processStartTime } from "@netforge/sandbox";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { isSameProcess, stopRecorded, type UpState } from "../scripts/dev-state";
import { uniquePrefix } from "./support/redis";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const ID = `up${randomBytes(3).toString("hex")}`;
const NAMESPACES = [hostNetnsName(ID), outsideNetnsName(ID)];
const dirs: string[] = [];
const started: ChildProcess[] = [];

afterAll(async () => {
  // A failed test may leave a supervisor and its stack: stop what the state files name, then the sandbox host.
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) {
    const s = existsSync(join(d, "up-state.json")) ? readState(d) : null;
    if (s) await stopRecorded(s.processes);
  }
  await destroySandboxHost(ID).catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 120_000);

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startSupervisor(stateDir: string, port: number): Promise<Running> {
  // Its own Redis, token file and sandbox host: none of the run's settings for those.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NETFORGE_STATE_DIR: stateDir,
    NETFORGE_SANDBOX_ID: ID,
    PORT: String(port),
    HOST: "127.0.0.1",
    NETFORGE_PREFIX: uniquePrefix("up"),
  };
  for (const k of ["REDIS_URL", "NETFORGE_TOKENS", "HOST_ID", "NETFORGE_HOST"]) delete env[k];
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/dev.ts"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env });
  started.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 180_000;
  while (!out.includes("netforge is up")) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the supervisor did not come up:\n${out.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, output: () => out, exited };
}

/** Every process in the sandbox's namespaces (libvirtd, dnsmasq, the worker), with start times. */
async function namespaceProcesses(): Promise<{ name: string; pid: number; start: number }[]> {
  const out: { name: string; pid: number; start: number }[] = [];
  for (const ns of NAMESPACES) {
    const r = await execa("ip", ["netns", "pids", ns], { reject: false });
    for (const line of r.stdout.split("\n").filter(Boolean)) {
      const pid = Number(line);
      const start = processStartTime(pid);
      let comm = "?";
      try {
        comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      } catch {
        // gone meanwhile
      }
      if (start !== null) out.push({ name: `${ns}:${comm}`, pid, start });
    }
  }
  return out;
}

const namespaceExists = (ns: string) => existsSync(`/run/netns/${ns}`);
const readState = (dir: string) => JSON.parse(readFileSync(join(dir, "up-state.json"), "utf8")) as UpState;

async function waitGone(procs: { pid: number; start: number }[], ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (procs.some(isSameProcess) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

describe("scripts/dev.ts (the supervisor of up.sh)", () => {
  it("with its output pipe closed, SIGINT still stops and removes everything it started", async () => {
    const dir = mkdtempSync(join(tmpdir(), "netforge-up-"));
    dirs.push(dir);
    const run = await startSupervisor(dir, await freeLoopbackPort());
    // A network on the sandbox host: its dnsmasq is among what must go.
    const token = readFileSync(join(dir, "tokens"), "utf8").trim().split(":")[0];
    const created = await fetch(`http://127.0.0.1:${readPort(run.output())}/api/create-network`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", prefer: "wait=60" },
      body: JSON.stringify({ name: "uptest", type: "nat", cidr: "10.71.0.0/24" }),
    });
    expect(created.status, await created.clone().text()).toBe(200);
    const state = readState(dir);
    expect(state.processes.map((p) => p.name).sort()).toEqual(["api", "redis-server", "worker"]);
    expect(state.sandbox).toEqual({ id: ID, namespaces: NAMESPACES });
    const inNs = await namespaceProcesses();
    const comms = inNs.map((p) => p.name.split(":")[1]);
    expect(comms).toContain("libvirtd");
    expect(comms).toContain("dnsmasq");
    for (const ns of NAMESPACES) expect(namespaceExists(ns), ns).toBe(true);
    const all = [...state.processes, ...inNs];
    expect(all.every(isSameProcess)).toBe(true);

    // The reader goes away (tee killed by the same Ctrl-C): every later write of the supervisor fails.
    run.child.stdout?.destroy();
    run.child.stderr?.destroy();
    // Output while the pipe is closed: the API logs this request, relayed by the supervisor.
    await fetch(`http://127.0.0.1:${readPort(run.output())}/healthz`).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    run.child.kill("SIGINT");
    const end = await run.exited;
    expect(end).toEqual({ code: 0, signal: null });
    await waitGone(all);
    expect(all.filter(isSameProcess).map((p) => p.name)).toEqual([]);
    for (const ns of NAMESPACES) expect(namespaceExists(ns), ns).toBe(false);
    expect(existsSync(join(dir, "up-state.json"))).toBe(false);
  }, 300_000);

  it("after a SIGKILL (everything left running), the next start removes the leftovers first", async () => {
    const dir = mkdtempSync(join(tmpdir(), "netforge-up-"));
    dirs.push(dir);
    const port = await freeLoopbackPort();
    const first = await startSupervisor(dir, port);
    const state = readState(dir);
    const leftovers = [...state.processes, ...(await namespaceProcesses())];
    first.child.kill("SIGKILL");
    await first.exited;
    await new Promise((r) => setTimeout(r, 500));
    // Nothing cleaned up: the children run in their own process groups, the namespaces stay.
    expect(leftovers.filter(isSameProcess).length).toBe(leftovers.length);
    for (const ns of NAMESPACES) expect(namespaceExists(ns), ns).toBe(true);

    const second = await startSupervisor(dir, port);
    expect(second.output()).toContain("stopped what an earlier start left running");
    expect(second.output()).toContain(`removed the sandbox host ${ID} an earlier start left`);
    expect(leftovers.filter(isSameProcess).map((p) => p.name)).toEqual([]);
    const now = readState(dir);
    expect(now.supervisor.pid).toBe(second.child.pid);
    for (const p of now.processes) expect(leftovers.some((l) => l.pid === p.pid && l.start === p.start)).toBe(false);

    const mine = [...now.processes, ...(await namespaceProcesses())];
    second.child.kill("SIGINT");
    expect(await second.exited).toEqual({ code: 0, signal: null });
    await waitGone(mine);
    expect(mine.filter(isSameProcess).map((p) => p.name)).toEqual([]);
    for (const ns of NAMESPACES) expect(namespaceExists(ns), ns).toBe(false);
  }, 400_000);

  it("a recorded pid that is now another process (other start time) is never signalled", async () => {
    const sleeper = execa("sleep", ["30"], { reject: false });
    const pid = sleeper.pid as number;
    const start = processStartTime(pid) as number;
    expect(await stopRecorded([{ name: "reused", pid, start: start - 1 }], 200)).toEqual([]);
    expect(isSameProcess({ pid, start })).toBe(true);
    expect(await stopRecorded([{ name: "sleep", pid, start }], 2000)).toEqual([`sleep (pid ${pid})`]);
    expect((await sleeper).signal).toBe("SIGTERM");
  });
});

function readPort(out: string): number {
  return Number(/API http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
}
