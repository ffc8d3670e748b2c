/**
 * Size caps at the API's door, on a real Redis (issue 15, "Unbounded sizes"): forwards, static reservations
 * and firewall rules per network, firewall rules plus forwards per host, and unfinished jobs per token. The
 * Nth is accepted, the N+1th refused with 409 LIMIT_REACHED naming the limit and its setting, nothing queued,
 * and a dry run gets the same answer. Then list-jobs through its indexes: a filter that matches nothing reads
 * no job record, measured with INFO commandstats on a private redis-server only this file uses.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type NetSpec, sizeLimits } from "@netforge/core/model";
import { getNetwork, type NetworkRecord, newJobRecord, putNetwork, putNetworkSpec, saveNewJob } from "@netforge/core/store";
import { type RedisServer, startRedisServer } from "@netforge/devstack";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natSpec } from "./support/specs";
import { type ApiHarness, expectError, startApiHarness, TOKENS } from "./support/api-harness";

const LIMITS = { forwardsPerNetwork: 3, reservationsPerNetwork: 2, firewallRulesPerNetwork: 3, rulesPerHost: 8 };

let h: ApiHarness;
const spec = (name: string, cidr: string, extra: Partial<NetSpec> = {}): NetSpec => ({ ...natSpec(name, cidr), ...extra }) as NetSpec;
const fwd = (hostPort: number, vmIp: string) => ({ protocol: "tcp" as const, hostPort, vmIp, vmPort: 80 });
const rule = (n: number) => ({ direction: "inbound", protocol: "tcp", ports: String(1000 + n), action: "accept" });
const specRule = (n: number) => ({
  direction: "inbound" as const,
  protocol: "tcp" as const,
  source: null,
  destination: null,
  ports: String(1000 + n),
  action: "accept" as const,
  comment: null,
});
const queued = (host = "h1") => h.redis.llen(`${h.keys.bull}:${h.keys.hostQueue(host)}:wait`);

/** An indexed network with its spec published (what its worker would have written). */
async function network(name: string, cidr: string, extra: Partial<NetSpec> = {}, host = "h1") {
  const s = spec(name, cidr, extra) as NetSpec & { portForwards?: unknown[]; firewall?: { rules: unknown[] } };
  await h.addNetwork({
    name,
    host,
    cidr,
    gateway: cidr.replace(/0\/24$/, "1"),
    state: "active",
    portForwards: (s.portForwards ?? []) as never,
    firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: (s.firewall?.rules ?? []) as never },
  });
  await putNetworkSpec(h.redis, h.keys, s);
}

/** What the network's worker publishes after applying a change: the record (with its counts) and the spec. */
async function republish(name: string, cidr: string, extra: Partial<NetSpec>) {
  const s = spec(name, cidr, extra) as NetSpec & { portForwards?: unknown[]; firewall?: { rules: unknown[] } };
  const rec = (await getNetwork(h.redis, h.keys, name)) as NetworkRecord;
  await putNetwork(h.redis, h.keys, {
    ...rec,
    portForwards: (s.portForwards ?? []) as never,
    firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: (s.firewall?.rules ?? []) as never },
  });
  await putNetworkSpec(h.redis, h.keys, s);
}

function expectLimit(r: { status: number; body: any; headers: Headers }, limit: number, setting: string) {
  const e = expectError(r, 409, "LIMIT_REACHED");
  expect(e.details).toMatchObject({ limit, setting });
  expect(e.message).toContain(setting);
}

beforeAll(async () => {
  h = await startApiHarness("limits", { limits: LIMITS, claimSweepIntervalMs: 0 });
  await h.addHost("h1");
  await h.addHost("h2");
});
afterAll(() => h.close());

