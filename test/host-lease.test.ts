/**
 * One running worker per host id, against the run's real Redis: the lease a
 * worker takes at start (core's host-lease, the worker's host-lease.ts). The
 * host side is the simulated host (no libvirt needed: the lease is about the
 * control plane); the process tests run the worker in a fresh network
 * namespace (`unshare -n`) with an unreachable libvirt, so nothing of this
 * machine is touched even by a worker that (unfixed) would not refuse.
 */
import { readFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { encodeHostLeaseOwner, getHost, hostLeaseKey, readHostLease } from "@netforge/core/store";
import { spawnWorker, type WorkerProcess } from "@netforge/devstack";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createWorker, HostIdInUse, type NetforgeWorker, type WorkerConfig } from "@netforge/worker";
import { SimulatedHost } from "./support/fake-host";
import { testRedis } from "./support/redis";

const t = testRedis("lease");
const LEASE_MS = 3_000;
const started: NetforgeWorker[] = [];
const processes: WorkerProcess[] = [];
afterEach(async () => {
  // A BullMQ worker closed within moments of its start can leave a "Connection is closed" rejection of its own
  // start-up behind (not the lease's): let it settle first.
  if (started.length > 0) await sleep(500);
  for (const w of started.splice(0)) await w.stop().catch(() => undefined);
  for (const p of processes.splice(0)) await p.kill();
});
afterAll(() => t.cleanup());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function config(hostId: string): WorkerConfig {
  return {
    redisUrl: t.url,
    prefix: t.prefix,
    hostId,
    libvirtUri: "qemu:///system",
    logLevel: "info",
    concurrency: 1,
    reconcileMs: 60_000,
    firewallCheckMs: 60_000,
    heartbeatMs: 300,
    hostLeaseMs: LEASE_MS,
    leasesDir: "/nonexistent",
    lockTtlMs: 30_000,
    virshTimeoutMs: 60_000,
    shutdownGraceMs: 1_000,
    shutdownAbortMs: 1_000,
    stalledMs: 1_000,
  };
}

/** An in-process worker on the simulated host, with its log lines. */
async function start(hostId: string): Promise<{ w: NetforgeWorker; lines: { level: number; msg: string }[] }> {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  const w = createWorker(config(hostId), { logger: pino({ level: "info" }, sink), runner: new SimulatedHost() });
  await w.start();
  started.push(w);
  return { w, lines };
}

