/**
 * A network's QoS set as tc commands (docs/adr/0044-network-qos.md), pure: the lines of `tc -batch` that make
 * the host's shaping what the set says, and the lines that take away what the previous set had and this one
 * has not. Inbound (toward the VMs) is an HTB tree on the bridge's egress, which only carries what crosses the
 * network's edge (frames between two VMs are switched port to port). Outbound (from the VMs) is an HTB tree on
 * the network's IFB, fed by a u32 + mirred redirect from the ingress of every port of the bridge (not from the
 * bridge's own ingress: with br_netfilter, routed frames re-injected there by the IFB are lost, seen on this
 * kernel); there the edge is the frames sent to the bridge's MAC (the gateway), filled in by the worker when it
 * runs (BRIDGE_MAC).
 *
 * Between two VMs of the network (frames switched port to port, never on the bridge device) only the VMs' own
 * limits apply: outbound, a VM's frames not sent to the gateway take its internal class on the IFB (a root
 * class 1:<2010+i> with the VM's rate, not under the network's 1:1; the rest to 1:3, not shaped); inbound, a
 * second IFB (`nfi-`) fed from the egress of every port (a root HTB on the port with a u32 + mirred redirect)
 * gives the frames to a VM with an inbound limit its internal class by ether dst, except frames from the
 * bridge's MAC (the edge, shaped on the bridge already), which pass in 1:3. The internal filters are prio 2
 * (u32 numbers a second prio's table by the order tables were made, so they carry no handle) and are replaced
 * as a whole: `filter del ... prio 2` in the cleanup, then added again.
 *
 * The tree of a direction: class 1:1 (the network's limit; none: 100 Gbit/s), class 1:2 under it (edge
 * traffic of no limited VM), and one class 1:<16+i> per VM i of the set with a limit that way, selected by a
 * u32 filter on the VM's MAC (ether dst inbound; ether src and the bridge's MAC as ether dst outbound),
 * handle 800::<i+1>. Applied with `replace` (classes and filters change in place: no qdisc is removed while
 * it stays wanted).
 */
import { createHash } from "node:crypto";
import type { QosLimitSpec, QosSpec } from "../actions/changes";

export type QosDirection = "inbound" | "outbound";

/** The root class's rate when the network itself has no limit that way (kbit/s: 100 Gbit/s). */
export const UNLIMITED_KBPS = 100_000_000;

/** Where the worker puts the bridge's MAC in an outbound line (read from the host when the plan runs). */
export const BRIDGE_MAC = "<bridge-mac>";

/** The u32 handle of the outbound catch-all edge filter (after every VM's: u32 tries a table's nodes in handle order). */
const EDGE_FILTER = "800::fff";

/** The IFB device of a network's outbound shaping: `nfq-` and 11 hex digits of its uuid (15 characters). */
export function ifbNameFor(uuid: string): string {
  const hex = uuid.replace(/-/g, "").toLowerCase();
  const id = /^[0-9a-f]{11,}$/.test(hex) ? hex.slice(0, 11) : createHash("sha256").update(uuid).digest("hex").slice(0, 11);
  return `nfq-${id}`;
}

/** Whether the set limits anything in direction `d`. */
export function limitsDirection(q: QosSpec | null | undefined, d: QosDirection): boolean {
  return !!q && (q.network?.[d] !== undefined || q.vms.some((v) => v[d] !== undefined));
}

/** Whether a VM of the set has its own limit in direction `d` (its traffic with the network's other VMs is shaped that way). */
export function limitsVms(q: QosSpec | null | undefined, d: QosDirection): boolean {
  return !!q && q.vms.some((v) => v[d] !== undefined);
}

/** The IFB of a network's inbound shaping between its VMs (fed from its ports' egress): `nfi-` and the outbound IFB's id. */
export const inboundIfbOf = (ifb: string): string => `nfi-${ifb.slice(4)}`;

/**
 * The IFB of a bridge network's outbound shaping between its VMs (fed from its VM ports' ingress; its `nfq-` IFB is
 * the uplink's inbound one): `nfo-` and the same id.
 */
export const vmOutIfbOf = (ifb: string): string => `nfo-${ifb.slice(4)}`;

/**
 * The mark bit netforge's bridge table sets (`meta mark set meta mark or`) on every frame a bridge network's uplink NIC
 * hands its bridge (docs/adr/0044-network-qos.md, sixth round): on a VM port's egress such a frame is from the LAN,
 * shaped at the uplink already. One bit, set with `or` and tested with `jset`, so other users' mark bits survive
 * and do not disturb it.
 */
export const LAN_MARK = 0x00100000;

/** Classic BPF's most MACs in one program: its jumps reach 255 instructions ahead, four instructions a MAC. */
const BPF_MAX_MACS = 63;

/**
 * Classic BPF for cls_bpf (`bytecode`; this kernel has cls_bpf with classic bytecode, no fw, basic, flower or
 * act_bpf): a match (return -1: the filter's actions run) for a frame whose Ethernet source (`src`, at byte 6) or
 * destination (`dst`, at 0) is one of `macs`, else no match (return 0: the next filter, or the qdisc's default);
 * cls_bpf sees the frame from its MAC header at ingress and egress alike. With `unmarked`, a frame carrying
 * LAN_MARK never matches (skb->mark: SKF_AD_OFF + SKF_AD_MARK = -4096 + 20, tested with jset). Per MAC: load its
 * first 4 bytes, compare, load the last 2, compare. More than BPF_MAX_MACS MACs: every (unmarked) frame matches.
 */
