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
import { execa } from "execa";
import { run } from "./exec.js";
import { hostFromState, readState, type SandboxHost, writeState } from "./host.js";
import { pidAlive, sleep } from "./ns.js";

/** Restart libvirtd of a sandbox host; returns the host object for the new daemon (its pid and nsenter prefix change). */
export async function restartLibvirtd(host: SandboxHost, opts: { readyTimeoutMs?: number } = {}): Promise<SandboxHost> {
  const state = readState(host.dir);
  if (!state) throw new Error(`no state for sandbox host ${host.id}`);
  const oldPid = state.libvirtdPid;
  const holder = execa("nsenter", ["-t", String(oldPid), "-m", "-n", "--", "sleep", "infinity"], { stdio: "ignore", reject: false });
  try {
    if (!holder.pid) throw new Error("could not start the namespace holder");
    // Wait until the holder is really inside (its mount namespace is libvirtd's).
    const want = readlinkNs(oldPid);
    for (let i = 0; i < 200 && readlinkNs(holder.pid) !== want; i++) await sleep(10);
    process.kill(oldPid, "SIGTERM");
    for (let i = 0; i < 500 && pidAlive(oldPid); i++) await sleep(20);
    if (pidAlive(oldPid)) throw new Error(`libvirtd ${oldPid} did not exit`);
    const pidFile = join(host.dir, "libvirtd.pid");
    await run("nsenter", ["-t", String(holder.pid), "-m", "-n", "--", "libvirtd", "-d", "--pid-file", pidFile], { timeoutMs: 60_000 });
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    for (;;) {
      const pid = Number.parseInt(readFileSync(pidFile, "utf8").trim() || "0", 10);
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
  } finally {
    holder.kill("SIGKILL");
    await holder;
  }
}

function readlinkNs(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return null;
  }
}
