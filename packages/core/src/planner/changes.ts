/**
 * Changes to a running network, as pure functions: validate a change against
 * the spec (and what the host reports: its leases), compute the next spec,
 * and plan the host commands that take libvirt from one to the other, each
 * with its undo. The worker executes exactly these steps; a dry run returns
 * them. Because both come from here, a plan's texts are what the real call
 * applies.
 */
import { type DnsHost, type NetworkChange, type QosDirectionsSpec, type QosLimitSpec, type QosSpec, sameDnsHost } from "../actions/changes";
import { emptyTcPlan, hasQos, ifbNameFor, qosStepNameAt, renderQosAt, type ShapedAt, type TcPlan } from "../render/tc-qos";
import { AppError } from "../errors";
import { limitReached, type SizeLimits, sizeLimits } from "../limits";
import { cidrContains, formatCidr, parseCidrOrThrow, parseIPv4, usableRange } from "../net/ipv4";
import {
  dhcpOptionsFile,
  dhcpOptionsText,
  type NativeRange,
  IPV6_PARENT,
  renderDhcpHost,
  renderDhcpHost6,
  renderDhcpRange,
  renderDnsHost,
  renderRoutedXml,
} from "../render/network-xml";
import { checkDhcpRange, MIN_MTU_IPV6, validationError } from "../schemas/network";
import { type FirewallNetwork, renderNetworkChains } from "../render/nft";
import { addressPort, firewallOf, forwardFamily, forwardHostLabel, forwardsOverlap, type PortForwardSpec } from "./firewall";
import type { NetSpec, Reservation, Reservation6, RoutedNetSpec, SpecBase } from "./network-spec";
import { canonicalIp, cidr6Contains, formatIPv6, parseCidr6OrThrow, parseIPv6 } from "../net/ipv6";

// A change is part of the contract: the configure actions' definitions make it of their payloads (actions/jobs.ts).
export type { NetworkChange } from "../actions/changes";

/** What the host reports that a change must respect. */
export interface HostObservation {
  /** libvirt has the network running (live updates apply; otherwise only the persistent definition changes). */
  active: boolean;
  /** Unexpired DHCP leases of the network. */
  leases: { ip: string; mac: string; duid?: string }[];
  /**
   * libvirt's own DHCP elements of the persistent definition, when the caller read them (the worker does; the
   * API's door does not). Normally they are what the spec renders; after a worker died half-way through a
   * change they may already carry part of it, and the plan then skips or adjusts what is already in place,
   * so a retried job converges instead of failing on "already exists".
   */
  native?: { hosts: Reservation[]; range: NativeRange | null; dnsHosts?: DnsHost[]; hosts6?: Reservation6[] };
  /** The per-network caps (LIMIT_REACHED); absent: the ones this process's environment sets (sizeLimits). */
  /**
   * Whether the running network's part of the table carries its type's own rules (the worker reads it from the
   * table; absent: true, a definition netforge renders). A network still on libvirt's NAT rules keeps them.
   */
  ownsTypeRules?: boolean;
  /**
   * Whether the running network's dnsmasq reads netforge's DHCP options file (it was started from a definition
   * with an MTU; the worker reads it from libvirt's dnsmasq configuration). Absent: as the spec says (it has an MTU).
   */
  dhcpOptionsLive?: boolean;
  limits?: Pick<SizeLimits, "forwardsPerNetwork" | "reservationsPerNetwork" | "firewallRulesPerNetwork">;
}

/** One host command of a plan: `virsh <args>`, or redefining the network with `xml`. */
export interface PlanStep {
  /** What it does, for people ("add DHCP host 52:54:00:.. -> 10.0.0.5"). */
  name: string;
  /** virsh arguments (without connection options). For a define step: ["net-define", "<file>"] with `xml`. */
  virsh: string[];
  /** The XML written by a define step. */
  xml?: string;
  /**
   * An nft step: this network's chains as the new spec renders them. The worker applies them inside the
   * host's whole netforge table, in one `nft -f` transaction (render/nft.ts renderHostTable).
   */
  nft?: string;
  /** The network's part of the table the nft step applies (`nft` is its chains). */
  part?: FirewallNetwork;
  /** A host command other than virsh (argv), e.g. conntrack ending a removed forward's connections. */
  command?: string[];
  /** The bridge and every port on it set to `mtu` (`ip link set`; the worker reads the ports when it runs). */
  linkMtu?: { bridge: string; mtu: number };
  /** netforge's DHCP options file of the network written with `text`, and its dnsmasq told to re-read it (SIGHUP). */
  dhcpOptions?: { file: string; text: string };
  /**
   * End the network's dnsmasq (SIGTERM, waited for) right before a live range update, so that libvirt, which
   * restarts it, finds it gone and starts the new one at once. libvirt's own stop polls every 200 ms and a
   * range change restarts dnsmasq twice: 4 of every 5 milliseconds of a pool change were that wait.
   * `restart`: the live updates that start it again through libvirt (leaving the live state as it was before
   * the step) should the job have to undo with no dnsmasq running.
   */
  endDnsmasq?: { restart: string[][] };
  /** The network's shaping (tc) taken from one QoS set to another; `undo` is the way back (render/tc-qos.ts). */
  qos?: { bridge: string; ifb: string; apply: TcPlan; undo: TcPlan };
  /** How the step is taken back if a later one fails (same shape). */
  undo: { virsh: string[]; xml?: string } | null;
  /** Whether it changes the running network (false: persistent definition only, effective at next start). */
  live: boolean;
}

export interface ChangePlan {
  spec: NetSpec;
  /** Empty when the change is already in place. */
  steps: PlanStep[];
  warnings: string[];
  /** Parts of the change that the running network only gets at its next start. */
  notLive: string[];
  /** Human summary of what changes. */
  changed: string[];
  /** The full definition written back (the new spec rendered). */
  libvirtXml: string;
  /** The network's nft chains after the change, when the change touches the firewall. */
  nft?: string;
  /**
   * A change that is a job across hosts (an overlay's firewall, planned on its gateway host): each other member's
   * part, planned from this spec as that member's (its worker plans its own again from its own definition).
   */
  parts?: { host: string; plan: ChangePlan }[];
}

