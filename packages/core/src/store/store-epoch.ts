/**
 * Knowing at once that the store lost its data (issue 16; ADR 0047).
 *
 * Redis holds the index, the claims and the host records, but libvirt on the hosts is the truth: a Redis
 * emptied (FLUSHALL, a replica promoted with no data) comes back whole only when every worker has re-published
 * its part. Until then the door must not grant a claim (a name or subnet still held on some host would be taken
 * twice). So the store carries an epoch:
 *
 * - `store:epoch` (hash: id, createdAt, settledAt) is created by a worker that finds it missing (at start, or on
 *   its epoch check every second, or when its host-id lease was gone). A reset removes it with everything else.
 * - A worker remembers the epoch it last published under (`store:published[host]`). When the epoch it finds is
 *   not that one and is young (the reset happened while the host was up), it marks itself in `store:rebuilding`
 *   (a sorted set whose scores are expiry times, so a worker that dies mid-rebuild does not block the door for
 *   ever), re-publishes its whole part (reconcile + host record), records the epoch and removes its mark.
 * - The door (`storeSettledLua`, inside the submission's commit script, and a read before preparing) refuses
 *   while the epoch is younger than its settle time (the time every live worker needs to notice: its check
 *   interval with margin) or any host is marked. An absent epoch is a store no worker has written yet: the door
 *   goes on as before (a reset store has no host records either until a worker re-creates the epoch, so a
 *   create finds no host; a worker writes its host record only under the epoch it published under).
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { HOST_OFFLINE_AFTER_MS, type HostRecord } from "../schemas/host";
import type { Keys } from "./keys";
import { evalScript } from "./scripts";

/** How long after its creation an epoch still refuses mutations by default (every live worker has checked by then). */
export const DEFAULT_STORE_SETTLE_MS = 2_000;
/** How often a worker checks the epoch by default (at most; its heartbeat if that is shorter). */
export const STORE_EPOCH_CHECK_MS = 1_000;
/** A rebuild mark expires after this long even if its worker never removes it (it died mid-rebuild). */
export const REBUILD_MARK_TTL_MS = 60_000;

/**
 * Lua (a function taking the epoch key, the rebuilding key, Redis's time in ms and the epoch id the caller saw,
 * '' for none): nil when the store is settled (or has no epoch yet and the caller saw none), else
 * {'REBUILDING', why, ms until the settle time or 0}. An epoch other than the one the caller saw is a reset
 * between the caller's read and now.
 */
export const STORE_SETTLED_LUA = `
local function storeSettled(epochKey, rebuildingKey, now, expected)
  local v = redis.call('HMGET', epochKey, 'id', 'settledAt')
  if expected ~= '' and v[1] ~= expected then return {'REBUILDING', 'reset', '0'} end
  local settledAt = v[2]
  if not settledAt then return nil end
  if now < tonumber(settledAt) then return {'REBUILDING', 'settling', tostring(tonumber(settledAt) - now)} end
  if redis.call('ZCOUNT', rebuildingKey, '(' .. now, '+inf') > 0 then return {'REBUILDING', 'republishing', '0'} end
  return nil
end
`;

const STATE_LUA = `${STORE_SETTLED_LUA}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local r = storeSettled(KEYS[1], KEYS[2], now, '')
if r then return r end
return {'SETTLED', redis.call('HGET', KEYS[1], 'id') or ''}
`;

/**
 * Whether the door may grant claims now: settled (under which epoch; null: none yet), or rebuilding (why, and ms
 * to the settle time; `lost`: the epoch this API process saw is gone and no worker has made a new one yet).
 */
export type StoreState =
  | { kind: "settled"; epoch: string | null }
  | { kind: "rebuilding"; why: "settling" | "republishing" | "lost"; settlesInMs: number };

export async function readStoreState(redis: Redis, keys: Keys): Promise<StoreState> {
  const r = (await evalScript(redis, STATE_LUA, 2, keys.storeEpoch, keys.storeRebuilding)) as string[];
  if (r[0] === "SETTLED") return { kind: "settled", epoch: r[1] ? String(r[1]) : null };
  return { kind: "rebuilding", why: r[1] === "settling" ? "settling" : "republishing", settlesInMs: Number(r[2]) };
}

