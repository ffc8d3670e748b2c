/**
 * A job delivered again after its host change but before its success record
 * (its worker died in between) on a sandbox hypervisor: the API, the queue and
 * the worker process of a real host (libvirtd, dnsmasq, nft in namespaces).
 * The crash is simulated exactly where it matters: the job ran to its end on
 * the host, then its record is put back to what a worker killed right after
 * the host change leaves (state running, the change's step running) and the
 * same BullMQ job is delivered again. The redelivery must succeed for that job
 * id instead of failing (delete -> NOT_FOUND, stop/start -> INVALID_STATE), and
 * a create delivered again while a VM is attached must not destroy its network.
 */
import { getJob, type JobRecord } from "@netforge/core/store";
import { addLanNic, createNamespaceVm, type NamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { Job, Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
let queue: Queue;
const vms: NamespaceVm[] = [];
const HOST = "rd";

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST }], label: "redeliver" });
  h = c.hosts.get(HOST) as SandboxHost;
  queue = new Queue(c.keys.hostQueue(HOST), { connection: c.redis.duplicate(), prefix: c.keys.bull });
});
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await queue?.close();
  await c?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function finished(id: string, timeoutMs = 30_000): Promise<JobRecord> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await getJob(c.redis, c.keys, id);
    if (r && (r.state === "succeeded" || r.state === "failed")) return r;
    if (Date.now() > end) throw new Error(`job ${id} did not finish (${r?.state})`);
    await sleep(50);
  }
}

/** Run an action to its end through the API; the job's record. */
async function run(action: string, body: Record<string, unknown>): Promise<JobRecord> {
  const r = await c.call(action, body);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  const rec = await finished(r.body.job.id);
  expect(rec.state, JSON.stringify(rec.error)).toBe("succeeded");
  return rec;
}

/**
 * Make the finished job look like its worker died right after `step` changed the host (before the success
 * record), and deliver the same BullMQ job again. Returns the record of the second delivery.
 */
async function redeliver(rec: JobRecord, step: string): Promise<JobRecord> {
  const crashed: JobRecord = structuredClone(rec);
  crashed.state = "running";
  crashed.result = null;
  crashed.finishedAt = null;
  let reached = false;
  for (const s of crashed.progress.steps) {
    if (reached) {
      s.state = "pending";
      s.startedAt = null;
      s.finishedAt = null;
    } else if (s.name === step) {
      reached = true;
      s.state = "running";
      s.finishedAt = null;
    }
  }
  expect(reached).toBe(true);
  crashed.progress.step = step;
  await c.redis.set(c.keys.job(rec.id), JSON.stringify(crashed), "KEEPTTL");
  const job = await Job.fromId(queue, rec.id);
  expect(job).toBeDefined();
  // The job record says "succeeded" a moment before BullMQ moves the job to its completed set: retry() of a job
  // not there yet is refused ("not in the completed state"), so wait for BullMQ's own state first.
  await waitFor("BullMQ marks the job completed", async () => (await job?.isCompleted()) === true, 10_000, 50);
  await job?.retry("completed");
  return finished(rec.id);
}

/**
 * Make a finished job look as the store has it after a failover to a replica that never got its run (only its
 * submission, which the API confirmed on a replica before answering 202): queued, every step pending, no outcome;
 * and deliver the same BullMQ job again. The record of that delivery.
 */
async function redeliverLost(rec: JobRecord): Promise<JobRecord> {
  const lost: JobRecord = structuredClone(rec);
  lost.state = "queued";
  lost.result = null;
  lost.error = null;
  lost.startedAt = null;
  lost.finishedAt = null;
  for (const s of lost.progress.steps) {
    s.state = "pending";
    s.startedAt = null;
    s.finishedAt = null;
  }
  lost.progress.step = null;
  await c.redis.set(c.keys.job(rec.id), JSON.stringify(lost), "KEEPTTL");
  const job = await Job.fromId(queue, rec.id);
  await waitFor(
    "BullMQ marks the job finished",
    async () => (await job?.isCompleted()) === true || (await job?.isFailed()) === true,
    10_000,
    50,
  );
  await job?.retry((await job?.isCompleted()) ? "completed" : "failed");
  return finished(rec.id);
}

