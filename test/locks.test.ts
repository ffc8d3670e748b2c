/** The per-network lock on a real Redis: exclusive, owner-only release, expiry when the holder dies, renewal while held. */
import { borrowLock, tryLock } from "@netforge/core/store";
import { afterAll, describe, expect, it } from "vitest";
import { testRedis } from "./support/redis";

const t = testRedis("locks");
afterAll(() => t.cleanup());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("network lock", () => {
  it("is exclusive and released only by its owner", async () => {
    const key = t.keys.networkLock("a");
    const first = await tryLock(t.redis, key, 5000);
    expect(first).not.toBeNull();
    expect(await tryLock(t.redis, key, 5000)).toBeNull();
    // Someone else's token cannot delete it.
    await t.redis.eval(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
      1,
      key,
      "not-the-token",
    );
    expect(await tryLock(t.redis, key, 5000)).toBeNull();
    await first?.release();
    const second = await tryLock(t.redis, key, 5000);
    expect(second).not.toBeNull();
    await second?.release();
  });

  it("expires when its holder stops renewing (a crashed worker)", async () => {
    const key = t.keys.networkLock("b");
    await t.redis.set(key, "dead-holder", "PX", 300, "NX");
    expect(await tryLock(t.redis, key, 5000)).toBeNull();
    await sleep(400);
    const l = await tryLock(t.redis, key, 5000);
    expect(l).not.toBeNull();
    await l?.release();
  });

  it("is renewed while held, beyond its TTL", async () => {
    const key = t.keys.networkLock("c");
    const l = await tryLock(t.redis, key, 1200);
    await sleep(2500);
    expect(l?.valid).toBe(true);
    expect(await t.redis.get(key)).toBe(l?.token);
    expect(await tryLock(t.redis, key, 1200)).toBeNull();
    await l?.release();
    expect(await t.redis.get(key)).toBeNull();
  });

  it("locks on different networks are independent", async () => {
    const a = await tryLock(t.redis, t.keys.networkLock("d1"));
    const b = await tryLock(t.redis, t.keys.networkLock("d2"));
    expect(a && b).toBeTruthy();
    await a?.release();
    await b?.release();
  });

  it("a borrowed lock (a member's part of a job spanning hosts) holds only while its owner does, and is never released by the borrower", async () => {
    const key = t.keys.networkLock("d");
    const owner = await tryLock(t.redis, key, 5000);
    if (!owner) throw new Error("no lock");
    expect(await borrowLock(t.redis, key, "another-token", 5000)).toBeNull();
    const part = await borrowLock(t.redis, key, owner.token, 5000);
    expect(part).not.toBeNull();
    expect(await part?.confirm()).toBe(true);
    await part?.release();
    // The borrower letting go leaves the owner's lock in place.
    expect(await owner.confirm()).toBe(true);
    expect(await tryLock(t.redis, key, 5000)).toBeNull();
    // The owner finishes: a part borrowing it now (a stale one, delivered late) gets nothing, and one that was
    // running finds it lost before its next step.
    const running = await borrowLock(t.redis, key, owner.token, 5000);
    await owner.release();
    expect(await borrowLock(t.redis, key, owner.token, 5000)).toBeNull();
    expect(await running?.confirm()).toBe(false);
    // The next holder's lock is not the old owner's either.
    const next = await tryLock(t.redis, key, 5000);
    expect(await borrowLock(t.redis, key, owner.token, 5000)).toBeNull();
    await next?.release();
  });
});
