/**
 * The deadline-guarded commit of a job submission and its idempotency key,
 * against the run's Redis: claim, job record and queue entry appear together
 * or not at all, a commit reaching Redis after its deadline changes nothing
 * (no tombstone left either), and an idempotency key whose request missed
 * its deadline without a job is taken over by the next request.
 */
import { checkStoreEpoch, markPublished, newJobId, newJobRecord, redisTimeMs, saveNewJob } from "@netforge/core/store";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { claimIdempotencyKey, HostQueues } from "@netforge/api/testing";
import { scanKeys, testRedis } from "./support/redis";
import { submission } from "./support/submission";

const t = testRedis("subguard");
const queues = new HostQueues(t.redis, t.keys, pino({ level: "silent" }), 2_000);
afterAll(async () => {
  await queues.close();
  await t.cleanup();
});

async function state(name: string, jobId: string) {
  return {
    claim: await t.redis.hget(t.keys.claimedNames, name),
    record: await t.redis.exists(t.keys.job(jobId)),
    queued: (await t.redis.lrange(`${t.keys.bull}:host-h1:wait`, 0, -1)).includes(jobId),
    bullJob: await t.redis.exists(`${t.keys.bull}:host-h1:${jobId}`),
  };
}

describe("guarded commit", () => {
  it("applies claim, record and queue entry together before the deadline", async () => {
    const s = submission("guard-ok", "10.81.0.0/24");
    const deadlineMs = (await redisTimeMs(t.redis)) + 1_000;
    const r = await queues.commit("h1", s.data, { deadlineMs, record: s.record, claim: s.claim });
    expect(r).toEqual({ outcome: { kind: "applied" }, addError: null });
    expect(await state("guard-ok", s.jobId)).toEqual({ claim: "h1", record: 1, queued: true, bullJob: 1 });
  });

  it("after the deadline changes nothing: no claim, no record, nothing queued, no tombstone left", async () => {
    const s = submission("guard-late", "10.82.0.0/24");
    const deadlineMs = (await redisTimeMs(t.redis)) - 1;
    const r = await queues.commit("h1", s.data, { deadlineMs, record: s.record, claim: s.claim });
    expect(r.outcome.kind).toBe("expired");
    expect(await state("guard-late", s.jobId)).toEqual({ claim: null, record: 0, queued: false, bullJob: 0 });
    expect(await t.redis.hget(t.keys.claimedSubnets("h1"), "guard-late")).toBeNull();
  });

  it("while the store re-publishes after a reset (a host marked, or the epoch settling) the commit applies nothing", async () => {
    const e = await checkStoreEpoch(t.redis, t.keys, "h1", { settleMs: 0 });
    expect(e.marked).toBe(true);
    const s = submission("guard-reset", "10.85.0.0/24");
    const deadlineMs = (await redisTimeMs(t.redis)) + 1_000;
    const r = await queues.commit("h1", s.data, { deadlineMs, record: s.record, claim: s.claim });
    expect(r.outcome).toEqual({ kind: "rebuilding", settlesInMs: 0 });
    expect(await state("guard-reset", s.jobId)).toEqual({ claim: null, record: 0, queued: false, bullJob: 0 });
    // Published: the same commit applies.
    expect(await markPublished(t.redis, t.keys, "h1", e.id)).toBe(true);
    const again = await queues.commit("h1", s.data, { deadlineMs: (await redisTimeMs(t.redis)) + 1_000, record: s.record, claim: s.claim });
    expect(again.outcome).toEqual({ kind: "applied" });
    // An epoch still settling refuses too, saying how long is left.
    await t.redis.del(t.keys.storeEpoch);
    await checkStoreEpoch(t.redis, t.keys, "h2", { settleMs: 30_000 });
    await t.redis.zrem(t.keys.storeRebuilding, "h2");
    const s2 = submission("guard-settling", "10.86.0.0/24");
    const r2 = await queues.commit("h1", s2.data, { deadlineMs: (await redisTimeMs(t.redis)) + 1_000, record: s2.record, claim: s2.claim });
    expect(r2.outcome.kind).toBe("rebuilding");
    expect(r2.outcome.kind === "rebuilding" && r2.outcome.settlesInMs).toBeGreaterThan(25_000);
    expect(await state("guard-settling", s2.jobId)).toEqual({ claim: null, record: 0, queued: false, bullJob: 0 });
    // A commit that expects the epoch its door saw refuses when another one is there now (a reset in between).
    await t.redis.del(t.keys.storeEpoch, t.keys.storeRebuilding);
    const now = await checkStoreEpoch(t.redis, t.keys, "h1", { settleMs: 0 });
    await markPublished(t.redis, t.keys, "h1", now.id);
    const s3 = submission("guard-epoch", "10.87.0.0/24");
    const commit3 = { record: s3.record, claim: s3.claim, storeEpoch: "an-epoch-before-the-reset" };
    const r3 = await queues.commit("h1", s3.data, { deadlineMs: (await redisTimeMs(t.redis)) + 1_000, ...commit3 });
    expect(r3.outcome).toEqual({ kind: "rebuilding", settlesInMs: 0 });
    expect(await state("guard-epoch", s3.jobId)).toEqual({ claim: null, record: 0, queued: false, bullJob: 0 });
    const r4 = await queues.commit("h1", s3.data, { deadlineMs: (await redisTimeMs(t.redis)) + 1_000, ...commit3, storeEpoch: now.id });
    expect(r4.outcome).toEqual({ kind: "applied" });
    await t.redis.del(t.keys.storeEpoch, t.keys.storeRebuilding, t.keys.storePublished);
  });

  it("a refused claim queues nothing either, and the job id stays free for a later add", async () => {
    const first = submission("guard-taken", "10.83.0.0/24");
    const deadlineMs = (await redisTimeMs(t.redis)) + 1_000;
    await queues.commit("h1", first.data, { deadlineMs, record: first.record, claim: first.claim });
    const clash = submission("guard-taken", "10.84.0.0/24");
    const r = await queues.commit("h1", clash.data, { deadlineMs, record: clash.record, claim: clash.claim });
    expect(r.outcome).toMatchObject({ kind: "refused", error: { code: "NAME_TAKEN" } });
    expect(await state("guard-taken", clash.jobId)).toEqual({ claim: "h1", record: 0, queued: false, bullJob: 0 });
    const overlap = submission("guard-other", "10.83.0.128/25");
    const r2 = await queues.commit("h1", overlap.data, { deadlineMs, record: overlap.record, claim: overlap.claim });
    expect(r2.outcome).toMatchObject({ kind: "refused", error: { code: "CIDR_CONFLICT" } });
    expect(await state("guard-other", overlap.jobId)).toEqual({ claim: null, record: 0, queued: false, bullJob: 0 });
    expect(await scanKeys(t.redis, `${t.keys.bull}:host-h1:${overlap.jobId}*`)).toEqual([]);
  });

  it("a claim that places the network on another host than the queue's applies nothing and names that host", async () => {
    const deadlineMs = (await redisTimeMs(t.redis)) + 1_000;
    // h1 already carries a claim (guard-ok above, or this one), h9 none: h9 is the better place.
    const loaded = submission("guard-load", "10.85.0.0/24");
    await queues.commit("h1", loaded.data, { deadlineMs, record: loaded.record, claim: loaded.claim });
    const s = submission("guard-place", "10.86.0.0/24");
    const r = await queues.commit("h1", s.data, { deadlineMs, record: s.record, claim: { ...s.claim, candidates: ["h1", "h9"] } });
    expect(r.outcome).toEqual({ kind: "place", host: "h9" });
    expect(await state("guard-place", s.jobId)).toEqual({ claim: null, record: 0, queued: false, bullJob: 0 });
    expect(await t.redis.sismember(t.keys.claimedHostNames("h9"), "guard-place")).toBe(0);
  });
});