export function macBpf(macs: readonly string[], at: "src" | "dst", unmarked: boolean): string {
  const off = at === "src" ? 6 : 0;
  const list = [...new Set(macs.map((m) => m.toLowerCase()))].sort();
  const all = list.length > BPF_MAX_MACS;
  const n = all ? 0 : list.length;
  const ins: string[] = [];
  // The returns: `ret 0` at 4n (+2 with the mark test), `ret -1` after it.
  if (unmarked) ins.push(`32 0 0 ${(-4096 + 20) >>> 0}`, `69 ${all ? 1 : 4 * n} 0 ${LAN_MARK}`);
  list.slice(0, n).forEach((mac, k) => {
    const b = mac.split(":").map((x) => Number.parseInt(x, 16)) as [number, number, number, number, number, number];
    const hi = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    const lo = (b[4] << 8) | b[5];
    ins.push(`32 0 0 ${off}`, `21 0 2 ${hi}`, `40 0 0 ${off + 4}`, `21 ${4 * n - 4 * k - 3} 0 ${lo}`);
  });
  if (all) ins.push(`6 0 0 ${0xffffffff}`, "6 0 0 0");
  else ins.push("6 0 0 0", `6 0 0 ${0xffffffff}`);
  return `${ins.length},${ins.join(",")}`;
}

/** Whether the set limits anything at all. */
export const hasQos = (q: QosSpec | null | undefined): boolean => limitsDirection(q, "inbound") || limitsDirection(q, "outbound");

/** The class minor of VM i, in hex as tc writes it. */
export const vmClassMinor = (i: number): string => (16 + i).toString(16);
/** The class minor of VM i's traffic with the network's other VMs (a root class: not under the network's 1:1). */
export const vmInternalMinor = (i: number): string => (0x2010 + i).toString(16);
/** The u32 filter handle of VM i. */
export const vmFilterHandle = (i: number): string => `800::${(i + 1).toString(16)}`;

/** HTB's quantum for a rate: a tenth of a second's bytes, kept between one frame and 200,000 bytes. */
const quantumOf = (kbps: number): number => Math.max(1514, Math.min(200_000, Math.floor((kbps * 1000) / 8 / 10)));

/**
 * The peak of a limit when it means something: above the average and with a burst to send at it (without
 * burstKib the bucket is the kernel's default, about one frame, so there is no burst to cap).
 */
const peakOf = (l: QosLimitSpec): number | null =>
  l.burstKib !== undefined && l.peakKbps !== undefined && l.peakKbps > l.averageKbps ? l.peakKbps : null;

/**
 * HTB's arguments for a limit: rate = averageKbps, the long-run rate. With burstKib the rate's bucket holds that
 * many bytes (sent faster than the average after a quiet time); the burst goes at line rate (ceil = rate,
 * cburst = burst) or, with a peak, at up to peakKbps (ceil = peak, cburst tc's default: about one tick at the
 * peak). A root class cannot borrow, so that is all; a class under the network's (`nested`) could borrow up
 * to its ceil for good, so a peak there also gets a TBF leaf (tbfArgs) holding the long-run average.
 * `ceilOf`: the limit whose average and peak make the ceil (1:2: a smaller rate under the network's ceil).
 */
function htbArgs(l: QosLimitSpec, ceilOf: QosLimitSpec = l): string {
  const peak = peakOf(ceilOf);
  const bytes = l.burstKib === undefined ? 0 : l.burstKib * 1024;
  const burst = bytes === 0 ? "" : peak === null ? ` burst ${bytes} cburst ${bytes}` : ` burst ${bytes}`;
  return `htb rate ${l.averageKbps}kbit ceil ${peak ?? ceilOf.averageKbps}kbit${burst} quantum ${quantumOf(l.averageKbps)}`;
}

/**
 * The TBF leaf of a nested class with a peak: the average held over time, burstKib sent at up to the peak (its
 * peak bucket 64 KiB: a GSO frame of veth or a tap fits whole), a queue of 100 ms at the average plus the
 * burst. null: the limit has no peak (HTB alone holds it).
 */
export function tbfArgs(l: QosLimitSpec): string | null {
  const peak = peakOf(l);
  if (peak === null) return null;
  return `tbf rate ${l.averageKbps}kbit burst ${(l.burstKib as number) * 1024} peakrate ${peak}kbit mtu 65536 latency 100ms`;
}

/**
 * A root qdisc the shaping hangs from: made only when the device lacks it (HTB has no change operation, so
 * `tc qdisc replace` of one that is there fails; what hangs from it is replaced instead).
 */
export interface TcQdisc {
  dev: string;
  kind: "htb";
  /** Its handle's major (hex); absent: 1 (netforge's own devices). A host NIC's is UPLINK_MAJOR. */
  major?: string;
  /** The class of frames no filter takes: 2 (the network's edge, inbound) or 3 (between VMs, not shaped: the IFBs). */
  defaultClass: 2 | 3;
}

/** The tc line making a qdisc of the plan. */
export const qdiscLine = (q: TcQdisc): string => `qdisc replace dev ${q.dev} root handle ${q.major ?? "1"}: htb default ${q.defaultClass}`;

