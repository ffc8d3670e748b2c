/**
 * A network's shaping on the host (docs/adr/0044-network-qos.md): what the kernel offers for it (probed once on
 * a throw-away IFB device, so nothing of the host's own is touched), and applying one QoS plan's tc lines
 * (render/tc-qos.ts) with `tc -batch -`.
 */
import { AppError } from "@netforge/core/contract";
import {
  BRIDGE_MAC,
  inboundIfbOf,
  NIC_MAC,
  type PortFeedSpec,
  portFeedInLines,
  portFeedLines,
  portFed,
  portFeedsOf,
  type Tunnel,
  tunnelFeedLines,
  qdiscLine,
  type TcPlan,
  UPLINK_MAJOR,
  type UplinkPlan,
  uplinkFeedLines,
  vmOutIfbOf,
  vmPortFeedLines,
} from "@netforge/core/model";
import { type CommandRunner, commandFailed } from "./command-runner";

/** What the kernel offers for shaping (list-hosts `qos`). */
export interface QosCapability {
  supported: boolean;
  missing: string[];
}

/** The qdisc kinds netforge's shaping uses (NETFORGE_QOS_QDISCS may name more: a test names one the kernel lacks). */
export const DEFAULT_QOS_QDISCS: readonly string[] = ["htb"];

/**
 * Probe the kernel: an IFB device (outbound shaping's), each qdisc kind of `qdiscs` as a root qdisc on it, the
 * ingress qdisc, and a u32 filter with a mirred redirect (what feeds the IFB). All on a device made for the
 * probe and removed after it.
 */
export async function probeQos(runner: CommandRunner, qdiscs: readonly string[] = DEFAULT_QOS_QDISCS): Promise<QosCapability> {
  const dev = `nfq-probe${process.pid % 100000}`.slice(0, 15);
  const missing: string[] = [];
  const made = await runner.run("ip", ["link", "add", dev, "type", "ifb"], { allowFailure: true });
  if (made.exitCode !== 0 && !/File exists/i.test(made.stderr)) {
    return { supported: false, missing: [`the ifb device (ip link add type ifb: ${made.stderr.trim() || `exit ${made.exitCode}`})`] };
  }
  try {
    for (const kind of qdiscs) {
      const r = await runner.run("tc", ["qdisc", "replace", "dev", dev, "root", "handle", "1:", kind], { allowFailure: true });
      if (r.exitCode !== 0) missing.push(`the ${kind} qdisc (${r.stderr.trim() || `exit ${r.exitCode}`})`);
    }
    const ing = await runner.run("tc", ["qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"], { allowFailure: true });
    if (ing.exitCode !== 0) missing.push(`the ingress qdisc (${ing.stderr.trim() || `exit ${ing.exitCode}`})`);
    else {
      const f = await runner.run(
        "tc",
        ["filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "prio", "1", "u32", "match", "u32", "0", "0"].concat([
          "action",
          "mirred",
          "egress",
          "redirect",
          "dev",
          dev,
        ]),
        { allowFailure: true },
      );
      if (f.exitCode !== 0) missing.push(`the u32 classifier with the mirred action (${f.stderr.trim() || `exit ${f.exitCode}`})`);
    }
  } finally {
    await runner.run("ip", ["link", "del", dev], { allowFailure: true });
  }
  return { supported: missing.length === 0, missing };
}

const probes = new WeakMap<CommandRunner, Map<string, Promise<QosCapability>>>();

/** The host's capability, probed once per runner and qdisc list (the kernel does not change under a worker). */
export function qosCapabilityOf(runner: CommandRunner, qdiscs: readonly string[] = DEFAULT_QOS_QDISCS): Promise<QosCapability> {
  let byList = probes.get(runner);
  if (!byList) {
    byList = new Map();
    probes.set(runner, byList);
  }
  const key = qdiscs.join(",");
  let p = byList.get(key);
  if (!p) {
    p = probeQos(runner, qdiscs);
    byList.set(key, p);
    // A probe that could not run at all is tried again next time.
    p.catch(() => byList.delete(key));
  }
  return p;
}