/** The job's line taken out of the host's journal (as a job that never finished leaves none), the worker restarted. */
async function forgetInJournal(id: string): Promise<void> {
  const path = `/var/lib/netforge/${HOST}/jobs.jsonl`;
  const text = (await h.exec(["cat", path])).stdout;
  expect(text).toContain(`"id":"${id}"`);
  const kept = text
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.includes(`"id":"${id}"`))
    .map((l) => `${l}\n`)
    .join("");
  await h.exec(["tee", path], { input: kept });
  await c.startWorker(HOST);
}

const netNames = async () =>
  (await h.virsh(["net-list", "--all", "--name"])).stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
const isActive = async (name: string) => /Active:\s+yes/.test((await h.virsh(["net-info", name])).stdout);
const ifindex = async (dev: string) =>
  (JSON.parse((await h.exec(["ip", "-j", "link", "show", "dev", dev])).stdout) as { ifindex: number }[])[0]?.ifindex;

describe("a job delivered again after its host change, before its success record", () => {
  it("delete: the network is already gone; the job succeeds and the index forgets it", async () => {
    await run("create-network", { name: "gone", type: "nat", cidr: "10.111.0.0/24", host: HOST });
    const del = await run("delete-network", { name: "gone" });
    expect(await netNames()).not.toContain("gone");
    const again = await redeliver(del, "removing definition");
    expect(again.state, JSON.stringify(again.error)).toBe("succeeded");
    expect(again.result).toEqual({ name: "gone", deleted: true });
    expect((await c.call("describe-network", { name: "gone" })).status).toBe(404);
    expect(await c.redis.hget(c.keys.claimedNames, "gone")).toBeNull();
  });

  it("stop and start: the network is already in the target state; each succeeds, and it stays that way", async () => {
    await run("create-network", { name: "flip", type: "nat", cidr: "10.112.0.0/24", host: HOST });
    const stop = await run("stop-network", { name: "flip" });
    const stopAgain = await redeliver(stop, "stopping network");
    expect(stopAgain.state, JSON.stringify(stopAgain.error)).toBe("succeeded");
    expect(await isActive("flip")).toBe(false);
    expect((await c.call("describe-network", { name: "flip" })).body.network.state).toBe("inactive");

    const start = await run("start-network", { name: "flip" });
    const startAgain = await redeliver(start, "starting network");
    expect(startAgain.state, JSON.stringify(startAgain.error)).toBe("succeeded");
    expect(await isActive("flip")).toBe(true);
    expect((await c.call("describe-network", { name: "flip" })).body.network.state).toBe("active");
    await run("delete-network", { name: "flip" });
  });

  it("a job that never changed the host still fails as before (another job's change is not this job's)", async () => {
    await run("create-network", { name: "other", type: "nat", cidr: "10.113.0.0/24", host: HOST });
    const stop = await run("stop-network", { name: "other" });
    // Delivered again as if it had died before its host step: the network is inactive, but not by this job (which
    // then never finished on the host, so the host's journal has no line of it).
    await forgetInJournal(stop.id);
    const again = await redeliver(stop, "checking attachments");
    expect(again.state).toBe("failed");
    expect(again.error?.code).toBe("INVALID_STATE");
    await run("delete-network", { name: "other" });
  });

  it("create of a bridge network delivered again after it was stopped: its own bridge and NIC are taken back, not refused or left", async () => {
    // The chaos run's seed 2602: a create succeeded, a stop followed (a stopped bridge network keeps its bridge with
    // the NIC in it), then a failover lost the create's success and BullMQ delivered it again. The second delivery
    // took the bridge for "not netforge's", failed, and left the bridge and its NIC without a network.
    await addLanNic(h, { hostIfname: "lan0", outsideIfname: "lan0-peer", outsideCidr: "192.0.2.1/24" });
    const create = await run("create-network", { name: "lanr", type: "bridge", interface: "lan0", host: HOST });
    await run("stop-network", { name: "lanr" });
    const master = async () =>
      (JSON.parse((await h.exec(["ip", "-j", "link", "show", "dev", "lan0"])).stdout)[0] as { master?: string }).master;
    expect(await master()).toBe("nf-lanr");

    const again = await redeliver(create, "setting autostart");
    expect(again.state, JSON.stringify(again.error)).toBe("succeeded");
    // One network, running as the create asked, its bridge made again with the NIC in it; no second bridge.
    expect(await isActive("lanr")).toBe(true);
    expect(await master()).toBe("nf-lanr");
    const bridges = JSON.parse((await h.exec(["ip", "-j", "link", "show", "type", "bridge"])).stdout) as { ifname: string }[];
    expect(bridges.map((b) => b.ifname).filter((n) => n.startsWith("nf-"))).toEqual(["nf-lanr"]);
    expect((await c.call("describe-network", { name: "lanr" })).body.network).toMatchObject({
      state: "active",
      bridge: { name: "nf-lanr", interface: "lan0" },
    });

    await run("delete-network", { name: "lanr" });
    // Nothing left: the NIC is out of any bridge and the bridge is gone.
    expect(await master()).toBeUndefined();
    expect((await h.exec(["ip", "link", "show", "dev", "nf-lanr"], { reject: false })).exitCode).not.toBe(0);
  });

  it("create with a VM attached: the network is kept (not destroyed and recreated), the VM keeps its lease", async () => {
    const create = await run("create-network", { name: "busy", type: "nat", cidr: "10.114.0.0/24", host: HOST });
    const bridge = (create.result as { bridge: { name: string } }).bridge.name;
    const vm = await createNamespaceVm(h, { name: "busyvm", bridge });
    vms.push(vm);
    const lease = await vm.dhcp();
    const before = await ifindex(bridge);
    const uuid = (await h.virsh(["net-uuid", "busy"])).stdout.trim();

    const again = await redeliver(create, "setting autostart");
    expect(again.state, JSON.stringify(again.error)).toBe("succeeded");
    // Same network, same bridge device, the VM's port still on it, and its DHCP still answered.
    expect((await h.virsh(["net-uuid", "busy"])).stdout.trim()).toBe(uuid);
    expect(await ifindex(bridge)).toBe(before);
    const port = JSON.parse((await h.exec(["ip", "-j", "link", "show", "dev", vm.hostIfname])).stdout)[0];
    expect(port.master).toBe(bridge);
    // DHCP (what netforge lets a VM send to its host) still answers it on the kept network.
    expect((await vm.dhcp()).ip).toBe(lease.ip);
    expect(lease.ip).toMatch(/^10\.114\.0\./);
    expect((await c.call("describe-network", { name: "busy" })).body.network).toMatchObject({ state: "active", uuid });

    await vm.detach();
    await run("delete-network", { name: "busy" });
  });
});

