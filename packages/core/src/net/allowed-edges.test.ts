import { describe, expect, it } from "vitest";
import { assertAllowedSubnet, defaultAllowedPools, parseAllowedCidrs } from "./allowed";
import { formatCidr } from "./ipv4";

const refusal = (cidr: string, text: string) => {
  try {
    assertAllowedSubnet(cidr, parseAllowedCidrs(text));
    return null;
  } catch (err) {
    return (err as Error).message;
  }
};

describe("NETFORGE_ALLOWED_CIDRS, the edges", () => {
  it("the default list is the three RFC 1918 ranges and no IPv6 pool", () => {
    const pools = defaultAllowedPools();
    expect(pools.v4.map(formatCidr)).toEqual(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]);
    expect(pools.v6).toEqual([]);
  });

  it("keeps IPv6 pools with a prefix of 0 to 128 written in up to three digits, lower-cased", () => {
    expect(parseAllowedCidrs("FD00::/8 2001:db8::/32 ::/0 fd00::1/128").v6).toEqual(["fd00::/8", "2001:db8::/32", "::/0", "fd00::1/128"]);
  });

  it.each([
    ["fd00::", "no prefix"],
    ["fd00::/", "an empty prefix"],
    ["fd00::/129", "a prefix above 128"],
    ["fd00::/0128", "four digits"],
    ["fd00::/x8", "a prefix that is not a number"],
    ["fd00::/8x", "trailing characters after the prefix"],
    ["fd00::/8/9", "two prefixes"],
    ["fd00:::1/8", "an address that is not IPv6"],
    ["zz:/8", "a colon but no address"],
    [":/64", "a lone colon"],
  ])("refuses %j (%s) as not an IPv6 CIDR", (entry) => {
    expect(() => parseAllowedCidrs(`10.0.0.0/8 ${entry}`)).toThrow(`'${entry}' is not an IPv6 CIDR`);
  });

  it("the refusal lists the allowed IPv4 pools, or says none when only IPv6 pools are listed, and tells what to do", () => {
    expect(refusal("8.8.8.0/24", "10.0.0.0/8 192.168.0.0/16")).toBe(
      "8.8.8.0/24 is outside the subnets this cluster allows (NETFORGE_ALLOWED_CIDRS: 10.0.0.0/8, 192.168.0.0/16); " +
        "choose a subnet inside one of them, or have the operator add its range to NETFORGE_ALLOWED_CIDRS",
    );
    expect(refusal("10.0.0.0/24", "fd00::/8")).toBe(
      "10.0.0.0/24 is outside the subnets this cluster allows (NETFORGE_ALLOWED_CIDRS: none); " +
        "choose a subnet inside one of them, or have the operator add its range to NETFORGE_ALLOWED_CIDRS",
    );
  });
});
