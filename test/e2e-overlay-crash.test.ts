/**
 * An overlay's create across three sandbox hosts on a fabric (ADR 0051) whose non-coordinating member loses its
 * worker (kill -9) at three moments of the job, timed by the job's own events (the member part's and the
 * coordinator's progress on the events channel, not sleeps): before the member's part started, in the middle
 * of its steps, and after its part succeeded while the coordinator still runs. The worker is restarted each
 * time. The job must end either all done (every member's bridge, VXLAN device with its flood entries, guard and
 * libvirt network, and a frame crossing from a VM on one member to a VM on another) or with nothing left on any
 * host (no bridge, VXLAN device, flood entry, libvirt network, guard table, rules of netforge's table, and no
 * name, subnet or VNI claim in Redis). Then a delete leaves nothing anywhere. The same for the coordinator (B) killed
 * right after it queued the parts and after they succeeded: its job, delivered again once the dead delivery's lock
 * lapsed, makes every part again; and with C's worker down too, C's stale part of the first delivery ends failed.
 */
import { getJob, type JobRecord } from "@netforge/core/store";
import { createFabric, createNamespaceVm, destroyFabric, type Fabric, joinFabric, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

const A = "kxa";
const B = "kxb"; // the gateway host: the coordinator
const C = "kxc"; // the member whose worker is killed
const under: Record<string, string> = { [A]: "172.31.7.1", [B]: "172.31.7.2", [C]: "172.31.7.3" };
/**
 * A killed worker's BullMQ lock lapses after 2x NETFORGE_STALLED_MS and its host lease after NETFORGE_HOST_LEASE_MS:
 * both short, so the restarted worker takes its part up again within seconds (the coordinator waits 30 s for it).
 * Every worker of the cluster has them from its first start: a worker with the default 30 s leaves BullMQ's
 * `stalled-check` key of its queue for up to 30 s after it stopped, and no stalled check runs on that queue until
 * it lapses (seen: the killed part came back 20 s late).
 *
 * A killed coordinator's network lock lapses after NETFORGE_LOCK_TTL_MS (30 s by default) from its last renewal (its
 * own, or a member part's under its token): only then can its job, delivered again, take the network. 3 s here.
 */
const CLUSTER_ENV = {
  NETFORGE_STALLED_MS: "1000",
  NETFORGE_HOST_LEASE_MS: "3000",
  NETFORGE_RECONCILE_MS: "60000",
  NETFORGE_LOCK_TTL_MS: "3000",
};
const workerEnv = (id: string) => ({ NETFORGE_UNDERLAY_IP: under[id] as string });

let c: Cluster;
let fabric: Fabric | undefined;
const host = (id: string) => c.hosts.get(id) as SandboxHost;

beforeAll(async () => {
  c = await startCluster({
    hosts: [{ id: A }, { id: B, uplinkCidr: "198.51.101.0/24" }, { id: C, uplinkCidr: "198.51.102.0/24" }],
    label: "ovcrash",
    workerEnv: CLUSTER_ENV,
  });
  fabric = await createFabric("kxf");
  for (const id of [A, B, C]) {
    await joinFabric(fabric, host(id), { cidr: `${under[id]}/24` });
    await c.startWorker(id, { env: workerEnv(id) });
  }
  await waitFor("the fabric underlays", async () => {
    const r = await c.call("list-hosts", {});
    return r.body.hosts.every((h: { id: string; underlay?: { ip: string } }) => h.underlay?.ip === under[h.id]);
  });
});
afterAll(async () => {
  await c?.stop();
  if (fabric) await destroyFabric(fabric);
});

interface Seen {
  network: string;
  type: string;
  job: { id: string; host: string; state: string; progress: { step: string | null } };
}

/** The job records of `name` on `hostId` (the coordinator's, or a member's parts and undos). */
async function jobsOn(name: string, hostId: string): Promise<JobRecord[]> {
  const ids = await c.redis.zrange(c.keys.networkJobs(name), 0, -1);
  const recs = await Promise.all(ids.map((id) => getJob(c.redis, c.keys, id)));
  return recs.filter((r): r is JobRecord => r !== null && r.host === hostId);
}

async function ended(id: string): Promise<JobRecord> {
  return waitFor(
    "the job's end",
    async () => {
      const r = await getJob(c.redis, c.keys, id);
      return r && (r.state === "succeeded" || r.state === "failed") ? r : null;
    },
    70_000,
    100,
  );
}

/**
 * Submit the overlay's create (gateway B) and kill -9 the worker of `victim` (C unless told) the moment `at` matches
 * an event of the network's jobs. Returns the coordinator's job id and what C's part and the coordinator were at the kill.
 */
async function createAndKill(
  name: string,
  cidr: string,
  at: (ev: Seen) => boolean,
  victim: string = C,
): Promise<{ id: string; partAtKill: JobRecord | null; coordAtKill: JobRecord }> {
  const sub = c.redis.duplicate();
  let killed: Promise<void> | null = null;
  await sub.subscribe(c.keys.eventsChannel);
  sub.on("message", (_ch, raw) => {
    const ev = JSON.parse(raw) as Seen;
    if (killed || ev.network !== name || !at(ev)) return;
    killed = c.workers.get(victim)?.kill() ?? null;
  });
  try {
    const r = await c.call("create-network", { name, type: "overlay", cidr, hosts: [A, B, C], gatewayHost: B });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const id = r.body.job.id as string;
    await waitFor("the kill", async () => killed !== null, 20_000, 5);
    await killed;
    expect(c.workers.get(victim)?.exited).toBe(true);
    const coordAtKill = (await getJob(c.redis, c.keys, id)) as JobRecord;
    const partAtKill = (await jobsOn(name, C))[0] ?? null;
    return { id, partAtKill, coordAtKill };
  } finally {
    sub.disconnect();
  }
}

const links = async (h: SandboxHost): Promise<{ ifname: string; master?: string; linkinfo?: any }[]> =>
  JSON.parse((await h.exec(["ip", "-d", "-j", "link", "show"])).stdout);

/** Every member has its whole part, running; a VM on A pings a VM on C across the fabric. */
async function expectAllDone(name: string, vni: number, subnet: string): Promise<void> {
  for (const id of [A, B, C]) {
    const h = host(id);
    const l = await links(h);
    expect(
      l.some((x) => x.ifname === `nfov${vni}`),
      id,
    ).toBe(true);
    const vx = l.find((x) => x.ifname === `nfvx${vni}`);
    expect(vx, id).toMatchObject({ master: `nfov${vni}` });
    expect(vx?.linkinfo?.info_data, id).toMatchObject({ local: under[id], learning: false });
    const fdb = (await h.exec(["bridge", "fdb", "show", "dev", `nfvx${vni}`])).stdout;
    const floods = [...fdb.matchAll(/^00:00:00:00:00:00 dst (\S+)/gm)].map((m) => m[1]).sort();
    expect(floods, id).toEqual(
      [A, B, C]
        .filter((x) => x !== id)
        .map((x) => under[x])
        .sort(),
    );
    expect((await h.exec(["nft", "list", "tables"])).stdout, id).toContain(`netforge-vx${vni}`);
    expect((await h.exec(["nft", "list", "tables"])).stdout, id).toContain(`netforge-fl${vni}`);
    expect((await h.virsh(["net-info", name])).stdout, id).toMatch(/Active:\s+yes/);
  }
  const d = (await c.call("describe-network", { name })).body.network;
  expect(d.overlay.hosts.map((m: { id: string; state: string }) => `${m.id}:${m.state}`)).toEqual([
    `${A}:active`,
    `${B}:active`,
    `${C}:active`,
  ]);
  const va = await createNamespaceVm(host(A), { name: "kva", bridge: `nfov${vni}` });
  const vc = await createNamespaceVm(host(C), { name: "kvc", bridge: `nfov${vni}` });
  try {
    const base = subnet.replace(/\.0\/24$/, "");
    await va.exec(["ip", "addr", "add", `${base}.11/24`, "dev", "eth0"]);
    await vc.exec(["ip", "addr", "add", `${base}.13/24`, "dev", "eth0"]);
    const ping = await va.exec(["busybox", "ping", "-c", "1", "-W", "2", `${base}.13`], { reject: false });
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
  } finally {
    await va.destroy();
    await vc.destroy();
  }
}

/** Nothing of the overlay on any host, and no claim of it in Redis. */
async function expectNothing(name: string, vni: number, subnet: string): Promise<void> {
  for (const id of [A, B, C]) {
    const h = host(id);
    const l = await links(h);
    expect(
      l.filter((x) => x.ifname === `nfov${vni}` || x.ifname === `nfvx${vni}`).map((x) => x.ifname),
      id,
    ).toEqual([]);
    // No flood or unicast entry toward another member on any device left.
    expect((await h.exec(["bridge", "fdb", "show"])).stdout, id).not.toContain("dst 172.31.7.");
    expect(
      (await h.virsh(["net-list", "--all", "--name"])).stdout.split("\n").map((s) => s.trim()),
      id,
    ).not.toContain(name);
    expect((await h.exec(["nft", "list", "tables"])).stdout, id).not.toContain(`netforge-vx${vni}`);
    expect((await h.exec(["nft", "list", "tables"])).stdout, id).not.toContain(`netforge-fl${vni}`);
    const table = (await h.exec(["nft", "list", "table", "inet", "netforge"], { reject: false })).stdout;
    expect(table, id).not.toContain(`nfov${vni}`);
    expect(table, id).not.toContain(subnet);
    expect(await c.redis.hget(c.keys.claimedSubnets(id), name), id).toBeNull();
  }
  expect(await c.redis.hget(c.keys.claimedNames, name)).toBeNull();
  expect(await c.redis.hget(`${c.keys.prefix}:claim:vni-of`, name)).toBeNull();
  expect(await c.redis.hget(`${c.keys.prefix}:claim:vni`, String(vni))).toBeNull();
  expect((await c.call("describe-network", { name })).status).toBe(404);
}

/** The job's outcome is all or nothing; then a delete (when it was made) leaves nothing. */
async function expectAllOrNothingThenDelete(id: string, name: string, subnet: string): Promise<JobRecord> {
  const end = await ended(id);
  const vni = (end.payload as { overlayDoor: { vni: number } }).overlayDoor.vni;
  // No part still running anywhere (a member's part, or an undo the coordinator queued).
  for (const hId of [A, C]) {
    await waitFor(
      `host ${hId}'s parts ended`,
      async () => (await jobsOn(name, hId)).every((j) => j.state === "succeeded" || j.state === "failed"),
      40_000,
    );
  }
  if (end.state === "succeeded") {
    await expectAllDone(name, vni, subnet);
    const del = await c.call("delete-network", { name }, { wait: 60 });
    expect(del.body.job?.state, JSON.stringify(del.body)).toBe("succeeded");
  }
  await expectNothing(name, vni, subnet);
  return end;
}

const steps = (r: JobRecord | null) => (r ? r.progress.steps.filter((s) => s.state !== "pending").map((s) => `${s.name}=${s.state}`) : []);

describe("an overlay create whose member C loses its worker (kill -9), restarted: all or nothing, then delete leaves nothing", () => {
  it("killed before its part started (at the coordinator's first step)", async () => {
    const t0 = Date.now();
    const { id, partAtKill, coordAtKill } = await createAndKill(
      "kx1",
      "10.71.1.0/24",
      (ev) => ev.job.host === B && ev.type === "progress" && ev.job.progress.step === "checking host",
    );
    expect(coordAtKill.state).toBe("running");
    // The part (queued after the coordinator's first step) never started on C: it waits in C's queue.
    const part = await waitFor("C's part queued", async () => (await jobsOn("kx1", C))[0] ?? null, 10_000);
    expect(partAtKill === null || partAtKill.state === "queued").toBe(true);
    expect(part.state).toBe("queued");
    await c.startWorker(C, { env: workerEnv(C) });
    const end = await expectAllOrNothingThenDelete(id, "kx1", "10.71.1.0/24");
    console.info(`kill before C's part: job ${end.state} (${steps(end).join(", ")}); ${Date.now() - t0} ms`);
    // C's part ran once the worker was back, within the coordinator's bound: the create finished.
    expect(end.state, JSON.stringify(end.error)).toBe("succeeded");
  });

  it("killed in the middle of its part's steps (at its 'starting network')", async () => {
    const t0 = Date.now();
    const { id, partAtKill } = await createAndKill(
      "kx2",
      "10.71.2.0/24",
      (ev) => ev.job.host === C && ev.type === "progress" && ev.job.progress.step === "starting network",
    );
    // Killed mid-part: it had begun and not ended.
    expect(partAtKill?.state, JSON.stringify(steps(partAtKill))).toBe("running");
    // What C's host had of the part at the kill (the bridge is netforge's on a non-gateway member, made before the definition).
    const coord = (await getJob(c.redis, c.keys, id)) as JobRecord;
    const vni = (coord.payload as { overlayDoor: { vni: number } }).overlayDoor.vni;
    const had = (await links(host(C))).filter((x) => x.ifname.endsWith(String(vni))).map((x) => x.ifname);
    const defined = (await host(C).virsh(["net-list", "--all", "--name"])).stdout.includes("kx2");
    console.info(
      `C's part at the kill: ${steps(partAtKill).join(", ")}; on C: links [${had.join(", ")}], libvirt network ${defined ? "defined" : "none"}`,
    );
    // Half made on C: the bridge (netforge's, made before the definition) and the definition are there.
    expect(defined).toBe(true);
    expect(had).toContain(`nfov${vni}`);
    await c.startWorker(C, { env: workerEnv(C) });
    const end = await expectAllOrNothingThenDelete(id, "kx2", "10.71.2.0/24");
    console.info(`kill mid-part: job ${end.state} (${end.error?.message ?? ""}); ${Date.now() - t0} ms`);
  });

  it("killed after its part succeeded, before the job ended", async () => {
    const t0 = Date.now();
    const { id, partAtKill, coordAtKill } = await createAndKill(
      "kx3",
      "10.71.3.0/24",
      (ev) => ev.job.host === C && ev.type === "succeeded",
    );
    expect(partAtKill?.state).toBe("succeeded");
    expect(coordAtKill.state, JSON.stringify(steps(coordAtKill))).toBe("running");
    await c.startWorker(C, { env: workerEnv(C) });
    const end = await expectAllOrNothingThenDelete(id, "kx3", "10.71.3.0/24");
    console.info(`kill after C's part: job ${end.state}; ${Date.now() - t0} ms`);
    // C's part was done: the coordinator needs nothing more of C, the create finishes.
    expect(end.state, JSON.stringify(end.error)).toBe("succeeded");
  });

  it("away past the bound: the job fails within it and the others are undone; back, C removes its half part before it reports online", async () => {
    // The coordinator (B) with a short bound on a member's part and its undo (NETFORGE_MEMBER_PART_TIMEOUT_MS).
    await c.startWorker(B, { env: { ...workerEnv(B), NETFORGE_MEMBER_PART_TIMEOUT_MS: "4000" } });
    const t0 = Date.now();
    const { id, partAtKill } = await createAndKill(
      "kx4",
      "10.71.4.0/24",
      (ev) => ev.job.host === C && ev.type === "progress" && ev.job.progress.step === "starting network",
    );
    expect(partAtKill?.state).toBe("running");
    // C stays away: the job fails naming C within the bound (its part's 4 s, then its undo's 4 s).
    const end = await ended(id);
    const took = Date.parse(end.finishedAt as string) - t0;
    console.info(`C away: job ${end.state} in ${took} ms (${end.error?.code}: ${end.error?.message})`);
    expect(end.state).toBe("failed");
    expect(end.error).toMatchObject({ code: "HOST_UNAVAILABLE", details: { host: C } });
    expect(took).toBeLessThan(20_000);
    const vni = (end.payload as { overlayDoor: { vni: number } }).overlayDoor.vni;
    // A and B undid their parts; C, away, still has its half part (bridge and definition) and a marker of it.
    for (const id2 of [A, B]) {
      const l = (await links(host(id2))).filter((x) => x.ifname === `nfov${vni}` || x.ifname === `nfvx${vni}`);
      expect(
        l.map((x) => x.ifname),
        id2,
      ).toEqual([]);
      expect((await host(id2).virsh(["net-list", "--all", "--name"])).stdout, id2).not.toContain("kx4");
    }
    expect((await links(host(C))).some((x) => x.ifname === `nfov${vni}`)).toBe(true);
    expect((await host(C).virsh(["net-list", "--all", "--name"])).stdout).toContain("kx4");
    expect(JSON.parse((await c.redis.hget(c.keys.leftParts(C), "kx4")) ?? "null")).toMatchObject({
      job: id,
      action: "create-network",
      vni,
    });
    // Back: once its record says online (the first reconcile round ran before it; the next is 60 s away), nothing
    // of the overlay is left on any host, and the marker is gone.
    await c.startWorker(C, { env: workerEnv(C) });
    await expectNothing("kx4", vni, "10.71.4.0/24");
    expect(await c.redis.hget(c.keys.leftParts(C), "kx4")).toBeNull();
    // Every record of C's parts ends: the killed part, delivered again to C's worker, finds the failed job's lock
    // gone; its undo, given up on while waiting in C's queue, was taken out of it. Both failed, not applied.
    const onC = await waitFor(
      "C's parts ended",
      async () => {
        const js = await jobsOn("kx4", C);
        return js.every((j) => j.state === "succeeded" || j.state === "failed") && js;
      },
      10_000,
    );
    expect(onC.map((j) => `${j.action}=${j.state}:${j.error?.details.notApplied}`)).toEqual([
      "create-network=failed:true",
      "delete-network=failed:true",
    ]);
    console.info(`C back: its part removed before it reported online; ${Date.now() - t0} ms in all`);
  });
});

/** The create parts each member got, in order queued, as "host:state" (one per delivery of the coordinator that queued them). */
async function partsOf(name: string): Promise<string[]> {
  const out: string[] = [];
  for (const h of [A, C]) for (const j of await jobsOn(name, h)) out.push(`${h}:${j.action}=${j.state}`);
  return out;
}

/** Each member's parts after a create delivered twice and then deleted: a create per delivery, then the delete's part. */
const twoDeliveries = [A, C].flatMap((h) => [
  `${h}:create-network=succeeded`,
  `${h}:create-network=succeeded`,
  `${h}:delete-network=succeeded`,
]);

describe("an overlay create whose coordinator B loses its worker (kill -9), restarted: all or nothing, then delete leaves nothing", () => {
  it("killed right after it queued the members' parts (at its 'defining network')", async () => {
    const t0 = Date.now();
    const { id, coordAtKill } = await createAndKill(
      "kx5",
      "10.71.5.0/24",
      (ev) => ev.job.host === B && ev.type === "progress" && ev.job.progress.step === "defining network",
      B,
    );
    const killedAt = Date.now();
    expect(coordAtKill.state).toBe("running");
    // Both parts were queued before the kill (the coordinator queues them before its "defining network").
    expect((await jobsOn("kx5", A)).length).toBe(1);
    expect((await jobsOn("kx5", C)).length).toBe(1);
    await c.startWorker(B, { env: workerEnv(B) });
    const end = await expectAllOrNothingThenDelete(id, "kx5", "10.71.5.0/24");
    console.info(
      `B killed after queuing the parts: job ${end.state} (${end.error?.message ?? ""}), attempt ${end.attempts}, ` +
        `ended ${Date.parse(end.finishedAt as string) - killedAt} ms after the kill; ` +
        `parts [${(await partsOf("kx5")).join(", ")}]; ${Date.now() - t0} ms in all`,
    );
    expect(end.state, JSON.stringify(end.error)).toBe("succeeded");
    // Delivered again (a stall is not an attempt): that delivery queued a part of its own on each member.
    expect(await partsOf("kx5")).toEqual(twoDeliveries);
  });

  it("killed after the members' parts succeeded, before its job ended", async () => {
    const t0 = Date.now();
    const done = new Set<string>();
    const { id, coordAtKill } = await createAndKill(
      "kx6",
      "10.71.6.0/24",
      (ev) => {
        if ((ev.job.host === A || ev.job.host === C) && ev.type === "succeeded") done.add(ev.job.host);
        return done.size === 2;
      },
      B,
    );
    const killedAt = Date.now();
    expect(coordAtKill.state, JSON.stringify(steps(coordAtKill))).toBe("running");
    expect(await partsOf("kx6")).toEqual([`${A}:create-network=succeeded`, `${C}:create-network=succeeded`]);
    await c.startWorker(B, { env: workerEnv(B) });
    const end = await expectAllOrNothingThenDelete(id, "kx6", "10.71.6.0/24");
    console.info(
      `B killed after the parts succeeded: job ${end.state} (${end.error?.message ?? ""}), attempt ${end.attempts}, ` +
        `ended ${Date.parse(end.finishedAt as string) - killedAt} ms after the kill; ` +
        `parts [${(await partsOf("kx6")).join(", ")}]; ${Date.now() - t0} ms in all`,
    );
    expect(end.state, JSON.stringify(end.error)).toBe("succeeded");
    expect(await partsOf("kx6")).toEqual(twoDeliveries);
  });
});

describe("an overlay create whose coordinator B and member C lose their workers (kill -9)", () => {
  it("C's part of the first delivery, left in C's queue, ends failed when C is back; the delivery again succeeds", async () => {
    const t0 = Date.now();
    const sub = c.redis.duplicate();
    let killedC: Promise<void> | null = null;
    let killedB: Promise<void> | null = null;
    await sub.subscribe(c.keys.eventsChannel);
    sub.on("message", (_ch, raw) => {
      const ev = JSON.parse(raw) as Seen;
      if (ev.network !== "kx7" || ev.job.host !== B || ev.type !== "progress") return;
      // C first (before its part is queued), then B right after it queued the parts.
      if (!killedC && ev.job.progress.step === "checking host") killedC = c.workers.get(C)?.kill() ?? null;
      if (!killedB && ev.job.progress.step === "defining network") killedB = c.workers.get(B)?.kill() ?? null;
    });
    let id: string;
    try {
      const r = await c.call("create-network", { name: "kx7", type: "overlay", cidr: "10.71.7.0/24", hosts: [A, B, C], gatewayHost: B });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      id = r.body.job.id as string;
      await waitFor("both kills", async () => killedC !== null && killedB !== null, 20_000, 5);
      await Promise.all([killedC, killedB]);
    } finally {
      sub.disconnect();
    }
    const [stale] = await jobsOn("kx7", C);
    expect(stale?.state).toBe("queued");
    await c.startWorker(B, { env: workerEnv(B) });
    // The delivery again (once the first delivery's lock lapsed) queues a part of its own on C, behind the stale one.
    await waitFor("the second part on C", async () => (await jobsOn("kx7", C)).length === 2, 20_000);
    await c.startWorker(C, { env: workerEnv(C) });
    const end = await expectAllOrNothingThenDelete(id, "kx7", "10.71.7.0/24");
    const after = (await getJob(c.redis, c.keys, stale?.id as string)) as JobRecord;
    console.info(
      `B and C killed: job ${end.state} (${end.error?.message ?? ""}); C's stale part ${after.state} (${after.error?.message ?? ""}); ` +
        `parts [${(await partsOf("kx7")).join(", ")}]; ${Date.now() - t0} ms in all`,
    );
    expect(end.state, JSON.stringify(end.error)).toBe("succeeded");
    // It found the first delivery's lock token gone: not applied, and its record says so (it stayed "queued").
    expect(after.state).toBe("failed");
    expect(after.error).toMatchObject({ details: { notApplied: true, parent: id } });
  });
});