describe("a job whose outcome and progress the store lost after its client saw it (a failover to a replica that never had them)", () => {
  // The chaos run, seed 3003: a paused primary woke, took the jobs' "succeeded" (their clients read it through it)
  // and threw it away when demoted; BullMQ gave the jobs out again and the second runs, finding the work done, failed.
  it("delete and stop: the host's journal says the job succeeded here; the new delivery finishes it as succeeded", async () => {
    await run("create-network", { name: "lost1", type: "nat", cidr: "10.115.0.0/24", host: HOST });
    const stop = await run("stop-network", { name: "lost1" });
    const stopAgain = await redeliverLost(stop);
    expect(stopAgain.state, JSON.stringify(stopAgain.error)).toBe("succeeded");
    expect(await isActive("lost1")).toBe(false);
    const del = await run("delete-network", { name: "lost1" });
    const delAgain = await redeliverLost(del);
    expect(delAgain.state, JSON.stringify(delAgain.error)).toBe("succeeded");
    expect(delAgain.result).toEqual({ name: "lost1", deleted: true });
    expect(await netNames()).not.toContain("lost1");
    expect((await c.call("describe-network", { name: "lost1" })).status).toBe(404);
  });

  it("a final failure: recorded again as it was, nothing run (the network a VM held is kept after the VM left)", async () => {
    const create = await run("create-network", { name: "lost2", type: "nat", cidr: "10.116.0.0/24", host: HOST });
    const bridge = (create.result as { bridge: { name: string } }).bridge.name;
    const vm = await createNamespaceVm(h, { name: "lost2vm", bridge });
    vms.push(vm);
    const r = await c.call("delete-network", { name: "lost2" });
    expect(r.status).toBe(202);
    const failed = await finished(r.body.job.id);
    expect(failed.state).toBe("failed");
    const code = failed.error?.code;
    await vm.detach();
    const again = await redeliverLost(failed);
    expect(again.state).toBe("failed");
    expect(again.error?.code).toBe(code);
    expect(await netNames()).toContain("lost2");
    await run("delete-network", { name: "lost2" });
  });
});
