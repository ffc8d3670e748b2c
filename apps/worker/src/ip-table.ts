/**
 * The IP table of a network (list-network-ips): active leases merged with
 * the spec's reservations, each MAC named by the libvirt domain that owns it.
 * Published to Redis by the worker whenever the network's leases change, and
 * after every change of its reservations; `allocatedIps` of the stats is the
 * count of leased rows of the same table, so both always agree.
 */
import {
  cidr6Contains,
  formatIPv6,
  type NetworkIp,
  type NetworkTraffic,
  parseCidr6OrThrow,
  parseIPv4,
  parseIPv6,
  type TrafficCounts,
} from "@netforge/core/contract";
import {
  type ElementCount,
  peerCounterNames,
  peerVmSets,
  type RoutedNetSpec,
  TRAFFIC_PEERS,
  TRAFFIC_LAN_SETS,
  TRAFFIC_VM_SETS,
  addressingOf,
  lanCounterNames,
  lanNetworkCounterNames,
  modelOf,
  trafficCounterNames,
} from "@netforge/core/model";
import type { TrafficState } from "./firewall/nftables";
import { putNetworkIpsAndStats } from "@netforge/core/store";
import type { HostContext } from "./context";
import { readLinks } from "./host/ip";
import { type LeaseEntry, macOfDuid, readLeases } from "./host/leases";
import type { CatalogEntry } from "./host/network-catalog";
import { driverOf } from "./drivers/registry";

/** An IPv6 neighbour of the bridge (`ip -6 -j neigh show dev <bridge>`): an address a VM uses and its MAC. */
export interface Neighbour6 {
  ip: string;
  mac: string;
}