/** The tc lines feeding one port's ingress to the IFB (the qdisc made unless present, then the filter). */
export const portFeedLines = (port: string, ifb: string): { qdisc: string; filter: string } => ({
  qdisc: `qdisc add dev ${port} handle ffff: ingress`,
  filter: `filter replace dev ${port} parent ffff: protocol all prio 1 handle 800::1 u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
});

/**
 * The tc lines feeding one port's egress (frames toward its VM) to the inbound IFB: a root HTB on the port (made
 * unless present; it has no class: nothing is shaped there) whose first filter sends frames from the bridge's
 * MAC (the edge, shaped on the bridge already) to HTB's direct queue (classid 1:0) and whose second redirects
 * the rest (frames from the network's other VMs). The bypass keeps the edge's frames off the IFB hop (measured:
 * 16.7 Gbit/s through the port alone, 13.5 with every frame through the IFB). `mac`: the bridge's MAC, or
 * BRIDGE_MAC in the plan's text.
 */
export const portFeedInLines = (
  port: string,
  ifbIn: string,
  mac: string,
  select?: readonly string[],
): { qdisc: string; filters: string[] } => ({
  qdisc: `qdisc add dev ${port} root handle 1: htb`,
  filters: [
    `filter replace dev ${port} parent 1: protocol all prio 1 handle 800::1 u32 match ether src ${mac} flowid 1:0`,
    // A bridge network's port (`select`: the MACs of its VMs with an inbound limit): only frames to one of them and
    // not from the LAN (LAN_MARK: shaped at the uplink already) take the hop; the rest go to the port's direct
    // queue. A cls_bpf filter at prio 2 (a prio holds one classifier kind) with a fixed handle, replaced whole on
    // every apply; the u32 redirect stays away (at prio 1 it would take every frame first).
    select
      ? `filter replace dev ${port} parent 1: protocol all prio 2 handle 1 bpf bytecode "${macBpf(select, "dst", true)}" action mirred egress redirect dev ${ifbIn}`
      : `filter replace dev ${port} parent 1: protocol all prio 1 handle 800::2 u32 match u32 0 0 action mirred egress redirect dev ${ifbIn}`,
  ],
});

/** An overlay's VXLAN port on a member's bridge, and whether this member is the overlay's gateway host. */
export interface Tunnel {
  dev: string;
  gateway: boolean;
}

/**
 * The tc lines feeding an overlay gateway's VXLAN port's ingress to the outbound IFB: only frames to the bridge's
 * MAC (`mac`: other members' VMs to the gateway and the outside, the edge), so frames between VMs of two members
 * are not shaped again here (their sender's member shaped them; their receiver's shapes them at its port).
 */
export const tunnelFeedLines = (port: string, ifb: string, mac: string): { qdisc: string; filter: string } => ({
  qdisc: `qdisc add dev ${port} handle ffff: ingress`,
  filter: `filter replace dev ${port} parent ffff: protocol all prio 1 handle 800::1 u32 match ether dst ${mac} action mirred egress redirect dev ${ifb}`,
});

/** Whether a port of the bridge feeds its ingress (`out`) or its egress (`in`) to the IFBs of a plan with `tunnel`. */
export function portFed(port: string, tunnel: Tunnel | undefined, way: "out" | "in"): boolean {
  if (!tunnel || port !== tunnel.dev) return true;
  return way === "out" && tunnel.gateway;
}

/** Whether a plan does nothing at all (an overlay member's part of a set with only a network limit). */
export const emptyTcPlan = (p: TcPlan): boolean =>
  !p.ifb &&
  !p.ifbIn &&
  p.cleanup.length === 0 &&
  p.qdiscs.length === 0 &&
  !p.feedPorts &&
  !p.unfeedPorts &&
  !p.feedPortsIn &&
  !p.unfeedPortsIn &&
  p.batch.length === 0 &&
  !p.uplink;

/**
 * A bridge network's VM port's ingress fed to its `nfo-` IFB: only frames from one of `select` (its VMs with an
 * outbound limit; the rest, unlimited between VMs and shaped toward the LAN at the NIC, take no hop), by a cls_bpf
 * filter replaced whole on every apply.
 */
export const vmPortFeedLines = (port: string, ifbOut: string, select: readonly string[]): { qdisc: string; filter: string } => ({
  qdisc: `qdisc add dev ${port} handle ffff: ingress`,
  filter: `filter replace dev ${port} parent ffff: protocol all prio 1 handle 1 bpf bytecode "${macBpf(select, "src", false)}" action mirred egress redirect dev ${ifbOut}`,
});

/**
 * Where a network's VM ports are fed (both renderers' plans): `out` the IFB of their ingress, `in` the IFB of their
 * egress, `except` a port that is not a VM's (a bridge network's uplink NIC), `select` the MACs a bridge network's
 * feeds take, `tunnel` an overlay's VXLAN port (fed as portFed and tunnelFeedLines say, never as a VM's).
 */
export interface PortFeedSpec {
  out: string | null;
  in: string | null;
  except?: string;
  /** A bridge network: only frames from (out) or to (in) these MACs take the hop; the egress one passes LAN-marked frames. */
  select?: { out: readonly string[]; in: readonly string[] };
  /** An overlay's member: its VXLAN port, no VM's (TcPlan.tunnel). */
  tunnel?: Tunnel;
}

/** What applying a set runs: `cleanup` first (failures there are things already gone), the qdiscs a device lacks, the port feeds, then `batch`. */
export interface TcPlan {
  /** The IFB device exists (outbound shaping) after the apply. */
  ifb: boolean;
  /** tc batch lines removing what the previous set had and this one has not (each may find it already gone). */
  cleanup: string[];
  /** The root qdiscs, each made when its device lacks it. */
  qdiscs: TcQdisc[];
  /**
   * Every port of this bridge feeds its ingress to the IFB (the worker reads the ports when it runs; a port
   * plugged in later is fed by reconcile); null: none.
   */
  feedPorts: { bridge: string; ifb: string } | null;
  /** The feeds of every port of this bridge are taken away (outbound no longer limited); null: none. */
  unfeedPorts: string | null;
  /** The inbound IFB (`inboundIfbOf(ifb)`: a VM has an inbound limit) exists after the apply. */
  ifbIn: boolean;
  /** Every port of this bridge feeds its egress to the inbound IFB; null: none. */
  feedPortsIn: { bridge: string; ifb: string } | null;
  /** The egress feeds of every port of this bridge are taken away (no VM has an inbound limit any more); null: none. */
  unfeedPortsIn: string | null;
  /** tc batch lines making the shaping what the set says (idempotent: replace); BRIDGE_MAC filled in when it runs. */
  batch: string[];
  /**
   * An overlay's VXLAN device, a port of the bridge that is never a VM (docs/adr/0044-network-qos.md, "Overlay
   * networks"): its egress never feeds the inbound IFB; its ingress feeds the outbound IFB only on the gateway
   * host (`gateway`), and only the frames to the bridge's MAC (the edge: other members' VMs leaving the overlay).
   * Absent: every port is fed alike.
   */
  tunnel?: Tunnel;
  /**
   * A bridge network: its VM-to-VM outbound IFB (`vmOutIfbOf(ifb)`, fed from its VM ports' ingress) exists after the
   * apply; the port never fed or unfed (its uplink NIC); the MACs whose frames the feeds select (PortFeedSpec).
   * Absent: routed.
   */
  vmPorts?: { ifbOut: boolean; except: string; select: { out: string[]; in: string[] } };
  /**
   * A bridge network's uplink NIC (the host's, shaped at its edge: renderUplinkQos); absent on the routed types.
   * Checked before anything changes: a root or ingress qdisc on it that netforge did not add refuses the job.
   */
  uplink?: UplinkPlan;
}

/** What a plan does on a host NIC netforge does not own (a bridge network's uplink). */
export interface UplinkPlan {
  /** The NIC. */
  dev: string;
  /** The bridge it is a port of (its MAC is the host's own frames' on the NIC). */
  bridge: string;
  /** netforge's root HTB (UPLINK_MAJOR) is on the NIC after the apply (outbound limited). */
  root: boolean;
  /** The NIC's ingress feeds this IFB after the apply (inbound limited); null: no feed. */
  feedTo: string | null;
  /** netforge's root HTB is taken away (only when it is netforge's: the kernel's default comes back). */
  releaseRoot: boolean;
  /** netforge's ingress feed is taken away (only when the NIC's ingress holds netforge's filter alone). */
  releaseIngress: boolean;
}

/**
 * The tc commands taking the host from `had` (what the previous set made; null: nothing) to `want` on a
 * network whose bridge is `bridge` and whose IFB is `ifb`.
 */
export function renderQos(bridge: string, ifb: string, want: QosSpec | null, had: QosSpec | null, overlay?: Tunnel): TcPlan {
  if (overlay && !overlay.gateway) return renderMemberQos(bridge, ifb, want, had, overlay);
  const cleanup: string[] = [];
  const qdiscs: TcQdisc[] = [];
  const batch: string[] = [];
  for (const d of ["inbound", "outbound"] as const) {
    const dev = d === "inbound" ? bridge : ifb;
    const out = d === "outbound";
    const match = out ? "ether src" : "ether dst";
    if (!limitsDirection(want, d)) {
      if (limitsDirection(had, d)) cleanup.push(`qdisc del dev ${dev} root`);
      continue;
    }
    // The internal filters (prio 2, no handles) go as a whole and come back with the batch (also when the set is
    // applied again over itself: reconcile, start); then the classes of VMs gone.
    if (out && (limitsVms(want, d) || limitsVms(had, d))) cleanup.push(`filter del dev ${dev} parent 1: protocol all prio 2`);
    const w = want as QosSpec;
    // VM classes the previous set had that way and this one has not at the same index: filter, then class.
    const keep = new Set(w.vms.flatMap((v, i) => (v[d] ? [i] : [])));
    (had?.vms ?? []).forEach((v, i) => {
      const hadLimit = v[d];
      if (hadLimit === undefined) return;
      // A peak gone from a VM that stays: its TBF leaf goes (the class gets HTB's default leaf back).
      const wantLimit = w.vms[i]?.[d];
      if (keep.has(i) && tbfArgs(hadLimit) !== null && wantLimit !== undefined && tbfArgs(wantLimit) === null)
        cleanup.push(`qdisc del dev ${dev} parent 1:${vmClassMinor(i)} handle ${vmClassMinor(i)}:`);
      // u32 keeps a filter's keys through `replace` (only its class and actions change; seen on this kernel): a
      // different MAC at the same index needs the old filter deleted first.
      if (keep.has(i) && w.vms[i]?.mac !== v.mac)
        cleanup.push(`filter del dev ${dev} parent 1: protocol all prio 1 handle ${vmFilterHandle(i)} u32`);
      if (keep.has(i)) return;
      cleanup.push(`filter del dev ${dev} parent 1: protocol all prio 1 handle ${vmFilterHandle(i)} u32`);
      cleanup.push(`class del dev ${dev} classid 1:${vmClassMinor(i)}`);
      if (out) cleanup.push(`class del dev ${dev} classid 1:${vmInternalMinor(i)}`);
    });
    const net: QosLimitSpec = w.network?.[d] ?? { averageKbps: UNLIMITED_KBPS };
    qdiscs.push({ dev, kind: "htb", defaultClass: out ? 3 : 2 });
    batch.push(`class replace dev ${dev} parent 1: classid 1:1 ${htbArgs(net)}`);
    // 1:2's own rate is what the VMs' classes leave of the network's average: HTB lets every class send at
    // its own rate whatever its parent has, so 1:2 at the network's whole average beside busy VM classes
    // took the aggregate above the network's limit (40 + 20 for a 40 Mbit/s network). It borrows the rest.
    const guaranteed = w.vms.reduce((sum, v) => sum + (v[d]?.averageKbps ?? 0), 0);
    batch.push(
      `class replace dev ${dev} parent 1:1 classid 1:2 ${htbArgs({ ...net, averageKbps: Math.max(1, net.averageKbps - guaranteed) }, net)}`,
    );
    // Outbound frames to another VM of the network: not shaped unless their VM has its own limit (prio 2 below).
    if (out) batch.push(`class replace dev ${dev} parent 1: classid 1:3 ${htbArgs({ averageKbps: UNLIMITED_KBPS })}`);
    const edge = out ? ` match ether dst ${BRIDGE_MAC}` : "";
    w.vms.forEach((v, i) => {
      const l = v[d];
      if (l === undefined) return;
      batch.push(`class replace dev ${dev} parent 1:1 classid 1:${vmClassMinor(i)} ${htbArgs(l)}`);
      const tbf = tbfArgs(l);
      if (tbf) batch.push(`qdisc replace dev ${dev} parent 1:${vmClassMinor(i)} handle ${vmClassMinor(i)}: ${tbf}`);
      batch.push(
        `filter replace dev ${dev} parent 1: protocol all prio 1 handle ${vmFilterHandle(i)} u32 match ${match} ${v.mac}${edge} flowid 1:${vmClassMinor(i)}`,
      );
    });
    if (out) {
      batch.push(
        `filter replace dev ${dev} parent 1: protocol all prio 1 handle ${EDGE_FILTER} u32 match ether dst ${BRIDGE_MAC} flowid 1:2`,
      );
      batch.push(...internalLines(dev, w, d, "ether src"));
    }
  }
  // Inbound between VMs: the inbound IFB, fed from the ports' egress, when a VM has an inbound limit.
  const ifbIn = inboundIfbOf(ifb);
  const inner = limitsVms(want, "inbound");
  if (inner) {
    const w = want as QosSpec;
    cleanup.push(`filter del dev ${ifbIn} parent 1: protocol all prio 2`);
    const keep = new Set(w.vms.flatMap((v, i) => (v.inbound ? [i] : [])));
    (had?.vms ?? []).forEach((v, i) => {
      if (v.inbound !== undefined && !keep.has(i)) cleanup.push(`class del dev ${ifbIn} classid 1:${vmInternalMinor(i)}`);
    });
    qdiscs.push({ dev: ifbIn, kind: "htb", defaultClass: 3 });
    batch.push(`class replace dev ${ifbIn} parent 1: classid 1:3 ${htbArgs({ averageKbps: UNLIMITED_KBPS })}`);
    // Frames from the bridge's MAC crossed the edge: shaped on the bridge already, they pass here.
    batch.push(
      `filter replace dev ${ifbIn} parent 1: protocol all prio 1 handle ${EDGE_FILTER} u32 match ether src ${BRIDGE_MAC} flowid 1:3`,
    );
    batch.push(...internalLines(ifbIn, w, "inbound", "ether dst"));
  }
  const feeds = limitsDirection(want, "outbound");
  return {
    ifb: feeds,
    cleanup,
    qdiscs,
    feedPorts: feeds ? { bridge, ifb } : null,
    unfeedPorts: !feeds && limitsDirection(had, "outbound") ? bridge : null,
    ifbIn: inner,
    feedPortsIn: inner ? { bridge, ifb: ifbIn } : null,
    unfeedPortsIn: !inner && limitsVms(had, "inbound") ? bridge : null,
    batch,
    ...(overlay ? { tunnel: overlay } : {}),
  };
}

/**
 * An overlay member other than the gateway host (docs/adr/0044-network-qos.md, "Overlay networks"): no edge is
 * there (its bridge has no address; the VMs' traffic with the outside is bridged to the VXLAN device toward the
 * gateway host, where the network's limit and each VM's edge class hold it). So only the VMs' own limits, for
 * everything their local ports send and receive (the outside included: "internal" there), as the VM-to-VM classes
 * of the routed types: outbound a root class per VM by `ether src` on the IFB fed from the local ports' ingress,
 * inbound a root class per VM by `ether dst` on the inbound IFB fed from their egress; the rest passes in 1:3. No
 * tree on the bridge device, no network class; the VXLAN port feeds neither IFB (`tunnel`).
 */
function renderMemberQos(bridge: string, ifb: string, want: QosSpec | null, had: QosSpec | null, tunnel: Tunnel): TcPlan {
  const cleanup: string[] = [];
  const qdiscs: TcQdisc[] = [];
  const batch: string[] = [];
  for (const d of ["outbound", "inbound"] as const) {
    const dev = d === "outbound" ? ifb : inboundIfbOf(ifb);
    if (!limitsVms(want, d)) {
      // The outbound IFB goes with the plan (ifb false); the inbound one after its feeds are taken away.
      continue;
    }
    const w = want as QosSpec;
    internalTreeHead(dev, w, had, d, { cleanup, qdiscs, batch });
    batch.push(...internalLines(dev, w, d, d === "outbound" ? "ether src" : "ether dst"));
  }
  const out = limitsVms(want, "outbound");
  const inner = limitsVms(want, "inbound");
  return {
    ifb: out,
    cleanup,
    qdiscs,
    feedPorts: out ? { bridge, ifb } : null,
    unfeedPorts: !out && limitsVms(had, "outbound") ? bridge : null,
    ifbIn: inner,
    feedPortsIn: inner ? { bridge, ifb: inboundIfbOf(ifb) } : null,
    unfeedPortsIn: !inner && limitsVms(had, "inbound") ? bridge : null,
    batch,
    tunnel,
  };
}

/**
 * The head of an IFB's tree of the VMs' own classes in direction `d` (traffic between VMs: the routed types' and a
 * bridge network's alike): the previous internal filters (prio 2, replaced as a whole) and the classes of VMs no
 * longer limited that way go; the IFB's root HTB and its unshaped class 1:3 come.
 */
function internalTreeHead(
  dev: string,
  w: QosSpec,
  had: QosSpec | null,
  d: QosDirection,
  out: { cleanup: string[]; qdiscs: TcQdisc[]; batch: string[] },
): void {
  out.cleanup.push(`filter del dev ${dev} parent 1: protocol all prio 2`);
  const keep = new Set(w.vms.flatMap((v, i) => (v[d] ? [i] : [])));
  (had?.vms ?? []).forEach((v, i) => {
    if (v[d] !== undefined && !keep.has(i)) out.cleanup.push(`class del dev ${dev} classid 1:${vmInternalMinor(i)}`);
  });
  out.qdiscs.push({ dev, kind: "htb", defaultClass: 3 });
  out.batch.push(`class replace dev ${dev} parent 1: classid 1:3 ${htbArgs({ averageKbps: UNLIMITED_KBPS })}`);
}

/**
 * Each VM's class and filter for its traffic with the network's other VMs in direction `d` on `dev` (an IFB):
 * a root class with the VM's own limit, selected by its MAC (`match`: ether src outbound, ether dst inbound) in
 * prio 2, after prio 1's edge filters.
 */
function internalLines(dev: string, w: QosSpec, d: QosDirection, match: string): string[] {
  return w.vms.flatMap((v, i) => {
    const l = v[d];
    if (l === undefined) return [];
    return [
      `class replace dev ${dev} parent 1: classid 1:${vmInternalMinor(i)} ${htbArgs(l)}`,
      `filter add dev ${dev} parent 1: protocol all prio 2 u32 match ${match} ${v.mac} flowid 1:${vmInternalMinor(i)}`,
    ];
  });
}

/** The name of the step taking a network's shaping from `had` to `want`: the devices it shapes on. */
export function qosStepName(bridge: string, ifb: string, want: QosSpec | null, had: QosSpec | null, overlay?: Tunnel): string {
  if (overlay && !overlay.gateway) {
    const ifbs = [
      ...(limitsVms(want, "outbound") || limitsVms(had, "outbound") ? [ifb] : []),
      ...(limitsVms(want, "inbound") || limitsVms(had, "inbound") ? [inboundIfbOf(ifb)] : []),
    ];
    return `apply the VMs' bandwidth limits on this member's ports of ${bridge}${ifbs.length > 0 ? ` (${ifbs.join(", ")})` : ""} (tc)`;
  }
  const devs = [
    bridge,
    ...(limitsDirection(want, "outbound") || limitsDirection(had, "outbound") ? [ifb] : []),
    ...(limitsVms(want, "inbound") || limitsVms(had, "inbound") ? [inboundIfbOf(ifb)] : []),
  ];
  const last = devs.pop() as string;
  return `apply bandwidth limits on bridge ${devs.length > 0 ? `${devs.join(", ")} and ${last}` : last} (tc)`;
}

/** The plan's lines as one text (the dry run's and the job's view): the conditional lines marked as such. */
export function tcText(p: TcPlan): string {
  const t = p.tunnel;
  const sel = p.vmPorts?.select;
  const each = t ? "<each VM port>" : "<each port>";
  const feed = p.feedPorts ? (sel ? vmPortFeedLines(each, p.feedPorts.ifb, sel.out) : portFeedLines(each, p.feedPorts.ifb)) : null;
  const tunnelFeed = p.feedPorts && t?.gateway ? tunnelFeedLines(t.dev, p.feedPorts.ifb, BRIDGE_MAC) : null;
  const feedIn = p.feedPortsIn ? portFeedInLines(each, p.feedPortsIn.ifb, BRIDGE_MAC, sel?.in) : null;
  const but = p.vmPorts ? ` but ${p.vmPorts.except}` : "";
  const u = p.uplink;
  const uplinkFeed = u?.feedTo ? uplinkFeedLines(u.dev, u.feedTo) : null;
  const lines = [
    ...(u ? [`# uplink ${u.dev}: refused if its root or ingress qdisc is another tool's`] : []),
    ...p.cleanup.map((l) => `${l}    # if present`),
    ...(u?.releaseRoot ? [`qdisc del dev ${u.dev} root    # if netforge's htb ${UPLINK_MAJOR}:`] : []),
    ...(u?.releaseIngress ? [`qdisc del dev ${u.dev} handle ffff: ingress    # if it holds netforge's feed alone`] : []),
    ...(p.unfeedPorts ? [`qdisc del dev <each port of ${p.unfeedPorts}${but}> handle ffff: ingress    # if present`] : []),
    ...(p.unfeedPortsIn ? [`qdisc del dev <each port of ${p.unfeedPortsIn}${but}> root    # if netforge's htb 1:`] : []),
    ...p.qdiscs.map((q) => `${qdiscLine(q)}    # unless present`),
    ...(t ? [`# ${t.dev} (VXLAN) is no VM's port: ${t.gateway ? "only its frames to the gateway feed the outbound IFB" : "not fed"}`] : []),
    ...(feed && p.feedPorts
      ? [`${feed.qdisc}    # on each ${t ? "VM " : ""}port of ${p.feedPorts.bridge}${but}, unless present`, feed.filter]
      : []),
    ...(tunnelFeed ? [`${tunnelFeed.qdisc}    # unless present`, tunnelFeed.filter] : []),
    ...(feedIn && p.feedPortsIn
      ? [`${feedIn.qdisc}    # on each ${t ? "VM " : ""}port of ${p.feedPortsIn.bridge}${but}, unless present`, ...feedIn.filters]
      : []),
    ...(uplinkFeed ? [`${uplinkFeed.qdisc}    # unless present`, uplinkFeed.filter] : []),
    ...p.batch,
  ];
  return lines.map((l) => (l.startsWith("#") ? `${l}\n` : `tc ${l}\n`)).join("");
}

