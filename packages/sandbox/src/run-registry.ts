/**
 * What belongs to the current test run. A test run sets NETFORGE_RUN_DIR;
 * every namespace the sandbox creates is then appended to `<dir>/namespaces`
 * as "<name> <inode>", and every daemon the dev stack starts (redis-server
 * rewrites its environment for its process title, so no marker survives
 * there) to `<dir>/pids` as "<pid> <start time>". The run's teardown judges
 * (and cleans up) only that, never another program's namespaces or
 * processes. Outside a test run this does nothing.
 */
import { appendFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export const RUN_DIR_ENV = "NETFORGE_RUN_DIR";

/** Record a namespace just created with `ip netns add <name>`. */
export function recordNamespace(name: string): void {
  const dir = process.env[RUN_DIR_ENV];
  if (!dir) return;
  let inode = 0;
  try {
    inode = statSync(`/run/netns/${name}`).ino;
  } catch {
    // not mounted where iproute2 puts it: the name alone still identifies it
  }
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, "namespaces"), `${name} ${inode}\n`);
}

/** A process's start time (clock ticks since boot, field 22 of /proc/<pid>/stat): pid + start time is unique. */
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19]);
  } catch {
    return null;
  }
}

/** Record a process just started by the run. */
export function recordProcess(pid: number): void {
  const dir = process.env[RUN_DIR_ENV];
  if (!dir) return;
  const start = processStartTime(pid);
  if (start === null) return;
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, "pids"), `${pid} ${start}\n`);
}
