/**
 * The host-safety guards of configure-network-port-forward at the API's door
 * (issue 15): the host-port deny-list (the hypervisor's own services, listening
 * or not: 422 NOT_ALLOWED naming NETFORGE_DENIED_HOST_PORTS), failing closed
 * when the host published no listening ports (503 HOST_UNAVAILABLE), and
 * forwards bound to one host address (hostIp): only the host's own addresses,
 * and claims where "every address" overlaps each single address, across
 * networks and inside one; remove names the same hostIp. Nothing refused is
 * queued or claimed.
 */
import type { HostRecord } from "@netforge/core/contract";
import type { NetSpec } from "@netforge/core/model";
import { putHost, putNetworkSpec } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, hostRecord, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
const base: NetSpec = {
  type: "nat",
  name: "pf1",
  uuid: "6b1c1f0e-9f0a-4a52-8d7e-3c1f6c0c0a01",
  description: "",
  createdAt: "2026-12-06T00:00:00.000Z",
  bridge: "nf-pf1",
  cidr: "10.15.0.0/24",
  gateway: "10.15.0.1",
  dhcp: { enabled: true, start: "10.15.0.100", end: "10.15.0.200", leaseTime: 3600 },
  reservations: [],
};
const nic = (name: string, addresses: string[]) => ({ name, kind: null, mac: null, state: "up", master: null, addresses });
const HOST: Partial<HostRecord> = {
  interfaces: [
    { ...nic("lo", ["127.0.0.1/8"]), addresses6: ["::1/128"] },
    { ...nic("eno1", ["198.51.100.2/24", "198.51.100.3/24"]), addresses6: ["fd00:99::2/64"] },
    nic("eno2", ["203.0.113.7/24"]),
  ],
  listeningPorts: { tcp: [9443], udp: [] },
};

beforeAll(async () => {
  h = await startApiHarness("api-forward-guards");
  await putHost(h.redis, h.keys, hostRecord("g1", HOST));
  for (const [name, n] of [
    ["pf1", 15],
    ["pf2", 16],
  ] as const) {
    await h.addNetwork({ name, host: "g1", cidr: `10.${n}.0.0/24`, gateway: `10.${n}.0.1`, state: "active" });
    await putNetworkSpec(h.redis, h.keys, { ...base, name, bridge: `nf-${name}`, cidr: `10.${n}.0.0/24`, gateway: `10.${n}.0.1` });
  }
  // A dual-stack network (IPv6 forwards).
  await h.addNetwork({ name: "pf3", host: "g1", cidr: "10.17.0.0/24", gateway: "10.17.0.1", state: "active" });
  await putNetworkSpec(h.redis, h.keys, {
    ...base,
    name: "pf3",
    bridge: "nf-pf3",
    cidr: "10.17.0.0/24",
    gateway: "10.17.0.1",
    ipv6: { cidr: "fd00:17::/64", gateway: "fd00:17::1", mode: "slaac", dhcp: null, routed: false },
  } as NetSpec);
});
afterAll(() => h.close());

const queued = () => h.redis.llen(`${h.keys.bull}:${h.keys.hostQueue("g1")}:wait`);
const claims = () => h.redis.hgetall(h.keys.portClaims("g1"));
const fwd = (net: "pf1" | "pf2", b: Record<string, unknown>) =>
  h.call("configure-network-port-forward", { name: net, protocol: "tcp", vmIp: `10.${net === "pf1" ? 15 : 16}.0.5`, ...b });

describe("host-port deny-list", () => {
  it("refuses the host's own service ports, listening now or not, with 422 NOT_ALLOWED naming the setting", async () => {
    const before = { q: await queued(), c: await claims() };
    for (const hostPort of [22, 5900, 5999, 8080, 16509, 16514, 49152, 49215]) {
      const r = await fwd("pf1", { hostPort });
      expect(r.status, `${hostPort}: ${JSON.stringify(r.body)}`).toBe(422);
      expect(r.body.error.code).toBe("NOT_ALLOWED");
      expect(r.body.error.message).toContain("NETFORGE_DENIED_HOST_PORTS");
      expect(r.body.error.details).toMatchObject({ host: "g1", protocol: "tcp", hostPort, setting: "NETFORGE_DENIED_HOST_PORTS" });
      // A dry run is refused the same way.
      expect((await fwd("pf1", { hostPort, dryRun: true })).status).toBe(422);
    }
    expect({ q: await queued(), c: await claims() }).toEqual(before);
    // Next to the ranges, and the same numbers over UDP (the defaults are TCP services), are fine.
    for (const b of [{ hostPort: 5899 }, { hostPort: 49216 }, { hostPort: 22, protocol: "udp" }, { hostPort: 5901, protocol: "udp" }]) {
      const r = await fwd("pf1", { ...b, dryRun: true });
      expect(r.status, `${JSON.stringify(b)}: ${JSON.stringify(r.body)}`).toBe(200);
    }
  });

  it("a port a host process listens on stays 409 PORT_CONFLICT", async () => {
    const r = await fwd("pf1", { hostPort: 9443 });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: "PORT_CONFLICT", details: { heldBy: { process: true } } });
  });

  it("the host's published list (its NETFORGE_DENIED_HOST_PORTS) is what the door applies", async () => {
    await putHost(
      h.redis,
      h.keys,
      hostRecord("g1", {
        ...HOST,
        deniedHostPorts: {
          tcp: [
            [22, 22],
            [7000, 7010],
          ],
          udp: [[5353, 5353]],
        },
      }),
    );
    try {
      const t = await fwd("pf1", { hostPort: 7005 });
      expect(t.status).toBe(422);
      expect(t.body.error.details.deniedRange).toBe("7000-7010");
      expect((await fwd("pf1", { hostPort: 5353, protocol: "udp" })).body.error?.code).toBe("NOT_ALLOWED");
      // The host's list replaces the defaults it was built from (this one dropped 5900-5999).
      expect((await fwd("pf1", { hostPort: 5901, dryRun: true })).status).toBe(200);
    } finally {
      await putHost(h.redis, h.keys, hostRecord("g1", HOST));
    }
  });
});

