/**
 * Restarting a sandbox host's libvirtd, as an operator's `systemctl restart
 * libvirtd` would on a real hypervisor: the daemon goes away and comes back;
 * running networks (bridges, dnsmasq) stay up meanwhile and the new daemon
 * picks them up again. The new daemon must run in the same private mount
 * namespace (it holds the bind mounts), so a short-lived holder process keeps
 * that namespace alive while no libvirtd is in it.
 */
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { execa, type ResultPromise } from "execa";
import { run } from "./exec.js";
import { hostFromState, readState, type SandboxHost, type SandboxHostState, writeState } from "./host.js";
import { pidAlive, pidInNetns, sleep } from "./ns.js";
import { underReaper } from "./reaper.js";

/** Restart libvirtd of a sandbox host; returns the host object for the new daemon (its pid and nsenter prefix change). */
export async function restartLibvirtd(host: SandboxHost, opts: { readyTimeoutMs?: number } = {}): Promise<SandboxHost> {
  const state = readState(host.dir);
  if (!state) throw new Error(`no state for sandbox host ${host.id}`);
  const oldPid = state.libvirtdPid;
  const holder = await holdNamespaces(oldPid, state.netns);
  try {
    await stopPid(oldPid);
    return await startLibvirtd(holder.pid, state, opts.readyTimeoutMs);
  } finally {
    await holder.release();
  }
}

/** A process holding the namespaces of another one (so they outlive it); `release()` ends it. */
export interface NamespaceHolder {
  pid: number;
  release(): Promise<void>;
}

/**
 * A `sleep` in the mount and network namespaces of `pid`, so they outlive it; resolved once it is inside.
 * `pid` must still live in the host namespace `netns`: a pid read from a state file may since have been
 * recycled for another program's process, whose namespaces (the machine's own) are never entered.
 */
export async function holdNamespaces(pid: number, netns: string): Promise<NamespaceHolder> {
  if (!pidInNetns(pid, netns)) throw new Error(`libvirtd (pid ${pid}) is not running in ${netns}`);
  const proc: ResultPromise = execa("nsenter", ["-t", String(pid), "-m", "-n", "--", "sleep", "infinity"], {
    stdio: "ignore",
    reject: false,
  });
  const release = async () => {
    proc.kill("SIGKILL");
    await proc;
  };
  const hp = proc.pid;
  if (!hp) {
    await release();
    throw new Error("could not start the namespace holder");
  }
  const want = readlinkNs(pid);
  for (let i = 0; i < 200 && readlinkNs(hp) !== want; i++) await sleep(10);
  return { pid: hp, release };
}

/** SIGTERM, then wait (10 s) for the process to be gone. */
export async function stopPid(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 500 && pidAlive(pid); i++) await sleep(20);
  if (pidAlive(pid)) throw new Error(`process ${pid} did not exit`);
}

/** Start libvirtd in the namespaces held by `holderPid`, wait until it answers, and record its pid. */
export async function startLibvirtd(holderPid: number, state: SandboxHostState, readyTimeoutMs = 60_000): Promise<SandboxHost> {
  const oldPid = state.libvirtdPid;
  const pidFile = join(state.dir, "libvirtd.pid");
  await run("nsenter", ["-t", String(holderPid), "-m", "-n", "--", ...underReaper(["libvirtd", "-d", "--pid-file", pidFile])], {
    timeoutMs: 60_000,
  });
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    let pid = 0;
    try {
      pid = Number.parseInt(readFileSync(pidFile, "utf8").trim() || "0", 10);
    } catch {
      /* not written yet (a reboot removed the old one) */
    }
    if (pid > 0 && pid !== oldPid) {
      const r = await run("virsh", ["-c", state.libvirtUri, "version"], { reject: false, timeoutMs: 10_000 });
      if (r.exitCode === 0) {
        state.libvirtdPid = pid;
        break;
      }
    }
    if (Date.now() > deadline) throw new Error("restarted libvirtd did not become ready");
    await sleep(50);
  }
  await writeState(state);
  return hostFromState(state);
}

function readlinkNs(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}
