/**
 * Unicast forwarding entries of an overlay (issue 17, ADR 0051 "Unicast forwarding entries"), pure: which MACs
 * sit behind this member's own ports (from its bridge's forwarding table and its domains' interfaces), which
 * static entries its VXLAN device should then have given what every other member published (a MAC on exactly one
 * other member: an entry toward that member's underlay address), and which MACs are on two members at once (a
 * conflict: reported, an entry already there kept, none written or moved). The worker reads, publishes and runs
 * (apps/worker/src/drivers/overlay-unicast.ts).
 */
import { bridgePortEntry, bridgePortEntryRemoval, dynamicPortEntry, unicastEntry, unicastEntryRemoval } from "../render/vxlan";
import type { OverlayMember } from "./overlay";

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A unicast MAC a VM can have: six lower-case octets, not all zero, the group bit clear. */
export function isUnicastMac(mac: string): boolean {
  return MAC_RE.test(mac) && mac !== "00:00:00:00:00:00" && (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

/** One row of `bridge -j fdb show br <bridge>`. */
export interface FdbRow {
  mac?: string;
  ifname?: string;
  master?: string;
  dst?: string;
  state?: string;
  flags?: string[];
}

/**
 * The MACs behind this member's own ports of the overlay's bridge: what the bridge learned (or was told) on a
 * port that is not the VXLAN device nor the bridge itself, leaving out the ports' own addresses (permanent) and
 * the ports' own tables (`self`). Sorted, each once.
 */
export function localMacsFromFdb(rows: readonly FdbRow[], bridge: string, vxlanDevice: string): string[] {
  const out = new Set<string>();
  for (const r of rows) {
    const mac = r.mac?.toLowerCase();
    if (!mac || !isUnicastMac(mac)) continue;
    if (r.master !== bridge || !r.ifname || r.ifname === bridge || r.ifname === vxlanDevice) continue;
    if (r.state === "permanent" || (r.flags ?? []).includes("self")) continue;
    out.add(mac);
  }
  return [...out].sort();
}

/** A MAC published by more than one member at once: no entry toward either (reported, never moved). */
export interface MacConflict {
  mac: string;
  hosts: string[];
}

/** MAC -> the members that publish it (members that published nothing lately are left out). */
function owners(published: ReadonlyMap<string, readonly string[] | undefined>): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const [host, macs] of published) {
    for (const mac of new Set(macs ?? [])) {
      if (!isUnicastMac(mac)) continue;
      const l = by.get(mac) ?? [];
      l.push(host);
      by.set(mac, l);
    }
  }
  return by;
}

/** The MACs two or more members publish at once, sorted by MAC (hosts sorted). */
export function macConflicts(published: ReadonlyMap<string, readonly string[] | undefined>): MacConflict[] {
  return [...owners(published)]
    .filter(([, hosts]) => hosts.length > 1)
    .map(([mac, hosts]) => ({ mac, hosts: [...hosts].sort() }))
    .sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
}

/**
 * The members' published MACs with the gateway's fixed MAC (`overlayGatewayMac`) as the gateway host's alone (the
 * one this member's definition names): a member's entries for it follow the definition, which the move's job
 * changes once the old gateway stopped, not a part published before or during the move (an old gateway's last
 * part still names it until it publishes again; with two owners the entry would not move).
 */
export function withGatewayMac(
  published: ReadonlyMap<string, readonly string[] | undefined>,
  gatewayHost: string,
  mac: string,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [h, macs] of published) {
    const rest = (macs ?? []).filter((m) => m !== mac);
    out.set(h, h === gatewayHost ? [...rest, mac] : rest);
  }
  return out;
}

/** A static unicast entry of the VXLAN device: frames to `mac` go to `dst` (a member's underlay address) only. */
export interface UnicastEntry {
  mac: string;
  dst: string;
}

/**
 * The entries member `self` should have: one per MAC that exactly one other member publishes (toward its
 * underlay address), none for a MAC this member alone has (`published` holds this member's own MACs too). A MAC
 * two members have at once is **not moved**: an entry the device has (`have`) toward one of those members stays
 * as it is (a VM cloned elsewhere, or plugged on a second host before it left the first, does not take the
 * traffic of the one that was there), and none is written where there was none. A member not in `members`
 * (removed) is ignored.
 */
