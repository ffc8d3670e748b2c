/**
 * The network spec: every netforge field of a network, one typed value per
 * network type, kept whole in the network's libvirt <metadata> (see
 * render/network-xml.ts). It is the truth every change starts from: a job
 * loads it, computes the next spec, applies the difference and writes it
 * back. Host-side state that libvirt keeps elsewhere (active, autostart) is
 * not part of it.
 *
 * Each type's own spec is written in its driver (drivers/routed.ts, bridge.ts, sriov.ts) and the union in the
 * type registry (drivers/registry.ts): a new type adds its spec there, not here. Re-exported here for the
 * planner's and the worker's imports.
 */
export type { BridgeNetSpec, NicState } from "../drivers/bridge";
export type { NetSpec } from "../drivers/registry";
export type { RoutedNetSpec } from "../drivers/routed";
export type { SriovNetSpec } from "../drivers/sriov";

/** A DHCP reservation (MAC -> IP), as stored and as libvirt's <host> element carries it. */
export interface Reservation {
  mac: string;
  ip: string;
  hostname: string | null;
}

/** An IPv6 (DHCPv6) reservation (DUID -> IP), as stored and as libvirt's <host id=...> of the IPv6 <ip> carries it. */
export interface Reservation6 {
  duid: string;
  ip: string;
  hostname: string | null;
}

/** What every network type's spec has. */
export interface SpecBase {
  name: string;
  uuid: string;
  description: string;
  createdAt: string;
  /** Who manages the network (create-network's managedBy; netforge apply: its file's metadata.name); absent: nobody said. */
  managedBy?: string;
}
