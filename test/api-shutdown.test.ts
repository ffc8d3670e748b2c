/**
 * The API process on SIGTERM (a real `node apps/api/src/index.ts` against the
 * run's Redis): it stops accepting connections, lets the requests it already
 * has finish (a create waiting on Prefer: wait answers 202, its job is in
 * Redis), ends SSE streams with a final comment telling clients to reconnect
 * with Last-Event-ID, and exits 0. A restarted API resumes the stream from
 * that id with nothing missed.
 */
import { commitJobEvent, getJob } from "@netforge/core/store";
import type { ResultPromise } from "execa";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ApiChild, spawnApi } from "./support/api-process";
import { scanKeys, testRedis } from "./support/redis";
import { openSse } from "./support/sse-client";

const TOKEN = "shutdown-admin-token-0123";
const t = testRedis("apishut");
const apis: ApiChild[] = [];

async function startApiProcess(): Promise<{ url: string; proc: ResultPromise }> {
  const api = spawnApi({ redisUrl: t.url, prefix: t.prefix, token: TOKEN });
  apis.push(api);
  const [url] = await api.listening();
  return { url: url as string, proc: api.proc };
}

const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
const createBody = (name: string, i: number) => JSON.stringify({ name, type: "nat", cidr: `10.71.${i}.0/24`, host: "sd-1" });

beforeAll(async () => {
  const now = new Date().toISOString();
  await t.redis
    .multi()
    .set(
      t.keys.host("sd-1"),
      JSON.stringify({
        id: "sd-1",
        hostname: "sd-1",
        libvirtVersion: "10.0.0",
        interfaces: [],
        occupied: [],
        networks: 0,
        sriovPfs: [],
        startedAt: now,
        lastSeenAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    )
    .sadd(t.keys.hosts, "sd-1")
    .exec();
});
afterAll(async () => {
  for (const a of apis) a.kill();
  await t.cleanup();
});

it("SIGTERM: in-flight requests finish, SSE ends with a reconnect comment, exit 0; a restarted API resumes from Last-Event-ID", {
  timeout: 60_000,
}, async () => {
  const first = await startApiProcess();
  const created = await fetch(`${first.url}/api/create-network`, { method: "POST", headers, body: createBody("shut-a", 1) });
  expect(created.status).toBe(202);
  const jobId = ((await created.json()) as { job: { id: string } }).job.id;

  const sse = await openSse(`${first.url}/api/jobs/${jobId}/events`, { authorization: `Bearer ${TOKEN}` });
  expect(sse.status).toBe(200);
  const snapshot = await sse.next(5000);
  expect(snapshot?.event).toBe("snapshot");

  // A request in flight when the signal comes: it waits for its job (nobody runs it) until shutdown ends the wait.
  const waiting = fetch(`${first.url}/api/create-network`, {
    method: "POST",
    headers: { ...headers, prefer: "wait=30" },
    body: createBody("shut-b", 2),
  });
  // In flight for sure: its job is committed (the name is claimed) and it now waits for the job.
  for (let i = 0; !(await t.redis.hget(t.keys.claimedNames, "shut-b")); i++) {
    if (i > 200) throw new Error("the waiting request never committed");
    await new Promise((r) => setTimeout(r, 25));
  }
  await new Promise((r) => setTimeout(r, 100));
  const signalledAt = Date.now();
  first.proc.kill("SIGTERM");

  const answered = await waiting;
  expect(answered.status).toBe(202); // finished, not cut off
  const waitedJob = ((await answered.json()) as { job: { id: string } }).job.id;
  expect(await getJob(t.redis, t.keys, waitedJob)).not.toBeNull();

  await sse.waitEnd(10_000);
  expect(sse.comments).toContain("server shutting down; reconnect with Last-Event-ID");
  const result = await first.proc;
  expect(result.exitCode).toBe(0);
  expect(Date.now() - signalledAt).toBeLessThan(10_000);
  // Not listening any more.
  await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();

  // The job moves on while no API runs; the restarted API's stream replays it after the last id the client had.
  const rec = await getJob(t.redis, t.keys, jobId);
  if (!rec) throw new Error("job record lost");
  rec.state = "running";
  rec.attempts = 1;
  await commitJobEvent(t.redis, t.keys, rec, "progress");
  rec.state = "succeeded";
  rec.finishedAt = new Date().toISOString();
  await commitJobEvent(t.redis, t.keys, rec, "succeeded");

  const second = await startApiProcess();
  const resumed = await openSse(`${second.url}/api/jobs/${jobId}/events`, {
    authorization: `Bearer ${TOKEN}`,
    "last-event-id": snapshot?.id ?? "",
  });
  expect((await resumed.next(5000))?.event).toBe("progress");
  expect((await resumed.next(5000))?.event).toBe("succeeded");
  await resumed.waitEnd(5000);
  second.proc.kill("SIGTERM");
  expect((await second.proc).exitCode).toBe(0);
  expect(await scanKeys(t.redis, `${t.prefix}:job:*`)).not.toHaveLength(0);
});
