/**
 * A network's MTU on the host (docs/adr/0042-network-mtu.md): its bridge and every port on it (`ip link set`;
 * the kernel keeps each port's MTU its own, so a VM's tap or veth is set beside the bridge), and netforge's
 * DHCP options file, which the network's dnsmasq re-reads on SIGHUP (libvirt writes dnsmasq's own
 * configuration only when it starts dnsmasq, and `virsh net-update` has no MTU section).
 */
import { chmod, readFile, rename, writeFile } from "node:fs/promises";
import { AppError } from "@netforge/core/contract";
import { DNSMASQ_DIR } from "@netforge/core/model";
import { type CommandRunner, commandFailed } from "./command-runner";
import { type HostLink, readLinks } from "./ip";

/** One link's MTU. */
export interface LinkMtu {
  dev: string;
  mtu: number;
}

/** Where libvirt keeps each running network's dnsmasq pid (`pid-file=` of the configuration it writes). */
export const LIBVIRT_NETWORK_RUN_DIR = "/run/libvirt/network";

/** The bridge's and its ports' MTUs now (the bridge first; `read`: the host's links read already); [] when the bridge does not exist. */
export async function linkMtus(runner: CommandRunner, bridge: string, read?: readonly HostLink[]): Promise<LinkMtu[]> {
  const links = read ?? (await readLinks(runner));
  const own = links.find((l) => l.name === bridge);
  if (!own) return [];
  const ports = links.filter((l) => l.master === bridge);
  return [own, ...ports].map((l) => ({ dev: l.name, mtu: l.mtu ?? 0 }));
}

/** `ip link set dev <dev> mtu <n>`; false when the device went away meanwhile (a VM's port removed). */
async function setMtu(runner: CommandRunner, dev: string, mtu: number): Promise<boolean> {
  const args = ["link", "set", "dev", dev, "mtu", String(mtu)];
  const r = await runner.run("ip", args, { allowFailure: true });
  if (r.exitCode === 0) return true;
  if (/Cannot find device|does not exist/i.test(r.stderr)) return false;
  // Fail as a host command does (HOST_COMMAND_FAILED with the stderr), naming the link (a port refusing the MTU,
  // e.g. over its device's maximum, is otherwise only "RTNETLINK answers: Invalid argument").
  const err = commandFailed("ip", args, r);
  throw new AppError(err.code, `could not set MTU ${mtu} on ${dev}: ${err.message}`, err.details);
}

/**
 * Set `bridge` and every port on it to `mtu`. Answers what each link had (to put back) and the ports changed
 * (each reported as applied). The bridge goes first: an MTU set on it stays whatever its ports have.
 */
export async function setLinkMtu(runner: CommandRunner, bridge: string, mtu: number): Promise<{ before: LinkMtu[]; ports: string[] }> {
  const before = await linkMtus(runner, bridge);
  if (before.length === 0) {
    // The plan's own command, failing as it would (the bridge is gone: the network stopped meanwhile).
    await runner.run("ip", ["link", "set", "dev", bridge, "mtu", String(mtu)]);
  }
  const ports: string[] = [];
  try {
    for (const l of before) {
      if (l.dev !== bridge && l.mtu === mtu) continue;
      if ((await setMtu(runner, l.dev, mtu)) && l.dev !== bridge) ports.push(l.dev);
    }
  } catch (err) {
    // A port the kernel refuses the MTU (over its device's maximum) fails the step after the bridge and the ports
    // before it took it: those are put back here, since the step's undo is registered only once it succeeded.
    await restoreLinkMtu(runner, before).catch(() => undefined);
    throw err;
  }
  return { before, ports };
}

/** Put back the MTUs `links` had (ports first, then the bridge, which is first in the list). */
export async function restoreLinkMtu(runner: CommandRunner, links: readonly LinkMtu[]): Promise<void> {
  for (const l of [...links].reverse()) if (l.mtu > 0) await setMtu(runner, l.dev, l.mtu);
}

/** The pid of the network's running dnsmasq (libvirt's pid file), when it is that network's dnsmasq; else null. */
export async function dnsmasqPid(network: string, runDir = LIBVIRT_NETWORK_RUN_DIR): Promise<number | null> {
  let pid: number;
  try {
    pid = Number((await readFile(`${runDir}/${network}.pid`, "utf8")).trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 1) return null;
  // Only ever signal the dnsmasq libvirt started for this network (a stale pid file may name another process).
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    return cmdline.includes(`--conf-file=${DNSMASQ_DIR}/${network}.conf`) ? pid : null;
  } catch {
    return null;
  }
}

/**
 * End the network's dnsmasq (SIGTERM) and wait until the process is gone, at most `waitMs`: the signal's argv,
 * null when none of it runs. libvirt, restarting dnsmasq for a range update right after, then finds no process
 * and starts the new one at once instead of polling the old one's exit every 200 ms. Past `waitMs` (a zombie
 * its parent does not reap) it returns all the same: libvirt then waits for it as it always did.
 */