export function wantedUnicastEntries(
  self: string,
  members: readonly OverlayMember[],
  published: ReadonlyMap<string, readonly string[] | undefined>,
  have: readonly UnicastEntry[] = [],
): UnicastEntry[] {
  const ip = new Map(members.map((m) => [m.id, m.ip]));
  const inOverlay = new Map([...published].filter(([h]) => ip.has(h)));
  const now = new Map<string, string[]>();
  for (const e of have) now.set(e.mac, [...(now.get(e.mac) ?? []), e.dst]);
  const out: UnicastEntry[] = [];
  for (const [mac, hosts] of owners(inOverlay)) {
    if (hosts.length > 1) {
      const dsts = new Set(hosts.filter((h) => h !== self).map((h) => ip.get(h) as string));
      const kept = now.get(mac);
      if (kept?.length === 1 && dsts.has(kept[0] as string)) out.push({ mac, dst: kept[0] as string });
      continue;
    }
    if (hosts[0] === self) continue;
    out.push({ mac, dst: ip.get(hosts[0] as string) as string });
  }
  return out.sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
}

/** The VXLAN device's static unicast entries now (`bridge -j fdb show dev nfvx<VNI>`: rows with a `dst`, not all-zero). */
export function unicastEntriesFromFdb(rows: readonly FdbRow[]): UnicastEntry[] {
  return rows
    .filter((r) => r.mac && r.dst && r.mac !== "00:00:00:00:00:00" && r.state !== "permanent")
    .map((r) => ({ mac: (r.mac as string).toLowerCase(), dst: r.dst as string }));
}

/** What to change: `bridge` argument lists (replace the wrong or missing, delete the unwanted), in that order. */
export interface UnicastChange {
  replace: UnicastEntry[];
  remove: string[];
  /** `bridge` argument lists of both, replacements first. */
  commands: string[][];
}

/** From the entries the device has to the ones wanted (pure; nothing when they are the same). */
export function unicastChanges(vni: number, have: readonly UnicastEntry[], want: readonly UnicastEntry[]): UnicastChange {
  const now = new Map<string, Set<string>>();
  for (const e of have) now.set(e.mac, (now.get(e.mac) ?? new Set()).add(e.dst));
  const wanted = new Map(want.map((e) => [e.mac, e.dst]));
  // A MAC with one entry toward the right member is in place; two destinations (appended by hand) are replaced.
  const replace = want.filter((e) => {
    const d = now.get(e.mac);
    return d?.size !== 1 || !d.has(e.dst);
  });
  const remove = [...now.keys()].filter((m) => !wanted.has(m)).sort();
  return {
    replace,
    remove,
    commands: [...replace.map((e) => unicastEntry(vni, e.mac, e.dst)), ...remove.map((m) => unicastEntryRemoval(vni, m))],
  };
}

/**
 * The bridge's own entries on the VXLAN port (`bridge -j fdb show dev nfvx<VNI>`: static rows of the bridge, not
 * the device's `self` ones): the MACs netforge pointed at the port, sorted.
 */
export function bridgePortEntriesFromFdb(rows: readonly FdbRow[], bridge: string): string[] {
  return rows
    .filter((r) => r.mac && r.master === bridge && !r.dst && r.state === "static" && isUnicastMac(r.mac.toLowerCase()))
    .map((r) => (r.mac as string).toLowerCase())
    .sort();
}

/**
 * The bridge's entries toward its VXLAN port: one per MAC with a unicast entry that this member does not have
 * itself (a MAC on two members, one of them this one, stays where this bridge learned it). `bridge` argument
 * lists: the missing written, the unwanted removed (only those still on the port).
 */
export function bridgePortChanges(vni: number, have: readonly string[], want: readonly UnicastEntry[], own: readonly string[]): string[][] {
  const mine = new Set(own);
  const wanted = new Set(want.map((e) => e.mac).filter((m) => !mine.has(m)));
  const now = new Set(have);
  return [
    ...[...wanted]
      .filter((m) => !now.has(m))
      .sort()
      .map((m) => bridgePortEntry(vni, m)),
    ...[...now]
      .filter((m) => !wanted.has(m))
      .sort()
      .map((m) => bridgePortEntryRemoval(vni, m)),
  ];
}

/**
 * Static entries of the bridge on a local port: netforge's entries toward the VXLAN port that learning moved
 * here (the VM came to this host). Made ordinary entries again (`bridge` argument lists), so they age out when
 * the VM leaves instead of holding its MAC here for ever.
 */
export function movedPortEntries(rows: readonly FdbRow[], bridge: string, vxlanDevice: string): string[][] {
  return rows
    .filter(
      (r) =>
        r.mac &&
        r.master === bridge &&
        r.ifname &&
        r.ifname !== bridge &&
        r.ifname !== vxlanDevice &&
        r.state === "static" &&
        !(r.flags ?? []).includes("self") &&
        isUnicastMac(r.mac.toLowerCase()),
    )
    .map((r) => dynamicPortEntry(r.ifname as string, (r.mac as string).toLowerCase()));
}