/**
 * What the planner needs from the routed type it plans for (its driver passes it, drivers/routed.ts): whether
 * the type takes port forwards, and its part of the host's nft table.
 */
export interface RoutedTypeRules {
  portForwards: boolean;
  /**
   * Whether this host runs the network's DHCP server (absent: yes, when DHCP is on). An overlay member other than
   * the gateway host has none: its MTU change sets its links and definition only.
   */
  dhcpServer?: boolean;
  /**
   * Where this host shapes the network (absent: its bridge, as nat's). An overlay's member: its bridge with its
   * VXLAN port and role (render/tc-qos.ts renderQos: the gateway host's tree, or only the VMs' own limits).
   */
  shapedAt?: ShapedAt;
  firewall(spec: RoutedNetSpec, ownsTypeRules?: boolean): FirewallNetwork;
  /**
   * A type whose spec is not a RoutedNetSpec but plans its addressing part as one (an overlay's gateway host:
   * drivers/overlay.ts): the type's own spec of a planned one, and its definition. Absent: the spec itself,
   * renderRoutedXml.
   */
  own?: { spec(planned: RoutedNetSpec): NetSpec; render(planned: RoutedNetSpec): string };
}

const ipNum = (s: string) => parseIPv4(s) as number;

/** The step that ends a running network's dnsmasq before libvirt restarts it (PlanStep.endDnsmasq). */
const endDnsmasqStep = (network: string, restart: string[][]): PlanStep => ({
  name: `end the DHCP server (dnsmasq) of ${network}: libvirt starts it again with the new range at once`,
  virsh: [],
  endDnsmasq: { restart },
  undo: null,
  live: true,
});

/**
 * Validate `change` against a routed `spec` and the host, and plan it. Throws the error the real call gets.
 * (Through the type's driver: drivers/registry.ts planChange.)
 */
export function planRoutedChange(
  rules: RoutedTypeRules,
  spec: RoutedNetSpec,
  change: NetworkChange,
  host: HostObservation,
  previousXml?: string,
): ChangePlan {
  const next = applyChange(rules, spec, change, host);
  const render = rules.own ? rules.own.render : renderRoutedXml;
  const oldXml = previousXml ?? render(spec);
  const libvirtXml = render(next.spec);
  // A running network's change goes to libvirt's live state only: the "write spec" step below defines the whole
  // persistent definition (DHCP hosts and ranges included) anyway, and `--config` here would have libvirt rewrite
  // and fsync that definition a second time (at 1,000 reservations most of a change's cost). A stopped network
  // has no live state: its change is the definition's.
  const flags = host.active ? ["--live"] : ["--config"];
  const update = (op: "add" | "delete", section: string, xml: string): string[] => ["net-update", spec.name, op, section, xml, ...flags];
  const steps: PlanStep[] = [];
  let nft: string | undefined;
  if (next.ops.some((o) => o.kind === "firewall")) {
    const part = rules.firewall(next.spec, host.ownsTypeRules ?? true);
    nft = renderNetworkChains(part);
    // A stopped network has no rules in the kernel: its spec carries them to its next start.
    if (host.active) steps.push({ name: "apply firewall (one nft transaction)", virsh: [], nft, part, undo: null, live: true });
  }
  // Connections a removed (or re-targeted) forward carried end with it: their conntrack entries go, so the
  // next packet meets the new table instead of the old translation.
  for (const f of host.active ? (next.flush ?? []) : []) {
    steps.push({
      name: `end connections of ${f.protocol} ${forwardHostLabel(f)} -> ${addressPort(f.vmIp, f.vmPort)}`,
      virsh: [],
      command: [
        "conntrack",
        "-D",
        // conntrack lists IPv4 entries unless told the family.
        ...(forwardFamily(f) === "ipv6" ? ["-f", "ipv6"] : []),
        "-p",
        f.protocol,
        ...(f.hostIp === undefined ? [] : ["--orig-dst", f.hostIp]),
        "--orig-port-dst",
        String(f.hostPort),
        "--reply-src",
        f.vmIp,
        "--reply-port-src",
        String(f.vmPort),
      ],
      undo: null,
      live: true,
    });
  }
  // Whether this plan deletes a range before it adds one (see the dnsmasq end before the add).
  let rangeDeleted = false;
  for (const op of againstNative(next.ops, host.native)) {
    if (op.kind === "firewall") continue;
    if (op.kind === "mtu") {
      // A stopped network has no bridge: its definition (the "write spec" step) carries the MTU to its start.
      if (!host.active) continue;
      steps.push({
        name: `set MTU ${op.mtu} on bridge ${spec.bridge} and every port on it`,
        virsh: [],
        linkMtu: { bridge: spec.bridge, mtu: op.mtu },
        undo: null,
        live: true,
      });
      if (next.spec.dhcp.enabled && rules.dhcpServer !== false) {
        steps.push({
          name: `hand out MTU ${op.mtu} by DHCP (netforge's options file, re-read by the network's dnsmasq)`,
          virsh: [],
          dhcpOptions: { file: dhcpOptionsFile(spec.uuid), text: dhcpOptionsText(spec.bridge, op.mtu) },
          undo: null,
          live: true,
        });
      }
      continue;
    }
    if (op.kind === "qos") {
      // A stopped network has no bridge: its spec carries the set to its start (start-network applies it).
      if (!host.active) continue;
      const ifb = ifbNameFor(spec.uuid);
      const at: ShapedAt = rules.shapedAt ?? { bridge: spec.bridge, uplink: null };
      const apply = renderQosAt(at, ifb, op.want, op.had);
      const undo = renderQosAt(at, ifb, op.had, op.want);
      // (An overlay member's part of a set that only limits the network: nothing of it is on this host.)
      if (emptyTcPlan(apply) && emptyTcPlan(undo)) continue;
      steps.push({
        name: qosStepNameAt(at, ifb, op.want, op.had),
        virsh: [],
        qos: { bridge: spec.bridge, ifb, apply, undo },
        undo: null,
        live: true,
      });
      continue;
    }
    if (op.kind === "add-dns" || op.kind === "delete-dns") {
      const x = renderDnsHost(op.h);
      const undoOp = op.kind === "add-dns" ? "delete" : "add";
      steps.push({
        name: `${op.kind === "add-dns" ? "add" : "delete"} DNS record ${op.h.names.join(" ")} -> ${op.h.ip}`,
        virsh: update(op.kind === "add-dns" ? "add" : "delete", "dns-host", x),
        undo: { virsh: update(undoOp, "dns-host", x) },
        live: host.active,
      });
      continue;
    }
    if (op.kind === "add-host6" || op.kind === "delete-host6") {
      const x = renderDhcpHost6(op.r);
      const update6 = (o: "add" | "delete") => [...update(o, "ip-dhcp-host", x), ...IPV6_PARENT];
      const add = op.kind === "add-host6";
      steps.push({
        name: `${add ? "add" : "delete"} DHCPv6 host ${op.r.duid} -> ${op.r.ip}`,
        virsh: update6(add ? "add" : "delete"),
        undo: { virsh: update6(add ? "delete" : "add") },
        live: host.active,
      });
      continue;
    }
    if (op.kind === "add-host") {
      const x = renderDhcpHost(op.r);
      steps.push({
        name: `add DHCP host ${op.r.mac} -> ${op.r.ip}`,
        virsh: update("add", "ip-dhcp-host", x),
        undo: { virsh: update("delete", "ip-dhcp-host", x) },
        live: host.active,
      });
    } else if (op.kind === "delete-host") {
      const x = renderDhcpHost(op.r);
      steps.push({
        name: `delete DHCP host ${op.r.mac} -> ${op.r.ip}`,
        virsh: update("delete", "ip-dhcp-host", x),
        undo: { virsh: update("add", "ip-dhcp-host", x) },
        live: host.active,
      });
    } else if (op.kind === "delete-range") {
      const x = renderDhcpRange(op.start, op.end, op.leaseTime);
      // Live now: the range is there; deleting and adding it again restarts dnsmasq and leaves it there.
      if (host.active) steps.push(endDnsmasqStep(spec.name, [update("delete", "ip-dhcp-range", x), update("add", "ip-dhcp-range", x)]));
      rangeDeleted = true;
      steps.push({
        name: `delete DHCP range ${op.start}-${op.end}`,
        virsh: update("delete", "ip-dhcp-range", x),
        undo: { virsh: update("add", "ip-dhcp-range", x) },
        live: host.active,
      });
    } else {
      const x = renderDhcpRange(op.start, op.end, op.leaseTime);
      // Should the add fail, the old range's delete before it is undone by adding it back, which starts dnsmasq:
      // nothing more to do then. Without such a delete (DHCP switched on), adding and deleting this range
      // restarts it and leaves the live state as it was.
      const restart = rangeDeleted ? [] : [update("add", "ip-dhcp-range", x), update("delete", "ip-dhcp-range", x)];
      if (host.active) steps.push(endDnsmasqStep(spec.name, restart));
      steps.push({
        name: `add DHCP range ${op.start}-${op.end} lease ${op.leaseTime} s`,
        virsh: update("add", "ip-dhcp-range", x),
        undo: { virsh: update("delete", "ip-dhcp-range", x) },
        live: host.active,
      });
    }
  }
  if (next.ops.length > 0) {
    // The spec (metadata) is written with the whole persistent definition: libvirt 9.0 has no net-metadata.
    steps.push({
      name: "write spec",
      virsh: ["net-define", "<file>"],
      xml: libvirtXml,
      undo: { virsh: ["net-define", "<file>"], xml: oldXml },
      live: false,
    });
  }
  const notLive = host.active ? [] : ["network is not running: the change takes effect when it starts"];
  // dnsmasq reads netforge's options file only when it was started from a definition with an MTU.
  const optionsLive = host.dhcpOptionsLive ?? spec.mtu !== undefined;
  if (host.active && change.kind === "mtu" && next.ops.length > 0 && next.spec.dhcp.enabled && rules.dhcpServer !== false && !optionsLive) {
    notLive.push(
      `DHCP: the running DHCP server was started without an MTU and hands out MTU ${change.mtu} from the network's next start (stop-network + start-network); the bridge and its ports have it now`,
    );
  }
  return {
    spec: rules.own ? rules.own.spec(next.spec) : next.spec,
    steps,
    warnings: next.warnings,
    notLive,
    changed: next.changed,
    libvirtXml,
    ...(nft !== undefined ? { nft } : {}),
  };
}

