/**
 * configure-network-mtu at the API's door (no host): roles, the body schema (576-9000, integer), the checks
 * answered from the spec a worker published, the dry run's plan, and the refusal of a type whose MTU is the
 * LAN's; nothing is queued for a refusal or a dry run.
 */
import type { NetSpec } from "@netforge/core/model";
import { putNetworkSpec } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
const spec: NetSpec = {
  type: "nat",
  name: "door",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-door",
  cidr: "10.5.0.0/24",
  gateway: "10.5.0.1",
  dhcp: { enabled: true, start: "10.5.0.100", end: "10.5.0.200", leaseTime: 3600 },
  reservations: [],
  mtu: 1400,
};
beforeAll(async () => {
  h = await startApiHarness("api-mtu");
  await h.addHost("h1");
  await h.addNetwork({ name: "door", host: "h1", cidr: spec.cidr, gateway: spec.gateway, state: "active", mtu: 1400 });
  await putNetworkSpec(h.redis, h.keys, spec);
  await h.addNetwork({ name: "lan", host: "h1", type: "bridge", state: "active" });
});
afterAll(() => h.close());

const queued = () => h.redis.llen(`${h.keys.bull}:${h.keys.hostQueue("h1")}:wait`);

describe("configure-network-mtu at the door", () => {
  it("viewers cannot change it; describe shows the MTU", async () => {
    expect((await h.call("configure-network-mtu", { name: "door", mtu: 1300 }, { role: "viewer" })).status).toBe(403);
    expect((await h.call("describe-network", { name: "door" }, { role: "viewer" })).body.network.mtu).toBe(1400);
    expect((await h.call("describe-network", { name: "lan" }, { role: "viewer" })).body.network.mtu).toBeNull();
  });

  it("refuses an MTU outside 576-9000, not whole, a string or missing (400 naming mtu); an unknown network 404; nothing queued", async () => {
    for (const [mtu, message] of [
      [575, "must be at least 576"],
      [100, "must be at least 576"],
      [9001, "must be at most 9000"],
      [10000, "must be at most 9000"],
      [1400.5, "must be a whole number of bytes"],
      ["1400", "must be a whole number of bytes"],
      [undefined, "is required"],
    ] as const) {
      const r = await h.call("configure-network-mtu", { name: "door", mtu });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.code).toBe("VALIDATION_FAILED");
      expect(r.body.error.details.issues).toEqual([{ path: "mtu", message }]);
    }
    const missing = await h.call("configure-network-mtu", { name: "nosuch", mtu: 1400 });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("NOT_FOUND");
    expect(await queued()).toBe(0);
  });

  it("a bridge network refuses it: 422 UNSUPPORTED_FOR_TYPE saying its MTU is the LAN's", async () => {
    const r = await h.call("configure-network-mtu", { name: "lan", mtu: 1400 });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(r.body.error.message).toBe("network 'lan' is of type bridge: its MTU is the LAN's own, not netforge's to set");
    expect(await queued()).toBe(0);
  });

  it("a dry run answers the plan from the published spec and queues nothing", async () => {
    const r = await h.call("configure-network-mtu", { name: "door", mtu: 1300, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.steps.map((s: { command: string[] }) => s.command)).toEqual([
      ["ip", "link", "set", "dev", "nf-door", "mtu", "1300"],
      ["write", `/var/lib/libvirt/dnsmasq/netforge-${spec.uuid}.options`, "tag:nf-door,option:mtu,1300\n"],
      ["virsh", "net-define", "<file>"],
    ]);
    expect(r.body.plan.libvirtXml).toContain("<mtu size='1300'/>");
    expect(r.body.plan.changed[0]).toBe("MTU 1400 -> 1300");
    expect(r.body.plan.planHash).toMatch(/^[0-9a-f]{32}$/);
    const same = await h.call("configure-network-mtu", { name: "door", mtu: 1400, dryRun: true });
    expect(same.body.plan.steps).toEqual([]);
    expect(await queued()).toBe(0);
  });

  it("a real call is queued for the host's worker", async () => {
    const r = await h.call("configure-network-mtu", { name: "door", mtu: 1300 });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body.job.action).toBe("configure-network-mtu");
    expect(await queued()).toBe(1);
  });
});
