/**
 * A subnet that would swallow what the host reaches, on a sandbox host given a LAN address, a policy-routing
 * table with its own next hop, a resolver and a published API address (issue 15, "Host safety"): the door
 * refuses it from the inventory (409 CIDR_CONFLICT naming what it would cut off), and the worker refuses it too
 * when the door is bypassed (a job committed behind it, as a stale inventory would let through), leaving
 * nothing defined, no bridge and no claim. Subnets outside NETFORGE_ALLOWED_CIDRS: 422 NOT_ALLOWED.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CreateNetworkPayload, JOB_STEPS, resolveCreate } from "@netforge/core/contract";
import { getHost, newJobId, newJobRecord, redisTimeMs } from "@netforge/core/store";
import type { SandboxHost } from "@netforge/sandbox";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostQueues } from "@netforge/api/testing";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

const ID = "subnet";
const dir = mkdtempSync(join(tmpdir(), "nf-subnet-"));
const resolvConf = join(dir, "resolv.conf");
writeFileSync(resolvConf, "# the host's resolver, on a network of its own\nnameserver 10.30.0.53\n");

let c: Cluster;
let h: SandboxHost;
let queues: HostQueues;
beforeAll(async () => {
  c = await startCluster({
    hosts: [{ id: ID }],
    label: "subnet",
    workerEnv: { NETFORGE_RESOLV_CONF: resolvConf },
    apiConfig: { publishAddresses: ["10.40.0.7"] },
  });
  h = c.hosts.get(ID) as SandboxHost;
  queues = new HostQueues(c.redis, c.keys, pino({ level: "silent" }), 2_000);
  // A LAN address with its default route in table 100, and a route whose next hop only table 100 names.
  await h.exec(["ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan0-peer"]);
  await h.exec(["ip", "addr", "add", "192.168.1.10/24", "dev", "lan0"]);
  await h.exec(["ip", "link", "set", "lan0-peer", "up"]);
  await h.exec(["ip", "link", "set", "lan0", "up"]);
  await h.exec(["ip", "route", "add", "default", "via", "192.168.1.1", "dev", "lan0", "table", "100"]);
  await h.exec(["ip", "route", "add", "10.20.0.0/16", "via", "10.99.0.1", "dev", "lan0", "onlink", "table", "100"]);
  // The inventory carries them once a heartbeat (every second) read the host after they were set up.
  const setUp = Date.now();
  await waitFor("a heartbeat after the set-up", async () => {
    const rec = await getHost(c.redis, c.keys, ID);
    return rec && Date.parse(rec.lastSeenAt) > setUp + 1_500;
  });
}, 120_000);
afterAll(async () => {
  await queues?.close();
  await c?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const CUT_OFF: [string, string][] = [
  ["10.99.0.0/24", "10.99.0.0/24 contains 10.99.0.1, next hop of this host's route to 10.20.0.0/16 via lan0, table 100 (host subnet)"],
  ["10.30.0.0/24", `10.30.0.0/24 contains 10.30.0.53, a DNS resolver of this host (${resolvConf}) (host subnet)`],
  ["10.40.0.0/16", "10.40.0.0/16 contains 10.40.0.7, the netforge API (host subnet)"],
  ["10.20.0.0/24", "10.20.0.0/24 overlaps route via lan0 (table 100) (10.20.0.0/16) on host subnet"],
];

/** What the host has of a network: its libvirt definition and any nf- bridge. */
async function leftOnHost(): Promise<{ networks: string[]; bridges: string[] }> {
  const networks = (await h.virsh(["net-list", "--all", "--name"])).stdout
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);
  const links = JSON.parse((await h.exec(["ip", "-j", "link", "show"])).stdout) as { ifname: string }[];
  return { networks, bridges: links.map((l) => l.ifname).filter((n) => n.startsWith("nf-")) };
}

/** Commit a create-network job on the host's queue past the door's subnet check (its claim names no subnet): what a stale inventory lets through. */
async function behindTheDoor(name: string, cidr: string): Promise<string> {
  const { requestedHost: _r, ...resolved } = resolveCreate({ name, type: "nat", cidr, host: ID });
  const payload: CreateNetworkPayload = { ...resolved, uuid: crypto.randomUUID(), host: ID, createdAt: new Date().toISOString() };
  const jobId = newJobId();
  const record = newJobRecord({
    id: jobId,
    action: "create-network",
    network: name,
    host: ID,
    payload,
    steps: JOB_STEPS["create-network"],
  });
  const deadlineMs = (await redisTimeMs(c.redis)) + 2_000;
  const r = await queues.commit(
    ID,
    { jobId, action: "create-network", payload },
    { deadlineMs, record, claim: { name, cidr: null, candidates: [ID], target: ID } },
  );
  expect(r.outcome.kind).toBe("applied");
  return jobId;
}

describe("the door", () => {
  it.each(CUT_OFF)("refuses %s with 409 CIDR_CONFLICT naming what it would cut off, queueing nothing", async (cidr, message) => {
    const r = await c.call("create-network", { name: "swallow", type: "nat", cidr, host: ID }, { wait: 10 });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.code).toBe("CIDR_CONFLICT");
    expect(r.body.error.message).toContain(message);
    expect(r.body.job).toBeUndefined();
    expect(await c.redis.hget(c.keys.claimedNames, "swallow")).toBeNull();
  });

  it("refuses a subnet outside NETFORGE_ALLOWED_CIDRS with 422 NOT_ALLOWED naming the setting", async () => {
    for (const cidr of ["100.64.0.0/10", "8.8.8.0/24"]) {
      const r = await c.call("create-network", { name: "public", type: "nat", cidr, host: ID }, { wait: 10 });
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body.error).toMatchObject({ code: "NOT_ALLOWED", details: { setting: "NETFORGE_ALLOWED_CIDRS" } });
      expect(r.body.error.message).toContain("NETFORGE_ALLOWED_CIDRS");
    }
  });
});

describe("the worker, when the door is bypassed", () => {
  it.each(CUT_OFF)("fails the job for %s with CIDR_CONFLICT naming it, and leaves nothing defined", async (cidr, message) => {
    const name = `behind-${cidr.split(".")[1]}`;
    const jobId = await behindTheDoor(name, cidr);
    const job = await waitFor(`job ${jobId} ended`, async () => {
      const r = await c.get(`/api/jobs/${jobId}`);
      return r.body.job?.state === "failed" || r.body.job?.state === "succeeded" ? r.body.job : null;
    });
    expect(job.state, JSON.stringify(job)).toBe("failed");
    expect(job.error.code).toBe("CIDR_CONFLICT");
    expect(job.error.message).toContain(message);
    expect(await leftOnHost()).toEqual({ networks: [], bridges: [] });
    await waitFor("the claim released", async () => (await c.redis.hget(c.keys.claimedNames, name)) === null, 5_000);
  });

  it("a subnet clear of all of them is created (and deleted)", async () => {
    const r = await c.call("create-network", { name: "clear", type: "nat", cidr: "10.50.0.0/24", host: ID }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.state).toBe("succeeded");
    const d = await c.call("delete-network", { name: "clear" }, { wait: 30 });
    expect(d.body.job?.state, JSON.stringify(d.body)).toBe("succeeded");
    expect(await leftOnHost()).toEqual({ networks: [], bridges: [] });
  });
});
