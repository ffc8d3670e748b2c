/**
 * Each type's reader of the spec kept in netforge's <metadata> (render/network-xml.ts's parseNetworkXml calls
 * `readSpec` with the network's type, typeOf). Networks made before the spec was kept whole (type, description
 * and createdAt only) are completed from libvirt's own elements, so they can be changed like any other.
 *
 * Why here and not in each driver's file: the drivers' files import the renderer (render/network-xml.ts) for
 * their render(), and the parser imports these readers, so readers in those files would close an import cycle.
 * This file imports only the metadata helpers (render/xml-metadata.ts) and types.
 */
import type { ParsedNetwork } from "../render/network-xml";
import type { DnsHost, QosSpec } from "../actions/changes";
import type { PortForwardSpec } from "../planner/firewall";
import { isEmptyQos, QosSet } from "../schemas/qos";
import { attr, compactItems, firewallFromMetadata, forwardOf, type MetaNode as Node, str, unfield } from "../render/xml-metadata";
import type { Ipv6Config, NetworkType } from "../schemas/network";
import type { NetSpec, Reservation, Reservation6 } from "../planner/network-spec";
import type { BridgeNetSpec } from "./bridge";
import type { RoutedNetSpec, RoutedType } from "./routed";
import type { SriovNetSpec } from "./sriov";
import type { OverlayNetSpec } from "./overlay";

const common = (p: ParsedNetwork) => ({
  name: p.name,
  uuid: p.uuid,
  description: p.description,
  createdAt: p.createdAt ?? "",
  ...(p.managedBy === null ? {} : { managedBy: p.managedBy }),
});

/** A bridge network's spec: its bridge (libvirt's <bridge> for older metadata), its NIC and the NIC's state before. */
function readBridgeSpec(meta: Node, p: ParsedNetwork): BridgeNetSpec | null {
  const bridge = str(meta.bridge) ?? p.bridge;
  if (!bridge) return null;
  const nic = meta.nic as Node | undefined;
  // Digits only: Number() of a missing or empty attribute is 0, which would "restore" the NIC to MTU 0.
  const mtuText = nic ? attr(nic, "mtu") : null;
  const mtu = mtuText !== null && /^\d+$/.test(mtuText) ? Number(mtuText) : null;
  const qos = qosFromMetadata(str(meta.qos));
  return {
    type: "bridge",
    ...common(p),
    bridge,
    interface: str(meta.interface),
    created: nic && mtu !== null ? { nic: { up: attr(nic, "up") === "yes", mtu, master: attr(nic, "master") || null } } : null,
    ...(qos ? { qos } : {}),
  };
}

/** An sriov network's spec: its PF, VF count and VLAN. */
function readSriovSpec(meta: Node, p: ParsedNetwork): SriovNetSpec | null {
  const node = meta.sriov as Node | undefined;
  const pf = node ? attr(node, "pf") : null;
  if (!node || !pf) return null;
  const num = (v: string | null) => (v === null ? null : Number(v));
  return { type: "sriov", ...common(p), pf, vfs: num(attr(node, "vfs")), vlan: num(attr(node, "vlan")) };
}

/** The reservations kept in the metadata. */
function reservationsOf(stored: Node[] | undefined): Reservation[] {
  return (stored ?? []).flatMap((r) => {
    const mac = attr(r, "mac");
    const ip = attr(r, "ip");
    return mac && ip ? [{ mac, ip, hostname: attr(r, "hostname") }] : [];
  });
}

/** The port forwards kept in the metadata: the element form (written by earlier versions), then the compact list. */
function forwardsOf(meta: Node): PortForwardSpec[] {
  const forwards = ((meta.portForward as Node[] | undefined) ?? []).flatMap((f) =>
    forwardOf(attr(f, "protocol"), attr(f, "hostPort"), attr(f, "vmIp"), attr(f, "vmPort")),
  );
  for (const [protocol, hostPort, vmIp, vmPort, hostIp] of compactItems(str(meta.portForwards))) {
    forwards.push(...forwardOf(unfield(protocol), unfield(hostPort), unfield(vmIp), unfield(vmPort), unfield(hostIp)));
  }
  return forwards;
}

