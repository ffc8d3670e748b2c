import { type ExecOptions, type ExecResult, run } from "./exec.js";
import { type SandboxHost, execInNetns, removeVmMarker, udhcpcScriptPath, vmNetnsPrefix, writeVmMarker } from "./host.js";
import { deleteNetns, killNamespaceProcesses, netnsExists } from "./ns.js";
import { recordNamespace } from "./run-registry.js";
import { IFNAME_RE, NAME_RE, assertMac, assertMatch, macFromSeed, maskToPrefix, shortHash } from "./validate.js";

export interface DhcpLease {
  ip: string;
  prefix: number;
  router?: string;
  leaseSeconds?: number;
  serverId?: string;
  /** The MTU option of the lease (udhcpc asks for it), when the server sent one. */
  mtu?: number;
}

export interface NamespaceVm {
  name: string;
  /** `nfv-<host id>-<name>` */
  netns: string;
  mac: string;
  /** Host-side veth end (a port of the bridge, in the host namespace), `nv` + 10 hex chars. */
  hostIfname: string;
  /** The bridge the VM was attached to. */
  bridge: string;
  /** Run argv inside the VM namespace. */
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * `busybox udhcpc -i eth0 -n -q` with a script that sets the address and default route.
   * Sends the VM name (or `hostname`) as DHCP option 12. Throws when no lease comes within timeoutMs (default 10 s).
   */
  dhcp(opts?: { timeoutMs?: number; hostname?: string }): Promise<DhcpLease>;
  /** Delete the host-side veth (the VM loses its port on the bridge; its eth0 disappears too). Idempotent. */
  detach(): Promise<void>;
  /** Kill its processes, delete its namespace. Idempotent. */
  destroy(): Promise<void>;
}

export interface NamespaceVmOptions {
  /** [a-z0-9-], <= 32 chars; the netns name `nfv-<host id>-<name>` must be unique. */
  name: string;
  /** Bridge in the host namespace to enslave the VM's port to (e.g. a libvirt network's bridge). */
  bridge: string;
  /** Default: deterministic 02:4e:46:xx:xx:xx derived from host id + name. */
  mac?: string;
}

const HOSTNAME_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

/** A "VM" that is just a network namespace whose eth0 is a veth peer of a port on `bridge` inside the host. */
export async function createNamespaceVm(host: SandboxHost, opts: NamespaceVmOptions): Promise<NamespaceVm> {
  const name = assertMatch("VM name", opts.name, NAME_RE);
  const bridge = assertMatch("bridge name", opts.bridge, IFNAME_RE);
  const mac = opts.mac !== undefined ? assertMac(opts.mac) : macFromSeed(`${host.id}/${name}`);
  const netns = `${vmNetnsPrefix(host.id)}${name}`;
  const hostIfname = `nv${shortHash(`${host.id}/${name}`, 10)}`;
  if (netnsExists(netns)) throw new Error(`namespace VM ${name} already exists on sandbox host ${host.id} (${netns})`);
  const br = await run("ip", ["-n", host.netns, "-j", "link", "show", "dev", bridge], { reject: false });
  if (br.exitCode !== 0) throw new Error(`bridge ${bridge} does not exist on sandbox host ${host.id}`);
  const clash = await run("ip", ["-n", host.netns, "link", "show", "dev", hostIfname], { reject: false });
  if (clash.exitCode === 0) throw new Error(`interface ${hostIfname} already exists on sandbox host ${host.id}`);

  // Marker first, so destroySandboxHost finds the namespace even if we fail half-way.
  await writeVmMarker(host, name, { name, netns, mac, hostIfname, bridge });
  const vm = makeVm(host, { name, netns, mac, hostIfname, bridge });
  try {
    await run("ip", ["netns", "add", netns]);
    recordNamespace(netns);
    await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
    await run("ip", ["-n", host.netns, "link", "add", hostIfname, "type", "veth", "peer", "name", "eth0", "address", mac, "netns", netns]);
    await run("ip", ["-n", host.netns, "link", "set", hostIfname, "master", bridge]);
    await run("ip", ["-n", host.netns, "link", "set", hostIfname, "up"]);
    await run("ip", ["-n", netns, "link", "set", "eth0", "up"]);
  } catch (err) {
    await vm.detach().catch(() => undefined);
    await vm.destroy().catch(() => undefined);
    throw err;
  }
  return vm;
}

