/**
 * Network request and record schemas. The create body is validated in two
 * layers: zod checks each field's shape, then `resolveCreate` checks the
 * relations between fields (gateway inside the subnet, DHCP range inside and
 * not covering the gateway...) and fills the defaults, producing the fully
 * explicit NetworkSpec that the worker applies.
 */
import { z } from "zod";
import { HostId, Limit, NetworkName, TrafficByPeer, TrafficCounts } from "./common";
import { DhcpConfig, Ipv6Config, Mtu } from "./network-fields";
import { QosSet } from "./qos";
import { type CreateNetworkBody, type L2Request, NetworkType, resolveTypePart } from "./types/create-body";
import type { OverlayPart } from "./types/overlay";

// What this module always exported, now written in the shared fields and the per-type schema files
// (schemas/types/); named one by one, so the JSON Schemas published from this module stay the same.
export {
  checkDhcpRange,
  MAX_MTU,
  MIN_MTU,
  MIN_MTU_IPV6,
  Ipv6Config,
  Ipv6Input,
  Mtu,
  DEFAULT_LEASE_SECONDS,
  DhcpConfig,
  type FieldIssue,
  MAX_LEASE_SECONDS,
  MIN_LEASE_SECONDS,
  validationError,
} from "./network-fields";
export {
  CREATE_EXAMPLES,
  CreateNetworkBody,
  IMPLEMENTED_TYPES,
  type L2Request,
  NETWORK_TYPES,
  NetworkType,
  subnetOfBody,
} from "./types/create-body";

/**
 * Check a create body's fields against each other and fill the defaults: the fields every type has here, the
 * type's own (addressing, or what a device type attaches to) by its schema file. Throws VALIDATION_FAILED
 * listing every problem at once.
 */
export function resolveCreate(body: CreateNetworkBody): ResolvedCreate {
  const base = {
    name: body.name,
    type: body.type,
    description: body.description ?? "",
    autostart: body.autostart ?? true,
    start: body.start ?? true,
    // An overlay names no host: it goes to its gateway host (its members are its `hosts`).
    requestedHost: ("host" in body ? body.host : undefined) ?? null,
    ...(body.managedBy === undefined ? {} : { managedBy: body.managedBy }),
  };
  return { ...base, ...resolveTypePart(body) };
}

/** The fully resolved definition of a network: what the worker renders and applies. */
export interface NetworkSpec {
  name: string;
  type: NetworkType;
  uuid: string;
  host: string;
  description: string;
  cidr: string | null;
  gateway: string | null;
  dhcp: DhcpConfig;
  autostart: boolean;
  /** Bridge device name; chosen by the worker (unique on the host, <= 15 chars). */
  bridge: string | null;
  createdAt: string;
  /** Who manages the network (create-network's managedBy); absent when not given. */
  managedBy?: string;
  /** bridge and sriov networks: what they attach to (absent for nat/isolated). */
  l2?: L2Request;
  /** nat and isolated networks: the MTU asked for (absent: none set, the host's). */
  mtu?: number;
  /** nat and isolated networks: IPv6 beside the IPv4 subnet (absent: none). */
  ipv6?: Ipv6Config;
  /** overlay networks: the member hosts, the gateway host and whether it masquerades (absent for other types). */
  overlay?: OverlayPart;
}

/** Result of resolving a create body: everything but the host-chosen fields (uuid, host, bridge, createdAt). */
export type ResolvedCreate = Omit<NetworkSpec, "uuid" | "host" | "bridge" | "createdAt"> & {
  start: boolean;
  requestedHost: string | null;
};

/** Body of the actions that only name a network. */
export const NetworkRef = z.strictObject({ name: NetworkName });
export type NetworkRef = z.infer<typeof NetworkRef>;

export const NetworkState = z.enum(["active", "inactive"]);
export type NetworkState = z.infer<typeof NetworkState>;