/** The job's refusal of a host without what shaping needs (before anything is changed). */
export function qosUnsupported(cap: QosCapability): AppError {
  return new AppError("HOST_COMMAND_FAILED", `this host cannot shape traffic: it lacks ${cap.missing.join("; ")}`, {
    missing: cap.missing,
  });
}

/** Lines a cleanup may answer when its object is already gone. */
const GONE =
  /No such file|Cannot find|not find|does not exist|doesn't exist|Invalid handle|Cannot delete qdisc with handle of zero|Specified class not found|Filter with specified priority\/protocol not found/i;

/** The ports of a bridge now (a VM's tap or veth); [] when the bridge does not exist. */
export async function bridgePorts(runner: CommandRunner, bridge: string): Promise<string[]> {
  const r = await runner.run("ip", ["-j", "link", "show", "master", bridge], { allowFailure: true });
  if (r.exitCode !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}

/** The bridge's MAC (what a VM sends its frames to the gateway to). */
async function bridgeMac(runner: CommandRunner, bridge: string): Promise<string> {
  const r = await runner.run("ip", ["-j", "link", "show", "dev", bridge]);
  const mac = (JSON.parse(r.stdout) as { address?: string }[])[0]?.address;
  if (!mac) throw new AppError("HOST_COMMAND_FAILED", `bridge ${bridge} has no MAC address to shape its edge traffic by`, { bridge });
  return mac;
}

/**
 * Run batch lines in one process with `-force` (each line runs whatever the ones before it answered), where a line
 * whose answer `fine` matches is fine (an object already gone, a device already there); any other failed line
 * throws HOST_COMMAND_FAILED naming that line. `tc`/`ip` print each failed line's messages, then
 * `Command failed -:<line>`.
 */
async function batchTolerant(runner: CommandRunner, tool: "tc" | "ip", lines: readonly string[], fine: RegExp): Promise<void> {
  if (lines.length === 0) return;
  const r = await runner.run(tool, ["-force", "-batch", "-"], { input: `${lines.join("\n")}\n`, allowFailure: true });
  if (r.exitCode === 0) return;
  let said: string[] = [];
  let failed = 0;
  for (const l of r.stderr.split("\n")) {
    const m = /^Command failed -:(\d+)\s*$/.exec(l);
    if (!m) {
      if (l.trim()) said.push(l);
      continue;
    }
    failed++;
    const text = said.join("\n");
    said = [];
    if (!fine.test(text)) throw commandFailed(tool, (lines[Number(m[1]) - 1] ?? "").split(" "), { ...r, stderr: text });
  }
  // A failure not tied to a line (the tool itself): never fine.
  if (failed === 0) throw commandFailed(tool, ["-force", "-batch", "-"], r);
}

/** A promise's value or its error, as data (for reads made together whose failure matters only to some uses). */
const settled = <T>(p: Promise<T>): Promise<{ value: T } | { error: unknown }> =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/** Run tc lines where an object already gone is fine (one process). */
const tcTolerant = (runner: CommandRunner, lines: readonly string[]): Promise<void> => batchTolerant(runner, "tc", lines, GONE);

/**
 * Where a bridge's ports are fed: `out` the outbound IFB (their ingress), `in` the inbound IFB (their egress);
 * `except` a port never fed (a bridge network's uplink NIC), `select` the MACs a bridge network's feeds take,
 * `tunnel` an overlay's VXLAN port (no VM's: portFed).
 */
export type PortFeeds = PortFeedSpec;

/**
 * The VM ports of a bridge: its ports but `except` (a bridge network's uplink NIC) and an overlay's VXLAN port
 * (`tunnel`: no VM's, fed as portFed says).
 */
export async function vmPortsOf(runner: CommandRunner, bridge: string, except?: string, tunnel?: Tunnel): Promise<string[]> {
  return (await bridgePorts(runner, bridge)).filter((p) => p !== except && p !== tunnel?.dev);
}

/** The line of `tc qdisc show` a port has when its egress feeds the inbound IFB (netforge's root HTB). */
const egressFed = (lines: readonly string[], port: string) => lines.some((l) => l.startsWith(`qdisc htb 1: dev ${port} root`));
/** The line of `tc qdisc show` a port has when its ingress feeds the outbound IFB. */
const ingressFed = (lines: readonly string[], port: string) => lines.some((l) => l.startsWith(`qdisc ingress ffff: dev ${port} `));

/**
 * Feed every port of `bridge` to the IFBs of `to` (each qdisc made unless present, each redirect replaced); the
 * ports fed. An overlay's VXLAN port (`tunnel`) is no VM's: fed only on the gateway host, its ingress only, and
 * only its frames to the bridge's MAC.
 */
export async function feedPorts(runner: CommandRunner, bridge: string, to: PortFeeds, shown?: string): Promise<string[]> {
  const ports = (await bridgePorts(runner, bridge)).filter((p) => p !== to.except);
  if (ports.length === 0) return ports;
  const needMac = !!to.in || (!!to.out && !!to.tunnel?.gateway && ports.includes(to.tunnel.dev));
  const [qdiscs, mac] = await Promise.all([
    shown ?? runner.run("tc", ["qdisc", "show"]).then((r) => r.stdout),
    needMac ? bridgeMac(runner, bridge) : null,
  ]);
  const batch = feedLines(ports, to, qdiscs, mac);
  if (batch.length > 0) await runner.run("tc", ["-batch", "-"], { input: `${batch.join("\n")}\n` });
  return fedPorts(ports, to);
}

/** The ports of `ports` that feeds reach (an overlay's VXLAN port only where portFed says). */
const fedPorts = (ports: readonly string[], to: PortFeeds): string[] =>
  ports.filter((p) => portFed(p, to.tunnel, "out") || portFed(p, to.tunnel, "in"));

/**
 * The tc lines feeding `ports` (the bridge's now, but `except`) to the IFBs of `to`, given `tc qdisc show`
 * (`shown`: a qdisc already there is not added again) and the bridge's MAC (`mac`; needed by inbound feeds and a
 * gateway's tunnel feed).
 */
function feedLines(ports: readonly string[], to: PortFeeds, shown: string, mac: string | null): string[] {
  const tunnel = to.tunnel;
  const lines = shown.split("\n");
  const batch: string[] = [];
  for (const port of ports) {
    if (to.out && portFed(port, tunnel, "out")) {
      const feed =
        tunnel && port === tunnel.dev && mac
          ? tunnelFeedLines(port, to.out, mac)
          : to.select
            ? vmPortFeedLines(port, to.out, to.select.out)
            : portFeedLines(port, to.out);
      if (!ingressFed(lines, port)) batch.push(feed.qdisc);
      batch.push(feed.filter);
    }
    if (to.in && mac && portFed(port, tunnel, "in")) {
      const feed = portFeedInLines(port, to.in, mac, to.select?.in);
      if (!egressFed(lines, port)) batch.push(feed.qdisc);
      batch.push(...feed.filters);
    }
  }
  return batch;
}

/** Make IFB devices (one there already is fine) and bring them up: one `ip` process. */
async function makeIfbs(runner: CommandRunner, devs: readonly string[]): Promise<void> {
  await batchTolerant(
    runner,
    "ip",
    devs.flatMap((d) => [`link add ${d} type ifb`, `link set dev ${d} up`]),
    /File exists/i,
  );
}

/** Remove an IFB device (gone already is fine). */
async function removeIfb(runner: CommandRunner, dev: string): Promise<void> {
  const r = await runner.run("ip", ["link", "del", dev], { allowFailure: true });
  if (r.exitCode !== 0 && !/Cannot find device|does not exist/i.test(r.stderr)) throw commandFailed("ip", ["link", "del", dev], r);
}

/**
 * Apply one plan: the IFBs made (and up) when the plan wants them, the cleanup lines (each alone: a line whose
 * object is already gone is fine), the ports' feeds taken away, the root qdiscs a device lacks, every port of the
 * bridge fed to the IFBs, the batch (all or fail: HOST_COMMAND_FAILED with tc's stderr) with the bridge's MAC
 * filled in, and the IFBs removed when the plan no longer wants them. `ifb` is the outbound IFB; the inbound
 * one is `inboundIfbOf(ifb)`.
 */
export async function applyTc(runner: CommandRunner, ifb: string, p: TcPlan): Promise<void> {
  const ifbIn = inboundIfbOf(ifb);
  // A host NIC: what is on it is read first; another tool's qdisc there refuses the job before anything changes.
  const uplink = p.uplink ? await uplinkState(runner, p.uplink.dev, ifb) : null;
  if (p.uplink && uplink) checkUplink(p.uplink, uplink);
  await makeIfbs(runner, [...(p.ifb ? [ifb] : []), ...(p.ifbIn ? [ifbIn] : []), ...(p.vmPorts?.ifbOut ? [vmOutIfbOf(ifb)] : [])]);
  await tcTolerant(runner, p.cleanup);
  if (p.unfeedPorts || p.unfeedPortsIn) {
    const bridge = (p.unfeedPorts ?? p.unfeedPortsIn) as string;
    // Every port but the uplink NIC; an overlay's VXLAN port only where it was fed (the gateway's ingress).
    const ports = (await bridgePorts(runner, bridge)).filter((port) => port !== p.vmPorts?.except);
    const lines = p.unfeedPortsIn ? (await runner.run("tc", ["qdisc", "show"])).stdout.split("\n") : [];
    await tcTolerant(runner, [
      ...(p.unfeedPorts
        ? ports.filter((port) => portFed(port, p.tunnel, "out")).map((port) => `qdisc del dev ${port} handle ffff: ingress`)
        : []),
      // Only netforge's root HTB: a port's own root qdisc (none on a veth, the default on a tap) stays.
      ...(p.unfeedPortsIn
        ? ports.filter((port) => portFed(port, p.tunnel, "in") && egressFed(lines, port)).map((port) => `qdisc del dev ${port} root`)
        : []),
    ]);
  }
  if (p.uplink && uplink) {
    const u = p.uplink;
    // Only what is netforge's: its root HTB (the kernel's default comes back), its ingress feed alone.
    await tcTolerant(runner, [
      ...(u.releaseRoot && uplink.root === "netforge" ? [`qdisc del dev ${u.dev} root`] : []),
      ...(u.releaseIngress && uplink.ingress === "netforge" ? [`qdisc del dev ${u.dev} handle ffff: ingress`] : []),
    ]);
  }
  // What the batch needs of the host, read at once (after the cleanup, which may have taken qdiscs away): the
  // qdiscs there, the bridge's ports and its MAC (a bridge's MAC follows its ports: read now, not remembered).
  const bridge = p.feedPorts?.bridge ?? p.feedPortsIn?.bridge ?? p.uplink?.bridge;
  const feeds = portFeedsOf(p);
  const feeding = !!bridge && !!feeds;
  const reading = p.qdiscs.length > 0 || feeding;
  const batchMac = p.batch.some((l) => l.includes(BRIDGE_MAC));
  const feedMac = feeding && (!!feeds?.in || !!feeds?.tunnel?.gateway);
  const wantsNicMac = !!p.uplink && p.batch.some((l) => l.includes(NIC_MAC));
  const [shown, ports, bridgeMacRead, nmac] = await Promise.all([
    reading ? runner.run("tc", ["qdisc", "show"]).then((r) => r.stdout) : "",
    feeding ? bridgePorts(runner, bridge).then((ps) => ps.filter((port) => port !== feeds?.except)) : [],
    bridge && (batchMac || feedMac) ? settled(bridgeMac(runner, bridge)) : { value: null },
    wantsNicMac && p.uplink ? bridgeMac(runner, p.uplink.dev) : null,
  ]);
  // The bridge's MAC is a failure only where it is used: the batch's lines, or a port to feed (a bridge without
  // ports, or none at all, feeds nothing).
  if ("error" in bridgeMacRead && (batchMac || ports.length > 0)) throw bridgeMacRead.error;
  const bmac = "value" in bridgeMacRead ? bridgeMacRead.value : null;
  const lines = shown.split("\n");
  // One batch, in this order: the root qdiscs a device lacks, every port of the bridge fed to the IFBs, then the
  // plan's classes and filters with the MACs filled in (all or fail: HOST_COMMAND_FAILED with tc's stderr).
  const batch = [
    ...p.qdiscs.filter((q) => !lines.some((l) => l.startsWith(`qdisc htb ${q.major ?? "1"}: dev ${q.dev} root`))).map(qdiscLine),
    ...(feeding && feeds ? feedLines(ports, feeds, shown, bmac) : []),
  ];
  if (p.batch.length > 0) {
    let text = p.batch.join("\n");
    // The uplink's host filters holding another MAC go first (u32 keeps a filter's keys through `replace`), so the
    // batch adds them with the MAC the bridge has now.
    if (p.uplink) await tcTolerant(runner, await staleHostFilters(runner, p, { bridge: bmac, nic: nmac }));
    if (bmac) text = text.split(BRIDGE_MAC).join(bmac);
    if (nmac) text = text.split(NIC_MAC).join(nmac);
    batch.push(text);
  }
  if (batch.length > 0) await runner.run("tc", ["-batch", "-"], { input: `${batch.join("\n")}\n` });
  // The NIC's ingress feeds the IFB once the IFB's classes are there (frames meet the whole tree at once).
  if (p.uplink?.feedTo) {
    const feed = uplinkFeedLines(p.uplink.dev, p.uplink.feedTo);
    const lines = [...(uplink?.ingress === "none" ? [feed.qdisc] : []), feed.filter];
    await runner.run("tc", ["-batch", "-"], { input: `${lines.join("\n")}\n` });
  }
  if (!p.ifb) await removeIfb(runner, ifb);
  // The inbound IFB only when the plan took its feeds away (a set that never had one runs no extra command).
  if (!p.ifbIn && p.unfeedPortsIn) await removeIfb(runner, ifbIn);
  if (p.vmPorts && !p.vmPorts.ifbOut && p.unfeedPorts) await removeIfb(runner, vmOutIfbOf(ifb));
}

/**
 * Whether the host's shaping of a network is in place, as `qdiscs` (the output of `tc qdisc show`, every
 * device) lists it: the HTB root on the bridge (inbound), on the IFB and the ingress qdisc on every port of the
 * bridge (`ports`; outbound), and the HTB root on the inbound IFB and on every port (`inner`: a VM has an inbound
 * limit).
 */
export function qosInPlace(
  qdiscs: string,
  bridge: string,
  ifb: string,
  inbound: boolean,
  outbound: boolean,
  ports: readonly string[] = [],
  inner = false,
): boolean {
  const lines = qdiscs.split("\n");
  const has = (prefix: string) => lines.some((l) => l.startsWith(prefix));
  if (inbound && !has(`qdisc htb 1: dev ${bridge} root`)) return false;
  if (outbound && (!has(`qdisc htb 1: dev ${ifb} root`) || ports.some((p) => !ingressFed(lines, p)))) return false;
  if (inner && (!has(`qdisc htb 1: dev ${inboundIfbOf(ifb)} root`) || ports.some((p) => !egressFed(lines, p)))) return false;
  return true;
}

/**
 * Whether a plan's qdiscs and port feeds are all on the host, as `qdiscs` (`tc qdisc show`, every device) lists
 * them: each root HTB of the plan, and on each of `ports` (the bridge's now) the feeds the plan wants of it (an
 * overlay's VXLAN port: only the gateway's ingress feed). The plan-driven form of qosInPlace, for every role.
 */
export function planInPlace(qdiscs: string, p: TcPlan, ports: readonly string[]): boolean {
  const lines = qdiscs.split("\n");
  if (p.qdiscs.some((q) => !lines.some((l) => l.startsWith(`qdisc htb ${q.major ?? "1"}: dev ${q.dev} root`)))) return false;
  if (p.feedPorts && ports.some((port) => portFed(port, p.tunnel, "out") && !ingressFed(lines, port))) return false;
  if (p.feedPortsIn && ports.some((port) => portFed(port, p.tunnel, "in") && !egressFed(lines, port))) return false;
  return true;
}

/** The ports of `ports` lacking a feed plan `p` wants of them (never a bridge network's uplink NIC), per `tc qdisc show`'s lines. */
export function portsLackingFeeds(p: TcPlan, ports: readonly string[], shown: readonly string[]): string[] {
  return ports.filter(
    (port) =>
      port !== p.vmPorts?.except &&
      ((!!p.feedPorts && portFed(port, p.tunnel, "out") && !ingressFed(shown, port)) ||
        (!!p.feedPortsIn && portFed(port, p.tunnel, "in") && !egressFed(shown, port))),
  );
}

/** Whose a host NIC's root and ingress qdiscs are: none of anyone's (the kernel's default), netforge's, another tool's. */
export interface UplinkState {
  root: "default" | "netforge" | "other";
  ingress: "none" | "netforge" | "other";
  /** The other tool's qdisc as tc shows it (for the refusal). */
  shown: string[];
}

/**
 * Read whose the NIC's qdiscs are (`tc qdisc show dev`, and its ingress filters when it has an ingress qdisc). The
 * root is the kernel's default when its handle is 0: (noqueue, pfifo_fast, mq, fq_codel as the kernel attaches
 * them), netforge's when it is `htb 4e46:`. The ingress is netforge's when its only filter is the u32
 * match-all (800::1, prio 1) redirecting to this network's IFB, or when it holds no filter at all (netforge's
 * feed whose filter was deleted by hand: reconcile puts it back); clsact, or any other filter, is another tool's.
 */
export async function uplinkState(runner: CommandRunner, dev: string, ifb: string): Promise<UplinkState> {
  const r = await runner.run("tc", ["qdisc", "show", "dev", dev], { allowFailure: true });
  if (r.exitCode !== 0) throw commandFailed("tc", ["qdisc", "show", "dev", dev], r);
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("qdisc "));
  const shown: string[] = [];
  const rootLine = lines.find((l) => / root( |$)/.test(l));
  let root: UplinkState["root"] = "default";
  if (rootLine?.startsWith(`qdisc htb ${UPLINK_MAJOR}: `)) root = "netforge";
  else if (rootLine && !/^qdisc \S+ 0: /.test(rootLine)) {
    root = "other";
    shown.push(rootLine.trim());
  }
  const ingLine = lines.find((l) => / parent ffff:fff1/.test(l) || /^qdisc (ingress|clsact) /.test(l));
  let ingress: UplinkState["ingress"] = "none";
  if (ingLine) {
    if (!ingLine.startsWith("qdisc ingress ffff:")) ingress = "other";
    else {
      const f = await runner.run("tc", ["filter", "show", "dev", dev, "parent", "ffff:"], { allowFailure: true });
      ingress = ingressIsNetforge(f.stdout, ifb) ? "netforge" : "other";
    }
    if (ingress === "other") shown.push(ingLine.trim());
  }
  return { root, ingress, shown };
}

