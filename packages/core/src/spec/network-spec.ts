/**
 * The network spec: every netforge field of a network, one typed value per
 * network type, kept whole in the network's libvirt <metadata> (see
 * render/network-xml.ts). It is the truth every change starts from: a job
 * loads it, computes the next spec, applies the difference and writes it
 * back. Host-side state that libvirt keeps elsewhere (active, autostart) is
 * not part of it.
 */
import type { DhcpConfig, NetworkSpec } from "../schemas/network";

/** A DHCP reservation (MAC -> IP), as stored and as libvirt's <host> element carries it. */
export interface Reservation {
  mac: string;
  ip: string;
  hostname: string | null;
}

/** nat and isolated networks: a libvirt-owned bridge with the gateway address and dnsmasq. */
export interface RoutedNetSpec {
  type: "nat" | "isolated";
  name: string;
  uuid: string;
  description: string;
  createdAt: string;
  bridge: string;
  cidr: string;
  gateway: string;
  dhcp: DhcpConfig;
  reservations: Reservation[];
}

/** The spec of any network type netforge runs (a union: later types add members). */
export type NetSpec = RoutedNetSpec;

/** The stored spec of a network just resolved for create-network. */
export function specFromCreate(s: NetworkSpec): NetSpec {
  if (s.type !== "nat" && s.type !== "isolated") throw new Error(`no spec shape for type ${s.type}`);
  if (!s.cidr || !s.gateway || !s.bridge) throw new Error("a routed network needs cidr, gateway and bridge");
  return {
    type: s.type,
    name: s.name,
    uuid: s.uuid,
    description: s.description,
    createdAt: s.createdAt,
    bridge: s.bridge,
    cidr: s.cidr,
    gateway: s.gateway,
    dhcp: { ...s.dhcp },
    reservations: [],
  };
}
