import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { parseOrThrow } from "../validation";
import { parseCidrOrThrow, parseIPv4 } from "../net/ipv4";
import {
  CreateNetworkBody,
  checkDhcpRange,
  DEFAULT_LEASE_SECONDS,
  IMPLEMENTED_TYPES,
  MAX_LEASE_SECONDS,
  MIN_LEASE_SECONDS,
  NETWORK_TYPES,
  resolveCreate,
  subnetOfBody,
  validationError,
} from "./network";

const parse = (b: unknown) => parseOrThrow(CreateNetworkBody, b);
const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe("VALIDATION_FAILED");
    return (e as AppError).details.issues as { path: string; message: string; hint?: string }[];
  }
  throw new Error("expected VALIDATION_FAILED");
};

describe("create-network body", () => {
  it("fills defaults: gateway first usable, DHCP upper half, lease 3600, autostart and start on", () => {
    const r = resolveCreate(parse({ name: "web", type: "nat", cidr: "192.168.100.0/24" }));
    expect(r).toMatchObject({
      gateway: "192.168.100.1",
      dhcp: { enabled: true, start: "192.168.100.128", end: "192.168.100.254", leaseTime: 3600 },
      autostart: true,
      start: true,
      description: "",
    });
  });
  it("dhcp:false disables DHCP", () => {
    expect(resolveCreate(parse({ name: "web", type: "isolated", cidr: "10.0.0.0/24", dhcp: false })).dhcp.enabled).toBe(false);
  });
  it("rejects host bits with a hint", () => {
    const issues = issuesOf(() => parse({ name: "web", type: "nat", cidr: "192.168.100.5/24" }));
    expect(issues[0]).toMatchObject({ path: "cidr", hint: "192.168.100.0/24" });
    expect(issues[0]?.message).toContain("192.168.100.0/24");
  });
  it.each([
    [{ cidr: "10.0.0.0/7" }, "cidr"],
    [{ cidr: "10.0.0.0/31" }, "cidr"],
    [{ name: "Web" }, "name"],
    [{ name: "1web" }, "name"],
    [{ name: "a".repeat(33) }, "name"],
    [{ gateway: "10.0.0.300" }, "gateway"],
    [{ dhcp: { leaseTime: 60 } }, "dhcp.leaseTime"],
    [{ extra: 1 }, ""],
    [{ type: "vxlan" }, "type"],
    [{ description: "a\u0000b" }, "description"],
  ])("rejects %j at %s", (patch, path) => {
    const issues = issuesOf(() => parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", ...patch }));
    expect(issues.map((i) => i.path)).toContain(path);
  });
  it.each([
    [{ gateway: "10.0.1.1" }, "gateway"],
    [{ gateway: "10.0.0.0" }, "gateway"],
    [{ gateway: "10.0.0.255" }, "gateway"],
    [{ dhcp: { start: "10.0.0.100", end: "10.0.1.5" } }, "dhcp.end"],
    [{ dhcp: { start: "10.0.0.200", end: "10.0.0.100" } }, "dhcp.end"],
    [{ dhcp: { start: "10.0.0.1", end: "10.0.0.100" } }, "dhcp.start"],
    [{ dhcp: { start: "10.0.0.10" } }, "dhcp.end"],
  ])("cross-field check %j -> %s", (patch, path) => {
    const issues = issuesOf(() => resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", ...patch })));
    expect(issues.map((i) => i.path)).toContain(path);
  });
});

describe("resolveCreate, fully", () => {
  const noDhcp = { enabled: false, start: null, end: null, leaseTime: null };
  it("an isolated network keeps its subnet, gateway and pool", () => {
    expect(resolveCreate(parse({ name: "back", type: "isolated", cidr: "10.0.0.0/24", dhcp: false }))).toEqual({
      name: "back",
      type: "isolated",
      description: "",
      autostart: true,
      start: true,
      requestedHost: null,
      cidr: "10.0.0.0/24",
      gateway: "10.0.0.1",
      dhcp: noDhcp,
    });
    expect(resolveCreate(parse({ name: "back", type: "isolated", cidr: "10.0.0.0/24" })).dhcp).toEqual({
      enabled: true,
      start: "10.0.0.128",
      end: "10.0.0.254",
      leaseTime: 3600,
    });
  });
  it("bridge and sriov networks have no subnet, gateway or DHCP, and keep what was asked", () => {
    const base = { description: "uplink", autostart: false, start: false, host: "hv-1" };
    expect(resolveCreate(parse({ name: "lan", type: "bridge", interface: "eth1", ...base }))).toEqual({
      name: "lan",
      type: "bridge",
      description: "uplink",
      autostart: false,
      start: false,
      requestedHost: "hv-1",
      cidr: null,
      gateway: null,
      dhcp: noDhcp,
      l2: { kind: "interface", interface: "eth1" },
    });
    expect(resolveCreate(parse({ name: "fast", type: "sriov", pf: "enp3s0f0" }))).toMatchObject({
      type: "sriov",
      cidr: null,
      gateway: null,
      dhcp: noDhcp,
      l2: { kind: "sriov", pf: "enp3s0f0", vfs: null, vlan: null },
    });
    expect(resolveCreate(parse({ name: "fast", type: "sriov", pf: "enp3s0f0", vfs: 4, vlan: 100 })).l2).toEqual({
      kind: "sriov",
      pf: "enp3s0f0",
      vfs: 4,
      vlan: 100,
    });
    expect(resolveCreate(parse({ name: "lan", type: "bridge", bridge: "br0" })).l2).toEqual({ kind: "bridge", bridge: "br0" });
  });
  it("a bridge network names exactly one of interface and bridge", () => {
    expect(() => resolveCreate(parse({ name: "lan", type: "bridge" }))).toThrow(/needs interface \(a NIC\) or bridge/);
    expect(() => resolveCreate(parse({ name: "lan", type: "bridge", interface: "eth1", bridge: "br0" }))).toThrow(/not both/);
  });
  it("accepts every usable address as an explicit gateway, and moves the default pool off it", () => {
    for (const gw of ["10.0.0.1", "10.0.0.2", "10.0.0.127", "10.0.0.253"]) {
      expect(resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", gateway: gw, dhcp: false })).gateway).toBe(gw);
    }
    expect(resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", gateway: "10.0.0.254" }))).toMatchObject({
      gateway: "10.0.0.254",
      dhcp: { enabled: true, start: "10.0.0.128", end: "10.0.0.253" },
    });
  });
  it("takes an explicit range and lease time as given, a single address too", () => {
    const r = resolveCreate(
      parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", dhcp: { start: "10.0.0.10", end: "10.0.0.10", leaseTime: 120 } }),
    );
    expect(r.dhcp).toEqual({ enabled: true, start: "10.0.0.10", end: "10.0.0.10", leaseTime: 120 });
    expect(resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", dhcp: { leaseTime: 31_536_000 } })).dhcp.leaseTime).toBe(
      31_536_000,
    );
    expect(resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", dhcp: {} })).dhcp).toMatchObject({ start: "10.0.0.128" });
  });
  it("says exactly what is wrong with each relation", () => {
    const issues = (patch: object) => issuesOf(() => resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", ...patch })));
    expect(issues({ gateway: "10.0.1.1" })).toEqual([{ path: "gateway", message: "must be inside 10.0.0.0/24" }]);
    expect(issues({ gateway: "10.0.0.0" })).toEqual([{ path: "gateway", message: "must not be the network or broadcast address" }]);
    expect(issues({ gateway: "10.0.0.255" })).toEqual([{ path: "gateway", message: "must not be the network or broadcast address" }]);
    expect(issues({ dhcp: { start: "10.0.0.10" } })).toContainEqual({ path: "dhcp.end", message: "give both start and end, or neither" });
    expect(issues({ dhcp: { end: "10.0.0.10" } })).toContainEqual({ path: "dhcp.start", message: "give both start and end, or neither" });
    expect(issues({ gateway: "10.0.0.254", dhcp: { start: "10.0.0.0", end: "10.0.0.20" } })).toEqual([
      { path: "dhcp.start", message: "must be a usable address of 10.0.0.0/24" },
    ]);
    expect(issues({ dhcp: { start: "10.0.0.10", end: "10.0.0.255" } })).toEqual([
      { path: "dhcp.end", message: "must be a usable address of 10.0.0.0/24" },
    ]);
    expect(issues({ dhcp: { start: "10.0.0.255", end: "10.0.0.255" } })).toEqual([
      { path: "dhcp.start", message: "must be a usable address of 10.0.0.0/24" },
      { path: "dhcp.end", message: "must be a usable address of 10.0.0.0/24" },
    ]);
    expect(issues({ gateway: "10.0.0.254", dhcp: { start: "10.0.0.0", end: "10.0.0.0" } })).toEqual([
      { path: "dhcp.start", message: "must be a usable address of 10.0.0.0/24" },
      { path: "dhcp.end", message: "must be a usable address of 10.0.0.0/24" },
    ]);
    expect(
      resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", dhcp: { start: "10.0.0.254", end: "10.0.0.254" } })).dhcp.start,
    ).toBe("10.0.0.254");
    expect(issues({ dhcp: { start: "10.0.0.21", end: "10.0.0.20" } })).toEqual([{ path: "dhcp.end", message: "must not be below start" }]);
    expect(issues({ gateway: "10.0.0.20", dhcp: { start: "10.0.0.10", end: "10.0.0.20" } })).toEqual([
      { path: "dhcp.start", message: "range must not include the gateway 10.0.0.20" },
    ]);
    expect(issues({ gateway: "10.0.0.10", dhcp: { start: "10.0.0.10", end: "10.0.0.20" } })).toEqual([
      { path: "dhcp.start", message: "range must not include the gateway 10.0.0.10" },
    ]);
    expect(issues({ gateway: "10.0.1.1", dhcp: { start: "10.0.0.10" } }).map((i) => i.path)).toEqual(["gateway", "dhcp.end"]);
  });
  it("the error's message summarises the first problem", () => {
    try {
      resolveCreate(parse({ name: "web", type: "nat", cidr: "10.0.0.0/24", gateway: "10.0.1.1" }));
    } catch (e) {
      expect((e as AppError).message).toBe("invalid request: gateway: must be inside 10.0.0.0/24");
      expect((e as AppError).status).toBe(400);
    }
    expect(validationError([{ path: "", message: "x" }]).message).toBe("invalid request: body: x");
    expect(validationError([]).message).toBe("invalid request");
    expect(validationError([]).details).toEqual({ issues: [] });
  });
  it("checkDhcpRange uses the path prefix it is given (configure-network-dhcp has none)", () => {
    const c = parseCidrOrThrow("10.0.0.0/24");
    const ip = (s: string) => parseIPv4(s) as number;
    expect(checkDhcpRange(c, ip("10.0.0.1"), ip("10.0.0.20"), ip("10.0.0.10"))).toEqual([
      { path: "end", message: "must not be below start" },
    ]);
    expect(checkDhcpRange(c, ip("10.0.0.1"), ip("10.0.0.10"), ip("10.0.0.20"))).toEqual([]);
    expect(checkDhcpRange(c, ip("10.0.0.1"), ip("10.0.0.1"), ip("10.0.0.1"))).toHaveLength(1);
  });
});

describe("field shapes", () => {
  const ok = (patch: object) => CreateNetworkBody.safeParse({ name: "web", type: "nat", cidr: "10.0.0.0/24", ...patch }).success;
  const messageOf = (patch: object) =>
    CreateNetworkBody.safeParse({ name: "web", type: "nat", cidr: "10.0.0.0/24", ...patch }).error?.issues[0]?.message;
  it("a missing or unknown type is named in the operator's words, with the types there are", () => {
    const issuesOf = (body: object) => CreateNetworkBody.safeParse(body).error?.issues.map((i) => [i.path.join("."), i.message]);
    expect(issuesOf({ name: "web", cidr: "10.0.0.0/24" })).toEqual([
      ["type", "a network type is required: one of nat, bridge, isolated, sriov, overlay"],
    ]);
    expect(issuesOf({ name: "web", type: "vxlan" })).toEqual([
      ["type", '"vxlan" is not a network type: one of nat, bridge, isolated, sriov, overlay'],
    ]);
    // A body that is no object: not "a network type is required".
    for (const v of [null, "x", 42, []]) {
      expect(CreateNetworkBody.safeParse(v).error?.issues.map((i) => [i.code, i.message])).toEqual([
        ["invalid_type", `Invalid input: expected object, received ${v === null ? "null" : Array.isArray(v) ? "array" : typeof v}`],
      ]);
    }
    // The subnet a body claims: the routed types' cidr; none for the types on a LAN.
    expect(subnetOfBody({ name: "web", type: "nat", cidr: "10.0.0.0/24" })).toBe("10.0.0.0/24");
    expect(subnetOfBody({ name: "web", type: "isolated", cidr: "10.0.1.0/24" })).toBe("10.0.1.0/24");
    expect(subnetOfBody({ name: "lan", type: "bridge", interface: "eth1" })).toBeNull();
    expect(subnetOfBody({ name: "fast", type: "sriov", pf: "eth2" })).toBeNull();
    // A known type's own fields keep their own messages.
    expect(messageOf({ gateway: "x" })).toBe("must be an IPv4 address like 192.168.100.1");
  });
  it("prefix lengths 8 and 30 are the bounds", () => {
    expect(ok({ cidr: "10.0.0.0/8" })).toBe(true);
    expect(ok({ cidr: "10.0.0.0/30" })).toBe(true);
    expect(messageOf({ cidr: "10.0.0.0/7" })).toBe("prefix length 7 is out of range: must be 8-30");
    expect(messageOf({ cidr: "10.0.0.0/31" })).toBe("prefix length 31 is out of range: must be 8-30");
    // Past /32 the text is no subnet at all, yet the wrong part is the prefix: say so.
    expect(messageOf({ cidr: "10.0.0.0/33" })).toBe("prefix length 33 is out of range: must be 8-30");
    expect(messageOf({ cidr: "10.0.0.0" })).toBe("must be an IPv4 subnet like 192.168.100.0/24");
    expect(messageOf({ cidr: "100.100.100.100/32x" })).toBe("must be an IPv4 subnet like 192.168.100.0/24");
    expect(messageOf({ cidr: "10.0.0.5/24" })).toBe("host bits must be zero: did you mean 10.0.0.0/24?");
  });
  it("refuses reserved subnets saying which range and why", () => {
    expect(messageOf({ cidr: "224.0.0.0/24" })).toBe(
      "must not use a reserved range: 224.0.0.0/24 overlaps 224.0.0.0/4 (multicast): multicast group addresses, not host addresses (RFC 5771)",
    );
    expect(ok({ cidr: "223.255.255.0/24" })).toBe(true);
  });
  it("names: a letter first, then up to 31 of a-z 0-9 -", () => {
    expect(ok({ name: "a" })).toBe(true);
    expect(ok({ name: `a${"-".repeat(31)}` })).toBe(true);
    expect(ok({ name: `a${"b".repeat(32)}` })).toBe(false);
    expect(ok({ name: "web!" })).toBe(false);
    expect(ok({ name: "!web" })).toBe(false);
    expect(messageOf({ name: "Web" })).toBe("must be 1-32 characters of a-z, 0-9 and '-', starting with a letter");
  });
  it("host ids: letters, digits, . _ -, not starting with a symbol, anchored at both ends", () => {
    expect(ok({ host: "hv-1.example_a" })).toBe(true);
    expect(ok({ host: "A".repeat(63) })).toBe(true);
    expect(ok({ host: "A".repeat(64) })).toBe(false);
    expect(ok({ host: "-hv" })).toBe(false);
    expect(ok({ host: "hv 1" })).toBe(false);
    expect(ok({ host: "hv/" })).toBe(false);
    expect(messageOf({ host: "" })).toBe("must be 1-63 characters of letters, digits, '.', '_' and '-'");
  });
  it("addresses: a 15-character dotted quad at most, with a message", () => {
    expect(ok({ gateway: "100.100.100.100" })).toBe(true);
    expect(messageOf({ gateway: "100.100.100.1000" })).toBe("must be an IPv4 address like 192.168.100.1");
    expect(messageOf({ gateway: "10.0.0" })).toBe("must be an IPv4 address like 192.168.100.1");
  });
  it("lease time is 120 s to one year", () => {
    expect(ok({ dhcp: { leaseTime: 120 } })).toBe(true);
    expect(ok({ dhcp: { leaseTime: 119 } })).toBe(false);
    expect(ok({ dhcp: { leaseTime: 31_536_000 } })).toBe(true);
    expect(ok({ dhcp: { leaseTime: 31_536_001 } })).toBe(false);
    expect(ok({ dhcp: { leaseTime: 600.5 } })).toBe(false);
    expect(ok({ dhcp: true })).toBe(false);
    expect(ok({ dhcp: { start: "10.0.0.10", end: "10.0.0.20", extra: 1 } })).toBe(false);
  });
  it("description: up to 256 characters of operator text", () => {
    expect(ok({ description: "d".repeat(256) })).toBe(true);
    expect(ok({ description: "d".repeat(257) })).toBe(false);
    expect(messageOf({ description: "a\uFFFEb" })).toBe("must not contain U+FFFE (a Unicode noncharacter) at position 2");
  });
  it("booleans are booleans", () => {
    expect(ok({ autostart: false, start: false })).toBe(true);
    expect(ok({ autostart: "yes" })).toBe(false);
  });
  it("bridge: an interface or bridge name of 1-15 safe characters", () => {
    const bridge = (patch: object) => CreateNetworkBody.safeParse({ name: "lan", type: "bridge", ...patch });
    expect(bridge({ interface: "enp3s0f0.100" }).success).toBe(true);
    expect(bridge({ bridge: "br0" }).success).toBe(true);
    expect(bridge({ interface: "a".repeat(15) }).success).toBe(true);
    expect(bridge({ interface: "a".repeat(16) }).error?.issues[0]?.message).toBe("must be an interface name");
    expect(bridge({ bridge: "br 0" }).error?.issues[0]?.message).toBe("must be a bridge name");
    expect(bridge({ bridge: "" }).success).toBe(false);
    expect(bridge({ cidr: "10.0.0.0/24" }).success).toBe(false);
  });
  it("sriov: a PF, 1-256 VFs, VLAN 1-4094", () => {
    const sriov = (patch: object) => CreateNetworkBody.safeParse({ name: "fast", type: "sriov", pf: "enp3s0f0", ...patch }).success;
    expect(sriov({ vfs: 1, vlan: 1 })).toBe(true);
    expect(sriov({ vfs: 256, vlan: 4094 })).toBe(true);
    expect(sriov({ vfs: 0 })).toBe(false);
    expect(sriov({ vfs: 257 })).toBe(false);
    expect(sriov({ vlan: 0 })).toBe(false);
    expect(sriov({ vlan: 4095 })).toBe(false);
    expect(sriov({ pf: "enp 3" })).toBe(false);
    expect(CreateNetworkBody.safeParse({ name: "fast", type: "sriov", pf: "x".repeat(16) }).error?.issues[0]?.message).toBe(
      "must be an interface name",
    );
  });
  it("all five types are implemented", () => {
    expect(NETWORK_TYPES).toEqual(["nat", "bridge", "isolated", "sriov", "overlay"]);
    expect([...IMPLEMENTED_TYPES].sort()).toEqual(["bridge", "isolated", "nat", "overlay", "sriov"]);
    expect([MIN_LEASE_SECONDS, MAX_LEASE_SECONDS, DEFAULT_LEASE_SECONDS]).toEqual([120, 31_536_000, 3600]);
  });
});