/** Whether an ingress qdisc's filters (`tc filter show dev X parent ffff:`) are netforge's feed to `ifb` alone (or none). */
export function ingressIsNetforge(filters: string, ifb: string): boolean {
  const lines = filters.split("\n").filter((l) => l.trim() !== "");
  for (const l of lines) {
    if (l.startsWith("filter ") && !/ pref 1 u32 /.test(l)) return false;
    // A u32 leaf (fh <table>::<node>): netforge's one is 800::1.
    const leaf = / fh ([0-9a-f]+):([0-9a-f]*):([0-9a-f]+) /.exec(l);
    if (leaf && !(leaf[1] === "800" && leaf[3] === "1")) return false;
    const redirect = /Redirect to device (\S+)\)/.exec(l);
    if (redirect && redirect[1] !== ifb) return false;
    if (/action order \d+: (?!mirred)/.test(l)) return false;
  }
  return true;
}

/** Refuse a plan that would replace or remove another tool's qdisc on the uplink NIC (nothing has changed yet). */
function checkUplink(u: UplinkPlan, s: UplinkState): void {
  const conflicts = [
    ...(u.root && s.root === "other" ? ["its root qdisc"] : []),
    ...(u.feedTo && s.ingress === "other" ? ["its ingress qdisc"] : []),
  ];
  if (conflicts.length === 0) return;
  throw new AppError(
    "PRECONDITION_FAILED",
    `uplink ${u.dev} has ${conflicts.join(" and ")} set by another tool (${s.shown.join("; ")}): netforge does not replace a qdisc it did not add; remove it to shape the network there`,
    { interface: u.dev, qdiscs: s.shown },
  );
}

