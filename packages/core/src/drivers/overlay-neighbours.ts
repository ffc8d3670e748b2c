/**
 * ARP suppression on an overlay (issue 17, ADR 0051 "Neighbour suppression"), pure. Every member's VXLAN port has
 * the bridge's `neigh_suppress` on: an ARP request from a local VM for an address the bridge's neighbour table
 * holds, whose MAC has a forwarding entry toward the VXLAN port, is answered by the bridge itself and not
 * replicated to the other members (head-end replication multiplies each broadcast by the member count). The
 * addresses come from the gateway, the one member that knows them: its DHCP leases and reservations (and its own
 * gateway address) are published with its part (`neighbours`); each member writes a permanent entry on its bridge
 * for every such address whose MAC sits behind another member (it has a unicast entry toward that member), and
 * none for its own VMs (they answer for themselves). An address not known (a VM with an address set by hand) is
 * asked for as before: flooded, answered by its VM. The worker reads and runs (apps/worker/src/drivers/overlay-unicast.ts).
 */
import { isIPv4 } from "node:net";
import { neighbourEntry, neighbourEntryRemoval } from "../render/vxlan";
import { isUnicastMac, type UnicastEntry } from "./overlay-unicast";

/** An IPv4 address of the overlay and the MAC that has it. */
export interface NeighbourEntry {
  ip: string;
  mac: string;
}

/**
 * What the gateway publishes: address -> MAC from its leases (IPv4 only), its reservations (a reservation wins
 * over a lease of the same address: it is what dnsmasq will hand out) and its own gateway address. Addresses or
 * MACs that are not well formed are left out (the lease file is dnsmasq's; nothing of it reaches a command unchecked).
 */
export function gatewayNeighbours(
  leases: readonly { ip: string; mac: string }[],
  reservations: readonly { ip: string; mac?: string | null }[],
  gateway: NeighbourEntry | null,
): Record<string, string> {
  const out = new Map<string, string>();
  const put = (ip: string, mac: string | null | undefined) => {
    const m = mac?.toLowerCase();
    if (isIPv4(ip) && m && isUnicastMac(m)) out.set(ip, m);
  };
  for (const l of leases) put(l.ip, l.mac);
  for (const r of reservations) put(r.ip, r.mac);
  if (gateway) put(gateway.ip, gateway.mac);
  return Object.fromEntries([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The neighbour entries a member's bridge should have: the published addresses whose MAC has a unicast entry on
 * this member's VXLAN device (it is behind exactly one other member). Sorted by address.
 */
export function wantedNeighbourEntries(
  neighbours: Readonly<Record<string, string>> | undefined,
  unicast: readonly UnicastEntry[],
): NeighbourEntry[] {
  const remote = new Set(unicast.map((e) => e.mac));
  return Object.entries(neighbours ?? {})
    .filter(([ip, mac]) => isIPv4(ip) && remote.has(mac))
    .map(([ip, mac]) => ({ ip, mac }))
    .sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
}

/** One row of `ip -j -4 neigh show dev <bridge> nud permanent`. */
export interface NeighRow {
  dst?: string;
  lladdr?: string;
  state?: string[];
}

/** The bridge's permanent IPv4 entries (netforge's: the kernel learns none permanent). */
export function neighbourEntriesFromJson(rows: readonly NeighRow[]): NeighbourEntry[] {
  return rows
    .filter((r) => r.dst && isIPv4(r.dst) && r.lladdr && (r.state ?? []).includes("PERMANENT"))
    .map((r) => ({ ip: r.dst as string, mac: (r.lladdr as string).toLowerCase() }));
}

/** From the entries the bridge has to the wanted ones: `ip` argument lists (replace the wrong or missing, delete the rest). */
export function neighbourChanges(bridge: string, have: readonly NeighbourEntry[], want: readonly NeighbourEntry[]): string[][] {
  const now = new Map(have.map((e) => [e.ip, e.mac]));
  const wanted = new Set(want.map((e) => e.ip));
  return [
    ...want.filter((e) => now.get(e.ip) !== e.mac).map((e) => neighbourEntry(bridge, e.ip, e.mac)),
    ...[...now.keys()]
      .filter((ip) => !wanted.has(ip))
      .sort()
      .map((ip) => neighbourEntryRemoval(bridge, ip)),
  ];
}
