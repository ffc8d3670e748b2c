/**
 * overlay networks (issue 17): one L2 segment over several member hosts. On each member a bridge and a VXLAN
 * device (render/vxlan.ts: no learning, one all-zero forwarding entry per other member) joined to it, a guard
 * that accepts the overlay's VNI only from its members' underlay addresses, and a libvirt network of the
 * overlay's name on that bridge. The gateway host's libvirt network carries the gateway address and dnsmasq
 * (forward mode 'open', netforge's table masquerades with TCP MSS clamping); the other members' are plain
 * bridge networks (no address, no DHCP). Each member's definition holds the whole spec and says which member
 * it is on (`self`), so every member's worker plans its own part from its own libvirt. The changes that live on
 * the gateway host (DHCP range, static IPs, DNS records, port forwards) are the routed types' (planner/changes.ts),
 * planned on the gateway host's definition as a nat (or, without `nat`, isolated) network's would be; the
 * firewall, the MTU and the bandwidth limits are every member's (each member's table part filters the frames of the VMs on its own
 * bridge; each member's bridge, VXLAN device and VM ports carry the MTU, and the gateway's dnsmasq hands it out:
 * each member shapes its own VMs' ports, the gateway host also the network's edge: each change is a job across
 * hosts, handlers/configure-network.ts); IPv6 (`ipv6`: ADR 0051 "IPv6 on overlays") is the gateway's as a nat network's,
 * with its reservations by DUID, and every member filters its VMs' IPv6.
 */
import type { ChangeKind, DnsHost, QosSpec } from "../actions/changes";
import { AppError } from "../errors";
import type { CreateNetworkPayload } from "../jobs";
import type { HostFacts } from "../plan/facts";
import type { CommandStep, HostStep } from "../plan/steps";
import type { FirewallNetwork } from "../render/nft";
import {
  type ChangePlan,
  checkRoutedChange,
  type HostObservation,
  type NetworkChange,
  planRoutedChange,
  type RoutedTypeRules,
} from "../planner/changes";
import { type FirewallSpec, firewallOf, firewallOfBody, type PortForwardSpec } from "../planner/firewall";
import type { Reservation, Reservation6, RoutedNetSpec, SpecBase } from "../planner/network-spec";
import { renderOverlayXml } from "../render/network-xml";
import type { ShapedAt } from "../render/tc-qos";
import { parseIPv4 } from "../net/ipv4";
import {
  batchInput,
  floodEntry,
  floodLimitTableRemoval,
  floodLimitTableCommands,
  VXLAN_OVERHEAD_V4,
  VXLAN_PORT,
  vxlanDeviceName,
  vxlanDeviceSetup,
} from "../render/vxlan";
import type { DhcpConfig, Ipv6Config } from "../schemas/network";
import { DEFAULT_FLOOD_LIMIT_PPS } from "../schemas/types/overlay";
import type { HostSteps } from "./host-steps";
import type { DriverModel } from "./model";

/** A member host of an overlay and its underlay address (the outer source and destination of its VXLAN). */
export interface OverlayMember {
  id: string;
  ip: string;
}