describe("unknown listening ports: the door fails closed", () => {
  it("a host that published no listening ports refuses adds with 503 HOST_UNAVAILABLE; removes still pass", async () => {
    const { listeningPorts: _l, ...unknown } = hostRecord("g1", HOST);
    await putHost(h.redis, h.keys, unknown);
    try {
      const before = { q: await queued(), c: await claims() };
      for (const dryRun of [false, true]) {
        const r = await fwd("pf1", { hostPort: 2300, dryRun });
        expect(r.status, JSON.stringify(r.body)).toBe(503);
        expect(r.body.error.code).toBe("HOST_UNAVAILABLE");
        expect(r.body.error.message).toMatch(/has not published the ports its processes listen on/);
        expect(r.body.error.details).toMatchObject({ host: "g1", reason: "listening ports unknown" });
      }
      expect({ q: await queued(), c: await claims() }).toEqual(before);
      await putNetworkSpec(h.redis, h.keys, {
        ...base,
        portForwards: [{ protocol: "tcp", hostPort: 2301, vmIp: "10.15.0.5", vmPort: 80 }],
      });
      expect((await fwd("pf1", { action: "remove", hostPort: 2301, dryRun: true })).status).toBe(200);
    } finally {
      await putNetworkSpec(h.redis, h.keys, base);
      await putHost(h.redis, h.keys, hostRecord("g1", HOST));
    }
  });
});

