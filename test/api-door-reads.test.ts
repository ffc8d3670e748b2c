/**
 * The API's door for a change of an existing network reads what it checks in
 * one round trip (core's readNetworkAtDoor: the network's record, its host's
 * record, the published spec and IP table, one read-only script), then checks
 * them in the order it always did: unknown network (404), its host not
 * registered or offline (503), the change itself. Against the run's real Redis.
 */
import { putHost, putNetworkIps, putNetworkSpec, type Redis, readNetworkAtDoor } from "@netforge/core/store";
import type { Command } from "ioredis";
import { natSpec } from "./support/specs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type ApiHarness, hostRecord, startApiHarness } from "./support/api-harness";
import { apiHalfOf } from "@netforge/api/testing";

let h: ApiHarness;

/**
 * Watches the commands `redis` sends while `fn` runs: their names, and how many round trips they took (a
 * command sent after an answer to an earlier one came back starts a new round trip; commands sent before
 * any new answer share one). Calls through to the real client.
 */
async function watchCommands(redis: Redis, fn: (rounds: () => number) => Promise<void>): Promise<{ names: string[]; rounds: number }> {
  const original = redis.sendCommand.bind(redis);
  const names: string[] = [];
  const seenAt: number[] = [];
  let answered = 0;
  const spy = vi.spyOn(redis, "sendCommand").mockImplementation((cmd: Command, stream?: unknown) => {
    names.push(cmd.name);
    seenAt.push(answered);
    cmd.promise.then(
      () => answered++,
      () => answered++,
    );
    return original(cmd, stream as never);
  });
  const rounds = () => new Set(seenAt).size;
  try {
    await fn(rounds);
  } finally {
    spy.mockRestore();
  }
  return { names, rounds: rounds() };
}
const spec = natSpec;

beforeAll(async () => {
  h = await startApiHarness("api-door");
  await h.addHost("h1");
  await h.addHost("h-off", { online: false });
  await h.addNetwork({ name: "door", host: "h1", cidr: "10.81.0.0/24", gateway: "10.81.0.1", state: "active" });
  await putNetworkSpec(h.redis, h.keys, spec("door", "10.81.0.0/24"));
  const observedAt = new Date().toISOString();
  const past = new Date(Date.now() - 60_000).toISOString();
  const future = new Date(Date.now() + 3_600_000).toISOString();
  await putNetworkIps(h.redis, h.keys, "door", {
    observedAt,
    ips: [
      { ip: "10.81.0.100", mac: "52:54:00:00:00:01", vmName: "a", leaseExpiresAt: future, static: false },
      { ip: "10.81.0.101", mac: "52:54:00:00:00:02", vmName: "b", leaseExpiresAt: past, static: false },
    ],
  } as never);
  await h.addNetwork({ name: "stranded", host: "h-off", cidr: "10.82.0.0/24", gateway: "10.82.0.1", state: "active" });
  await putNetworkSpec(h.redis, h.keys, spec("stranded", "10.82.0.0/24"));
  await h.addNetwork({ name: "orphan", host: "h-gone", cidr: "10.83.0.0/24", gateway: "10.83.0.1", state: "active" });
  await putNetworkSpec(h.redis, h.keys, spec("orphan", "10.83.0.0/24"));
  await h.addNetwork({ name: "br", host: "h1", type: "bridge", state: "active" });
});
afterAll(() => h.close());

describe("readNetworkAtDoor", () => {
  it("reads the network, its host, and the spec and IP table asked for; expired leases dropped as getNetworkIps does", async () => {
    const all = await readNetworkAtDoor(h.redis, h.keys, "door", { spec: true, ips: true });
    expect(all.net?.name).toBe("door");
    expect(all.host?.id).toBe("h1");
    expect(all.spec).toMatchObject({ name: "door", cidr: "10.81.0.0/24" });
    expect(all.ips?.ips.map((r) => r.ip)).toEqual(["10.81.0.100"]);
    const bare = await readNetworkAtDoor(h.redis, h.keys, "door");
    expect(bare.host?.id).toBe("h1");
    expect(bare.spec).toBeNull();
    expect(bare.ips).toBeNull();
    const specOnly = await readNetworkAtDoor(h.redis, h.keys, "door", { spec: true });
    expect(specOnly.spec?.name).toBe("door");
    expect(specOnly.ips).toBeNull();
    const ipsOnly = await readNetworkAtDoor(h.redis, h.keys, "door", { ips: true });
    expect(ipsOnly.spec).toBeNull();
    expect(ipsOnly.ips?.ips).toHaveLength(1);
  });

  it("answers nulls for an unknown network, and no host for a host that is not registered", async () => {
    expect(await readNetworkAtDoor(h.redis, h.keys, "nope", { spec: true, ips: true })).toEqual({
      net: null,
      host: null,
      spec: null,
      ips: null,
    });
    const orphan = await readNetworkAtDoor(h.redis, h.keys, "orphan", { spec: true });
    expect(orphan.net?.host).toBe("h-gone");
    expect(orphan.host).toBeNull();
    expect(orphan.spec?.name).toBe("orphan");
  });

  it("a record without its list-networks summary (written before summaries existed) still gets its host, in a second read", async () => {
    await h.addNetwork({ name: "legacy", host: "h1", cidr: "10.84.0.0/24", gateway: "10.84.0.1", state: "active" });
    await h.redis.hdel(h.keys.networkSummaries, "legacy");
    let r: Awaited<ReturnType<typeof readNetworkAtDoor>> | null = null;
    const seen = await watchCommands(h.redis, async () => {
      r = await readNetworkAtDoor(h.redis, h.keys, "legacy");
    });
    expect(r).toMatchObject({ net: { name: "legacy" }, host: { id: "h1" } });
    expect(seen.rounds).toBe(2);
  });

  it("a summary naming another host than the record (changed between the reads) is not trusted: the record's host is read", async () => {
    await h.addNetwork({ name: "moved", host: "h1", cidr: "10.85.0.0/24", gateway: "10.85.0.1", state: "active" });
    const entry = (await h.redis.hget(h.keys.networkSummaries, "moved")) as string;
    await h.redis.hset(h.keys.networkSummaries, "moved", entry.replace('"h1"', '"h-off"'));
    const r = await readNetworkAtDoor(h.redis, h.keys, "moved");
    expect(r.host?.id).toBe("h1");
  });

  it("sends every command before the first answer: one round trip", async () => {
    const seen = await watchCommands(h.redis, async () => {
      await readNetworkAtDoor(h.redis, h.keys, "door", { spec: true, ips: true });
    });
    expect(seen.rounds).toBe(1);
    expect(seen.names).toEqual(["get", "evalsha", "get", "get"]);
  });
});

