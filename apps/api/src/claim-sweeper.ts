/**
 * Releases name/subnet claims that nothing holds any more (see core's
 * claim-release): run by the API, which sees every host, including one that
 * never comes back and whose worker therefore cannot clean up after it.
 * Every API instance may run it; each release is atomic, so they do not race.
 * The same pass drops index entries of expired jobs, so listings stay clean
 * even when no new job is written for a while.
 */
import { dropExpiredJobEntries, type Keys, type Redis, sweepClaims } from "@netforge/core/store";
import type { Logger } from "pino";
import type { ApiConfig } from "./context";

export class ClaimSweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<string[]> | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly config: ApiConfig,
    private readonly logger: Logger,
  ) {}

  /** Sweep now (one pass at a time); returns the names released. */
  sweep(): Promise<string[]> {
    this.running ??= (async () => {
      while ((await dropExpiredJobEntries(this.redis, this.keys)) > 0) {}
      return sweepClaims(this.redis, this.keys, {
        graceMs: this.config.claimGraceMs,
        offlineHostGraceMs: this.config.claimOfflineHostGraceMs,
      });
    })()
      .then((released) => {
        if (released.length > 0) this.logger.warn({ released }, "released claims nothing held");
        return released;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  start(): void {
    if (this.config.claimSweepIntervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, "claim sweep failed; next pass retries"));
    }, this.config.claimSweepIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }
}