/** A worker process in its own empty network namespace, with libvirt unreachable and no boot file written. */
function spawnIsolated(hostId: string): { p: WorkerProcess; log: string } {
  const log = join(tmpdir(), `nf-lease-${t.prefix}-${hostId}-${Date.now()}.log`);
  const p = spawnWorker({
    hostId,
    redisUrl: t.url,
    prefix: t.prefix,
    enter: ["unshare", "-n", "--"],
    logFile: log,
    env: {
      LIBVIRT_URI: "qemu:///system?socket=/nonexistent/libvirt-sock",
      NETFORGE_FIREWALL_BOOT_FILE: "off",
      NETFORGE_OVERLAY_BOOT_DIR: "off",
      NETFORGE_LEASES_DIR: "/nonexistent",
      NETFORGE_SYSFS_ROOT: "/nonexistent",
      NETFORGE_HEARTBEAT_MS: "300",
      NETFORGE_HOST_LEASE_MS: String(LEASE_MS),
      NETFORGE_RECONCILE_MS: "60000",
      NETFORGE_FIREWALL_CHECK_MS: "60000",
    },
  });
  processes.push(p);
  return { p, log };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("host-id lease", () => {
  it("a second worker with the same HOST_ID refuses to start, naming the owner and the lease's time left", async () => {
    const { w: first } = await start("dup");
    const held = await readHostLease(t.redis, t.keys, "dup");
    expect(held?.owner).toMatchObject({ pid: process.pid, hostname: hostname() });
    const t0 = Date.now();
    const err = await start("dup").then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HostIdInUse);
    const msg = (err as Error).message;
    expect(msg).toContain("host id 'dup' is owned by another running worker");
    expect(msg).toContain(`instance ${held?.owner?.instanceId}`);
    expect(msg).toContain(`pid ${process.pid}`);
    expect(msg).toContain(`hostname ${hostname()}`);
    expect(msg).toMatch(/lease has [1-3] s left/);
    // Refused as soon as the holder was seen renewing: well before the lease could have expired.
    expect(Date.now() - t0).toBeLessThan(LEASE_MS);
    // The first worker is untouched: still the owner, still online.
    expect((await readHostLease(t.redis, t.keys, "dup"))?.owner?.instanceId).toBe(held?.owner?.instanceId);
    expect((await getHost(t.redis, t.keys, "dup"))?.stoppedAt).toBeUndefined();
    await first.stop();
  });

  it("as a process: the second worker exits non-zero with the owner in its log", async () => {
    const { w: first } = await start("dupp");
    const owner = (await readHostLease(t.redis, t.keys, "dupp"))?.owner;
    const { p, log } = spawnIsolated("dupp");
    await until("the second worker to exit", async () => p.exited, 20_000);
    const text = await readFile(log, "utf8");
    expect(text).toContain("worker refused to start: host id 'dupp' is owned by another running worker");
    expect(text).toContain(`instance ${owner?.instanceId}`);
    expect((await readHostLease(t.redis, t.keys, "dupp"))?.owner?.instanceId).toBe(owner?.instanceId);
    await first.stop();
  });

  it("is renewed by the running worker past its TTL, and released on a clean shutdown", async () => {
    const { w } = await start("renew");
    const owner = (await readHostLease(t.redis, t.keys, "renew"))?.owner;
    await sleep(LEASE_MS * 1.5);
    const later = await readHostLease(t.redis, t.keys, "renew");
    expect(later?.owner?.instanceId).toBe(owner?.instanceId);
    expect(later?.ttlLeftMs).toBeGreaterThan(LEASE_MS / 2);
    await w.stop();
    expect(await readHostLease(t.redis, t.keys, "renew")).toBeNull();
    // The next worker of this host id starts at once.
    const t0 = Date.now();
    await start("renew");
    expect(Date.now() - t0).toBeLessThan(LEASE_MS / 2);
  });

  it("after a kill -9, the restarted worker waits for the dead one's lease to expire, then starts", async () => {
    const { p } = spawnIsolated("crash");
    const dead = await until("the process's lease", async () => (await readHostLease(t.redis, t.keys, "crash"))?.owner);
    expect(dead.pid).toBe(p.pid);
    await p.kill();
    const t0 = Date.now();
    const { lines } = await start("crash");
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThan(LEASE_MS / 3);
    expect(waited).toBeLessThan(LEASE_MS + 2_000);
    expect(lines.some((l) => l.msg.includes(`instance ${dead.instanceId}`) && l.msg.includes("waiting for it to expire"))).toBe(true);
    expect((await readHostLease(t.redis, t.keys, "crash"))?.owner?.instanceId).not.toBe(dead.instanceId);
  });

  it("a lease that vanished (Redis emptied) is taken again; one taken by another worker stops this one", async () => {
    const { w } = await start("lost");
    const owner = (await readHostLease(t.redis, t.keys, "lost"))?.owner;
    await t.redis.del(hostLeaseKey(t.keys, "lost"));
    const back = await until("the lease taken again", async () => readHostLease(t.redis, t.keys, "lost"));
    expect(back.owner?.instanceId).toBe(owner?.instanceId);

    // Someone else holds it now: the worker stops acting and says so; it leaves the new owner's host record alone.
    const other = { instanceId: "other-instance", pid: 4242, hostname: "elsewhere", startedAt: new Date().toISOString() };
    await t.redis.set(hostLeaseKey(t.keys, "lost"), encodeHostLeaseOwner(other), "PX", 60_000);
    const err = await Promise.race([w.leaseLost, sleep(5_000).then(() => null)]);
    expect(err?.message).toContain("instance other-instance");
    expect(err?.message).toContain("hostname elsewhere");
    expect((await getHost(t.redis, t.keys, "lost"))?.stoppedAt).toBeUndefined();
    expect((await readHostLease(t.redis, t.keys, "lost"))?.owner?.instanceId).toBe("other-instance");
  });
});