/**
 * The major of netforge's root HTB on a host NIC (a bridge network's uplink): "NF" in hex. A NIC's root qdisc
 * is the kernel's default (handle 0:), netforge's (this handle), or another tool's (anything else: the job is
 * refused, nothing of it is replaced); removing the set deletes only this one, and the kernel's default comes back.
 */
export const UPLINK_MAJOR = "4e46";

/** Where the worker puts the uplink NIC's own MAC (the host's frames may carry it too). */
export const NIC_MAC = "<nic-mac>";

/** The u32 handles of the host's own frames (the bridge's MAC, the NIC's, group addresses), before the catch-all 800::fff. */
const HOST_FILTERS = { bridge: "800::ffc", nic: "800::ffd", group: "800::ffe" } as const;

/** The tc lines feeding a NIC's ingress to an IFB (the qdisc made unless present, then netforge's one filter). */
export const uplinkFeedLines = (nic: string, ifb: string): { qdisc: string; filter: string } => portFeedLines(nic, ifb);

/**
 * A bridge network's shaping (docs/adr/0044-network-qos.md, fourth round), pure. On a bridge network VM <-> LAN
 * frames go between a VM's port and the uplink NIC's port, never through the bridge device, so the network's
 * edge is the uplink: outbound (from the VMs) an HTB root on the NIC's egress (handle UPLINK_MAJOR), inbound
 * (toward them) an HTB on the network's IFB fed from the NIC's ingress. The NIC also carries the host's own
 * frames (the bridge device's and the NIC's MAC; and, inbound, broadcasts and multicasts, which reach the host
 * too): those fall into class 3, a root class at 100 Gbit/s, never limited and never counted against the
 * network. The rest is the VMs': class 1 the network's limit, class 2 under it for the VMs without a limit that
 * way, one class per VM with a limit by its MAC (ether src outbound, ether dst inbound). BRIDGE_MAC and NIC_MAC
 * are read by the worker when it runs.
 */