export interface OverlayNetSpec extends SpecBase {
  type: "overlay";
  /** The overlay's bridge on every member (named after the VNI: the same name on each). */
  bridge: string;
  cidr: string;
  /** The gateway address (on the gateway host's bridge only). */
  gateway: string;
  /** The gateway host's DHCP server. */
  dhcp: DhcpConfig;
  /** The overlay's MTU: its bridges, VXLAN devices and ports. */
  mtu: number;
  vni: number;
  gatewayHost: string;
  /** The gateway host masquerades what leaves the subnet. */
  nat: boolean;
  /**
   * IPv6 beside the IPv4 subnet (absent: none), in every member's definition: the gateway host holds its first
   * address, libvirt's dnsmasq there sends the router advertisements (and leases DHCPv6), NAT66 with nat unless
   * routed; every member filters its VMs' IPv6 as their IPv4. A non-gateway member's bridge has no IPv6 of its own.
   */
  ipv6?: Ipv6Config;
  /**
   * Flooded frames (broadcast, multicast, unknown unicast) per second each local port may send over the VXLAN
   * device (head-end replication sends each to every member); 0: no limit. Absent (an older definition): the default.
   */
  floodLimitPps?: number;
  members: OverlayMember[];
  /** The member host this definition is on. */
  self: string;
  /**
   * The gateway host's parts, changed by jobs on the gateway host only (absent: none). A non-gateway member's
   * definition keeps what the overlay had when that member's part was made: nothing on that member reads them.
   */
  /** Static DHCP reservations (the gateway's dnsmasq). */
  reservations?: Reservation[];
  /** IPv6 (DHCPv6) reservations by DUID (the gateway's dnsmasq; dhcpv6 mode only). */
  reservations6?: Reservation6[];
  /** DNS host records (the gateway's dnsmasq). */
  dnsHosts?: DnsHost[];
  /** Port forwards from the gateway host's addresses (with `nat` only). */
  portForwards?: PortForwardSpec[];
  /**
   * The firewall (absent: open), kept in every member's definition: each member applies it to the VMs on its own
   * bridge (configure-network-firewall is a job across hosts).
   */
  firewall?: FirewallSpec;
  /**
   * The bandwidth limits (absent: none), kept in every member's definition: the gateway host holds the network's
   * limit and every VM's edge class, each member its own VMs' limits (configure-network-qos is a job across hosts).
   */
  qos?: QosSpec;
}

/** A member host as the door sees it for an MTU change: its underlay MTU (null: none published, with the reason). */
export interface OverlayMemberUnderlay {
  id: string;
  underlayMtu: number | null;
  underlayProblem?: string;
}

/**
 * An overlay MTU change at the door: `mtu` must fit every member's underlay (its MTU less the VXLAN overhead), as
 * a create's must. One issue per member it does not fit (path `mtu`, naming the host and its numbers); [] when it fits.
 */
export function overlayMtuIssues(
  name: string,
  mtu: number,
  members: readonly OverlayMemberUnderlay[],
): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  for (const m of members) {
    if (m.underlayMtu === null) {
      issues.push({
        path: "mtu",
        message: `host '${m.id}' of overlay '${name}' has no underlay for VXLAN${m.underlayProblem ? `: ${m.underlayProblem}` : " (its worker reports none)"}`,
      });
    } else if (m.underlayMtu - VXLAN_OVERHEAD_V4 < mtu) {
      issues.push({
        path: "mtu",
        message: `must be at most ${m.underlayMtu - VXLAN_OVERHEAD_V4}: host '${m.id}''s underlay MTU is ${m.underlayMtu}, less ${VXLAN_OVERHEAD_V4} bytes of VXLAN`,
      });
    }
  }
  return issues;
}

/** The overlay's bridge on every member: "nfov" + the VNI (at most 12 characters, the same on each host). */
export function overlayBridgeName(vni: number): string {
  return `nfov${vxlanDeviceName(vni).slice(4)}`;
}

/** netforge's nft table holding one overlay's VXLAN guard on a member (inet family, hooked at prerouting/raw). */
export function overlayGuardTable(vni: number): string {
  return `netforge-vx${vxlanDeviceName(vni).slice(4)}`;
}

/** The spec's flood limit (a definition from before the limit existed: the default). */
export const overlayFloodLimit = (spec: OverlayNetSpec): number => spec.floodLimitPps ?? DEFAULT_FLOOD_LIMIT_PPS;

const isGateway = (spec: OverlayNetSpec): boolean => spec.self === spec.gatewayHost;

function selfMember(spec: OverlayNetSpec, host: string): OverlayMember {
  const me = spec.members.find((m) => m.id === spec.self);
  if (!me || spec.self !== host) {
    throw new AppError("INVALID_STATE", `overlay '${spec.name}' is not planned for host ${host} (its definition is for ${spec.self})`, {
      name: spec.name,
      host,
    });
  }
  return me;
}

/**
 * The guard as nft commands (argument arrays, no shell): a table of its own per overlay, whose one chain drops
 * a VXLAN datagram for this VNI unless its outer source is a member (the VNI is bits 32-55 of the VXLAN header,
 * right after the 8-byte UDP header: `@th,96,24`). Before conntrack (priority raw): a dropped datagram leaves no state.
 */
