/** Building the index record of a network from what libvirt reports about it. */
import { isRouted, type NetworkRecord, type NetworkType } from "@netforge/core";
import type { CatalogEntry } from "./host/network-catalog";

/** Firewall defaults of a network without rules. */
const OPEN_FIREWALL = { defaultInbound: "accept", defaultOutbound: "accept", rules: [] } as const;

/** The index record for a netforge-managed libvirt network. */
export function recordFromCatalog(entry: CatalogEntry, host: string, updatedAt: string): NetworkRecord {
  const d = entry.def;
  const type: NetworkType = d.spec?.type ?? d.type ?? (d.forwardMode === "nat" ? "nat" : "isolated");
  return {
    name: entry.name,
    uuid: d.uuid,
    type,
    host,
    description: d.description,
    cidr: d.cidr,
    gateway: d.gateway,
    // The spec's DHCP settings (what netforge applied); libvirt's own elements for networks without one.
    dhcp: d.spec
      ? isRouted(d.spec)
        ? { ...d.spec.dhcp }
        : { enabled: false, start: null, end: null, leaseTime: null }
      : d.dhcp
        ? { enabled: true, start: d.dhcp.start, end: d.dhcp.end, leaseTime: d.dhcp.leaseTime }
        : { enabled: false, start: null, end: null, leaseTime: null },
    state: entry.active ? "active" : "inactive",
    autostart: entry.autostart,
    bridge: { name: d.bridge, interface: null },
    sriov: null,
    firewall: { ...OPEN_FIREWALL, rules: [] },
    portForwards: [],
    createdAt: d.createdAt ?? updatedAt,
    updatedAt,
  };
}
