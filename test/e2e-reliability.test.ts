/**
 * Reliability of the worker on a real sandbox hypervisor: parallel jobs on
 * different networks, strict one-at-a-time per network, a busy network lock
 * not holding a worker slot, live SSE from a real job, the index rebuilt from
 * the host after Redis lost it (and drift behind netforge's back repaired),
 * and a worker killed mid-job leaving the host and the index consistent.
 */
import type { SandboxHost } from "@netforge/sandbox";
import { pidComm } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, TOKENS, waitFor } from "./support/cluster";
import { openSse, type SseMessage } from "./support/sse-client";
import { scanKeys } from "./support/redis";

const HOST = "rel";
const CREATE_STEPS = ["checking host", "defining network", "starting network", "setting autostart", "verifying DHCP"];

let c: Cluster;
let h: SandboxHost;

beforeAll(async () => {
  // Stalled-job detection in seconds rather than the production 30 s (see NETFORGE_STALLED_MS).
  c = await startCluster({ hosts: [{ id: HOST }], label: "rel", workerEnv: { NETFORGE_STALLED_MS: "3000" } });
  h = c.hosts.get(HOST) as SandboxHost;
});
afterAll(async () => {
  await c?.stop();
});

interface JobView {
  id: string;
  action: string;
  network: string;
  state: "queued" | "running" | "succeeded" | "failed";
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: { code: string; message: string } | null;
  result: any;
  progress: { percent: number; step: string | null; steps: { name: string; state: string }[] };
}

