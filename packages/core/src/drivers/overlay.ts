/**
 * overlay networks (issue 17): one L2 segment over several member hosts. On each member a bridge and a VXLAN
 * device (render/vxlan.ts: no learning, one all-zero forwarding entry per other member) joined to it, a guard
 * that accepts the overlay's VNI only from its members' underlay addresses, and a libvirt network of the
 * overlay's name on that bridge. The gateway host's libvirt network carries the gateway address and dnsmasq
 * (forward mode 'open', netforge's table masquerades with TCP MSS clamping); the other members' are plain
 * bridge networks (no address, no DHCP). Each member's definition holds the whole spec and says which member
 * it is on (`self`), so every member's worker plans its own part from its own libvirt. Changes (DHCP, static
 * IPs, firewall, forwards, QoS, IPv6, MTU) are not built for overlays yet: refused with UNSUPPORTED_FOR_TYPE.
 */
import { CHANGE_KINDS } from "../actions/changes";
import { AppError } from "../errors";
import type { CreateNetworkPayload } from "../jobs";
import type { HostFacts } from "../plan/facts";
import type { HostStep } from "../plan/steps";
import type { NetworkChange } from "../planner/changes";
import { OPEN_FIREWALL } from "../planner/firewall";
import type { SpecBase } from "../planner/network-spec";
import { renderOverlayXml } from "../render/network-xml";
import { floodEntry, VXLAN_PORT, vxlanDeviceName, vxlanDeviceSetup } from "../render/vxlan";
import type { DhcpConfig } from "../schemas/network";
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
  members: OverlayMember[];
  /** The member host this definition is on. */
  self: string;
}

/** The overlay's bridge on every member: "nfov" + the VNI (at most 12 characters, the same on each host). */
export function overlayBridgeName(vni: number): string {
  return `nfov${vxlanDeviceName(vni).slice(4)}`;
}

/** netforge's nft table holding one overlay's VXLAN guard on a member (inet family, hooked at prerouting/raw). */
export function overlayGuardTable(vni: number): string {
  return `netforge-vx${vxlanDeviceName(vni).slice(4)}`;
}

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

const cmd = (name: string, argv: string[], undo: string[] | null, allowFailure = false): HostStep => ({
  kind: "command",
  name,
  argv,
  undo,
  live: true,
  ...(allowFailure ? { allowFailure: true } : {}),
});

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
    return [
      cmd(
        "create the overlay's bridge",
        ["ip", "link", "add", spec.bridge, "type", "bridge", "stp_state", "0"],
        ["ip", "link", "del", spec.bridge],
      ),
      cmd("set the bridge's MTU", ["ip", "link", "set", spec.bridge, "mtu", String(spec.mtu)], null),
      cmd("bring the bridge up", ["ip", "link", "set", spec.bridge, "up"], null),
    ];
  },
  afterStart(spec, _facts, host) {
    const me = selfMember(spec, host);
    const dev = vxlanDeviceName(spec.vni);
    const [add, ...rest] = vxlanDeviceSetup({ vni: spec.vni, local: me.ip, bridge: spec.bridge, mtu: spec.mtu });
    const steps: HostStep[] = [
      cmd(`create VXLAN device ${dev} (VNI ${spec.vni}, local ${me.ip})`, ["ip", ...(add as string[])], ["ip", "link", "del", dev]),
    ];
    for (const a of rest) steps.push(cmd(`VXLAN device: ${a.slice(3).join(" ")}`, ["ip", ...a], null));
    for (const m of spec.members) {
      if (m.id === spec.self) continue;
      steps.push(cmd(`flood to member ${m.id} (${m.ip})`, ["bridge", ...floodEntry(spec.vni, m.ip)], null));
    }
    const [table, ...guard] = overlayGuardCommands(spec);
    steps.push(cmd("create the VXLAN guard table", table as string[], ["nft", "delete", "table", "inet", overlayGuardTable(spec.vni)]));
    for (const g of guard) steps.push(cmd(`VXLAN guard: ${g[2]} ${g[6] ?? ""}`.trim(), g, null));
    return steps;
  },
  beforeStop(spec) {
    // Gone already is fine (a host rebooted, a device removed by hand): stopping must not fail on it.
    return [
      cmd("remove the VXLAN guard table", ["nft", "delete", "table", "inet", overlayGuardTable(spec.vni)], null, true),
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
    members: o.hosts.map((id) => ({ id, ip: door.underlay[id] ?? "" })),
    self: host,
  };
}

function notYet(spec: OverlayNetSpec, change: NetworkChange): AppError {
  return new AppError(
    "UNSUPPORTED_FOR_TYPE",
    `network '${spec.name}' is of type overlay: ${change.kind} is not yet for overlay networks (issue 17's next slices)`,
    { name: spec.name, type: spec.type },
  );
}

/** The overlay driver's pure half. */
export const overlayModel: DriverModel<OverlayNetSpec> = {
  type: "overlay",
  is: (spec): spec is OverlayNetSpec => spec.type === "overlay",
  render: renderOverlayXml,
  hostSteps: overlayHostSteps,
  addressing: () => null,
  noAddressing: "not yet for overlay networks: its DHCP, static IPs and DNS live on its gateway host (issue 17's next slices)",
  unsupported: new Set(CHANGE_KINDS),
  hostFirewall: true,
  // The gateway host's part: masquerade (with nat) and MSS clamping of what leaves; the other members have none.
  firewall: (spec, ownsTypeRules = true) =>
    isGateway(spec)
      ? {
          name: spec.name,
          reachOutside: spec.nat,
          masquerade: spec.nat,
          forwardsPorts: false,
          bridge: spec.bridge,
          cidr: spec.cidr,
          firewall: OPEN_FIREWALL,
          portForwards: [],
          ownsTypeRules,
          clampMss: true,
        }
      : null,
  ownsTypeRules: (forwardMode) => forwardMode === "open" || forwardMode === "bridge", // not-a-network-type: libvirt's forward mode
  redefineBeforeStart: () => false,
  servesDhcp: (spec) => isGateway(spec) && spec.dhcp.enabled,
  view: (spec) => ({
    dhcp: spec.dhcp,
    firewall: null,
    portForwards: [],
    dnsHosts: [],
    reservations: [],
    mtu: spec.mtu,
    ipv6: null,
    qos: null,
  }),
  hostRuleCount: () => 0,
  otherHosts: (spec) => spec.members.filter((m) => m.id !== spec.self).map((m) => m.id),
  indexedHere: isGateway,
  planChange(spec, change) {
    throw notYet(spec, change);
  },
  checkChange(spec, change) {
    throw notYet(spec, change);
  },
};
