import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { run } from "./exec.js";

/** Directory where iproute2 keeps named network namespaces. */
export const NETNS_RUN_DIR = "/run/netns";

export function netnsExists(name: string): boolean {
  return existsSync(`${NETNS_RUN_DIR}/${name}`);
}

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_RUN_DIR).sort();
  } catch {
    return [];
  }
}

/** `net:[<inode>]` of the named namespace (as /proc/<pid>/ns/net reads), or null when it is not there. */
export function netnsId(name: string): string | null {
  try {
    return `net:[${statSync(`${NETNS_RUN_DIR}/${name}`).ino}]`;
  } catch {
    return null;
  }
}

function pidNetnsId(pid: number | "self"): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return null;
  }
}

/**
 * True when `pid` is alive and runs in the named namespace: a pid read back from a state file is only
 * judged or signalled as "ours" when it still lives in the namespace we made (a recycled pid does not).
 */
export function pidInNetns(pid: number, name: string): boolean {
  const want = netnsId(name);
  return want !== null && pidAlive(pid) && pidNetnsId(pid) === want;
}

/**
 * Pids of every process whose network namespace is `name` (via `ip netns pids`). Refuses a name that
 * points at the machine's own namespace (or this process's): that would list every process on the machine.
 */
export async function netnsPids(name: string): Promise<number[]> {
  const id = netnsId(name);
  if (id === null) return [];
  if (id === pidNetnsId(1) || id === pidNetnsId("self")) {
    throw new Error(`refusing to list processes of ${name}: it is the machine's own network namespace`);
  }
  const r = await run("ip", ["netns", "pids", name], { reject: false, timeoutMs: 15_000 });
  if (r.exitCode !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((p) => p > 1 && p !== process.pid);
}

/** True when the pid exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // state is the field right after the parenthesised comm (which may contain spaces)
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

export function pidComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let alive = pids.filter(pidAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(25);
    alive = alive.filter(pidAlive);
  }
  return alive;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * Stop every process in the given network namespaces (but `keep`, e.g. a process holding them open):
 * SIGTERM, wait up to `termWaitMs`, then SIGKILL; repeat (a dying libvirtd may still spawn helpers)
 * until the namespaces are empty. Only pids listed by `ip netns pids` for these namespaces are signalled.
 * Returns every pid that was signalled; throws if something survives.
 */
export async function killNamespaceProcesses(
  namespaces: string[],
  { termWaitMs = 2_000, keep }: { termWaitMs?: number; keep?: number } = {},
): Promise<number[]> {
  const inNamespaces = async () =>
    [...new Set((await Promise.all(namespaces.map(netnsPids))).flat())].filter((p) => p !== keep && pidAlive(p));
  const signalled = new Set<number>();
  for (let round = 0; round < 5; round++) {
    const pids = await inNamespaces();
    if (pids.length === 0) return [...signalled];
    for (const p of pids) {
      signalled.add(p);
      signal(p, "SIGTERM");
    }
    let alive = await waitGone(pids, termWaitMs);
    if (alive.length > 0) {
      for (const p of alive) signal(p, "SIGKILL");
      alive = await waitGone(alive, 5_000);
      if (alive.length > 0) throw new Error(`processes ${alive.join(",")} in ${namespaces.join(",")} survived SIGKILL`);
    }
  }
  const left = await inNamespaces();
  if (left.length > 0) throw new Error(`processes keep appearing in ${namespaces.join(",")}: ${left.join(",")}`);
  return [...signalled];
}

/** `ip netns del` (ignores a namespace that does not exist). */
export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  const r = await run("ip", ["netns", "del", name], { reject: false, timeoutMs: 15_000 });
  if (r.exitCode !== 0 && netnsExists(name)) throw new Error(`ip netns del ${name} failed: ${r.stderr.trim()}`);
}
