/**
 * The network spec: every netforge field of a network, one typed value per
 * network type, kept whole in the network's libvirt <metadata> (see
 * render/network-xml.ts). It is the truth every change starts from: a job
 * loads it, computes the next spec, applies the difference and writes it
 * back. Host-side state that libvirt keeps elsewhere (active, autostart) is
 * not part of it.
 */
import type { DhcpConfig } from "../schemas/network";
import type { FirewallSpec, PortForwardSpec } from "./firewall";

/** A DHCP reservation (MAC -> IP), as stored and as libvirt's <host> element carries it. */
export interface Reservation {
  mac: string;
  ip: string;
  hostname: string | null;
}

/** What every network type's spec has. */
interface SpecBase {
  name: string;
  uuid: string;
  description: string;
  createdAt: string;
}

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
}

/** A NIC's own state before netforge enslaved it into a bridge it created: what delete gives back. */
export interface NicState {
  /** Administratively up (IFF_UP). */
  up: boolean;
  mtu: number;
  /** Its master device before (never a bridge: a NIC already in a bridge is used through that bridge). */
  master: string | null;
}

/**
 * bridge networks: VMs are ports of a Linux bridge that carries the physical LAN. libvirt only attaches
 * them (<forward mode='bridge'/>); the LAN's own DHCP server owns addressing.
 */
export interface BridgeNetSpec extends SpecBase {
  type: "bridge";
  /** The Linux bridge VMs are plugged into. */
  bridge: string;
  /** The NIC the network was asked for ({ interface }); null when made on an existing bridge ({ bridge }). */
  interface: string | null;
  /** Set when netforge created `bridge` and enslaved `interface` into it: the NIC's state before, given back on delete. */
  created: { nic: NicState } | null;
}

/** sriov networks: a libvirt hostdev pool over a PF's VFs; each VM takes a VF of its own. */
export interface SriovNetSpec extends SpecBase {
  type: "sriov";
  pf: string;
  /** VFs netforge ensures on the PF; null: use the VFs the PF has. */
  vfs: number | null;
  /** 802.1Q tag libvirt sets on every VF of the pool; null: untagged. */
  vlan: number | null;
}

/** The spec of any network type netforge runs (a union: each type adds a member). */
export type NetSpec = RoutedNetSpec | BridgeNetSpec | SriovNetSpec;
