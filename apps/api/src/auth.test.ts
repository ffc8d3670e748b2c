import { describe, expect, it } from "vitest";
import { addressKey, isSseRoute, resolveClientAddress, TrustedProxies } from "./auth";

describe("isSseRoute", () => {
  it("only the two event streams take ?access_token", () => {
    expect(isSseRoute("GET", "/api/events")).toBe(true);
    expect(isSseRoute("GET", "/api/jobs/j_abcdefghijkl/events")).toBe(true);
    expect(isSseRoute("POST", "/api/events")).toBe(false);
    expect(isSseRoute("GET", "/api/jobs/j_abcdefghijkl")).toBe(false);
    expect(isSseRoute("POST", "/api/create-network")).toBe(false);
    expect(isSseRoute("GET", "/api/jobs/a/b/events")).toBe(false);
  });
});

describe("addressKey", () => {
  it("counts IPv4 (also IPv4-mapped) per address and IPv6 per /64", () => {
    expect(addressKey("192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });
});

describe("resolveClientAddress", () => {
  const trusted = new TrustedProxies(["10.0.0.5", "10.1.0.0/16", "fd00::/8"]);
  it("is the TCP peer unless the peer is a trusted proxy", () => {
    expect(resolveClientAddress("192.0.2.7", "203.0.113.1", trusted)).toBe("192.0.2.7");
    expect(resolveClientAddress("::ffff:192.0.2.7", undefined, trusted)).toBe("192.0.2.7");
    expect(resolveClientAddress("10.0.0.5", undefined, trusted)).toBe("10.0.0.5");
    expect(resolveClientAddress(undefined, "203.0.113.1", trusted)).toBeUndefined();
    expect(resolveClientAddress("10.0.0.5", "203.0.113.1", new TrustedProxies())).toBe("10.0.0.5");
  });
  it("from a trusted proxy: the right-most address that is not a trusted proxy", () => {
    expect(resolveClientAddress("10.0.0.5", "203.0.113.1", trusted)).toBe("203.0.113.1");
    expect(resolveClientAddress("::ffff:10.0.0.5", "1.2.3.4, 203.0.113.1, 10.1.2.3", trusted)).toBe("203.0.113.1");
    expect(resolveClientAddress("fd00::1", "2001:db8::9,fd00::2", trusted)).toBe("2001:db8::9");
    // Every hop trusted: the left-most.
    expect(resolveClientAddress("10.0.0.5", "10.1.0.9, 10.1.0.8", trusted)).toBe("10.1.0.9");
    // Garbage ends the walk at the last trusted hop.
    expect(resolveClientAddress("10.0.0.5", "203.0.113.1, unknown", trusted)).toBe("10.0.0.5");
    expect(resolveClientAddress("10.0.0.5", "203.0.113.1, 10.1.0.1, <script>", trusted)).toBe("10.0.0.5");
  });
  it("refuses entries that are not addresses or CIDRs", () => {
    for (const bad of ["10.0.0.0/33", "::/129", "proxy.example", "10.0.0.1/8/1", "10.0.0.1/x"])
      expect(() => new TrustedProxies([bad])).toThrow(/is not an IPv4\/IPv6 address or CIDR/);
    expect(TrustedProxies.parse(" 10.0.0.1,10.0.1.0/24  ::1 ").entries).toEqual(["10.0.0.1", "10.0.1.0/24", "::1"]);
  });
});
