/** IPv6 prefixes claimed beside the IPv4 subnet on a real Redis: overlaps refused per host, released with the claim. */
import { claimNetwork, releaseNetworkClaim } from "@netforge/core/store";
import { afterAll, describe, expect, it } from "vitest";
import { testRedis } from "./support/redis";

const t = testRedis("claims6");
afterAll(() => t.cleanup());
const claim = (name: string, cidr: string, cidr6: string | null, host = "h1") => claimNetwork(t.redis, t.keys, { name, host, cidr, cidr6 });

describe("IPv6 claims", () => {
  it("refuses an overlapping prefix with CIDR_CONFLICT naming the network, accepts disjoint ones", async () => {
    await claim("a", "10.1.1.0/24", "fd00:1:0:1::/64");
    await claim("b", "10.1.2.0/24", "fd00:1:0:2::/64");
    await claim("c", "10.1.3.0/24", null);
    for (const [cidr6, hit] of [
      ["fd00:1:0:1::/64", "a"], // equal
      ["fd00:1::/48", "a"], // contains both: one of them is named
      ["fd00:1:0:2::/120", "b"], // inside
    ] as const) {
      const err = await claim(`x${cidr6.replace(/\W/g, "")}`, "10.1.9.0/24", cidr6).catch((e) => e);
      expect(err.code, cidr6).toBe("CIDR_CONFLICT");
      expect(["a", "b"]).toContain(err.details.conflictsWith.network);
      if (cidr6 !== "fd00:1::/48") expect(err.details.conflictsWith.network, cidr6).toBe(hit);
      expect(err.message, cidr6).toContain(`${cidr6} overlaps network`);
      expect(err.details.cidr, cidr6).toBe(cidr6);
    }
    await claim("d", "10.1.4.0/24", "fd00:1:0:3::/64"); // the neighbour
    // Per host, as IPv4 subnets: another host may use the same prefix.
    await claim("e", "10.1.1.0/24", "fd00:1:0:1::/64", "h2");
  });

  it("a refused create claims nothing; a released claim frees its prefix", async () => {
    const err = await claim("f", "10.1.2.0/24", "fd00:9::/64").catch((e) => e); // the IPv4 subnet clashes with b
    expect(err.code).toBe("CIDR_CONFLICT");
    expect(await t.redis.hget(t.keys.claimedSubnets("h1"), "f|v6")).toBeNull();
    expect(await releaseNetworkClaim(t.redis, t.keys, "a", "h1")).toBe(true);
    expect(await t.redis.hget(t.keys.claimedSubnets("h1"), "a|v6")).toBeNull();
    await claim("g", "10.1.5.0/24", "fd00:1:0:1::/64");
  });
});