/** Parse `ip -6 -j neigh show dev <bridge>`: entries with a MAC that are not FAILED or INCOMPLETE. */
export function parseNeighbours6(stdout: string): Neighbour6[] {
  let rows: { dst?: string; lladdr?: string; state?: string[] }[];
  try {
    rows = JSON.parse(stdout || "[]");
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  return rows.flatMap((r) => {
    const bad = (r.state ?? []).some((x) => x === "FAILED" || x === "INCOMPLETE");
    return r.dst && r.lladdr && !bad ? [{ ip: r.dst, mac: r.lladdr.toLowerCase() }] : [];
  });
}

/** Numeric order of an IPv4 or IPv6 address (IPv4 first). */
function ipKey(ip: string): bigint {
  if (!ip.includes(":")) return BigInt(ip.split(".").reduce((n, o) => n * 256 + Number(o), 0));
  return (1n << 128n) + (parseIPv6(ip) ?? 0n);
}

/**
 * Merge leases (IPv4 and DHCPv6), reservations (by MAC and, IPv6, by DUID) and the SLAAC addresses seen in the
 * bridge's neighbour table inside the network's IPv6 prefix (the gateway and addresses a lease already lists
 * left out) (pure). Rows ordered by IP, IPv4 first.
 */
export function mergeIpTable(
  spec: Pick<RoutedNetSpec, "reservations" | "reservations6" | "ipv6">,
  leases: LeaseEntry[],
  owners: Map<string, string>,
  neighbours: Neighbour6[] = [],
): NetworkIp[] {
  const rows = new Map<string, NetworkIp>();
  const owner = (mac: string) => (mac === "" ? null : (owners.get(mac) ?? null));
  const reservations6 = spec.reservations6 ?? [];
  for (const l of leases) {
    const reserved =
      l.duid !== undefined
        ? reservations6.some((r) => r.duid === l.duid && parseIPv6(r.ip) === parseIPv6(l.ip))
        : spec.reservations.some((r) => r.mac === l.mac && r.ip === l.ip);
    rows.set(`${l.ip}|${l.duid ?? l.mac}`, {
      ip: l.ip,
      mac: l.mac,
      vmName: owner(l.mac),
      hostname: l.hostname,
      static: reserved,
      leaseExpiresAt: new Date(l.expiresAt).toISOString(),
      ...(l.duid === undefined ? {} : { duid: l.duid }),
      ...(l.iaid === undefined ? {} : { iaid: l.iaid }),
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
  const leased6 = new Set(leases.filter((l) => l.ip.includes(":")).map((l) => parseIPv6(l.ip)));
  for (const r of reservations6) {
    if (leased6.has(parseIPv6(r.ip)) && leases.some((l) => l.duid === r.duid)) continue;
    const mac = macOfDuid(r.duid) ?? "";
    rows.set(`${r.ip}|${r.duid}`, {
      ip: r.ip,
      mac,
      vmName: owner(mac),
      hostname: r.hostname,
      static: true,
      leaseExpiresAt: null,
      duid: r.duid,
    });
  }
  const v6 = spec.ipv6;
  if (v6 !== undefined) {
    const prefix = parseCidr6OrThrow(v6.cidr);
    const gateway = parseIPv6(v6.gateway);
    const listed = new Set([...rows.values()].filter((r) => r.ip.includes(":")).map((r) => parseIPv6(r.ip)));
    for (const n of neighbours) {
      const a = parseIPv6(n.ip);
      if (a === null || a === gateway || !cidr6Contains(prefix, a) || listed.has(a)) continue;
      listed.add(a);
      const ip = formatIPv6(a);
      rows.set(`${ip}|${n.mac}`, {
        ip,
        mac: n.mac,
        vmName: owner(n.mac),
        hostname: null,
        static: false,
        leaseExpiresAt: null,
        slaac: true,
      });
    }
  }
  return [...rows.values()].sort((a, b) => {
    const d = ipKey(a.ip) - ipKey(b.ip);
    return d < 0n ? -1 : d > 0n ? 1 : a.mac.localeCompare(b.mac);
  });
}

/** The bridge's IPv6 neighbours (none when `ip` fails: the table is published without them). */
async function readNeighbours6(ctx: HostContext, bridge: string): Promise<Neighbour6[]> {
  try {
    const r = await ctx.runner.run("ip", ["-6", "-j", "neigh", "show", "dev", bridge]);
    return parseNeighbours6(r.stdout);
  } catch {
    return [];
  }
}

/** A network's traffic as stats show it, from the firewall's counters (pure); null when it has none. */
export function trafficOf(name: string, state: TrafficState): NetworkTraffic | null {
  const c = trafficCounterNames(name);
  const i = state.counters.get(c.in);
  const o = state.counters.get(c.out);
  if (!i && !o) return lanTrafficOf(name, state);
  const since = Math.min(i?.since ?? Number.POSITIVE_INFINITY, o?.since ?? Number.POSITIVE_INFINITY);
  const out: NetworkTraffic = { ...countsOf(i, o), since: new Date(since * 1000).toISOString() };
  // By peer: present once the host counts that way (every counter there: they are rendered together).
  const peers = TRAFFIC_PEERS.map((p) => {
    const pc = peerCounterNames(name, p);
    return [state.counters.get(pc.in), state.counters.get(pc.out)] as const;
  });
  if (peers.every(([pi, po]) => pi && po)) {
    const [outside, network] = peers;
    const peerSince = Math.min(...peers.flatMap(([pi, po]) => [pi?.since ?? 0, po?.since ?? 0]));
    out.peers = {
      outside: countsOf(outside?.[0], outside?.[1]),
      network: countsOf(network?.[0], network?.[1]),
      since: new Date(peerSince * 1000).toISOString(),
    };
  }
  return out;
}

/**
 * A bridge network's traffic (VM <-> LAN at its uplink NIC, render/nft-bridge.ts): the totals and the `outside` peer
 * are the LAN's; the `network` peer is what its VMs exchange with each other (sixth round: counted by its VM ports),
 * present once the host counts that way.
 */
function lanTrafficOf(name: string, state: TrafficState): NetworkTraffic | null {
  const c = lanCounterNames(name);
  const i = state.counters.get(c.in);
  const o = state.counters.get(c.out);
  if (!i && !o) return null;
  const since = Math.min(i?.since ?? Number.POSITIVE_INFINITY, o?.since ?? Number.POSITIVE_INFINITY);
  const out: NetworkTraffic = { ...countsOf(i, o), since: new Date(since * 1000).toISOString() };
  const n = lanNetworkCounterNames(name);
  const ni = state.counters.get(n.in);
  const no = state.counters.get(n.out);
  if (ni && no) {
    const peerSince = Math.min(since, ni.since, no.since);
    out.peers = { outside: countsOf(i, o), network: countsOf(ni, no), since: new Date(peerSince * 1000).toISOString() };
  }
  return out;
}

/**
 * The rows of a bridge network (pure): one per VM seen sending to the LAN through its uplink NIC (by source MAC),
 * or owned by a libvirt domain and seen receiving from it, with that traffic. `ip` is "": netforge does not
 * address a bridge network (the LAN's DHCP does), so it knows no address of the VM.
 */
export function lanRows(uplink: string, state: TrafficState | null, owners: ReadonlyMap<string, string>): NetworkIp[] {
  if (!state) return [];
  const vin = state.vms.get(TRAFFIC_LAN_SETS.in);
  const vout = state.vms.get(TRAFFIC_LAN_SETS.out);
  const nin = state.vms.get(TRAFFIC_LAN_SETS.networkIn);
  const nout = state.vms.get(TRAFFIC_LAN_SETS.networkOut);
  const macs = new Set<string>();
  const prefix = `${uplink}/`;
  // A VM is seen by what it sends (to the LAN, to another VM), or, owned by a domain, by what it receives.
  for (const set of [vout, nout]) for (const k of set?.keys() ?? []) if (k.startsWith(prefix)) macs.add(k.slice(prefix.length));
  for (const set of [vin, nin])
    for (const k of set?.keys() ?? []) if (k.startsWith(prefix) && owners.has(k.slice(prefix.length))) macs.add(k.slice(prefix.length));
  const byPeer = nin !== undefined && nout !== undefined;
  return [...macs]
    .filter((m) => (Number.parseInt(m.slice(0, 2), 16) & 1) === 0) // unicast: a broadcast's element is no VM
    .sort()
    .map((mac) => ({
      ip: "",
      mac,
      vmName: owners.get(mac) ?? null,
      hostname: null,
      static: false,
      leaseExpiresAt: null,
      traffic: {
        ...countsOf(vin?.get(`${prefix}${mac}`), vout?.get(`${prefix}${mac}`)),
        ...(byPeer
          ? {
              peers: {
                outside: countsOf(vin?.get(`${prefix}${mac}`), vout?.get(`${prefix}${mac}`)),
                network: countsOf(nin?.get(`${prefix}${mac}`), nout?.get(`${prefix}${mac}`)),
              },
            }
          : {}),
      },
    }));
}

/** Counts each way from an in and an out counter or element (absent: 0). */
const countsOf = (i: ElementCount | undefined, o: ElementCount | undefined): TrafficCounts => ({
  bytesIn: i?.bytes ?? 0,
  bytesOut: o?.bytes ?? 0,
  packetsIn: i?.packets ?? 0,
  packetsOut: o?.packets ?? 0,
});

/**
 * The rows with each VM's traffic (pure): in by its IPv4 address, out by its MAC, on the network's bridge; rows
 * never seen stay without.
 */
export function withVmTraffic(bridge: string | null, ips: NetworkIp[], state: TrafficState | null): NetworkIp[] {
  if (!state || !bridge) return ips;
  const of = (sets: { in: string; out: string }, r: NetworkIp) => {
    const i = state.vms.get(sets.in)?.get(`${bridge}/${r.ip}`);
    const o = state.vms.get(sets.out)?.get(`${bridge}/${r.mac.toLowerCase()}`);
    return i || o ? countsOf(i, o) : null;
  };
  // By peer: on a host whose table has the peers' sets (a VM not seen with a peer yet has zeros there).
  const byPeer = TRAFFIC_PEERS.every((p) => state.vms.has(peerVmSets(p).in) && state.vms.has(peerVmSets(p).out));
  const zero = countsOf(undefined, undefined);
  return ips.map((r) => {
    const total = of(TRAFFIC_VM_SETS, r);
    if (!byPeer) return total ? { ...r, traffic: total } : r;
    const outside = of(peerVmSets("outside"), r);
    const network = of(peerVmSets("network"), r);
    // A VM seen only with the network's other VMs has no edge traffic (totals 0) but traffic all the same.
    if (!total && !outside && !network) return r;
    return { ...r, traffic: { ...(total ?? zero), peers: { outside: outside ?? zero, network: network ?? zero } } };
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
  // IPv6: the SLAAC addresses the VMs use, from the bridge's neighbour table (DHCPv6 leases are in the status file).
  const neighbours = addressing?.ipv6 !== undefined && bridge && entry.active ? await readNeighbours6(ctx, bridge) : [];
  // A job's publish (no state given) carries the counts last read: reading the host's table is the heartbeat's.
  const state = opts.trafficState !== undefined ? opts.trafficState : await readTraffic(ctx, entry.name, { fresh: false });
  const uplink = addressing ? null : (modelOf(spec).view(spec).shapedAt?.uplink ?? null);
  const ips = uplink
    ? lanRows(uplink, state, owners)
    : withVmTraffic(bridge, addressing ? mergeIpTable(addressing, leases, owners, neighbours) : [], state);
  // Port security: the VM ports of a running network may send from exactly these (MAC, IPv4) pairs.
  if (addressing && entry.active) await syncPortSecurityPairs(ctx, entry.name, ips);
  // (Counted by the type's driver: an overlay's bridge also holds its VXLAN device, which is no VM.)
  const connectedVms =
    opts.connectedVms ?? (bridge && entry.active ? driverOf(entry).connectedVms(ctx, entry, await readLinks(ctx.runner)) : 0);
  const mine = lastPublished.get(ctx.redis) ?? new Map<string, { content: string; at: number }>();
  lastPublished.set(ctx.redis, mine);
  const key = `${ctx.hostId}\n${entry.name}`;
  // allocatedIps: the IPv4 leases (the subnet's use); DHCPv6 leases are listed in the table.
  const allocatedIps = leases.filter((l) => !l.ip.includes(":")).length;
  const traffic = state ? trafficOf(entry.name, state) : null;
  const content = JSON.stringify([ips, connectedVms, allocatedIps, traffic]);
  const prev = mine.get(key);
  const now = Date.now();
  if (opts.unchangedForMs !== undefined && prev?.content === content && now - prev.at < opts.unchangedForMs) return ips;
  const observedAt = new Date(now).toISOString();
  await putNetworkIpsAndStats(
    ctx.redis,
    ctx.keys,
    entry.name,
    { ips, observedAt },
    { connectedVms, allocatedIps, observedAt, ...(traffic ? { traffic } : {}) },
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