/** Body of list-networks. */
export const ListNetworksBody = z.strictObject({
  type: NetworkType.optional().describe("Only networks of this type"),
  state: NetworkState.optional().describe("Only active or inactive networks"),
  // Only characters a name can contain: anything else could never match, so it is refused rather than ignored.
  name: z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9-]*$/, "must be part of a network name (letters, digits, '-')")
    .optional()
    .describe("case-insensitive substring of the name"),
  host: HostId.optional(),
  limit: Limit.optional().describe("At most this many networks (1-1000; default 100)"),
  cursor: z.string().max(128).optional().describe("The nextCursor of the previous page"),
});
export type ListNetworksBody = z.infer<typeof ListNetworksBody>;

/** A firewall rule (kept in the record from the start so later versions only fill it). */
export const FirewallConfig = z.object({
  defaultInbound: z.enum(["accept", "drop", "reject"]),
  defaultOutbound: z.enum(["accept", "drop", "reject"]),
  rules: z.array(z.record(z.string(), z.unknown())),
  /** Host ports the VMs may reach on the host (absent from records written before it existed: none). */
  hostServices: z.array(z.object({ protocol: z.enum(["tcp", "udp"]), ports: z.string() })).optional(),
});

export const PortForward = z.object({
  protocol: z.enum(["tcp", "udp"]),
  hostPort: z.number().int(),
  vmIp: z.string(),
  vmPort: z.number().int(),
  /** The one host address the forward is bound to; absent: every host address. */
  hostIp: z.string().optional(),
});

/** Live numbers observed on the host. */
/** A network's traffic counters (in = toward its VMs), across its edge on its host; they only grow. */
export const NetworkTraffic = TrafficCounts.extend({
  /** When the counters started (ISO time). */
  since: z.string(),
  /**
   * The network's traffic split by peer (outside it, or on it: VM to VM and VM to gateway), with when these
   * started (they may have started after the totals). The totals are the edge: `outside` plus the gateway's part
   * of `network` (VM-to-VM traffic is in `network` only, counted both out of the sending VM and into the
   * receiving one). Absent on a host that does not count by peer yet.
   */
  peers: TrafficByPeer.extend({ since: z.string() }).optional(),
});
export type NetworkTraffic = z.infer<typeof NetworkTraffic>;

export const NetworkStats = z.object({
  connectedVms: z.number().int(),
  allocatedIps: z.number().int(),
  observedAt: z.string().nullable(),
  /** Absent: the network has no counters on its host (bridge, sriov, or not started since counting began). */
  traffic: NetworkTraffic.optional(),
});
export type NetworkStats = z.infer<typeof NetworkStats>;

const DryRun = z.boolean().optional().describe("Validate and plan only: nothing is queued or changed");

/** Body of configure-network-mtu. */
export const ConfigureMtuBody = z.strictObject({
  name: NetworkName,
  mtu: Mtu,
  dryRun: DryRun,
});
export type ConfigureMtuBody = z.infer<typeof ConfigureMtuBody>;