/**
 * The checks of planChange alone, rendering nothing (the API's door for a real call: the worker plans again on
 * the host, and rendering the definition and chains of a network with 1,000 forwards only to drop them cost the
 * door several ms). Throws exactly what planChange throws for an invalid change.
 */
export function checkRoutedChange(rules: RoutedTypeRules, spec: RoutedNetSpec, change: NetworkChange, host: HostObservation): NetSpec {
  const next = applyChange(rules, spec, change, host).spec;
  return rules.own ? rules.own.spec(next) : next;
}

/** The ops adjusted to what libvirt's definition already has (see HostObservation.native). */
function againstNative(ops: Op[], native: HostObservation["native"]): Op[] {
  if (!native) return ops;
  const out: Op[] = [];
  const target = ops.find((o): o is Extract<Op, { kind: "add-range" }> => o.kind === "add-range");
  const have = native.range;
  const rangeInPlace = target && have && have.start === target.start && have.end === target.end && have.leaseTime === target.leaseTime;
  for (const op of ops) {
    if (op.kind === "firewall" || op.kind === "mtu" || op.kind === "qos") {
      out.push(op);
    } else if (op.kind === "add-dns" || op.kind === "delete-dns") {
      // A record libvirt already has (added by an attempt that died before its spec was written) is not added
      // again, one it no longer has is not deleted: libvirt refuses both. Without a native read: as planned.
      const present = native.dnsHosts === undefined ? op.kind === "delete-dns" : native.dnsHosts.some((h) => sameDnsHost(h, op.h));
      if ((op.kind === "add-dns") !== present) out.push(op);
    } else if (op.kind === "add-host6" || op.kind === "delete-host6") {
      // As IPv4 hosts: one libvirt already has (or no longer has) is not added (deleted) again.
      const h = native.hosts6?.find((x) => x.duid === op.r.duid);
      if (native.hosts6 === undefined) out.push(op);
      else if (op.kind === "delete-host6") {
        if (h) out.push({ kind: "delete-host6", r: h });
      } else if (!(h && h.ip === op.r.ip && h.hostname === op.r.hostname)) {
        if (h) out.push({ kind: "delete-host6", r: h });
        out.push(op);
      }
    } else if (op.kind === "add-host") {
      const h = native.hosts.find((x) => x.mac === op.r.mac);
      if (h && h.ip === op.r.ip && h.hostname === op.r.hostname) continue;
      if (h) out.push({ kind: "delete-host", r: h });
      out.push(op);
    } else if (op.kind === "delete-host") {
      const h = native.hosts.find((x) => x.mac === op.r.mac);
      if (h) out.push({ kind: "delete-host", r: h });
    } else if (op.kind === "delete-range") {
      if (have && !rangeInPlace) out.push({ kind: "delete-range", start: have.start, end: have.end, leaseTime: have.leaseTime });
    } else if (!rangeInPlace) {
      if (have && !ops.some((o) => o.kind === "delete-range"))
        out.push({ kind: "delete-range", start: have.start, end: have.end, leaseTime: have.leaseTime });
      out.push(op);
    }
  }
  return out;
}