export async function endDnsmasq(
  runner: CommandRunner,
  network: string,
  runDir = LIBVIRT_NETWORK_RUN_DIR,
  waitMs = 1000,
): Promise<string[] | null> {
  const pid = await dnsmasqPid(network, runDir);
  if (pid === null) return null;
  const argv = ["kill", "-TERM", String(pid)];
  await runner.run(argv[0] as string, argv.slice(1));
  const until = performance.now() + waitMs;
  while (performance.now() < until && processExists(pid)) await new Promise((r) => setTimeout(r, 2));
  return argv;
}

/** kill(pid, 0): true while the process (or its zombie) exists; a process of another user counts (EPERM). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The text of a file, "" when it does not exist. */
async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch {
    return "";
  }
}

/**
 * Write netforge's DHCP options file of `network` and have its dnsmasq re-read it (SIGHUP: dnsmasq re-reads its
 * options, hosts and addn-hosts files; leases and the process stay). Answers the text the file had and the signal
 * command run (null: no dnsmasq of the network runs; it reads the file when it starts).
 */
export async function writeDhcpOptions(
  runner: CommandRunner,
  network: string,
  file: string,
  text: string,
  runDir = LIBVIRT_NETWORK_RUN_DIR,
): Promise<{ before: string; signalled: string[] | null }> {
  const before = await readText(file);
  // Written whole then renamed (dnsmasq never reads half a file); readable by dnsmasq once it dropped to nobody.
  const tmp = `${file}.tmp`;
  try {
    await writeFile(tmp, text);
    // 0644 whatever the umask (the systemd unit's is 0077): dnsmasq reads it as nobody.
    await chmod(tmp, 0o644);
    await rename(tmp, file);
  } catch (err) {
    throw new AppError("HOST_COMMAND_FAILED", `could not write the DHCP options file ${file}: ${(err as Error).message}`, {
      command: ["write", file, text],
    });
  }
  const pid = await dnsmasqPid(network, runDir);
  if (pid === null) return { before, signalled: null };
  const argv = ["kill", "-HUP", String(pid)];
  await runner.run(argv[0] as string, argv.slice(1));
  return { before, signalled: argv };
}

/** The configuration libvirt wrote for the network's dnsmasq ("" when there is none). */
export const dnsmasqConf = (network: string, dir = DNSMASQ_DIR): Promise<string> => readText(`${dir}/${network}.conf`);

/** Whether the network's running dnsmasq reads netforge's options file (libvirt wrote `dhcp-optsfile=` into its configuration). */
export async function dnsmasqReadsOptions(network: string, file: string, dir = DNSMASQ_DIR): Promise<boolean> {
  return readsOptions(await dnsmasqConf(network, dir), file);
}

const readsOptions = (conf: string, file: string): boolean => conf.split("\n").includes(`dhcp-optsfile=${file}`);

/**
 * The MTU the network's dnsmasq hands out: the options file's (tagged with the bridge: it wins) when dnsmasq
 * reads that file and it has one, else libvirt's own `dhcp-option=option:mtu,N`; null: none.
 */
async function servedMtu(bridge: string, conf: string, file: string): Promise<number | null> {
  // Whole lines with a fixed prefix and digits after it: no pattern is built from the bridge name (a '.' in it
  // would match any character).
  const pick = (text: string, prefix: string): number | null => {
    const line = text.split("\n").find((l) => l.startsWith(prefix) && /^\d+$/.test(l.slice(prefix.length)));
    return line === undefined ? null : Number(line.slice(prefix.length));
  };
  const tagged = readsOptions(conf, file) ? pick(await readText(file), `tag:${bridge},option:mtu,`) : null;
  return tagged ?? pick(conf, "dhcp-option=option:mtu,");
}

/**
 * What a running network with MTU `mtu` on `bridge` lost (reconcile): links of it with another MTU (changed by
 * hand, or a port plugged in with another one), and whether its dnsmasq, reading the options file `file`
 * (`conf`: libvirt's configuration of it), hands out another MTU (then the file is to be written again).
 */
export async function mtuDrift(
  runner: CommandRunner,
  bridge: string,
  mtu: number,
  dhcp: { conf: string; file: string } | null,
  read?: readonly HostLink[],
): Promise<{ links: LinkMtu[]; options: boolean }> {
  const links = (await linkMtus(runner, bridge, read)).filter((l) => l.mtu !== mtu);
  const options = dhcp !== null && readsOptions(dhcp.conf, dhcp.file) && (await servedMtu(bridge, dhcp.conf, dhcp.file)) !== mtu;
  return { links, options };
}
