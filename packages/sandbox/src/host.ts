import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { appendFile, chmod, copyFile, mkdir, readdir, rename, rm, unlink, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { execa } from "execa";
import { type ExecOptions, type ExecResult, run } from "./exec.js";
import { deleteNetns, killNamespaceProcesses, listNetns, netnsExists, pidAlive, netnsId, pidComm, pidInNetns, sleep } from "./ns.js";
import { underReaper } from "./reaper.js";
import { recordNamespace } from "./run-registry.js";
import { HOST_ID_RE, assertMatch, uplinkAddresses, uplinkAddresses6 } from "./validate.js";

/** Root of the default state dirs (`<root>/<id>`) and of the shared QEMU capabilities cache. */
export const SANDBOX_ROOT = "/tmp/netforge-sandbox";
const CAPS_TEMPLATE_DIR = join(SANDBOX_ROOT, ".cache", "qemu-capabilities");
const STATE_FILE = "state.json";

export interface SandboxHostOptions {
  /** Short id, [a-z0-9-], <= 12 chars. Namespaces: `nfh-<id>` (host) and `nfo-<id>` (outside). */
  id: string;
  /** This host's state dir. Default `/tmp/netforge-sandbox/<id>`. */
  baseDir?: string;
  /** host<->outside link. Default "198.51.100.0/24": outside .1, host .2; host default route via outside. */
  uplinkCidr?: string;
  /**
   * An IPv6 prefix on the same host<->outside link, e.g. "fd00:99::/64": outside ::1, host ::2 (no duplicate address
   * detection, so they answer at once), the host's IPv6 default route via the outside. Default none (IPv4 only).
   */
  uplinkCidr6?: string;
  /** Keep the `default` libvirt network that /etc/libvirt ships (defined, not autostarted). Default false: the host starts with no networks. */
  keepDefaultNetwork?: boolean;
  /** How long to wait for libvirtd to answer. Default 60 s (the very first start probes QEMU, ~8 s here; later starts reuse a cache). */
  readyTimeoutMs?: number;
}

export interface SandboxHost {
  id: string;
  dir: string;
  netns: string;
  outsideNetns: string;
  libvirtdPid: number;
  /** For use from the machine's root namespaces: `qemu:///system?socket=<dir>/run/libvirt-sock`. */
  libvirtUri: string;
  /** The host's uplink address (the masquerade source seen by the outside). */
  hostAddress: string;
  outsideAddress: string;
  /** The host's and the outside's IPv6 uplink addresses (`uplinkCidr6`), null without one. */
  hostAddress6: string | null;
  outsideAddress6: string | null;
  /** Prefix length of the uplink link. */
  uplinkPrefix: number;
  /** Host-side veth of the uplink ("uplink0"). */
  uplinkInterface: string;
  /** Outside-side veth of the uplink ("eth0", in the outside namespace). */
  outsideInterface: string;
  /** `["nsenter","-t",<libvirtd pid>,"-m","-n","--"]`: run a command exactly as a process on that hypervisor would. */
  nsenterPrefix: string[];
  /** Run inside the host (libvirtd's mount + network namespaces). */
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Run inside the outside namespace. */
  execOutside(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** `virsh -c qemu:///system <args>` inside the host. */
  virsh(args: string[], opts?: ExecOptions): Promise<ExecResult>;
}

/** What is persisted in `<dir>/state.json`. */
export interface SandboxHostState {
  version: 1;
  phase: "creating" | "ready";
  id: string;
  dir: string;
  netns: string;
  outsideNetns: string;
  libvirtdPid: number;
  libvirtUri: string;
  hostAddress: string;
  outsideAddress: string;
  uplinkCidr: string;
  /** The IPv6 uplink (absent: none). */
  uplink6?: { cidr: string; host: string; outside: string; prefix: number };
  uplinkPrefix: number;
  uplinkInterface: string;
  outsideInterface: string;
  createdAt: string;
}

export const hostNetnsName = (id: string) => `nfh-${id}`;
export const outsideNetnsName = (id: string) => `nfo-${id}`;
export const vmNetnsPrefix = (id: string) => `nfv-${id}-`;
export const defaultHostDir = (id: string) => join(SANDBOX_ROOT, id);

/** Run argv in a named network namespace (from the machine's mount namespace). */
export function execInNetns(netns: string, argv: string[], opts?: ExecOptions): Promise<ExecResult> {
  if (argv.length === 0) throw new Error("empty argv");
  return run("ip", ["netns", "exec", netns, ...argv], opts);
}

const UDHCPC_SCRIPT = `#!/bin/sh
# netforge sandbox: udhcpc event script (values come from udhcpc's environment)
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
      set -- $router
      ip route replace default via "$1" dev "$interface"
    fi
    echo "NFDHCP ip=$ip mask=$mask subnet=$subnet router=$1 lease=$lease serverid=$serverid mtu=$mtu"
    ;;
esac
exit 0
`;

export function udhcpcScriptPath(host: { dir: string }): string {
  return join(host.dir, "udhcpc.script");
}

export function hostFromState(s: SandboxHostState): SandboxHost {
  const nsenterPrefix = ["nsenter", "-t", String(s.libvirtdPid), "-m", "-n", "--"];
  const exec = (argv: string[], opts?: ExecOptions) => {
    if (argv.length === 0) throw new Error("empty argv");
    return run(nsenterPrefix[0]!, [...nsenterPrefix.slice(1), ...argv], opts);
  };
  return {
    id: s.id,
    dir: s.dir,
    netns: s.netns,
    outsideNetns: s.outsideNetns,
    libvirtdPid: s.libvirtdPid,
    libvirtUri: s.libvirtUri,
    hostAddress: s.hostAddress,
    outsideAddress: s.outsideAddress,
    hostAddress6: s.uplink6?.host ?? null,
    outsideAddress6: s.uplink6?.outside ?? null,
    uplinkPrefix: s.uplinkPrefix,
    uplinkInterface: s.uplinkInterface,
    outsideInterface: s.outsideInterface,
    nsenterPrefix,
    exec,
    execOutside: (argv, opts) => execInNetns(s.outsideNetns, argv, opts),
    virsh: (args, opts) => exec(["virsh", "-c", "qemu:///system", ...args], opts),
  };
}

export async function writeState(s: SandboxHostState): Promise<void> {
  const p = join(s.dir, STATE_FILE);
  await writeFile(`${p}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  await rename(`${p}.tmp`, p);
}

export function readState(dir: string): SandboxHostState | null {
  try {
    const s = JSON.parse(readFileSync(join(dir, STATE_FILE), "utf8")) as SandboxHostState;
    return s && s.version === 1 && typeof s.id === "string" ? s : null;
  } catch {
    return null;
  }
}

/** Wait until the anchor process has exec'd `sleep` inside its own private mount namespace in `netns`. */
async function waitForAnchor(pid: number, netns: string, exited: () => boolean): Promise<void> {
  const ownMnt = readlinkSync("/proc/self/ns/mnt");
  const wantNet = netnsId(netns);
  if (wantNet === null) throw new Error(`network namespace ${netns} is not there`);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited()) throw new Error("mount-namespace anchor exited early (ip netns exec / unshare failed)");
    try {
      if (pidComm(pid) === "sleep" && readlinkSync(`/proc/${pid}/ns/mnt`) !== ownMnt && readlinkSync(`/proc/${pid}/ns/net`) === wantNet)
        return;
    } catch {
      /* not there yet */
    }
    await sleep(10);
  }
  throw new Error("timed out waiting for the mount-namespace anchor");
}

/** Copy a previously probed QEMU capabilities cache into a new host (saves ~8 s of probing per libvirtd start). */
async function seedCapsCache(dir: string): Promise<void> {
  let files: string[];
  try {
    files = (await readdir(CAPS_TEMPLATE_DIR)).filter((f) => f.endsWith(".xml"));
  } catch {
    return;
  }
  const dst = join(dir, "cache", "qemu", "capabilities");
  await mkdir(dst, { recursive: true });
  await Promise.all(files.map((f) => copyFile(join(CAPS_TEMPLATE_DIR, f), join(dst, f))));
}

async function saveCapsCache(dir: string): Promise<void> {
  if (existsSync(CAPS_TEMPLATE_DIR)) return;
  const src = join(dir, "cache", "qemu", "capabilities");
  let files: string[];
  try {
    files = (await readdir(src)).filter((f) => f.endsWith(".xml"));
  } catch {
    return;
  }
  if (files.length === 0) return;
  const tmp = `${CAPS_TEMPLATE_DIR}.${process.pid}.${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  await Promise.all(files.map((f) => copyFile(join(src, f), join(tmp, f))));
  try {
    await rename(tmp, CAPS_TEMPLATE_DIR);
  } catch {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Create a sandbox hypervisor host: network namespace `nfh-<id>` with its own libvirtd (in a private
 * mount namespace whose /run/libvirt, /var/lib/libvirt, /etc/libvirt, /var/log/libvirt, /var/cache/libvirt
 * are bind mounts of `<dir>/{run,lib,etc,log,cache}`), and an "outside world" namespace `nfo-<id>`
 * connected by a veth pair; the host's default route points at the outside.
 * On failure everything created so far is removed again.
 */
export async function createSandboxHost(opts: SandboxHostOptions): Promise<SandboxHost> {
  const id = assertMatch("sandbox host id", opts.id, HOST_ID_RE);
  const dir = resolve(opts.baseDir ?? defaultHostDir(id));
  const uplinkCidr = opts.uplinkCidr ?? "198.51.100.0/24";
  const up = uplinkAddresses(uplinkCidr);
  const up6 = opts.uplinkCidr6 === undefined ? undefined : { cidr: opts.uplinkCidr6, ...uplinkAddresses6(opts.uplinkCidr6) };
  const netns = hostNetnsName(id);
  const outsideNetns = outsideNetnsName(id);
  if (netnsExists(netns) || netnsExists(outsideNetns)) {
    throw new Error(`sandbox host ${id} already exists (namespace ${netns}/${outsideNetns}); destroy it first`);
  }
  if (existsSync(dir)) {
    const old = readState(dir);
    const entries = await readdir(dir);
    if (old ? old.id !== id : entries.length > 0)
      throw new Error(`state dir ${dir} exists and is not a stale sandbox dir of ${id}; refusing to reuse it`);
    await rm(dir, { recursive: true, force: true });
  }

  const state: SandboxHostState = {
    version: 1,
    phase: "creating",
    id,
    dir,
    netns,
    outsideNetns,
    libvirtdPid: 0,
    libvirtUri: `qemu:///system?socket=${join(dir, "run", "libvirt-sock")}`,
    hostAddress: up.host,
    outsideAddress: up.outside,
    uplinkCidr,
    ...(up6 ? { uplink6: up6 } : {}),
    uplinkPrefix: up.prefix,
    uplinkInterface: "uplink0",
    outsideInterface: "eth0",
    createdAt: new Date().toISOString(),
  };

  let anchor: ReturnType<typeof execa> | undefined;
  try {
    for (const d of ["run", "lib", "etc", "log", "cache", "vms", "netforge"]) await mkdir(join(dir, d), { recursive: true });
    await writeState(state);
    await run("cp", ["-a", "/etc/libvirt/.", join(dir, "etc")]);
    await appendFile(join(dir, "etc", "qemu.conf"), '\n# netforge sandbox\nuser = "root"\ngroup = "root"\nstdio_handler = "file"\n');
    if (!opts.keepDefaultNetwork) {
      await rm(join(dir, "etc", "qemu", "networks", "default.xml"), { force: true });
      await rm(join(dir, "etc", "qemu", "networks", "autostart", "default.xml"), { force: true });
    }
    await writeFile(udhcpcScriptPath(state), UDHCPC_SCRIPT);
    await chmod(udhcpcScriptPath(state), 0o755);
    await seedCapsCache(dir);
    // Mount points for the bind mounts (empty directories on the machine; libvirt packages create most of them).
    for (const d of ["/run/libvirt", "/var/lib/libvirt", "/etc/libvirt", "/var/log/libvirt", "/var/cache/libvirt", "/var/lib/netforge"])
      await mkdir(d, { recursive: true });

    // Namespaces and the uplink. Everything is created inside the new namespaces (never in the machine's own).
    await run("ip", ["netns", "add", netns]);
    recordNamespace(netns);
    await run("ip", ["netns", "add", outsideNetns]);
    recordNamespace(outsideNetns);
    await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
    await run("ip", ["-n", outsideNetns, "link", "set", "lo", "up"]);
    await run("ip", [
      "-n",
      netns,
      "link",
      "add",
      state.uplinkInterface,
      "type",
      "veth",
      "peer",
      "name",
      state.outsideInterface,
      "netns",
      outsideNetns,
    ]);
    await run("ip", ["-n", netns, "addr", "add", `${up.host}/${up.prefix}`, "dev", state.uplinkInterface]);
    await run("ip", ["-n", outsideNetns, "addr", "add", `${up.outside}/${up.prefix}`, "dev", state.outsideInterface]);
    await run("ip", ["-n", netns, "link", "set", state.uplinkInterface, "up"]);
    await run("ip", ["-n", outsideNetns, "link", "set", state.outsideInterface, "up"]);
    await run("ip", ["-n", netns, "route", "add", "default", "via", up.outside, "dev", state.uplinkInterface]);
    await execInNetns(netns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    if (up6) {
      await run("ip", ["-n", netns, "-6", "addr", "add", `${up6.host}/${up6.prefix}`, "dev", state.uplinkInterface, "nodad"]);
      await run("ip", ["-n", outsideNetns, "-6", "addr", "add", `${up6.outside}/${up6.prefix}`, "dev", state.outsideInterface, "nodad"]);
      await run("ip", ["-n", netns, "-6", "route", "add", "default", "via", up6.outside, "dev", state.uplinkInterface]);
    }

    // A private mount namespace inside the host netns, held open by an anchor process. `ip netns exec`
    // already gives it a sysfs of the namespace (so /sys/class/net shows the host's interfaces and no
    // cgroup hierarchy is visible, hence libvirt does not create cgroups on the machine).
    let anchorExited = false;
    anchor = execa("ip", ["netns", "exec", netns, "unshare", "-m", "--propagation", "private", "--", "sleep", "infinity"], {
      stdio: "ignore",
      reject: false,
    });
    void anchor.then(() => {
      anchorExited = true;
    });
    const anchorPid = anchor.pid;
    if (!anchorPid) throw new Error("could not start the mount-namespace anchor");
    await waitForAnchor(anchorPid, netns, () => anchorExited);
    const binds: Array<[string, string]> = [
      ["run", "/run/libvirt"],
      ["lib", "/var/lib/libvirt"],
      ["etc", "/etc/libvirt"],
      ["log", "/var/log/libvirt"],
      ["cache", "/var/cache/libvirt"],
      // netforge's own state on the hypervisor (the worker's boot copy of its firewall, /var/lib/netforge/<host>/).
      ["netforge", "/var/lib/netforge"],
    ];
    const ownMnt = readlinkSync("/proc/self/ns/mnt");
    for (const [src, dst] of binds) {
      // Safety: never bind-mount in the machine's own mount namespace.
      if (readlinkSync(`/proc/${anchorPid}/ns/mnt`) === ownMnt) throw new Error("anchor is not in a private mount namespace");
      await run("nsenter", ["-t", String(anchorPid), "-m", "--", "mount", "--bind", join(dir, src), dst]);
    }
    const pidFile = join(dir, "libvirtd.pid");
    // Under a reaper, as a real host's init would reap libvirt's daemons (see reaper.ts).
    await run("nsenter", ["-t", String(anchorPid), "-m", "-n", "--", ...underReaper(["libvirtd", "-d", "--pid-file", pidFile])], {
      timeoutMs: 60_000,
    });

    // Wait for the daemon to answer.
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    let lastErr = "";
    for (;;) {
      let pid = 0;
      try {
        pid = Number.parseInt(readFileSync(pidFile, "utf8").trim(), 10);
      } catch {
        /* not yet written */
      }
      if (pid > 0) {
        if (!pidAlive(pid)) throw new Error(`libvirtd (pid ${pid}) died during startup; see ${join(dir, "log", "libvirtd.log")}`);
        const r = await run("virsh", ["-c", state.libvirtUri, "version"], { reject: false, timeoutMs: 10_000 });
        if (r.exitCode === 0) {
          state.libvirtdPid = pid;
          break;
        }
        lastErr = r.stderr.trim();
      }
      if (Date.now() > deadline) throw new Error(`libvirtd did not become ready: ${lastErr}; see ${join(dir, "log", "libvirtd.log")}`);
      await sleep(50);
    }
    // libvirtd now holds the mount namespace; the anchor is no longer needed.
    anchor.kill("SIGKILL");
    await anchor;
    anchor = undefined;

    state.phase = "ready";
    await writeState(state);
    await saveCapsCache(dir);
    return hostFromState(state);
  } catch (err) {
    if (anchor) {
      anchor.kill("SIGKILL");
      await anchor;
    }
    await destroySandboxHost(id, { baseDir: dir, graceful: false }).catch((e) => {
      (err as Error).message += `\n(cleanup after failed create also failed: ${(e as Error).message})`;
    });
    throw err;
  }
}

/** Re-attach to a host created earlier (possibly by another process) from `<dir>/state.json`. Null if it does not exist (any more). */
export async function loadSandboxHost(id: string, baseDir?: string): Promise<SandboxHost | null> {
  assertMatch("sandbox host id", id, HOST_ID_RE);
  const s = readState(resolve(baseDir ?? defaultHostDir(id)));
  if (!s || s.id !== id || s.phase !== "ready" || !netnsExists(s.netns)) return null;
  return hostFromState(s);
}

export interface SandboxHostSummary {
  id: string;
  dir: string;
  phase: string;
  netnsPresent: boolean;
  libvirtdPid: number;
  libvirtdAlive: boolean;
  libvirtUri: string;
}

/** Every state dir under /tmp/netforge-sandbox (hosts with a custom baseDir elsewhere are not listed). */
export async function listSandboxHosts(root = SANDBOX_ROOT): Promise<SandboxHostSummary[]> {
  let entries: string[] = [];
  try {
    entries = (await readdir(root)).filter((e) => !e.startsWith(".")).sort();
  } catch {
    return [];
  }
  const out: SandboxHostSummary[] = [];
  for (const e of entries) {
    const dir = join(root, e);
    const s = readState(dir);
    if (!s) {
      if (HOST_ID_RE.test(e))
        out.push({
          id: e,
          dir,
          phase: "unknown",
          netnsPresent: netnsExists(hostNetnsName(e)),
          libvirtdPid: 0,
          libvirtdAlive: false,
          libvirtUri: "",
        });
      continue;
    }
    out.push({
      id: s.id,
      dir,
      phase: s.phase,
      netnsPresent: netnsExists(s.netns),
      libvirtdPid: s.libvirtdPid,
      libvirtdAlive: s.libvirtdPid > 0 && pidInNetns(s.libvirtdPid, s.netns) && pidComm(s.libvirtdPid) === "libvirtd",
      libvirtUri: s.libvirtUri,
    });
  }
  return out;
}

/** VM namespaces that belong to host `id`: recorded markers plus unrecorded `nfv-<id>-*` (minus those of a host whose id extends ours). */
async function vmNamespacesOf(id: string, dir: string): Promise<string[]> {
  const found = new Set<string>();
  try {
    for (const f of await readdir(join(dir, "vms"))) {
      if (!f.endsWith(".json")) continue;
      try {
        const m = JSON.parse(readFileSync(join(dir, "vms", f), "utf8")) as { netns?: string };
        if (typeof m.netns === "string" && m.netns.startsWith(vmNetnsPrefix(id))) found.add(m.netns);
      } catch {
        /* ignore a broken marker */
      }
    }
  } catch {
    /* no vms dir */
  }
  const all = listNetns();
  const longerHosts = all.filter((n) => n.startsWith(`nfh-${id}-`)).map((n) => n.slice(4));
  for (const n of all) {
    if (!n.startsWith(vmNetnsPrefix(id))) continue;
    if (longerHosts.some((other) => n.startsWith(vmNetnsPrefix(other)))) continue;
    found.add(n);
  }
  return [...found];
}

/** Best-effort: destroy+undefine all domains, net-destroy+undefine all networks, so dnsmasq/qemu stop cleanly. */
async function libvirtCleanup(uri: string): Promise<void> {
  const virsh = (args: string[]) => run("virsh", ["-c", uri, ...args], { reject: false, timeoutMs: 20_000 });
  const names = (r: ExecResult) =>
    r.exitCode === 0
      ? r.stdout
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
      : [];
  const [doms, nets] = await Promise.all([virsh(["list", "--all", "--name"]), virsh(["net-list", "--all", "--name"])]);
  await Promise.all(names(doms).map((d) => virsh(["destroy", d]).then(() => virsh(["undefine", d, "--nvram"]))));
  await Promise.all(names(nets).map((n) => virsh(["net-destroy", n]).then(() => virsh(["net-undefine", n]))));
}

/**
 * Remove a sandbox host completely: libvirt domains and networks, every process in its host, outside and
 * VM namespaces (libvirtd, dnsmasq, qemu, anything), the namespaces, and its state dir. Idempotent; works
 * from the id alone (state dir `baseDir`, default /tmp/netforge-sandbox/<id>). Throws if anything remains.
 */
export interface DestroyOptions {
  /** State dir when destroying by id and the host was created with a custom baseDir. */
  baseDir?: string;
  /**
   * First `virsh destroy`/`undefine` every domain and `net-destroy`/`net-undefine` every network (default true).
   * false skips straight to killing the processes, which removes exactly as much (everything libvirt made
   * lives in the namespaces and the state dir) but saves ~2 s per running domain (`virsh destroy` is slow).
   */
  graceful?: boolean;
}

export async function destroySandboxHost(hostOrId: SandboxHost | string, baseDirOrOpts?: string | DestroyOptions): Promise<void> {
  const o: DestroyOptions = typeof baseDirOrOpts === "string" ? { baseDir: baseDirOrOpts } : (baseDirOrOpts ?? {});
  const baseDir = o.baseDir;
  const id = assertMatch("sandbox host id", typeof hostOrId === "string" ? hostOrId : hostOrId.id, HOST_ID_RE);
  const dir = resolve(typeof hostOrId === "string" ? (baseDir ?? defaultHostDir(id)) : hostOrId.dir);
  const state = readState(dir);
  const netns = hostNetnsName(id);
  const outsideNetns = outsideNetnsName(id);
  const vmNs = await vmNamespacesOf(id, dir);

  const libvirtdPid = state?.libvirtdPid ?? 0;
  if (o.graceful !== false && libvirtdPid > 0 && pidInNetns(libvirtdPid, netns) && pidComm(libvirtdPid) === "libvirtd") {
    const uri = state?.libvirtUri ?? `qemu:///system?socket=${join(dir, "run", "libvirt-sock")}`;
    await libvirtCleanup(uri).catch(() => undefined);
  }

  const namespaces = [netns, outsideNetns, ...vmNs];
  const signalled = await killNamespaceProcesses(namespaces);
  for (const n of [...vmNs, outsideNetns, netns]) await deleteNetns(n);

  const leftNs = listNetns().filter((n) => namespaces.includes(n));
  const leftPids = signalled.filter(pidAlive);
  if (leftNs.length > 0 || leftPids.length > 0) {
    throw new Error(`sandbox host ${id} not fully removed: namespaces [${leftNs.join(", ")}], pids [${leftPids.join(", ")}]`);
  }

  // Only remove a directory that is recognisably this host's state dir.
  if (existsSync(dir)) {
    const ours = state ? state.id === id : dir === defaultHostDir(id) || basename(dir) === id;
    if (!ours) throw new Error(`not removing ${dir}: it does not hold the state of sandbox host ${id}`);
    await rm(dir, { recursive: true, force: true });
    if (existsSync(dir)) throw new Error(`could not remove ${dir}`);
  }
}

/** Remove a VM marker file (used by namespace VMs). */
export async function removeVmMarker(host: { dir: string }, name: string): Promise<void> {
  await unlink(join(host.dir, "vms", `${name}.json`)).catch(() => undefined);
}

export async function writeVmMarker(host: { dir: string }, name: string, data: object): Promise<void> {
  await mkdir(join(host.dir, "vms"), { recursive: true });
  await writeFile(join(host.dir, "vms", `${name}.json`), `${JSON.stringify(data)}\n`);
}

/** Destroy every host with a state dir under /tmp/netforge-sandbox, plus orphan nfh-/nfo-/nfv- namespaces. */
export async function destroyAllSandboxHosts(opts: { orphans?: boolean; graceful?: boolean } = {}): Promise<string[]> {
  const ids = new Set<string>();
  for (const h of await listSandboxHosts()) ids.add(h.id);
  if (opts.orphans !== false) {
    for (const n of listNetns()) {
      const m = /^nf[ho]-([a-z0-9-]+)$/.exec(n);
      if (m && HOST_ID_RE.test(m[1]!)) ids.add(m[1]!);
    }
  }
  const done: string[] = [];
  for (const id of ids) {
    await destroySandboxHost(id, { graceful: opts.graceful !== false });
    done.push(id);
  }
  if (opts.orphans !== false) {
    // Underlay fabrics (fabric.ts) whose hosts are gone.
    for (const n of listNetns().filter((x) => x.startsWith("nff-"))) {
      await killNamespaceProcesses([n]);
      await deleteNetns(n);
    }
    // VM namespaces whose host is gone entirely.
    const vmLeft = listNetns().filter((n) => n.startsWith("nfv-"));
    if (vmLeft.length > 0) {
      await killNamespaceProcesses(vmLeft);
      for (const n of vmLeft) await deleteNetns(n);
    }
  }
  return done;
}
