import { describe, expect, it } from "vitest";
import { ConfigureFirewallBody, ConfigurePortForwardBody, FirewallRuleBody, MAX_HOST_SERVICES, PortSpec, RuleCidr } from "./firewall";

describe("configure-network-firewall: hostServices", () => {
  const parse = (hostServices: unknown) => ConfigureFirewallBody.safeParse({ name: "web", hostServices });
  it("defaults to none: the VMs reach nothing on the host beyond DHCP, DNS and ICMP errors", () => {
    expect(ConfigureFirewallBody.parse({ name: "web" }).hostServices).toEqual([]);
  });
  it("takes tcp/udp with a port or a range", () => {
    const ok = parse([
      { protocol: "tcp", ports: "8443" },
      { protocol: "udp", ports: "5000-5100" },
    ]);
    expect(ok.success && ok.data.hostServices).toEqual([
      { protocol: "tcp", ports: "8443" },
      { protocol: "udp", ports: "5000-5100" },
    ]);
  });
  it("refuses other protocols, missing or bad ports, unknown fields and more than the cap", () => {
    for (const bad of [
      [{ protocol: "icmp", ports: "1" }],
      [{ protocol: "any", ports: "22" }],
      [{ protocol: "tcp" }],
      [{ protocol: "tcp", ports: "0" }],
      [{ protocol: "tcp", ports: "65536" }],
      [{ protocol: "tcp", ports: "90-80" }],
      [{ protocol: "tcp", ports: "22; flush ruleset" }],
      [{ protocol: "tcp", ports: "22", host: "10.0.0.1" }],
      "22",
      Array.from({ length: MAX_HOST_SERVICES + 1 }, (_, i) => ({ protocol: "tcp", ports: String(1000 + i) })),
    ]) {
      expect(parse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(parse(Array.from({ length: MAX_HOST_SERVICES }, (_, i) => ({ protocol: "tcp", ports: String(1000 + i) }))).success).toBe(true);
  });
});

/** The issues of a failed parse as "path: message" lines (empty when it parsed). */
const problems = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }): string[] =>
  r.success ? [] : (r.error?.issues ?? []).map((i) => `${i.path.join(".")}: ${i.message}`);

describe("RuleCidr: a source or destination", () => {
  it("accepts any IPv4 CIDR with host bits zero, /0 to /32", () => {
    for (const ok of ["0.0.0.0/0", "10.0.0.0/8", "192.168.1.0/24", "203.0.113.7/32"]) expect(RuleCidr.safeParse(ok).success, ok).toBe(true);
  });
  it("refuses host bits with the network it probably meant", () => {
    expect(problems(RuleCidr.safeParse("10.1.2.3/8"))).toEqual([": host bits must be zero: did you mean 10.0.0.0/8?"]);
  });
  it("refuses what is no CIDR (bad syntax, prefix above 32, a bare address) with the format", () => {
    for (const bad of ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "any"]) {
      expect(problems(RuleCidr.safeParse(bad)), bad).toEqual([
        ": must be a CIDR like 10.0.0.0/8 or fd00:1::/64 (a single address: /32 or /128)",
      ]);
    }
  });
});

describe("PortSpec: a destination port or range", () => {
  const portIssue = 'must be a port "22" or a range "8000-8100" (1-65535)';
  it("accepts single ports 1-65535 and ranges whose start is not above the end", () => {
    for (const ok of ["1", "22", "65535", "8000-8100", "80-80", "1-65535", "10-20"]) {
      expect(PortSpec.safeParse(ok).success, ok).toBe(true);
    }
  });
  it("refuses 0, leading zeros, ports above 65535 at either end, and anything around the digits", () => {
    for (const bad of ["0", "022", "65536", "70000", "1-65536", "65536-65537", "x22", "22x", "22-", "-22", "2 2", "22-x", "", "1-2-3"]) {
      expect(problems(PortSpec.safeParse(bad)), bad).toEqual([`: ${portIssue}`]);
    }
  });
  it("refuses a range whose start is above its end, saying so", () => {
    expect(problems(PortSpec.safeParse("81-80"))).toEqual([": range start must not be above its end"]);
    expect(problems(PortSpec.safeParse("65535-1"))).toEqual([": range start must not be above its end"]);
    // A start above 65535 is an invalid port first, not a reversed range.
    expect(problems(PortSpec.safeParse("70000-1"))).toEqual([': must be a port "22" or a range "8000-8100" (1-65535)']);
  });
});