describe("caps per network", () => {
  it("port forwards: the 3rd is accepted, the 4th refused 409 LIMIT_REACHED (dry run too); re-pointing one at the cap is not a new one", async () => {
    await network("pf", "10.61.0.0/24", { portForwards: [fwd(8001, "10.61.0.5"), fwd(8002, "10.61.0.5")] } as Partial<NetSpec>);
    const before = await queued();
    const add = (hostPort: number, extra: Record<string, unknown> = {}) =>
      h.call("configure-network-port-forward", { name: "pf", protocol: "tcp", hostPort, vmIp: "10.61.0.6", vmPort: 80, ...extra });
    expect((await add(8003)).status).toBe(202);
    await putNetworkSpec(
      h.redis,
      h.keys,
      spec("pf", "10.61.0.0/24", {
        portForwards: [fwd(8001, "10.61.0.5"), fwd(8002, "10.61.0.5"), fwd(8003, "10.61.0.6")],
      } as Partial<NetSpec>),
    );
    expectLimit(await add(8004), 3, "NETFORGE_MAX_FORWARDS_PER_NETWORK");
    expectLimit(await add(8004, { dryRun: true }), 3, "NETFORGE_MAX_FORWARDS_PER_NETWORK");
    expect(await queued()).toBe(before + 1);
    expect(await h.redis.hget(h.keys.portClaims("h1"), "tcp/8004")).toBeNull(); // refused: no port claimed
    expect((await add(8001)).status).toBe(202); // same host port, new target: replaces, does not add
    expect((await h.call("configure-network-port-forward", { name: "pf", action: "remove", protocol: "tcp", hostPort: 8002 })).status).toBe(
      202,
    );
  });

  it("static reservations: the 2nd is accepted, the 3rd refused 409 LIMIT_REACHED (dry run too)", async () => {
    await network("rsv", "10.62.0.0/24", { reservations: [{ mac: "52:54:00:00:00:01", ip: "10.62.0.11", hostname: null }] });
    const assign = (mac: string, ip: string, extra: Record<string, unknown> = {}) =>
      h.call("assign-static-ip", { name: "rsv", mac, ip, ...extra });
    expect((await assign("52:54:00:00:00:02", "10.62.0.12")).status).toBe(202);
    await putNetworkSpec(
      h.redis,
      h.keys,
      spec("rsv", "10.62.0.0/24", {
        reservations: [
          { mac: "52:54:00:00:00:01", ip: "10.62.0.11", hostname: null },
          { mac: "52:54:00:00:00:02", ip: "10.62.0.12", hostname: null },
        ],
      }),
    );
    const before = await queued();
    expectLimit(await assign("52:54:00:00:00:03", "10.62.0.13"), 2, "NETFORGE_MAX_RESERVATIONS_PER_NETWORK");
    expectLimit(await assign("52:54:00:00:00:03", "10.62.0.13", { dryRun: true }), 2, "NETFORGE_MAX_RESERVATIONS_PER_NETWORK");
    expect(await queued()).toBe(before);
    // Repeating an existing one changes nothing and is not refused; releasing always works.
    expect((await assign("52:54:00:00:00:02", "10.62.0.12")).status).toBe(202);
    expect((await h.call("unassign-static-ip", { name: "rsv", mac: "52:54:00:00:00:01" })).status).toBe(202);
  });

  it("firewall rules: a body of 3 is accepted, a body of 4 refused 409 LIMIT_REACHED (dry run too)", async () => {
    await network("fwc", "10.63.0.0/24");
    const set = (n: number, extra: Record<string, unknown> = {}) =>
      h.call("configure-network-firewall", { name: "fwc", rules: Array.from({ length: n }, (_, i) => rule(i)), ...extra });
    const before = await queued();
    const e = await set(4);
    expectLimit(e, 3, "NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK");
    expect(e.body.error.details.count).toBe(4);
    expectLimit(await set(4, { dryRun: true }), 3, "NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK");
    expect(await queued()).toBe(before);
    expect((await set(3)).status).toBe(202);
  });
});