export function renderUplinkQos(bridge: string, nic: string, ifb: string, want: QosSpec | null, had: QosSpec | null): TcPlan {
  const cleanup: string[] = [];
  const qdiscs: TcQdisc[] = [];
  const batch: string[] = [];
  for (const d of ["outbound", "inbound"] as const) {
    const out = d === "outbound";
    const dev = out ? nic : ifb;
    const M = out ? UPLINK_MAJOR : "1";
    const match = out ? "ether src" : "ether dst";
    if (!limitsDirection(want, d)) {
      // The NIC's root goes through the guarded release (UplinkPlan); the IFB goes with its qdisc.
      continue;
    }
    const w = want as QosSpec;
    const keep = new Set(w.vms.flatMap((v, i) => (v[d] ? [i] : [])));
    (had?.vms ?? []).forEach((v, i) => {
      const hadLimit = v[d];
      if (hadLimit === undefined) return;
      const wantLimit = w.vms[i]?.[d];
      if (keep.has(i) && tbfArgs(hadLimit) !== null && wantLimit !== undefined && tbfArgs(wantLimit) === null)
        cleanup.push(`qdisc del dev ${dev} parent ${M}:${vmClassMinor(i)} handle ${vmClassMinor(i)}:`);
      // u32 keeps a filter's keys through `replace`: another MAC at the same index, the old filter goes first.
      if (keep.has(i) && w.vms[i]?.mac !== v.mac)
        cleanup.push(`filter del dev ${dev} parent ${M}: protocol all prio 1 handle ${vmFilterHandle(i)} u32`);
      if (keep.has(i)) return;
      cleanup.push(`filter del dev ${dev} parent ${M}: protocol all prio 1 handle ${vmFilterHandle(i)} u32`);
      cleanup.push(`class del dev ${dev} classid ${M}:${vmClassMinor(i)}`);
    });
    const net: QosLimitSpec = w.network?.[d] ?? { averageKbps: UNLIMITED_KBPS };
    qdiscs.push({ dev, kind: "htb", defaultClass: 3, ...(out ? { major: M } : {}) });
    batch.push(`class replace dev ${dev} parent ${M}: classid ${M}:1 ${htbArgs(net)}`);
    const guaranteed = w.vms.reduce((sum, v) => sum + (v[d]?.averageKbps ?? 0), 0);
    batch.push(
      `class replace dev ${dev} parent ${M}:1 classid ${M}:2 ${htbArgs({ ...net, averageKbps: Math.max(1, net.averageKbps - guaranteed) }, net)}`,
    );
    // The host's own frames: never limited, never the network's.
    batch.push(`class replace dev ${dev} parent ${M}: classid ${M}:3 ${htbArgs({ averageKbps: UNLIMITED_KBPS })}`);
    w.vms.forEach((v, i) => {
      const l = v[d];
      if (l === undefined) return;
      batch.push(`class replace dev ${dev} parent ${M}:1 classid ${M}:${vmClassMinor(i)} ${htbArgs(l)}`);
      const tbf = tbfArgs(l);
      if (tbf) batch.push(`qdisc replace dev ${dev} parent ${M}:${vmClassMinor(i)} handle ${vmClassMinor(i)}: ${tbf}`);
      batch.push(
        `filter replace dev ${dev} parent ${M}: protocol all prio 1 handle ${vmFilterHandle(i)} u32 match ${match} ${v.mac} flowid ${M}:${vmClassMinor(i)}`,
      );
    });
    const host = (handle: string, sel: string) =>
      `filter replace dev ${dev} parent ${M}: protocol all prio 1 handle ${handle} u32 match ${sel} flowid ${M}:3`;
    batch.push(host(HOST_FILTERS.bridge, `${match} ${BRIDGE_MAC}`));
    batch.push(host(HOST_FILTERS.nic, `${match} ${NIC_MAC}`));
    // Inbound broadcasts and multicasts (the group bit of the destination's first byte) reach the host too.
    if (!out) batch.push(host(HOST_FILTERS.group, "u8 0x01 0x01 at -14"));
    batch.push(`filter replace dev ${dev} parent ${M}: protocol all prio 1 handle ${EDGE_FILTER} u32 match u32 0 0 flowid ${M}:2`);
  }
  // Between two VMs (sixth round): frames switched from one VM port to another never cross the NIC. Outbound, a
  // VM's frames taken at its port's ingress to `nfo-` (its own root class by ether src; frames to the host pass);
  // inbound, frames at a port's egress to `nfi-` (its own root class by ether dst) unless the bridge table marked
  // them as the LAN's (LAN_MARK: shaped at the uplink already) or they are the host's (from the bridge's MAC).
  const ifbOut = vmOutIfbOf(ifb);
  const ifbIn = inboundIfbOf(ifb);
  const vmOut = limitsVms(want, "outbound");
  const vmIn = limitsVms(want, "inbound");
  for (const [d, dev, match] of [
    ["outbound", ifbOut, "ether src"],
    ["inbound", ifbIn, "ether dst"],
  ] as const) {
    if (!limitsVms(want, d)) continue;
    const w = want as QosSpec;
    internalTreeHead(dev, w, had, d, { cleanup, qdiscs, batch });
    const host = (handle: string, sel: string) =>
      `filter replace dev ${dev} parent 1: protocol all prio 1 handle ${handle} u32 match ${sel} flowid 1:3`;
    if (d === "outbound") {
      // Frames to the host itself (the bridge device's address, the NIC's own MAC) are not between two VMs.
      batch.push(host(HOST_FILTERS.bridge, `ether dst ${BRIDGE_MAC}`), host(HOST_FILTERS.nic, `ether dst ${NIC_MAC}`));
    } else batch.push(host(EDGE_FILTER, `ether src ${BRIDGE_MAC}`));
    batch.push(...internalLines(dev, w, d, match));
  }
  const inbound = limitsDirection(want, "inbound");
  const outbound = limitsDirection(want, "outbound");
  return {
    ifb: inbound,
    cleanup,
    qdiscs,
    feedPorts: vmOut ? { bridge, ifb: ifbOut } : null,
    unfeedPorts: !vmOut && limitsVms(had, "outbound") ? bridge : null,
    ifbIn: vmIn,
    feedPortsIn: vmIn ? { bridge, ifb: ifbIn } : null,
    unfeedPortsIn: !vmIn && limitsVms(had, "inbound") ? bridge : null,
    vmPorts: {
      ifbOut: vmOut,
      except: nic,
      select: {
        out: (want?.vms ?? []).filter((v) => v.outbound).map((v) => v.mac),
        in: (want?.vms ?? []).filter((v) => v.inbound).map((v) => v.mac),
      },
    },
    batch,
    uplink: {
      dev: nic,
      bridge,
      root: outbound,
      feedTo: inbound ? ifb : null,
      releaseRoot: !outbound && limitsDirection(had, "outbound"),
      releaseIngress: !inbound && limitsDirection(had, "inbound"),
    },
  };
}

