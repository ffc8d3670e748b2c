/**
 * The IP table of a network (list-network-ips): active leases merged with
 * the spec's reservations, each MAC named by the libvirt domain that owns it.
 * Published to Redis by the worker whenever the network's leases change, and
 * after every change of its reservations; `allocatedIps` of the stats is the
 * count of leased rows of the same table, so both always agree.
 */
import { type NetworkIp, type NetworkTraffic, parseIPv4 } from "@netforge/core/contract";
import { type RoutedNetSpec, TRAFFIC_VM_SETS, addressingOf, trafficCounterNames } from "@netforge/core/model";
import type { TrafficState } from "./firewall/nftables";
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

/** A network's traffic as stats show it, from the firewall's counters (pure); null when it has none. */
export function trafficOf(name: string, state: TrafficState): NetworkTraffic | null {
  const c = trafficCounterNames(name);
  const i = state.counters.get(c.in);
  const o = state.counters.get(c.out);
  if (!i && !o) return null;
  const since = Math.min(i?.since ?? Number.POSITIVE_INFINITY, o?.since ?? Number.POSITIVE_INFINITY);
  return {
    bytesIn: i?.bytes ?? 0,
    bytesOut: o?.bytes ?? 0,
    packetsIn: i?.packets ?? 0,
    packetsOut: o?.packets ?? 0,
    since: new Date(since * 1000).toISOString(),
  };
}

/**
 * The rows with each VM's traffic (pure): in by its IPv4 address, out by its MAC, on the network's bridge; rows
 * never seen stay without.
 */
export function withVmTraffic(bridge: string | null, ips: NetworkIp[], state: TrafficState | null): NetworkIp[] {
  if (!state || !bridge) return ips;
  const vin = state.vms.get(TRAFFIC_VM_SETS.in);
  const vout = state.vms.get(TRAFFIC_VM_SETS.out);
  return ips.map((r) => {
    const i = vin?.get(`${bridge}/${r.ip}`);
    const o = vout?.get(`${bridge}/${r.mac.toLowerCase()}`);
    if (!i && !o) return r;
    return { ...r, traffic: { bytesIn: i?.bytes ?? 0, bytesOut: o?.bytes ?? 0, packetsIn: i?.packets ?? 0, packetsOut: o?.packets ?? 0 } };
  });
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
  opts: { owners?: Map<string, string>; connectedVms?: number; unchangedForMs?: number; trafficState?: TrafficState | null } = {},
): Promise<NetworkIp[]> {
  const spec = entry.def.spec;
  if (!spec) return [];
  const bridge = entry.def.bridge;
  const leases = bridge && entry.active ? await readLeases(bridge, ctx.leasesDir) : [];
  const owners = opts.owners ?? (await ctx.virsh.domainMacOwners());
  // Only a type whose addressing netforge owns has reservations and leases of its own to list.
  const addressing = addressingOf(spec);
  // A job's publish (no state given) carries the counts last read: reading the host's table is the heartbeat's.
  const state = opts.trafficState !== undefined ? opts.trafficState : await readTraffic(ctx, entry.name, { fresh: false });
  const ips = withVmTraffic(bridge, addressing ? mergeIpTable(addressing, leases, owners) : [], state);
  // Port security: the VM ports of a running network may send from exactly these (MAC, IPv4) pairs.
  if (addressing && entry.active) await syncPortSecurityPairs(ctx, entry.name, ips);
  const connectedVms =
    opts.connectedVms ?? (bridge && entry.active ? (await readLinks(ctx.runner)).filter((l) => l.master === bridge).length : 0);
  const mine = lastPublished.get(ctx.redis) ?? new Map<string, { content: string; at: number }>();
  lastPublished.set(ctx.redis, mine);
  const key = `${ctx.hostId}\n${entry.name}`;
  const traffic = state ? trafficOf(entry.name, state) : null;
  const content = JSON.stringify([ips, connectedVms, leases.length, traffic]);
  const prev = mine.get(key);
  const now = Date.now();
  if (opts.unchangedForMs !== undefined && prev?.content === content && now - prev.at < opts.unchangedForMs) return ips;
  const observedAt = new Date(now).toISOString();
  await putNetworkIpsAndStats(
    ctx.redis,
    ctx.keys,
    entry.name,
    { ips, observedAt },
    { connectedVms, allocatedIps: leases.length, observedAt, ...(traffic ? { traffic } : {}) },
  );
  mine.set(key, { content, at: now });
  return ips;
}

/** The host's traffic counters (the firewall's); null without a firewall or when they cannot be read (logged). */
export async function readTraffic(ctx: HostContext, name?: string, opts: { fresh?: boolean } = {}): Promise<TrafficState | null> {
  const state = await ctx.firewall?.trafficCounts(opts).catch((err: unknown) => {
    ctx.logger.warn({ err, network: name }, "could not read the traffic counters");
    return null;
  });
  return state ?? null;
}