/**
 * Whether a bridge network's shaping is in place on its uplink, as `qdiscs` (`tc qdisc show`) lists it: netforge's
 * root HTB on the NIC (outbound), the IFB's HTB and the NIC's ingress qdisc (inbound).
 */
export function uplinkQosInPlace(
  qdiscs: string,
  nic: string,
  ifb: string,
  inbound: boolean,
  outbound: boolean,
  vms: { ports: readonly string[]; out: boolean; in: boolean } = { ports: [], out: false, in: false },
): boolean {
  const lines = qdiscs.split("\n");
  const has = (prefix: string) => lines.some((l) => l.startsWith(prefix));
  if (outbound && !has(`qdisc htb ${UPLINK_MAJOR}: dev ${nic} root`)) return false;
  if (inbound && (!has(`qdisc htb 1: dev ${ifb} root`) || !ingressFed(lines, nic))) return false;
  // Between two VMs (sixth round): the VM ports' feeds and the IFBs they feed.
  if (vms.out && (!has(`qdisc htb 1: dev ${vmOutIfbOf(ifb)} root`) || vms.ports.some((p) => !ingressFed(lines, p)))) return false;
  if (vms.in && (!has(`qdisc htb 1: dev ${inboundIfbOf(ifb)} root`) || vms.ports.some((p) => !egressFed(lines, p)))) return false;
  return true;
}