export function overlayGuardCommands(spec: OverlayNetSpec): string[][] {
  const t = overlayGuardTable(spec.vni);
  const members = [...new Set(spec.members.map((m) => m.ip))].sort().join(", ");
  return [
    // `create`: fails on a table of that name already there (not netforge's to take, or to remove on undo).
    ["nft", "create", "table", "inet", t],
    ["nft", "add", "chain", "inet", t, "guard", "{ type filter hook prerouting priority raw; policy accept; }"],
    [
      "nft",
      "add",
      "rule",
      "inet",
      t,
      "guard",
      `udp dport ${VXLAN_PORT} @th,96,24 ${spec.vni} ip saddr != { ${members} } counter drop comment "overlay ${spec.name}: VNI ${spec.vni} only from its members"`,
    ],
  ];
}

/**
 * A non-gateway member's bridge of an overlay with IPv6: the host's own IPv6 stack off on it (`disable_ipv6`, as
 * libvirt does on its bridges without IPv6). The bridge has no address of the overlay, as for IPv4: without this
 * the host would take the gateway's router advertisements for itself (a SLAAC address on the overlay and a
 * default route through it, on a host with `accept_ra` 1 and no forwarding). Frames are bridged as before. Null
 * without IPv6 (the bridge as before).
 */
export function memberBridgeIpv6Off(spec: OverlayNetSpec): string[] | null {
  return spec.ipv6 ? ["sysctl", "-qw", `net.ipv6.conf.${spec.bridge}.disable_ipv6=1`] : null;
}

const cmd = (name: string, argv: string[], undo: string[] | null, allowFailure = false): CommandStep => ({
  kind: "command",
  name,
  argv,
  undo,
  live: true,
  ...(allowFailure ? { allowFailure: true } : {}),
});

/** `tool -batch -` reading `lines` (argvs without the tool's name, each word checked: render/vxlan.ts batchLine); no undo of its own. */
const batchCmd = (name: string, tool: "ip" | "bridge", lines: readonly string[][]): CommandStep => ({
  ...cmd(name, [tool, "-batch", "-"], null),
  input: batchInput(lines),
});

/**
 * The guard table and (with a flood limit) the flood limit table made in one nft transaction (an `nft -f -`
 * script): `create table` fails on a table of that name already there (not netforge's to take), and then neither
 * is made. The lines are the commands of overlayGuardCommands and floodLimitTableCommands after `nft` (nft reads an
 * argv as one such line), the members' addresses checked.
 */
export function overlayTablesScript(spec: OverlayNetSpec): string {
  for (const m of spec.members) {
    if (parseIPv4(m.ip) === null || m.ip.includes("/")) {
      throw new AppError("INTERNAL", `refusing to render overlay '${spec.name}''s guard with member address ${JSON.stringify(m.ip)}`, {});
    }
  }
  const lines = [...overlayGuardCommands(spec), ...floodLimitTableCommands(spec.vni, overlayFloodLimit(spec))];
  return `${lines.map((argv) => argv.slice(1).join(" ")).join("\n")}\n`;
}

/**
 * A member's host steps. The non-gateway members' bridge is netforge's (made before the definition, removed
 * after it); the gateway's is libvirt's (made by its start). The VXLAN device, its forwarding entries and the
 * guard live while the network runs: made right after libvirt's start, removed right before its stop.
 */