/** The DNS host records kept in the metadata. */
function dnsHostsOf(meta: Node): DnsHost[] {
  return ((meta.dnsHost as Node[] | undefined) ?? []).flatMap((h) => {
    const ip = attr(h, "ip");
    const names = (attr(h, "names") ?? "").split(" ").filter((n) => n !== "");
    return ip && names.length > 0 ? [{ ip, names }] : [];
  });
}

/**
 * A routed (nat, isolated) network's spec: subnet, gateway, bridge, DHCP and reservations, completed from
 * libvirt's own elements for metadata older than the whole spec; its firewall and port forwards.
 */
function readRoutedSpec<T extends RoutedType>(type: T, meta: Node, p: ParsedNetwork): RoutedNetSpec | null {
  const cidr = str(meta.cidr) ?? p.cidr;
  const gateway = str(meta.gateway) ?? p.gateway;
  const bridge = str(meta.bridge) ?? p.bridge;
  if (!cidr || !gateway || !bridge) return null;
  const d = meta.dhcp as Node | undefined;
  let dhcp: RoutedNetSpec["dhcp"];
  if (d && typeof d === "object") {
    dhcp =
      attr(d, "enabled") === "yes"
        ? { enabled: true, start: attr(d, "start"), end: attr(d, "end"), leaseTime: Number(attr(d, "leaseTime") ?? 3600) }
        : { enabled: false, start: null, end: null, leaseTime: null };
  } else {
    dhcp = p.dhcp
      ? { enabled: true, start: p.dhcp.start, end: p.dhcp.end, leaseTime: p.dhcp.leaseTime }
      : { enabled: false, start: null, end: null, leaseTime: null };
  }
  const stored = meta.reservation as Node[] | undefined;
  const reservations: Reservation[] = stored !== undefined || d !== undefined ? reservationsOf(stored) : p.hosts.map((h) => ({ ...h }));
  const spec: NetSpec = {
    type,
    ...common(p),
    bridge,
    cidr,
    gateway,
    dhcp,
    reservations,
  };
  const firewall = firewallFromMetadata(meta.firewall);
  if (firewall) spec.firewall = firewall;
  const forwards = forwardsOf(meta);
  if (forwards.length > 0) spec.portForwards = forwards;
  const dnsHosts = dnsHostsOf(meta);
  if (dnsHosts.length > 0) spec.dnsHosts = dnsHosts;
  // The MTU is libvirt's own element (it sets the bridge and the ports from it): no metadata of its own.
  if (p.mtu !== null) spec.mtu = p.mtu;
  const ipv6 = ipv6Of(meta);
  if (ipv6) spec.ipv6 = ipv6;
  const stored6 = reservations6Of(meta);
  if (spec.ipv6 !== undefined && stored6.length > 0) spec.reservations6 = stored6;
  const qos = qosFromMetadata(str(meta.qos));
  if (qos) spec.qos = qos;
  return spec;
}

/** A network's IPv6 reservations from its metadata (nat, isolated, overlay). */
function reservations6Of(meta: Node): Reservation6[] {
  return ((meta.reservation6 as Node[] | undefined) ?? []).flatMap((r) => {
    const duid = attr(r, "duid");
    const ip = attr(r, "ip");
    return duid && ip ? [{ duid, ip, hostname: attr(r, "hostname") }] : [];
  });
}

/** A network's IPv6 from its metadata (nat, isolated, overlay); null: none. */
function ipv6Of(meta: Node): Ipv6Config | null {
  const v6 = meta.ipv6 as Node | undefined;
  if (!v6 || typeof v6 !== "object") return null;
  const cidr6 = attr(v6, "cidr");
  const gateway6 = attr(v6, "gateway");
  const mode = attr(v6, "mode");
  const start = attr(v6, "start");
  const end = attr(v6, "end");
  if (!cidr6 || !gateway6 || (mode !== "slaac" && mode !== "dhcpv6")) return null;
  return {
    cidr: cidr6,
    gateway: gateway6,
    mode,
    dhcp: start && end ? { start, end, leaseTime: Number(attr(v6, "leaseTime") ?? 3600) } : null,
    routed: attr(v6, "routed") === "yes",
  };
}