describe("the door of a change reads in one round trip", () => {
  for (const [action, body] of [
    ["configure-network-firewall", { name: "door", defaultInbound: "drop", rules: [] }],
    ["configure-network-port-forward", { name: "door", protocol: "tcp", hostPort: 18080, vmIp: "10.81.0.50", vmPort: 80 }],
    ["assign-static-ip", { name: "door", mac: "52:54:00:00:00:09", ip: "10.81.0.20" }],
    ["stop-network", { name: "door" }],
  ] as const) {
    it(`${action}: one round trip of reads before the commit`, async () => {
      let before = -1;
      await watchCommands(h.redis, async (rounds) => {
        const prepare = apiHalfOf(action).prepare as (...a: unknown[]) => Promise<void>;
        await prepare(h.redis, h.keys, body, async () => {
          before = rounds();
        });
      });
      expect(before).toBe(1);
    });
  }
});

describe("the door's checks, in their order", () => {
  const change = (name: string) => ({ name, defaultInbound: "drop", rules: [] });

  it("an unknown network is 404 NOT_FOUND", async () => {
    const r = await h.call("configure-network-firewall", change("nope"));
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: "NOT_FOUND", details: { name: "nope" } });
  });

  it("a network whose host is not registered is 503 HOST_UNAVAILABLE", async () => {
    for (const action of ["configure-network-firewall", "stop-network"]) {
      const r = await h.call(action, action === "stop-network" ? { name: "orphan" } : change("orphan"));
      expect(r.status).toBe(503);
      expect(r.body.error).toMatchObject({ code: "HOST_UNAVAILABLE", details: { host: "h-gone" } });
      expect(r.body.error.message).toContain("not registered");
    }
  });

  it("a network whose host is offline is 503 HOST_UNAVAILABLE with when it was last seen, before the change is checked", async () => {
    // A change the planner refuses (the VM address is outside the subnet): on an online host it is refused as
    // such, on an offline one the host is refused first, as before.
    const outside = (name: string) => ({ name, protocol: "tcp", hostPort: 18082, vmIp: "10.99.0.5", vmPort: 80 });
    const refused = await h.call("configure-network-port-forward", outside("door"));
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    const r = await h.call("configure-network-port-forward", outside("stranded"));
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("HOST_UNAVAILABLE");
    expect(r.body.error.details).toMatchObject({ host: "h-off", lastSeenAt: expect.any(String) });
    expect(r.body.error.message).toContain("offline");
  });

  it("a network type without a netforge firewall is UNSUPPORTED_FOR_TYPE; a port forward on it too", async () => {
    const fw = await h.call("configure-network-firewall", change("br"));
    expect(fw.body.error?.code).toBe("UNSUPPORTED_FOR_TYPE");
    const pf = await h.call("configure-network-port-forward", {
      name: "br",
      protocol: "tcp",
      hostPort: 18081,
      vmIp: "10.0.0.5",
      vmPort: 80,
    });
    expect(pf.body.error?.code).toBe("UNSUPPORTED_FOR_TYPE");
  });

  it("a host port a process on the network's host listens on is refused (read with the network)", async () => {
    await putHost(h.redis, h.keys, hostRecord("h1", { listeningPorts: { tcp: [2222], udp: [] } }));
    const r = await h.call("configure-network-port-forward", {
      name: "door",
      protocol: "tcp",
      hostPort: 2222,
      vmIp: "10.81.0.50",
      vmPort: 22,
    });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: "PORT_CONFLICT", details: { heldBy: { process: true } } });
  });
});