/* KEYS: epoch, published, rebuilding. ARGV: new id, settle ms, host id, mark ttl ms, young ms, fresh ('1': the
 * caller saw an empty store: no settle time). Answers {id, createdAt, created (0/1), published id or '',
 * marked (0/1)}. */
const ENSURE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local created = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  local settle = tonumber(ARGV[2])
  if ARGV[6] == '1' and redis.call('SCARD', ARGV[7]) == 0 and redis.call('ZCARD', ARGV[8]) == 0 then settle = 0 end
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'createdAt', tostring(now), 'settledAt', tostring(now + settle))
  created = 1
end
local id = redis.call('HGET', KEYS[1], 'id')
local createdAt = tonumber(redis.call('HGET', KEYS[1], 'createdAt'))
local published = redis.call('HGET', KEYS[2], ARGV[3]) or ''
local marked = 0
if published ~= id and now - createdAt <= tonumber(ARGV[5]) then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
  marked = 1
end
return {id, tostring(createdAt), created, published, marked}
`;

/** What a worker found when it checked the epoch. */
export interface EpochCheck {
  id: string;
  createdAt: number;
  /** This call created the epoch (the store was new or had lost its data). */
  created: boolean;
  /** The epoch this host last published under ('' : none in this store). */
  published: string;
  /** This host is now marked as re-publishing (the door waits for it). */
  marked: boolean;
}

/**
 * A worker's check: create the epoch if missing; when this host has not published under it, and it is young
 * enough that the host was up at the reset, mark the host as re-publishing (the caller re-publishes, then
 * calls `markPublished`). `fresh`: the caller found no epoch, no host and no network (a new store, not a
 * reset: no settle time).
 */
export async function checkStoreEpoch(
  redis: Redis,
  keys: Keys,
  hostId: string,
  o: { settleMs?: number; fresh?: boolean } = {},
): Promise<EpochCheck> {
  const r = (await evalScript(
    redis,
    ENSURE_LUA,
    3,
    keys.storeEpoch,
    keys.storePublished,
    keys.storeRebuilding,
    randomBytes(8).toString("hex"),
    String(o.settleMs ?? DEFAULT_STORE_SETTLE_MS),
    hostId,
    String(REBUILD_MARK_TTL_MS),
    String(HOST_OFFLINE_AFTER_MS),
    o.fresh ? "1" : "0",
    keys.hosts,
    keys.networks,
  )) as [string, string, number, string, number];
  return { id: r[0], createdAt: Number(r[1]), created: r[2] === 1, published: r[3], marked: r[4] === 1 };
}

/* KEYS: epoch, published, rebuilding. ARGV: id, host. Records the publish only under the same epoch. */
const PUBLISHED_LUA = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
`;

/** This host has re-published its whole part under epoch `id`: record it and lift its mark (false: the epoch changed meanwhile). */
export async function markPublished(redis: Redis, keys: Keys, hostId: string, id: string): Promise<boolean> {
  return (await evalScript(redis, PUBLISHED_LUA, 3, keys.storeEpoch, keys.storePublished, keys.storeRebuilding, id, hostId)) === 1;
}

/* KEYS: epoch, host, hosts. ARGV: epoch id, record JSON, host id. */
const PUT_HOST_LUA = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
`;

/**
 * A worker's write of its host record, only while the store's epoch is `epochId` (the one it published its
 * index under): after a reset the host shows up again only with its networks. False: not written.
 */
export async function putHostUnderEpoch(redis: Redis, keys: Keys, epochId: string, rec: HostRecord): Promise<boolean> {
  return (
    (await evalScript(redis, PUT_HOST_LUA, 3, keys.storeEpoch, keys.host(rec.id), keys.hosts, epochId, JSON.stringify(rec), rec.id)) === 1
  );
}