export const overlayHostSteps: HostSteps<OverlayNetSpec> & {
  afterStart(spec: OverlayNetSpec, facts: HostFacts, host: string): HostStep[];
  beforeStop(spec: OverlayNetSpec): HostStep[];
} = {
  setUp(spec, facts, host) {
    selfMember(spec, host);
    if (isGateway(spec) || facts.links.some((l) => l.name === spec.bridge)) return [];
    const v6off = memberBridgeIpv6Off(spec);
    // The commands of overlay-drift.ts's overlayBridgeCommands (boot and reconcile): its MTU and up in one
    // `ip -batch -` (one process; the bridge's undo takes both back).
    return [
      cmd(
        "create the overlay's bridge",
        ["ip", "link", "add", spec.bridge, "type", "bridge", "stp_state", "0"],
        ["ip", "link", "del", spec.bridge],
      ),
      ...(v6off ? [cmd("the host's own IPv6 off on the bridge (no address of the overlay here)", v6off, null)] : []),
      batchCmd(`bridge ${spec.bridge}: MTU ${spec.mtu}, up (one ip batch)`, "ip", [
        ["link", "set", spec.bridge, "mtu", String(spec.mtu)],
        ["link", "set", spec.bridge, "up"],
      ]),
    ];
  },
  afterStart(spec, _facts, host) {
    const me = selfMember(spec, host);
    const dev = vxlanDeviceName(spec.vni);
    // Four processes whatever the member count (ADR 0051, "Benchmarks", 2026-12-08): the device made (its own
    // step: its undo removes it, and its entries with it), the rest of its setup in one `ip -batch -`, the flood
    // entries in one `bridge -batch -`, the guard and flood limit tables in one `nft -f -` transaction (both
    // made or neither: its undo removes both). A batch stops at its first failing line, which fails the step.
    const [add, ...rest] = vxlanDeviceSetup({ vni: spec.vni, local: me.ip, bridge: spec.bridge, mtu: spec.mtu });
    const steps: HostStep[] = [
      cmd(`create VXLAN device ${dev} (VNI ${spec.vni}, local ${me.ip})`, ["ip", ...(add as string[])], ["ip", "link", "del", dev]),
      batchCmd(`VXLAN device ${dev}: MTU ${spec.mtu}, port of ${spec.bridge} without learning, up (one ip batch)`, "ip", rest),
    ];
    const others = spec.members.filter((m) => m.id !== spec.self);
    if (others.length > 0) {
      steps.push(
        batchCmd(
          `flood to ${others.map((m) => `member ${m.id} (${m.ip})`).join(", ")} (one bridge batch)`,
          "bridge",
          others.map((m) => floodEntry(spec.vni, m.ip)),
        ),
      );
    }
    const limited = overlayFloodLimit(spec) > 0;
    steps.push({
      ...cmd(
        limited
          ? "create the VXLAN guard and flood limit tables (one nft transaction)"
          : "create the VXLAN guard table (one nft transaction)",
        ["nft", "-f", "-"],
        // One transaction takes both away again (they were made together).
        limited
          ? ["nft", `delete table inet ${overlayGuardTable(spec.vni)}; delete table ${floodLimitTableRemoval(spec.vni).slice(3).join(" ")}`]
          : ["nft", "delete", "table", "inet", overlayGuardTable(spec.vni)],
      ),
      input: overlayTablesScript(spec),
      // The tables match the VXLAN device by name and the VNI in the datagram: made beside libvirt's start.
      besideStart: true,
    });
    return steps;
  },
  beforeStop(spec) {
    // Gone already is fine (a host rebooted, a device removed by hand): stopping must not fail on it.
    return [
      cmd("remove the VXLAN guard table", ["nft", "delete", "table", "inet", overlayGuardTable(spec.vni)], null, true),
      ...(overlayFloodLimit(spec) > 0 ? [cmd("remove the flood limit table", floodLimitTableRemoval(spec.vni), null, true)] : []),
      cmd(`remove VXLAN device ${vxlanDeviceName(spec.vni)}`, ["ip", "link", "del", vxlanDeviceName(spec.vni)], null, true),
    ];
  },
  tearDown(spec, facts) {
    if (isGateway(spec) || !facts.links.some((l) => l.name === spec.bridge)) return [];
    return [cmd("remove the overlay's bridge", ["ip", "link", "del", spec.bridge], null)];
  },
};

/**
 * The spec a create plans on member `host` (a dry run at the API; the worker's prepare builds the same from the
 * payload after its host checks).
 */
export function overlaySpecFor(p: CreateNetworkPayload, host: string): OverlayNetSpec {
  const o = p.overlay;
  const door = p.overlayDoor;
  if (!o || !door || !p.cidr || !p.gateway) throw new Error("overlaySpecFor: not an overlay's payload");
  return {
    type: "overlay",
    name: p.name,
    uuid: p.uuid,
    description: p.description,
    createdAt: p.createdAt,
    ...(p.managedBy === undefined ? {} : { managedBy: p.managedBy }),
    bridge: overlayBridgeName(door.vni),
    cidr: p.cidr,
    gateway: p.gateway,
    dhcp: { ...p.dhcp },
    mtu: door.mtu,
    vni: door.vni,
    gatewayHost: o.gatewayHost,
    nat: o.nat,
    ...(p.ipv6 ? { ipv6: { ...p.ipv6, dhcp: p.ipv6.dhcp ? { ...p.ipv6.dhcp } : null } } : {}),
    floodLimitPps: o.floodLimitPps ?? DEFAULT_FLOOD_LIMIT_PPS,
    members: o.hosts.map((id) => ({ id, ip: door.underlay[id] ?? "" })),
    self: host,
    ...(door.firewall ? { firewall: firewallOfBody(door.firewall) } : {}),
    ...(door.qos ? { qos: door.qos } : {}),
  };
}

