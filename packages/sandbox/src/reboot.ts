/**
 * A reboot of a sandbox host, as far as its networking goes: every process
 * on the host ends (libvirtd, dnsmasq, domains, daemons; the caller stops its
 * worker and VMs first), the kernel state a reboot loses goes (every
 * interface but the uplink, the whole nftables ruleset and any
 * iptables-legacy rules, conntrack, ip_forward back to 0, /run/libvirt), and
 * what is on disk stays (libvirt's definitions, autostart links and leases,
 * /var/lib/netforge). Then the host "boots": the `boot` commands run in order
 * (what systemd runs before libvirtd, e.g. netforge-firewall.service's
 * ExecStart lines), then libvirtd starts and autostarts its networks.
 * Extra "physical" NICs made with addLanNic are interfaces too: they are gone after a reboot (add them again).
 */
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./exec.js";
import { readState, type SandboxHost } from "./host.js";
import { holdNamespaces, startLibvirtd } from "./libvirtd-restart.js";
import { killNamespaceProcesses } from "./ns.js";

export interface RebootOptions {
  /** Commands run inside the host after the "power cycle" and before libvirtd starts (argv arrays, in order). */
  boot?: string[][];
  readyTimeoutMs?: number;
}

export interface RebootResult {
  /** The host object for the new libvirtd. */
  host: SandboxHost;
  /** Each boot command with its exit code and stderr (a failing one does not stop the boot, as with systemd). */
  boot: { argv: string[]; exitCode: number; stderr: string }[];
}

export async function rebootSandboxHost(host: SandboxHost, opts: RebootOptions = {}): Promise<RebootResult> {
  const state = readState(host.dir);
  if (!state) throw new Error(`no state for sandbox host ${host.id}`);
  const holder = await holdNamespaces(state.libvirtdPid, state.netns);
  const hp = holder.pid;
  const inHost = (argv: string[], timeoutMs = 30_000) =>
    run("nsenter", ["-t", String(hp), "-m", "-n", "--", ...argv], { reject: false, timeoutMs });
  try {
    await killNamespaceProcesses([state.netns], { keep: hp });

    // The kernel's network state of the host is lost; the uplink stands for the physical NIC and stays.
    const links = JSON.parse((await inHost(["ip", "-j", "link", "show"])).stdout || "[]") as { ifname: string }[];
    for (const l of links) {
      if (l.ifname === "lo" || l.ifname === state.uplinkInterface) continue;
      await inHost(["ip", "link", "del", "dev", l.ifname]);
    }
    await must(inHost(["nft", "flush", "ruleset"]), "nft flush ruleset");
    // iptables-legacy keeps its rules outside nftables; only touch it when this namespace has legacy tables.
    const legacy = (await inHost(["cat", "/proc/net/ip_tables_names"])).stdout.split("\n").filter(Boolean);
    for (const table of legacy) {
      await inHost(["iptables-legacy", "-t", table, "-F"]);
      await inHost(["iptables-legacy", "-t", table, "-X"]);
    }
    await inHost(["conntrack", "-F"]);
    await must(inHost(["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"]), "sysctl ip_forward=0");
    // /run is a tmpfs on a real host: libvirt's runtime state (network status, pid files, sockets) is gone.
    const runDir = join(state.dir, "run");
    for (const e of await readdir(runDir)) await rm(join(runDir, e), { recursive: true, force: true });
    await rm(join(state.dir, "libvirtd.pid"), { force: true });

    // Boot: the units ordered before libvirtd, then libvirtd (which autostarts the networks).
    const boot: RebootResult["boot"] = [];
    for (const argv of opts.boot ?? []) {
      if (argv.length === 0) throw new Error("empty boot command");
      const r = await inHost(argv);
      boot.push({ argv, exitCode: r.exitCode, stderr: r.stderr.trim() });
    }
    state.libvirtdPid = 0;
    const fresh = await startLibvirtd(hp, state, opts.readyTimeoutMs);
    return { host: fresh, boot };
  } finally {
    await holder.release();
  }
}

async function must(p: Promise<{ exitCode: number; stderr: string }>, what: string): Promise<void> {
  const r = await p;
  if (r.exitCode !== 0) throw new Error(`reboot: ${what} failed: ${r.stderr.trim()}`);
}