describe("FirewallRuleBody: one rule", () => {
  const rule = { direction: "inbound", protocol: "tcp", action: "accept" } as const;
  it("takes every direction, protocol and verdict, with optional source, destination, ports and comment kept as given", () => {
    for (const direction of ["inbound", "outbound"])
      for (const protocol of ["tcp", "udp", "icmp", "any"])
        for (const action of ["accept", "drop", "reject"]) {
          expect(FirewallRuleBody.parse({ direction, protocol, action })).toEqual({ direction, protocol, action });
        }
    const full = { ...rule, source: "10.0.0.0/8", destination: "192.168.1.5/32", ports: "443", comment: "web (tls): ok" };
    expect(FirewallRuleBody.parse(full)).toEqual(full);
  });
  it("refuses unknown directions, protocols, verdicts and fields", () => {
    expect(problems(FirewallRuleBody.safeParse({ ...rule, direction: "forward" }))[0]).toMatch(/^direction: /);
    expect(problems(FirewallRuleBody.safeParse({ ...rule, protocol: "sctp" }))[0]).toMatch(/^protocol: /);
    expect(problems(FirewallRuleBody.safeParse({ ...rule, action: "log" }))[0]).toMatch(/^action: /);
    expect(problems(FirewallRuleBody.safeParse({ ...rule, port: "22" }))[0]).toMatch(/port/);
  });
  it("ports need tcp or udp: refused with icmp and any, on the ports field; icmp and any without ports are fine", () => {
    expect(FirewallRuleBody.safeParse({ ...rule, ports: "22" }).success).toBe(true);
    expect(FirewallRuleBody.safeParse({ ...rule, protocol: "udp", ports: "53" }).success).toBe(true);
    for (const protocol of ["icmp", "any"]) {
      expect(problems(FirewallRuleBody.safeParse({ ...rule, protocol, ports: "22" }))).toEqual(["ports: ports need protocol tcp or udp"]);
      expect(FirewallRuleBody.safeParse({ ...rule, protocol }).success).toBe(true);
    }
  });
  it("comments: letters, digits, spaces and _.,:;/()+@#=- only (they go into an nft comment string), empty allowed", () => {
    const comment = (c: string) => FirewallRuleBody.safeParse({ ...rule, comment: c });
    expect(comment("").success).toBe(true);
    expect(comment("SSH_ops: 10.0.0.0/8 (a+b) @w #1 x=y; c,d.e-f Z9").success).toBe(true);
    for (const bad of ['"', "'", "\\", "{", "}", "\n", "$x", 'ok"', '"ok', "é"]) {
      expect(problems(comment(bad)), bad).toEqual(["comment: must be at most 64 letters, digits, spaces and _.,:;/()+@#=-"]);
    }
    expect(comment("a".repeat(64)).success).toBe(true);
    expect(comment("a".repeat(65)).success).toBe(false);
  });
});

