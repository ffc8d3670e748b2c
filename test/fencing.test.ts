/**
 * Fencing at the Redis level (the run's real Redis, no host): the step runner
 * confirms the network lock against Redis before each step, a renewal that
 * finds the lock gone marks it lost at once, a lock whose renewals stall for
 * a TTL is no longer trusted, and an abandoned job is recorded as failed only
 * by whoever holds the network lock.
 */
import type { QueuedJobData } from "@netforge/core/contract";
import { AppError } from "@netforge/core/contract";
import { commitFencedJobEvent, getJob, type JobRecord, newJobRecord, saveNewJob, tryLock } from "@netforge/core/store";
import type { Job } from "bullmq";
import pino from "pino";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { HostContext } from "@netforge/worker";
import { failAbandonedJob, fenceFor, JobReporter, LOCK_LOST } from "@netforge/worker/testing";
import { testRedis } from "./support/redis";

const t = testRedis("fence");
afterAll(() => t.cleanup());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function savedRecord(network: string, action: "create-network" | "stop-network" = "create-network"): Promise<JobRecord> {
  const record = newJobRecord({ action, network, host: "h1", payload: {}, steps: ["one", "two", "three"] });
  await saveNewJob(t.redis, t.keys, record);
  return record;
}

describe("the step runner (JobReporter.step) is fenced by the network lock", () => {
  for (const [how, steal] of [
    ["taken by another holder", (key: string) => t.redis.set(key, "someone-else", "PX", 60_000)],
    ["deleted (the key was lost)", (key: string) => t.redis.del(key)],
  ] as const) {
    it(`a lock ${how} between two steps: the next step's fn is never called, and the job stops with a lost-lock error`, async () => {
      const network = `steal-${how.split(" ")[0]}`;
      const key = t.keys.networkLock(network);
      // A long TTL: no renewal runs during the test, so only the check against Redis can notice.
      const lock = await tryLock(t.redis, key, 30_000);
      expect(lock).not.toBeNull();
      const record = await savedRecord(network);
      const report = new JobReporter(t.redis, t.keys, record, fenceFor(lock!, network));
      const ran: string[] = [];
      await report.step("one", async () => {
        ran.push("one");
      });
      await steal(key);
      expect(lock?.valid).toBe(true); // nothing local knows yet
      const err = await report
        .step("two", async () => {
          ran.push("two");
        })
        .catch((e: unknown) => e);
      expect(ran).toEqual(["one"]);
      expect(err).toMatchObject({ code: "INTERNAL", retryable: true, details: { lockLost: true, network } });
      expect((err as Error).message).toContain(LOCK_LOST);
      expect(lock?.valid).toBe(false);
      // The step never showed as running: the last write of the record still has "one" as the current step.
      const stored = await getJob(t.redis, t.keys, record.id);
      expect(stored?.progress.step).toBe("one");
      expect(stored?.progress.steps.find((s) => s.name === "two")?.state).toBe("pending");
      // No outcome either: success and failure are fenced too, and nothing is written.
      await expect(report.succeeded({})).rejects.toMatchObject({ details: { lockLost: true } });
      expect((await getJob(t.redis, t.keys, record.id))?.state).toBe("queued"); // as the last fenced write left it
      await lock?.release();
    });
  }

  it("a step whose lock is held runs, and the check renews the lock", async () => {
    const key = t.keys.networkLock("kept");
    const lock = await tryLock(t.redis, key, 30_000);
    const report = new JobReporter(t.redis, t.keys, await savedRecord("kept"), fenceFor(lock!, "kept"));
    await t.redis.pexpire(key, 5_000);
    expect(await report.step("one", async () => 42)).toBe(42);
    expect(await t.redis.pttl(key)).toBeGreaterThan(20_000);
    await lock?.release();
  });
});