type Op =
  | { kind: "add-host"; r: Reservation }
  | { kind: "delete-host"; r: Reservation }
  | { kind: "add-host6"; r: Reservation6 }
  | { kind: "delete-host6"; r: Reservation6 }
  | { kind: "delete-range"; start: string; end: string; leaseTime: number | null }
  | { kind: "add-range"; start: string; end: string; leaseTime: number }
  | { kind: "add-dns"; h: DnsHost }
  | { kind: "delete-dns"; h: DnsHost }
  | { kind: "mtu"; mtu: number }
  | { kind: "qos"; want: QosSpec | null; had: QosSpec | null }
  | { kind: "firewall" };

function applyChange(
  rules: RoutedTypeRules,
  spec: RoutedNetSpec,
  change: NetworkChange,
  host: HostObservation,
): { spec: RoutedNetSpec; ops: Op[]; warnings: string[]; changed: string[]; flush?: PortForwardSpec[] } {
  const cidr = parseCidrOrThrow(spec.cidr);
  const gateway = ipNum(spec.gateway);
  const where = formatCidr(cidr);
  const leaseOf = (ip: string) => host.leases.find((l) => l.ip === ip);
  const limits = host.limits ?? sizeLimits();
  switch (change.kind) {
    case "dns":
      return planDns(spec, change.hosts);
    case "qos":
      return planQos(spec, change.qos);
    case "mtu": {
      // The same MTU changes nothing (the bridge's is put back by reconcile when changed by hand).
      if (spec.mtu === change.mtu) return { spec, ops: [], warnings: [], changed: [] };
      if (spec.ipv6 !== undefined && change.mtu < MIN_MTU_IPV6) {
        throw validationError([{ path: "mtu", message: `must be at least ${MIN_MTU_IPV6} on a network with IPv6 (${spec.ipv6.cidr})` }]);
      }
      return {
        spec: { ...spec, mtu: change.mtu },
        ops: [{ kind: "mtu", mtu: change.mtu }],
        warnings: [],
        changed: [
          `MTU ${spec.mtu ?? "not set (the host's)"} -> ${change.mtu}`,
          spec.dhcp.enabled
            ? `guests learn MTU ${change.mtu} at their next DHCP lease or renewal; until then they keep the one they have`
            : `the network has no DHCP: guests keep their MTU until it is set on them (MTU ${change.mtu})`,
        ],
      };
    }
    case "reserve-ip": {
      if (!change.mac) throw validationError([{ path: "mac", message: "is required with an IPv4 ip (an IPv6 reservation takes duid)" }]);
      const mac = change.mac.toLowerCase();
      const ip = ipNum(change.ip);
      const hostname = change.hostname ?? null;
      if (!cidrContains(cidr, ip)) throw validationError([{ path: "ip", message: `must be inside ${where}` }]);
      const usable = usableRange(cidr);
      const special =
        ip === gateway ? "the gateway" : ip < usable.first ? "the network address" : ip > usable.last ? "the broadcast address" : null;
      if (special)
        throw new AppError("IP_CONFLICT", `${change.ip} is ${special} of network '${spec.name}'`, {
          name: spec.name,
          ip: change.ip,
          reason: special,
        });
      const same = spec.reservations.find((r) => r.mac === mac && r.ip === change.ip && r.hostname === hostname);
      if (same) return { spec, ops: [], warnings: [], changed: [] }; // repeating an assignment changes nothing
      const byIp = spec.reservations.find((r) => r.ip === change.ip);
      if (byIp)
        throw new AppError("IP_CONFLICT", `${change.ip} is already reserved for ${byIp.mac} on network '${spec.name}'`, {
          name: spec.name,
          ip: change.ip,
          reservedFor: byIp.mac,
        });
      const byMac = spec.reservations.find((r) => r.mac === mac);
      if (byMac)
        throw new AppError("IP_CONFLICT", `${mac} already has reservation ${byMac.ip} on network '${spec.name}'; unassign it first`, {
          name: spec.name,
          mac,
          reservedIp: byMac.ip,
        });
      if (spec.reservations.length >= limits.reservationsPerNetwork) {
        throw limitReached(
          "reservationsPerNetwork",
          limits.reservationsPerNetwork,
          spec.reservations.length + 1,
          `network '${spec.name}' has ${spec.reservations.length} static reservations`,
          { name: spec.name },
        );
      }
      const lease = leaseOf(change.ip);
      if (lease && lease.mac !== mac && !change.force) {
        throw new AppError("IP_CONFLICT", `${change.ip} is currently leased to ${lease.mac}; pass "force": true to reserve it anyway`, {
          name: spec.name,
          ip: change.ip,
          leasedTo: lease.mac,
        });
      }
      const warnings: string[] = [];
      const d = spec.dhcp;
      if (d.enabled && d.start && d.end && ip >= ipNum(d.start) && ip <= ipNum(d.end)) {
        warnings.push(
          `${change.ip} is inside the dynamic range ${d.start}-${d.end}: dnsmasq keeps it for ${mac}, the pool has one address less`,
        );
      }
      if (lease && lease.mac !== mac)
        warnings.push(`${change.ip} is leased to ${lease.mac} until its lease ends; that client gets another address when it renews`);
      const r: Reservation = { mac, ip: change.ip, hostname };
      return {
        spec: { ...spec, reservations: [...spec.reservations, r] },
        ops: [{ kind: "add-host", r }],
        warnings,
        changed: [`reserved ${change.ip} for ${mac}`],
      };
    }
    case "release-ip": {
      if (!change.mac)
        throw validationError([{ path: "mac", message: "is required: the MAC of an IPv4 reservation, or duid for an IPv6 one" }]);
      const mac = change.mac.toLowerCase();
      const r = spec.reservations.find((x) => x.mac === mac);
      if (!r) throw new AppError("NOT_FOUND", `${mac} has no reservation on network '${spec.name}'`, { name: spec.name, mac });
      return {
        spec: { ...spec, reservations: spec.reservations.filter((x) => x !== r) },
        ops: [{ kind: "delete-host", r }],
        warnings: [],
        changed: [`released ${r.ip} of ${mac}`],
      };
    }
    case "reserve-duid":
      return reserveIp6(spec, change, host, limits);
    case "release-duid": {
      if (change.mac !== undefined) throw validationError([{ path: "mac", message: "give mac or duid, not both" }]);
      const r = (spec.reservations6 ?? []).find((x) => x.duid === change.duid);
      if (!r)
        throw new AppError("NOT_FOUND", `${change.duid} has no IPv6 reservation on network '${spec.name}'`, {
          name: spec.name,
          duid: change.duid,
        });
      const rest = (spec.reservations6 ?? []).filter((x) => x !== r);
      const { reservations6: _old, ...base } = spec;
      return {
        spec: rest.length > 0 ? { ...base, reservations6: rest } : base,
        ops: [{ kind: "delete-host6", r }],
        warnings: [],
        changed: [`released ${r.ip} of DUID ${r.duid}`],
      };
    }
    case "port-forward": {
      if (!rules.portForwards) {
        throw new AppError("UNSUPPORTED_FOR_TYPE", `port forwards need a nat network; '${spec.name}' is ${spec.type}`, {
          name: spec.name,
          type: spec.type,
        });
      }
      const forwards = spec.portForwards ?? [];
      // A forward is named by protocol, host port and host address (absent: every address).
      const same = (f: PortForwardSpec) => f.protocol === change.protocol && f.hostPort === change.hostPort && f.hostIp === change.hostIp;
      const old = forwards.find(same);
      const label = (f: PortForwardSpec) => `${f.protocol} ${forwardHostLabel(f)} -> ${addressPort(f.vmIp, f.vmPort)}`;
      if (change.op === "remove") {
        if (!old) {
          const where = change.hostIp === undefined ? "" : ` on ${change.hostIp}`;
          // The same port on other addresses: say which, since remove must name the forward's hostIp.
          const others = forwards.filter((f) => f.protocol === change.protocol && f.hostPort === change.hostPort);
          const hint =
            others.length > 0 ? ` (it forwards it on ${others.map((f) => f.hostIp ?? "every address").join(", ")}: name that hostIp)` : "";
          throw new AppError("NOT_FOUND", `network '${spec.name}' forwards no ${change.protocol} port ${change.hostPort}${where}${hint}`, {
            name: spec.name,
            protocol: change.protocol,
            hostPort: change.hostPort,
            ...(change.hostIp === undefined ? {} : { hostIp: change.hostIp }),
          });
        }
        return {
          spec: { ...spec, portForwards: forwards.filter((f) => f !== old) },
          ops: [{ kind: "firewall" }],
          warnings: [],
          changed: [`removed forward ${label(old)}`],
          flush: [old],
        };
      }
      if (change.vmIp === undefined) throw validationError([{ path: "vmIp", message: "is required to add a forward" }]);
      const vmIp = forwardTarget(spec, change.vmIp, change.hostIp);
      if (!vmIp.includes(":")) {
        const vm = ipNum(vmIp);
        const usable = usableRange(cidr);
        if (!cidrContains(cidr, vm) || vm < usable.first || vm > usable.last || vm === gateway) {
          throw validationError([{ path: "vmIp", message: `must be a VM address inside ${where} (not the gateway)` }]);
        }
      }
      const f: PortForwardSpec = {
        protocol: change.protocol,
        hostPort: change.hostPort,
        vmIp,
        vmPort: change.vmPort ?? change.hostPort,
        ...(change.hostIp === undefined ? {} : { hostIp: change.hostIp }),
      };
      // Every address and one address of the same port overlap: the other forward of this network goes first.
      const overlapping = forwards.find((x) => x !== old && forwardsOverlap(x, f));
      if (overlapping) {
        throw new AppError(
          "PORT_CONFLICT",
          `network '${spec.name}' already forwards ${label(overlapping)}, which overlaps ${f.protocol} ${forwardHostLabel(f)}; remove it first`,
          { name: spec.name, protocol: f.protocol, hostPort: f.hostPort, heldBy: { network: spec.name, forward: overlapping } },
        );
      }
      // One forward, one family: the same host port taken over by the other family would silently end the first
      // family's forward (the claim is one per host port and protocol, across families).
      if (old && forwardFamily(old) !== forwardFamily(f)) {
        throw new AppError(
          "PORT_CONFLICT",
          `network '${spec.name}' already forwards ${label(old)} (${forwardFamily(old) === "ipv6" ? "IPv6" : "IPv4"}); a forward has one family and the host port is one claim for both: remove it first, or bind each family's forward to one host address (hostIp)`,
          { name: spec.name, protocol: f.protocol, hostPort: f.hostPort, heldBy: { network: spec.name, forward: old } },
        );
      }
      if (old && old.vmIp === f.vmIp && old.vmPort === f.vmPort) return { spec, ops: [], warnings: [], changed: [] };
      if (!old && forwards.length >= limits.forwardsPerNetwork) {
        throw limitReached(
          "forwardsPerNetwork",
          limits.forwardsPerNetwork,
          forwards.length + 1,
          `network '${spec.name}' has ${forwards.length} port forwards`,
          { name: spec.name },
        );
      }
      return {
        spec: { ...spec, portForwards: [...forwards.filter((x) => x !== old), f] },
        ops: [{ kind: "firewall" }],
        warnings: [],
        changed: [old ? `forward ${label(old)} now -> ${addressPort(f.vmIp, f.vmPort)}` : `added forward ${label(f)}`],
        ...(old ? { flush: [old] } : {}),
      };
    }
    case "firewall": {
      const before = JSON.stringify(firewallOf(spec));
      if (before === JSON.stringify(change.firewall) && spec.firewall) return { spec, ops: [], warnings: [], changed: [] };
      const f = change.firewall;
      if (f.rules.length > limits.firewallRulesPerNetwork) {
        throw limitReached(
          "firewallRulesPerNetwork",
          limits.firewallRulesPerNetwork,
          f.rules.length,
          `a firewall of network '${spec.name}' with ${f.rules.length} rules`,
          { name: spec.name },
        );
      }
      if (spec.ipv6 === undefined) {
        const at = f.rules.findIndex((r) => (r.source ?? "").includes(":") || (r.destination ?? "").includes(":"));
        if (at >= 0) {
          throw validationError([
            { path: `rules.${at}`, message: `an IPv6 rule needs a network with IPv6; '${spec.name}' has none (create it with ipv6)` },
          ]);
        }
      }
      const inbound = f.rules.filter((r) => r.direction === "inbound").length;
      const services = (f.hostServices ?? []).map((s) => `${s.protocol} ${s.ports}`);
      return {
        spec: { ...spec, firewall: f },
        ops: [{ kind: "firewall" }],
        warnings: [],
        changed: [
          `firewall: ${f.rules.length} rules (${inbound} inbound, ${f.rules.length - inbound} outbound), defaults inbound ${f.defaultInbound}, outbound ${f.defaultOutbound}`,
          `host services open to the VMs: ${services.length > 0 ? services.join(", ") : "none"}`,
        ],
      };
    }
    case "dhcp": {
      const start = ipNum(change.start);
      const end = ipNum(change.end);
      const issues = checkDhcpRange(cidr, gateway, start, end);
      if (issues.length > 0) throw validationError(issues);
      const warnings: string[] = [];
      for (const r of spec.reservations) {
        const ip = ipNum(r.ip);
        if (ip < start || ip > end) continue;
        const lease = leaseOf(r.ip);
        if (lease && lease.mac !== r.mac) {
          throw new AppError("IP_CONFLICT", `reserved ${r.ip} (for ${r.mac}) would be inside the range but is leased to ${lease.mac}`, {
            name: spec.name,
            ip: r.ip,
            reservedFor: r.mac,
            leasedTo: lease.mac,
          });
        }
        warnings.push(`reserved ${r.ip} (for ${r.mac}) is inside the range: only ${r.mac} gets it`);
      }
      const old = spec.dhcp;
      const leaseTime = change.leaseTime ?? old.leaseTime ?? 3600;
      if (old.enabled && old.start === change.start && old.end === change.end && old.leaseTime === leaseTime) {
        return { spec, ops: [], warnings, changed: [] };
      }
      const ops: Op[] = [];
      if (old.enabled && old.start && old.end) ops.push({ kind: "delete-range", start: old.start, end: old.end, leaseTime: old.leaseTime });
      ops.push({ kind: "add-range", start: change.start, end: change.end, leaseTime });
      const changed: string[] = [];
      if (old.start !== change.start || old.end !== change.end)
        changed.push(`range ${old.start ?? "none"}-${old.end ?? "none"} -> ${change.start}-${change.end}`);
      if (old.leaseTime !== leaseTime) changed.push(`lease time ${old.leaseTime ?? "none"} s -> ${leaseTime} s`);
      return { spec: { ...spec, dhcp: { enabled: true, start: change.start, end: change.end, leaseTime } }, ops, warnings, changed };
    }
  }
}

