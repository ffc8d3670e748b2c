/**
 * The addresses the API is reached on, published by each API instance so
 * workers can protect them (a subnet containing the API's address would cut
 * the host off from it). Each entry lives until its score (ms); an instance
 * renews its own well before that, so addresses of stopped instances fade.
 */
import type { Redis } from "ioredis";
import type { Keys } from "./keys";

/** Publish `addresses` as reachable until now + ttlMs, and drop entries whose time has passed. */
export async function publishApiAddresses(redis: Redis, keys: Keys, addresses: readonly string[], ttlMs: number): Promise<void> {
  const now = Date.now();
  const multi = redis.multi().zremrangebyscore(keys.apiAddresses, "-inf", now);
  for (const a of addresses) multi.zadd(keys.apiAddresses, "GT", now + ttlMs, a);
  await multi.exec();
}

/** The API addresses published and not yet expired. */
export async function readApiAddresses(redis: Redis, keys: Keys): Promise<string[]> {
  return redis.zrangebyscore(keys.apiAddresses, Date.now(), "+inf");
}
