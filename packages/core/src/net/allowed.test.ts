import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { allowedPoolOf, assertAllowedSubnet, defaultAllowedPools, parseAllowedCidrs } from "./allowed";
import { formatCidr, parseCidrOrThrow } from "./ipv4";
import { hostOverlapMessage, parseProtectedOwner, protectedOwner } from "./protected";

const refusal = (cidr: string, pools = defaultAllowedPools()) => {
  try {
    assertAllowedSubnet(cidr, pools);
    return null;
  } catch (err) {
    return err as AppError;
  }
};

describe("NETFORGE_ALLOWED_CIDRS", () => {
  it("by default allows subnets wholly inside 10/8, 172.16/12 or 192.168/16", () => {
    for (const cidr of ["10.0.0.0/8", "10.255.255.0/24", "172.16.0.0/12", "172.31.255.252/30", "192.168.0.0/16", "192.168.100.0/24"]) {
      expect(refusal(cidr), cidr).toBeNull();
    }
  });

  it("by default refuses shared address space, public ranges and subnets straddling a pool's edge, naming the setting", () => {
    for (const cidr of [
      "100.64.0.0/10",
      "8.8.8.0/24",
      "198.51.100.0/24",
      "172.32.0.0/24",
      "172.15.255.0/24",
      "172.0.0.0/8",
      "192.168.0.0/15",
      "11.0.0.0/24",
    ]) {
      const err = refusal(cidr);
      expect(err, cidr).toBeInstanceOf(AppError);
      expect(err?.code).toBe("NOT_ALLOWED");
      expect(err?.status).toBe(422);
      expect(err?.message).toContain(cidr);
      expect(err?.message).toContain("NETFORGE_ALLOWED_CIDRS");
      expect(err?.details).toEqual({ cidr, setting: "NETFORGE_ALLOWED_CIDRS", allowed: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] });
    }
  });

  it("a listed range is allowed; only wholly inside one pool (two adjacent pools do not make one)", () => {
    const pools = parseAllowedCidrs("100.64.0.0/10, 198.51.100.0/25 198.51.100.128/25");
    expect(refusal("100.64.0.0/10", pools)).toBeNull();
    expect(refusal("100.127.255.0/24", pools)).toBeNull();
    expect(refusal("198.51.100.128/25", pools)).toBeNull();
    expect(refusal("198.51.100.0/24", pools)?.code).toBe("NOT_ALLOWED");
    expect(refusal("10.0.0.0/24", pools)?.code).toBe("NOT_ALLOWED"); // the list replaces the default
    expect(formatCidr(allowedPoolOf(parseCidrOrThrow("100.64.1.0/24"), pools) ?? parseCidrOrThrow("0.0.0.0/0"))).toBe("100.64.0.0/10");
  });

  it("parses commas and spaces, keeps IPv6 pools for later, and refuses bad entries naming each", () => {
    expect(parseAllowedCidrs(" 10.0.0.0/8 ,fd00::/8\n0.0.0.0/0").v6).toEqual(["fd00::/8"]);
    expect(parseAllowedCidrs("0.0.0.0/0").v4.map(formatCidr)).toEqual(["0.0.0.0/0"]);
    expect(() => parseAllowedCidrs("10.1.0.0/8,bogus")).toThrow(
      /'10\.1\.0\.0\/8' has host bits set \(did you mean 10\.0\.0\.0\/8\?\); 'bogus' is not a CIDR/,
    );
    expect(() => parseAllowedCidrs("10.0.0.0/33")).toThrow(/not a CIDR/);
    expect(() => parseAllowedCidrs("fd00::/200")).toThrow(/not an IPv6 CIDR/);
    expect(() => parseAllowedCidrs(" , ")).toThrow(/lists no CIDR/);
  });
});

describe("protected addresses in the occupied list", () => {
  it("round-trip their owner text and say what a subnet would cut off", () => {
    const owner = protectedOwner({ ip: "10.1.2.3", what: "this host's Redis" });
    expect(owner).toBe("10.1.2.3, this host's Redis");
    expect(parseProtectedOwner(owner)).toEqual({ ip: "10.1.2.3", what: "this host's Redis" });
    expect(parseProtectedOwner("interface eth0")).toBeNull();
    expect(hostOverlapMessage("10.0.0.0/8", owner, "10.1.2.3/32", "h1")).toBe(
      "10.0.0.0/8 contains 10.1.2.3, this host's Redis (host h1): a bridge with this subnet would cut the host off from it",
    );
    expect(hostOverlapMessage("10.0.0.0/8", "interface eth0", "10.1.0.0/16", "h1")).toBe(
      "10.0.0.0/8 overlaps interface eth0 (10.1.0.0/16) on host h1",
    );
  });
});