describe("idempotency key with a deadline", () => {
  const key = () => t.keys.idempotency(`test-${newJobId()}`);

  it("is refused after the caller's own deadline", async () => {
    const k = key();
    const past = (await redisTimeMs(t.redis)) - 1;
    await expect(claimIdempotencyKey(t.redis, t.keys, k, "fp", newJobId(), past)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(await t.redis.exists(k)).toBe(0);
  });

  it("a repeat waits for the first request's job; once that request's deadline passed without a job, the key is taken over", async () => {
    const k = key();
    const a = newJobId();
    const b = newJobId();
    const now = await redisTimeMs(t.redis);
    expect(await claimIdempotencyKey(t.redis, t.keys, k, "fp", a, now + 300)).toEqual({ kind: "new" });
    expect(await claimIdempotencyKey(t.redis, t.keys, k, "fp", b, now + 5_000)).toEqual({ kind: "repeat", jobId: a });
    await new Promise((r) => setTimeout(r, 400));
    expect(await claimIdempotencyKey(t.redis, t.keys, k, "fp", b, (await redisTimeMs(t.redis)) + 1_000)).toEqual({ kind: "new" });
    expect(JSON.parse((await t.redis.get(k)) as string)).toMatchObject({ jobId: b });
  });

  it("a key whose job exists stays a repeat after the deadline", async () => {
    const k = key();
    const a = newJobId();
    const now = await redisTimeMs(t.redis);
    expect(await claimIdempotencyKey(t.redis, t.keys, k, "fp", a, now + 100)).toEqual({ kind: "new" });
    await saveNewJob(t.redis, t.keys, newJobRecord({ id: a, action: "delete-network", network: "n", host: "h1", payload: {}, steps: [] }));
    await new Promise((r) => setTimeout(r, 200));
    expect(await claimIdempotencyKey(t.redis, t.keys, k, "fp", newJobId(), (await redisTimeMs(t.redis)) + 1_000)).toEqual({
      kind: "repeat",
      jobId: a,
    });
    await expect(claimIdempotencyKey(t.redis, t.keys, k, "other", newJobId(), (await redisTimeMs(t.redis)) + 1_000)).rejects.toMatchObject({
      code: "IDEMPOTENCY_MISMATCH",
    });
  });
});
