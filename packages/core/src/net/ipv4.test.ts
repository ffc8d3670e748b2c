import { describe, expect, it } from "vitest";
import {
  cidrContains,
  cidrsOverlap,
  defaultDhcpRange,
  formatIPv4,
  parseCidr,
  parseCidrOrThrow,
  parseIPv4,
  prefixToNetmask,
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