/** The changes not built for overlays: none left (IPv6 reservations are the gateway's, as a nat network's). */
export const OVERLAY_NOT_BUILT: ReadonlySet<ChangeKind> = new Set<ChangeKind>();

/**
 * The changes that are every member's (a job across hosts: each member's part planned from its own definition):
 * the firewall (each member filters its own VMs' frames) and the MTU (each member's bridge, VXLAN device and ports).
 */
export const OVERLAY_EVERY_MEMBER: ReadonlySet<ChangeKind> = new Set<ChangeKind>(["firewall", "mtu", "qos"]);

const WHY_NOT: { [K in ChangeKind]?: string } = {};

function notYet(spec: OverlayNetSpec, change: NetworkChange): AppError {
  return new AppError(
    "UNSUPPORTED_FOR_TYPE",
    `network '${spec.name}' is of type overlay: ${change.kind} is not yet for overlay networks (${WHY_NOT[change.kind] ?? "issue 17's next slices"})`,
    { name: spec.name, type: spec.type },
  );
}

/**
 * The gateway host's addressing part as the routed types keep theirs (subnet, gateway, bridge, DHCP, reservations,
 * DNS records, forwards): what the routed planner changes, the IP table lists and the port claims hold. Its
 * type is the routed type the gateway acts as (nat masquerades and forwards; without nat, nothing leaves).
 */
export function overlayGatewayPart(spec: OverlayNetSpec): RoutedNetSpec {
  return {
    type: spec.nat ? "nat" : "isolated", // not-a-network-type: the routed type the gateway host acts as
    name: spec.name,
    uuid: spec.uuid,
    description: spec.description,
    createdAt: spec.createdAt,
    ...(spec.managedBy === undefined ? {} : { managedBy: spec.managedBy }),
    bridge: spec.bridge,
    cidr: spec.cidr,
    gateway: spec.gateway,
    dhcp: { ...spec.dhcp },
    reservations: [...(spec.reservations ?? [])],
    ...(spec.dnsHosts && spec.dnsHosts.length > 0 ? { dnsHosts: spec.dnsHosts } : {}),
    ...(spec.portForwards && spec.portForwards.length > 0 ? { portForwards: spec.portForwards } : {}),
    ...(spec.firewall ? { firewall: spec.firewall } : {}),
    ...(spec.qos ? { qos: spec.qos } : {}),
    ...(spec.ipv6 ? { ipv6: spec.ipv6 } : {}),
    ...(spec.ipv6 && spec.reservations6 && spec.reservations6.length > 0 ? { reservations6: spec.reservations6 } : {}),
    mtu: spec.mtu,
  };
}

/**
 * Where a member shapes the overlay (docs/adr/0044-network-qos.md, "Overlay networks"): its bridge, with its VXLAN
 * port (never a VM's) and whether it is the gateway host (the network's edge is there alone).
 */
export const overlayShapedAt = (spec: OverlayNetSpec): ShapedAt => ({
  bridge: spec.bridge,
  uplink: null,
  overlay: { dev: vxlanDeviceName(spec.vni), gateway: isGateway(spec) },
});

/** The overlay's spec with its gateway part as the routed planner left it. */
function withGatewayPart(spec: OverlayNetSpec, part: RoutedNetSpec): OverlayNetSpec {
  const { reservations: _r, reservations6: _r6, dnsHosts: _d, portForwards: _f, firewall: _w, qos: _q, ...rest } = spec;
  return {
    ...rest,
    dhcp: { ...part.dhcp },
    // (An MTU change is planned on the part too: the overlay keeps the part's.)
    mtu: part.mtu ?? spec.mtu,
    ...(part.firewall ? { firewall: part.firewall } : {}),
    ...(part.qos ? { qos: part.qos } : {}),
    ...(part.reservations.length > 0 ? { reservations: part.reservations } : {}),
    ...(part.reservations6 && part.reservations6.length > 0 ? { reservations6: part.reservations6 } : {}),
    ...(part.dnsHosts && part.dnsHosts.length > 0 ? { dnsHosts: part.dnsHosts } : {}),
    ...(part.portForwards && part.portForwards.length > 0 ? { portForwards: part.portForwards } : {}),
  };
}