async function job(id: string): Promise<JobView> {
  const r = await c.get(`/api/jobs/${id}`);
  expect(r.status).toBe(200);
  return r.body.job as JobView;
}
async function finished(id: string, timeoutMs = 30_000): Promise<JobView> {
  return waitFor(
    `job ${id} to finish`,
    async () => {
      const j = await job(id);
      return j.state === "succeeded" || j.state === "failed" ? j : null;
    },
    timeoutMs,
    50,
  );
}
async function submit(action: string, body: Record<string, unknown>): Promise<string> {
  const r = await c.call(action, body);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.job.id as string;
}
async function create(name: string, cidr: string, extra: Record<string, unknown> = {}): Promise<any> {
  const r = await c.call("create-network", { name, type: "nat", cidr, ...extra }, { wait: 30 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.job.result;
}
async function libvirtNetworks(): Promise<string[]> {
  const r = await h.virsh(["net-list", "--all", "--name"]);
  return r.stdout
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();
}
const interval = (j: JobView): [number, number] => [Date.parse(j.startedAt as string), Date.parse(j.finishedAt as string)];
/** Take a network's lock the way a worker does (SET NX PX), from outside: jobs on it must wait. */
async function holdLock(network: string): Promise<() => Promise<void>> {
  const key = c.keys.networkLock(network);
  expect(await c.redis.set(key, "held-by-test", "PX", 60_000, "NX")).toBe("OK");
  return async () => {
    await c.redis.del(key);
  };
}

describe("worker concurrency", () => {
  const names = ["par-a", "par-b", "par-c", "par-d"];

  it("runs jobs of different networks in parallel", async () => {
    const ids = await Promise.all(names.map((n, i) => submit("create-network", { name: n, type: "nat", cidr: `10.90.${i}.0/24` })));
    const jobs = await Promise.all(ids.map((id) => finished(id)));
    for (const j of jobs) expect(j.state, JSON.stringify(j.error)).toBe("succeeded");
    // All four were running at one moment: the latest start is before the earliest finish.
    const starts = jobs.map((j) => interval(j)[0]);
    const ends = jobs.map((j) => interval(j)[1]);
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
    expect(await libvirtNetworks()).toEqual(names);
    const bridges = jobs.map((j) => j.result.bridge.name);
    expect(new Set(bridges).size).toBe(4);
  });

  it("never runs two jobs of one network at once: stop and delete sent together run one after the other", async () => {
    // For each of the four networks, a stop and a delete at the same moment (8 jobs at once).
    const pairs = await Promise.all(
      names.map(async (name) => {
        const [stop, del] = await Promise.all([c.call("stop-network", { name }), c.call("delete-network", { name })]);
        expect(stop.status, JSON.stringify(stop.body)).toBe(202);
        expect(del.status, JSON.stringify(del.body)).toBe(202);
        return { name, stop: stop.body.job.id as string, del: del.body.job.id as string };
      }),
    );
    for (const p of pairs) {
      const [stop, del] = [await finished(p.stop), await finished(p.del)];
      const [first, later] = Date.parse(stop.startedAt as string) < Date.parse(del.startedAt as string) ? [stop, del] : [del, stop];
      // Disjoint: the later one started only after the first finished.
      expect(interval(first)[1], `${p.name}: ${JSON.stringify([first, later].map(interval))}`).toBeLessThanOrEqual(interval(later)[0]);
      expect(first.state, JSON.stringify(first.error)).toBe("succeeded");
      if (later.state === "failed") {
        // A delete that ran first leaves the stop nothing to stop.
        expect(later.action).toBe("stop-network");
        expect(["NOT_FOUND", "INVALID_STATE"]).toContain(later.error?.code);
        expect(later.attempts).toBe(1);
      } else {
        expect(later.state).toBe("succeeded");
        expect(later.action).toBe("delete-network");
      }
    }
    // Whatever the order, every network ends deleted, everywhere.
    expect(await libvirtNetworks()).toEqual([]);
    for (const name of names) {
      expect((await c.call("describe-network", { name })).status).toBe(404);
      expect(await c.redis.hget(c.keys.claimedNames, name)).toBeNull();
    }
  });

  it("a job waiting for a busy network lock does not hold a worker slot (NETFORGE_WORKER_CONCURRENCY=1)", async () => {
    await create("held", "10.91.0.0/24");
    await c.startWorker(HOST, { env: { NETFORGE_WORKER_CONCURRENCY: "1" } });
    const release = await holdLock("held");
    try {
      const stopId = await submit("stop-network", { name: "held" });
      await new Promise((r) => setTimeout(r, 500));
      // The single slot is free for another network while "held" waits.
      const other = await c.call("create-network", { name: "other", type: "isolated", cidr: "10.92.0.0/24" }, { wait: 20 });
      expect(other.status, JSON.stringify(other.body)).toBe(200);
      const waiting = await job(stopId);
      expect(waiting.state).toBe("queued");
      expect(waiting.startedAt).toBeNull();
      expect((await h.virsh(["net-info", "held"])).stdout).toMatch(/Active:\s+yes/);
      await release();
      const stop = await finished(stopId, 10_000);
      expect(stop.state, JSON.stringify(stop.error)).toBe("succeeded");
      expect(Date.parse(stop.startedAt as string)).toBeGreaterThan(Date.parse(other.body.job.finishedAt));
      expect((await h.virsh(["net-info", "held"])).stdout).toMatch(/Active:\s+no/);
    } finally {
      await release();
      await c.startWorker(HOST);
    }
    for (const name of ["held", "other"]) expect((await c.call("delete-network", { name }, { wait: 30 })).status).toBe(200);
  });
});

describe("live job events from a real worker", () => {
  async function collect(conn: Awaited<ReturnType<typeof openSse>>): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    for (;;) {
      const m = await conn.next(30_000);
      if (m === null) return out;
      out.push(m);
    }
  }

  it("snapshot, then progress through the create steps in order, exactly one succeeded, then the stream closes", async () => {
    // Hold the network's lock so the job cannot start before we are subscribed: we then see every step.
    const release = await holdLock("sse-net");
    let conn: Awaited<ReturnType<typeof openSse>> | undefined;
    try {
      const id = await submit("create-network", { name: "sse-net", type: "nat", cidr: "10.93.0.0/24" });
      conn = await openSse(`${c.baseUrl}/api/jobs/${id}/events`, { authorization: `Bearer ${TOKENS.viewer}` });
      expect(conn.status).toBe(200);
      expect(conn.headers.get("content-type")).toContain("text/event-stream");
      const snapshot = await conn.next(5_000);
      expect(snapshot?.event).toBe("snapshot");
      expect(JSON.parse(snapshot?.data ?? "null")).toMatchObject({ id, state: "queued", action: "create-network" });
      await release();

      const events = await collect(conn);
      expect(conn.ended()).toBe(true);
      const types = events.map((e) => e.event);
      expect(types.filter((t) => t !== "progress")).toEqual(["succeeded"]);
      expect(types.at(-1)).toBe("succeeded");
      expect(types.length).toBeGreaterThan(CREATE_STEPS.length);
      const jobs = events.map((e) => JSON.parse(e.data) as JobView);
      for (const j of jobs) expect(j.id).toBe(id);
      // Step names as they became current, in order: exactly the create steps.
      const stepNames = jobs
        .filter((_, i) => types[i] === "progress")
        .map((j) => j.progress.step)
        .filter((s): s is string => s !== null)
        .filter((s, i, all) => s !== all[i - 1]);
      expect(stepNames).toEqual(CREATE_STEPS);
      for (const j of jobs.slice(0, -1)) expect(j.state).toBe("running");
      // Ids increase, percent never goes back, and the end carries the result.
      const ids = events.map((e) => e.id as string);
      expect(ids.every((x) => /^\d+-\d+$/.test(x))).toBe(true);
      const ms = ids.map((x) => x.split("-").map(Number) as [number, number]);
      for (let i = 1; i < ms.length; i++) {
        const [a, b] = [ms[i - 1] as [number, number], ms[i] as [number, number]];
        expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])).toBe(true);
      }
      const percents = jobs.map((j) => j.progress.percent);
      expect([...percents].sort((a, b) => a - b)).toEqual(percents);
      const last = jobs.at(-1) as JobView;
      expect(last).toMatchObject({ state: "succeeded", progress: { percent: 100 }, result: { name: "sse-net", state: "active" } });
      expect(last.progress.steps.map((s) => [s.name, s.state])).toEqual(CREATE_STEPS.map((s) => [s, "succeeded"]));
    } finally {
      conn?.close();
      await release();
    }
    // A subscriber arriving after the end gets the snapshot and the terminal event, then the stream closes.
    const jobId = (await c.call("list-jobs", { network: "sse-net" })).body.jobs[0].id as string;
    const late = await openSse(`${c.baseUrl}/api/jobs/${jobId}/events`, { authorization: `Bearer ${TOKENS.viewer}` });
    expect((await collect(late)).map((e) => e.event)).toEqual(["snapshot", "succeeded"]);
    expect((await c.call("delete-network", { name: "sse-net" }, { wait: 30 })).status).toBe(200);
  });
});

