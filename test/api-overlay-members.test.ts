/**
 * describe-network's member rows of an overlay (issue 17, ADR 0051 "Slice 2"), at the API with no host: each row
 * is what that member's own worker last published of its part (store/overlay-parts.ts): present with its state,
 * VXLAN device, flood entries and VMs; absent when the member published and has no such part; unknown when the
 * member is offline or never published. The workers' half (publishing from a real host) is e2e-overlay.
 * configure-network-hosts at the door: its refusals (each naming why) and its dry run across hosts; the job
 * itself runs in e2e-overlay. configure-network-mtu of an overlay at the door: every member's underlay limit (400
 * naming the host), a member offline (503), the dry run with every member's steps.
 */
import { type OverlayNetSpec, planHash } from "@netforge/core/model";
import {
  getNetwork,
  type NetworkRecord,
  putHost,
  putNetwork,
  putNetworkIpsAndStats,
  putNetworkSpec,
  putOverlayParts,
} from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, hostRecord, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
const at = "2026-12-07T13:00:00.000Z";

beforeAll(async () => {
  h = await startApiHarness("api-ovmembers");
  for (const id of ["m1", "m2", "m3"]) await h.addHost(id);
  await h.addHost("m4", { online: false });
  await h.addNetwork({
    name: "ovl",
    host: "m2",
    type: "overlay",
    state: "active",
    overlay: {
      vni: 10007,
      gatewayHost: "m2",
      hosts: ["m1", "m2", "m3", "m4", "m5"].map((id) => ({ id, state: "active" as const, connectedVms: 0 })),
    },
  });
  const part = { state: "active" as const, vxlanDevice: true, floodEntries: 4, observedAt: at };
  await putOverlayParts(h.redis, h.keys, "m1", new Map([["ovl", { ...part, connectedVms: 2, neighbourEntries: 3 }]]), true, at);
  await putOverlayParts(h.redis, h.keys, "m2", new Map([["ovl", { ...part, floodEntries: 3, connectedVms: 0 }]]), true, at);
  // m3 published and has no part of it; m4 is offline (its last numbers kept); m5 never published.
  await putOverlayParts(h.redis, h.keys, "m3", new Map(), true, at);
  await putOverlayParts(h.redis, h.keys, "m4", new Map([["ovl", { ...part, vxlanDevice: false, connectedVms: 1 }]]), true, at);
});
afterAll(() => h.close());

