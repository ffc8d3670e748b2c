/** Per-suite access to the test run's private Redis with a unique key prefix. */
import { randomBytes } from "node:crypto";
import { connectRedis, makeKeys, type Keys, type Redis } from "@netforge/core";

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
export function testRedis(label?: string): { redis: Redis; keys: Keys; prefix: string; url: string; cleanup(): Promise<void> } {
  const url = testRedisUrl();
  const prefix = uniquePrefix(label);
  const redis = connectRedis(url);
  return {
    redis,
    keys: makeKeys(prefix),
    prefix,
    url,
    async cleanup() {
      let cursor = "0";
      do {
        const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        cursor = next;
        if (batch.length > 0) await redis.del(...batch);
      } while (cursor !== "0");
      redis.disconnect();
    },
  };
}