/** What one u32 filter of a plan must be: its handle (prio 1), and the MAC it matches when that MAC is the host's (a placeholder). */
interface WantedFilter {
  handle: string;
  /** `ether src|dst` and the MAC (or BRIDGE_MAC / NIC_MAC) it matches; null: not checked. */
  mac: { at: "src" | "dst"; value: string } | null;
}

/** The u32 filters a plan's batch (and an uplink's feed) puts on each device's qdisc: `<dev> <parent>` -> prio 1 filters, prio 2 count. */
export function expectedFilters(p: TcPlan): Map<string, { filters: WantedFilter[]; prio2: number }> {
  const out = new Map<string, { filters: WantedFilter[]; prio2: number }>();
  const lines = [...p.batch, ...(p.uplink?.feedTo ? [uplinkFeedLines(p.uplink.dev, p.uplink.feedTo).filter] : [])];
  for (const l of lines) {
    const m = /^filter (?:replace|add) dev (\S+) parent (\S+) protocol all prio (\d+) (?:handle (\S+) )?u32 /.exec(l);
    if (!m) continue;
    const key = `${m[1]} ${m[2]}`;
    const e = out.get(key) ?? { filters: [], prio2: 0 };
    if (m[3] === "1" && m[4]) {
      // The host's MACs are read when the plan runs: a bridge's MAC can change (a Linux bridge takes its lowest
      // port's unless set), and a filter holding the old one would put the host's own frames in the VMs' class.
      const mac = /match ether (src|dst) (<bridge-mac>|<nic-mac>)(?: |$)/.exec(l);
      e.filters.push({ handle: m[4], mac: mac ? { at: mac[1] as "src" | "dst", value: mac[2] as string } : null });
    } else e.prio2 += 1;
    out.set(key, e);
  }
  return out;
}

