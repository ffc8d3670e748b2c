/**
 * Fencing: a job may change its host, and write its outcome, only while it
 * holds its network's lock. The lock is granted once but can be lost later
 * (Redis stalled past the TTL, the key lost, another job took it after it
 * expired), so the lock is confirmed against Redis right before each host
 * step (JobReporter.step), each undo, and each final write. A job that finds
 * it lost stops with a retryable error; see the processor for what follows.
 */
import { AppError, type HeldLock } from "@netforge/core";

/** The words every lost-lock error and log line carries (operators and tests look for them). */
export const LOCK_LOST = "lost the network lock";

/** Throws a lost-lock error unless the lock is confirmed held; `before` names what was about to happen. */
export type Fence = (before: string) => Promise<void>;

export function lockLostError(network: string, before: string): AppError {
  return new AppError(
    "INTERNAL",
    `${LOCK_LOST} of '${network}' before ${before}: another job may be working on it, so this attempt stopped and will be retried`,
    { network, lockLost: true, before },
    { retryable: true },
  );
}

export function isLockLost(err: unknown): boolean {
  return err instanceof AppError && err.details.lockLost === true;
}

/**
 * A fence over one held lock: the renewal flag, then one compare-and-renew
 * round trip to Redis, then the flag again: after an answer that took a whole TTL
 * to come back, we cannot tell how much of the renewed TTL is left.
 */
export function fenceFor(lock: HeldLock, network: string): Fence {
  return async (before) => {
    if (!lock.valid || !(await lock.confirm()) || !lock.valid) throw lockLostError(network, before);
  };
}
