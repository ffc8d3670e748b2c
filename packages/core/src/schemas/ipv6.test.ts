import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { parseOrThrow } from "../validation";
import { CreateNetworkBody, resolveCreate } from "./network";
import { parseCreatePayload } from "./payload-parse";

const parse = (b: unknown) => parseOrThrow(CreateNetworkBody, b);
const nat = (ipv6: unknown, extra: Record<string, unknown> = {}) => ({ name: "web", type: "nat", cidr: "10.60.0.0/24", ipv6, ...extra });
const errorOf = (fn: () => unknown): AppError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error("expected an error");
};
const issuesOf = (body: unknown) => {
  const e = errorOf(() => resolveCreate(parse(body)));
  expect(e.code).toBe("VALIDATION_FAILED");
  return e.details.issues as { path: string; message: string }[];
};

describe("create-network ipv6", () => {
  it("slaac on a /64: gateway the prefix's first address, no DHCPv6 range, not routed", () => {
    const r = resolveCreate(parse(nat({ cidr: "FD12:3456:789a:0001::/64", mode: "slaac" })));
    expect(r.ipv6).toEqual({ cidr: "fd12:3456:789a:1::/64", gateway: "fd12:3456:789a:1::1", mode: "slaac", dhcp: null, routed: false });
  });

  it("dhcpv6: the default range ::100-::ffff with the default lease, or the range given", () => {
    expect(resolveCreate(parse(nat({ cidr: "fd00:1:2:3::/64", mode: "dhcpv6" }))).ipv6?.dhcp).toEqual({
      start: "fd00:1:2:3::100",
      end: "fd00:1:2:3::ffff",
      leaseTime: 3600,
    });
    const r = resolveCreate(
      parse(
        nat({
          cidr: "fd00:1:2:3::/64",
          mode: "dhcpv6",
          dhcp: { start: "fd00:1:2:3::1:0", end: "fd00:1:2:3::1:ff", leaseTime: 600 },
          routed: true,
        }),
      ),
    );
    expect(r.ipv6).toEqual({
      cidr: "fd00:1:2:3::/64",
      gateway: "fd00:1:2:3::1",
      mode: "dhcpv6",
      dhcp: { start: "fd00:1:2:3::1:0", end: "fd00:1:2:3::1:ff", leaseTime: 600 },
      routed: true,
    });
  });

  it("refuses reserved prefixes in the operator's words", () => {
    const cases: [string, RegExp][] = [
      ["::/64", /unspecified/],
      ["::1/128", /loopback/],
      ["::ffff:0:0/96", /IPv4-mapped/],
      ["fe80::/64", /link-local/],
      ["ff00::/64", /multicast/],
      ["2001:db8:5::/64", /documentation/],
    ];
    for (const [cidr, why] of cases) {
      const issues = issuesOf(nat({ cidr, mode: "dhcpv6" }));
      expect(issues[0]?.path, cidr).toBe("ipv6.cidr");
      expect(issues[0]?.message, cidr).toMatch(why);
    }
  });

  it("SLAAC needs a /64; dhcpv6 a /48 to a /120; host bits zero; a prefix at all", () => {
    expect(issuesOf(nat({ cidr: "fd00:1::/56", mode: "slaac" }))[0]?.message).toMatch(/SLAAC needs a \/64/);
    expect(issuesOf(nat({ cidr: "fd00:1::/40", mode: "dhcpv6" }))[0]?.message).toMatch(/\/48 to a \/120/);
    expect(issuesOf(nat({ cidr: "fd00:1::5/64", mode: "slaac" }))[0]?.message).toMatch(/did you mean fd00:1::\/64/);
    expect(issuesOf(nat({ cidr: "10.0.0.0/24", mode: "slaac" }))[0]?.message).toMatch(/IPv6 prefix/);
    // A /116 has no room for the default range: give one.
    expect(issuesOf(nat({ cidr: "fd00:1::/116", mode: "dhcpv6" }))[0]?.message).toMatch(/too small for the default range/);
  });

  it("checks the DHCPv6 range: inside, ordered, clear of the gateway, only in dhcpv6 mode", () => {
    const p = "fd00:1:2:3::/64";
    expect(issuesOf(nat({ cidr: p, mode: "slaac", dhcp: { start: "fd00:1:2:3::100", end: "fd00:1:2:3::1ff" } }))[0]?.path).toBe(
      "ipv6.dhcp",
    );
    expect(issuesOf(nat({ cidr: p, mode: "dhcpv6", dhcp: { start: "fd00:9::100", end: "fd00:1:2:3::1ff" } }))[0]?.path).toBe(
      "ipv6.dhcp.start",
    );
    expect(issuesOf(nat({ cidr: p, mode: "dhcpv6", dhcp: { start: "fd00:1:2:3::200", end: "fd00:1:2:3::1ff" } }))[0]?.message).toMatch(
      /below start/,
    );
    expect(issuesOf(nat({ cidr: p, mode: "dhcpv6", dhcp: { start: "fd00:1:2:3::1", end: "fd00:1:2:3::1ff" } }))[0]?.message).toMatch(
      /gateway/,
    );
    expect(issuesOf(nat({ cidr: p, mode: "dhcpv6", dhcp: { start: "nope", end: "fd00:1:2:3::1ff" } }))[0]?.path).toBe("ipv6.dhcp.start");
  });

  it("an isolated network takes ipv6 but not routed; MTU at least 1280 with IPv6", () => {
    const iso = { name: "b", type: "isolated", cidr: "10.61.0.0/24", ipv6: { cidr: "fd00:61::/64", mode: "slaac" } };
    expect(resolveCreate(parse(iso)).ipv6?.routed).toBe(false);
    expect(issuesOf({ ...iso, ipv6: { ...iso.ipv6, routed: true } })[0]?.path).toBe("ipv6.routed");
    expect(issuesOf(nat({ cidr: "fd00:1::/64", mode: "slaac" }, { mtu: 1200 }))[0]).toEqual({
      path: "mtu",
      message: "must be at least 1280 on a network with IPv6",
    });
    expect(resolveCreate(parse(nat({ cidr: "fd00:1::/64", mode: "slaac" }, { mtu: 1280 }))).mtu).toBe(1280);
  });

  it("bridge and sriov networks refuse ipv6 with UNSUPPORTED_FOR_TYPE", () => {
    const v6 = { cidr: "fd00:1::/64", mode: "slaac" };
    const b = errorOf(() => resolveCreate(parse({ name: "lan", type: "bridge", interface: "eth1", ipv6: v6 })));
    expect(b.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(b.message).toMatch(/nat and isolated/);
    const s = errorOf(() => resolveCreate(parse({ name: "fast", type: "sriov", pf: "eth2", ipv6: v6 })));
    expect(s.code).toBe("UNSUPPORTED_FOR_TYPE");
  });

  it("a queued payload with ipv6 parses back to exactly what was resolved", () => {
    for (const v6 of [
      { cidr: "fd00:1::/64", mode: "slaac" },
      { cidr: "fd00:1::/64", mode: "dhcpv6", routed: true },
      { cidr: "fd00:1::/64", mode: "dhcpv6", dhcp: { start: "fd00:1::a", end: "fd00:1::f" } },
    ]) {
      const { requestedHost: _r, ...resolved } = resolveCreate(parse(nat(v6)));
      const payload = { ...resolved, uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c", host: "h1", createdAt: "2026-12-07T00:00:00.000Z" };
      const back = parseCreatePayload(JSON.parse(JSON.stringify(payload)));
      expect(back).toEqual({ ok: true, value: payload });
    }
    // A tampered payload (another gateway) is refused.
    const { requestedHost: _r, ...resolved } = resolveCreate(parse(nat({ cidr: "fd00:1::/64", mode: "slaac" })));
    const bad = {
      ...resolved,
      ipv6: { ...resolved.ipv6, gateway: "fd00:1::9" },
      uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
      host: "h1",
      createdAt: "2026-12-07T00:00:00.000Z",
    };
    expect(parseCreatePayload(bad).ok).toBe(false);
  });
});

describe("firewall rules with IPv6 CIDRs", () => {
  it("take IPv6 CIDRs (host bits zero), one family per rule", async () => {
    const { FirewallRuleBody } = await import("./firewall");
    const ok = (r: Record<string, unknown>) => FirewallRuleBody.safeParse({ direction: "inbound", protocol: "any", action: "drop", ...r });
    expect(ok({ source: "fd00:99::1/128" }).success).toBe(true);
    expect(ok({ source: "::/0", destination: "fd00::/8" }).success).toBe(true);
    expect(ok({ source: "fd00:99::1/64" }).error?.issues[0]?.message).toBe("host bits must be zero: did you mean fd00:99::/64?");
    expect(ok({ source: "10.0.0.0/8", destination: "fd00::/8" }).error?.issues[0]?.message).toMatch(/one family/);
    expect(ok({ source: "nope" }).error?.issues[0]?.message).toMatch(/10\.0\.0\.0\/8 or fd00:1::\/64/);
  });
});
