/**
 * The changes of an existing network's configuration, as the configure actions' definitions make them of their
 * payloads (actions/jobs.ts, each definition's `change`) and the planner plans them (planner/changes.ts). A
 * change is named by what it does to the network (its `kind`), not by the action asking for it. With them, the
 * firewall as netforge keeps it in a spec, which a firewall change carries whole.
 *
 * Part of the client contract: imports nothing.
 */

export type FirewallAction = "accept" | "drop" | "reject";
export type FirewallProtocol = "tcp" | "udp" | "icmp" | "any";

/** One rule. Inbound: traffic to the network's VMs (from anywhere, other VMs of the network included); outbound: from them. */
export interface FirewallRule {
  direction: "inbound" | "outbound";
  protocol: FirewallProtocol;
  /** CIDR, or null for any. */
  source: string | null;
  destination: string | null;
  /** Destination port or range ("22", "8000-8100"), tcp/udp only; null for any. */
  ports: string | null;
  action: FirewallAction;
  comment: string | null;
}

/**
 * A port of the host itself that the network's VMs may reach (an operator's explicit opt-in: everything else
 * on the host is closed to them except DHCP, DNS, neighbour discovery and ICMP errors).
 */
export interface HostService {
  protocol: "tcp" | "udp";
  /** "8443" or "8000-8100". */
  ports: string;
}

export interface FirewallSpec {
  defaultInbound: FirewallAction;
  defaultOutbound: FirewallAction;
  rules: FirewallRule[];
  /** Host ports open to the VMs (absent: none, as in specs written before it existed). */
  hostServices?: HostService[];
}

/** The DHCP range and lease time (absent: the network's current one, else 3600 s). */
export interface DhcpChange {
  kind: "dhcp";
  start: string;
  end: string;
  leaseTime?: number | undefined;
}

/** A static reservation of `ip` for `mac` (hostname null: none; force: even while another MAC leases it). */
export interface ReserveIpChange {
  kind: "reserve-ip";
  mac: string;
  ip: string;
  hostname?: string | null | undefined;
  force?: boolean | undefined;
}

/**
 * An IPv6 reservation of `ip` for the DHCPv6 client `duid` (libvirt gives DHCPv6 clients their address by DUID:
 * it refuses a MAC in an IPv6 host entry). `mac` is carried only for the refusal that names it.
 */
export interface ReserveIp6Change {
  kind: "reserve-duid";
  duid?: string | undefined;
  mac?: string | undefined;
  ip: string;
  hostname?: string | null | undefined;
  force?: boolean | undefined;
}

/** The release of `duid`'s IPv6 reservation. */
export interface ReleaseIp6Change {
  kind: "release-duid";
  duid: string;
  mac?: string | undefined;
}

/** The release of `mac`'s reservation. */
export interface ReleaseIpChange {
  kind: "release-ip";
  mac: string;
}

/** The whole firewall, replaced. */
export interface FirewallChange {
  kind: "firewall";
  firewall: FirewallSpec;
}

/** A DNAT added (or re-targeted) or removed. */
export interface PortForwardChange {
  kind: "port-forward";
  op: "add" | "remove";
  protocol: "tcp" | "udp";
  hostPort: number;
  vmIp?: string | undefined;
  vmPort?: number | undefined;
  /** One host address (absent: every host address). */
  hostIp?: string | undefined;
}

/** A DNS host record the network's DNS server answers for its VMs: `names` resolve to `ip`. */
export interface DnsHost {
  ip: string;
  names: string[];
}

/** Two records with the same address and the same names in the same order. */
export const sameDnsHost = (a: DnsHost, b: DnsHost): boolean => a.ip === b.ip && a.names.join(" ") === b.names.join(" ");

/** The network's DNS host records, replaced as a whole. */
export interface DnsChange {
  kind: "dns";
  hosts: DnsHost[];
}

/** The network's MTU: its bridge and the bridge's ports now, the MTU its DHCP server hands out, its definition. */
export interface MtuChange {
  kind: "mtu";
  mtu: number;
}

/** One direction's bandwidth limit: kbit/s (1000 bits) average, optional peak (HTB ceil) and burst (KiB). */
export interface QosLimitSpec {
  averageKbps: number;
  peakKbps?: number;
  burstKib?: number;
}

/** Inbound = toward the VMs, outbound = from them (absent: that direction is not limited). */
export interface QosDirectionsSpec {
  inbound?: QosLimitSpec;
  outbound?: QosLimitSpec;
}

/** One VM NIC's limits, by its MAC (lower case). */
export interface QosVmSpec extends QosDirectionsSpec {
  mac: string;
}

/** A network's whole QoS set as its spec keeps it. */
export interface QosSpec {
  network: QosDirectionsSpec | null;
  vms: QosVmSpec[];
}

/** The network's whole QoS set (bandwidth limits), replacing the one it has (docs/adr/0044-network-qos.md). */
export interface QosChange {
  kind: "qos";
  qos: QosSpec;
}

/** A change of a network's configuration. */
export type NetworkChange =
  | DhcpChange
  | ReserveIpChange
  | ReleaseIpChange
  | ReserveIp6Change
  | ReleaseIp6Change
  | FirewallChange
  | PortForwardChange
  | DnsChange
  | MtuChange
  | QosChange;

/** What a change does, by name. */
export type ChangeKind = NetworkChange["kind"];

/** Every change kind (the mapped type makes a kind left out, or one that is no kind, a compile error). */
const KINDS: { [K in ChangeKind]: null } = {
  dhcp: null,
  "reserve-ip": null,
  "release-ip": null,
  "reserve-duid": null,
  "release-duid": null,
  firewall: null,
  "port-forward": null,
  dns: null,
  mtu: null,
  qos: null,
};
const isChangeKind = (k: string): k is ChangeKind => Object.hasOwn(KINDS, k);
/** Every change kind (a type without netforge-managed addressing refuses them all). */
export const CHANGE_KINDS: readonly ChangeKind[] = Object.keys(KINDS).filter(isChangeKind);
