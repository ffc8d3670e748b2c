/** Per-suite access to the test run's private Redis with a unique key prefix. */
import { randomBytes } from "node:crypto";
import { connectRedis, makeKeys, type Keys, type Redis } from "@netforge/core/store";

/** The run's Redis URL (set by global setup). */
export function testRedisUrl(): string {
  const url = process.env.NETFORGE_TEST_REDIS_URL;
  if (!url) throw new Error("NETFORGE_TEST_REDIS_URL is not set: run tests through vitest (global setup starts Redis)");
  return url;
}

/** A unique prefix for one suite, so suites never see each other's keys. */
export function uniquePrefix(label = "t"): string {
  return `nftest-${label}-${randomBytes(4).toString("hex")}`;
}

/** A client plus keys under a fresh prefix; `cleanup` deletes only keys under that prefix. */
export function testRedis(
  label?: string,
  redisUrl?: string,
): { redis: Redis; keys: Keys; prefix: string; url: string; cleanup(): Promise<void> } {
  const url = redisUrl ?? testRedisUrl();
  const prefix = uniquePrefix(label);
  const redis = connectRedis(url);
  return {
    redis,
    keys: makeKeys(prefix),
    prefix,
    url,
    async cleanup() {
      await deleteKeysUnder(redis, prefix);
      redis.disconnect();
    },
  };
}

/** Every key matching a glob (SCAN, never KEYS: the Redis may be shared). */
export async function scanKeys(redis: Redis, glob: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", glob, "COUNT", 1000);
    cursor = next;
    out.push(...batch);
  } while (cursor !== "0");
  return out;
}

/** Delete only the keys under one prefix (never FLUSHALL/FLUSHDB a Redis we may share). */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<void> {
  const keys = await scanKeys(redis, `${prefix}:*`);
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
}