describe("hostIp: a forward bound to one host address", () => {
  it("must be one of the host's own non-loopback addresses (400 naming hostIp)", async () => {
    for (const hostIp of ["198.51.100.9", "127.0.0.1", "10.15.0.1"]) {
      const r = await fwd("pf1", { hostPort: 2400, hostIp });
      expect(r.status, `${hostIp}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.error.code).toBe("VALIDATION_FAILED");
      expect(JSON.stringify(r.body.error.details)).toContain("hostIp");
      expect(r.body.error.message + JSON.stringify(r.body.error.details)).toContain("198.51.100.2, 198.51.100.3, 203.0.113.7");
    }
    const bad = await fwd("pf1", { hostPort: 2400, hostIp: "198.51.100.300" });
    expect(bad.status).toBe(400);
    expect(await claims()).not.toHaveProperty("tcp/2400");
  });

  it("dry run: the spec carries the address, the plan binds it", async () => {
    const r = await fwd("pf1", { hostPort: 2401, hostIp: "198.51.100.3", vmPort: 80, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.libvirtXml).toContain("<nf:portForwards>tcp,2401,10.15.0.5,80,198.51.100.3</nf:portForwards>");
  });

  it("claims: one address and every address of one port overlap across networks; two addresses do not", async () => {
    expect((await fwd("pf1", { hostPort: 2500, hostIp: "198.51.100.2" })).status).toBe(202);
    const all = await fwd("pf2", { hostPort: 2500 });
    expect(all.status).toBe(409);
    expect(all.body.error.code).toBe("PORT_CONFLICT");
    expect(all.body.error.details.heldBy).toEqual({ network: "pf1", hostIp: "198.51.100.2" });
    expect((await fwd("pf2", { hostPort: 2500, dryRun: true })).status).toBe(409);
    const same = await fwd("pf2", { hostPort: 2500, hostIp: "198.51.100.2" });
    expect(same.status).toBe(409);
    expect(same.body.error.details.heldBy).toEqual({ network: "pf1", hostIp: "198.51.100.2" });
    expect((await fwd("pf2", { hostPort: 2500, hostIp: "198.51.100.3" })).status).toBe(202);
    expect((await fwd("pf2", { hostPort: 2500, protocol: "udp" })).status).toBe(202); // another protocol
    // Every address first, then one address: refused the other way round too.
    expect((await fwd("pf1", { hostPort: 2501 })).status).toBe(202);
    const one = await fwd("pf2", { hostPort: 2501, hostIp: "203.0.113.7" });
    expect(one.status).toBe(409);
    expect(one.body.error.message).toContain("203.0.113.7:2501 of host g1 is already forwarded by network 'pf1' (on every host address)");
    expect(one.body.error.details.heldBy).toEqual({ network: "pf1" });
    expect(await claims()).toMatchObject({
      "tcp/2500@198.51.100.2": "pf1",
      "tcp/2500@198.51.100.3": "pf2",
      "udp/2500": "pf2",
      "tcp/2501": "pf1",
    });
    expect(await claims()).not.toHaveProperty("tcp/2500");
  });

  it("inside one network: a forward on every address and one on a single address of the same port conflict", async () => {
    await putNetworkSpec(h.redis, h.keys, { ...base, portForwards: [{ protocol: "tcp", hostPort: 2600, vmIp: "10.15.0.5", vmPort: 80 }] });
    try {
      const r = await fwd("pf1", { hostPort: 2600, hostIp: "198.51.100.2", dryRun: true });
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe("PORT_CONFLICT");
      expect(r.body.error.message).toMatch(/already forwards tcp 2600 -> 10.15.0.5:80.*remove it first/);
    } finally {
      await putNetworkSpec(h.redis, h.keys, base);
    }
  });

  it("remove names the hostIp: the forward on every address is another forward; the conntrack flush matches the address", async () => {
    const bound = { protocol: "tcp" as const, hostPort: 2700, vmIp: "10.15.0.5", vmPort: 80, hostIp: "198.51.100.3" };
    await putNetworkSpec(h.redis, h.keys, { ...base, portForwards: [bound] });
    try {
      const wrong = await fwd("pf1", { action: "remove", hostPort: 2700, dryRun: true });
      expect(wrong.status).toBe(404);
      expect(wrong.body.error.code).toBe("NOT_FOUND");
      expect(wrong.body.error.message).toContain("it forwards it on 198.51.100.3: name that hostIp");
      const r = await fwd("pf1", { action: "remove", hostPort: 2700, hostIp: "198.51.100.3", dryRun: true });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.plan.steps.map((s: { command: string[] }) => s.command)).toContainEqual([
        "conntrack",
        "-D",
        "-p",
        "tcp",
        "--orig-dst",
        "198.51.100.3",
        "--orig-port-dst",
        "2700",
        "--reply-src",
        "10.15.0.5",
        "--reply-port-src",
        "80",
      ]);
    } finally {
      await putNetworkSpec(h.redis, h.keys, base);
    }
  });
});

describe("IPv6 forwards at the door", () => {
  const fwd6 = (b: Record<string, unknown>) =>
    h.call("configure-network-port-forward", { name: "pf3", protocol: "tcp", vmIp: "fd00:17::5", ...b });

  it("an IPv6 vmIp on a network without IPv6 is 422 UNSUPPORTED_FOR_TYPE; nothing queued or claimed", async () => {
    const before = { q: await queued(), c: await claims() };
    const r = await fwd("pf1", { hostPort: 2790, vmIp: "fd00:15::5" });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(r.body.error.message).toContain("has no IPv6");
    expect({ q: await queued(), c: await claims() }).toEqual(before);
  });

  it("an IPv6 hostIp must be one of the host's own IPv6 addresses (any spelling; never ::1): 400 listing them", async () => {
    for (const hostIp of ["fd00:99::9", "::1", "fd00:17::1"]) {
      const r = await fwd6({ hostPort: 2791, hostIp });
      expect(r.status, `${hostIp}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body.error.message + JSON.stringify(r.body.error.details)).toContain("its addresses: fd00:99::2)");
    }
    const ok = await fwd6({ hostPort: 2791, hostIp: "FD00:99:0::2", dryRun: true });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.plan.libvirtXml).toContain("<nf:portForwards>tcp,2791,fd00:17::5,2791,fd00:99::2</nf:portForwards>");
    expect(await claims()).not.toHaveProperty("tcp/2791@fd00:99::2");
  });

  it("one claim per host port and protocol across families; bound claims of two families' addresses coexist", async () => {
    expect((await fwd6({ hostPort: 2800, vmIp: "FD00:17::5" })).status).toBe(202);
    const v4 = await fwd("pf1", { hostPort: 2800 });
    expect(v4.status, JSON.stringify(v4.body)).toBe(409);
    expect(v4.body.error).toMatchObject({ code: "PORT_CONFLICT", details: { heldBy: { network: "pf3" } } });
    expect((await fwd("pf1", { hostPort: 2800, dryRun: true })).status).toBe(409);
    expect((await fwd6({ hostPort: 2801, hostIp: "fd00:0099::2" })).status).toBe(202);
    expect((await fwd("pf1", { hostPort: 2801, hostIp: "198.51.100.2" })).status).toBe(202);
    const every = await fwd("pf2", { hostPort: 2801 });
    expect(every.status).toBe(409);
    expect(every.body.error.details.heldBy.network).toMatch(/^pf[13]$/);
    expect(await claims()).toMatchObject({ "tcp/2800": "pf3", "tcp/2801@fd00:99::2": "pf3", "tcp/2801@198.51.100.2": "pf1" });
  });
});