describe("cap per host", () => {
  it("firewall rules plus forwards across the host's networks: 8 accepted, 9 refused; another host and shrinking are not refused", async () => {
    // h2 carries 5 (3 rules + 2 forwards) on one network; a second network may add 3, not 4.
    await network(
      "hr-a",
      "10.64.0.0/24",
      {
        firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [specRule(1), specRule(2), specRule(3)] },
        portForwards: [fwd(9001, "10.64.0.5"), fwd(9002, "10.64.0.5")],
      } as Partial<NetSpec>,
      "h2",
    );
    await network("hr-b", "10.65.0.0/24", {}, "h2");
    await network("hr-c", "10.66.0.0/24", { portForwards: [fwd(9101, "10.66.0.5")] } as Partial<NetSpec>, "h2");
    // 5 + 1 (hr-c) + 3 (hr-b) = 9 > 8
    const set = (name: string, n: number, extra: Record<string, unknown> = {}) =>
      h.call("configure-network-firewall", { name, rules: Array.from({ length: n }, (_, i) => rule(i)), ...extra });
    const before = await queued("h2");
    const e = await set("hr-b", 3);
    expectLimit(e, 8, "NETFORGE_MAX_RULES_PER_HOST");
    expect(e.body.error.details).toMatchObject({ host: "h2", count: 9 });
    expectLimit(await set("hr-b", 3, { dryRun: true }), 8, "NETFORGE_MAX_RULES_PER_HOST");
    expect(await queued("h2")).toBe(before);
    expect((await set("hr-b", 2)).status).toBe(202); // 5 + 1 + 2 = 8
    // Its worker applied it and published the network: now one forward more would make 9.
    await republish("hr-b", "10.65.0.0/24", {
      firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [specRule(1), specRule(2)] },
    } as Partial<NetSpec>);
    expectLimit(
      await h.call("configure-network-port-forward", { name: "hr-b", protocol: "tcp", hostPort: 9201, vmIp: "10.65.0.5" }),
      8,
      "NETFORGE_MAX_RULES_PER_HOST",
    );
    // A network already at its count may be rewritten with fewer (or as many) rules.
    expect((await set("hr-a", 3)).status).toBe(202);
    expect((await set("hr-a", 1)).status).toBe(202);
    // Rules on h1 do not count toward h2.
    await network("hr-d", "10.67.0.0/24");
    expect((await set("hr-d", 3)).status).toBe(202);
  });
});

describe("quota of unfinished jobs per token", () => {
  let q: ApiHarness;
  beforeAll(async () => {
    q = await startApiHarness("quota", { limits: { queuedJobsPerToken: 3 }, claimSweepIntervalMs: 0 });
    await q.addHost("h1");
  });
  afterAll(() => q.close());
  const qQueued = () => q.redis.llen(`${q.keys.bull}:${q.keys.hostQueue("h1")}:wait`);

  it("the 3rd queued job is accepted, the 4th refused 409 LIMIT_REACHED (dry run too); other tokens are not held; an ended job frees its place", async () => {
    await q.addNetwork({ name: "qa-off", host: "h1", cidr: "10.69.0.0/24", state: "inactive" });
    const start = (role: "operator" | "admin", extra: Record<string, unknown> = {}) =>
      q.call("start-network", { name: "qa-off", ...extra }, { role });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await start("operator");
      expect(r.status).toBe(202);
      ids.push(r.body.job.id);
    }
    const before = await qQueued();
    expectLimit(await start("operator"), 3, "NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN");
    expectLimit(await start("operator", { dryRun: true }), 3, "NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN");
    expect(await qQueued()).toBe(before);
    expect((await start("admin")).status).toBe(202);
    // Running still counts; ended (either way) does not.
    await q.advance(ids[0] as string, "progress");
    expectLimit(await start("operator"), 3, "NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN");
    await q.advance(ids[0] as string, "failed");
    const next = await start("operator");
    expect(next.status).toBe(202);
    await q.advance(ids[1] as string, "succeeded");
    expect((await start("operator")).status).toBe(202);
    expectLimit(await start("operator"), 3, "NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN");
  });

  it("the token itself is never stored: records and quota keys carry a hash of it", async () => {
    const dump: string[] = [];
    for (const k of await q.keysMatching("*")) {
      const type = await q.redis.type(k);
      if (type === "string") dump.push(k, (await q.redis.get(k)) ?? "");
      else if (type === "zset") dump.push(k, ...(await q.redis.zrange(k, 0, -1)));
      else dump.push(k);
    }
    const text = dump.join("\n");
    for (const t of Object.values(TOKENS)) expect(text).not.toContain(t);
    expect(await q.keysMatching("jobs:token:*")).not.toHaveLength(0);
  });
});

