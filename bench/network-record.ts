/** An index record of a nat network for seeding the cluster index in benches (no host holds it). */
import type { NetworkRecord } from "@netforge/core/store";

export function benchNetworkRecord(
  o: Pick<NetworkRecord, "name" | "uuid" | "host" | "cidr" | "gateway" | "dhcp"> & { bridge: string; at: string },
): NetworkRecord {
  return {
    name: o.name,
    uuid: o.uuid,
    type: "nat",
    host: o.host,
    description: "",
    cidr: o.cidr,
    gateway: o.gateway,
    dhcp: o.dhcp,
    state: "active",
    autostart: true,
    bridge: { name: o.bridge, interface: null },
    sriov: null,
    firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
    portForwards: [],
    dnsHosts: [],
    reservations: [],
    managedBy: null,
    mtu: null,
    qos: null,
    createdAt: o.at,
    updatedAt: o.at,
  };
}
