/**
 * What a test run owns, so its teardown judges and cleans up only that:
 * - daemons the dev stack started and registered by pid + start time
 *   (redis-server: it overwrites its own environment),
 * - processes started with the run's marker in their environment
 *   (NETFORGE_TEST_RUN=<run id>, inherited by everything the run spawns:
 *   virsh, workers), and
 * - processes living in a network namespace the run created (dnsmasq and
 *   QEMU are started by libvirtd with a clean environment, but inside the
 *   sandbox host's namespace), known from the run's namespace registry.
 * Another program's redis-server or libvirtd, whenever it started, is never
 * counted or killed.
 */
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { processStartTime } from "@netforge/sandbox";

export const RUN_MARKER_ENV = "NETFORGE_TEST_RUN";
export const WATCHED_COMMANDS = ["libvirtd", "dnsmasq", "redis-server", "virsh", "qemu-system-*"];

function watched(comm: string): boolean {
  return WATCHED_COMMANDS.some((w) => (w.endsWith("*") ? comm.startsWith(w.slice(0, -1)) : comm === w));
}

export interface RunNamespaces {
  names: Set<string>;
  inodes: Set<number>;
  /** "<pid> <start time>" of daemons the run started (devstack's redis-server). */
  pids: Set<string>;
}

/** The namespaces this run created (from `<runDir>/namespaces`, written by the sandbox package). */
export function readRunNamespaces(runDir: string): RunNamespaces {
  const out: RunNamespaces = { names: new Set(), inodes: new Set(), pids: new Set() };
  const pidFile = join(runDir, "pids");
  if (existsSync(pidFile)) for (const l of readFileSync(pidFile, "utf8").split("\n")) if (l.trim()) out.pids.add(l.trim());
  const file = join(runDir, "namespaces");
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [name, inode] = line.trim().split(" ");
    if (!name) continue;
    out.names.add(name);
    const n = Number(inode);
    if (n > 0) out.inodes.add(n);
  }
  return out;
}

function hasMarker(pid: string, runId: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`${RUN_MARKER_ENV}=${runId}`);
  } catch {
    return false;
  }
}

function netnsInode(pid: string): number | null {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Inodes of the named network namespaces (/run/netns) that are not this run's: the kernel reuses a namespace's
 * inode number once it is gone, so an inode this run recorded may by now be another run's namespace (the two
 * lanes of scripts/test.sh run at once: one lane's teardown killed the other's libvirtd that way).
 */
function foreignNamespaceInodes(ours: Set<string>): Set<number> {
  const out = new Set<number>();
  let names: string[] = [];
  try {
    names = readdirSync("/run/netns");
  } catch {
    return out;
  }
  for (const n of names) {
    if (ours.has(n)) continue;
    try {
      out.add(statSync(join("/run/netns", n)).ino);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Live (non-zombie) watched processes that belong to this run. */
export function runProcesses(runId: string, namespaces: RunNamespaces): Map<number, string> {
  const out = new Map<number, string>();
  const foreign = foreignNamespaceInodes(namespaces.names);
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, "utf8").trim();
      if (!watched(comm)) continue;
      // A zombie is already dead, merely not yet reaped by init (on some machines slowly): not a leftover.
      const state = readFileSync(`/proc/${d}/stat`, "utf8").split(") ")[1]?.[0];
      if (state === "Z") continue;
      const ino = netnsInode(d);
      const registered = namespaces.pids.has(`${d} ${processStartTime(Number(d))}`);
      const inOurNamespace = ino !== null && namespaces.inodes.has(ino) && !foreign.has(ino);
      if (registered || hasMarker(d, runId) || inOurNamespace) out.set(Number(d), comm);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
