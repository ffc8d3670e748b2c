/**
 * Worker shutdown on a real sandbox hypervisor (the worker is its own process,
 * SIGTERM sent by pid): it takes no new job, lets the running one finish within
 * NETFORGE_SHUTDOWN_GRACE_MS, releases the network lock and marks its host
 * offline; a job still running when the grace is over stops before its next
 * step, undoes what it did and goes back to the queue with no attempt used,
 * and the next worker of the host runs it from the start.
 */
import { getHost, hostStatus } from "@netforge/core/store";
import type { SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

const HOST = "sd";
let c: Cluster;
let h: SandboxHost;

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST }], label: "shut", workerEnv: { NETFORGE_WORKER_CONCURRENCY: "1" } });
  h = c.hosts.get(HOST) as SandboxHost;
}, 120_000);
afterAll(async () => {
  await c?.stop();
});

interface JobView {
  id: string;
  state: string;
  attempts: number;
  progress: { step: string | null };
  error: { message: string } | null;
}
async function job(id: string): Promise<JobView> {
  return (await c.get(`/api/jobs/${id}`)).body.job as JobView;
}
async function submit(name: string, cidr: string): Promise<string> {
  const r = await c.call("create-network", { name, type: "nat", cidr });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.job.id as string;
}
async function libvirtHas(name: string): Promise<boolean> {
  return (await h.virsh(["net-list", "--all", "--name"])).stdout.split("\n").some((l) => l.trim() === name);
}
/**
 * SIGTERM the worker the moment the job of `network` reports `step` running, but only once `submitFn` has
 * returned (the host goes offline at the signal, so later submissions would be refused with NO_HOST).
 * Resolves when the process has exited, with the time from the signal to the exit.
 */
async function sigtermAt(network: string, step: string, submitFn: () => Promise<unknown>): Promise<number> {
  const sub = c.redis.duplicate();
  let stopped: Promise<void> | null = null;
  let armed = false;
  let signalledAt = 0;
  await sub.subscribe(c.keys.eventsChannel);
  sub.on("message", (_ch, raw) => {
    const ev = JSON.parse(raw) as { network: string; type: string; job: JobView };
    if (!armed || stopped || ev.network !== network) return;
    if (ev.type === "progress" && ev.job.progress.step === step) {
      signalledAt = Date.now();
      stopped = c.workers.get(HOST)?.stop(60_000) ?? null; // SIGTERM; SIGKILL only after 60 s
    }
  });
  try {
    await submitFn();
    armed = true;
    await waitFor(`the SIGTERM at "${step}"`, async () => stopped !== null, 30_000, 5);
    await stopped;
    expect(c.workers.get(HOST)?.exited).toBe(true);
    return Date.now() - signalledAt;
  } finally {
    sub.disconnect();
  }
}
async function expectStoppedCleanly(): Promise<void> {
  const rec = await getHost(c.redis, c.keys, HOST);
  expect(rec?.stoppedAt).toBeTruthy();
  expect(rec && hostStatus(rec)).toBe("offline");
  // No network lock left behind.
  const locks: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await c.redis.scan(cursor, "MATCH", `${c.prefix}:lock:*`, "COUNT", 1000);
    cursor = next;
    locks.push(...batch);
  } while (cursor !== "0");
  expect(locks).toEqual([]);
}

describe("worker SIGTERM", () => {
  it("drains: the running job finishes, the queued one is not taken, locks released, host offline; the next worker runs it", {
    timeout: 120_000,
  }, async () => {
    let a = "";
    let b = "";
    // The last and longest step, so that drain-b is surely submitted before it.
    await sigtermAt("drain-a", "verifying DHCP", async () => {
      a = await submit("drain-a", "10.81.1.0/24");
      b = await submit("drain-b", "10.81.2.0/24"); // concurrency 1: waits behind drain-a
    });
    expect((await job(a)).state).toBe("succeeded");
    expect(await libvirtHas("drain-a")).toBe(true);
    const queued = await job(b);
    expect(queued.state).toBe("queued");
    expect(queued.attempts).toBe(0);
    expect(await libvirtHas("drain-b")).toBe(false);
    await expectStoppedCleanly();

    await c.startWorker(HOST);
    const done = await waitFor(
      "drain-b to finish",
      async () => {
        const j = await job(b);
        return j.state === "succeeded" || j.state === "failed" ? j : null;
      },
      60_000,
    );
    expect(done.state).toBe("succeeded");
    expect(done.attempts).toBe(1);
  });

  it("grace over: the running job stops before its next step, undoes, requeues with no attempt used; the next worker completes it", {
    timeout: 120_000,
  }, async () => {
    await c.startWorker(HOST, { env: { NETFORGE_SHUTDOWN_GRACE_MS: "0", NETFORGE_SHUTDOWN_ABORT_MS: "20000" } });
    let id = "";
    const tookMs = await sigtermAt("grace-c", "defining network", async () => {
      id = await submit("grace-c", "10.81.3.0/24");
    });
    expect(tookMs).toBeLessThan(20_000);
    const j = await job(id);
    expect(j.state).toBe("queued");
    expect(j.attempts).toBe(0);
    expect(j.progress.step).toMatch(/^requeued: the worker stopped before this job finished/);
    // Never half-applied: the define was undone.
    expect(await libvirtHas("grace-c")).toBe(false);
    await expectStoppedCleanly();

    await c.startWorker(HOST);
    const done = await waitFor(
      "grace-c to finish",
      async () => {
        const r = await job(id);
        return r.state === "succeeded" || r.state === "failed" ? r : null;
      },
      60_000,
    );
    expect(done.state).toBe("succeeded");
    expect(done.attempts).toBe(1);
    expect(await libvirtHas("grace-c")).toBe(true);
  });
});