/** A u32 leaf as `tc filter show` lists it: its prio, handle and the bytes it matches by offset from the network header. */
interface ShownLeaf {
  pref: number;
  handle: string;
  bytes: Map<number, number>;
}

/** The u32 leaves `tc filter show` lists (pure). */
export function shownLeaves(listing: string): ShownLeaf[] {
  const leaves: ShownLeaf[] = [];
  for (const l of listing.split("\n")) {
    const m = / pref (\d+) u32 .*?fh ([0-9a-f]+::?[0-9a-f]+) order /.exec(l);
    if (m) {
      leaves.push({ pref: Number(m[1]), handle: m[2] as string, bytes: new Map() });
      continue;
    }
    const k = /^\s+match ([0-9a-f]{8})\/([0-9a-f]{8}) at (-?\d+)/.exec(l);
    const leaf = leaves.at(-1);
    if (!k || !leaf) continue;
    for (let i = 0; i < 4; i++) {
      if (parseInt((k[2] as string).slice(i * 2, i * 2 + 2), 16) !== 0xff) continue;
      leaf.bytes.set(Number(k[3]) + i, parseInt((k[1] as string).slice(i * 2, i * 2 + 2), 16));
    }
  }
  return leaves;
}

/** The MAC a leaf matches as ether src (offsets -8..-3) or dst (-14..-9); null when it does not match all six bytes. */
export function leafMac(leaf: ShownLeaf, at: "src" | "dst"): string | null {
  const from = at === "src" ? -8 : -14;
  const bytes: string[] = [];
  for (let o = from; o < from + 6; o++) {
    const b = leaf.bytes.get(o);
    if (b === undefined) return null;
    bytes.push(b.toString(16).padStart(2, "0"));
  }
  return bytes.join(":");
}

