import { describe, expect, it } from "vitest";
import { TokenBucketRateLimiter } from "./rate-limiter";

describe("TokenBucketRateLimiter", () => {
  it("allows a burst of the per-second rate, then refuses with a Retry-After", () => {
    let now = 1_000_000;
    const l = new TokenBucketRateLimiter(3, 3, () => now);
    expect([l.take("a"), l.take("a"), l.take("a")].every((d) => d.allowed)).toBe(true);
    const d = l.take("a");
    expect(d).toEqual({ allowed: false, retryAfterSeconds: 1 });
    now += 400; // 1.2 tokens refilled
    expect(l.take("a").allowed).toBe(true);
    expect(l.take("a").allowed).toBe(false);
  });
  it("keeps buckets per key", () => {
    const l = new TokenBucketRateLimiter(1, 1, () => 0);
    expect(l.take("a").allowed).toBe(true);
    expect(l.take("a").allowed).toBe(false);
    expect(l.take("b").allowed).toBe(true);
  });
  it("rounds Retry-After up to whole seconds", () => {
    const l = new TokenBucketRateLimiter(0.25, 1, () => 0);
    expect(l.take("a").allowed).toBe(true);
    expect(l.take("a")).toEqual({ allowed: false, retryAfterSeconds: 4 });
  });
  it("0 means no limit", () => {
    const l = new TokenBucketRateLimiter(0);
    for (let i = 0; i < 1000; i++) expect(l.take("a").allowed).toBe(true);
  });
});

describe("TokenBucketRateLimiter.check and the key bound", () => {
  it("check does not spend", () => {
    const l = new TokenBucketRateLimiter(1, 2, () => 0);
    expect(l.check("a").allowed).toBe(true);
    expect(l.take("a").allowed).toBe(true);
    expect(l.check("a").allowed).toBe(true);
    expect(l.take("a").allowed).toBe(true);
    expect(l.check("a")).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(l.size).toBe(1);
    expect(l.check("never-seen").allowed).toBe(true);
    expect(l.size).toBe(1);
  });
  it("keeps at most maxKeys buckets, dropping refilled ones first", () => {
    let now = 0;
    const l = new TokenBucketRateLimiter(1, 1, () => now, 4);
    for (const k of ["a", "b", "c", "d"]) l.take(k);
    now = 500; // nothing refilled yet: the oldest half goes
    l.take("e");
    expect(l.size).toBe(3);
    expect(l.check("c").allowed).toBe(false);
    now = 10_000; // everything refilled: all dropped before the new one
    l.take("f");
    l.take("g");
    expect(l.size).toBeLessThanOrEqual(4);
  });
});
