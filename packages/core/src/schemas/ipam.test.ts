import { describe, expect, it } from "vitest";
import {
  AssignStaticIpBody,
  ConfigureDhcpBody,
  ConfigureDnsBody,
  DhcpHostname,
  DnsName,
  ListNetworkIpsBody,
  MAX_DNS_HOSTS,
  MAX_DNS_NAMES,
  NetworkIp,
  UnassignStaticIpBody,
} from "./ipam";

/** The issues of a failed parse as "path: message" lines (empty when it parsed). */
const problems = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }): string[] =>
  r.success ? [] : (r.error?.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`);

describe("DhcpHostname: one DNS label", () => {
  it("accepts 1-63 letters, digits and inner hyphens", () => {
    for (const ok of ["a", "Z", "7", "db", "db-1", "a-b-c", "A1b2", "x".repeat(63), `a${"-".repeat(61)}b`]) {
      expect(DhcpHostname.safeParse(ok).success, ok).toBe(true);
    }
  });
  it("refuses a hyphen at either end, dots, underscores, spaces, other characters, empty and 64 characters", () => {
    for (const bad of ["", "-db", "db-", "-", "db.example", "db_1", "db 1", "db!", "é", "x".repeat(64), " db", "db "]) {
      expect(problems(DhcpHostname.safeParse(bad)), bad).toEqual([": must be a host name label: letters, digits and '-', at most 63"]);
    }
  });
});

describe("configure-network-dhcp body", () => {
  const body = { name: "web", start: "10.0.0.100", end: "10.0.0.200" };
  it("takes the range, an optional lease time of 120 s to one year and dryRun", () => {
    expect(ConfigureDhcpBody.parse(body)).toEqual(body);
    for (const leaseTime of [120, 3600, 31_536_000]) {
      expect(ConfigureDhcpBody.parse({ ...body, leaseTime, dryRun: true })).toEqual({ ...body, leaseTime, dryRun: true });
    }
  });
  it("refuses a lease time under 120 s, over a year or not whole, non-IPv4 ends, a missing end and unknown fields", () => {
    for (const [patch, path] of [
      [{ leaseTime: 119 }, "leaseTime"],
      [{ leaseTime: 31_536_001 }, "leaseTime"],
      [{ leaseTime: 600.5 }, "leaseTime"],
      [{ start: "10.0.0.256" }, "start"],
      [{ end: "ten" }, "end"],
      [{ end: undefined }, "end"],
      [{ name: "" }, "name"],
      [{ dryRun: "no" }, "dryRun"],
    ] as const) {
      expect(problems(ConfigureDhcpBody.safeParse({ ...body, ...patch }))[0], JSON.stringify(patch)).toMatch(new RegExp(`^${path}: `));
    }
    expect(ConfigureDhcpBody.safeParse({ ...body, enabled: true }).success).toBe(false);
  });
});

describe("assign-static-ip and unassign-static-ip bodies", () => {
  const body = { name: "web", mac: "52:54:00:AB:CD:EF", ip: "10.0.0.5" };
  it("assign: the MAC in lower case, the IP, and optional hostname, force and dryRun kept", () => {
    expect(AssignStaticIpBody.parse(body)).toEqual({ ...body, mac: "52:54:00:ab:cd:ef" });
    expect(AssignStaticIpBody.parse({ ...body, hostname: "db", force: true, dryRun: false })).toEqual({
      ...body,
      mac: "52:54:00:ab:cd:ef",
      hostname: "db",
      force: true,
      dryRun: false,
    });
  });
  it("assign refuses a bad MAC, IP or hostname, a non-boolean force and unknown fields", () => {
    for (const [patch, path] of [
      [{ mac: "52:54:00:ab:cd" }, "mac"],
      [{ ip: "10.0.0.5/32" }, "ip"],
      [{ hostname: "db.example" }, "hostname"],
      [{ force: "yes" }, "force"],
      [{ name: "Web" }, "name"],
    ] as const) {
      expect(problems(AssignStaticIpBody.safeParse({ ...body, ...patch }))[0], JSON.stringify(patch)).toMatch(new RegExp(`^${path}: `));
    }
    expect(AssignStaticIpBody.safeParse({ ...body, vm: "a" }).success).toBe(false);
  });
  it("unassign: a name and a MAC (lower case) or a DUID, nothing else", () => {
    expect(UnassignStaticIpBody.parse({ name: "web", mac: "52:54:00:AB:CD:EF", dryRun: true })).toEqual({
      name: "web",
      mac: "52:54:00:ab:cd:ef",
      dryRun: true,
    });
    // Neither: the planner refuses it (mac or duid; an IPv6 reservation is by DUID), not the body.
    expect(UnassignStaticIpBody.safeParse({ name: "web", duid: "0:3:0:1:52:54:0:ab:cd:ef" }).data).toEqual({
      name: "web",
      duid: "00:03:00:01:52:54:00:ab:cd:ef",
    });
    expect(problems(UnassignStaticIpBody.safeParse({ name: "web", duid: "52-54" }))[0]).toMatch(/^duid: must be a DHCPv6 client DUID/);
    expect(UnassignStaticIpBody.safeParse({ name: "web", mac: "52:54:00:ab:cd:ef", ip: "10.0.0.5" }).success).toBe(false);
  });
});

describe("list-network-ips", () => {
  it("the body names one network and nothing else", () => {
    expect(ListNetworkIpsBody.parse({ name: "web" })).toEqual({ name: "web" });
    expect(ListNetworkIpsBody.safeParse({ name: "web", limit: 10 }).success).toBe(false);
    expect(ListNetworkIpsBody.safeParse({}).success).toBe(false);
  });
  it("a row: ip, mac, static, and vmName, hostname and leaseExpiresAt that may be null", () => {
    const row = { ip: "10.0.0.5", mac: "52:54:00:ab:cd:ef", vmName: null, hostname: null, static: true, leaseExpiresAt: null };
    expect(NetworkIp.parse(row)).toEqual(row);
    const leased = { ...row, vmName: "vm1", hostname: "db", static: false, leaseExpiresAt: "2026-12-06T00:00:00.000Z" };
    expect(NetworkIp.parse(leased)).toEqual(leased);
    for (const k of Object.keys(row)) {
      const { [k]: _gone, ...rest } = row as Record<string, unknown>;
      expect(NetworkIp.safeParse(rest).success, k).toBe(false);
    }
    expect(NetworkIp.safeParse({ ...row, static: "yes" }).success).toBe(false);
    expect(NetworkIp.safeParse({ ...row, ip: null }).success).toBe(false);
    expect(NetworkIp.safeParse({ ...row, mac: null }).success).toBe(false);
  });
});

describe("DnsName: dot-separated labels, 253 characters at most", () => {
  it("accepts one label, several labels, digits and inner hyphens", () => {
    for (const ok of [
      "db",
      "db.internal",
      "a-1.b-2.c",
      "x".repeat(63),
      `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`,
    ]) {
      expect(DnsName.safeParse(ok).success, ok).toBe(true);
    }
  });
  it("refuses empty labels, hyphens at a label's ends, a 64-character label and other characters", () => {
    const msg = ": must be a DNS name: labels of letters, digits and '-' (not first or last), at most 63 each, separated by dots";
    for (const bad of ["", ".db", "db.", "db..x", "-db", "db-.x", "x".repeat(64), "db_1", "db x", "é"]) {
      expect(problems(DnsName.safeParse(bad)), bad).toEqual([msg]);
    }
  });
  it("names the length limit past 253 characters", () => {
    const long = Array.from({ length: 64 }, () => "abc").join(".");
    expect(long.length).toBe(255);
    expect(problems(DnsName.safeParse(long))).toEqual([": must be at most 253 characters"]);
  });
});

describe("configure-network-dns body", () => {
  const body = { name: "web", hosts: [{ ip: "10.0.0.10", names: ["db", "db.internal"] }] };
  it("takes the network, its records and dryRun; [] clears the records", () => {
    expect(ConfigureDnsBody.parse(body)).toEqual(body);
    expect(ConfigureDnsBody.parse({ name: "web", hosts: [], dryRun: true })).toEqual({ name: "web", hosts: [], dryRun: true });
  });
  it("says what is wrong with a record, naming the path", () => {
    const cases: [unknown, string][] = [
      [{ ...body, hosts: [{ ip: "10.0.0.10", names: [] }] }, "hosts.0.names: needs at least one name"],
      [
        { ...body, hosts: [{ ip: "10.0.0.10", names: Array.from({ length: MAX_DNS_NAMES + 1 }, (_, i) => `n${i}`) }] },
        `hosts.0.names: at most ${MAX_DNS_NAMES} names per record`,
      ],
      [
        { ...body, hosts: Array.from({ length: MAX_DNS_HOSTS + 1 }, () => ({ ip: "10.0.0.10", names: ["db"] })) },
        `hosts: at most ${MAX_DNS_HOSTS} records per network`,
      ],
    ];
    for (const [input, expected] of cases) expect(problems(ConfigureDnsBody.safeParse(input))).toEqual([expected]);
  });
  it("refuses an unknown field in a record and in the body", () => {
    expect(problems(ConfigureDnsBody.safeParse({ ...body, hosts: [{ ...body.hosts[0], ttl: 5 }] }))[0]).toMatch(/^hosts\.0: /);
    expect(ConfigureDnsBody.safeParse({ ...body, ttl: 5 }).success).toBe(false);
  });
});
