/**
 * The host registry and placement with real workers on two sandbox
 * hypervisors: heartbeat + inventory read from the hosts themselves, offline
 * detection (crash and clean stop), the synchronous CIDR/name checks against
 * what the hosts really have, and placement across hosts.
 */
import { HOST_OFFLINE_AFTER_MS, parseAllowedCidrs } from "@netforge/core/contract";
import type { SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, TOKENS, waitFor } from "./support/cluster";

interface HostView {
  id: string;
  hostname: string;
  status: "online" | "offline";
  lastSeenAt: string;
  libvirtVersion: string | null;
  networks: number;
  interfaces: { name: string; kind: string | null; mac: string | null; state: string; master: string | null; addresses: string[] }[];
  sriovPfs: unknown[];
}

let c: Cluster;
const IDS = ["ha", "hb"] as const;
/** Hosts that received "place-a" and "place-b". */
let first: string;
let second: string;

beforeAll(async () => {
  // The sandbox uplink is 198.51.100.0/24 (TEST-NET-2): listed, so the overlap test below meets the host's interface.
  const allowedCidrs = parseAllowedCidrs("10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,198.51.100.0/24");
  c = await startCluster({ hosts: IDS.map((id) => ({ id })), label: "hosts", apiConfig: { allowedCidrs } });
});
afterAll(async () => {
  await c?.stop();
});

function sandbox(id: string): SandboxHost {
  return c.hosts.get(id) as SandboxHost;
}
async function listHosts(): Promise<HostView[]> {
  const r = await c.call("list-hosts", {}, { token: TOKENS.viewer });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.hosts as HostView[];
}
async function hostView(id: string): Promise<HostView> {
  const h = (await listHosts()).find((x) => x.id === id);
  if (!h) throw new Error(`host ${id} not listed`);
  return h;
}
async function readyz(): Promise<{ status: number; body: any }> {
  const res = await fetch(`${c.baseUrl}/readyz`);
  return { status: res.status, body: await res.json() };
}
async function libvirtNetworks(id: string): Promise<string[]> {
  const r = await sandbox(id).virsh(["net-list", "--all", "--name"]);
  return r.stdout
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);
}
/** Every job key and job-list entry under the cluster's prefix (to prove nothing was queued). */
async function jobTraces(): Promise<{ jobs: number; jobKeys: string[] }> {
  const jobs = await c.redis.zcard(c.keys.jobs);
  const jobKeys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await c.redis.scan(cursor, "MATCH", `${c.prefix}:job:*`, "COUNT", 1000);
    cursor = next;
    jobKeys.push(...batch);
  } while (cursor !== "0");
  return { jobs, jobKeys };
}
/** Jobs in a host's BullMQ queue, whatever their state. */
async function bullJobKeys(host: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await c.redis.scan(cursor, "MATCH", `${c.keys.bull}:${c.keys.hostQueue(host)}:j_*`, "COUNT", 1000);
    cursor = next;
    out.push(...batch);
  } while (cursor !== "0");
  return out;
}

