/** The host registry: each worker's heartbeat and inventory. */
import type { Redis } from "ioredis";
import { HOST_OFFLINE_AFTER_MS, type HostRecord, type HostView } from "../schemas/host";
import type { Keys } from "./keys";

/** Store a host's record (heartbeat + inventory). */
export async function putHost(redis: Redis, keys: Keys, rec: HostRecord): Promise<void> {
  await redis.multi().set(keys.host(rec.id), JSON.stringify(rec)).sadd(keys.hosts, rec.id).exec();
}

/** One host record, or null. */
export async function getHost(redis: Redis, keys: Keys, id: string): Promise<HostRecord | null> {
  const raw = await redis.get(keys.host(id));
  return raw ? (JSON.parse(raw) as HostRecord) : null;
}

/** All registered hosts, sorted by id. */
export async function listHosts(redis: Redis, keys: Keys): Promise<HostRecord[]> {
  const ids = (await redis.smembers(keys.hosts)).sort();
  if (ids.length === 0) return [];
  const raws = await redis.mget(ids.map((id) => keys.host(id)));
  return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as HostRecord);
}

/** Online when the last heartbeat is recent enough and the worker has not shut down. */
export function hostStatus(rec: HostRecord, now = Date.now()): "online" | "offline" {
  if (rec.stoppedAt) return "offline";
  return now - Date.parse(rec.lastSeenAt) <= HOST_OFFLINE_AFTER_MS ? "online" : "offline";
}

/** Public view of a host record. */
export function toHostView(rec: HostRecord, now = Date.now()): HostView {
  const { occupied: _o, startedAt: _s, stoppedAt: _x, ...rest } = rec;
  return { ...rest, status: hostStatus(rec, now) };
}

/**
 * Mark a host offline at once (a worker shutting down cleanly). An explicit
 * stoppedAt rather than a backdated lastSeenAt: clients (list-hosts, the
 * HOST_UNAVAILABLE message) keep seeing when the host was really last seen,
 * instead of 1970-01-01.
 */
export async function markHostOffline(redis: Redis, keys: Keys, id: string): Promise<void> {
  const rec = await getHost(redis, keys, id);
  if (!rec) return;
  const now = new Date().toISOString();
  rec.lastSeenAt = now;
  rec.stoppedAt = now;
  await redis.set(keys.host(id), JSON.stringify(rec));
}