/** Where a network is shaped: its bridge, and on a bridge network the uplink NIC (null: the routed types' bridge). */
export interface ShapedAt {
  bridge: string;
  uplink: string | null;
  /** An overlay's member: its VXLAN port and whether it is the gateway host (absent: not an overlay). */
  overlay?: Tunnel;
}

/** The plan taking a network shaped at `at` from `had` to `want` (the routed types' or a bridge network's). */
export const renderQosAt = (at: ShapedAt, ifb: string, want: QosSpec | null, had: QosSpec | null): TcPlan =>
  at.uplink === null ? renderQos(at.bridge, ifb, want, had, at.overlay) : renderUplinkQos(at.bridge, at.uplink, ifb, want, had);

/** Where a plan's port feeds go (null: the plan feeds no port). */
export function portFeedsOf(p: TcPlan): PortFeedSpec | null {
  if (!p.feedPorts && !p.feedPortsIn) return null;
  return {
    out: p.feedPorts?.ifb ?? null,
    in: p.feedPortsIn?.ifb ?? null,
    ...(p.vmPorts ? { except: p.vmPorts.except, select: p.vmPorts.select } : {}),
    ...(p.tunnel ? { tunnel: p.tunnel } : {}),
  };
}

/** The step's name for a network shaped at `at`. */
export function qosStepNameAt(at: ShapedAt, ifb: string, want: QosSpec | null, had: QosSpec | null): string {
  if (at.uplink === null) return qosStepName(at.bridge, ifb, want, had, at.overlay);
  const used = (d: QosDirection) => limitsVms(want, d) || limitsVms(had, d);
  const ifbs = [
    ...(limitsDirection(want, "inbound") || limitsDirection(had, "inbound") ? [ifb] : []),
    ...(used("outbound") ? [vmOutIfbOf(ifb)] : []),
    ...(used("inbound") ? [inboundIfbOf(ifb)] : []),
  ];
  return `apply bandwidth limits on uplink ${at.uplink} of bridge ${at.bridge}${ifbs.length > 0 ? ` and ${ifbs.join(", ")}` : ""} (tc)`;
}