describe("lock renewal", () => {
  it("a renewal that finds someone else's token marks the lock lost at once, and stops renewing", async () => {
    const key = t.keys.networkLock("renew-theft");
    const lock = await tryLock(t.redis, key, 600); // renewed every 200 ms
    await t.redis.set(key, "thief", "PX", 60_000);
    await sleep(450);
    expect(lock?.valid).toBe(false);
    expect(await lock?.confirm()).toBe(false);
    expect(await t.redis.get(key)).toBe("thief");
    expect(await t.redis.pttl(key)).toBeGreaterThan(50_000); // never renewed (nor shortened) by the loser
    await lock?.release();
    expect(await t.redis.get(key)).toBe("thief"); // release deletes only its own token
  });

  it("a lock none of whose renewals got through for a TTL (Redis paused) is not trusted, and is lost after the pause", async () => {
    const key = t.keys.networkLock("renew-stall");
    const lock = await tryLock(t.redis, key, 600);
    const admin = t.redis.duplicate();
    try {
      await admin.call("CLIENT", "PAUSE", "1500", "WRITE");
      await sleep(900);
      // Renewals are stuck in Redis: locally the lock may have expired, so it is no longer valid.
      expect(lock?.valid).toBe(false);
      // After the pause the key has expired: the check says lost (and a new holder can take it).
      expect(await lock?.confirm()).toBe(false);
      const next = await tryLock(t.redis, key, 600);
      expect(next).not.toBeNull();
      await next?.release();
    } finally {
      await admin.call("CLIENT", "UNPAUSE").catch(() => undefined);
      admin.disconnect();
      await lock?.release();
    }
  });
});