/**
 * Whether every filter of a plan is on its device (a filter deleted by hand leaves the qdiscs in place but a VM,
 * or the host's own frames, in the wrong class), and the filters of the host's own MACs match the MACs the
 * bridge and the NIC have now: one `tc filter show` per device of the network (the bridge or uplink NIC and the
 * IFBs; not each port: their feeds are checked by their qdiscs), one `ip link show` per MAC checked.
 */
export async function filtersInPlace(runner: CommandRunner, p: TcPlan): Promise<boolean> {
  const bridge = p.feedPorts?.bridge ?? p.feedPortsIn?.bridge ?? p.uplink?.bridge ?? null;
  const macs = new Map<string, string | null>();
  const macOf = async (placeholder: string): Promise<string | null> => {
    if (!macs.has(placeholder)) {
      const dev = placeholder === BRIDGE_MAC ? bridge : (p.uplink?.dev ?? null);
      macs.set(placeholder, dev ? await bridgeMac(runner, dev).catch(() => null) : null);
    }
    return macs.get(placeholder) ?? null;
  };
  for (const [key, want] of expectedFilters(p)) {
    const [dev, parent] = key.split(" ") as [string, string];
    if (dev.startsWith("<")) continue;
    const r = await runner.run("tc", ["filter", "show", "dev", dev, "parent", parent], { allowFailure: true });
    if (r.exitCode !== 0) return false;
    const leaves = shownLeaves(r.stdout);
    for (const f of want.filters) {
      const leaf = leaves.find((l) => l.pref === 1 && l.handle === f.handle);
      if (!leaf) return false;
      if (f.mac) {
        const now = await macOf(f.mac.value);
        if (now !== null && leafMac(leaf, f.mac.at) !== now.toLowerCase()) return false;
      }
    }
    if (leaves.filter((l) => l.pref !== 1).length < want.prio2) return false;
  }
  return true;
}

/** The `filter del` lines of a plan's host MAC filters whose MAC on the host is not the one given (gone ones are fine). */
export async function staleHostFilters(
  runner: CommandRunner,
  p: TcPlan,
  macs: { bridge: string | null; nic: string | null },
): Promise<string[]> {
  const out: string[] = [];
  for (const [key, want] of expectedFilters(p)) {
    const checked = want.filters.filter((f) => f.mac !== null);
    if (checked.length === 0) continue;
    const [dev, parent] = key.split(" ") as [string, string];
    const r = await runner.run("tc", ["filter", "show", "dev", dev, "parent", parent], { allowFailure: true });
    if (r.exitCode !== 0) continue;
    const leaves = shownLeaves(r.stdout);
    for (const f of checked) {
      const mac = f.mac?.value === BRIDGE_MAC ? macs.bridge : macs.nic;
      const leaf = leaves.find((l) => l.pref === 1 && l.handle === f.handle);
      if (!mac || !leaf || !f.mac || leafMac(leaf, f.mac.at) === mac.toLowerCase()) continue;
      out.push(`filter del dev ${dev} parent ${parent} protocol all prio 1 handle ${f.handle} u32`);
    }
  }
  return out;
}