describe("settings", () => {
  it("each cap comes from its variable (default otherwise); a bad value is refused naming it", () => {
    expect(sizeLimits({})).toEqual({
      forwardsPerNetwork: 1024,
      reservationsPerNetwork: 4096,
      firewallRulesPerNetwork: 500,
      rulesPerHost: 10_000,
      queuedJobsPerToken: 1000,
    });
    expect(sizeLimits({ NETFORGE_MAX_FORWARDS_PER_NETWORK: "10", NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: " 7 " })).toMatchObject({
      forwardsPerNetwork: 10,
      queuedJobsPerToken: 7,
    });
    expect(() => sizeLimits({ NETFORGE_MAX_RULES_PER_HOST: "0" })).toThrow(/NETFORGE_MAX_RULES_PER_HOST/);
    expect(() => sizeLimits({ NETFORGE_MAX_RESERVATIONS_PER_NETWORK: "lots" })).toThrow(/NETFORGE_MAX_RESERVATIONS_PER_NETWORK/);
  });
});

describe("list-jobs through indexes (private redis-server: its command counts are this file's alone)", () => {
  let dir: string;
  let server: RedisServer;
  let p: ApiHarness;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "nf-listjobs-"));
    server = await startRedisServer({ dir });
    p = await startApiHarness("listjobs", { claimSweepIntervalMs: 0 }, { redisUrl: server.url });
    await p.addHost("busy");
    for (let i = 0; i < 600; i++) {
      const r = newJobRecord({
        action: "start-network",
        network: `n${i % 7}`,
        host: "busy",
        payload: { name: `n${i % 7}` },
        steps: ["starting network"],
      });
      await saveNewJob(p.redis, p.keys, r);
    }
  }, 60_000);
  afterAll(async () => {
    await p?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const stats = async () => {
    const out: Record<string, number> = {};
    for (const line of ((await p.redis.info("commandstats")) as string).split("\n")) {
      const m = /^cmdstat_([a-z|]+):calls=(\d+)/.exec(line.trim());
      if (m) out[m[1] as string] = Number(m[2]);
    }
    return out;
  };
  const delta = (a: Record<string, number>, b: Record<string, number>, cmd: string) => (b[cmd] ?? 0) - (a[cmd] ?? 0);

  it("a filter that matches nothing (host, state, network) reads no job record and walks no index", async () => {
    for (const body of [{ host: "nobody" }, { state: "failed" }, { network: "none" }, { host: "busy", state: "succeeded" }]) {
      const a = await stats();
      const r = await p.call("list-jobs", { ...body, limit: 1000 }, { role: "viewer" });
      const b = await stats();
      expect(r.status).toBe(200);
      expect(r.body.jobs).toEqual([]);
      expect({ body, get: delta(a, b, "get"), mget: delta(a, b, "mget"), zrevrange: delta(a, b, "zrevrange") }).toEqual({
        body,
        get: 0,
        mget: 0,
        zrevrange: 0,
      });
    }
  });

  it("host and state filters answer from their indexes, newest first, and follow a job's state", async () => {
    const all = await p.call("list-jobs", { host: "busy", limit: 1000 }, { role: "viewer" });
    expect(all.body.jobs).toHaveLength(600);
    const created = all.body.jobs.map((j: { createdAt: string }) => Date.parse(j.createdAt));
    expect([...created].sort((x, y) => y - x)).toEqual(created);
    const id = all.body.jobs[10].id as string;
    await p.advance(id, "progress");
    const running = await p.call("list-jobs", { state: "running" }, { role: "viewer" });
    expect(running.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
    await p.advance(id, "failed");
    expect((await p.call("list-jobs", { state: "running" }, { role: "viewer" })).body.jobs).toEqual([]);
    const failed = await p.call("list-jobs", { state: "failed", host: "busy", network: all.body.jobs[10].network }, { role: "viewer" });
    expect(failed.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
    expect((await p.call("list-jobs", { state: "queued", limit: 1000 }, { role: "viewer" })).body.jobs).toHaveLength(599);
  });
});
