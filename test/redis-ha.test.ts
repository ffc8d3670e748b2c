/**
 * netforge on a Sentinel-managed Redis (real redis-server primary + replica and
 * three sentinels on loopback ports picked for this run): the primary is killed
 * (SIGKILL, by the pid this test started) in the middle of a stream of creates.
 * Every request is answered (202 or a fast 503, never a hang); every accepted
 * job ends succeeded or failed with a clear error, none is lost and none runs
 * twice on the host; new requests succeed within 10 s of the kill; a 503 without
 * a job id never takes effect. The worker (its host simulated: this is about
 * Redis) and the API both follow the failover through REDIS_URL alone.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createApp } from "@netforge/api";
import { connectRedis, getJob, isTerminal, makeKeys } from "@netforge/core/store";
import { type RedisHa, startRedisHa } from "@netforge/devstack";
import { createWorker, type NetforgeWorker } from "@netforge/worker";
import { pino } from "pino";
import { afterAll, expect, it } from "vitest";
import { SimulatedHost } from "./support/fake-host";

const TOKEN = "ha-admin-token-0123456789";
let ha: RedisHa | undefined;
let worker: NetforgeWorker | undefined;
let closeApi: (() => Promise<void>) | undefined;
afterAll(async () => {
  await closeApi?.();
  await worker?.stop();
  await ha?.stop();
});

interface Answer {
  name: string;
  sentAt: number;
  ms: number;
  status: number;
  code?: string;
  message?: string;
  jobId?: string;
}

it("primary killed mid-stream: answers stay fast, accepted jobs all finish once, service back within 10 s", {
  timeout: 120_000,
}, async () => {
  ha = await startRedisHa();
  const prefix = `nftest-ha-${process.pid}`;
  const keys = makeKeys(prefix);
  const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
  const host = new SimulatedHost({ "net-define": 5, "net-start": 20 });
  worker = createWorker(
    {
      redisUrl: ha.url,
      prefix,
      hostId: "ha-1",
      libvirtUri: "qemu:///system",
      logLevel: "info",
      concurrency: 8,
      reconcileMs: 60_000,
      firewallCheckMs: 3_000,
      heartbeatMs: 500,
      leasesDir: "/nonexistent",
      lockTtlMs: 5_000,
      virshTimeoutMs: 10_000,
      shutdownGraceMs: 1_000,
      shutdownAbortMs: 1_000,
      stalledMs: 3_000,
    },
    { logger, runner: host },
  );
  await worker.start();
  const redis = connectRedis(ha.url, { lazyConnect: true });
  const api = createApp({ redis, keys, logger, tokens: new Map([[TOKEN, "admin"]]), config: { rateLimitPerSecond: 0 } });
  await api.ready();
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: api.app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
  });
  closeApi = async () => {
    await api.close();
    if ("closeAllConnections" in server) server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    redis.disconnect();
  };
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const answers: Answer[] = [];
  let n = 0;
  const send = async (): Promise<void> => {
    const i = n++;
    const name = `ha-${i}`;
    const sentAt = Date.now();
    const res = await fetch(`${base}/api/create-network`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name, type: "nat", cidr: `10.${100 + Math.floor(i / 250)}.${i % 250}.0/24` }),
      signal: AbortSignal.timeout(15_000), // a hang fails the test
    });
    const body = (await res.json()) as { job?: { id: string }; error?: { code: string; message: string; details: { jobId?: string } } };
    const jobId = body.job?.id ?? body.error?.details.jobId;
    answers.push({
      name,
      sentAt,
      ms: Date.now() - sentAt,
      status: res.status,
      ...(body.error ? { code: body.error.code, message: body.error.message } : {}),
      ...(jobId ? { jobId } : {}),
    });
  };

  // 4 clients in a loop for 14 s; the primary dies after 3 s.
  const streamEnds = Date.now() + 14_000;
  const client = async () => {
    while (Date.now() < streamEnds) {
      await send();
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const clients = Promise.all([client(), client(), client(), client()]);
  await new Promise((r) => setTimeout(r, 3_000));
  const oldPrimary = ha.primary.port;
  const killedAt = Date.now();
  await ha.primary.kill();
  await clients;
  expect(await ha.currentPrimaryPort()).toBe(ha.replica.port); // the failover happened

  // Never a hang: every answer within a few request timeouts; only 202 or 503.
  expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(5_000);
  for (const a of answers) expect([202, 503], JSON.stringify(a)).toContain(a.status);
  const before = answers.filter((a) => a.sentAt < killedAt);
  const after = answers.filter((a) => a.sentAt >= killedAt);
  expect(before.filter((a) => a.status === 202).length).toBeGreaterThan(10);
  // Back within 10 s: the first success after the kill, and everything sent from 10 s on succeeds.
  const firstOk = after.find((a) => a.status === 202);
  if (!firstOk) console.log([...new Set(after.map((a) => `${a.status} ${a.message}`))]);
  expect(firstOk, "no success after the failover").toBeDefined();
  expect((firstOk?.sentAt ?? 0) + (firstOk?.ms ?? 0) - killedAt).toBeLessThan(10_000);
  expect(after.filter((a) => a.sentAt >= killedAt + 10_000 && a.status !== 202)).toEqual([]);
  const unavailable = answers.filter((a) => a.status === 503);
  expect(unavailable.every((a) => a.code === "UNAVAILABLE" || a.code === "NO_HOST")).toBe(true);

  // Every accepted job finishes, once.
  const check = connectRedis(ha.url);
  try {
    const accepted = answers.filter((a) => a.status === 202);
    const deadline = Date.now() + 60_000;
    for (const a of accepted) {
      for (;;) {
        const rec = await getJob(check, keys, a.jobId as string);
        expect(rec, `accepted job ${a.jobId} (${a.name}) lost`).not.toBeNull();
        if (rec && isTerminal(rec.state)) {
          if (rec.state === "failed") expect(rec.error?.message ?? "").not.toBe("");
          else expect(host.active.has(a.name)).toBe(true);
          break;
        }
        if (Date.now() > deadline) throw new Error(`job ${a.jobId} (${a.name}) not finished: ${rec?.state} ${rec?.progress.step}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // None ran twice on the host.
      expect(host.count(a.name, "net-start"), a.name).toBeLessThanOrEqual(1);
      expect(host.count(a.name, "net-define"), a.name).toBeLessThanOrEqual(1);
    }
    // A 503 without a job id was never applied, not even later.
    await new Promise((r) => setTimeout(r, 2_000));
    for (const a of unavailable.filter((x) => !x.jobId)) expect(host.count(a.name, "net-define"), a.name).toBe(0);
    // A 503 with a job id: the job either exists and finished, or never existed (and never ran).
    for (const a of unavailable.filter((x) => x.jobId)) {
      const rec = await getJob(check, keys, a.jobId as string);
      if (rec) expect(isTerminal(rec.state)).toBe(true);
      else expect(host.count(a.name, "net-define"), a.name).toBe(0);
    }
    const summary = {
      oldPrimary,
      newPrimary: ha.replica.port,
      sent: answers.length,
      accepted: accepted.length,
      unavailable: unavailable.length,
      firstOkAfterKillMs: (firstOk?.sentAt ?? 0) + (firstOk?.ms ?? 0) - killedAt,
      slowestMs: Math.max(...answers.map((a) => a.ms)),
    };
    console.log(`redis-ha: ${JSON.stringify(summary)}`);
  } finally {
    check.disconnect();
  }
});