/** A network as describe-network shows it (and as the cluster index stores it, minus stats). */
// not-a-network-type: the view's `bridge` (its bridge device) and `sriov` (its SR-IOV PF) sections are fields of
// every network's view, named after devices; the view is no map keyed by type.
export const NetworkView = z.object({
  name: z.string(),
  uuid: z.string(),
  type: NetworkType,
  host: z.string(),
  description: z.string(),
  cidr: z.string().nullable(),
  gateway: z.string().nullable(),
  dhcp: DhcpConfig,
  state: NetworkState,
  autostart: z.boolean(),
  stats: NetworkStats,
  bridge: z.object({ name: z.string().nullable(), interface: z.string().nullable() }),
  sriov: z.object({ pf: z.string(), vfsTotal: z.number(), vfsInUse: z.number(), vlan: z.number().nullable() }).nullable(),
  firewall: FirewallConfig,
  portForwards: z.array(PortForward),
  /** DNS host records the network's DNS server answers (configure-network-dns; empty for bridge and sriov). */
  dnsHosts: z.array(z.object({ ip: z.string(), names: z.array(z.string()) })),
  /** Static DHCP reservations (assign-static-ip; empty for bridge and sriov). */
  reservations: z.array(z.object({ mac: z.string(), ip: z.string(), hostname: z.string().nullable() })),
  /** IPv6 (DHCPv6) reservations by DUID (assign-static-ip with an IPv6 ip); absent: none. */
  reservations6: z.array(z.object({ duid: z.string(), ip: z.string(), hostname: z.string().nullable() })).optional(),
  /** Who manages the network: what create-network's managedBy said (netforge apply: its file's metadata.name), else null. */
  managedBy: z.string().nullable(),
  /** +1 on every change applied to the network (every job that succeeded on it); send it as If-Match. */
  version: z.number().int(),
  /** The MTU set on the network (create's or configure-network-mtu's); null: none set, the host's (bridge and sriov: the LAN's). */
  mtu: z.number().int().nullable(),
  /**
   * The network's IPv6 (create-network's `ipv6`; null: none). `routed`: no NAT66, the upstream must route the
   * prefix to the host's address.
   */
  ipv6: Ipv6Config.nullable().optional(),
  /** The network's bandwidth limits (configure-network-qos); null: none. */
  qos: QosSet.nullable(),
  /**
   * Other hosts that also have a network of this name (a host that was offline while the store was reset came
   * back with it after the name was taken again): both are kept and nothing is deleted; the operator deletes or
   * renames one. Absent: none.
   */
  conflicts: z.array(z.object({ host: z.string(), since: z.string() })).optional(),
  /**
   * A routed IPv6 network (`ipv6.routed`) only: the route the upstream router must have for the outside to reach
   * its VMs, `prefix` via one of the host's reachable IPv6 addresses (`via`; empty: the host has none, so the
   * prefix cannot be reached from outside until it has one).
   */
  ipv6Route: z.object({ prefix: z.string(), via: z.array(z.string()) }).optional(),
  /**
   * An overlay only: its VXLAN id, gateway host and member hosts, each with its state and the VMs connected
   * there, as each member's worker last saw its own part (ADR 0051 "Slice 2").
   */
  overlay: z
    .object({
      vni: z.number().int(),
      gatewayHost: z.string(),
      hosts: z.array(
        z.object({
          id: z.string(),
          state: NetworkState,
          connectedVms: z.number().int(),
          /**
           * What describe-network adds from the member's own worker (its last stats refresh, every heartbeat):
           * `part` present (its libvirt has the overlay's definition), absent (it has none), unknown (the host is
           * offline or published nothing); `state` and `connectedVms` are then that host's own.
           */
          part: z.enum(["present", "absent", "unknown"]).optional(),
          /** Its VXLAN device exists and is a port of the overlay's bridge (null: unknown). */
          vxlanDevice: z.boolean().nullable().optional(),
          /** Its VXLAN device's flood entries: one per other member when whole (null: unknown). */
          floodEntries: z.number().int().nullable().optional(),
          /** When the member's worker read it (null: never). */
          observedAt: z.string().nullable().optional(),
          /**
           * The unicast MACs behind its own ports (learned by its bridge, its domains' interfaces, the gateway's
           * bridge address), for which the other members write unicast entries toward it (null: unknown).
           */
          localMacs: z.number().int().nullable().optional(),
          /** Its VXLAN device's static unicast entries, one per MAC on exactly one other member (null: unknown). */
          unicastEntries: z.number().int().nullable().optional(),
          /**
           * Its bridge's ARP-suppression entries: addresses the gateway leased or reserved whose MAC is behind
           * another member; the bridge answers ARP for them itself (null: unknown).
           */
          neighbourEntries: z.number().int().nullable().optional(),
          /** Its MACs that another member has at the same time (no entry is written for them anywhere). */
          macConflicts: z.array(z.string()).optional(),
        }),
      ),
      /**
       * MACs published by two or more members at once (a VM cloned or not yet unplugged where it was): no member
       * writes a unicast entry for them (their frames flood), and none is moved until one host is left.
       */
      macConflicts: z.array(z.object({ mac: z.string(), hosts: z.array(z.string()) })).optional(),
    })
    .optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type NetworkView = z.infer<typeof NetworkView>;

/** One row of list-networks. */
export const NetworkSummary = NetworkView.pick({
  name: true,
  uuid: true,
  type: true,
  host: true,
  cidr: true,
  state: true,
  autostart: true,
  managedBy: true,
  version: true,
});
export type NetworkSummary = z.infer<typeof NetworkSummary>;
