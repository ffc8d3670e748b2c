/**
 * One running worker per host id (core's host lease). At start the worker
 * takes the lease or waits: a lease nobody renews (its worker crashed, kill -9)
 * expires within its TTL and is then taken, so a restart needs no operator;
 * a lease that is renewed while we wait (or that changes owner) belongs to a
 * live worker, and this one refuses to start, naming it and the time left.
 * While running, the lease is renewed every heartbeat; if it vanished (Redis
 * emptied, or paused past the TTL) it is taken again; if another worker holds
 * it by then, this worker stops acting (onLost) and exits.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import {
  acquireHostLease,
  describeHostLeaseOwner,
  type HostLeaseOwner,
  isRedisUnavailableError,
  type Keys,
  type Redis,
  releaseHostLease,
  renewHostLease,
} from "@netforge/core/store";
import type { Logger } from "pino";

/** Default TTL of the host-id lease (NETFORGE_HOST_LEASE_MS): the time a host's heartbeat may be late before it is offline. */
export const DEFAULT_HOST_LEASE_MS = 15_000;

/** The words of the refusal (operators and tests look for them). */
export const HOST_ID_IN_USE = "is owned by another running worker";

export class HostIdInUse extends Error {
  constructor(
    readonly hostId: string,
    readonly owner: HostLeaseOwner | null,
    readonly raw: string,
    readonly ttlLeftMs: number,
  ) {
    const left = ttlLeftMs < 0 ? "no expiry" : `${Math.ceil(ttlLeftMs / 1000)} s left`;
    super(
      `host id '${hostId}' ${HOST_ID_IN_USE} (${describeHostLeaseOwner(owner, raw)}); its lease has ${left} and is being renewed. ` +
        "Give each worker its own HOST_ID, or stop the other worker first.",
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A new owner record for this process. */
export function newLeaseOwner(): HostLeaseOwner {
  return { instanceId: randomBytes(8).toString("hex"), pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
}

/**
 * Take the host id's lease, waiting for a stale one to expire; throws HostIdInUse as soon as the holder is seen
 * alive (its lease renewed, or a new holder). `pollMs`: how often the holder is looked at meanwhile.
 */
export async function takeHostLease(
  redis: Redis,
  keys: Keys,
  hostId: string,
  owner: HostLeaseOwner,
  ttlMs: number,
  logger: Logger,
  pollMs = Math.max(50, Math.min(500, Math.floor(ttlMs / 10))),
): Promise<void> {
  let last: { instanceId: string | null; raw: string; ttlLeftMs: number } | null = null;
  for (;;) {
    const r = await acquireHostLease(redis, keys, hostId, owner, ttlMs);
    if (r.ok) {
      if (last) logger.info({ hostId }, "the previous holder's host-id lease expired; took it");
      return;
    }
    // Renewed (its TTL went up), replaced by another holder, or set with no expiry at all: someone live owns it.
    if (r.ttlLeftMs < 0 || (last && (r.raw !== last.raw || r.ttlLeftMs > last.ttlLeftMs))) {
      throw new HostIdInUse(hostId, r.owner, r.raw, r.ttlLeftMs);
    }
    if (!last) {
      logger.warn(
        { hostId, holder: r.owner ?? r.raw, ttlLeftMs: r.ttlLeftMs },
        `host id '${hostId}' is leased by ${describeHostLeaseOwner(r.owner, r.raw)} (${Math.ceil(r.ttlLeftMs / 1000)} s left): ` +
          "waiting for it to expire (a crashed worker's lease) or be renewed (a live worker: this one then refuses to start)",
      );
    }
    last = { instanceId: r.owner?.instanceId ?? null, raw: r.raw, ttlLeftMs: r.ttlLeftMs };
    await sleep(Math.min(pollMs, r.ttlLeftMs + 5));
  }
}

/**
 * Keeps a taken lease: renews it every `everyMs`, takes it again when it vanished, and calls `onLost` once
 * (renewals stop) when another worker holds it. A renewal that fails for want of Redis proves nothing: the
 * next one decides.
 */
export class HostLeaseKeeper {
  private timer: NodeJS.Timeout | null = null;
  private lost = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly hostId: string,
    readonly owner: HostLeaseOwner,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly onLost: (err: HostIdInUse) => void,
    /** Called when the lease had vanished and was taken again (Redis emptied or paused past the TTL). */
    private readonly onRetaken: () => void = () => undefined,
  ) {}

  get isLost(): boolean {
    return this.lost;
  }

  start(everyMs: number): void {
    const tick = async () => {
      await this.renew().catch((err: unknown) => {
        if (isRedisUnavailableError(err)) this.logger.debug({ err }, "host-id lease not renewed (redis unavailable)");
        else this.logger.warn({ err }, "host-id lease not renewed");
      });
      if (!this.lost && this.timer) this.timer = setTimeout(tick, everyMs);
    };
    this.timer = setTimeout(tick, everyMs);
  }

  /** One renewal (also run by the timer). */
  async renew(): Promise<void> {
    if (this.lost) return;
    const r = await renewHostLease(this.redis, this.keys, this.hostId, this.owner, this.ttlMs);
    if (r.ok) {
      // Info, not warn: the outage that emptied Redis was logged already (once); this is its expected recovery.
      if (r.retaken)
        this.logger.info({ hostId: this.hostId }, "host-id lease was gone (Redis emptied, or paused past its TTL); took it again");
      if (r.retaken) this.onRetaken();
      return;
    }
    this.lost = true;
    this.stop();
    const err = new HostIdInUse(this.hostId, r.owner, r.raw, r.ttlLeftMs);
    this.logger.fatal({ hostId: this.hostId, holder: r.owner ?? r.raw }, `lost the host-id lease: ${err.message}; this worker stops`);
    this.onLost(err);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Stop renewing and delete the lease if still ours (clean shutdown: the next worker may start at once). */
  async release(): Promise<void> {
    this.stop();
    if (!this.lost) await releaseHostLease(this.redis, this.keys, this.hostId, this.owner);
  }
}
