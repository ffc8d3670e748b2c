import { describe, expect, it } from "vitest";
import {
  cidrContains,
  cidrOf,
  cidrsOverlap,
  defaultDhcpRange,
  formatCidr,
  formatIPv4,
  parseCidr,
  parseCidrOrThrow,
  parseIPv4,
  prefixToMask,
  prefixToNetmask,
  rangeSize,
  usableRange,
} from "./ipv4";

describe("parseIPv4", () => {
  it("parses dotted quads to uint32 and back", () => {
    expect(parseIPv4("192.168.100.1")).toBe(0xc0a86401);
    expect(formatIPv4(parseIPv4("255.255.255.255") as number)).toBe("255.255.255.255");
    expect(parseIPv4("0.0.0.0")).toBe(0);
  });
  it.each(["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "a.b.c.d", "1..2.3", "-1.2.3.4", "1.2.3.4/24"])(
    "rejects %j",
    (s) => expect(parseIPv4(s)).toBeNull(),
  );
});

describe("parseCidr", () => {
  it("accepts a network address", () => {
    const r = parseCidr("192.168.100.0/24");
    expect(r.ok && r.cidr.prefix).toBe(24);
    expect(r.ok && formatIPv4(r.cidr.last)).toBe("192.168.100.255");
  });
  it("rejects host bits with a hint naming the network", () => {
    expect(parseCidr("192.168.100.5/24")).toEqual({ ok: false, reason: "host-bits", hint: "192.168.100.0/24" });
  });
  it.each(["192.168.100.0", "192.168.100.0/33", "192.168.100.0/024", "x/24", "192.168.100.0/-1"])("rejects %j", (s) =>
    expect(parseCidr(s).ok).toBe(false),
  );
});

describe("overlap and containment", () => {
  const a = parseCidrOrThrow("10.0.0.0/16");
  it("detects any overlap, not only equality", () => {
    expect(cidrsOverlap(a, parseCidrOrThrow("10.0.5.0/24"))).toBe(true);
    expect(cidrsOverlap(parseCidrOrThrow("10.0.5.0/24"), a)).toBe(true);
    expect(cidrsOverlap(a, parseCidrOrThrow("10.0.0.0/8"))).toBe(true);
    expect(cidrsOverlap(a, parseCidrOrThrow("10.1.0.0/16"))).toBe(false);
    expect(cidrsOverlap(parseCidrOrThrow("192.168.100.0/25"), parseCidrOrThrow("192.168.100.128/25"))).toBe(false);
  });
  it("contains its network and broadcast, nothing outside", () => {
    expect(cidrContains(a, parseIPv4("10.0.0.0") as number)).toBe(true);
    expect(cidrContains(a, parseIPv4("10.0.255.255") as number)).toBe(true);
    expect(cidrContains(a, parseIPv4("10.1.0.0") as number)).toBe(false);
  });
});

describe("ranges and defaults", () => {
  it("usable range excludes network and broadcast", () => {
    const u = usableRange(parseCidrOrThrow("192.168.1.0/24"));
    expect([formatIPv4(u.first), formatIPv4(u.last)]).toEqual(["192.168.1.1", "192.168.1.254"]);
  });
  it("default DHCP pool of a /24 is .128-.254", () => {
    const c = parseCidrOrThrow("192.168.100.0/24");
    const r = defaultDhcpRange(c, parseIPv4("192.168.100.1") as number);
    expect([formatIPv4(r.start), formatIPv4(r.end)]).toEqual(["192.168.100.128", "192.168.100.254"]);
  });
  it("default pool avoids a gateway in the upper half", () => {
    const c = parseCidrOrThrow("192.168.100.0/24");
    const r = defaultDhcpRange(c, parseIPv4("192.168.100.254") as number);
    expect([formatIPv4(r.start), formatIPv4(r.end)]).toEqual(["192.168.100.128", "192.168.100.253"]);
  });
  it("a /30 still gets a pool", () => {
    const c = parseCidrOrThrow("10.0.0.0/30");
    const r = defaultDhcpRange(c, parseIPv4("10.0.0.1") as number);
    expect([formatIPv4(r.start), formatIPv4(r.end)]).toEqual(["10.0.0.2", "10.0.0.2"]);
  });
  it("netmask of prefixes", () => {
    expect(prefixToNetmask(24)).toBe("255.255.255.0");
    expect(prefixToNetmask(8)).toBe("255.0.0.0");
    expect(prefixToNetmask(30)).toBe("255.255.255.252");
  });
});

describe("overlap at the edges", () => {
  const c = parseCidrOrThrow;
  it("is false for disjoint subnets in either order, touching or not", () => {
    const pairs: [string, string][] = [
      ["10.1.0.0/16", "10.0.0.0/16"],
      ["10.0.0.0/25", "10.0.0.128/25"],
      ["10.0.0.128/25", "10.0.0.0/25"],
      ["10.0.0.2/31", "10.0.0.0/31"],
      ["10.0.0.0/31", "10.0.0.2/31"],
      ["10.0.0.128/32", "10.0.0.0/25"],
      ["10.0.0.0/25", "10.0.0.128/32"],
      ["10.0.0.5/32", "10.0.0.4/32"],
    ];
    for (const [x, y] of pairs) expect(cidrsOverlap(c(x), c(y)), `${x} ${y}`).toBe(false);
  });
  it("is true when they share one address, at either end", () => {
    const pairs: [string, string][] = [
      ["10.0.0.127/32", "10.0.0.0/25"],
      ["10.0.0.0/25", "10.0.0.127/32"],
      ["10.0.0.0/32", "10.0.0.0/25"],
      ["10.0.0.0/25", "10.0.0.0/32"],
      ["10.0.0.1/32", "10.0.0.0/31"],
      ["10.0.0.4/32", "10.0.0.4/32"],
    ];
    for (const [x, y] of pairs) expect(cidrsOverlap(c(x), c(y)), `${x} ${y}`).toBe(true);
  });
  it("containment includes both ends and nothing beyond them", () => {
    const s = c("10.0.0.4/30");
    expect([3, 4, 7, 8].map((last) => cidrContains(s, (parseIPv4("10.0.0.0") as number) + last))).toEqual([false, true, true, false]);
  });
});

describe("CIDR parsing details", () => {
  it("derives network, prefix and last address for every prefix length", () => {
    expect(parseCidr("0.0.0.0/0")).toEqual({ ok: true, cidr: { network: 0, prefix: 0, last: 0xffffffff } });
    expect(parseCidr("10.0.0.0/8")).toEqual({ ok: true, cidr: { network: 0x0a000000, prefix: 8, last: 0x0affffff } });
    expect(parseCidr("10.0.0.4/30")).toEqual({ ok: true, cidr: { network: 0x0a000004, prefix: 30, last: 0x0a000007 } });
    expect(parseCidr("10.0.0.4/31")).toEqual({ ok: true, cidr: { network: 0x0a000004, prefix: 31, last: 0x0a000005 } });
    expect(parseCidr("10.0.0.5/32")).toEqual({ ok: true, cidr: { network: 0x0a000005, prefix: 32, last: 0x0a000005 } });
  });
  it("names the reason it refuses", () => {
    expect(parseCidr("10.0.0.0/33")).toEqual({ ok: false, reason: "prefix" });
    expect(parseCidr("10.0.0.0/99")).toEqual({ ok: false, reason: "prefix" });
    expect(parseCidr("10.0.0/24")).toEqual({ ok: false, reason: "syntax" });
    expect(parseCidr("10.0.0.0/08")).toEqual({ ok: false, reason: "syntax" });
    expect(parseCidr("1.2.3.4.5/8")).toEqual({ ok: false, reason: "syntax" });
    expect(parseCidr("x10.0.0.0/8")).toEqual({ ok: false, reason: "syntax" });
    expect(parseCidr("10.0.0.0/8x")).toEqual({ ok: false, reason: "syntax" });
    expect(parseCidr("10.0.0.0/123")).toEqual({ ok: false, reason: "syntax" });
    expect(parseCidr(42 as unknown as string)).toEqual({ ok: false, reason: "syntax" });
    expect(parseCidr("10.0.0.1/31")).toEqual({ ok: false, reason: "host-bits", hint: "10.0.0.0/31" });
    expect(parseCidr("10.255.0.0/8")).toEqual({ ok: false, reason: "host-bits", hint: "10.0.0.0/8" });
  });
  it("parseCidrOrThrow names the input and the reason", () => {
    expect(() => parseCidrOrThrow("10.0.0.1/24")).toThrow('invalid CIDR "10.0.0.1/24" (host-bits)');
  });
  it("formats a CIDR back", () => {
    expect(formatCidr(parseCidrOrThrow("172.16.0.0/12"))).toBe("172.16.0.0/12");
    expect(formatCidr(cidrOf(0x0a0000ff, 24))).toBe("10.0.0.0/24");
  });
  it("refuses addresses that are not strings or too long", () => {
    expect(parseIPv4(3 as unknown as string)).toBeNull();
    expect(parseIPv4("1.2.3.4.........")).toBeNull();
    expect(parseIPv4("100.100.100.100")).toBe(0x64646464);
    expect(parseIPv4("249.250.199.9")).toBe(0xf9fac709);
  });
  it("masks of the edge prefixes", () => {
    expect(prefixToMask(0)).toBe(0);
    expect(prefixToMask(1)).toBe(0x80000000);
    expect(prefixToMask(32)).toBe(0xffffffff);
  });
});

describe("usable range and the default pool, beyond a /24", () => {
  const ip = (s: string) => parseIPv4(s) as number;
  const range = (cidr: string, gw: string) => {
    const r = defaultDhcpRange(parseCidrOrThrow(cidr), ip(gw));
    return [formatIPv4(r.start), formatIPv4(r.end)];
  };
  it("/31 and /32 use every address (no network or broadcast)", () => {
    const u31 = usableRange(parseCidrOrThrow("10.0.0.4/31"));
    expect([formatIPv4(u31.first), formatIPv4(u31.last)]).toEqual(["10.0.0.4", "10.0.0.5"]);
    const u30 = usableRange(parseCidrOrThrow("10.0.0.4/30"));
    expect([formatIPv4(u30.first), formatIPv4(u30.last)]).toEqual(["10.0.0.5", "10.0.0.6"]);
  });
  it("rangeSize counts both ends", () => {
    expect(rangeSize(ip("10.0.0.1"), ip("10.0.0.1"))).toBe(1);
    expect(rangeSize(ip("10.0.0.128"), ip("10.0.0.254"))).toBe(127);
  });
  it("a gateway below the pool leaves it alone", () => {
    expect(range("192.168.100.0/24", "192.168.100.127")).toEqual(["192.168.100.128", "192.168.100.254"]);
    expect(range("192.168.100.0/24", "192.168.100.50")).toEqual(["192.168.100.128", "192.168.100.254"]);
  });
  it("a gateway in the pool keeps the larger side: above it when near the start, below it when near the end", () => {
    expect(range("192.168.100.0/24", "192.168.100.128")).toEqual(["192.168.100.129", "192.168.100.254"]);
    expect(range("192.168.100.0/24", "192.168.100.130")).toEqual(["192.168.100.131", "192.168.100.254"]);
    expect(range("192.168.100.0/24", "192.168.100.190")).toEqual(["192.168.100.191", "192.168.100.254"]);
    expect(range("192.168.100.0/24", "192.168.100.200")).toEqual(["192.168.100.128", "192.168.100.199"]);
  });
  it("a gateway in the middle of the pool keeps the lower side (ties go below)", () => {
    // Pool .128-.254: .191 has 63 addresses on each side.
    expect(range("192.168.100.0/24", "192.168.100.191")).toEqual(["192.168.100.128", "192.168.100.190"]);
  });
  it("a /16 pool is the upper half of its usable addresses", () => {
    expect(range("10.1.0.0/16", "10.1.0.1")).toEqual(["10.1.128.0", "10.1.255.254"]);
  });
});

describe("non-strings", () => {
  it("a value that only stringifies to a CIDR or an address is refused", () => {
    const sneaky = { toString: () => "10.0.0.0/8" } as unknown as string;
    expect(parseCidr(sneaky)).toEqual({ ok: false, reason: "syntax" });
    expect(parseIPv4({ toString: () => "10.0.0.1" } as unknown as string)).toBeNull();
  });
});