/**
 * A forward's VM address in its one text (IPv6 canonical), checked for its family: an IPv6 vmIp needs a network with
 * IPv6 (422: the network cannot take it as it is) and is an address of its prefix other than the prefix's own
 * address and the gateway (400, as an IPv4 vmIp outside the subnet); hostIp, when given, is of vmIp's family (a
 * DNAT translates within one family). The IPv4 checks are the caller's.
 */
function forwardTarget(spec: RoutedNetSpec, vmIpText: string, hostIp: string | undefined): string {
  const vmIp = canonicalIp(vmIpText);
  const v6 = vmIp.includes(":");
  if (hostIp !== undefined && hostIp.includes(":") !== v6) {
    throw validationError([
      {
        path: "hostIp",
        message: `must be of vmIp's family: ${v6 ? "an IPv6 vmIp is forwarded from an IPv6 host address" : "an IPv4 vmIp is forwarded from an IPv4 host address"} (a forward has one family)`,
      },
    ]);
  }
  if (!v6) return vmIp;
  const p = spec.ipv6;
  if (p === undefined) {
    throw new AppError(
      "UNSUPPORTED_FOR_TYPE",
      `network '${spec.name}' has no IPv6, so an IPv6 vmIp (${vmIp}) cannot be forwarded to: create the network with ipv6, or forward to the VM's IPv4 address`,
      { name: spec.name, type: spec.type, vmIp },
    );
  }
  const prefix = parseCidr6OrThrow(p.cidr);
  const addr = parseIPv6(vmIp) as bigint;
  const why = !cidr6Contains(prefix, addr)
    ? `is outside the network's IPv6 prefix ${p.cidr}`
    : addr === prefix.network
      ? `is the prefix's own address (the subnet-router anycast address of ${p.cidr})`
      : vmIp === p.gateway
        ? `is the network's IPv6 gateway (the host's address on the bridge)`
        : null;
  if (why !== null) throw validationError([{ path: "vmIp", message: `${vmIp} ${why}: must be a VM address inside ${p.cidr}` }]);
  return vmIp;
}

