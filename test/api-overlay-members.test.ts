/**
 * describe-network's member rows of an overlay (issue 17, ADR 0051 "Slice 2"), at the API with no host: each row
 * is what that member's own worker last published of its part (store/overlay-parts.ts): present with its state,
 * VXLAN device, flood entries and VMs; absent when the member published and has no such part; unknown when the
 * member is offline or never published. The workers' half (publishing from a real host) is e2e-overlay.
 */
import { putNetworkIpsAndStats, putOverlayParts } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, startApiHarness } from "./support/api-harness";

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
  await putOverlayParts(h.redis, h.keys, "m1", new Map([["ovl", { ...part, connectedVms: 2 }]]), true, at);
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
    expect(d.body.network.overlay.hosts).toEqual([
      { id: "m1", state: "active", part: "present", vxlanDevice: true, floodEntries: 4, connectedVms: 2, observedAt: at },
      { id: "m2", state: "active", part: "present", vxlanDevice: true, floodEntries: 3, connectedVms: 0, observedAt: at },
      { id: "m3", state: "inactive", part: "absent", vxlanDevice: false, floodEntries: 0, connectedVms: 0, observedAt: null },
      { id: "m4", state: "active", part: "unknown", vxlanDevice: false, floodEntries: 4, connectedVms: 1, observedAt: at },
      { id: "m5", state: "active", part: "unknown", vxlanDevice: null, floodEntries: null, connectedVms: 0, observedAt: null },
    ]);
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
