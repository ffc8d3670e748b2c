/**
 * The IP table of a network (list-network-ips): active leases merged with
 * the spec's reservations, each MAC named by the libvirt domain that owns it.
 * Published to Redis by the worker whenever the network's leases change, and
 * after every change of its reservations; `allocatedIps` of the stats is the
 * count of leased rows of the same table, so both always agree.
 */
import { type NetworkIp, parseIPv4 } from "@netforge/core/contract";
import { type RoutedNetSpec, addressingOf } from "@netforge/core/model";
import { putNetworkIpsAndStats } from "@netforge/core/store";
import type { HostContext } from "./context";
import { readLinks } from "./host/ip";
import { type LeaseEntry, readLeases } from "./host/leases";
import type { CatalogEntry } from "./host/network-catalog";

/** Merge leases and reservations (pure). Rows ordered by IP. */
export function mergeIpTable(spec: Pick<RoutedNetSpec, "reservations">, leases: LeaseEntry[], owners: Map<string, string>): NetworkIp[] {
  const rows = new Map<string, NetworkIp>();
  for (const l of leases) {
    const reserved = spec.reservations.some((r) => r.mac === l.mac && r.ip === l.ip);
    rows.set(`${l.ip}|${l.mac}`, {
      ip: l.ip,
      mac: l.mac,
      vmName: owners.get(l.mac) ?? null,
      hostname: l.hostname,
      static: reserved,
      leaseExpiresAt: new Date(l.expiresAt).toISOString(),
    });
  }
  for (const r of spec.reservations) {
    if (rows.has(`${r.ip}|${r.mac}`)) continue;
    rows.set(`${r.ip}|${r.mac}`, {
      ip: r.ip,
      mac: r.mac,
      vmName: owners.get(r.mac) ?? null,
      hostname: r.hostname,
      static: true,
      leaseExpiresAt: null,
    });
  }
  const key = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  return [...rows.values()].sort((a, b) => key(a.ip) - key(b.ip) || a.mac.localeCompare(b.mac));
}

/** Give the firewall a network's current pairs (failures are logged: the next publish tries again). */
async function syncPortSecurityPairs(ctx: HostContext, name: string, ips: NetworkIp[]): Promise<void> {
  const pairs = ips.filter((r) => parseIPv4(r.ip) !== null).map((r) => ({ mac: r.mac, ip: r.ip }));
  // (Optional: contexts of unit tests have no firewall.)
  await ctx.firewall
    ?.setLive(name, { pairs })
    .catch((err) => ctx.logger.warn({ err, network: name }, "could not update port security pairs"));
}

/** What each network's last publish carried and when, per worker (keyed by its Redis connection and host). */
const lastPublished = new WeakMap<object, Map<string, { content: string; at: number }>>();

/**
 * Read leases and domain MACs and publish the IP table (and allocatedIps) of one network. `unchangedForMs`
 * (the heartbeat's refresh of every network): a table and stats equal to what this worker published less
 * than that long ago are not written again, so a host's idle networks cost no Redis writes between
 * refreshes of their expiry (both keys live 300 s); jobs and lease changes always write.
 */
export async function publishIpTable(
  ctx: HostContext,
  entry: CatalogEntry,
  opts: { owners?: Map<string, string>; connectedVms?: number; unchangedForMs?: number } = {},
): Promise<NetworkIp[]> {
  const spec = entry.def.spec;
  if (!spec) return [];
  const bridge = entry.def.bridge;
  const leases = bridge && entry.active ? await readLeases(bridge, ctx.leasesDir) : [];
  const owners = opts.owners ?? (await ctx.virsh.domainMacOwners());
  // Only a type whose addressing netforge owns has reservations and leases of its own to list.
  const addressing = addressingOf(spec);
  const ips = addressing ? mergeIpTable(addressing, leases, owners) : [];
  // Port security: the VM ports of a running network may send from exactly these (MAC, IPv4) pairs.
  if (addressing && entry.active) await syncPortSecurityPairs(ctx, entry.name, ips);
  const connectedVms =
    opts.connectedVms ?? (bridge && entry.active ? (await readLinks(ctx.runner)).filter((l) => l.master === bridge).length : 0);
  const mine = lastPublished.get(ctx.redis) ?? new Map<string, { content: string; at: number }>();
  lastPublished.set(ctx.redis, mine);
  const key = `${ctx.hostId}\n${entry.name}`;
  const content = JSON.stringify([ips, connectedVms, leases.length]);
  const prev = mine.get(key);
  const now = Date.now();
  if (opts.unchangedForMs !== undefined && prev?.content === content && now - prev.at < opts.unchangedForMs) return ips;
  const observedAt = new Date(now).toISOString();
  await putNetworkIpsAndStats(
    ctx.redis,
    ctx.keys,
    entry.name,
    { ips, observedAt },
    { connectedVms, allocatedIps: leases.length, observedAt },
  );
  mine.set(key, { content, at: now });
  return ips;
}