/**
 * An IPv6 reservation (docs/adr/0045-ipv6-dual-stack.md): by DUID (libvirt refuses a MAC in an IPv6 host entry),
 * only in dhcpv6 mode (SLAAC guests pick their own addresses: nothing to reserve), an address of the prefix other
 * than the gateway; one reservation per DUID and per address; a lease of another client is taken only with force.
 */
function reserveIp6(
  spec: RoutedNetSpec,
  change: Extract<NetworkChange, { kind: "reserve-duid" }>,
  host: HostObservation,
  limits: Pick<SizeLimits, "reservationsPerNetwork">,
): { spec: RoutedNetSpec; ops: Op[]; warnings: string[]; changed: string[] } {
  const v6 = spec.ipv6;
  if (v6 === undefined || v6.dhcp === null) {
    const why =
      v6 === undefined
        ? `it has no IPv6 (create it with ipv6 mode dhcpv6)`
        : `its IPv6 mode is ${v6.mode}: guests choose their own addresses (SLAAC), so there is nothing to reserve; IPv6 reservations need mode dhcpv6`;
    throw new AppError("UNSUPPORTED_FOR_TYPE", `network '${spec.name}' takes no IPv6 reservation: ${why}`, {
      name: spec.name,
      type: spec.type,
    });
  }
  const issues: { path: string; message: string }[] = [];
  if (change.mac !== undefined)
    issues.push({
      path: "mac",
      message: "an IPv6 reservation is by DHCPv6 client id (duid), not MAC: libvirt hands out IPv6 addresses by DUID; give duid instead",
    });
  if (change.duid === undefined)
    issues.push({ path: "duid", message: "is required with an IPv6 ip: the VM's DHCPv6 client id, like 00:03:00:01:52:54:00:12:34:56" });
  const addr = change.ip.includes(":") ? parseIPv6(change.ip) : null;
  const prefix = parseCidr6OrThrow(v6.cidr);
  if (addr === null) issues.push({ path: "ip", message: `must be an IPv6 address inside ${v6.cidr} with a duid` });
  else if (!cidr6Contains(prefix, addr)) issues.push({ path: "ip", message: `must be inside ${v6.cidr}` });
  if (issues.length > 0) throw validationError(issues);
  const duid = change.duid as string;
  const ip = formatIPv6(addr as bigint);
  const hostname = change.hostname ?? null;
  if (addr === prefix.network || ip === v6.gateway) {
    const reason = ip === v6.gateway ? "the gateway" : "the prefix's own address (the subnet-router anycast address)";
    throw new AppError("IP_CONFLICT", `${ip} is ${reason} of network '${spec.name}'`, { name: spec.name, ip, reason });
  }
  const all = spec.reservations6 ?? [];
  if (all.some((r) => r.duid === duid && r.ip === ip && r.hostname === hostname)) return { spec, ops: [], warnings: [], changed: [] };
  const byIp = all.find((r) => r.ip === ip);
  if (byIp)
    throw new AppError("IP_CONFLICT", `${ip} is already reserved for DUID ${byIp.duid} on network '${spec.name}'`, {
      name: spec.name,
      ip,
      reservedFor: byIp.duid,
    });
  const byDuid = all.find((r) => r.duid === duid);
  if (byDuid)
    throw new AppError("IP_CONFLICT", `DUID ${duid} already has reservation ${byDuid.ip} on network '${spec.name}'; unassign it first`, {
      name: spec.name,
      duid,
      reservedIp: byDuid.ip,
    });
  const count = spec.reservations.length + all.length;
  if (count >= limits.reservationsPerNetwork) {
    throw limitReached(
      "reservationsPerNetwork",
      limits.reservationsPerNetwork,
      count + 1,
      `network '${spec.name}' has ${count} static reservations`,
      { name: spec.name },
    );
  }
  const lease = host.leases.find((l) => l.ip.includes(":") && parseIPv6(l.ip) === addr);
  const leasedTo = lease ? (lease.duid ?? lease.mac) : null;
  if (lease && leasedTo !== duid && !change.force) {
    throw new AppError("IP_CONFLICT", `${ip} is currently leased to ${leasedTo}; pass "force": true to reserve it anyway`, {
      name: spec.name,
      ip,
      leasedTo,
    });
  }
  const warnings: string[] = [];
  const d = v6.dhcp;
  const start = parseIPv6(d.start) as bigint;
  const end = parseIPv6(d.end) as bigint;
  if ((addr as bigint) >= start && (addr as bigint) <= end) {
    warnings.push(`${ip} is inside the DHCPv6 range ${d.start}-${d.end}: dnsmasq keeps it for DUID ${duid}, the pool has one address less`);
  }
  if (lease && leasedTo !== duid)
    warnings.push(`${ip} is leased to ${leasedTo} until its lease ends; that client gets another address when it renews`);
  const r: Reservation6 = { duid, ip, hostname };
  return {
    spec: { ...spec, reservations6: [...all, r] },
    ops: [{ kind: "add-host6", r }],
    warnings,
    changed: [`reserved ${ip} for DUID ${duid}`],
  };
}

