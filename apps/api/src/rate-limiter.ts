/**
 * Token buckets per key, refilled continuously, so short bursts up to the
 * burst size pass and a steady flood is held to the rate. Used per token
 * (requests) and per client address (failed authentications). In-process on
 * purpose: each API replica limits its own share, which needs no Redis round
 * trip on every request.
 */

/** The outcome of one request against the limit. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Buckets kept before full ones are dropped (a full bucket is the same as none). */
const DEFAULT_MAX_KEYS = 100_000;

export class TokenBucketRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** `perSecond` 0 turns the limiter off. */
  constructor(
    private readonly perSecond: number,
    private readonly burst: number = perSecond,
    private readonly now: () => number = Date.now,
    private readonly maxKeys: number = DEFAULT_MAX_KEYS,
  ) {}

  /** Spend one token of `key`'s bucket if there is one. */
  take(key: string): RateDecision {
    if (this.perSecond <= 0) return { allowed: true };
    const b = this.refilled(key);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true };
    }
    return this.refusal(b);
  }

  /** Whether `key` has a token left, without spending it. */
  check(key: string): RateDecision {
    if (this.perSecond <= 0) return { allowed: true };
    const existing = this.buckets.get(key);
    if (!existing) return { allowed: true };
    const b = this.refilled(key);
    return b.tokens >= 1 ? { allowed: true } : this.refusal(b);
  }

  /** Buckets held right now (tests, and the memory bound). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string): Bucket {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      b = { tokens: this.burst, updatedAt: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.updatedAt) / 1000) * this.perSecond);
    b.updatedAt = now;
    return b;
  }

  private refusal(b: Bucket): RateDecision {
    const waitMs = ((1 - b.tokens) / this.perSecond) * 1000;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** Drop buckets that have refilled (they hold no state); if that is not enough, the oldest half. */
  private prune(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.updatedAt) / 1000) * this.perSecond >= this.burst) this.buckets.delete(k);
    }
    if (this.buckets.size < this.maxKeys) return;
    let drop = Math.ceil(this.buckets.size / 2);
    for (const k of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(k);
    }
  }
}
