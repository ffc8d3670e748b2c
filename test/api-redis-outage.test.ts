/**
 * The API when its Redis is stopped or paused, against a private redis-server
 * this file starts, stops and pauses (never the run's shared one): requests
 * fail fast with 503 UNAVAILABLE, and a request answered with an error never
 * takes effect later, even though CLIENT PAUSE holds the commands already
 * sent and runs them when the pause ends.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RedisServer, startRedisServer } from "@netforge/devstack";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, natBody, startApiHarness } from "./support/api-harness";

const PAUSE_MS = 4_000;
/** "Fast": well under the pause, loosely above the documented 1 s bound. */
const FAST_MS = 3_000;

let dir: string;
let server: RedisServer;
let admin: Redis;
let h: ApiHarness;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nf-outage-"));
  server = await startRedisServer({ dir });
  admin = new Redis({ path: server.socket, maxRetriesPerRequest: null });
  admin.on("error", () => undefined);
  h = await startApiHarness("outage", { redisTimeoutMs: 1_000 }, { redisUrl: server.url });
  await h.api.ready();
  h.redis.on("error", () => undefined);
});
// A fresh heartbeat: the pauses below outlast the 15 s after which a host counts as offline.
beforeEach(async () => {
  await h.addHost("h1");
});
afterAll(async () => {
  await h?.close();
  admin?.disconnect();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await p;
  return { value, ms: performance.now() - started };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ids of job records (from the global job index) that belong to network `name`. */
async function jobsOf(name: string): Promise<string[]> {
  const ids = await admin.zrange(`${h.prefix}:jobs`, 0, -1);
  if (ids.length === 0) return [];
  const raws = await admin.mget(ids.map((id) => `${h.prefix}:job:${id}`));
  return ids.filter((_, i) => raws[i] === null || JSON.parse(raws[i] as string).network === name);
}

/** Everything a create of `name` could have left: claim, job records, anything on the host's queue. */
async function traces(name: string) {
  const p = h.prefix;
  return {
    claim: await admin.hget(`${p}:claim:names`, name),
    subnetClaim: await admin.hget(`${p}:claim:subnets:h1`, name),
    jobs: await jobsOf(name),
    networkJobs: await admin.zrange(`${p}:jobs:net:${name}`, 0, -1),
    queued: (await admin.lrange(`${p}:bull:host-h1:wait`, 0, -1)).filter((id) => !ours.has(id)),
    // BullMQ job hashes (or tombstones) other than the jobs of earlier tests.
    bullJobKeys: (await h.keysMatching("bull:host-h1:j_*")).filter((k) => !ours.has(k.split(":").at(-1) ?? "")).length,
  };
}
/** Jobs earlier tests created on purpose (accepted creates), left on the queue since no worker runs here. */
const ours = new Set<string>();
const NOTHING = { claim: null, subnetClaim: null, jobs: [], networkJobs: [], queued: [], bullJobKeys: 0 };

describe("Redis paused", () => {
  it("CLIENT PAUSE ALL: a create is answered 503 UNAVAILABLE fast and is not applied when the pause ends; a fresh create then works", async () => {
    await admin.client("PAUSE", PAUSE_MS, "ALL");
    const { value: r, ms } = await timed(h.call("create-network", natBody("paused-all", "10.91.0.0/24")));
    expect(ms).toBeLessThan(FAST_MS);
    const e = expectError(r, 503, "UNAVAILABLE");
    expect(e.message).toMatch(/Redis/);
    await sleep(PAUSE_MS + 300);
    expect(await traces("paused-all")).toEqual(NOTHING);

    const fresh = await h.call("create-network", natBody("paused-all", "10.91.0.0/24"));
    expect(fresh.status).toBe(202);
    ours.add(fresh.body.job.id);
    expect(await admin.hget(`${h.prefix}:claim:names`, "paused-all")).toBe("h1");
    expect(await admin.lrange(`${h.prefix}:bull:host-h1:wait`, 0, -1)).toEqual([fresh.body.job.id]);
  });

  it("CLIENT PAUSE WRITE: reads pass, the commit reaches Redis only after the deadline and is refused there", async () => {
    // Reads (host lookup, placement) answer; the commit is held by Redis and runs when the pause ends, after our 503.
    await admin.client("PAUSE", PAUSE_MS, "WRITE");
    const { value: r, ms } = await timed(h.call("create-network", natBody("paused-write", "10.92.0.0/24")));
    expect(ms).toBeLessThan(FAST_MS);
    expectError(r, 503, "UNAVAILABLE");
    await sleep(PAUSE_MS + 300);
    expect(await traces("paused-write")).toEqual(NOTHING);
  });

  it("CLIENT PAUSE WRITE with an Idempotency-Key: 503, nothing applied, and the retry with the same key does the work", async () => {
    const headers = { "idempotency-key": "outage-retry-1" };
    await admin.client("PAUSE", PAUSE_MS, "WRITE");
    const { value: r, ms } = await timed(h.call("create-network", natBody("paused-idem", "10.93.0.0/24"), { headers }));
    expect(ms).toBeLessThan(FAST_MS);
    expectError(r, 503, "UNAVAILABLE");
    await sleep(PAUSE_MS + 300);
    expect(await traces("paused-idem")).toEqual(NOTHING);

    const retry = await h.call("create-network", natBody("paused-idem", "10.93.0.0/24"), { headers });
    expect(retry.status).toBe(202);
    ours.add(retry.body.job.id);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    const again = await h.call("create-network", natBody("paused-idem", "10.93.0.0/24"), { headers });
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.job.id).toBe(retry.body.job.id);
  });

  it("/readyz says unready while Redis is paused", async () => {
    await admin.client("PAUSE", PAUSE_MS, "ALL");
    const { value: r, ms } = await timed(h.get("/readyz", { role: null }));
    expect(ms).toBeLessThan(FAST_MS + 1_000);
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ status: "unready" });
    await sleep(PAUSE_MS + 300);
  });
});

describe("Redis stopped", () => {
  it("job actions, queries and /readyz answer 503 fast; after a restart requests work again", async () => {
    await server.stop();
    const create = await timed(h.call("create-network", natBody("stopped-1", "10.94.0.0/24")));
    expect(create.ms).toBeLessThan(FAST_MS);
    expectError(create.value, 503, "UNAVAILABLE");
    const list = await timed(h.call("list-networks", {}, { role: "viewer" }));
    expect(list.ms).toBeLessThan(FAST_MS);
    expectError(list.value, 503, "UNAVAILABLE");
    expect(list.value.headers.get("retry-after")).toMatch(/^\d+$/);
    const ready = await timed(h.get("/readyz", { role: null }));
    expect(ready.ms).toBeLessThan(FAST_MS + 1_000);
    expect(ready.value.status).toBe(503);

    server = await startRedisServer({ dir });
    // The data is gone with the server (no persistence here): the host registers again, as its worker would.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await h.call("list-networks", {}, { role: "viewer" });
      if (r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`API did not recover: ${r.status}`);
      await sleep(100);
    }
    await h.addHost("h1");
    const fresh = await h.call("create-network", natBody("stopped-1", "10.94.0.0/24"));
    expect(fresh.status).toBe(202);
  });
});
