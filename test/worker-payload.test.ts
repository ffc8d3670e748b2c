/**
 * The worker trusts no payload it reads from Redis: a job whose queued data
 * was changed after the API checked it fails VALIDATION_FAILED (final, no
 * retry) before any host step. Real Redis, the real API and the real worker
 * in process; the host is the simulated one, which records every command, so
 * "nothing was done to the host" is read from what it was asked to run. The
 * same submission untampered does reach the host (the control case).
 */
import { getJob, type JobRecord, makeKeys } from "@netforge/core/store";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, natBody, startApiHarness } from "./support/api-harness";
import { SimulatedHost } from "./support/fake-host";
import { createWorker, type NetforgeWorker } from "@netforge/worker";

const HOST = "pv";
let h: ApiHarness;
let worker: NetforgeWorker | null = null;
const sim = new SimulatedHost();

beforeAll(async () => {
  h = await startApiHarness("payload");
  await h.addHost(HOST);
});
afterAll(async () => {
  await worker?.stop();
  await h.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function finished(jobId: string): Promise<JobRecord> {
  const end = Date.now() + 20_000;
  for (;;) {
    const r = await getJob(h.redis, h.keys, jobId);
    if (r && (r.state === "succeeded" || r.state === "failed")) return r;
    if (Date.now() > end) throw new Error(`job ${jobId} did not finish (${r?.state})`);
    await sleep(50);
  }
}

/** The worker of HOST, in process, on the simulated host. */
async function startSimWorker(): Promise<NetforgeWorker> {
  const w = createWorker(
    {
      redisUrl: h.url,
      prefix: h.prefix,
      hostId: HOST,
      libvirtUri: "qemu:///system",
      logLevel: "silent",
      concurrency: 1,
      reconcileMs: 60_000,
      firewallCheckMs: 60_000,
      heartbeatMs: 500,
      leasesDir: "/nonexistent",
      lockTtlMs: 30_000,
      virshTimeoutMs: 60_000,
      shutdownGraceMs: 1_000,
      shutdownAbortMs: 1_000,
      stalledMs: 5_000,
    },
    { logger: pino({ level: "silent" }), runner: sim },
  );
  await w.start();
  return w;
}

/** Queue a job through the API; the worker is not running yet, so the job waits in Redis. */
async function queue(action: string, body: object): Promise<string> {
  const r = await h.call(action, body);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.job.id as string;
}

/** Rewrite the queued BullMQ job's payload in Redis, as someone with access to Redis could. */
async function tamper(jobId: string, change: (p: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  const key = `${makeKeys(h.prefix).bull}:host-${HOST}:${jobId}`;
  const data = JSON.parse((await h.redis.hget(key, "data")) as string);
  data.payload = change(data.payload);
  await h.redis.hset(key, "data", JSON.stringify(data));
}

describe("payloads tampered in Redis", () => {
  it("fail VALIDATION_FAILED without touching the host; the untampered control reaches it", async () => {
    const control = await queue("create-network", natBody("ok", "192.168.50.0/24", { host: HOST }));
    const wideSubnet = await queue("create-network", natBody("wide", "192.168.51.0/24", { host: HOST }));
    // A subnet swapped for one the gateway and range were not checked against (10/8 instead of the /24).
    await tamper(wideSubnet, (p) => ({ ...p, cidr: "10.0.0.0/8" }));
    const extraField = await queue("create-network", natBody("extra", "192.168.52.0/24", { host: HOST }));
    await tamper(extraField, (p) => ({ ...p, bridge: "eth0" }));
    const otherHost = await queue("create-network", natBody("elsewhere", "192.168.53.0/24", { host: HOST }));
    await tamper(otherHost, (p) => ({ ...p, host: "hv9" }));

    worker = await startSimWorker();

    const ok = await finished(control);
    expect(ok.state, JSON.stringify(ok.error)).toBe("succeeded");
    expect(sim.count("ok", "net-define")).toBe(1);

    for (const [id, name, path] of [
      [wideSubnet, "wide", "payload.gateway"],
      [extraField, "extra", "payload.bridge"],
      [otherHost, "elsewhere", "payload.host"],
    ] as const) {
      const r = await finished(id);
      expect(r.state).toBe("failed");
      expect(r.error?.code).toBe("VALIDATION_FAILED");
      expect(r.error?.message).toContain("nothing was changed");
      expect(((r.error?.details.issues ?? []) as { path: string }[]).map((i) => i.path)).toContain(path);
      expect(r.attempts).toBe(1); // final: not retried
      // Not a single command for it on the host, and its name and subnet are free again.
      expect(sim.counts.get(name)).toBeUndefined();
      expect(sim.defined.has(name)).toBe(false);
      expect(await h.redis.hget(h.keys.claimedNames, name)).toBeNull();
    }
  });

  it("a change of an existing network aimed at another network than its job's is refused", async () => {
    // The worker is stopped while the job is queued and altered (the host record put back online for the API).
    await worker?.stop();
    await h.addHost(HOST);
    const del = await queue("stop-network", { name: "ok" });
    await tamper(del, () => ({ name: "victim" }));
    worker = await startSimWorker();
    const r = await finished(del);
    expect(r.error?.code).toBe("VALIDATION_FAILED");
    expect(((r.error?.details.issues ?? []) as { path: string }[]).map((i) => i.path)).toContain("payload.name");
    expect(sim.count("ok", "net-destroy")).toBe(0);
    expect(sim.active.has("ok")).toBe(true);
  });
});
