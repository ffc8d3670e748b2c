import { type FirewallRule, modelOf, typeOf } from "@netforge/core/model";
import type { NetworkRecord } from "@netforge/core/store";
import type { CatalogEntry } from "./host/network-catalog";

/** Firewall defaults of a network without rules. */
const OPEN_FIREWALL = { defaultInbound: "accept", defaultOutbound: "accept", rules: [] } as const;

/** A rule as the API shows it: the fields the caller set (absent ones left out, as in the request). */
function ruleView(r: FirewallRule): Record<string, unknown> {
  const out: Record<string, unknown> = { direction: r.direction, protocol: r.protocol };
  if (r.source !== null) out.source = r.source;
  if (r.destination !== null) out.destination = r.destination;
  if (r.ports !== null) out.ports = r.ports;
  out.action = r.action;
  if (r.comment !== null) out.comment = r.comment;
  return out;
}

/** The index record for a netforge-managed libvirt network. */
export function recordFromCatalog(entry: CatalogEntry, host: string, updatedAt: string): NetworkRecord {
  const d = entry.def;
  // The netforge-owned parts the type shows (DHCP, firewall, forwards), from its driver.
  const view = d.spec ? modelOf(d.spec).view(d.spec) : null;
  const type = typeOf(d);
  // not-a-network-type: the record's `bridge` (its bridge device) and `sriov` (its SR-IOV PF) sections are fields of
  // every record (NetworkView), named after devices; the record is no map keyed by type.
  return {
    name: entry.name,
    uuid: d.uuid,
    type,
    host,
    description: d.description,
    cidr: d.cidr,
    gateway: d.gateway,
    // The spec's DHCP settings (what netforge applied); libvirt's own elements for networks without one.
    dhcp: view
      ? view.dhcp
        ? { ...view.dhcp }
        : { enabled: false, start: null, end: null, leaseTime: null }
      : d.dhcp
        ? { enabled: true, start: d.dhcp.start, end: d.dhcp.end, leaseTime: d.dhcp.leaseTime }
        : { enabled: false, start: null, end: null, leaseTime: null },
    state: entry.active ? "active" : "inactive",
    autostart: entry.autostart,
    bridge: { name: d.bridge, interface: null },
    sriov: null,
    // What the spec keeps (an older spec without them: open, no forwards).
    firewall: view?.firewall
      ? {
          ...view.firewall,
          rules: view.firewall.rules.map((r) => ruleView(r)),
          hostServices: (view.firewall.hostServices ?? []).map((s) => ({ ...s })),
        }
      : { ...OPEN_FIREWALL, rules: [], hostServices: [] },
    portForwards: (view?.portForwards ?? []).map((f) => ({ ...f })),
    dnsHosts: (view?.dnsHosts ?? []).map((h) => ({ ip: h.ip, names: [...h.names] })),
    reservations: (view?.reservations ?? []).map((r) => ({ mac: r.mac, ip: r.ip, hostname: r.hostname })),
    ...(view?.reservations6?.length
      ? { reservations6: view.reservations6.map((r) => ({ duid: r.duid, ip: r.ip, hostname: r.hostname })) }
      : {}),
    managedBy: d.spec?.managedBy ?? null,
    mtu: view?.mtu ?? null,
    ipv6: view?.ipv6 ? { ...view.ipv6, dhcp: view.ipv6.dhcp ? { ...view.ipv6.dhcp } : null } : null,
    qos: view?.qos ?? null,
    createdAt: d.createdAt ?? updatedAt,
    updatedAt,
  };
}
