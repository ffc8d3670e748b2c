/**
 * Bounded job state on a real Redis: every job record and event stream has a
 * TTL (unfinished: the long bound, refreshed on each change; finished: the
 * retention), a network's job list keeps its newest NETWORK_JOB_LIST_MAX and
 * expires, and neither job index keeps pointing at expired jobs.
 */
import {
  JOB_RETENTION_SECONDS,
  jobRetention,
  NETWORK_JOB_LIST_MAX,
  newJobRecord,
  putNetworkIps,
  putNetworkIpsAndStats,
  putNetworkStats,
  removeNetwork,
  saveNewJob,
  UNFINISHED_JOB_RETENTION_SECONDS,
} from "@netforge/core/store";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, natBody, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("retention", { claimSweepIntervalMs: 0 });
  await h.addHost("rt1");
});
afterAll(() => h.close());
afterEach(() => {
  delete process.env.NETFORGE_JOB_RETENTION_SECONDS;
  delete process.env.NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS;
});

const save = async (network: string) => {
  const r = newJobRecord({ action: "start-network", network, host: "rt1", payload: { name: network }, steps: ["starting network"] });
  await saveNewJob(h.redis, h.keys, r);
  return r.id;
};

describe("job retention", () => {
  it("an unfinished job expires after the long bound, refreshed on each change; a finished one after the retention", async () => {
    const r = await h.call("create-network", natBody("ttl-net", "10.71.0.0/24"));
    expect(r.status).toBe(202);
    const id = r.body.job.id as string;
    const ttl = async () => [await h.redis.ttl(h.keys.job(id)), await h.redis.ttl(h.keys.jobEvents(id))];
    const [jobTtl] = await ttl();
    expect(jobTtl).toBeGreaterThan(UNFINISHED_JOB_RETENTION_SECONDS - 60);
    expect(jobTtl).toBeLessThanOrEqual(UNFINISHED_JOB_RETENTION_SECONDS);
    // Shorten the bound to prove each change sets it again (record and stream).
    process.env.NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS = "1000";
    await h.advance(id, "progress");
    let [j, ev] = await ttl();
    expect(j).toBeGreaterThan(990);
    expect(j).toBeLessThanOrEqual(1000);
    expect(ev).toBeGreaterThan(990);
    await h.advance(id, "succeeded");
    [j, ev] = await ttl();
    expect(j).toBeGreaterThan(JOB_RETENTION_SECONDS - 60);
    expect(j).toBeLessThanOrEqual(JOB_RETENTION_SECONDS);
    expect(ev).toBeGreaterThan(JOB_RETENTION_SECONDS - 60);
    // The network's list lives as long as its newest job can, then goes.
    const listTtl = await h.redis.ttl(h.keys.networkJobs("ttl-net"));
    expect(listTtl).toBeGreaterThan(0);
    expect(listTtl).toBeLessThanOrEqual(UNFINISHED_JOB_RETENTION_SECONDS + JOB_RETENTION_SECONDS);
  });

  it(`a network's job list keeps its newest ${NETWORK_JOB_LIST_MAX}`, async () => {
    const ids: string[] = [];
    for (let i = 0; i < NETWORK_JOB_LIST_MAX + 15; i++) {
      ids.push(await save("busy-net"));
      await new Promise((r) => setTimeout(r, i % 10 === 0 ? 2 : 0)); // distinct createdAt scores now and then
    }
    const kept = await h.redis.zrange(h.keys.networkJobs("busy-net"), 0, -1);
    expect(kept).toHaveLength(NETWORK_JOB_LIST_MAX);
    expect(kept).not.toContain(ids[0]);
    expect(kept).toContain(ids[ids.length - 1]);
    // Trimmed from the list only: still readable by id until it expires.
    expect(await h.redis.exists(h.keys.job(ids[0] as string))).toBe(1);
    const listed = await h.call("list-jobs", { network: "busy-net", limit: 200 }, { role: "viewer" });
    expect(listed.status).toBe(200);
    expect(listed.body.jobs.length).toBeLessThanOrEqual(NETWORK_JOB_LIST_MAX);
  });

  it("expired jobs are dropped from both indexes on the next write", async () => {
    process.env.NETFORGE_JOB_RETENTION_SECONDS = "1";
    const old = await save("short-net");
    await h.advance(old, "succeeded");
    expect(await h.redis.ttl(h.keys.job(old))).toBeLessThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await h.redis.exists(h.keys.job(old), h.keys.jobEvents(old))).toBe(0);
    expect(await h.redis.zscore(h.keys.jobs, old)).not.toBeNull(); // nothing written since: still listed
    await save("short-net");
    expect(await h.redis.zscore(h.keys.jobs, old)).toBeNull();
    expect(await h.redis.zscore(h.keys.networkJobs("short-net"), old)).toBeNull();
  });

  it("the API's periodic sweep drops expired jobs from the indexes when nothing is written", async () => {
    process.env.NETFORGE_JOB_RETENTION_SECONDS = "1";
    const old = await save("quiet-net");
    await h.advance(old, "failed");
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await h.redis.zscore(h.keys.networkJobs("quiet-net"), old)).not.toBeNull();
    await h.api.sweepClaims();
    expect(await h.redis.zscore(h.keys.jobs, old)).toBeNull();
    expect(await h.redis.zscore(h.keys.networkJobs("quiet-net"), old)).toBeNull();
    expect(await h.redis.zscore(h.keys.jobExpiry, `${old}|quiet-net|rt1`)).toBeNull();
  });

  it("a heartbeat's stats for a network deleted since its snapshot are not written back (no key left behind)", async () => {
    await h.addNetwork({ name: "gone-net", host: "rt1" });
    const stats = { connectedVms: 0, allocatedIps: 0, observedAt: new Date().toISOString() };
    await putNetworkStats(h.redis, h.keys, "gone-net", stats);
    expect(await h.redis.ttl(h.keys.networkStats("gone-net"))).toBeGreaterThan(0);
    await removeNetwork(h.redis, h.keys, "gone-net");
    await putNetworkStats(h.redis, h.keys, "gone-net", stats);
    expect(await h.redis.exists(h.keys.networkStats("gone-net"))).toBe(0);
  });

  it("an IP table read before a network's delete and written after it is not written back (its leases never show again)", async () => {
    await h.addNetwork({ name: "gone-ips", host: "rt1" });
    const table = { ips: [], observedAt: new Date().toISOString() };
    await putNetworkIps(h.redis, h.keys, "gone-ips", table);
    expect(await h.redis.ttl(h.keys.networkIps("gone-ips"))).toBeGreaterThan(0);
    await removeNetwork(h.redis, h.keys, "gone-ips");
    await putNetworkIps(h.redis, h.keys, "gone-ips", table);
    expect(await h.redis.exists(h.keys.networkIps("gone-ips"))).toBe(0);
  });

  it("an IP table and its stats are written together: a reader never sees a table newer than the stats; none after a delete", async () => {
    await h.addNetwork({ name: "both-net", host: "rt1" });
    const observation = (n: number) => {
      const observedAt = new Date().toISOString();
      const ips = Array.from({ length: n }, (_, i) => ({
        ip: `10.9.${i >> 8}.${i & 255}`,
        mac: "52:54:00:00:00:01",
        vmName: null,
        hostname: null,
        static: false,
        leaseExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      }));
      return [
        { ips, observedAt },
        { connectedVms: n, allocatedIps: n, observedAt },
      ] as const;
    };
    const reader = h.redis.duplicate();
    let writing = true;
    const writes = (async () => {
      for (let n = 1; n <= 300; n++) await putNetworkIpsAndStats(h.redis, h.keys, "both-net", ...observation(n));
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      // The order a client reads in: list-network-ips, then describe-network.
      const table = await reader.get(h.keys.networkIps("both-net"));
      const stats = await reader.get(h.keys.networkStats("both-net"));
      if (!table || !stats) continue;
      reads++;
      expect(JSON.parse(stats).allocatedIps).toBeGreaterThanOrEqual(JSON.parse(table).ips.length);
    }
    await writes;
    reader.disconnect();
    expect(reads).toBeGreaterThan(10);
    await removeNetwork(h.redis, h.keys, "both-net");
    await h.redis.del(h.keys.networkIps("both-net"), h.keys.networkStats("both-net"));
    await putNetworkIpsAndStats(h.redis, h.keys, "both-net", ...observation(1));
    expect(await h.redis.exists(h.keys.networkIps("both-net"), h.keys.networkStats("both-net"))).toBe(0);
  });

  it("retention comes from the environment and a bad value is refused naming the variable", () => {
    expect(jobRetention({})).toEqual({ finishedSeconds: JOB_RETENTION_SECONDS, unfinishedSeconds: UNFINISHED_JOB_RETENTION_SECONDS });
    expect(jobRetention({ NETFORGE_JOB_RETENTION_SECONDS: "60", NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS: "600" })).toEqual({
      finishedSeconds: 60,
      unfinishedSeconds: 600,
    });
    expect(() => jobRetention({ NETFORGE_JOB_RETENTION_SECONDS: "0" })).toThrow(/NETFORGE_JOB_RETENTION_SECONDS/);
    expect(() => jobRetention({ NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS: "1h" })).toThrow(/NETFORGE_UNFINISHED_JOB_RETENTION_SECONDS/);
  });
});