describe("host registry", () => {
  it("every worker registers its host with heartbeat and inventory read from the host", async () => {
    const t0 = Date.now();
    const hosts = await listHosts();
    expect(hosts.map((h) => h.id)).toEqual(["ha", "hb"]);
    for (const h of hosts) {
      const sb = sandbox(h.id);
      expect(h.status).toBe("online");
      expect(typeof h.hostname).toBe("string");
      expect(h.hostname.length).toBeGreaterThan(0);
      expect(h.libvirtVersion).toMatch(/^9\.\d+\.\d+$/);
      expect(h.networks).toBe(0);
      expect(h.sriovPfs).toEqual([]);
      expect(Math.abs(t0 - Date.parse(h.lastSeenAt))).toBeLessThan(5_000);
      const uplink = h.interfaces.find((i) => i.name === sb.uplinkInterface);
      expect(uplink, JSON.stringify(h.interfaces)).toMatchObject({ name: "uplink0", addresses: [`${sb.hostAddress}/24`] });
      expect(sb.hostAddress).toBe("198.51.100.2");
      expect(uplink?.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      expect(h.interfaces.find((i) => i.name === "lo")?.addresses).toEqual(["127.0.0.1/8"]);
      // The inventory is the host's own: no interface of the machine or of the other host leaks in.
      const real = await sb.exec(["ip", "-j", "link", "show"]);
      const names = (JSON.parse(real.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
      expect(h.interfaces.map((i) => i.name).sort()).toEqual(names);
    }
    // The heartbeat keeps going (the cluster runs workers with a 1 s heartbeat).
    const before = Date.parse((await hostView("ha")).lastSeenAt);
    const after = await waitFor(
      "a newer heartbeat",
      async () => {
        const seen = Date.parse((await hostView("ha")).lastSeenAt);
        return seen > before ? seen : null;
      },
      5_000,
    );
    expect(after).toBeGreaterThan(before);

    const ready = await readyz();
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: "ready", checks: { redis: "ok", onlineHosts: 2 } });
  });
});

describe("synchronous checks against what the hosts have", () => {
  it("a subnet overlapping a host interface address is refused with 409 before anything is queued, naming the interface", async () => {
    const before = await jobTraces();
    for (const host of [{ host: "ha" }, {}]) {
      const r = await c.call("create-network", { name: "on-uplink", type: "nat", cidr: "198.51.100.0/25", ...host }, { wait: 10 });
      expect(r.status, JSON.stringify(r.body)).toBe(409);
      expect(r.body.job).toBeUndefined();
      expect(r.body.error.code).toBe("CIDR_CONFLICT");
      expect(r.body.error.message).toContain("uplink0");
      expect(r.body.error.details).toMatchObject({
        cidr: "198.51.100.0/25",
        conflictsWith: { owner: "interface uplink0", cidr: "198.51.100.0/24" },
      });
      expect(IDS).toContain(r.body.error.details.host);
    }
    // Nothing was queued or recorded, and nothing is left claimed.
    expect(await jobTraces()).toEqual(before);
    expect(await bullJobKeys("ha")).toEqual([]);
    expect(await bullJobKeys("hb")).toEqual([]);
    expect(await c.redis.hget(c.keys.claimedNames, "on-uplink")).toBeNull();
    for (const id of IDS) expect(await libvirtNetworks(id)).toEqual([]);
  });
});

describe("placement across hosts", () => {
  it("without a host, a network is placed on an online host and really created there", async () => {
    const r = await c.call("create-network", { name: "place-a", type: "nat", cidr: "10.80.0.0/24" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    first = r.body.job.host;
    expect(IDS).toContain(first);
    expect(r.body.job.result).toMatchObject({ name: "place-a", host: first, cidr: "10.80.0.0/24", state: "active" });
    expect(await libvirtNetworks(first)).toEqual(["place-a"]);
    expect(await libvirtNetworks(first === "ha" ? "hb" : "ha")).toEqual([]);
    // The host's networks count follows.
    await waitFor("networks count 1", async () => (await hostView(first)).networks === 1, 5_000);
  });

  it("the same subnet is allowed on another host", async () => {
    const r = await c.call("create-network", { name: "place-b", type: "nat", cidr: "10.80.0.0/24" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    second = r.body.job.host;
    expect(second).not.toBe(first);
    expect(await libvirtNetworks(second)).toEqual(["place-b"]);
    const addr = await sandbox(second).exec(["ip", "-j", "-4", "addr", "show", "dev", r.body.job.result.bridge.name]);
    expect(addr.stdout).toContain('"local":"10.80.0.1"');
    await waitFor("networks count 1", async () => (await hostView(second)).networks === 1, 5_000);
    const listed = await c.call("list-networks", {});
    expect(listed.body.networks.map((n: { name: string; host: string }) => [n.name, n.host])).toEqual([
      ["place-a", first],
      ["place-b", second],
    ]);
  });

  it("any overlap with an existing network on the host is refused (a /16 over a /24), before anything is queued", async () => {
    const before = await jobTraces();
    const explicit = await c.call("create-network", { name: "wide", type: "nat", cidr: "10.80.0.0/16", host: first });
    expect(explicit.status, JSON.stringify(explicit.body)).toBe(409);
    expect(explicit.body.error.code).toBe("CIDR_CONFLICT");
    expect(explicit.body.error.details).toMatchObject({
      host: first,
      conflictsWith: { network: "place-a", cidr: "10.80.0.0/24" },
    });
    // Without a host: it overlaps on every host, so no placement is possible.
    const anywhere = await c.call("create-network", { name: "wide", type: "nat", cidr: "10.80.0.0/16" });
    expect(anywhere.status).toBe(409);
    expect(anywhere.body.error.code).toBe("CIDR_CONFLICT");
    expect(await jobTraces()).toEqual(before);
    expect(await c.redis.hget(c.keys.claimedNames, "wide")).toBeNull();
  });

  it("a name is unique in the whole cluster", async () => {
    const r = await c.call("create-network", { name: "place-a", type: "nat", cidr: "10.81.0.0/24", host: second });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.code).toBe("NAME_TAKEN");
    expect(r.body.error.details).toMatchObject({ name: "place-a", host: first });
    expect(await libvirtNetworks(second)).toEqual(["place-b"]);
  });
});

describe("offline hosts", () => {
  it("a host whose worker dies (kill -9) turns offline once its heartbeat is older than HOST_OFFLINE_AFTER_MS", async () => {
    expect(HOST_OFFLINE_AFTER_MS).toBe(15_000);
    const lastBeat = Date.parse((await hostView("hb")).lastSeenAt);
    await c.workers.get("hb")?.kill();
    const killedAt = Date.now();
    const offline = await waitFor(
      "hb offline",
      async () => {
        const h = await hostView("hb");
        return h.status === "offline" ? { h, at: Date.now() } : null;
      },
      HOST_OFFLINE_AFTER_MS + 10_000,
      250,
    );
    // No heartbeat after the kill; offline only after the timeout, not before.
    expect(Date.parse(offline.h.lastSeenAt)).toBeLessThanOrEqual(killedAt);
    expect(Date.parse(offline.h.lastSeenAt)).toBeGreaterThanOrEqual(lastBeat);
    expect(offline.at - Date.parse(offline.h.lastSeenAt)).toBeGreaterThanOrEqual(HOST_OFFLINE_AFTER_MS);
    expect((await hostView("ha")).status).toBe("online");
  });

  it("an offline host is refused with 503 HOST_UNAVAILABLE; without a host the online one is chosen", async () => {
    const explicit = await c.call("create-network", { name: "on-dead", type: "nat", cidr: "10.82.0.0/24", host: "hb" });
    expect(explicit.status, JSON.stringify(explicit.body)).toBe(503);
    expect(explicit.body.error.code).toBe("HOST_UNAVAILABLE");
    expect(explicit.body.error.details).toMatchObject({ host: "hb" });
    expect(await c.redis.hget(c.keys.claimedNames, "on-dead")).toBeNull();

    const onDeadNet = second === "hb" ? "place-b" : "place-a";
    const stop = await c.call("stop-network", { name: onDeadNet });
    expect(stop.status).toBe(503);
    expect(stop.body.error.code).toBe("HOST_UNAVAILABLE");

    const placed = await c.call("create-network", { name: "survivor", type: "isolated", cidr: "10.83.0.0/24" }, { wait: 30 });
    expect(placed.status, JSON.stringify(placed.body)).toBe(200);
    expect(placed.body.job.host).toBe("ha");
    expect(await libvirtNetworks("ha")).toContain("survivor");

    const ready = await readyz();
    expect(ready.status).toBe(200);
    expect(ready.body.checks.onlineHosts).toBe(1);
  });

  it("a graceful worker stop marks its host offline at once; with no online host: 503 NO_HOST and /readyz 503", async () => {
    const stopStarted = Date.now();
    await c.workers.get("ha")?.stop();
    const h = await hostView("ha");
    expect(h.status).toBe("offline");
    // lastSeenAt stays a real moment: when the host was last seen, not a made-up date.
    expect(Date.parse(h.lastSeenAt)).toBeGreaterThan(stopStarted - 5_000);
    expect(Date.parse(h.lastSeenAt)).toBeLessThanOrEqual(Date.now());

    const none = await c.call("create-network", { name: "nowhere", type: "nat", cidr: "10.84.0.0/24" });
    expect(none.status, JSON.stringify(none.body)).toBe(503);
    expect(none.body.error.code).toBe("NO_HOST");
    const explicit = await c.call("create-network", { name: "nowhere", type: "nat", cidr: "10.84.0.0/24", host: "ha" });
    expect(explicit.status).toBe(503);
    expect(explicit.body.error.code).toBe("HOST_UNAVAILABLE");
    expect(explicit.body.error.message).toContain(h.lastSeenAt);
    expect(await c.redis.hget(c.keys.claimedNames, "nowhere")).toBeNull();

    const ready = await readyz();
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: "unready", checks: { redis: "ok", onlineHosts: 0 } });
  });

  it("restarted workers bring their hosts back online with their networks counted", async () => {
    for (const id of IDS) await c.startWorker(id);
    const hosts = await listHosts();
    expect(hosts.map((h) => h.status)).toEqual(["online", "online"]);
    const counts = Object.fromEntries(hosts.map((h) => [h.id, h.networks]));
    // Each host has one of place-a/place-b; ha also has "survivor".
    expect(counts).toEqual({ ha: 2, hb: 1 });
    expect((await readyz()).status).toBe(200);
    const create = await c.call("create-network", { name: "back", type: "nat", cidr: "10.85.0.0/24", host: "hb" }, { wait: 30 });
    expect(create.status, JSON.stringify(create.body)).toBe(200);
  });
});