describe("an overlay's member rows", () => {
  it("each member as its own worker saw its part: present, absent, unknown", async () => {
    const d = await h.call("describe-network", { name: "ovl" });
    expect(d.status).toBe(200);
    const mac = { macConflicts: [] };
    expect(d.body.network.overlay.hosts).toEqual([
      {
        id: "m1",
        state: "active",
        part: "present",
        vxlanDevice: true,
        floodEntries: 4,
        connectedVms: 2,
        observedAt: at,
        localMacs: null,
        unicastEntries: null,
        neighbourEntries: 3,
        ...mac,
      },
      {
        id: "m2",
        state: "active",
        part: "present",
        vxlanDevice: true,
        floodEntries: 3,
        connectedVms: 0,
        observedAt: at,
        localMacs: null,
        unicastEntries: null,
        neighbourEntries: null,
        ...mac,
      },
      {
        id: "m3",
        state: "inactive",
        part: "absent",
        vxlanDevice: false,
        floodEntries: 0,
        connectedVms: 0,
        observedAt: null,
        localMacs: 0,
        unicastEntries: 0,
        neighbourEntries: 0,
        ...mac,
      },
      {
        id: "m4",
        state: "active",
        part: "unknown",
        vxlanDevice: false,
        floodEntries: 4,
        connectedVms: 1,
        observedAt: at,
        localMacs: null,
        unicastEntries: null,
        neighbourEntries: null,
        ...mac,
      },
      {
        id: "m5",
        state: "active",
        part: "unknown",
        vxlanDevice: null,
        floodEntries: null,
        connectedVms: 0,
        observedAt: null,
        localMacs: null,
        unicastEntries: null,
        neighbourEntries: null,
        ...mac,
      },
    ]);
    expect(d.body.network.overlay.macConflicts).toEqual([]);
  });

  it("a MAC two members publish at once: in the overlay's conflicts, each of the two rows, and the /metrics gauge", async () => {
    const part = { state: "active" as const, vxlanDevice: true, floodEntries: 4, connectedVms: 1, observedAt: at };
    const dup = "52:54:00:00:00:0d";
    await putOverlayParts(
      h.redis,
      h.keys,
      "m1",
      new Map([["ovl", { ...part, macs: [dup, "52:54:00:00:00:01"], unicastEntries: 1 }]]),
      true,
      at,
    );
    await putOverlayParts(h.redis, h.keys, "m2", new Map([["ovl", { ...part, macs: [dup], unicastEntries: 1 }]]), true, at);
    try {
      const d = await h.call("describe-network", { name: "ovl" });
      expect(d.body.network.overlay.macConflicts).toEqual([{ mac: dup, hosts: ["m1", "m2"] }]);
      expect(
        d.body.network.overlay.hosts
          .slice(0, 3)
          .map((r: { localMacs: number; unicastEntries: number; macConflicts: string[] }) => [
            r.localMacs,
            r.unicastEntries,
            r.macConflicts,
          ]),
      ).toEqual([
        [2, 1, [dup]],
        [1, 1, [dup]],
        [0, 0, []],
      ]);
      const m = (await h.get("/metrics")).body as string;
      expect(m).toMatch(/netforge_overlay_mac_conflicts\{network="ovl"\} 1\b/);
      // One of them gone: no conflict.
      await putOverlayParts(h.redis, h.keys, "m2", new Map([["ovl", { ...part, macs: [] }]]), true, at);
      expect((await h.call("describe-network", { name: "ovl" })).body.network.overlay.macConflicts).toEqual([]);
      expect((await h.get("/metrics")).body as string).toMatch(/netforge_overlay_mac_conflicts\{network="ovl"\} 0\b/);
    } finally {
      await putOverlayParts(h.redis, h.keys, "m1", new Map([["ovl", { ...part, connectedVms: 2 }]]), true, at);
      await putOverlayParts(h.redis, h.keys, "m2", new Map([["ovl", { ...part, floodEntries: 3, connectedVms: 0 }]]), true, at);
    }
  });

  it("a full publish replaces the host's parts: a part removed since is absent", async () => {
    await putOverlayParts(h.redis, h.keys, "m1", new Map(), true, at);
    const d = await h.call("describe-network", { name: "ovl" });
    expect(d.body.network.overlay.hosts[0]).toMatchObject({ id: "m1", part: "absent", state: "inactive", connectedVms: 0 });
  });
});

describe("an overlay's IP table", () => {
  it("the gateway's leases, each named by the member that has its MAC (its published part), else by the gateway", async () => {
    const lease = (ip: string, mac: string, vmName: string | null) => ({
      ip,
      mac,
      vmName,
      hostname: null,
      static: false,
      leaseExpiresAt: "2099-01-01T00:00:00.000Z",
    });
    await putNetworkIpsAndStats(
      h.redis,
      h.keys,
      "ovl",
      {
        ips: [
          lease("10.70.0.10", "52:54:00:00:00:01", null),
          lease("10.70.0.11", "52:54:00:00:00:02", "on-gateway"),
          lease("10.70.0.12", "52:54:00:00:00:03", null),
        ],
        observedAt: at,
      },
      { connectedVms: 1, allocatedIps: 3, observedAt: at },
    );
    const part = { state: "active" as const, vxlanDevice: true, floodEntries: 4, observedAt: at, connectedVms: 1 };
    await putOverlayParts(h.redis, h.keys, "m1", new Map([["ovl", { ...part, vms: { "52:54:00:00:00:01": "web-1" } }]]), true, at);
    const r = await h.call("list-network-ips", { name: "ovl" });
    expect(r.status).toBe(200);
    expect(r.body.ips.map((x: { ip: string; vmName: string | null }) => `${x.ip}=${x.vmName}`)).toEqual([
      "10.70.0.10=web-1",
      "10.70.0.11=on-gateway",
      "10.70.0.12=null",
    ]);
  });
});

