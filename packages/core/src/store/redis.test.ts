import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { confirmedOnReplica, isRedisUnavailableError, isReplicatedRedis, redisOptionsFromUrl } from "./redis";

describe("redisOptionsFromUrl", () => {
  it("reads a Sentinel URL: every sentinel, the master name, db, passwords", () => {
    const o = redisOptionsFromUrl("redis-sentinel://:s3cret@10.0.0.1:26380,10.0.0.2,[fd00::3]:26382/my-master?db=2&sentinelPassword=sp");
    expect(o.sentinels).toEqual([
      { host: "10.0.0.1", port: 26380 },
      { host: "10.0.0.2", port: 26379 },
      { host: "fd00::3", port: 26382 },
    ]);
    expect(o.name).toBe("my-master");
    expect(o.db).toBe(2);
    expect(o.password).toBe("s3cret");
    expect(o.sentinelPassword).toBe("sp");
  });

  it("reconnects on READONLY (a demoted primary) without re-sending the command", () => {
    const o = redisOptionsFromUrl("redis-sentinel://127.0.0.1:26380/m");
    const onError = o.reconnectOnError as (e: Error) => boolean | 1 | 2;
    expect(onError(new Error("READONLY You can't write against a read only replica."))).toBe(1);
    expect(onError(new Error("ERR wrong number of arguments"))).toBe(false);
  });

  it("refuses a Sentinel URL without a master name or with a bad port, saying what is expected", () => {
    expect(() => redisOptionsFromUrl("redis-sentinel://127.0.0.1:26379")).toThrow(/master name/);
    expect(() => redisOptionsFromUrl("redis-sentinel://127.0.0.1:99999/m")).toThrow(/bad sentinel address/);
  });

  it("keeps plain and unix URLs as they were", () => {
    expect(redisOptionsFromUrl("redis://127.0.0.1:6390/3")).toMatchObject({ host: "127.0.0.1", port: 6390, db: 3 });
    expect(redisOptionsFromUrl("unix:///tmp/r.sock?db=1")).toEqual({ path: "/tmp/r.sock", db: 1 });
  });
});

describe("replication helpers", () => {
  it("a single Redis is not replicated and needs no replica confirmation (no command sent)", async () => {
    const single = new Redis({ lazyConnect: true, port: 1 });
    expect(isReplicatedRedis(single)).toBe(false);
    expect(await confirmedOnReplica(single, 100)).toBe(true);
    const ha = new Redis({ lazyConnect: true, sentinels: [{ host: "127.0.0.1", port: 1 }], name: "m" });
    expect(isReplicatedRedis(ha)).toBe(true);
    single.disconnect();
    ha.disconnect();
  });

  it("failover answers count as 'unavailable' (503), not as bugs", () => {
    for (const m of [
      "READONLY You can't write against a read only replica.",
      "All sentinels are unreachable. Retrying from scratch after 10ms.",
    ])
      expect(isRedisUnavailableError(new Error(m))).toBe(true);
  });
});