/**
 * The gateway host's part of netforge's table: masquerade (with nat), MSS clamping, the forwards of what leaves,
 * and the firewall as a nat (isolated) network's for every frame its bridge forwards (VMs there, and the frames
 * of other members' VMs routed through it or bridged to its VMs).
 */
function gatewayFirewall(spec: OverlayNetSpec, ownsTypeRules: boolean): FirewallNetwork {
  return {
    name: spec.name,
    reachOutside: spec.nat,
    masquerade: spec.nat,
    forwardsPorts: spec.nat,
    bridge: spec.bridge,
    cidr: spec.cidr,
    firewall: firewallOf(spec),
    portForwards: spec.nat ? (spec.portForwards ?? []) : [],
    ownsTypeRules,
    clampMss: true,
    // VM to VM counted by every member's bridge table (the gateway one of them): ADR 0044 "Overlay members counted".
    vmToVmCountedByBridge: true,
    ...(spec.ipv6 ? { ipv6: { cidr: spec.ipv6.cidr, routed: spec.ipv6.routed } } : {}),
  };
}

/**
 * Another member's part: the firewall for the frames its bridge forwards between its VMs' ports and the VXLAN
 * device (br_netfilter shows them to the forward hook with the bridge on both sides). Nothing is routed there (the
 * bridge has no address): nothing leaves the bridge otherwise. What is the gateway's to filter passes
 * (render/nft.ts `overlayMember`): frames to or from the gateway address, and frames leaving the subnet.
 */
function memberFirewall(spec: OverlayNetSpec, ownsTypeRules: boolean): FirewallNetwork {
  return {
    name: spec.name,
    reachOutside: false,
    masquerade: false,
    forwardsPorts: false,
    bridge: spec.bridge,
    cidr: spec.cidr,
    firewall: firewallOf(spec),
    portForwards: [],
    ownsTypeRules,
    overlayMember: { gateway: spec.gateway, ...(spec.ipv6 ? { gateway6: spec.ipv6.gateway } : {}) },
    vmToVmCountedByBridge: true,
    ...(spec.ipv6 ? { ipv6: { cidr: spec.ipv6.cidr, routed: spec.ipv6.routed } } : {}),
  };
}

/** The overlay's part of this member's table. */
const overlayFirewall = (spec: OverlayNetSpec, ownsTypeRules: boolean): FirewallNetwork =>
  isGateway(spec) ? gatewayFirewall(spec, ownsTypeRules) : memberFirewall(spec, ownsTypeRules);

/** What the routed planner needs to plan a change of the gateway part of `spec` as the overlay's own. */
function gatewayRules(spec: OverlayNetSpec): RoutedTypeRules {
  return {
    portForwards: spec.nat,
    // Only the gateway host runs the overlay's dnsmasq (an MTU change writes its options file there alone).
    dhcpServer: isGateway(spec),
    shapedAt: overlayShapedAt(spec),
    firewall: (part, owns = true) => overlayFirewall(withGatewayPart(spec, part), owns),
    own: { spec: (part) => withGatewayPart(spec, part), render: (part) => renderOverlayXml(withGatewayPart(spec, part)) },
  };
}

/**
 * A change of an overlay: refused when not built (OVERLAY_NOT_BUILT), when this definition is not the gateway
 * host's (its changes are planned where its DHCP server and table part are), a forward on an overlay without
 * nat, or to an IPv6 address; otherwise the gateway part's change, planned by the routed planner.
 */
