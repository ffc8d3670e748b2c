/**
 * What a network's worker publishes for IP management: the network's spec as
 * libvirt keeps it (so the API can check and plan changes at its door) and
 * its IP table (leases merged with reservations) whenever leases change.
 */
import type { Redis } from "ioredis";
import type { NetworkIp } from "../schemas/ipam";
import type { NetSpec } from "../planner/network-spec";
import type { Keys } from "./keys";
import type { NetworkStats } from "../schemas/network";
import { setAllWhileIndexed, setWhileIndexed } from "./network-index";
import { evalScript } from "./scripts";

/** The published IP table of a network. */
export interface PublishedIps {
  ips: NetworkIp[];
  observedAt: string;
}

export async function putNetworkSpec(redis: Redis, keys: Keys, spec: NetSpec): Promise<void> {
  await redis.set(keys.networkSpec(spec.name), JSON.stringify(spec));
}

/**
 * Publish a spec only where the index has the network and no spec of it, in one script: what a worker re-publishes
 * without the network's lock (after a store reset, while a job holds it) never overwrites a job's own publish, and
 * never brings back the spec of a network deleted meanwhile. True when written.
 */
const SPEC_IF_ABSENT_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX') then return 1 end
return 0
`;

export async function putNetworkSpecIfAbsent(redis: Redis, keys: Keys, spec: NetSpec): Promise<boolean> {
  return (await evalScript(redis, SPEC_IF_ABSENT_LUA, 2, keys.network(spec.name), keys.networkSpec(spec.name), JSON.stringify(spec))) === 1;
}

export async function getNetworkSpec(redis: Redis, keys: Keys, name: string): Promise<NetSpec | null> {
  const raw = await redis.get(keys.networkSpec(name));
  return raw ? (JSON.parse(raw) as NetSpec) : null;
}

/** The published specs of these networks (null where none), in a few MGETs (chunks of 500) rather than a GET each. */
export async function getNetworkSpecs(redis: Redis, keys: Keys, names: readonly string[]): Promise<Map<string, NetSpec | null>> {
  const out = new Map<string, NetSpec | null>();
  for (let i = 0; i < names.length; i += 500) {
    const chunk = names.slice(i, i + 500);
    const raws = await redis.mget(chunk.map((n) => keys.networkSpec(n)));
    for (const [j, n] of chunk.entries()) {
      const raw = raws[j];
      out.set(n, raw ? (JSON.parse(raw) as NetSpec) : null);
    }
  }
  return out;
}

/**
 * Written like the stats: only while the network is indexed (a lease change
 * seen just before a delete never brings a deleted network's table back),
 * and expiring (the worker republishes every heartbeat).
 */
export async function putNetworkIps(redis: Redis, keys: Keys, name: string, table: PublishedIps): Promise<void> {
  await setWhileIndexed(redis, keys, name, keys.networkIps(name), JSON.stringify(table), 300);
}

/**
 * The IP table and the stats of one observation, in one script: `allocatedIps` counts the table's leases, and a
 * reader (list-network-ips, then describe-network) must never see a table newer than the stats.
 */
export async function putNetworkIpsAndStats(
  redis: Redis,
  keys: Keys,
  name: string,
  table: PublishedIps,
  stats: NetworkStats,
): Promise<void> {
  const entries = [
    [keys.networkIps(name), JSON.stringify(table)],
    [keys.networkStats(name), JSON.stringify(stats)],
  ] as const;
  await setAllWhileIndexed(redis, keys, name, entries, 300);
}

/** The IP table with leases that expired since it was published dropped (a reservation stays, without lease). */
export async function getNetworkIps(redis: Redis, keys: Keys, name: string, now = Date.now()): Promise<PublishedIps | null> {
  const raw = await redis.get(keys.networkIps(name));
  return raw ? parsePublishedIps(raw, now) : null;
}

/** A stored IP table as getNetworkIps answers it (leases expired by `now` dropped; a reservation stays, without lease). */
export function parsePublishedIps(raw: string, now = Date.now()): PublishedIps {
  const table = JSON.parse(raw) as PublishedIps;
  const ips = table.ips.flatMap((r) => {
    if (r.leaseExpiresAt === null || Date.parse(r.leaseExpiresAt) > now) return [r];
    return r.static ? [{ ...r, leaseExpiresAt: null, vmName: r.vmName }] : [];
  });
  return { ips, observedAt: table.observedAt };
}
