/**
 * VXLAN id allocation for overlays against a real Redis: the lowest free id of the range, one id per network
 * (a repeat gets the one it holds), never two networks with one id under concurrent claims from separate
 * connections, a clear refusal when the range is full, released ids reused, and the re-assertion a host makes
 * after a store reset reporting an id another network holds.
 */
import { assertVni, claimVni, parseVniRange, releaseVni, vniOf } from "@netforge/core/store";
import { afterAll, describe, expect, it } from "vitest";
import { testRedis } from "./support/redis";

const t = testRedis("vni");
afterAll(async () => {
  await t.cleanup();
});

describe("VNI claims", () => {
  it("the lowest free id of the range; a network asking again gets the one it holds", async () => {
    const range = { first: 100, last: 199 };
    expect(await claimVni(t.redis, t.keys, "a", range)).toBe(100);
    expect(await claimVni(t.redis, t.keys, "b", range)).toBe(101);
    expect(await claimVni(t.redis, t.keys, "a", range)).toBe(100);
    expect(await releaseVni(t.redis, t.keys, "a")).toBe(true);
    expect(await releaseVni(t.redis, t.keys, "a")).toBe(false);
    expect(await claimVni(t.redis, t.keys, "c", range)).toBe(100);
    expect(await vniOf(t.redis, t.keys, "c")).toBe(100);
  });

  it("200 concurrent claims from 8 connections: 200 distinct ids, no id twice", async () => {
    const range = { first: 1000, last: 1999 };
    const conns = Array.from({ length: 8 }, () => t.redis.duplicate());
    try {
      const ids = await Promise.all(
        Array.from({ length: 200 }, (_, i) => claimVni(conns[i % conns.length] as typeof t.redis, t.keys, `net-${i}`, range)),
      );
      expect(new Set(ids).size).toBe(200);
      expect(Math.min(...ids)).toBe(1000);
      expect(Math.max(...ids)).toBe(1199);
    } finally {
      for (const c of conns) c.disconnect();
    }
  });

  it("a full range is refused, naming it; a released id is taken again", async () => {
    const range = { first: 5000, last: 5001 };
    await claimVni(t.redis, t.keys, "f1", range);
    await claimVni(t.redis, t.keys, "f2", range);
    const err = await claimVni(t.redis, t.keys, "f3", range).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_STATE", details: { range: "5000-5001" } });
    await releaseVni(t.redis, t.keys, "f1");
    expect(await claimVni(t.redis, t.keys, "f3", range)).toBe(5000);
  });

  it("re-asserting after a reset: an id another network holds is a conflict, never taken", async () => {
    expect(await assertVni(t.redis, t.keys, "r1", 7000)).toBeNull();
    expect(await vniOf(t.redis, t.keys, "r1")).toBe(7000);
    expect(await assertVni(t.redis, t.keys, "r2", 7000)).toBe("r1");
    expect(await vniOf(t.redis, t.keys, "r2")).toBeNull();
  });

  it("a VNI range is parsed strictly", () => {
    expect(parseVniRange("10000-19999")).toEqual({ first: 10000, last: 19999 });
    expect(() => parseVniRange("0-10")).toThrow(/1 to 16777215/);
    expect(() => parseVniRange("20-10")).toThrow(/above the last/);
    expect(() => parseVniRange("10")).toThrow(/first-last/);
    expect(() => parseVniRange("1-16777216")).toThrow(/16777215/);
  });
});
