import { describe, expect, it } from "vitest";
import { parseCidrOrThrow } from "./ipv4";
import { RESERVED_RANGES, reservedRangeMessage, reservedRangeOverlapping } from "./reserved";

const nameOf = (cidr: string) => reservedRangeOverlapping(parseCidrOrThrow(cidr))?.name ?? null;

describe("reserved ranges", () => {
  it("are the five ranges of the contract", () => {
    expect(RESERVED_RANGES.map((r) => `${r.cidr.network >>> 24}/${r.cidr.prefix}`)).toEqual(["0/8", "127/8", "169/16", "224/4", "240/4"]);
  });
  it.each([
    ["0.0.0.0/8", "this network"],
    ["0.255.255.0/24", "this network"],
    ["127.0.0.0/8", "loopback"],
    ["127.255.255.0/24", "loopback"],
    ["169.254.0.0/16", "link-local"],
    ["169.254.255.252/30", "link-local"],
    ["169.0.0.0/8", "link-local"],
    ["224.0.0.0/24", "multicast"],
    ["239.255.255.0/24", "multicast"],
    ["224.0.0.0/8", "multicast"],
    ["240.0.0.0/8", "reserved"],
    ["255.255.255.0/24", "reserved"],
    ["255.255.255.252/30", "reserved"],
  ])("refuses %s (%s)", (cidr, name) => expect(nameOf(cidr)).toBe(name));

  it.each([
    "1.0.0.0/8",
    "126.255.255.0/24",
    "128.0.0.0/8",
    "169.253.255.0/24",
    "169.255.0.0/16",
    "223.255.255.0/24",
    "10.0.0.0/8",
    "192.168.100.0/24",
  ])("allows %s, next to but outside every range", (cidr) => expect(nameOf(cidr)).toBeNull());

  it("says which range and why", () => {
    expect(reservedRangeMessage(parseCidrOrThrow("239.255.255.0/24"))).toBe(
      "239.255.255.0/24 overlaps 224.0.0.0/4 (multicast): multicast group addresses, not host addresses (RFC 5771)",
    );
    expect(reservedRangeMessage(parseCidrOrThrow("255.255.255.0/24"))).toMatch(
      /^255\.255\.255\.0\/24 overlaps 240\.0\.0\.0\/4 \(reserved\): .*broadcast/,
    );
    expect(reservedRangeMessage(parseCidrOrThrow("0.0.0.0/8"))).toBe(
      "0.0.0.0/8 overlaps 0.0.0.0/8 (this network): addresses of 'this host on this network' (RFC 791/1122); not valid as a destination",
    );
    expect(reservedRangeMessage(parseCidrOrThrow("127.0.0.0/8"))).toMatch(/overlaps 127\.0\.0\.0\/8 \(loopback\): .*loopback/);
    expect(reservedRangeMessage(parseCidrOrThrow("169.254.0.0/16"))).toMatch(/overlaps 169\.254\.0\.0\/16 \(link-local\): .*link-local/);
    expect(reservedRangeMessage(parseCidrOrThrow("10.0.0.0/8"))).toBeNull();
  });
});
