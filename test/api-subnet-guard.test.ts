/**
 * The subnet guards at the API's door (real Redis): NETFORGE_ALLOWED_CIDRS (422 NOT_ALLOWED naming the
 * setting, dry runs alike, nothing claimed or queued), and the addresses a worker published as ones its host
 * must keep reaching (409 CIDR_CONFLICT saying what the subnet would cut off). The API publishes its own
 * addresses for the workers to protect.
 */
import { parseAllowedCidrs, protectedOwner } from "@netforge/core/contract";
import { readApiAddresses, setOccupiedSubnets } from "@netforge/core/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, expectError, natBody, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
let listed: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("api-subnet-guard", { publishAddresses: ["192.0.2.10", "10.0.9.9"] });
  await h.addHost("h1");
  listed = await startApiHarness("api-subnet-guard-listed", { allowedCidrs: parseAllowedCidrs("100.64.0.0/10,8.8.8.0/24") });
  await listed.addHost("h1");
});
afterAll(async () => {
  await h?.close();
  await listed?.close();
});

/** Nothing of the request is claimed or queued. */
async function expectNothingLeft(t: ApiHarness, name: string): Promise<void> {
  expect(await t.redis.hget(t.keys.claimedNames, name)).toBeNull();
  expect(await t.redis.zcard(t.keys.jobs)).toBe(0);
}

describe("NETFORGE_ALLOWED_CIDRS", () => {
  it.each(["100.64.0.0/10", "8.8.8.0/24", "198.51.100.0/24", "172.32.0.0/16", "192.168.0.0/15"])(
    "unset: %s is refused 422 NOT_ALLOWED naming the setting, real and dry run, nothing claimed",
    async (cidr) => {
      for (const dryRun of [false, true]) {
        const r = await h.call("create-network", natBody("outside", cidr, dryRun ? { dryRun } : {}));
        expectError(r, 422, "NOT_ALLOWED");
        expect(r.body.error.message).toContain(
          `${cidr} is outside the subnets this cluster allows (NETFORGE_ALLOWED_CIDRS: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)`,
        );
        expect(r.body.error.details).toEqual({
          cidr,
          setting: "NETFORGE_ALLOWED_CIDRS",
          allowed: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        });
      }
      await expectNothingLeft(h, "outside");
    },
  );

  it("listed ranges are allowed, and the list replaces the default", async () => {
    const ok = await listed.call("create-network", natBody("cgnat", "100.64.0.0/10"));
    expect(ok.status, JSON.stringify(ok.body)).toBe(202);
    const dns = await listed.call("create-network", natBody("dns", "8.8.8.0/24", { dryRun: true }));
    expect(dns.status, JSON.stringify(dns.body)).toBe(200);
    const r = await listed.call("create-network", natBody("priv", "10.5.0.0/24"));
    expectError(r, 422, "NOT_ALLOWED");
    expect(r.body.error.details.allowed).toEqual(["100.64.0.0/10", "8.8.8.0/24"]);
  });
});

describe("addresses the host must keep reaching", () => {
  it("a subnet containing one its worker published is refused 409 CIDR_CONFLICT naming it, before anything is claimed", async () => {
    const redis = protectedOwner({ ip: "10.1.2.3", what: "this host's Redis" });
    const hop = protectedOwner({ ip: "172.16.9.1", what: "next hop of this host's default route via eno1, table 100" });
    await setOccupiedSubnets(h.redis, h.keys, "h1", [
      { owner: "interface eno1", cidr: "192.168.1.0/24" },
      { owner: "route via eno1 (table 100)", cidr: "10.1.0.0/16" },
      { owner: "interface eno1", cidr: "10.9.0.0/24" }, // a second address of the same interface is kept too
      { owner: redis, cidr: "10.1.2.3/32" },
      { owner: hop, cidr: "172.16.9.1/32" },
    ]);
    for (const dryRun of [false, true]) {
      // 10.0.0.0/8 overlaps the route too: what it would cut off is named first.
      const r = await h.call("create-network", natBody("swallow", "10.0.0.0/8", dryRun ? { dryRun } : {}));
      expectError(r, 409, "CIDR_CONFLICT");
      expect(r.body.error.message).toBe(
        "10.0.0.0/8 contains 10.1.2.3, this host's Redis (host h1): a bridge with this subnet would cut the host off from it",
      );
      expect(r.body.error.details).toMatchObject({ cidr: "10.0.0.0/8", host: "h1", conflictsWith: { owner: redis, cidr: "10.1.2.3/32" } });
    }
    const gw = await h.call("create-network", natBody("gw", "172.16.9.0/24"));
    expectError(gw, 409, "CIDR_CONFLICT");
    expect(gw.body.error.message).toContain("172.16.9.0/24 contains 172.16.9.1, next hop of this host's default route via eno1, table 100");
    const second = await h.call("create-network", natBody("second", "10.9.0.0/25"));
    expectError(second, 409, "CIDR_CONFLICT");
    expect(second.body.error.details.conflictsWith).toEqual({ owner: "interface eno1", cidr: "10.9.0.0/24" });
    await expectNothingLeft(h, "swallow");
    // Next to them is fine.
    const ok = await h.call("create-network", natBody("beside", "10.2.0.0/16", { dryRun: true }));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it("the API publishes the addresses it is reached on, for the workers to protect", async () => {
    // Published once the app's Redis client is connected (in the background of ready()).
    for (let i = 0; i < 100 && (await readApiAddresses(h.redis, h.keys)).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await readApiAddresses(h.redis, h.keys)).sort()).toEqual(["10.0.9.9", "192.0.2.10"]);
    // The default of an in-process app publishes nothing.
    expect(await readApiAddresses(listed.redis, listed.keys)).toEqual([]);
  });
});
