/**
 * The host-id lease: one running worker owns a host id. The key holds the
 * owner (an instance id the worker makes at start, its pid, hostname and start
 * time) with a TTL; it is set NX at start, renewed only while it still holds
 * the owner's exact value (compare-and-pexpire), taken again when it vanished
 * (Redis emptied, or paused past the TTL), and deleted on clean shutdown only
 * while ours (compare-and-delete). Machine ids and hostnames are not unique
 * (sandbox hosts share one machine), so the instance id is what tells owners apart.
 */
import type { Redis } from "ioredis";
import type { Keys } from "./keys";
import { evalScript } from "./scripts";

/** Who holds a host id. */
export interface HostLeaseOwner {
  instanceId: string;
  pid: number;
  hostname: string;
  startedAt: string;
}

/** What a try to take or renew the lease found. */
export type HostLeaseAnswer =
  | { ok: true; retaken?: boolean }
  /** Held by someone else: its owner (null when the value is not an owner record) and the TTL left (-1: none). */
  | { ok: false; owner: HostLeaseOwner | null; raw: string; ttlLeftMs: number };

/** The lease key of a host id (next to its record). */
export const hostLeaseKey = (keys: Keys, hostId: string): string => `${keys.host(hostId)}:lease`;

/** SET NX PX, else the holder's value and PTTL. */
const ACQUIRE_LUA = `if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {1} end
return {0, redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1])}`;
/** Renew while ours (1); take again when gone (2); else the holder's value and PTTL. */
const RENEW_LUA = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return {1} end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return {2} end
return {0, v, redis.call('PTTL', KEYS[1])}`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The stored value of an owner (also what renewals and the release compare against). */
export function encodeHostLeaseOwner(owner: HostLeaseOwner): string {
  return JSON.stringify({ instanceId: owner.instanceId, pid: owner.pid, hostname: owner.hostname, startedAt: owner.startedAt });
}

function parseOwner(raw: string): HostLeaseOwner | null {
  try {
    const o = JSON.parse(raw) as Partial<HostLeaseOwner>;
    return typeof o.instanceId === "string" ? (o as HostLeaseOwner) : null;
  } catch {
    return null;
  }
}

function answer(r: unknown): HostLeaseAnswer {
  const [code, raw, ttl] = r as [number, string?, number?];
  if (code === 1) return { ok: true };
  if (code === 2) return { ok: true, retaken: true };
  return { ok: false, owner: parseOwner(raw ?? ""), raw: raw ?? "", ttlLeftMs: Number(ttl ?? -1) };
}

/** Take the lease of `hostId` for `owner` if nobody holds it. */
export async function acquireHostLease(
  redis: Redis,
  keys: Keys,
  hostId: string,
  owner: HostLeaseOwner,
  ttlMs: number,
): Promise<HostLeaseAnswer> {
  return answer(await evalScript(redis, ACQUIRE_LUA, 1, hostLeaseKey(keys, hostId), encodeHostLeaseOwner(owner), String(ttlMs)));
}

/** Extend the lease while `owner` holds it; take it again if it is gone; else say who holds it. */
export async function renewHostLease(
  redis: Redis,
  keys: Keys,
  hostId: string,
  owner: HostLeaseOwner,
  ttlMs: number,
): Promise<HostLeaseAnswer> {
  return answer(await evalScript(redis, RENEW_LUA, 1, hostLeaseKey(keys, hostId), encodeHostLeaseOwner(owner), String(ttlMs)));
}

/** Delete the lease if `owner` still holds it (clean shutdown); true when it did. */
export async function releaseHostLease(redis: Redis, keys: Keys, hostId: string, owner: HostLeaseOwner): Promise<boolean> {
  return (await evalScript(redis, RELEASE_LUA, 1, hostLeaseKey(keys, hostId), encodeHostLeaseOwner(owner))) === 1;
}

/** The current holder of a host id and its TTL left, or null when the id is free. */
export async function readHostLease(
  redis: Redis,
  keys: Keys,
  hostId: string,
): Promise<{ owner: HostLeaseOwner | null; raw: string; ttlLeftMs: number } | null> {
  const key = hostLeaseKey(keys, hostId);
  const [[, raw], [, ttl]] = (await redis.multi().get(key).pttl(key).exec()) as [[unknown, string | null], [unknown, number]];
  return raw === null ? null : { owner: parseOwner(raw), raw, ttlLeftMs: ttl };
}

/** One line naming a lease's holder, for refusals and logs. */
export function describeHostLeaseOwner(owner: HostLeaseOwner | null, raw: string): string {
  if (!owner) return `an unknown holder (value ${JSON.stringify(raw.slice(0, 80))})`;
  return `hostname ${owner.hostname}, pid ${owner.pid}, instance ${owner.instanceId}, started ${owner.startedAt}`;
}