function makeVm(host: SandboxHost, v: { name: string; netns: string; mac: string; hostIfname: string; bridge: string }): NamespaceVm {
  const exec = (argv: string[], opts?: ExecOptions) => execInNetns(v.netns, argv, opts);
  return {
    ...v,
    exec,
    async dhcp(opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 10_000;
      const hostname = assertMatch("hostname", opts.hostname ?? v.name, HOSTNAME_RE);
      const deadline = Date.now() + timeoutMs;
      // busybox udhcpc with -n exits ("no lease, failing") after three unanswered REQUESTs 1 s apart, however
      // long -t allows. A guest's client (dhclient, systemd-networkd, NetworkManager) goes back to DISCOVER and
      // keeps trying until its own timeout: so does this one, within timeoutMs. It matters when dnsmasq is busy:
      // its ping check of an address it is about to offer blocks its whole DHCP service for 3 s, so a second
      // client's REQUEST then goes unanswered for up to 3 s (two VMs leasing at the same moment, ADR 0051).
      const udhcpcArgv = (tries: number): string[] => [
        "busybox",
        "udhcpc",
        "-f",
        "-q",
        "-n",
        "-i",
        "eth0",
        "-t",
        String(tries),
        "-T",
        "1",
        "-s",
        udhcpcScriptPath(host),
        "-x",
        `hostname:${hostname}`,
        // Ask for the MTU option too (udhcpc asks for few options by default); the script reports it.
        "-O",
        "mtu",
      ];
      let r: Awaited<ReturnType<typeof exec>> | undefined;
      let line: string | undefined;
      let runs = 0;
      do {
        runs++;
        r = await exec(udhcpcArgv(Math.max(1, Math.ceil((deadline - Date.now()) / 1000))), {
          reject: false,
          timeoutMs: Math.max(1_000, deadline - Date.now()) + 3_000,
        });
        line = r.stdout.split("\n").find((l) => l.startsWith("NFDHCP "));
      } while ((r.exitCode !== 0 || !line) && deadline - Date.now() >= 1_000);
      if (r.exitCode !== 0 || !line) {
        throw new Error(
          `no DHCP lease for ${v.name} on ${v.bridge} within ${timeoutMs} ms (${runs} udhcpc run(s), last exit ${r.exitCode}): ${(r.stderr + r.stdout).trim().slice(-1000)}`,
        );
      }
      const kv: Record<string, string> = {};
      for (const m of line.slice(7).matchAll(/(\w+)=(\S*)/g)) kv[m[1]!] = m[2]!;
      if (!kv.ip) throw new Error(`unparsable udhcpc output: ${line}`);
      const prefix = kv.mask ? Number(kv.mask) : kv.subnet ? maskToPrefix(kv.subnet) : 24;
      const lease: DhcpLease = { ip: kv.ip, prefix };
      if (kv.router) lease.router = kv.router;
      if (kv.lease && /^\d+$/.test(kv.lease)) lease.leaseSeconds = Number(kv.lease);
      if (kv.serverid) lease.serverId = kv.serverid;
      if (kv.mtu && /^\d+$/.test(kv.mtu)) lease.mtu = Number(kv.mtu);
      return lease;
    },
    async detach() {
      if (!netnsExists(host.netns)) return;
      const r = await run("ip", ["-n", host.netns, "link", "del", "dev", v.hostIfname], { reject: false });
      if (r.exitCode !== 0 && !/Cannot find device|does not exist/i.test(r.stderr)) {
        throw new Error(`could not detach ${v.name}: ${r.stderr.trim()}`);
      }
    },
    async destroy() {
      await killNamespaceProcesses([v.netns]);
      await deleteNetns(v.netns);
      await removeVmMarker(host, v.name);
      // The kernel tears a deleted namespace's veth down asynchronously; until then its peer is still a port
      // of the bridge. Wait for it to go, so "VM gone" really means "nothing attached" to callers.
      for (let i = 0; i < 200 && netnsExists(host.netns); i++) {
        const r = await run("ip", ["-n", host.netns, "link", "show", "dev", v.hostIfname], { reject: false });
        if (r.exitCode !== 0) break;
        await new Promise((res) => setTimeout(res, 25));
      }
    },
  };
}
