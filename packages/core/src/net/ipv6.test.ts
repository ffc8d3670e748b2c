import { describe, expect, it } from "vitest";
import { cidr6Overlaps, formatCidr6, formatIPv6, hex128, parseCidr6, parseCidr6OrThrow, parseIPv6, reservedReason6 } from "./ipv6";

describe("IPv6 addresses", () => {
  it("parses the usual forms and formats them canonically (RFC 5952)", () => {
    const cases: [string, string][] = [
      ["fd12:3456:789a:1::1", "fd12:3456:789a:1::1"],
      ["FD12:3456:789A:0001:0000:0000:0000:0001", "fd12:3456:789a:1::1"],
      ["::", "::"],
      ["::1", "::1"],
      ["1::", "1::"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
      ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
      ["1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"],
      ["::ffff:10.0.0.1", "::ffff:a00:1"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
    ];
    for (const [input, canonical] of cases) {
      const n = parseIPv6(input);
      expect(n, input).not.toBeNull();
      expect(formatIPv6(n as bigint), input).toBe(canonical);
    }
  });

  it("refuses what is not one address", () => {
    for (const bad of [
      "",
      "1",
      "10.0.0.1",
      "1::2::3",
      ":1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "12345::",
      "g::1",
      "fe80::1%eth0",
      "::ffff:10.0.0.256",
      "1:2:3:4:5:6:7::8:9",
      "[::1]",
    ]) {
      expect(parseIPv6(bad), bad).toBeNull();
    }
  });

  it("parses prefixes with their bounds and says why a text is none", () => {
    const c = parseCidr6OrThrow("fd12:3456:789a:1::/64");
    expect(formatIPv6(c.network)).toBe("fd12:3456:789a:1::");
    expect(formatIPv6(c.last)).toBe("fd12:3456:789a:1:ffff:ffff:ffff:ffff");
    expect(formatCidr6(c)).toBe("fd12:3456:789a:1::/64");
    expect(parseCidr6("fd12:3456:789a:1::1/64")).toEqual({ ok: false, reason: "host-bits", hint: "fd12:3456:789a:1::/64" });
    expect(parseCidr6("fd00::/129")).toEqual({ ok: false, reason: "prefix" });
    expect(parseCidr6("fd00::/064")).toEqual({ ok: false, reason: "syntax" });
    expect(parseCidr6("10.0.0.0/8")).toEqual({ ok: false, reason: "syntax" });
  });

  it("tells overlaps and reserved prefixes", () => {
    const a = parseCidr6OrThrow("fd00:1::/48");
    expect(cidr6Overlaps(a, parseCidr6OrThrow("fd00:1:0:5::/64"))).toBe(true);
    expect(cidr6Overlaps(a, parseCidr6OrThrow("fd00:2::/64"))).toBe(false);
    expect(reservedReason6(parseCidr6OrThrow("fe80::/64"))).toMatch(/link-local/);
    expect(reservedReason6(parseCidr6OrThrow("ff02::/64"))).toMatch(/multicast/);
    expect(reservedReason6(parseCidr6OrThrow("2001:db8:1::/64"))).toMatch(/documentation/);
    expect(reservedReason6(parseCidr6OrThrow("::/64"))).toMatch(/unspecified/);
    expect(reservedReason6(parseCidr6OrThrow("::ffff:0:0/96"))).toMatch(/IPv4-mapped/);
    expect(reservedReason6(parseCidr6OrThrow("fd12:3456:789a:1::/64"))).toBeNull();
    expect(reservedReason6(parseCidr6OrThrow("2a01:4f8:1:2::/64"))).toBeNull();
  });

  it("writes 128-bit values as 32 hex digits, ordered as text as they are as numbers", () => {
    const lo = parseIPv6("fd00::ff") as bigint;
    const hi = parseIPv6("fd00::100") as bigint;
    expect(hex128(lo)).toHaveLength(32);
    expect(hex128(lo) < hex128(hi)).toBe(true);
    expect(hex128(0n)).toBe("0".repeat(32));
  });
});
