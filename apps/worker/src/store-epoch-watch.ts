/**
 * The worker's half of the store epoch (core's store/store-epoch.ts, ADR 0047): notice within a second that
 * Redis lost its data, and re-publish this host's whole part of the index at once, with the door held until it
 * has (instead of waiting for the next reconcile round, up to 30 s, during which claims were missing).
 */
import { checkStoreEpoch, markPublished } from "@netforge/core/store";
import type { HostContext } from "./context";

export class StoreEpochWatch {
  /** The epoch this worker has published its whole part under (null: not yet). */
  private known: string | null = null;
  /** The epoch a re-publish in progress writes under. */
  private pending: string | null = null;
  private inFlight: Promise<void> | null = null;

  constructor(
    private readonly host: Pick<HostContext, "redis" | "keys" | "hostId" | "logger">,
    /** Re-publish this host's whole part (reconcile + host record). */
    private readonly republish: () => Promise<void>,
    private readonly settleMs?: number,
  ) {}

  /** The epoch host records are written under now (a re-publish's own, else the last published one). */
  current(): string | null {
    return this.pending ?? this.known;
  }

  /** At start: publish everything under the store's epoch (created if the store has none). */
  start(): Promise<void> {
    return this.once(true);
  }

  /** The periodic check (and after a refused host-record write or a lease found gone): re-publish if the epoch changed. */
  check(): Promise<void> {
    return this.once(false);
  }

  private once(starting: boolean): Promise<void> {
    this.inFlight ??= this.run(starting).finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async run(starting: boolean): Promise<void> {
    const { redis, keys, hostId, logger } = this.host;
    const found = await checkStoreEpoch(redis, keys, hostId, {
      ...(this.settleMs !== undefined ? { settleMs: this.settleMs } : {}),
      fresh: starting,
    });
    if (!starting && found.id === this.known) return;
    if (!starting && found.published === found.id) {
      this.known = found.id;
      return;
    }
    if (!starting) {
      logger.warn(
        { epoch: found.id, previous: this.known, created: found.created },
        "the store lost its data (its epoch changed): re-publishing this host's networks, claims and record now",
      );
    }
    const t0 = performance.now();
    this.pending = found.id;
    try {
      await this.republish();
      if (await markPublished(redis, keys, hostId, found.id)) this.known = found.id;
    } finally {
      this.pending = null;
    }
    if (!starting) logger.info({ epoch: found.id, ms: Math.round(performance.now() - t0) }, "re-published after the store reset");
  }
}