/**
 * The network's DNS host records replaced by `hosts`: refused when an address or a name is in two records
 * (dnsmasq would answer one of them at random; libvirt refuses two records of one address); otherwise the
 * records that go are deleted and the new ones added (libvirt 9.0 cannot modify one), records kept unchanged
 * are left alone, and a list equal to the current one changes nothing.
 */
function planDns(spec: RoutedNetSpec, hosts: DnsHost[]): { spec: RoutedNetSpec; ops: Op[]; warnings: string[]; changed: string[] } {
  const issues: { path: string; message: string }[] = [];
  const byIp = new Map<string, number>();
  const byName = new Map<string, number>();
  hosts.forEach((h, i) => {
    const first = byIp.get(h.ip);
    if (first !== undefined)
      issues.push({ path: `hosts.${i}.ip`, message: `${h.ip} is in record ${first} too: give its names in one record` });
    else byIp.set(h.ip, i);
    h.names.forEach((n, k) => {
      const seen = byName.get(n);
      if (seen !== undefined)
        issues.push({ path: `hosts.${i}.names.${k}`, message: `${n} is in record ${seen} too: a name resolves to one address` });
      else byName.set(n, i);
    });
  });
  if (issues.length > 0) throw validationError(issues);
  const key = (h: DnsHost) => `${h.ip} ${h.names.join(" ")}`;
  const before = spec.dnsHosts ?? [];
  const kept = new Set(before.map(key));
  const wanted = new Set(hosts.map(key));
  const removed = before.filter((h) => !wanted.has(key(h)));
  const added = hosts.filter((h) => !kept.has(key(h)));
  // The same records (in any order) change nothing.
  if (removed.length === 0 && added.length === 0) return { spec, ops: [], warnings: [], changed: [] };
  const { dnsHosts: _old, ...rest } = spec;
  const next: RoutedNetSpec = hosts.length > 0 ? { ...rest, dnsHosts: hosts.map((h) => ({ ip: h.ip, names: [...h.names] })) } : rest;
  const ops: Op[] = [...removed.map((h): Op => ({ kind: "delete-dns", h })), ...added.map((h): Op => ({ kind: "add-dns", h }))];
  const changed = [
    ...added.map((h) => `DNS ${h.names.join(" ")} -> ${h.ip}`),
    ...removed.map((h) => `DNS record ${h.names.join(" ")} -> ${h.ip} removed`),
  ];
  return { spec: next, ops, warnings: [], changed };
}

