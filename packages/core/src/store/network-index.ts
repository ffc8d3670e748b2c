/**
 * The cluster index of networks: one JSON record per network, written only by
 * the worker of the network's host (from what libvirt reports), and read by
 * the API for list/describe and synchronous checks. It is a cache of the
 * hosts' truth: a worker rebuilds its part at start and periodically.
 */
import type { Redis } from "ioredis";
import type { NetworkStats, NetworkSummary, NetworkView } from "../schemas/network";
import type { TrafficCounts } from "../schemas/common";
import type { Keys } from "./keys";
import { evalScript } from "./scripts";

/** A network as stored in the index: the describe view without live stats and its version (kept beside it). */
export type NetworkRecord = Omit<NetworkView, "stats" | "version">;

/** Stats shown before a worker has observed the network. */
export const EMPTY_STATS: NetworkStats = { connectedVms: 0, allocatedIps: 0, observedAt: null };

/** What list-networks shows of a network (this key order is the answer's; its version is added when read). */
export function networkSummary(n: NetworkRecord): Omit<NetworkSummary, "version"> {
  // A record written before managedBy existed has none: null (never another file's).
  return {
    name: n.name,
    uuid: n.uuid,
    type: n.type,
    host: n.host,
    cidr: n.cidr,
    state: n.state,
    autostart: n.autostart,
    managedBy: n.managedBy ?? null,
  };
}

/**
 * A summary as kept beside its record: "type SOH state SOH host(JSON) SOH
 * summary(JSON)", so list-networks filters without parsing and answers by
 * joining the JSON parts (JSON escapes SOH, so it cannot occur inside a part).
 */
export function encodeSummaryEntry(s: Omit<NetworkSummary, "version">): string {
  return `${s.type}\u0001${s.state}\u0001${JSON.stringify(s.host)}\u0001${JSON.stringify(s)}`;
}

/** A network's list-networks entry: the fields it is filtered on, and its summary as JSON text. */
export interface SummaryEntry {
  name: string;
  type: string;
  state: string;
  host: string;
  json: string;
}

function decodeSummaryEntry(name: string, raw: string): SummaryEntry | null {
  const a = raw.indexOf("\u0001");
  const b = raw.indexOf("\u0001", a + 1);
  const c = raw.indexOf("\u0001", b + 1);
  if (a < 0 || b < 0 || c < 0) return null;
  return {
    name,
    type: raw.slice(0, a),
    state: raw.slice(a + 1, b),
    host: JSON.parse(raw.slice(b + 1, c)) as string,
    json: raw.slice(c + 1),
  };
}

/**
 * Insert or replace a network record, with its list-networks summary kept
 * pre-serialised beside it (same MULTI): listing 1,000 networks then reads
 * ~200 bytes per network instead of the whole record (~500 bytes) and neither
 * parses nor serialises them.
 */
export async function putNetwork(redis: Redis, keys: Keys, rec: NetworkRecord): Promise<void> {
  await redis
    .multi()
    .set(keys.network(rec.name), JSON.stringify(rec))
    .zadd(keys.networks, 0, rec.name)
    .hset(keys.networkSummaries, rec.name, encodeSummaryEntry(networkSummary(rec)))
    .hset(keys.networkRuleCounts, rec.name, String(recordRuleCount(rec)))
    .exec();
}

/** Remove a network from the index (record, listing, stats, spec and published IPs). */
export async function removeNetwork(redis: Redis, keys: Keys, name: string): Promise<void> {
  await redis
    .multi()
    .del(keys.network(name))
    .zrem(keys.networks, name)
    .hdel(keys.networkSummaries, name)
    .hdel(keys.networkRuleCounts, name)
    .del(keys.networkStats(name))
    .del(keys.networkSpec(name), keys.networkIps(name))
    .hdel(keys.networkVersions, name)
    .exec();
}

/** A network's version (0: none recorded, e.g. the index was rebuilt after Redis lost it). */
export async function getNetworkVersion(redis: Redis, keys: Keys, name: string): Promise<number> {
  return versionOf(await redis.hget(keys.networkVersions, name));
}

const versionOf = (raw: string | null | undefined): number => {
  const n = raw ? Number(raw) : 0;
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
};

