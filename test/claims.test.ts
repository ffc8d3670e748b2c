/** Name and subnet claims on a real Redis: every kind of overlap caught via the sorted index, releases, stale index entries healed. */
import { claimNetwork, releaseNetworkClaim, setOccupiedSubnets, syncHostClaims } from "@netforge/core/store";
import { afterAll, describe, expect, it } from "vitest";
import { testRedis } from "./support/redis";

const t = testRedis("claims");
afterAll(() => t.cleanup());
const claim = (name: string, cidr: string | null, host = "h1") => claimNetwork(t.redis, t.keys, { name, host, cidr });

describe("claims", () => {
  it("accepts disjoint and adjacent subnets, refuses any overlap with the network it hits", async () => {
    await claim("a", "10.0.1.0/24");
    await claim("b", "10.0.3.0/24");
    await claim("c", "10.0.2.0/24"); // adjacent on both sides
    await claim("d", "10.0.0.0/24");
    await claim("e", "10.0.4.0/24");
    await claim("f", "9.255.255.0/24");
    for (const [cidr, hit] of [
      ["10.0.2.128/25", "c"], // inside
      ["10.0.0.0/16", "e"], // contains all of them: names the one starting last below its end
      ["10.0.3.0/24", "b"], // equal
      ["10.0.0.0/23", "a"], // partial: covers d and a
      ["9.0.0.0/8", "f"], // the neighbour below
    ] as const) {
      const err = await claim(`x${cidr.replace(/\W/g, "")}`, cidr).catch((e) => e);
      expect(err.code, cidr).toBe("CIDR_CONFLICT");
      expect(err.details.conflictsWith.network, cidr).toBe(hit);
    }
  });

  it("names are cluster-wide; subnets are per host", async () => {
    const err = await claim("a", "10.9.0.0/24", "h2").catch((e) => e);
    expect(err.code).toBe("NAME_TAKEN");
    await claim("a2", "10.0.1.0/24", "h2"); // same subnet as 'a', other host
  });

  it("checks host interface subnets too", async () => {
    await setOccupiedSubnets(t.redis, t.keys, "h1", [{ owner: "interface uplink0", cidr: "198.51.100.0/24" }]);
    const err = await claim("up", "198.51.100.128/25").catch((e) => e);
    expect(err.code).toBe("CIDR_CONFLICT");
    expect(err.details.conflictsWith).toEqual({ owner: "interface uplink0", cidr: "198.51.100.0/24" });
  });

  it("a released claim frees name and subnet", async () => {
    expect(await releaseNetworkClaim(t.redis, t.keys, "b", "h2")).toBe(false); // not that host's
    expect(await releaseNetworkClaim(t.redis, t.keys, "b", "h1")).toBe(true);
    await claim("b", "10.0.3.0/25");
  });

  it("heals index entries whose record is gone, and reconcile re-asserts claims", async () => {
    // Simulate partial loss: the hash record of 'e' vanished, its index entry stayed.
    await t.redis.hdel(t.keys.claimedSubnets("h1"), "e");
    await claim("e-new", "10.0.4.0/24");
    await releaseNetworkClaim(t.redis, t.keys, "e-new", "h1");
    await syncHostClaims(t.redis, t.keys, "h1", [{ name: "e", cidr: "10.0.4.0/24" }]);
    const err = await claim("e2", "10.0.4.0/26").catch((e) => e);
    expect(err.details.conflictsWith.network).toBe("e");
  });
});
