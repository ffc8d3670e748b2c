/**
 * A per-network lock in Redis: SET NX PX with a random token, renewed while
 * held, released only by its owner (compare-and-delete). If the holder dies,
 * the lock expires after its TTL and the next job proceeds.
 *
 * Being granted a lock once says nothing about holding it later (Redis
 * stalled past the TTL, the key lost, someone else took it after expiry), so
 * the holder asks `confirm()` right before each thing that must only be done
 * under the lock. Once lost, a lock stays lost: a new `tryLock` is a new lock.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { evalScript } from "./scripts";

/** Extend the TTL only when the key still holds our token (1), else 0: gone or someone else's. */
const RENEW_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * What a script that renews a lock inside its own work needs: the lock's key (among its KEYS), the token it
 * must still hold and the TTL to renew it to (see FENCED_COMMIT_EVENT_LUA).
 */
export interface LockFenceArgs {
  key: string;
  token: string;
  ttlMs: number;
}

/** A held lock. */
export interface HeldLock {
  key: string;
  token: string;
  /** Stop renewing and delete the lock if still ours. */
  release(): Promise<void>;
  /**
   * False once the lock is known lost: a renewal found the key gone or
   * another token, or no renewal has succeeded for a whole TTL (Redis
   * stalled or unreachable: it may have expired). True does not prove the
   * lock is held right now; `confirm()` asks Redis.
   */
  readonly valid: boolean;
  /**
   * Ask Redis now whether the key still holds our token, extending the TTL
   * when it does (compare-and-renew in one script). False when lost, or when
   * Redis could not answer (not provably held). Marks the lock lost on false.
   */
  confirm(): Promise<boolean>;
  /**
   * `confirm()` done by the caller's own script, together with a write: `script` must, in one atomic
   * script, renew the key to `ttlMs` and do its write only when the key holds `token`, and resolve true
   * exactly when it did (false: nothing written). Answers what the script found: false marks the lock
   * lost; true extends what `valid` counts on, as a renewal does. Not sent at all (false) once the lock is
   * known lost. A script that throws (Redis unreachable) rethrows: its write may or may not have been
   * applied, and the lock is left for `confirm()` to settle.
   */
  renewWith(script: (lock: LockFenceArgs) => Promise<boolean>): Promise<boolean>;
}

/** Try to take the lock once; null when someone else holds it. */
export async function tryLock(redis: Redis, key: string, ttlMs = 30_000): Promise<HeldLock | null> {
  const token = randomBytes(12).toString("hex");
  const sentAt = Date.now();
  const ok = await redis.set(key, token, "PX", ttlMs, "NX");
  if (ok !== "OK") return null;
  return heldLock(redis, key, token, ttlMs, sentAt, true);
}

/**
 * Work done under another run's lock (a member host's part of an overlay job, under the coordinating job's
 * network lock): the same compare-and-renew with that run's token, so the work stops the moment that run no
 * longer holds the lock (finished, failed, lost it). Never taken and never released here: the owner does.
 * Answers null when the key does not hold the token now (the owner is gone: nothing may be done under it).
 */
export async function borrowLock(redis: Redis, key: string, token: string, ttlMs = 30_000): Promise<HeldLock | null> {
  const sentAt = Date.now();
  if ((await evalScript(redis, RENEW_LUA, 1, key, token, String(ttlMs))) !== 1) return null;
  return heldLock(redis, key, token, ttlMs, sentAt, false);
}

/**
 * A lock this run may work under, from the moment a SET or renewal holding `token` was sent. `owned`: taken by
 * this run, so renewed in the background (every third of the TTL) and deleted on release; borrowed, it is only
 * checked (by confirm and the fenced writes) and release just stops using it.
 */
function heldLock(redis: Redis, key: string, token: string, ttlMs: number, sentAt: number, owned: boolean): HeldLock {
  let lost = false;
  // When the key expires at the latest if no renewal lands: counted from when a successful SET/renewal
  // was SENT (Redis may have applied it any time after), so it never over-estimates.
  let expiresBy = sentAt + ttlMs;
  let timer: NodeJS.Timeout | null = null;
  const markLost = () => {
    lost = true;
    if (timer) clearInterval(timer);
  };
  const renewWith = async (script: (lock: LockFenceArgs) => Promise<boolean>): Promise<boolean> => {
    if (lost) return false;
    const at = Date.now();
    if (!(await script({ key, token, ttlMs }))) {
      markLost();
      return false;
    }
    if (!lost) expiresBy = Math.max(expiresBy, at + ttlMs);
    return true;
  };
  const renew = async (): Promise<boolean> =>
    (await renewWith(async (l) => (await evalScript(redis, RENEW_LUA, 1, l.key, l.token, String(l.ttlMs))) === 1)) && !lost;
  if (owned) {
    timer = setInterval(
      () => {
        // A failed renewal (Redis unreachable) does not prove the lock lost; `expiresBy` running out does.
        renew().catch(() => undefined);
      },
      Math.max(100, Math.floor(ttlMs / 3)),
    );
    timer.unref();
  }
  return {
    key,
    token,
    get valid() {
      return !lost && Date.now() < expiresBy;
    },
    async confirm() {
      try {
        return await renew();
      } catch {
        // Not provably ours: treat as lost (release() still deletes it if it was ours after all).
        markLost();
        return false;
      }
    },
    renewWith,
    async release() {
      markLost();
      // A borrowed lock is its owner's to release: only stop using it.
      if (owned) await evalScript(redis, RELEASE_LUA, 1, key, token);
    },
  };
}
