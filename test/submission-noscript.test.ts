/**
 * The commit script runs as EVALSHA inside the submission's MULTI. Redis may
 * lose its scripts at any time (SCRIPT FLUSH, a restart, a failover to a
 * replica that never loaded them): a NOSCRIPT inside a MULTI does not stop the
 * commands after it, so the tombstone written before the script must keep
 * BullMQ's add from queueing a job whose claim and record were never written.
 * Uses its own redis-server: SCRIPT FLUSH empties the whole server's script cache.
 */
import {
  addJobIn,
  bullJobKey,
  connectRedis,
  definedScripts,
  loadSubmissionScripts,
  makeKeys,
  queueCommit,
  queueTombstoneDrop,
  queueTransaction,
  type Redis,
  redisTimeMs,
} from "@netforge/core/store";
import { type RedisServer, startRedisServer } from "@netforge/devstack";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostQueues } from "@netforge/api/testing";
import { type ApiHarness, natBody, startApiHarness } from "./support/api-harness";
import { scanKeys } from "./support/redis";
import { submission } from "./support/submission";

let server: RedisServer;
let redis: Redis;
const keys = makeKeys("noscript");
let queues: HostQueues;
beforeAll(async () => {
  server = await startRedisServer();
  redis = connectRedis(server.url);
  queues = new HostQueues(redis, keys, pino({ level: "silent" }), 2_000);
});
afterAll(async () => {
  await queues?.close();
  redis?.disconnect();
  await server?.stop();
});

/** Everything a submission writes: all four present, or none. */
async function state(name: string, jobId: string) {
  return {
    claim: await redis.hget(keys.claimedNames, name),
    record: await redis.exists(keys.job(jobId)),
    queued: (await redis.lrange(`${keys.bull}:host-h1:wait`, 0, -1)).includes(jobId),
    bullJob: await redis.exists(`${keys.bull}:host-h1:${jobId}`),
    tombstone: await redis.hexists(`${keys.bull}:host-h1:${jobId}`, "netforge-tombstone"),
  };
}
const APPLIED = { claim: "h1", record: 1, queued: true, bullJob: 1, tombstone: 0 };
const NOTHING = { claim: null, record: 0, queued: false, bullJob: 0, tombstone: 0 };

