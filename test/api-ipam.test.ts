/**
 * IP management at the API's door (no host): roles, schemas, the checks
 * answered from the spec and IP table a worker published, dry runs that
 * queue nothing, and list-network-ips answered from the published table.
 */
import type { NetSpec } from "@netforge/core/model";
import { putNetworkIps, putNetworkSpec } from "@netforge/core/store";
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
  reservations: [{ mac: "52:54:00:00:00:01", ip: "10.5.0.10", hostname: null }],
};
const future = new Date(Date.now() + 3600_000).toISOString();
beforeAll(async () => {
  h = await startApiHarness("api-ipam");
  await h.addHost("h1");
  await h.addNetwork({ name: "door", host: "h1", cidr: spec.cidr, gateway: spec.gateway, state: "active" });
  await putNetworkSpec(h.redis, h.keys, spec);
  await putNetworkIps(h.redis, h.keys, "door", {
    observedAt: new Date().toISOString(),
    ips: [
      { ip: "10.5.0.10", mac: "52:54:00:00:00:01", vmName: null, hostname: null, static: true, leaseExpiresAt: null },
      { ip: "10.5.0.150", mac: "52:54:00:00:00:99", vmName: "vm-x", hostname: "x", static: false, leaseExpiresAt: future },
      {
        ip: "10.5.0.151",
        mac: "52:54:00:00:00:98",
        vmName: null,
        hostname: null,
        static: false,
        leaseExpiresAt: "2020-01-01T00:00:00.000Z",
      },
    ],
  });
});
afterAll(() => h.close());

const queued = () => h.redis.llen(`${h.keys.bull}:${h.keys.hostQueue("h1")}:wait`);

describe("IP management at the door", () => {
  it("roles: viewers list IPs but cannot change them", async () => {
    expect((await h.call("list-network-ips", { name: "door" }, { role: "viewer" })).status).toBe(200);
    expect((await h.call("assign-static-ip", { name: "door", mac: "52:54:00:00:00:02", ip: "10.5.0.11" }, { role: "viewer" })).status).toBe(
      403,
    );
  });

  it("list-network-ips answers the published table without expired leases; unknown network 404", async () => {
    const r = await h.call("list-network-ips", { name: "door" }, { role: "viewer" });
    expect(r.body.ips.map((x: { ip: string }) => x.ip)).toEqual(["10.5.0.10", "10.5.0.150"]);
    expect((await h.call("list-network-ips", { name: "nope" }, { role: "viewer" })).status).toBe(404);
  });

  it("refusals from the published spec and leases, before anything is queued", async () => {
    const before = await queued();
    const cases: [string, Record<string, unknown>, number, string][] = [
      ["assign-static-ip", { mac: "52:54:00:00:00:02", ip: "10.6.0.11" }, 400, "VALIDATION_FAILED"],
      ["assign-static-ip", { mac: "52:54:00:00:00:02", ip: "10.5.0.255" }, 409, "IP_CONFLICT"],
      ["assign-static-ip", { mac: "52:54:00:00:00:02", ip: "10.5.0.10" }, 409, "IP_CONFLICT"],
      ["assign-static-ip", { mac: "52:54:00:00:00:01", ip: "10.5.0.12" }, 409, "IP_CONFLICT"],
      ["assign-static-ip", { mac: "52:54:00:00:00:02", ip: "10.5.0.150" }, 409, "IP_CONFLICT"],
      ["assign-static-ip", { mac: "52:54:00:00:00:02", ip: "10.5.0.11", hostname: "bad_name" }, 400, "VALIDATION_FAILED"],
      ["assign-static-ip", { mac: "52:54:00:00:00:02", ip: "10.5.0.11", extra: 1 }, 400, "VALIDATION_FAILED"],
      ["unassign-static-ip", { mac: "52:54:00:00:00:02" }, 404, "NOT_FOUND"],
      ["configure-network-dhcp", { start: "10.5.0.1", end: "10.5.0.20" }, 400, "VALIDATION_FAILED"],
      ["configure-network-dhcp", { start: "10.5.0.20", end: "10.5.0.30", leaseTime: 60 }, 400, "VALIDATION_FAILED"],
      ["configure-network-dhcp", { start: "10.5.0.20", end: "10.5.0.30", dryRun: "yes" }, 400, "VALIDATION_FAILED"],
    ];
    for (const [action, body, status, code] of cases) {
      const r = await h.call(action, { name: "door", ...body });
      expect(r.status, `${action} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.body.error.code).toBe(code);
    }
    expect(await queued()).toBe(before);
  });

  it("dry run: the plan, nothing queued; the leased IP with force plans with a warning", async () => {
    const before = await queued();
    const r = await h.call("assign-static-ip", { name: "door", mac: "52:54:00:00:00:02", ip: "10.5.0.150", force: true, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.plan.host).toBe("h1");
    expect(r.body.plan.steps[0].command).toEqual([
      "virsh",
      "net-update",
      "door",
      "add",
      "ip-dhcp-host",
      "<host mac='52:54:00:00:00:02' ip='10.5.0.150'/>",
      "--live",
    ]);
    expect(r.body.plan.warnings.join(" ")).toMatch(/leased to 52:54:00:00:00:99/);
    expect(await queued()).toBe(before);
    const real = await h.call("assign-static-ip", { name: "door", mac: "52:54:00:00:00:02", ip: "10.5.0.150", force: true });
    expect(real.status).toBe(202);
    expect(await queued()).toBe(before + 1);
  });
});