/* KEYS: the network's record, the versions hash; ARGV: the name. +1 while the network is indexed; its new version, or 0. */
const BUMP_VERSION_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
`;

/**
 * A job succeeded on the network: its version +1 (the first job, its create, makes it 1). Nothing for a
 * network no longer indexed (a delete): its version went with it.
 */
export async function bumpNetworkVersion(redis: Redis, keys: Keys, name: string): Promise<number> {
  return Number(await evalScript(redis, BUMP_VERSION_LUA, 2, keys.network(name), keys.networkVersions, name));
}

/** A list-networks entry's JSON with the network's version added as its last field. */
const withVersion = (json: string, version: number): string => `${json.slice(0, -1)},"version":${version}}`;

/** One network record, or null. */
export async function getNetwork(redis: Redis, keys: Keys, name: string): Promise<NetworkRecord | null> {
  const raw = await redis.get(keys.network(name));
  return raw ? (JSON.parse(raw) as NetworkRecord) : null;
}

/** A network with its latest stats. */
export async function getNetworkView(redis: Redis, keys: Keys, name: string): Promise<NetworkView | null> {
  const [[rec, stats], version] = await Promise.all([
    redis.mget(keys.network(name), keys.networkStats(name)),
    redis.hget(keys.networkVersions, name),
  ]);
  if (!rec) return null;
  return {
    ...(JSON.parse(rec) as NetworkRecord),
    stats: stats ? (JSON.parse(stats) as NetworkStats) : EMPTY_STATS,
    version: versionOf(version),
  };
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

/**
 * Up to `count` list-networks entries of the networks after `cursor`
 * (exclusive), in name order. A network without a stored summary (a record
 * written before summaries existed) is answered from its record.
 */
export async function listSummaryEntriesAfter(redis: Redis, keys: Keys, cursor: string | null, count: number): Promise<SummaryEntry[]> {
  // Two commands (names, then their entries): measured faster than one script that builds the 2,000-element reply.
  const names = await redis.zrangebylex(keys.networks, cursor ? `(${cursor}` : "-", "+", "LIMIT", 0, count);
  if (names.length === 0) return [];
  const [raws, versions] = await Promise.all([redis.hmget(keys.networkSummaries, ...names), redis.hmget(keys.networkVersions, ...names)]);
  const out: (SummaryEntry | null)[] = [];
  const missing: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    const raw = raws[i];
    const e = raw ? decodeSummaryEntry(name, raw) : null;
    if (e) e.json = withVersion(e.json, versionOf(versions[i]));
    else missing.push(name);
    out.push(e);
  }
  if (missing.length > 0) {
    const recs = new Map((await getNetworks(redis, keys, missing)).map((r) => [r.name, r]));
    for (let i = 0; i < out.length; i++) {
      if (out[i]) continue;
      const rec = recs.get(names[i] as string);
      out[i] = rec
        ? {
            name: rec.name,
            type: rec.type,
            state: rec.state,
            host: rec.host,
            json: withVersion(JSON.stringify(networkSummary(rec)), versionOf(versions[i])),
          }
        : null;
    }
  }
  return out.filter((e): e is SummaryEntry => e !== null);
}

/** Summaries of the networks after `cursor` (exclusive), up to `count`, parsed. */
export async function getNetworkSummariesAfter(redis: Redis, keys: Keys, cursor: string | null, count: number): Promise<NetworkSummary[]> {
  return (await listSummaryEntriesAfter(redis, keys, cursor, count)).map((e) => JSON.parse(e.json) as NetworkSummary);
}

/*
 * Stats only for an indexed network: a heartbeat's snapshot may predate a delete, and must not leave stats behind it.
 * KEYS: the network's record, then the keys to write; ARGV: one value per key to write, then the ttl in s. All
 * keys in one script, so a reader never sees one observation's IP table next to an older one's stats.
 */
const SET_WHILE_INDEXED_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[i - 1], 'EX', ARGV[#ARGV]) end
return 1
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
  return setAllWhileIndexed(redis, keys, name, [[key, value]], ttlSeconds);
}

/** setWhileIndexed for several keys at once (all or none). */
export async function setAllWhileIndexed(
  redis: Redis,
  keys: Keys,
  name: string,
  entries: readonly (readonly [key: string, value: string])[],
  ttlSeconds: number,
): Promise<boolean> {
  const args = [keys.network(name), ...entries.map(([k]) => k), ...entries.map(([, v]) => v), String(ttlSeconds)];
  return (await evalScript(redis, SET_WHILE_INDEXED_LUA, entries.length + 1, ...args)) === 1;
}

/**
 * Store live stats of a network if it is (still) in the index; they expire
 * so a dead worker's numbers do not linger as fresh.
 */
export async function putNetworkStats(redis: Redis, keys: Keys, name: string, stats: NetworkStats): Promise<void> {
  await setWhileIndexed(redis, keys, name, keys.networkStats(name), JSON.stringify(stats), 300);
}

/** A record's share of its host's nft rules: firewall rules plus port forwards. */
export function recordRuleCount(rec: Pick<NetworkRecord, "firewall" | "portForwards">): number {
  return (rec.firewall?.rules?.length ?? 0) + (rec.portForwards?.length ?? 0);
}

/**
 * Lua: `sumRuleCounts(names, hash, skip)`, the sum of the rule counts `hash` holds for `names` but `skip`, read
 * in HMGET chunks of 500 (unpack's argument limit). Shared by the worker-side count and the door's script.
 */
export const SUM_RULE_COUNTS_LUA = `
local function sumRuleCounts(names, hash, skip)
  local sum = 0
  for i = 1, #names, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #names) do
      if names[j] ~= skip then chunk[#chunk + 1] = names[j] end
    end
    if #chunk > 0 then
      for _, v in ipairs(redis.call('HMGET', hash, unpack(chunk))) do
        if v then sum = sum + tonumber(v) end
      end
    end
  end
  return sum
end
`;

/* KEYS: the host's claimed names, the rule counts hash; ARGV: a name to leave out. The sum of the counts. */
const HOST_RULES_LUA = `${SUM_RULE_COUNTS_LUA}
return sumRuleCounts(redis.call('SMEMBERS', KEYS[1]), KEYS[2], ARGV[1])
`;

/**
 * Firewall rules plus port forwards of the networks on `host` (the names claimed there), leaving out
 * `exclude`, as their workers last published them: the door's check of NETFORGE_MAX_RULES_PER_HOST.
 */
export async function hostRulesOf(redis: Redis, keys: Keys, host: string, exclude = ""): Promise<number> {
  return (await evalScript(redis, HOST_RULES_LUA, 2, keys.claimedHostNames(host), keys.networkRuleCounts, exclude)) as number;
}

/**
 * Networks per (host, type, state), from the pre-serialised summaries (one HGETALL, no record parsed): what
 * /metrics shows as `netforge_networks`. A record written before summaries existed is not counted until its
 * worker rewrites it (every reconcile round does).
 */
export async function countNetworks(redis: Redis, keys: Keys): Promise<{ host: string; type: string; state: string; count: number }[]> {
  const counts = new Map<string, { host: string; type: string; state: string; count: number }>();
  for (const [name, raw] of Object.entries(await redis.hgetall(keys.networkSummaries))) {
    const e = decodeSummaryEntry(name, raw);
    if (!e) continue;
    const k = JSON.stringify([e.host, e.type, e.state]);
    const c = counts.get(k) ?? { host: e.host, type: e.type, state: e.state, count: 0 };
    c.count += 1;
    counts.set(k, c);
  }
  return [...counts.values()];
}

/** A network's traffic counters for /metrics: the edge's totals and, where its host counts so, by peer. */
export interface NetworkTrafficRow {
  network: string;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  peers?: { outside: TrafficCounts; network: TrafficCounts };
}

/** Every indexed network's traffic counters as its worker last published them (/metrics), MGET in chunks. */
export async function readNetworkTraffic(redis: Redis, keys: Keys): Promise<NetworkTrafficRow[]> {
  const names = await redis.zrange(keys.networks, 0, -1);
  const out: NetworkTrafficRow[] = [];
  for (let i = 0; i < names.length; i += 500) {
    const chunk = names.slice(i, i + 500);
    const raws = await redis.mget(chunk.map((n) => keys.networkStats(n)));
    raws.forEach((raw, j) => {
      if (!raw) return;
      const t = (JSON.parse(raw) as NetworkStats).traffic;
      if (t)
        out.push({
          network: chunk[j] as string,
          bytesIn: t.bytesIn,
          bytesOut: t.bytesOut,
          packetsIn: t.packetsIn,
          packetsOut: t.packetsOut,
          ...(t.peers ? { peers: { outside: t.peers.outside, network: t.peers.network } } : {}),
        });
    });
  }
  return out;
}
