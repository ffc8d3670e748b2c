/**
 * The cluster index of networks: one JSON record per network, written only by
 * the worker of the network's host (from what libvirt reports), and read by
 * the API for list/describe and synchronous checks. It is a cache of the
 * hosts' truth: a worker rebuilds its part at start and periodically.
 */
import type { Redis } from "ioredis";
import type { NetworkStats, NetworkView } from "../schemas/network";
import type { Keys } from "./keys";
import { evalScript } from "./scripts";

/** A network as stored in the index: the describe view without live stats. */
export type NetworkRecord = Omit<NetworkView, "stats">;

/** Stats shown before a worker has observed the network. */
export const EMPTY_STATS: NetworkStats = { connectedVms: 0, allocatedIps: 0, observedAt: null };

/** Insert or replace a network record. */
export async function putNetwork(redis: Redis, keys: Keys, rec: NetworkRecord): Promise<void> {
  await redis.multi().set(keys.network(rec.name), JSON.stringify(rec)).zadd(keys.networks, 0, rec.name).exec();
}

/** Remove a network from the index (record, listing, stats, spec and published IPs). */
export async function removeNetwork(redis: Redis, keys: Keys, name: string): Promise<void> {
  await redis
    .multi()
    .del(keys.network(name))
    .zrem(keys.networks, name)
    .del(keys.networkStats(name))
    .del(keys.networkSpec(name), keys.networkIps(name))
    .exec();
}

/** One network record, or null. */
export async function getNetwork(redis: Redis, keys: Keys, name: string): Promise<NetworkRecord | null> {
  const raw = await redis.get(keys.network(name));
  return raw ? (JSON.parse(raw) as NetworkRecord) : null;
}

/** A network with its latest stats. */
export async function getNetworkView(redis: Redis, keys: Keys, name: string): Promise<NetworkView | null> {
  const [rec, stats] = await redis.mget(keys.network(name), keys.networkStats(name));
  if (!rec) return null;
  return { ...(JSON.parse(rec) as NetworkRecord), stats: stats ? (JSON.parse(stats) as NetworkStats) : EMPTY_STATS };
}

/** Every network record (names in lexical order). */
export async function listAllNetworks(redis: Redis, keys: Keys): Promise<NetworkRecord[]> {
  const names = await redis.zrange(keys.networks, 0, -1);
  return getNetworks(redis, keys, names);
}

/** Records for the given names in one round trip (missing ones dropped). */
export async function getNetworks(redis: Redis, keys: Keys, names: string[]): Promise<NetworkRecord[]> {
  if (names.length === 0) return [];
  const out: NetworkRecord[] = [];
  // MGET in chunks keeps single replies bounded on very large installations.
  for (let i = 0; i < names.length; i += 500) {
    const raws = await redis.mget(names.slice(i, i + 500).map((n) => keys.network(n)));
    for (const r of raws) if (r) out.push(JSON.parse(r) as NetworkRecord);
  }
  return out;
}

/** Names of networks after `cursor` (exclusive), lexical order. */
export async function listNetworkNamesAfter(redis: Redis, keys: Keys, cursor: string | null): Promise<string[]> {
  return redis.zrangebylex(keys.networks, cursor ? `(${cursor}` : "-", "+");
}

/* Stats only for an indexed network: a heartbeat's snapshot may predate a delete, and must not leave stats behind it. */
/* KEYS: the network's record, the key to write; ARGV: value, ttl s. */
const SET_WHILE_INDEXED_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0
`;

/**
 * Write what a worker observed of a network (stats, IP table) only while the
 * network is (still) in the index, in one script: an observation read just
 * before a delete and written just after it must not bring the key back.
 * It expires, so a dead worker's numbers do not linger as fresh.
 */
export async function setWhileIndexed(
  redis: Redis,
  keys: Keys,
  name: string,
  key: string,
  value: string,
  ttlSeconds: number,
): Promise<boolean> {
  return (await evalScript(redis, SET_WHILE_INDEXED_LUA, 2, keys.network(name), key, value, String(ttlSeconds))) === 1;
}

/**
 * Store live stats of a network if it is (still) in the index; they expire
 * so a dead worker's numbers do not linger as fresh.
 */
export async function putNetworkStats(redis: Redis, keys: Keys, name: string, stats: NetworkStats): Promise<void> {
  await setWhileIndexed(redis, keys, name, keys.networkStats(name), JSON.stringify(stats), 300);
}
