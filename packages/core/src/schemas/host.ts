/** Host registry records: what each worker publishes about its hypervisor. */
import { z } from "zod";
import { QosCapability } from "./qos";

export const InterfaceInfo = z.object({
  name: z.string(),
  kind: z.string().nullable(),
  mac: z.string().nullable(),
  state: z.string(),
  master: z.string().nullable(),
  addresses: z.array(z.string()),
  /** IPv6 addresses other than link-local (a NIC with one is configured: no bridge network is made on it). */
  addresses6: z.array(z.string()).optional(),
  /** MTU and administrative state (bridge networks show what a NIC would be given back as). */
  mtu: z.number().int().nullable().optional(),
  up: z.boolean().optional(),
  /** The device it sits on (a VLAN's or macvlan's parent; a veth's peer), for the upper-device check of bridge networks. */
  link: z.string().nullable().optional(),
});
export type InterfaceInfo = z.infer<typeof InterfaceInfo>;

/** A subnet in use on a host that no netforge network may overlap. */
export const OccupiedSubnet = z.object({
  cidr: z.string(),
  /** What holds it: "interface eth0", "route", "libvirt network default". */
  owner: z.string(),
});
export type OccupiedSubnet = z.infer<typeof OccupiedSubnet>;

/** What a worker stores under host:<id>. */
export const HostRecord = z.object({
  id: z.string(),
  hostname: z.string(),
  libvirtVersion: z.string().nullable(),
  interfaces: z.array(InterfaceInfo),
  occupied: z.array(OccupiedSubnet),
  networks: z.number().int(),
  /** SR-IOV physical functions read from sysfs: VFs the PF supports, VFs configured, VFs handed to guests. */
  sriovPfs: z.array(
    z.object({
      pf: z.string(),
      vfsTotal: z.number(),
      vfsConfigured: z.number(),
      vfsInUse: z.number().optional(),
      /** VFs bound to any driver (guest passthrough or host kernel driver): the VF count is not changed while any is. */
      vfsBound: z.array(z.object({ index: z.number().int(), driver: z.string() })).optional(),
      /** Libvirt networks that are not netforge's and name this PF or its VFs: netforge does not take the PF. */
      foreignNetworks: z.array(z.string()).optional(),
    }),
  ),
  /** The host's NETFORGE_ALLOWED_INTERFACES: existing bridges netforge may use, as they are. */
  allowedInterfaces: z.array(z.string()).optional(),
  startedAt: z.string(),
  lastSeenAt: z.string(),
  /** Host firewall settings that win over netforge's rules (another table's drop policy...); absent from older workers. */
  firewallWarnings: z.array(z.string()).optional(),
  /** Ports host processes listen on (any address), per protocol: not available to port forwards. */
  listeningPorts: z.object({ tcp: z.array(z.number().int()), udp: z.array(z.number().int()) }).optional(),
  /**
   * Host ports no forward may take (NETFORGE_DENIED_HOST_PORTS plus its defaults), per protocol, as inclusive
   * [low, high] ranges; absent from older workers (the API then applies the defaults).
   */
  deniedHostPorts: z
    .object({
      tcp: z.array(z.array(z.number().int()).length(2)),
      udp: z.array(z.array(z.number().int()).length(2)),
    })
    .optional(),
  /**
   * Set when the worker shut down cleanly: the host is offline from then on
   * without waiting for the heartbeat timeout, and lastSeenAt keeps the real
   * moment it was last seen. The next worker start writes a record without it.
   */
  stoppedAt: z.string().nullable().optional(),
  /** What the host's kernel offers for bandwidth limits (configure-network-qos); absent from older workers. */
  qos: QosCapability.optional(),
  /**
   * Networks of this host whose name another host holds (claimed there while this host was away, e.g. after the
   * store was reset): both are kept, nothing is deleted; describe-network lists this host under `conflicts`.
   */
  nameConflicts: z.array(z.object({ network: z.string(), heldBy: z.string() })).optional(),
  /**
   * The address other hosts reach this one on for overlays (VXLAN), its interface and MTU: NETFORGE_UNDERLAY_IP,
   * else the default route's interface address. null: none found (`underlayProblem` says why); absent: an older worker.
   */
  underlay: z
    .object({ ip: z.string(), interface: z.string(), mtu: z.number().int(), source: z.enum(["setting", "default-route"]) })
    .nullable()
    .optional(),
  underlayProblem: z.string().optional(),
});
export type HostRecord = z.infer<typeof HostRecord>;

export const HostView = HostRecord.omit({ occupied: true, startedAt: true, stoppedAt: true }).extend({
  status: z.enum(["online", "offline"]),
});
export type HostView = z.infer<typeof HostView>;

/** A host is offline when its heartbeat is older than this. */
export const HOST_OFFLINE_AFTER_MS = 15_000;
/** How often a worker refreshes its host record. */
export const HOST_HEARTBEAT_MS = 5_000;

export const ListHostsBody = z.strictObject({});