describe("configure-network-firewall body", () => {
  it("defaults: both verdicts accept, no rules, no host services", () => {
    expect(ConfigureFirewallBody.parse({ name: "web" })).toEqual({
      name: "web",
      defaultInbound: "accept",
      defaultOutbound: "accept",
      rules: [],
      hostServices: [],
    });
  });
  it("keeps given verdicts, the rules in order and dryRun", () => {
    const rules = [
      { direction: "inbound", protocol: "tcp", ports: "22", action: "accept" },
      { direction: "outbound", protocol: "any", action: "drop" },
    ];
    expect(ConfigureFirewallBody.parse({ name: "web", defaultInbound: "reject", defaultOutbound: "drop", rules, dryRun: true })).toEqual({
      name: "web",
      defaultInbound: "reject",
      defaultOutbound: "drop",
      rules,
      hostServices: [],
      dryRun: true,
    });
  });
  it("refuses a bad name, an unknown verdict, a bad rule (at its index), more than 1000 rules and unknown fields", () => {
    expect(problems(ConfigureFirewallBody.safeParse({ name: "Web" }))[0]).toMatch(/^name: /);
    expect(problems(ConfigureFirewallBody.safeParse({ name: "web", defaultInbound: "allow" }))[0]).toMatch(/^defaultInbound: /);
    expect(problems(ConfigureFirewallBody.safeParse({ name: "web", defaultOutbound: "allow" }))[0]).toMatch(/^defaultOutbound: /);
    const rules = [
      { direction: "inbound", protocol: "tcp", action: "accept" },
      { direction: "inbound", protocol: "icmp", ports: "1", action: "accept" },
    ];
    expect(problems(ConfigureFirewallBody.safeParse({ name: "web", rules }))).toEqual(["rules.1.ports: ports need protocol tcp or udp"]);
    const many = Array.from({ length: 1001 }, () => ({ direction: "inbound", protocol: "any", action: "drop" }));
    expect(ConfigureFirewallBody.safeParse({ name: "web", rules: many.slice(1) }).success).toBe(true);
    expect(ConfigureFirewallBody.safeParse({ name: "web", rules: many }).success).toBe(false);
    expect(ConfigureFirewallBody.safeParse({ name: "web", dryRun: "yes" }).success).toBe(false);
    expect(ConfigureFirewallBody.safeParse({ name: "web", extra: 1 }).success).toBe(false);
  });
});

describe("configure-network-port-forward body", () => {
  const body = { name: "web", protocol: "tcp", hostPort: 2222, vmIp: "10.0.0.5", vmPort: 22 } as const;
  it("action defaults to add; everything given is kept", () => {
    expect(ConfigurePortForwardBody.parse(body)).toEqual({ ...body, action: "add" });
    const all = { ...body, protocol: "udp", action: "remove", hostIp: "198.51.100.2", dryRun: false } as const;
    expect(ConfigurePortForwardBody.parse(all)).toEqual(all);
  });
  it("a remove needs only the protocol and host port (vmIp, vmPort and hostIp are optional)", () => {
    expect(ConfigurePortForwardBody.parse({ name: "web", action: "remove", protocol: "tcp", hostPort: 80 })).toEqual({
      name: "web",
      action: "remove",
      protocol: "tcp",
      hostPort: 80,
    });
  });
  it("ports are whole numbers 1-65535; protocol tcp or udp; addresses IPv4 or IPv6; no other fields", () => {
    for (const hostPort of [1, 65535]) expect(ConfigurePortForwardBody.safeParse({ ...body, hostPort }).success).toBe(true);
    for (const [patch, path] of [
      [{ hostPort: 0 }, "hostPort"],
      [{ hostPort: 65536 }, "hostPort"],
      [{ hostPort: 22.5 }, "hostPort"],
      [{ vmPort: 0 }, "vmPort"],
      [{ vmPort: 65536 }, "vmPort"],
      [{ protocol: "icmp" }, "protocol"],
      [{ action: "replace" }, "action"],
      [{ vmIp: "10.0.0" }, "vmIp"],
      [{ vmIp: "fd00::1::2" }, "vmIp"],
      [{ vmIp: "fd00::5/128" }, "vmIp"],
      [{ vmIp: "fe80::1%eth0" }, "vmIp"],
      [{ hostIp: "fd00:99::2/64" }, "hostIp"],
      [{ hostIp: "[fd00:99::2]" }, "hostIp"],
      [{ name: "-web" }, "name"],
      [{ dryRun: 1 }, "dryRun"],
    ] as const) {
      expect(problems(ConfigurePortForwardBody.safeParse({ ...body, ...patch }))[0], JSON.stringify(patch)).toMatch(
        new RegExp(`^${path}: `),
      );
    }
    expect(ConfigurePortForwardBody.safeParse({ ...body, extra: 1 }).success).toBe(false);
  });
});