function gatewayChange(spec: OverlayNetSpec, change: NetworkChange): RoutedTypeRules {
  if (OVERLAY_NOT_BUILT.has(change.kind)) throw notYet(spec, change);
  // The firewall, the MTU and the bandwidth limits are every member's (each plans its own part from its own definition).
  if (!isGateway(spec) && !OVERLAY_EVERY_MEMBER.has(change.kind)) {
    throw new AppError(
      "INVALID_STATE",
      `overlay '${spec.name}''s ${change.kind} change is made on its gateway host ${spec.gatewayHost}, not on ${spec.self}`,
      { name: spec.name, host: spec.self, gatewayHost: spec.gatewayHost },
    );
  }
  if (change.kind === "port-forward" && !spec.nat) {
    throw new AppError(
      "UNSUPPORTED_FOR_TYPE",
      `port forwards need an overlay with nat (its gateway host translates them); '${spec.name}' was made with nat: false`,
      { name: spec.name, type: spec.type },
    );
  }
  if (change.kind === "port-forward" && change.vmIp?.includes(":") && !spec.ipv6) {
    throw new AppError("UNSUPPORTED_FOR_TYPE", `network '${spec.name}' is an overlay made without ipv6: forward to the VM's IPv4 address`, {
      name: spec.name,
      type: spec.type,
      vmIp: change.vmIp,
    });
  }
  return gatewayRules(spec);
}

function planOverlayChange(spec: OverlayNetSpec, change: NetworkChange, host: HostObservation, currentXml?: string): ChangePlan {
  const plan = planRoutedChange(gatewayChange(spec, change), overlayGatewayPart(spec), change, host, currentXml);
  if (!OVERLAY_EVERY_MEMBER.has(change.kind) || !isGateway(spec) || plan.steps.length === 0) return plan;
  // The firewall and the MTU are every member's: planned on the gateway host, the plan carries each other member's
  // part (the job queues one on each: handlers/configure-network.ts), planned here as from that member's definition.
  const parts = spec.members
    .filter((m) => m.id !== spec.self)
    .map((m) => {
      const theirs: OverlayNetSpec = { ...spec, self: m.id };
      return {
        host: m.id,
        plan: planRoutedChange(gatewayChange(theirs, change), overlayGatewayPart(theirs), change, { active: host.active, leases: [] }),
      };
    });
  return parts.length > 0 ? { ...plan, parts } : plan;
}

/** The overlay driver's pure half. */
export const overlayModel: DriverModel<OverlayNetSpec> = {
  type: "overlay",
  is: (spec): spec is OverlayNetSpec => spec.type === "overlay",
  render: renderOverlayXml,
  hostSteps: overlayHostSteps,
  // The gateway host's DHCP, reservations, DNS and forwards; the other members have none.
  addressing: (spec) => (isGateway(spec) ? overlayGatewayPart(spec) : null),
  noAddressing: null,
  unsupported: OVERLAY_NOT_BUILT,
  hostFirewall: true,
  // Every member's part: the firewall for its bridge; the gateway's also masquerade (with nat), MSS clamping and forwards.
  firewall: (spec, ownsTypeRules = true) => overlayFirewall(spec, ownsTypeRules),
  ownsTypeRules: (forwardMode) => forwardMode === "open" || forwardMode === "bridge", // not-a-network-type: libvirt's forward mode
  redefineBeforeStart: () => false,
  servesDhcp: (spec) => isGateway(spec) && spec.dhcp.enabled,
  view: (spec) => ({
    dhcp: spec.dhcp,
    firewall: spec.firewall ?? null,
    portForwards: spec.nat ? (spec.portForwards ?? []) : [],
    dnsHosts: spec.dnsHosts ?? [],
    reservations: spec.reservations ?? [],
    ...(spec.reservations6 === undefined ? {} : { reservations6: spec.reservations6 }),
    mtu: spec.mtu,
    ipv6: spec.ipv6 ?? null,
    qos: spec.qos ?? null,
    shapedAt: overlayShapedAt(spec),
  }),
  // Every member's firewall rules, and the gateway host's forwards, are rules of its table.
  hostRuleCount: (spec) => (spec.firewall?.rules.length ?? 0) + (isGateway(spec) && spec.nat ? (spec.portForwards?.length ?? 0) : 0),
  otherHosts: (spec) => spec.members.filter((m) => m.id !== spec.self).map((m) => m.id),
  indexedHere: isGateway,
  planChange: planOverlayChange,
  checkChange: (spec, change, host) => checkRoutedChange(gatewayChange(spec, change), overlayGatewayPart(spec), change, host),
};
