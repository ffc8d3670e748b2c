/**
 * Per-token request rate limit: a token bucket per key, refilled
 * continuously, so short bursts up to the per-second rate pass and a steady
 * flood is held to that rate. In-process on purpose: each API replica limits
 * its own share, which needs no Redis round trip on every request.
 */

/** The outcome of one request against the limit. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class TokenBucketRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** `perSecond` 0 turns the limiter off. */
  constructor(
    private readonly perSecond: number,
    private readonly burst: number = perSecond,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spend one token of `key`'s bucket if there is one. */
  take(key: string): RateDecision {
    if (this.perSecond <= 0) return { allowed: true };
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, updatedAt: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.updatedAt) / 1000) * this.perSecond);
    b.updatedAt = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { allowed: true };
    }
    const waitMs = ((1 - b.tokens) / this.perSecond) * 1000;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }
}
