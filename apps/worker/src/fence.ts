/**
 * Fencing: a job may change its host, and write its outcome, only while it
 * holds its network's lock. The lock is granted once but can be lost later
 * (Redis stalled past the TTL, the key lost, another job took it after it
 * expired), so the lock is confirmed against Redis right before each host
 * step (JobReporter.step), each undo, and each final write. For a step and a
 * final write the check is part of the write's own script (Fence.write: one
 * round trip, and nothing is written unless the lock is held). A job that
 * finds it lost stops with a retryable error; see the processor for what follows.
 */
import { AppError } from "@netforge/core/contract";
import type { HeldLock, LockFenceArgs } from "@netforge/core/store";

/** The words every lost-lock error and log line carries (operators and tests look for them). */
export const LOCK_LOST = "lost the network lock";

/**
 * Throws a lost-lock error unless the lock is confirmed held; `before` names what was about to happen.
 * `write` is the same check done by a write's own script, in the write's round trip (see below).
 */
export type Fence = ((before: string) => Promise<void>) & {
  /**
   * Fence and write in one round trip: `script` renews the lock and writes only while it still holds this
   * run's token, atomically (e.g. core's commitFencedJobEvent), and answers whether it did. Throws the
   * lost-lock error when it did not (nothing written). With `thenRecheck` (a host step follows), also when
   * the answer took so long that the lock may have expired since (the write was made under the lock, but
   * what follows must not run); without it (an outcome: nothing follows) a write that was made stands.
   */
  write(before: string, script: (lock: LockFenceArgs) => Promise<boolean>, opts: { thenRecheck: boolean }): Promise<void>;
};

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
 * to come back, we cannot tell how much of the renewed TTL is left. Its
 * `write` does the same with a write's own compare-and-renew script.
 */
export function fenceFor(lock: HeldLock, network: string): Fence {
  const check = async (before: string) => {
    if (!lock.valid || !(await lock.confirm()) || !lock.valid) throw lockLostError(network, before);
  };
  return Object.assign(check, {
    async write(before: string, script: (l: LockFenceArgs) => Promise<boolean>, opts: { thenRecheck: boolean }) {
      if (!lock.valid || !(await lock.renewWith(script)) || (opts.thenRecheck && !lock.valid)) throw lockLostError(network, before);
    },
  });
}
