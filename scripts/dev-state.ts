/**
 * What a running scripts/dev.ts (the supervisor of scripts/up.sh) started, on disk, so a later start can
 * remove what a dead one left: `<state dir>/up-state.json` holds the supervisor's pid and start time, every
 * process it started (pid, start time: pid + start time names one process, a reused pid never matches),
 * and the sandbox host it created (id, namespaces). Written after each start, removed after a clean stop.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processStartTime } from "@netforge/sandbox";

export interface StartedProcess {
  name: string;
  pid: number;
  /** Clock ticks since boot (/proc/<pid>/stat field 22) when it was recorded. */
  start: number;
}

export interface UpState {
  supervisor: { pid: number; start: number };
  processes: StartedProcess[];
  sandbox: { id: string; namespaces: string[] } | null;
}

export const stateFile = (dir: string) => join(dir, "up-state.json");

export function readUpState(dir: string): UpState | null {
  const file = stateFile(dir);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as UpState;
  } catch {
    return null;
  }
}

export function writeUpState(dir: string, state: UpState): void {
  const file = stateFile(dir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function removeUpState(dir: string): void {
  rmSync(stateFile(dir), { force: true });
}

/**
 * `p` is still the very process that was recorded (same pid, same start time) and still running: a zombie (dead,
 * not yet reaped by its parent, e.g. init after the supervisor that started it was killed) is gone, as the
 * sandbox's pidAlive counts it (e2e-up once saw a killed libvirtd and nft helper "still there" as zombies).
 */
export function isSameProcess(p: { pid: number; start: number }): boolean {
  if (p.pid <= 0 || processStartTime(p.pid) !== p.start) return false;
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The process group of `pid` (/proc/<pid>/stat field 5), or null when it is gone. */
function processGroup(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
  } catch {
    return null;
  }
}

/**
 * Signal a recorded process, only if it is still the one recorded; its whole group when it leads one (the
 * supervisor starts every child in a group of its own: a worker's nsenter and node go together). True if signalled.
 */
export function signalRecorded(p: StartedProcess, signal: NodeJS.Signals): boolean {
  if (!isSameProcess(p)) return false;
  try {
    process.kill(processGroup(p.pid) === p.pid ? -p.pid : p.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM the recorded processes still alive, SIGKILL what is left after `graceMs`; the names of those it signalled. */
export async function stopRecorded(processes: StartedProcess[], graceMs = 5000): Promise<string[]> {
  const signalled = processes.filter((p) => signalRecorded(p, "SIGTERM"));
  const deadline = Date.now() + graceMs;
  while (signalled.some(isSameProcess) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const p of signalled) signalRecorded(p, "SIGKILL");
  const killDeadline = Date.now() + 2000;
  while (signalled.some(isSameProcess) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 50));
  return signalled.map((p) => `${p.name} (pid ${p.pid})`);
}
