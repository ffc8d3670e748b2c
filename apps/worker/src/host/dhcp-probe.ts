/**
 * "Its DHCP server answers": the network's dnsmasq holds a DHCP socket.
 * libvirt starts dnsmasq before net-start returns; the short poll covers a
 * slow start.
 *
 * First choice, no process started: libvirt's pid file of the network's
 * dnsmasq (/run/libvirt/network/<name>.pid), that process a dnsmasq started
 * with the network's config file, and one of its open sockets a UDP socket
 * on port 67 (/proc/net/udp of the worker's network namespace, matched by
 * inode). When that does not say yes (no pid file: another libvirt layout;
 * not ready yet), `ss` shows the socket bound to the bridge
 * (`0.0.0.0%<bridge>:67`) owned by dnsmasq, as before. Starting `ss -p` (it reads every
 * process's fds) was 10-20 ms of each create on a busy 2-core host.
 *
 * Under netforge-worker.service the worker has no CAP_SYS_PTRACE (docs/adr/0041): it cannot read the fds of
 * libvirt's dnsmasq (another user, other capabilities), and `ss -p` cannot name the socket's owner either. Then
 * "this network's dnsmasq runs" (pid file, comm and command line, all world-readable) plus "a socket listens on
 * port 67 bound to this network's bridge" (`ss` without owners) is the proof.
 */
import { readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { AppError } from "@netforge/core/contract";
import type { CommandRunner } from "./command-runner";

/** Where libvirt keeps its network daemons' pid files, and the proc filesystem (parameters for tests). */
export interface DhcpProbePaths {
  pidDir: string;
  proc: string;
}
export const DEFAULT_PROBE_PATHS: DhcpProbePaths = { pidDir: "/run/libvirt/network", proc: "/proc" };

/**
 * True when a dnsmasq listens for DHCP on the bridge (`ss`). A socket whose owner `ss` cannot see (no
 * CAP_SYS_PTRACE) counts when `networkDnsmasqRuns`: the network's own dnsmasq is known to run.
 */
export async function dhcpListening(runner: CommandRunner, bridge: string, networkDnsmasqRuns = false): Promise<boolean> {
  const r = await runner.run("ss", ["-H", "-u", "-l", "-n", "-p", "sport", "=", ":67"], { allowFailure: true });
  return r.stdout
    .split("\n")
    .some((l) => l.includes(`%${bridge}:67`) && (l.includes('"dnsmasq"') || (networkDnsmasqRuns && !l.includes("users:("))));
}

/** Inodes of the UDP sockets bound to port 67 (`/proc/net/udp`: local_address is HEXADDR:HEXPORT, inode the 10th column). */
export function dhcpSocketInodes(procNetUdp: string): Set<string> {
  const out = new Set<string>();
  for (const line of procNetUdp.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1]?.endsWith(":0043") && cols[9] && cols[9] !== "0") out.add(cols[9]);
  }
  return out;
}

/**
 * What libvirt's pid file says of the network's dnsmasq: "serving" (it holds a UDP socket on port 67),
 * "running" (it is this network's dnsmasq, but its fds cannot be read here: no CAP_SYS_PTRACE), "absent" (not
 * dnsmasq, another network's, gone, or no DHCP socket yet), or null when the pid file cannot be read here.
 */
export async function probeDnsmasq(
  network: string,
  paths: DhcpProbePaths = DEFAULT_PROBE_PATHS,
): Promise<"serving" | "running" | "absent" | null> {
  if (!/^[A-Za-z0-9_.-]+$/.test(network)) return null;
  let pid: number;
  try {
    pid = Number((await readFile(join(paths.pidDir, `${network}.pid`), "utf8")).trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const proc = join(paths.proc, String(pid));
  try {
    if ((await readFile(join(proc, "comm"), "utf8")).trim() !== "dnsmasq") return "absent";
    // libvirt starts it with --conf-file=<dir>/<network>.conf: this network's dnsmasq, not a reused pid.
    const args = (await readFile(join(proc, "cmdline"), "utf8")).split("\0");
    if (!args.some((a) => a.startsWith("--conf-file=") && a.endsWith(`/${network}.conf`))) return "absent";
  } catch {
    return "absent"; // the process went away meanwhile: not (yet) serving
  }
  let fds: string[];
  try {
    fds = await readdir(join(proc, "fd"));
  } catch {
    return "running"; // its fds are not ours to list
  }
  try {
    const inodes = dhcpSocketInodes(await readFile(join(paths.proc, "net", "udp"), "utf8"));
    if (inodes.size === 0) return "absent";
    let unreadable = 0;
    for (const fd of fds) {
      const link = await readlink(join(proc, "fd", fd)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "EACCES" || err.code === "EPERM") unreadable += 1;
        return "";
      });
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m?.[1] && inodes.has(m[1])) return "serving";
    }
    // The directory lists, but the links are not ours to read (ptrace access): only "it runs" is known.
    return unreadable > 0 ? "running" : "absent";
  } catch {
    return "absent";
  }
}

/** Wait until DHCP answers on the network's bridge, or fail with HOST_COMMAND_FAILED. */
export async function waitForDhcp(
  runner: CommandRunner,
  bridge: string,
  timeoutMs = 3000,
  network: string | null = null,
  paths: DhcpProbePaths = DEFAULT_PROBE_PATHS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The pid-file proof is the fast path; whatever keeps it from saying yes (no pid file, a libvirt that starts
    // dnsmasq differently, not ready yet) falls back to `ss`, so it can only make the answer faster, not stricter.
    const probe = network === null ? null : await probeDnsmasq(network, paths);
    if (probe === "serving") return;
    if (await dhcpListening(runner, bridge, probe === "running")) return;
    if (Date.now() > deadline) {
      throw new AppError("HOST_COMMAND_FAILED", `no DHCP server answers on ${bridge} after ${timeoutMs} ms`, { bridge });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