/** A limit in words ("20000 kbit/s", with its peak and burst). */
function limitWords(l: QosLimitSpec): string {
  return `${l.averageKbps} kbit/s${l.peakKbps !== undefined ? ` (peak ${l.peakKbps})` : ""}${l.burstKib !== undefined ? ` burst ${l.burstKib} KiB` : ""}`;
}

function directionsWords(d: QosDirectionsSpec | null): string {
  if (!d || (d.inbound === undefined && d.outbound === undefined)) return "none";
  return [d.inbound ? `inbound ${limitWords(d.inbound)}` : null, d.outbound ? `outbound ${limitWords(d.outbound)}` : null]
    .filter((x) => x !== null)
    .join(", ");
}

/**
 * The network's QoS set replaced by `qos` (docs/adr/0044-network-qos.md): refused when a MAC is in two entries;
 * the same set changes nothing; an empty set removes netforge's shaping (and the set from the spec).
 */
function planQos<S extends SpecBase & { qos?: QosSpec }>(
  spec: S,
  qos: QosSpec,
): { spec: S; ops: Op[]; warnings: string[]; changed: string[] } {
  const issues: { path: string; message: string }[] = [];
  const seen = new Map<string, number>();
  qos.vms.forEach((v, i) => {
    const first = seen.get(v.mac);
    if (first !== undefined) issues.push({ path: `vms.${i}.mac`, message: `${v.mac} is in entry ${first} too: one entry per MAC` });
    else seen.set(v.mac, i);
    if (v.inbound === undefined && v.outbound === undefined)
      issues.push({ path: `vms.${i}`, message: "needs an inbound or an outbound limit" });
  });
  if (issues.length > 0) throw validationError(issues);
  const want: QosSpec | null = hasQos(qos) ? { network: qos.network, vms: qos.vms } : null;
  const had = spec.qos ?? null;
  if (JSON.stringify(want) === JSON.stringify(had)) return { spec, ops: [], warnings: [], changed: [] };
  const { qos: _old, ...rest } = spec;
  const next = (want ? { ...rest, qos: want } : rest) as S;
  const changed = want
    ? [
        `network limit: ${directionsWords(want.network)}`,
        `VM limits: ${want.vms.length === 0 ? "none" : want.vms.map((v) => `${v.mac} ${directionsWords(v)}`).join("; ")}`,
      ]
    : ["bandwidth limits removed (netforge's qdiscs and IFB taken away)"];
  return { spec: next, ops: [{ kind: "qos", want, had }], warnings: [], changed };
}

/**
 * A QoS change of a type whose only change it is (a bridge network: docs/adr/0044-network-qos.md, fourth round),
 * shaped at `at`: the tc step when the network runs, then the spec written with the whole definition (`render`).
 * `at` null: the network cannot be shaped (`why` says so, UNSUPPORTED_FOR_TYPE).
 */
export function planQosOnly<S extends NetSpec & { qos?: QosSpec }>(
  spec: S,
  change: NetworkChange,
  host: HostObservation,
  at: ShapedAt | null,
  render: (spec: S) => string,
  previousXml?: string,
): ChangePlan {
  const next = checkQosOnly(spec, change, at);
  const steps: PlanStep[] = [];
  const op = next.ops[0];
  if (op?.kind === "qos" && host.active && at) {
    const ifb = ifbNameFor(spec.uuid);
    steps.push({
      name: qosStepNameAt(at, ifb, op.want, op.had),
      virsh: [],
      qos: { bridge: at.bridge, ifb, apply: renderQosAt(at, ifb, op.want, op.had), undo: renderQosAt(at, ifb, op.had, op.want) },
      undo: null,
      live: true,
    });
  }
  const libvirtXml = render(next.spec);
  if (next.ops.length > 0) {
    steps.push({
      name: "write spec",
      virsh: ["net-define", "<file>"],
      xml: libvirtXml,
      undo: { virsh: ["net-define", "<file>"], xml: previousXml ?? render(spec) },
      live: false,
    });
  }
  return {
    spec: next.spec,
    steps,
    warnings: [],
    notLive: host.active || next.ops.length === 0 ? [] : ["network is not running: the change takes effect when it starts"],
    changed: next.changed,
    libvirtXml,
  };
}

/** The checks of planQosOnly (the API's door): the next spec and its ops, or the refusal. */
export function checkQosOnly<S extends NetSpec & { qos?: QosSpec }>(
  spec: S,
  change: NetworkChange,
  at: ShapedAt | null,
): { spec: S; ops: Op[]; changed: string[] } {
  if (change.kind !== "qos" || at === null) {
    throw new AppError(
      "UNSUPPORTED_FOR_TYPE",
      `network '${spec.name}' is of type ${spec.type}: ${change.kind === "qos" ? "it was made on an existing bridge, so netforge knows no uplink of it to shape (or count) at: make it with { interface: <the bridge's uplink NIC> } instead (a NIC already on a bridge: that bridge is used as it is, and shaped and counted at that NIC)" : "only its bandwidth limits are netforge's to change"}`,
      {
        name: spec.name,
        type: spec.type,
      },
    );
  }
  return planQos(spec, change.qos);
}