/** An overlay's spec on one member: its subnet, gateway, DHCP, VNI, members and which member it is on. */
function readOverlaySpec(meta: Node, p: ParsedNetwork): OverlayNetSpec | null {
  const o = meta.overlay as Node | undefined;
  const cidr = str(meta.cidr);
  const gateway = str(meta.gateway);
  const bridge = str(meta.bridge);
  const d = meta.dhcp as Node | undefined;
  if (!o || typeof o !== "object" || !cidr || !gateway || !bridge || !d || typeof d !== "object") return null;
  const vni = Number(attr(o, "vni"));
  const mtu = Number(attr(o, "mtu") ?? p.mtu);
  const gatewayHost = attr(o, "gatewayHost");
  const self = attr(o, "self");
  if (!Number.isInteger(vni) || !Number.isInteger(mtu) || !gatewayHost || !self) return null;
  const members = ((meta.member as Node[] | undefined) ?? []).flatMap((m) => {
    const id = attr(m, "id");
    const ip = attr(m, "ip");
    return id && ip ? [{ id, ip }] : [];
  });
  // The gateway host's parts (absent when none, as the renderer leaves them out).
  const reservations = reservationsOf(meta.reservation as Node[] | undefined);
  const dnsHosts = dnsHostsOf(meta);
  const portForwards = forwardsOf(meta);
  const firewall = firewallFromMetadata(meta.firewall);
  const floodLimit = attr(o, "floodLimitPps");
  const qos = qosFromMetadata(str(meta.qos));
  const ipv6 = ipv6Of(meta);
  const reservations6 = ipv6 ? reservations6Of(meta) : [];
  return {
    type: "overlay",
    ...common(p),
    bridge,
    cidr,
    gateway,
    dhcp:
      attr(d, "enabled") === "yes"
        ? { enabled: true, start: attr(d, "start"), end: attr(d, "end"), leaseTime: Number(attr(d, "leaseTime") ?? 3600) }
        : { enabled: false, start: null, end: null, leaseTime: null },
    mtu,
    vni,
    gatewayHost,
    nat: attr(o, "nat") === "yes",
    ...(ipv6 ? { ipv6 } : {}),
    // Absent in a definition from before the flood limit: left out (overlayFloodLimit gives the default).
    ...(floodLimit === null || !/^\d+$/.test(floodLimit) ? {} : { floodLimitPps: Number(floodLimit) }),
    members,
    self,
    ...(reservations.length > 0 ? { reservations } : {}),
    ...(reservations6.length > 0 ? { reservations6 } : {}),
    ...(dnsHosts.length > 0 ? { dnsHosts } : {}),
    ...(portForwards.length > 0 ? { portForwards } : {}),
    ...(firewall ? { firewall } : {}),
    ...(qos ? { qos } : {}),
  };
}

/** The QoS set kept as JSON in the metadata; null when absent, unreadable or empty. */
function qosFromMetadata(text: string | null): QosSpec | null {
  if (!text) return null;
  try {
    const parsed = QosSet.safeParse(JSON.parse(text));
    return parsed.success && !isEmptyQos(parsed.data) ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The spec reader of each type. */
const SPEC_READERS: { [T in NetworkType]: (meta: Node, p: ParsedNetwork) => NetSpec | null } = {
  nat: (meta, p) => readRoutedSpec("nat", meta, p),
  isolated: (meta, p) => readRoutedSpec("isolated", meta, p),
  bridge: readBridgeSpec,
  sriov: readSriovSpec,
  overlay: readOverlaySpec,
};

/** The spec a network of type `type` keeps in its metadata `meta`; null when it lacks what its type needs. */
export function readSpec(type: NetworkType, meta: Node, p: ParsedNetwork): NetSpec | null {
  // The metadata's type is not validated (parseNetworkXml): a type this build does not know (a newer netforge's)
  // is read as the routed shape with its own type kept, as the parser always did, rather than failing the parse.
  if (!Object.hasOwn(SPEC_READERS, type)) return readRoutedSpec(type as RoutedType, meta, p);
  return SPEC_READERS[type](meta, p);
}