describe("abandoned jobs", () => {
  function host(): HostContext {
    return { hostId: "h1", redis: t.redis, keys: t.keys, logger: pino({ level: "silent" }) } as unknown as HostContext;
  }
  function failedJob(record: JobRecord): Job<QueuedJobData> {
    return {
      data: { jobId: record.id, action: record.action, payload: {} },
      attemptsMade: 3,
      isFailed: async () => true,
    } as unknown as Job<QueuedJobData>;
  }

  it("are recorded as failed only once the network lock is free, by the one who took it", async () => {
    const record = await savedRecord("aband1", "stop-network");
    const key = t.keys.networkLock("aband1");
    await t.redis.set(key, "dead-worker", "PX", 60_000);
    const done = failAbandonedJob(host(), failedJob(record), "job stalled more than allowable limit", { lockTtlMs: 600 });
    await sleep(700);
    expect((await getJob(t.redis, t.keys, record.id))?.state).toBe("queued"); // untouched while someone holds the lock
    await t.redis.del(key); // the holder's lock expires / is released
    await done;
    const after = await getJob(t.redis, t.keys, record.id);
    expect(after?.state).toBe("failed");
    expect(after?.error?.message).toContain("abandoned");
    expect(await t.redis.get(key)).toBeNull(); // and the lock was given back
  });

  it("are left as they are when the lock stays busy (nothing written without it)", async () => {
    const record = await savedRecord("aband2", "stop-network");
    const key = t.keys.networkLock("aband2");
    await t.redis.set(key, "other-job", "PX", 60_000);
    const started = Date.now();
    await failAbandonedJob(host(), failedJob(record), "stalled", { lockTtlMs: 500 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000); // it waited a few TTLs for the lock
    expect((await getJob(t.redis, t.keys, record.id))?.state).toBe("queued");
    expect(await t.redis.get(key)).toBe("other-job");
  });
});

describe("one script fences and writes a step's event (commitFencedJobEvent)", () => {
  /** The job's event stream length, its stored record, and what the lock key holds (value, ms left). */
  async function state(record: JobRecord, lockKey: string) {
    return {
      events: await t.redis.xlen(t.keys.jobEvents(record.id)),
      stored: await getJob(t.redis, t.keys, record.id),
      lock: await t.redis.get(lockKey),
      ttl: await t.redis.pttl(lockKey),
    };
  }

  it("writes no event, renews nothing and publishes nothing when the lock holds another token", async () => {
    const record = await savedRecord("fenced-other");
    const lockKey = t.keys.networkLock("fenced-other");
    await t.redis.set(lockKey, "other-token", "PX", 5_000);
    const sub = t.redis.duplicate();
    const heard: string[] = [];
    await sub.subscribe(t.keys.eventsChannel);
    sub.on("message", (_ch, msg) => heard.push(msg));
    try {
      const before = await state(record, lockKey);
      record.state = "running";
      record.progress.step = "one";
      const ev = await commitFencedJobEvent(t.redis, t.keys, record, "progress", { key: lockKey, token: "my-token", ttlMs: 30_000 });
      expect(ev).toBeNull();
      await t.redis.ping(); // a message published by the script would have reached the subscriber by now
      await sleep(50);
      const after = await state(record, lockKey);
      expect(after.events).toBe(before.events);
      expect(after.stored).toEqual(before.stored); // the record as saved: still queued, no current step
      expect(after.stored?.state).toBe("queued");
      expect(after.lock).toBe("other-token");
      expect(after.ttl).toBeLessThanOrEqual(5_000); // not renewed to our TTL
      expect(heard).toEqual([]);
      // A lock that is gone is not held either, and is not brought back.
      await t.redis.del(lockKey);
      expect(
        await commitFencedJobEvent(t.redis, t.keys, record, "progress", { key: lockKey, token: "my-token", ttlMs: 30_000 }),
      ).toBeNull();
      expect(await t.redis.exists(lockKey)).toBe(0);
      expect(await t.redis.xlen(t.keys.jobEvents(record.id))).toBe(before.events);
    } finally {
      sub.disconnect();
    }
  });

  it("never writes back a record the store lost: a job running when Redis was emptied, its lock taken again", async () => {
    // Found by the chaos run (seed 16, ADR 0048): a job running at a FLUSHALL lost its lock, took it back on the
    // empty store, undid its steps and recorded "queued, retrying in 1 s": the record came back, its BullMQ job
    // did not, so the job showed queued for its whole retention (30 days) and never ran.
    const record = await savedRecord("fenced-reset");
    const lockKey = t.keys.networkLock("fenced-reset");
    // The store loses the record with everything else (FLUSHALL); the job's run takes the lock again afterwards.
    await t.redis.del(t.keys.job(record.id), t.keys.jobEvents(record.id), t.keys.networkJobs("fenced-reset"), t.keys.jobExpiry);
    const lock = await tryLock(t.redis, lockKey, 30_000);
    expect(lock).not.toBeNull();
    record.state = "queued";
    record.progress.step = "retrying in 1 s after: lost the network lock";
    const ev = await commitFencedJobEvent(t.redis, t.keys, record, "progress", { key: lockKey, token: lock!.token, ttlMs: 30_000 });
    expect(ev).toBeNull();
    expect(await getJob(t.redis, t.keys, record.id)).toBeNull();
    expect(await t.redis.exists(t.keys.jobEvents(record.id))).toBe(0);
    // The same through the reporter, as the processor records a retry: refused as a lost lock, nothing written.
    const report = new JobReporter(t.redis, t.keys, record, fenceFor(lock!, "fenced-reset"));
    await expect(report.failed(new AppError("INTERNAL", "x"))).rejects.toMatchObject({ details: { lockLost: true } });
    expect(await getJob(t.redis, t.keys, record.id)).toBeNull();
    await lock!.release();
  });

  it("never overwrites a record that already ended: another delivery of the job finished it first", async () => {
    // Found by the chaos run (seed 3003, ADR 0048): a delete delivered twice (its BullMQ lock lapsed while its worker
    // was cut off from Redis) ran twice; the second delivery deleted the network and wrote "succeeded" (its client saw
    // it), then the first, under a lock it held again, found the network gone and wrote "failed" over it.
    const record = await savedRecord("fenced-ended");
    const lockKey = t.keys.networkLock("fenced-ended");
    const first = await tryLock(t.redis, lockKey, 30_000);
    const winner = new JobReporter(t.redis, t.keys, structuredClone(record), fenceFor(first!, "fenced-ended"));
    await winner.succeeded({ deleted: true });
    await first!.release();
    expect((await getJob(t.redis, t.keys, record.id))?.state).toBe("succeeded");
    // The other delivery, under the network lock it now holds, records its failure, a retry, a step: none is written.
    const second = await tryLock(t.redis, lockKey, 30_000);
    const loser = new JobReporter(t.redis, t.keys, structuredClone(record), fenceFor(second!, "fenced-ended"));
    await expect(loser.failed(new AppError("NOT_FOUND", "network 'fenced-ended' does not exist"))).rejects.toMatchObject({
      details: { lockLost: true },
    });
    await expect(loser.retrying(new AppError("INTERNAL", "x"), 1000)).rejects.toMatchObject({ details: { lockLost: true } });
    await expect(loser.step("one", async () => 1)).rejects.toMatchObject({ details: { lockLost: true } });
    const kept = await getJob(t.redis, t.keys, record.id);
    expect(kept?.state).toBe("succeeded");
    expect(kept?.error).toBeNull();
    await second!.release();
  });

  it("a job's start is fenced too: a record the store lost after it was read is not brought back as running", async () => {
    // Found by the chaos run (seed 2602): the processor read the record, the store was emptied, the unfenced
    // "started" write made the record again; the retry that followed left it "queued" with no BullMQ job.
    const record = await savedRecord("fenced-start");
    const lockKey = t.keys.networkLock("fenced-start");
    const lock = await tryLock(t.redis, lockKey, 30_000);
    expect(lock).not.toBeNull();
    const report = new JobReporter(t.redis, t.keys, record, fenceFor(lock!, "fenced-start"));
    await t.redis.del(t.keys.job(record.id), t.keys.jobEvents(record.id));
    await expect(report.started(1)).rejects.toMatchObject({ details: { lockLost: true } });
    expect(await getJob(t.redis, t.keys, record.id)).toBeNull();
    await lock!.release();
    // With its record there, the start is written as before.
    const kept = await savedRecord("fenced-start2");
    const lock2 = await tryLock(t.redis, t.keys.networkLock("fenced-start2"), 30_000);
    await new JobReporter(t.redis, t.keys, kept, fenceFor(lock2!, "fenced-start2")).started(1);
    expect((await getJob(t.redis, t.keys, kept.id))?.state).toBe("running");
    await lock2!.release();
  });

  it("renews the lock and writes the event (record, stream entry, publish) when the lock holds this token", async () => {
    const record = await savedRecord("fenced-mine");
    const lockKey = t.keys.networkLock("fenced-mine");
    await t.redis.set(lockKey, "my-token", "PX", 5_000);
    const sub = t.redis.duplicate();
    const heard: { id: string; type: string; job: { progress: { step: string } } }[] = [];
    await sub.subscribe(t.keys.eventsChannel);
    sub.on("message", (_ch, msg) => heard.push(JSON.parse(msg)));
    try {
      const before = await state(record, lockKey);
      record.state = "running";
      record.progress.step = "one";
      const ev = await commitFencedJobEvent(t.redis, t.keys, record, "progress", { key: lockKey, token: "my-token", ttlMs: 30_000 });
      expect(ev?.id).toMatch(/^\d+-\d+$/);
      const after = await state(record, lockKey);
      expect(after.events).toBe(before.events + 1);
      expect(after.stored?.state).toBe("running");
      expect(after.stored?.progress.step).toBe("one");
      expect(after.lock).toBe("my-token");
      expect(after.ttl).toBeGreaterThan(20_000); // renewed from 5 s to the 30 s asked
      const [entry] = (await t.redis.xrevrange(t.keys.jobEvents(record.id), "+", "-", "COUNT", 1)) as [string, string[]][];
      expect(entry?.[0]).toBe(ev?.id);
      await waitUntil(() => heard.length > 0);
      expect(heard[0]).toMatchObject({ id: ev?.id, type: "progress", job: { progress: { step: "one" } } });
    } finally {
      sub.disconnect();
    }
  });

  it("a step costs one Redis command before its host work, and none of it runs once the lock is another's", async () => {
    const network = "one-trip";
    const key = t.keys.networkLock(network);
    const lock = await tryLock(t.redis, key, 30_000);
    const record = await savedRecord(network);
    const report = new JobReporter(t.redis, t.keys, record, fenceFor(lock!, network));
    const sent = vi.spyOn(t.redis, "sendCommand");
    try {
      let before = -1;
      await report.step("one", async () => {
        before = sent.mock.calls.length;
      });
      expect(before).toBe(1);
      expect((sent.mock.calls[0]?.[0] as { name?: string } | undefined)?.name).toBe("evalsha");
      await t.redis.set(key, "someone-else", "PX", 60_000);
      sent.mockClear();
      const ran: string[] = [];
      await expect(report.step("two", async () => void ran.push("two"))).rejects.toMatchObject({ details: { lockLost: true } });
      expect(ran).toEqual([]);
      expect(sent.mock.calls.length).toBe(1); // the one script said "lost": nothing else was sent
      expect(record.progress.steps.find((s) => s.name === "two")?.state).toBe("pending");
      expect(record.progress.step).toBe("one");
    } finally {
      sent.mockRestore();
      await lock?.release();
    }
  });
});

async function waitUntil(cond: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await sleep(10);
  }
}