describe("commit script missing from Redis (NOSCRIPT inside the MULTI)", () => {
  it("with only BullMQ's add loaded, the MULTI applies nothing at all: no job queued without its claim and record", async () => {
    // Warm up: the queue exists and its client has BullMQ's scripts defined.
    const warm = submission("ns-warm", "10.90.0.0/24");
    const deadlineMs = (await redisTimeMs(redis)) + 2_000;
    expect((await queues.commit("h1", warm.data, { deadlineMs, record: warm.record, claim: warm.claim })).outcome.kind).toBe("applied");
    expect(await state("ns-warm", warm.jobId)).toEqual(APPLIED);

    // Our commit script gone, BullMQ's add present: the one order in which an unguarded MULTI would queue a job alone.
    await redis.script("FLUSH");
    const adds = definedScripts(redis, "addStandardJob");
    expect(adds.length).toBeGreaterThan(0);
    for (const lua of adds) await redis.script("LOAD", lua);

    const s = submission("ns-half", "10.91.0.0/24");
    const q = queues.queue("h1");
    const multi = queueTransaction(await q.client);
    const jobKey = bullJobKey(q, s.jobId);
    queueCommit(multi, keys, { deadlineMs: (await redisTimeMs(redis)) + 2_000, record: s.record, claim: s.claim, bullJobKey: jobKey });
    await addJobIn(multi, q, s.data, { jobId: s.jobId });
    queueTombstoneDrop(multi, jobKey);
    const res = (await multi.exec()) as [Error | null, unknown][];
    expect(res[1]?.[0]?.message).toMatch(/^NOSCRIPT/);
    // BullMQ's add ran (no error) and found the tombstone: it added nothing.
    expect(res[2]?.[0]).toBeNull();
    expect(await state("ns-half", s.jobId)).toEqual(NOTHING);
    expect(await redis.hget(keys.claimedSubnets("h1"), "ns-half")).toBeNull();
  });

  it("SCRIPT FLUSH between submissions: the next one loads the scripts, commits once, and is whole", async () => {
    await redis.script("FLUSH");
    const s = submission("ns-after-flush", "10.92.0.0/24");
    const deadlineMs = (await redisTimeMs(redis)) + 2_000;
    const r = await queues.commit("h1", s.data, { deadlineMs, record: s.record, claim: s.claim });
    expect(r).toEqual({ outcome: { kind: "applied" }, addError: null });
    expect(await state("ns-after-flush", s.jobId)).toEqual(APPLIED);
    // Applied once: one queue entry, one record, no tombstone anywhere.
    const wait = await redis.lrange(`${keys.bull}:host-h1:wait`, 0, -1);
    expect(wait.filter((id) => id === s.jobId)).toHaveLength(1);
    for (const k of await scanKeys(redis, `${keys.bull}:host-h1:*`)) {
      if ((await redis.type(k)) === "hash") expect(await redis.hexists(k, "netforge-tombstone")).toBe(0);
    }
  });

  it("a refused claim after a flush still refuses (and leaves nothing), the retry does not turn it into a success", async () => {
    await redis.script("FLUSH");
    const s = submission("ns-warm", "10.93.0.0/24");
    const deadlineMs = (await redisTimeMs(redis)) + 2_000;
    const r = await queues.commit("h1", s.data, { deadlineMs, record: s.record, claim: s.claim });
    expect(r.outcome).toMatchObject({ kind: "refused", error: { code: "NAME_TAKEN" } });
    expect(await state("ns-warm", s.jobId)).toEqual({ ...NOTHING, claim: "h1" });
  });

  it("only the commit script present (never after a flush: it is loaded with BullMQ's add): the add's NOSCRIPT is reported, then loaded", async () => {
    await redis.script("FLUSH");
    await loadSubmissionScripts(redis, []);
    const s = submission("ns-unqueued", "10.96.0.0/24");
    const deadlineMs = (await redisTimeMs(redis)) + 2_000;
    const r = await queues.commit("h1", s.data, { deadlineMs, record: s.record, claim: s.claim });
    // Applied without its queue entry: the caller (job-submission) fails the job and releases the claim.
    expect(r.outcome.kind).toBe("applied");
    expect(r.addError?.message).toMatch(/^NOSCRIPT/);
    expect(await state("ns-unqueued", s.jobId)).toEqual({ ...NOTHING, claim: "h1", record: 1 });
    // The scripts were loaded on the way: the next submission is whole.
    const next = submission("ns-after-unqueued", "10.97.0.0/24");
    const r2 = await queues.commit("h1", next.data, { deadlineMs, record: next.record, claim: next.claim });
    expect(r2).toEqual({ outcome: { kind: "applied" }, addError: null });
    expect(await state("ns-after-unqueued", next.jobId)).toEqual(APPLIED);
  });

  it("a commit past its deadline after a flush changes nothing", async () => {
    await redis.script("FLUSH");
    const s = submission("ns-late", "10.94.0.0/24");
    const r = await queues.commit("h1", s.data, { deadlineMs: (await redisTimeMs(redis)) - 1, record: s.record, claim: s.claim });
    expect(r.outcome.kind).toBe("expired");
    expect(await state("ns-late", s.jobId)).toEqual(NOTHING);
  });
});

describe("over HTTP: SCRIPT FLUSH between creates", () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiHarness("api-noscript", {}, { redisUrl: server.url });
    await h.addHost("h1", { networks: 0 });
  });
  afterAll(() => h?.close());

  it("every create is answered 202 with claim, record and queue entry; none is half-applied or doubled", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      if (i % 2 === 1) await h.redis.script("FLUSH");
      // Concurrent creates right after a flush: all of them meet the empty script cache.
      const replies = await Promise.all(
        [0, 1, 2].map((k) => h.call("create-network", natBody(`nsh-${i}-${k}`, `10.95.${i * 3 + k}.0/24`, { host: "h1" }))),
      );
      for (const r of replies) {
        expect(r.status).toBe(202);
        ids.push(r.body.job.id);
      }
    }
    const wait = await h.redis.lrange(`${h.keys.bull}:${h.keys.hostQueue("h1")}:wait`, 0, -1);
    expect([...wait].sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await h.redis.exists(h.keys.job(id))).toBe(1);
    expect(await h.redis.hlen(h.keys.claimedNames)).toBe(18);
  });
});
