/**
 * Network versions at the API's door (no host): describe-network's version and ETag, list-networks' version,
 * and If-Match on job actions: a stale or malformed one refused before anything is queued, dry runs included.
 * The worker's half (the check under the lock, the race of two changes) is test/e2e-versions.test.ts.
 */
import type { NetSpec } from "@netforge/core/model";
import { bumpNetworkVersion, putNetworkSpec } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
const spec: NetSpec = {
  type: "nat",
  name: "vers",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329d",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-vers",
  cidr: "10.6.0.0/24",
  gateway: "10.6.0.1",
  dhcp: { enabled: true, start: "10.6.0.100", end: "10.6.0.200", leaseTime: 3600 },
  reservations: [],
};
const dhcp = { name: "vers", start: "10.6.0.50", end: "10.6.0.60" };

async function queued(): Promise<number> {
  return (await h.redis.lrange(`${h.keys.bull}:${h.keys.hostQueue("h1")}:wait`, 0, -1)).length;
}

beforeAll(async () => {
  h = await startApiHarness("api-ifmatch");
  await h.addHost("h1");
  await h.addNetwork({ name: "vers", host: "h1", cidr: spec.cidr, gateway: spec.gateway, state: "active" });
  await putNetworkSpec(h.redis, h.keys, spec);
  // Two jobs succeeded on it, as the worker counts them.
  await bumpNetworkVersion(h.redis, h.keys, "vers");
  await bumpNetworkVersion(h.redis, h.keys, "vers");
});
afterAll(() => h.close());

describe("a network's version", () => {
  it("describe-network shows it, with the ETag header; list-networks shows it per row", async () => {
    const d = await h.call("describe-network", { name: "vers" });
    expect(d.status).toBe(200);
    expect(d.body.network.version).toBe(2);
    expect(d.headers.get("etag")).toBe('"2"');
    expect(d.body.network).toMatchObject({ managedBy: null, reservations: [] });
    const l = await h.call("list-networks", {});
    expect(l.body.networks).toEqual([expect.objectContaining({ name: "vers", version: 2 })]);
  });
  it("is bumped only while the network is indexed (a deleted network gets none back)", async () => {
    expect(await bumpNetworkVersion(h.redis, h.keys, "no-such")).toBe(0);
    expect(await h.redis.hexists(h.keys.networkVersions, "no-such")).toBe(0);
  });
});

describe("If-Match on job actions", () => {
  it("the current version is let through (202, queued with it)", async () => {
    const before = await queued();
    const r = await h.call("configure-network-dhcp", dhcp, { headers: { "If-Match": '"2"' } });
    expect(r.status).toBe(202);
    expect(await queued()).toBe(before + 1);
    const ids = await h.redis.lrange(`${h.keys.bull}:${h.keys.hostQueue("h1")}:wait`, 0, 0);
    const data = JSON.parse((await h.redis.hget(`${h.keys.bull}:${h.keys.hostQueue("h1")}:${ids[0]}`, "data")) ?? "{}");
    expect(data.ifMatch).toBe(2);
  });
  it("another version: 412 PRECONDITION_FAILED with expected and current, nothing queued (dry runs too)", async () => {
    const before = await queued();
    for (const body of [dhcp, { ...dhcp, dryRun: true }]) {
      const r = await h.call("configure-network-dhcp", body, { headers: { "If-Match": '"1"' } });
      const e = expectError(r, 412, "PRECONDITION_FAILED");
      expect(e.details).toEqual({ expected: 1, current: 2 });
      expect(e.message).toContain("changed since it was read");
    }
    expect(await queued()).toBe(before);
  });
  it("a dry run with the current version answers its plan", async () => {
    const r = await h.call("configure-network-dhcp", { ...dhcp, dryRun: true }, { headers: { "If-Match": '"2"' } });
    expect(r.status).toBe(200);
    expect(r.body.plan.planHash).toMatch(/^[0-9a-f]{32}$/);
  });
  it("a network that does not exist: a change is 404 as without the header; a create sent with If-Match is 412 (current null)", async () => {
    const r = await h.call("configure-network-dhcp", { ...dhcp, name: "ghost" }, { headers: { "If-Match": '"1"' } });
    // The door's own check of the network comes first.
    expectError(r, 404, "NOT_FOUND");
    const c = await h.call("create-network", { name: "fresh", type: "nat", cidr: "10.7.0.0/24" }, { headers: { "If-Match": '"0"' } });
    expect(expectError(c, 412, "PRECONDITION_FAILED").details).toEqual({ expected: 0, current: null });
  });
  it("a malformed If-Match is 400 VALIDATION_FAILED naming it; queries ignore the header", async () => {
    for (const v of ["*", "x", '"-1"']) {
      const e = expectError(await h.call("configure-network-dhcp", dhcp, { headers: { "If-Match": v } }), 400, "VALIDATION_FAILED");
      expect(e.details.issues).toEqual([expect.objectContaining({ path: "If-Match" })]);
    }
    expect((await h.call("describe-network", { name: "vers" }, { headers: { "If-Match": "*" } })).status).toBe(200);
  });
});