describe("an overlay's traffic between VMs, counted by its members (ADR 0044 'Overlay members counted')", () => {
  it("describe-network's network peer, the IP rows by MAC and /metrics add every member's counts; totals and outside stay the gateway's", async () => {
    const c = (bytesIn: number, bytesOut: number) => ({ bytesIn, bytesOut, packetsIn: bytesIn / 10, packetsOut: bytesOut / 10 });
    const since = "2026-12-08T00:00:00.000Z";
    const lease = (ip: string, mac: string) => ({
      ip,
      mac,
      vmName: null,
      hostname: null,
      static: false,
      leaseExpiresAt: "2099-01-01T00:00:00.000Z",
    });
    await putNetworkIpsAndStats(
      h.redis,
      h.keys,
      "ovl",
      {
        ips: [
          {
            ...lease("10.70.0.10", "52:54:00:00:00:01"),
            traffic: { ...c(500, 700), peers: { outside: c(400, 600), network: c(100, 100) } },
          },
          lease("10.70.0.12", "52:54:00:00:00:03"),
        ],
        observedAt: at,
      },
      {
        connectedVms: 1,
        allocatedIps: 2,
        observedAt: at,
        traffic: { ...c(500, 700), since, peers: { since, outside: c(400, 600), network: c(100, 100) } },
      },
    );
    const part = { state: "active" as const, vxlanDevice: true, floodEntries: 4, observedAt: at, connectedVms: 1 };
    // m1's VM (…:01) sent 8000 bytes to m2's VM (…:03): out on m1, in on m2 (the gateway's host, a member like the others).
    await putOverlayParts(
      h.redis,
      h.keys,
      "m1",
      new Map([["ovl", { ...part, traffic: { network: c(0, 8000), vms: { "52:54:00:00:00:01": c(0, 8000) } } }]]),
      true,
      at,
    );
    await putOverlayParts(
      h.redis,
      h.keys,
      "m2",
      new Map([["ovl", { ...part, traffic: { network: c(8000, 0), vms: { "52:54:00:00:00:03": c(8000, 0) } } }]]),
      true,
      at,
    );
    try {
      const t = (await h.call("describe-network", { name: "ovl" })).body.network.stats.traffic;
      expect(t).toMatchObject({ ...c(500, 700), peers: { outside: c(400, 600), network: c(8100, 8100) } });
      const ips = (await h.call("list-network-ips", { name: "ovl" })).body.ips as { mac: string; traffic?: unknown }[];
      expect(ips.find((r) => r.mac.endsWith(":01"))?.traffic).toEqual({
        ...c(500, 700),
        peers: { outside: c(400, 600), network: c(100, 8100) },
      });
      // A VM seen only between VMs: zero edge, its network part.
      expect(ips.find((r) => r.mac.endsWith(":03"))?.traffic).toEqual({ ...c(0, 0), peers: { outside: c(0, 0), network: c(8000, 0) } });
      const m = (await h.get("/metrics")).body as string;
      expect(m).toMatch(/netforge_network_peer_bytes_total\{network="ovl",direction="out",peer="network"\} 8100\b/);
      expect(m).toMatch(/netforge_network_peer_bytes_total\{network="ovl",direction="in",peer="outside"\} 400\b/);
      expect(m).toMatch(/netforge_network_bytes_total\{network="ovl",direction="out"\} 700\b/);
    } finally {
      await putOverlayParts(h.redis, h.keys, "m1", new Map([["ovl", { ...part, connectedVms: 2, neighbourEntries: 3 }]]), true, at);
      await putOverlayParts(h.redis, h.keys, "m2", new Map([["ovl", { ...part, floodEntries: 3, connectedVms: 0 }]]), true, at);
    }
  });
});