describe("the index is rebuilt from the host", () => {
  const describeNet = async (name: string) => c.call("describe-network", { name }, { token: TOKENS.viewer });
  /** The record minus what legitimately changes (updatedAt, live stats). */
  const stable = (n: any) => {
    const { updatedAt: _u, stats: _s, ...rest } = n;
    return rest;
  };
  /** Delete every index entry of a network: record, listing, stats, name and subnet claims. */
  async function forget(name: string): Promise<void> {
    await c.redis
      .multi()
      .del(c.keys.network(name), c.keys.networkStats(name))
      .zrem(c.keys.networks, name)
      .hdel(c.keys.claimedNames, name)
      .hdel(c.keys.claimedSubnets(HOST), name)
      .exec();
    expect((await describeNet(name)).status).toBe(404);
  }
  async function expectClaimed(name: string, cidr: string, overlapping: string): Promise<void> {
    const again = await c.call("create-network", { name, type: "nat", cidr: "10.99.0.0/24" });
    expect(again.status, JSON.stringify(again.body)).toBe(409);
    expect(again.body.error.code).toBe("NAME_TAKEN");
    const overlap = await c.call("create-network", { name: `${name}-x`, type: "nat", cidr: overlapping, host: HOST });
    expect(overlap.status, JSON.stringify(overlap.body)).toBe(409);
    expect(overlap.body.error.code).toBe("CIDR_CONFLICT");
    expect(overlap.body.error.details.conflictsWith).toEqual({ network: name, cidr });
  }

  it("a network whose index entries were lost comes back by the periodic reconcile, same uuid, cidr and state", async () => {
    await create("keep", "10.94.0.0/24", {
      description: "survives redis",
      dhcp: { start: "10.94.0.10", end: "10.94.0.20", leaseTime: 900 },
    });
    const before = (await describeNet("keep")).body.network;
    expect(before.uuid).toBe((await h.virsh(["net-uuid", "keep"])).stdout.trim());
    await forget("keep");
    expect((await c.call("list-networks", {})).body.networks).toEqual([]);
    // The cluster runs workers with NETFORGE_RECONCILE_MS=5000.
    const back = await waitFor(
      "keep back in the index",
      async () => {
        const d = await describeNet("keep");
        return d.status === 200 ? d.body.network : null;
      },
      12_000,
      200,
    );
    expect(back).toMatchObject({ name: "keep", uuid: before.uuid, cidr: "10.94.0.0/24", state: "active", host: HOST });
    expect(stable(back)).toEqual(stable(before));
    await expectClaimed("keep", "10.94.0.0/24", "10.94.0.128/25");
  });

  it("a running network's dnsmasq killed by hand is started again by reconcile (found by the chaos run)", async () => {
    const pidOf = async () => {
      const r = await h.exec(["cat", "/run/libvirt/network/keep.pid"], { reject: false });
      const pid = Number(r.stdout.trim());
      return r.exitCode === 0 && pid > 0 && pidComm(pid) === "dnsmasq" ? pid : null;
    };
    const before = await pidOf();
    expect(before).not.toBeNull();
    process.kill(before as number, "SIGKILL");
    await waitFor("keep's dnsmasq gone", async () => (await pidOf()) === null, 5_000, 100);
    // The cluster runs workers with NETFORGE_RECONCILE_MS=5000.
    const after = await waitFor("keep's dnsmasq running again", pidOf, 15_000, 200);
    expect(after).not.toBe(before);
    // Started from the network's own configuration, with nothing of the restart left in the live definition.
    expect((await h.virsh(["net-dumpxml", "keep"])).stdout).not.toContain("netforge-dhcp-restart");
  });

  it("after losing every index key, a restarted worker rebuilds its host's part before it takes jobs", async () => {
    await create("keep2", "10.95.0.0/24", { start: false, autostart: false });
    const before = Object.fromEntries(
      await Promise.all(["keep", "keep2"].map(async (n) => [n, (await describeNet(n)).body.network] as const)),
    );
    expect(before.keep2.state).toBe("inactive");
    await c.workers.get(HOST)?.stop();
    // What losing Redis loses (never FLUSHALL: the Redis is shared): the whole index of networks, claims and hosts.
    const lost: string[] = [];
    for (const pattern of ["net:*", "netstats:*", "nets", "claim:*", "host:*", "hosts"]) {
      lost.push(...(await scanKeys(c.redis, `${c.prefix}:${pattern}`)));
    }
    expect(lost).toEqual(expect.arrayContaining([c.keys.network("keep"), c.keys.network("keep2"), c.keys.claimedNames]));
    await c.redis.del(...lost);
    expect((await c.call("list-hosts", {})).body.hosts).toEqual([]);

    await c.startWorker(HOST);
    // No waiting: the worker reconciled before it announced itself online.
    for (const n of ["keep", "keep2"]) {
      const d = await describeNet(n);
      expect(d.status, n).toBe(200);
      expect(stable(d.body.network)).toEqual(stable(before[n]));
    }
    await expectClaimed("keep", "10.94.0.0/24", "10.94.0.0/16");
    await expectClaimed("keep2", "10.95.0.0/24", "10.95.0.64/26");
    const [hostRec] = (await c.call("list-hosts", {})).body.hosts;
    expect(hostRec).toMatchObject({ id: HOST, status: "online", networks: 2 });
    // And it works as before: the rebuilt network can be started.
    const start = await c.call("start-network", { name: "keep2" }, { wait: 30 });
    expect(start.status, JSON.stringify(start.body)).toBe(200);
  });

  it("a network removed behind netforge's back leaves the index after reconcile, and its name and subnet are free", async () => {
    await h.virsh(["net-destroy", "keep2"]);
    await h.virsh(["net-undefine", "keep2"]);
    await waitFor("keep2 out of the index", async () => (await describeNet("keep2")).status === 404, 12_000, 200);
    expect(await c.redis.hget(c.keys.claimedNames, "keep2")).toBeNull();
    expect(await c.redis.hget(c.keys.claimedSubnets(HOST), "keep2")).toBeNull();
    expect((await c.call("list-networks", {})).body.networks.map((n: { name: string }) => n.name)).toEqual(["keep"]);
    await create("keep2", "10.95.0.0/24");
    expect(await libvirtNetworks()).toEqual(["keep", "keep2"]);
    for (const name of ["keep", "keep2"]) expect((await c.call("delete-network", { name }, { wait: 30 })).status).toBe(200);
  });
});

