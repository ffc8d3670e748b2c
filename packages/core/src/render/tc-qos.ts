/**
 * A network's QoS set as tc commands (docs/adr/0044-network-qos.md), pure: the lines of `tc -batch` that make
 * the host's shaping what the set says, and the lines that take away what the previous set had and this one
 * has not. Inbound (toward the VMs) is an HTB tree on the bridge's egress; outbound (from the VMs) an HTB tree
 * on the network's IFB, fed by a u32 + mirred redirect from the bridge's ingress. Either way the bridge device
 * only carries what crosses the network's edge (to and from the gateway and beyond it): frames between two VMs
 * are switched port to port and never reach these qdiscs.
 *
 * The tree of a direction: root class 1:1 (the network's limit; none: 100 Gbit/s), default class 1:2 under it
 * (every frame that is no limited VM's), and one class 1:<16+i> per VM i of the set with a limit that way,
 * selected by a u32 filter on the VM's MAC (ether dst inbound, ether src outbound), handle 800::<i+1>.
 * Applied with `replace` (classes and filters change in place: no qdisc is removed while it stays wanted).
 */
import { createHash } from "node:crypto";
import type { QosLimitSpec, QosSpec } from "../actions/changes";

export type QosDirection = "inbound" | "outbound";

/** The root class's rate when the network itself has no limit that way (kbit/s: 100 Gbit/s). */
export const UNLIMITED_KBPS = 100_000_000;

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

/** Whether the set limits anything at all. */
export const hasQos = (q: QosSpec | null | undefined): boolean => limitsDirection(q, "inbound") || limitsDirection(q, "outbound");

/** The class minor of VM i, in hex as tc writes it. */
export const vmClassMinor = (i: number): string => (16 + i).toString(16);
/** The u32 filter handle of VM i. */
export const vmFilterHandle = (i: number): string => `800::${(i + 1).toString(16)}`;

/** HTB's quantum for a rate: a tenth of a second's bytes, kept between one frame and 200,000 bytes. */
const quantumOf = (kbps: number): number => Math.max(1514, Math.min(200_000, Math.floor((kbps * 1000) / 8 / 10)));

function htbArgs(l: QosLimitSpec): string {
  const ceil = l.peakKbps ?? l.averageKbps;
  const burst = l.burstKib === undefined ? "" : ` burst ${l.burstKib * 1024} cburst ${l.burstKib * 1024}`;
  return `htb rate ${l.averageKbps}kbit ceil ${ceil}kbit${burst} quantum ${quantumOf(l.averageKbps)}`;
}

/**
 * A qdisc the shaping hangs from: made only when the device lacks it (HTB and ingress have no change
 * operation, so `tc qdisc replace` of one that is there fails; what hangs from it is replaced instead).
 */
export interface TcQdisc {
  dev: string;
  kind: "htb" | "ingress";
}

/** The tc line making a qdisc of the plan. */
export const qdiscLine = (q: TcQdisc): string =>
  q.kind === "htb" ? `qdisc replace dev ${q.dev} root handle 1: htb default 2` : `qdisc add dev ${q.dev} handle ffff: ingress`;

/** What applying a set runs: `cleanup` first (failures there are things already gone), the qdiscs a device lacks, then `batch`. */
export interface TcPlan {
  /** The IFB device exists (outbound shaping) after the apply. */
  ifb: boolean;
  /** tc batch lines removing what the previous set had and this one has not (each may find it already gone). */
  cleanup: string[];
  /** The root and ingress qdiscs, each made when its device lacks it. */
  qdiscs: TcQdisc[];
  /** tc batch lines making the shaping what the set says (idempotent: replace). */
  batch: string[];
}

/**
 * The tc commands taking the host from `had` (what the previous set made; null: nothing) to `want` on a
 * network whose bridge is `bridge` and whose IFB is `ifb`.
 */
export function renderQos(bridge: string, ifb: string, want: QosSpec | null, had: QosSpec | null): TcPlan {
  const cleanup: string[] = [];
  const qdiscs: TcQdisc[] = [];
  const batch: string[] = [];
  for (const d of ["inbound", "outbound"] as const) {
    const dev = d === "inbound" ? bridge : ifb;
    const match = d === "inbound" ? "ether dst" : "ether src";
    const wanted = limitsDirection(want, d);
    if (!wanted) {
      if (limitsDirection(had, d)) {
        if (d === "outbound") cleanup.push(`qdisc del dev ${bridge} handle ffff: ingress`);
        cleanup.push(`qdisc del dev ${dev} root`);
      }
      continue;
    }
    const w = want as QosSpec;
    // VM classes the previous set had that way and this one has not at the same index: filter, then class.
    const keep = new Set(w.vms.flatMap((v, i) => (v[d] ? [i] : [])));
    (had?.vms ?? []).forEach((v, i) => {
      if (v[d] === undefined || keep.has(i)) return;
      cleanup.push(`filter del dev ${dev} parent 1: protocol all prio 1 handle ${vmFilterHandle(i)} u32`);
      cleanup.push(`class del dev ${dev} classid 1:${vmClassMinor(i)}`);
    });
    if (d === "outbound") {
      qdiscs.push({ dev: bridge, kind: "ingress" });
      batch.push(
        `filter replace dev ${bridge} parent ffff: protocol all prio 1 handle 800::1 u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
      );
    }
    const net: QosLimitSpec = w.network?.[d] ?? { averageKbps: UNLIMITED_KBPS };
    qdiscs.push({ dev, kind: "htb" });
    batch.push(`class replace dev ${dev} parent 1: classid 1:1 ${htbArgs(net)}`);
    batch.push(`class replace dev ${dev} parent 1:1 classid 1:2 ${htbArgs(net)}`);
    w.vms.forEach((v, i) => {
      const l = v[d];
      if (l === undefined) return;
      batch.push(`class replace dev ${dev} parent 1:1 classid 1:${vmClassMinor(i)} ${htbArgs(l)}`);
      batch.push(
        `filter replace dev ${dev} parent 1: protocol all prio 1 handle ${vmFilterHandle(i)} u32 match ${match} ${v.mac} flowid 1:${vmClassMinor(i)}`,
      );
    });
  }
  return { ifb: limitsDirection(want, "outbound"), cleanup, qdiscs, batch };
}

/** The plan's lines as one text (the dry run's and the job's view): the cleanup lines marked as such. */
export function tcText(p: TcPlan): string {
  const lines = [
    ...p.cleanup.map((l) => `${l}    # if present`),
    ...p.qdiscs.map((q) => `${qdiscLine(q)}    # unless present`),
    ...p.batch,
  ];
  return lines.map((l) => `tc ${l}\n`).join("");
}