describe("configure-network-hosts at the door", () => {
  const under = (ip: string, mtu = 1500) => ({ underlay: { ip, interface: "eth0", mtu, source: "setting" as const } });
  const spec: OverlayNetSpec = {
    type: "overlay",
    name: "ovh",
    uuid: "7c1a3a0e-6f55-4a2c-9d7e-0a1b2c3d4e5f",
    description: "",
    createdAt: "2026-12-07T09:00:00.000Z",
    bridge: "nfov10009",
    cidr: "10.59.0.0/24",
    gateway: "10.59.0.1",
    dhcp: { enabled: true, start: "10.59.0.128", end: "10.59.0.254", leaseTime: 3600 },
    mtu: 1450,
    vni: 10009,
    gatewayHost: "m2",
    nat: true,
    members: [
      { id: "m1", ip: "172.30.9.1" },
      { id: "m2", ip: "172.30.9.2" },
      { id: "m3", ip: "172.30.9.3" },
    ],
    self: "m2",
  };
  beforeAll(async () => {
    await putHost(h.redis, h.keys, hostRecord("m6", under("172.30.9.6")));
    await putHost(h.redis, h.keys, hostRecord("m7", under("172.30.9.7", 1400)));
    await putHost(h.redis, h.keys, hostRecord("m8", { underlay: null, underlayProblem: "no default route" }));
    await h.addNetwork({
      name: "ovh",
      host: "m2",
      type: "overlay",
      cidr: "10.59.0.0/24",
      state: "active",
      overlay: {
        vni: 10009,
        gatewayHost: "m2",
        hosts: ["m1", "m2", "m3"].map((id) => ({ id, state: "active" as const, connectedVms: 0 })),
      },
    });
    await putNetworkSpec(h.redis, h.keys, spec);
    await h.addNetwork({ name: "plain", host: "m1", cidr: "10.58.0.0/24" });
  });
  const err = async (body: Record<string, unknown>) => {
    const r = await h.call("configure-network-hosts", { name: "ovh", ...body });
    return { status: r.status, code: r.body.error?.code, message: r.body.error?.message as string, details: r.body.error?.details };
  };

  it("a network of another type has no members (422)", async () => {
    const plain = await h.call("configure-network-hosts", { name: "plain", add: ["m6"] });
    expect(plain.status).toBe(422);
    expect(plain.body.error.message).toBe("network 'plain' is of type nat: only overlay networks have member hosts");
    const moved = await h.call("configure-network-hosts", { name: "plain", gatewayHost: "m2" });
    expect(moved.status).toBe(422);
  });

  it("moving the gateway: to the gateway host itself or a non-member (409), with add/remove (400), a member offline (503), a forwarded port taken there (409)", async () => {
    expect(await err({ gatewayHost: "m2" })).toMatchObject({
      status: 409,
      code: "INVALID_STATE",
      message: "host 'm2' is already the gateway host of overlay 'ovh': nothing to move",
    });
    const stranger = await err({ gatewayHost: "m6" });
    expect(stranger).toMatchObject({ status: 409, code: "INVALID_STATE", details: { members: ["m1", "m2", "m3"], gatewayHost: "m2" } });
    expect(stranger.message).toContain("host 'm6' is not a member of overlay 'ovh' (m1, m2, m3)");
    const mixed = await err({ gatewayHost: "m1", add: ["m6"] });
    expect(mixed).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
    expect(mixed.details.issues).toEqual([{ path: "gatewayHost", message: expect.stringContaining("a request of its own") }]);
    // ovl has a member offline (m4): no job of it can run on every member.
    const off = await h.call("configure-network-hosts", { name: "ovl", gatewayHost: "m1" });
    expect(off.status).toBe(503);
    expect(off.body.error.code).toBe("HOST_UNAVAILABLE");
    // A forward of the overlay listens on the new gateway host's addresses: a port another network forwards there is taken.
    await putNetworkSpec(h.redis, h.keys, { ...spec, portForwards: [{ protocol: "tcp", hostPort: 2222, vmIp: "10.59.0.9", vmPort: 22 }] });
    await h.redis.hset(h.keys.portClaims("m1"), "tcp/2222", "plain");
    try {
      expect(await err({ gatewayHost: "m1" })).toMatchObject({
        status: 409,
        code: "PORT_CONFLICT",
        message: "tcp port 2222 of host m1 is already forwarded by network 'plain'",
      });
      expect((await err({ gatewayHost: "m3", dryRun: true })).status).toBe(200);
    } finally {
      await h.redis.hdel(h.keys.portClaims("m1"), "tcp/2222");
      await putNetworkSpec(h.redis, h.keys, spec);
    }
  });

  it("moving the gateway: the dry run shows the new gateway's part, the other member's definition, the old gateway's halves; a real call is a job on the old gateway host", async () => {
    const dry = await h.call("configure-network-hosts", { name: "ovh", gatewayHost: "m1", dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.plan.host).toBe("m2");
    const steps = [...new Set(dry.body.plan.steps.map((s: { step: string }) => s.step))];
    expect(steps).toEqual([
      "host m1: configure-network-hosts",
      "host m3: configure-network-hosts",
      "stopping the old gateway",
      "updating members",
    ]);
    const cmds = dry.body.plan.steps.map((s: { step: string; command: string[] }) => `${s.step}: ${s.command.join(" ")}`);
    expect(cmds).toContain("host m1: configure-network-hosts: ip link del nfov10009");
    expect(cmds).toContain("host m1: configure-network-hosts: virsh net-start ovh");
    expect(cmds).toContain("stopping the old gateway: virsh net-destroy ovh");
    expect(cmds).toContain("updating members: ip link add nfov10009 type bridge stp_state 0");
    const gwDef = dry.body.plan.steps.find(
      (s: { step: string; name: string }) => s.step === "host m1: configure-network-hosts" && s.name === "write spec",
    );
    expect(gwDef.xml).toContain("<forward mode='open'/>");
    expect(gwDef.xml).toContain("gatewayHost='m1'");
    const real = await h.call("configure-network-hosts", { name: "ovh", gatewayHost: "m1" });
    expect(real.status).toBe(202);
    expect(real.body.job).toMatchObject({ action: "configure-network-hosts", network: "ovh", host: "m2", state: "queued" });
  });

  it("an added host unknown (404), offline (503), without an underlay or whose underlay MTU is too small (400)", async () => {
    expect(await err({ add: ["nohost"] })).toMatchObject({ status: 404, message: "host 'nohost' is not registered" });
    const off = await err({ add: ["m4"] });
    expect(off).toMatchObject({ status: 503, code: "HOST_UNAVAILABLE" });
    expect(off.message).toContain("host 'm4' is offline");
    const none = await err({ add: ["m8"] });
    expect(none.status).toBe(400);
    expect(none.details.issues).toEqual([{ path: "add.0", message: "host 'm8' has no underlay address for VXLAN: no default route" }]);
    const small = await err({ add: ["m6", "m7"] });
    expect(small.details.issues).toEqual([
      {
        path: "add.1",
        message: "host 'm7''s underlay MTU is 1400: too small for overlay 'ovh''s MTU 1450 (it needs at least 1500 with 50 bytes of VXLAN)",
      },
    ]);
  });

  it("adding a member, removing a non-member or the gateway host (409 INVALID_STATE), naming nothing (400)", async () => {
    expect(await err({ add: ["m3"] })).toMatchObject({
      status: 409,
      code: "INVALID_STATE",
      message: "host 'm3' is already a member of overlay 'ovh' (m1, m2, m3)",
    });
    expect(await err({ remove: ["m6"] })).toMatchObject({
      status: 409,
      message: "host 'm6' is not a member of overlay 'ovh' (m1, m2, m3)",
    });
    const gw = await err({ remove: ["m2"] });
    expect(gw).toMatchObject({ status: 409, code: "INVALID_STATE" });
    expect(gw.message).toContain("host 'm2' is the gateway host of overlay 'ovh'");
    expect(await err({ add: [], remove: [] })).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
    expect(await err({ add: ["m6"], remove: ["m6"] })).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
  });

  it("a dry run removing a host where its worker counted VMs on the overlay: 409 NETWORK_IN_USE naming the host", async () => {
    const part = { state: "active" as const, vxlanDevice: true, floodEntries: 2, observedAt: at };
    await putOverlayParts(h.redis, h.keys, "m3", new Map([["ovh", { ...part, connectedVms: 2 }]]), true, at);
    try {
      expect(await err({ remove: ["m3"], dryRun: true })).toMatchObject({
        status: 409,
        code: "NETWORK_IN_USE",
        message: "cannot remove host 'm3' from overlay 'ovh': 2 VMs attached there; detach them first",
        details: { host: "m3", connectedVms: 2 },
      });
    } finally {
      await putOverlayParts(h.redis, h.keys, "m3", new Map(), true, at);
    }
  });

  it("stop, delete and start: the dry run shows the gateway's steps, then each other member's part; the hash covers them", async () => {
    const steps = (b: { plan: { steps: { step: string; command: string[] }[] } }) => [...new Set(b.plan.steps.map((x) => x.step))];
    const cmds = (b: { plan: { steps: { step: string; command: string[] }[] } }) =>
      b.plan.steps.map((x) => `${x.step}: ${x.command.join(" ")}`);
    const stop = await h.call("stop-network", { name: "ovh", dryRun: true });
    expect(stop.status, JSON.stringify(stop.body)).toBe(200);
    expect(stop.body.plan.host).toBe("m2");
    expect(steps(stop.body)).toEqual(["stopping network", "host m1: stop-network", "host m3: stop-network"]);
    expect(cmds(stop.body)).toContain("host m3: stop-network: virsh net-destroy ovh");
    const del = await h.call("delete-network", { name: "ovh", dryRun: true });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(steps(del.body)).toEqual(expect.arrayContaining(["removing definition", "host m1: delete-network", "host m3: delete-network"]));
    expect(cmds(del.body)).toEqual(
      expect.arrayContaining([
        "host m1: delete-network: ip link del nfvx10009",
        "host m1: delete-network: ip link del nfov10009",
        "host m3: delete-network: virsh net-undefine ovh",
      ]),
    );
    // The gateway's own steps alone hash differently: a previewed plan names every host's part.
    expect(del.body.plan.planHash).not.toBe(planHash(del.body.plan.steps.filter((x: { step: string }) => !x.step.startsWith("host "))));
    const rec = (await getNetwork(h.redis, h.keys, "ovh")) as NetworkRecord;
    await putNetwork(h.redis, h.keys, { ...rec, state: "inactive" });
    try {
      const start = await h.call("start-network", { name: "ovh", dryRun: true });
      expect(start.status, JSON.stringify(start.body)).toBe(200);
      expect(steps(start.body)).toEqual(expect.arrayContaining(["host m1: start-network", "host m3: start-network"]));
      expect(cmds(start.body)).toContain(
        "host m1: start-network: ip link add nfvx10009 type vxlan id 10009 local 172.30.9.1 dstport 4789 nolearning",
      );
    } finally {
      await putNetwork(h.redis, h.keys, rec);
    }
  });

  it("create: the dry run shows the gateway's steps, then each other member's part", async () => {
    const dry = await h.call("create-network", { name: "ovnew", type: "overlay", cidr: "10.57.0.0/24", hosts: ["m6", "m7"], dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.plan.host).toBe("m6");
    const steps = [...new Set(dry.body.plan.steps.map((x: { step: string }) => x.step))];
    expect(steps).toEqual(["defining network", "starting network", "setting autostart", "host m7: create-network"]);
    const cmds = dry.body.plan.steps.map((x: { step: string; command: string[] }) => `${x.step}: ${x.command.join(" ")}`);
    expect(cmds.some((c: string) => /^host m7: create-network: ip link add nfvx\d+ type vxlan id \d+ local 172\.30\.9\.7 /.test(c))).toBe(
      true,
    );
    expect(cmds.some((c: string) => /^starting network: ip link add nfvx\d+ type vxlan id \d+ local 172\.30\.9\.6 /.test(c))).toBe(true);
  });

  it("a dry run shows every host's part, one step per host; a real call is a job on the gateway host", async () => {
    const dry = await h.call("configure-network-hosts", { name: "ovh", add: ["m6"], remove: ["m3"], dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body.plan.host).toBe("m2");
    const steps = [...new Set(dry.body.plan.steps.map((s: { step: string }) => s.step))];
    expect(steps).toEqual(["host m3: delete-network", "host m1: configure-network-hosts", "host m6: create-network", "updating members"]);
    const cmds = dry.body.plan.steps.map((s: { step: string; command: string[] }) => `${s.step}: ${s.command.join(" ")}`);
    expect(cmds).toContain("host m6: create-network: ip link add nfvx10009 type vxlan id 10009 local 172.30.9.6 dstport 4789 nolearning");
    expect(cmds).toContain("updating members: bridge fdb append 00:00:00:00:00:00 dev nfvx10009 dst 172.30.9.6");
    expect(cmds).toContain("updating members: bridge fdb del 00:00:00:00:00:00 dev nfvx10009 dst 172.30.9.3");
    const real = await h.call("configure-network-hosts", { name: "ovh", add: ["m6"] });
    expect(real.status).toBe(202);
    expect(real.body.job).toMatchObject({ action: "configure-network-hosts", network: "ovh", host: "m2", state: "queued" });
  });

  it("a firewall change: its dry run shows the gateway's steps, then each other member's part; a real call is a job on the gateway host", async () => {
    const body = { name: "ovh", defaultInbound: "drop", rules: [{ direction: "inbound", protocol: "tcp", ports: "22", action: "accept" }] };
    const dry = await h.call("configure-network-firewall", { ...body, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.plan.host).toBe("m2");
    const steps = dry.body.plan.steps.map((s: { step: string; name: string }) => `${s.step}: ${s.name}`);
    expect(steps).toEqual([
      "applying change: apply firewall (one nft transaction)",
      "applying change: write spec",
      "host m1: configure-network-firewall: apply firewall (one nft transaction)",
      "host m1: configure-network-firewall: write spec",
      "host m3: configure-network-firewall: apply firewall (one nft transaction)",
      "host m3: configure-network-firewall: write spec",
    ]);
    // A member's chains let the gateway's traffic and what leaves the subnet pass; the gateway's are nat's.
    expect(dry.body.plan.steps[2].nft).toContain("ip daddr != 10.59.0.0/24 accept");
    expect(dry.body.plan.steps[0].nft).not.toContain("ip daddr != 10.59.0.0/24 accept");
    expect(dry.body.plan.steps[3].xml).toContain("self='m1'");
    const real = await h.call("configure-network-firewall", body);
    expect(real.status).toBe(202);
    expect(real.body.job).toMatchObject({ action: "configure-network-firewall", network: "ovh", host: "m2", state: "queued" });
  });
});

describe("configure-network-mtu of an overlay at the door", () => {
  const under = (ip: string, mtu: number) => ({ underlay: { ip, interface: "eth0", mtu, source: "setting" as const } });
  const spec: OverlayNetSpec = {
    type: "overlay",
    name: "ovmtu",
    uuid: "8d2b4b1f-7066-4b3d-8e6f-1b2c3d4e5f60",
    description: "",
    createdAt: "2026-12-07T09:00:00.000Z",
    bridge: "nfov10011",
    cidr: "10.61.0.0/24",
    gateway: "10.61.0.1",
    dhcp: { enabled: true, start: "10.61.0.128", end: "10.61.0.254", leaseTime: 3600 },
    mtu: 1350,
    vni: 10011,
    gatewayHost: "u1",
    nat: true,
    members: [
      { id: "u1", ip: "172.30.11.1" },
      { id: "u2", ip: "172.30.11.2" },
    ],
    self: "u1",
  };
  const overlay = (hosts: string[]) => ({
    vni: 10011,
    gatewayHost: "u1",
    hosts: hosts.map((id) => ({ id, state: "active" as const, connectedVms: 0 })),
  });
  beforeAll(async () => {
    await putHost(h.redis, h.keys, hostRecord("u1", under("172.30.11.1", 1500)));
    await putHost(h.redis, h.keys, hostRecord("u2", under("172.30.11.2", 1420)));
    await h.addNetwork({
      name: "ovmtu",
      host: "u1",
      type: "overlay",
      cidr: "10.61.0.0/24",
      state: "active",
      overlay: overlay(["u1", "u2"]),
    });
    await putNetworkSpec(h.redis, h.keys, spec);
    // An overlay with a member offline (m4).
    await h.addNetwork({
      name: "ovmtuoff",
      host: "u1",
      type: "overlay",
      cidr: "10.62.0.0/24",
      state: "active",
      overlay: overlay(["u1", "m4"]),
    });
    await putNetworkSpec(h.redis, h.keys, {
      ...spec,
      name: "ovmtuoff",
      cidr: "10.62.0.0/24",
      gateway: "10.62.0.1",
      members: [spec.members[0] as { id: string; ip: string }, { id: "m4", ip: "172.30.11.4" }],
    });
  });

  it("over a member's underlay MTU less 50: 400 naming that host (dry run and real call); a member offline: 503", async () => {
    for (const dryRun of [true, false]) {
      const r = await h.call("configure-network-mtu", { name: "ovmtu", mtu: 1371, dryRun });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.details.issues).toEqual([
        { path: "mtu", message: "must be at most 1370: host 'u2''s underlay MTU is 1420, less 50 bytes of VXLAN" },
      ]);
    }
    const off = await h.call("configure-network-mtu", { name: "ovmtuoff", mtu: 1300 });
    expect(off.status).toBe(503);
    expect(off.body.error.code).toBe("HOST_UNAVAILABLE");
    expect(off.body.error.message).toContain("host 'm4' is offline");
  });

  it("the dry run shows the gateway's links, DHCP and definition, then each other member's links and definition; a real call is a job on the gateway host", async () => {
    const dry = await h.call("configure-network-mtu", { name: "ovmtu", mtu: 1370, dryRun: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.plan.host).toBe("u1");
    expect(dry.body.plan.steps.map((s: { step: string; name: string }) => `${s.step}: ${s.name}`)).toEqual([
      "applying change: set MTU 1370 on bridge nfov10011 and every port on it",
      "applying change: hand out MTU 1370 by DHCP (netforge's options file, re-read by the network's dnsmasq)",
      "applying change: write spec",
      "host u2: configure-network-mtu: set MTU 1370 on bridge nfov10011 and every port on it",
      "host u2: configure-network-mtu: write spec",
    ]);
    expect(dry.body.plan.steps[4].xml).toContain("self='u2'");
    expect(dry.body.plan.steps[4].xml).toContain("mtu='1370'");
    expect(dry.body.plan.changed[0]).toBe("MTU 1350 -> 1370");
    const real = await h.call("configure-network-mtu", { name: "ovmtu", mtu: 1370 });
    expect(real.status, JSON.stringify(real.body)).toBe(202);
    expect(real.body.job).toMatchObject({ action: "configure-network-mtu", network: "ovmtu", host: "u1", state: "queued" });
  });
});
