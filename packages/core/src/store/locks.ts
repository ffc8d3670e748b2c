/**
 * A per-network lock in Redis: SET NX PX with a random token, renewed while
 * held, released only by its owner (compare-and-delete). If the holder dies,
 * the lock expires after its TTL and the next job proceeds.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

const RENEW_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** A held lock. */
export interface HeldLock {
  key: string;
  token: string;
  /** Stop renewing and delete the lock if still ours. */
  release(): Promise<void>;
  /** True until renewal failed (someone else's lock now, or Redis lost it). */
  readonly valid: boolean;
}

/** Try to take the lock once; null when someone else holds it. */
export async function tryLock(redis: Redis, key: string, ttlMs = 30_000): Promise<HeldLock | null> {
  const token = randomBytes(12).toString("hex");
  const ok = await redis.set(key, token, "PX", ttlMs, "NX");
  if (ok !== "OK") return null;
  let valid = true;
  const timer = setInterval(
    () => {
      redis
        .eval(RENEW_LUA, 1, key, token, String(ttlMs))
        .then((n) => {
          if (n !== 1) valid = false;
        })
        .catch(() => {
          valid = false;
        });
    },
    Math.max(1000, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return {
    key,
    token,
    get valid() {
      return valid;
    },
    async release() {
      clearInterval(timer);
      await redis.eval(RELEASE_LUA, 1, key, token);
    },
  };
}