describe("crash safety", () => {
  /**
   * Submit a create and kill -9 the worker the moment the job reports `step`
   * (seen on the events channel, so within milliseconds). Returns the job id.
   */
  async function createAndKillAt(name: string, cidr: string, step: string): Promise<string> {
    const sub = c.redis.duplicate();
    let killed: Promise<void> | null = null;
    await sub.subscribe(c.keys.eventsChannel);
    sub.on("message", (_ch, raw) => {
      const ev = JSON.parse(raw) as { network: string; type: string; job: JobView };
      if (killed || ev.network !== name) return;
      if (ev.type === "progress" && ev.job.progress.step === step) killed = c.workers.get(HOST)?.kill() ?? null;
    });
    try {
      const id = await submit("create-network", { name, type: "nat", cidr });
      await waitFor(`the kill at "${step}"`, async () => killed !== null, 20_000, 10);
      await killed;
      expect(c.workers.get(HOST)?.exited).toBe(true);
      const j = await job(id);
      // Killed mid-job, at `step` or (virsh being fast) a step or so later.
      expect(j.state).toBe("running");
      expect(CREATE_STEPS.indexOf(j.progress.step ?? "")).toBeGreaterThanOrEqual(CREATE_STEPS.indexOf(step));
      return id;
    } finally {
      sub.disconnect();
    }
  }
  /** Host and index agree about `name`: in libvirt, indexed and claimed, or none of these. */
  async function expectConsistent(name: string, cidr: string, exists: boolean): Promise<void> {
    const d = await c.call("describe-network", { name });
    const claim = await c.redis.hget(c.keys.claimedNames, name);
    const subnet = await c.redis.hget(c.keys.claimedSubnets(HOST), name);
    expect((await libvirtNetworks()).includes(name)).toBe(exists);
    if (exists) {
      expect(d.status).toBe(200);
      expect(d.body.network.uuid).toBe((await h.virsh(["net-uuid", name])).stdout.trim());
      expect(d.body.network).toMatchObject({ state: "active", autostart: true, cidr });
      expect((await h.virsh(["net-info", name])).stdout).toMatch(/Active:\s+yes/);
      expect(claim).toBe(HOST);
      expect(subnet).toContain(cidr);
    } else {
      expect(d.status, JSON.stringify(d.body)).toBe(404);
      expect(claim).toBeNull();
      expect(subnet).toBeNull();
    }
  }

  it("a worker killed (-9) after libvirt started the network: the restarted worker finishes the create", { timeout: 90_000 }, async () => {
    // At "setting autostart" the network is defined and active: the leftover holds its bridge and subnet.
    const id = await createAndKillAt("crash", "10.96.0.0/24", "setting autostart");
    expect((await h.virsh(["net-info", "crash"])).stdout).toMatch(/Active:\s+yes/);

    await c.startWorker(HOST);
    // Stalled-job detection gives the job back; it then waits for the dead worker's network lock (30 s TTL).
    const end = await finished(id, 70_000);
    // The retry recognises its own leftover (same uuid) and starts clean; the host is healthy, so it succeeds.
    expect(end.state, JSON.stringify(end.error)).toBe("succeeded");
    expect(end.progress.steps.map((s) => s.state)).toEqual(CREATE_STEPS.map(() => "succeeded"));
    await expectConsistent("crash", "10.96.0.0/24", true);

    // Nothing is stuck: no running job, the network lock is free, the network can be deleted.
    expect((await c.call("list-jobs", { state: "running" })).body.jobs).toEqual([]);
    const del = await c.call("delete-network", { name: "crash" }, { wait: 30 });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    await expectConsistent("crash", "10.96.0.0/24", false);
  });

  it("a create interrupted by a crash that then fails on the host leaves neither network nor index record", {
    timeout: 90_000,
  }, async () => {
    const id = await createAndKillAt("crash2", "10.97.0.0/24", "starting network");
    // While the worker is down something else takes the subnet on the host: the retry must fail (CIDR_CONFLICT).
    await h.exec(["ip", "link", "add", "squat0", "type", "veth", "peer", "name", "squat1"]);
    try {
      await h.exec(["ip", "addr", "add", "10.97.0.9/24", "dev", "squat0"]);
      // Only the start-up reconcile (no periodic one during the test). The half-made network is in libvirt, but
      // the dead worker's job still holds its lock, so reconcile leaves its record to the job: no ghost appears.
      await c.startWorker(HOST, { env: { NETFORGE_RECONCILE_MS: "600000" } });
      expect((await c.call("describe-network", { name: "crash2" })).status).toBe(404);

      const end = await finished(id, 70_000);
      expect(end.state).toBe("failed");
      expect(end.error?.code).toBe("CIDR_CONFLICT");
      expect(end.error?.message).toContain("squat0");
      // At once, not after some later reconcile: the leftover is gone from libvirt and from the index.
      await expectConsistent("crash2", "10.97.0.0/24", false);
    } finally {
      await h.exec(["ip", "link", "del", "squat0"], { reject: false });
      await c.startWorker(HOST);
    }
    // The name and subnet are free again.
    await create("crash2", "10.97.0.0/24");
    expect((await c.call("delete-network", { name: "crash2" }, { wait: 30 })).status).toBe(200);
    expect(await libvirtNetworks()).toEqual([]);
  });
});
