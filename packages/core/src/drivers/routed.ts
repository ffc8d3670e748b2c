/**
 * The shared base of the two routed types (nat.ts, isolated.ts): a libvirt-owned bridge carrying the
 * gateway address, dnsmasq for DHCP/DNS, netforge's table for NAT or isolation and the user's rules. They
 * differ in what `RoutedOptions` says: nat masquerades and takes port forwards, isolated rejects what leaves.
 */
import type { FirewallNetwork } from "../render/nft";
import { renderRoutedXml } from "../render/network-xml";
import type { NetworkSpec } from "../schemas/network";
import { checkRoutedChange, planRoutedChange, type RoutedTypeRules } from "../planner/changes";
import { firewallOf } from "../planner/firewall";
import type { NetSpec, Reservation, Reservation6, SpecBase } from "../planner/network-spec";
import type { DhcpConfig, Ipv6Config } from "../schemas/network";
import type { FirewallSpec, PortForwardSpec } from "../planner/firewall";
import type { DnsHost, QosSpec } from "../actions/changes";
import type { ChangeKind, DriverModel } from "./model";

/** nat and isolated networks: a libvirt-owned bridge with the gateway address and dnsmasq. */
export interface RoutedNetSpec extends SpecBase {
  type: "nat" | "isolated";
  bridge: string;
  cidr: string;
  gateway: string;
  dhcp: DhcpConfig;
  reservations: Reservation[];
  /** The user's firewall (absent: never configured, everything the type allows passes). */
  firewall?: FirewallSpec;
  /** Port forwards (nat only; absent: none). */
  portForwards?: PortForwardSpec[];
  /** DNS host records its DNS server answers (absent: none). */
  dnsHosts?: DnsHost[];
  /** Its MTU (libvirt's <mtu size>: the bridge, its ports, dnsmasq's MTU option); absent: none set, the host's. */
  mtu?: number;
  /** IPv6 beside the IPv4 subnet (libvirt's second <ip family='ipv6'>; NAT66 in netforge's table); absent: none. */
  ipv6?: Ipv6Config;
  /** IPv6 reservations by DUID (dhcpv6 mode; absent: none). */
  reservations6?: Reservation6[];
  /** Its bandwidth limits (configure-network-qos, tc on the host); absent: none. */
  qos?: QosSpec;
}

/** The routed types' own spec (nat or isolated). */
export type RoutedType = RoutedNetSpec["type"];

/** What tells one routed type from the other. */
interface RoutedOptions {
  /** It takes port forwards (configure-network-port-forward). */
  portForwards: boolean;
  /** Its VMs reach beyond their bridge, masqueraded by netforge's table (nat); false: nothing leaves (isolated). */
  reachOutside: boolean;
}

/** The spec of a routed type: its addressing (subnet, gateway, DHCP) is netforge's. */
export function isRouted(spec: NetSpec): spec is RoutedNetSpec {
  // (An overlay has DHCP too, but not the routed types' spec: asked by type.)
  return spec.type === "nat" || spec.type === "isolated";
}

/** The driver of a routed type, typed to the spec of that one type: it always has a firewall part. */
export type RoutedModel<T extends RoutedType> = Omit<DriverModel<RoutedNetSpec & { type: T }>, "firewall"> & {
  firewall(spec: RoutedNetSpec & { type: T }, ownsTypeRules?: boolean): FirewallNetwork;
};

/** A routed type's pure half. */
export function routedModel<T extends RoutedType>(type: T, opts: RoutedOptions): RoutedModel<T> {
  type S = RoutedNetSpec & { type: T };
  const firewall = (spec: RoutedNetSpec, ownsTypeRules = true): FirewallNetwork => ({
    name: spec.name,
    // What the type lets through, as the renderer reads it (render/nft.ts never asks for the type).
    reachOutside: opts.reachOutside,
    masquerade: opts.reachOutside,
    forwardsPorts: opts.portForwards,
    bridge: spec.bridge,
    cidr: spec.cidr,
    firewall: firewallOf(spec),
    portForwards: opts.portForwards ? (spec.portForwards ?? []) : [],
    ownsTypeRules,
    portSecurity: { pairs: spec.reservations.map((r) => ({ mac: r.mac, ip: r.ip })) },
    ...(spec.ipv6 === undefined ? {} : { ipv6: { cidr: spec.ipv6.cidr, routed: spec.ipv6.routed } }),
  });
  const rules: RoutedTypeRules = { portForwards: opts.portForwards, firewall: (spec, ownsTypeRules) => firewall(spec, ownsTypeRules) };
  const unsupported = new Set<ChangeKind>(opts.portForwards ? [] : ["port-forward"]);
  return {
    type,
    is: (spec): spec is S => spec.type === type,
    render: renderRoutedXml,
    addressing: (spec) => spec,
    noAddressing: null,
    unsupported,
    hostFirewall: true,
    firewall,
    // <forward mode='open'/>: libvirt adds no rules of its own (what netforge renders); anything else (nat, or
    // none for isolated) is a definition from before netforge owned the type's rules.
    ownsTypeRules: (forwardMode) => forwardMode === "open",
    redefineBeforeStart: (forwardMode) => forwardMode !== "open",
    servesDhcp: (spec) => spec.dhcp.enabled,
    view: (spec) => ({
      dhcp: spec.dhcp,
      firewall: spec.firewall ?? null,
      portForwards: opts.portForwards ? (spec.portForwards ?? []) : [],
      dnsHosts: spec.dnsHosts ?? [],
      reservations: spec.reservations,
      ...(spec.reservations6 === undefined ? {} : { reservations6: spec.reservations6 }),
      mtu: spec.mtu ?? null,
      ipv6: spec.ipv6 ?? null,
      qos: spec.qos ?? null,
    }),
    hostRuleCount: (spec) => (spec.firewall?.rules.length ?? 0) + (spec.portForwards?.length ?? 0),
    planChange: (spec, change, host, currentXml) => planRoutedChange(rules, spec, change, host, currentXml),
    checkChange: (spec, change, host) => checkRoutedChange(rules, spec, change, host),
  };
}

/** The stored spec of a routed network just resolved for create-network (bridge and sriov specs are built by their drivers from the host). */
export function specFromCreate(s: NetworkSpec): RoutedNetSpec {
  if (s.type !== "nat" && s.type !== "isolated") throw new Error(`no spec shape for type ${s.type}`);
  if (!s.cidr || !s.gateway || !s.bridge) throw new Error("a routed network needs cidr, gateway and bridge");
  return {
    type: s.type,
    name: s.name,
    uuid: s.uuid,
    description: s.description,
    createdAt: s.createdAt,
    ...(s.managedBy === undefined ? {} : { managedBy: s.managedBy }),
    bridge: s.bridge,
    cidr: s.cidr,
    gateway: s.gateway,
    dhcp: { ...s.dhcp },
    reservations: [],
    ...(s.mtu === undefined ? {} : { mtu: s.mtu }),
    ...(s.ipv6 === undefined ? {} : { ipv6: { ...s.ipv6, dhcp: s.ipv6.dhcp ? { ...s.ipv6.dhcp } : null } }),
  };
}
