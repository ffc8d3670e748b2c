/**
 * The pure half of a network type's driver (the host half is apps/worker/src/drivers/): everything about a
 * type that needs no host, typed to the type's own spec. One value per type (nat.ts, isolated.ts, bridge.ts,
 * sriov.ts), found through the registry (registry.ts) by `typeOf`; code outside drivers/ asks the driver
 * instead of testing a type (no-type-switches.test.ts holds it to that).
 */
import type { DnsHost, QosSpec } from "../actions/changes";
import type { FirewallNetwork } from "../render/nft";
import type { ShapedAt } from "../render/tc-qos";
import type { DhcpConfig, Ipv6Config, NetworkType } from "../schemas/network";
import type { ChangeKind } from "../actions/changes";
import type { ChangePlan, HostObservation, NetworkChange } from "../planner/changes";
import type { FirewallSpec, PortForwardSpec } from "../planner/firewall";
import type { NetSpec, Reservation, Reservation6, RoutedNetSpec } from "../planner/network-spec";
import type { DeviceDoor } from "./door";
import type { HostSteps } from "./host-steps";

/** The spec of one network type (nat: a RoutedNetSpec whose type is nat). */
export type SpecOf<T extends NetworkType> = NetSpec extends infer S
  ? S extends NetSpec
    ? T extends S["type"]
      ? S & { type: T }
      : never
    : never
  : never;

/** A change netforge can make to a network, by its kind (the contract's: actions/changes.ts). */
export type { ChangeKind } from "../actions/changes";

/** The netforge-owned parts a type shows in its index record and views (null/empty: the type has none). */
export interface TypeView {
  /** netforge's DHCP settings; null: netforge runs no DHCP for the type (the view shows it disabled). */
  dhcp: DhcpConfig | null;
  /** The user's firewall as kept in the spec; null: none kept (the view shows it open). */
  firewall: FirewallSpec | null;
  portForwards: readonly PortForwardSpec[];
  /** DNS host records netforge keeps for the network's DNS server (empty: none, or the type has no DNS of netforge's). */
  dnsHosts: readonly DnsHost[];
  /** Static DHCP reservations (empty: none, or the type has no DHCP of netforge's). */
  reservations: readonly Reservation[];
  /** IPv6 reservations by DUID (absent or empty: none). */
  reservations6?: readonly Reservation6[];
  /** The MTU set on the network (null: none set, the host's; the device types: the LAN's). */
  mtu: number | null;
  /** The network's IPv6 (null: none; the device types: the LAN's). */
  ipv6?: Ipv6Config | null;
  /** The network's QoS set (null: none; sriov: none of netforge's). */
  qos: QosSpec | null;
  /**
   * Where the type's shaping sits when it is not the routed types' (their bridge, from addressing()): a bridge
   * network's uplink NIC (docs/adr/0044-network-qos.md, fourth round). Absent: the addressing's bridge.
   */
  shapedAt?: ShapedAt;
}

/**
 * A network type's pure half. Methods take the type's own spec `S` (method syntax: the registry holds every
 * driver as a driver of NetSpec and always picks the one of the spec's own type, registry.ts).
 */
export interface DriverModel<S extends NetSpec = NetSpec> {
  readonly type: S["type"];
  /** Whether `spec` is this driver's (a spec of its type). */
  is(spec: NetSpec): spec is S;
  /** The libvirt network definition of a spec (render/network-xml.ts holds the type's renderer). */
  render(spec: S): string;
  /**
   * The subnet and DHCP part of the spec, for types whose addressing netforge owns (the gateway's subnet,
   * dnsmasq, reservations, leases); null for types whose addressing is the LAN's.
   */
  addressing(spec: S): RoutedNetSpec | null;
  /** Why the type has no netforge-managed addressing (UNSUPPORTED_FOR_TYPE's text); null when it has. */
  readonly noAddressing: string | null;
  /** The changes the type refuses with UNSUPPORTED_FOR_TYPE (at the API's door and in the planner). */
  readonly unsupported: ReadonlySet<ChangeKind>;
  /** Whether a running network of the type has a part in netforge's nft table (firewall() is not null). */
  readonly hostFirewall: boolean;
  /**
   * The network's part of netforge's nft table, or null for a type with no host firewall path.
   * `ownsTypeRules`: see FirewallNetwork (default: the definition netforge renders, forward mode 'open').
   */
  firewall(spec: S, ownsTypeRules?: boolean): FirewallNetwork | null;
  /**
   * Whether a definition running with libvirt forward mode `forwardMode` leaves the type's own rules (NAT,
   * isolation) to netforge's table. The one answer for a running network's FirewallNetwork.ownsTypeRules.
   */
  ownsTypeRules(forwardMode: string | null): boolean;
  /** Whether a stopped network defined with `forwardMode` must be redefined from its spec before it starts. */
  redefineBeforeStart(forwardMode: string | null): boolean;
  /** Whether a started network of this spec runs a DHCP server (that the worker's verifyStarted proves). */
  servesDhcp(spec: S): boolean;
  /** The spec's parts the index record and views show (TypeView). */
  view(spec: S): TypeView;
  /** The network's share of its host's nft rules (its firewall rules and port forwards). */
  hostRuleCount(spec: S): number;
  /** The host setup and teardown of a type made on a host device (plan steps); absent: libvirt does everything. */
  readonly hostSteps?: HostSteps<S>;
  /** The API door of a type made on a host device (bridge, sriov), from the hosts' inventory; absent for the others. */
  readonly door?: DeviceDoor<S>;
  /**
   * A type whose network spans hosts (overlay): the other hosts whose part its lifecycle jobs also make (each by
   * its own worker, ADR 0051). Absent: the network lives on its one host.
   */
  otherHosts?(spec: S): string[];
  /**
   * Whether this host's copy of the network is the one the index and the claims stand for (an overlay: only its
   * gateway host's; the other members' copies are parts of it). Absent: always.
   */
  indexedHere?(spec: S): boolean;
  /** Validate a change against the spec and the host and plan it (what a dry run shows and the worker applies). */
  planChange(spec: S, change: NetworkChange, host: HostObservation, currentXml?: string): ChangePlan;
  /** The checks of planChange alone (the API's door for a real call): the next spec, or what planChange throws. */
  checkChange(spec: S, change: NetworkChange, host: HostObservation): NetSpec;
}
