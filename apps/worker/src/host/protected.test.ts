/** What the host must keep reaching: read from `ip -j route show table all`, resolv.conf and sockets; checked like any occupied subnet. */
import { describe, expect, it } from "vitest";
import { assertNoOverlap, occupiedSubnets } from "./host-checks";
import { type HostLink, parseIpRouteJson } from "./ip";
import type { CatalogEntry } from "./network-catalog";
import { nextHopsOf, parseResolvConf, peerIPv4 } from "./protected";

// A host with eno1 192.168.1.10/24, a default route, a policy-routing table 100 whose default goes through a
// gateway no main-table route names, a multipath route, and netforge's nf-web bridge.
const ROUTES = JSON.stringify([
  { type: "unicast", dst: "default", gateway: "192.168.1.1", dev: "eno1", protocol: "static", flags: [] },
  { type: "unicast", dst: "192.168.1.0/24", dev: "eno1", protocol: "kernel", scope: "link", prefsrc: "192.168.1.10", flags: [] },
  { type: "unicast", dst: "10.70.0.0/24", dev: "nf-web", protocol: "kernel", scope: "link", prefsrc: "10.70.0.1", flags: ["linkdown"] },
  { type: "unicast", dst: "default", gateway: "100.64.0.1", dev: "eno1", table: "100", flags: ["onlink"] },
  {
    type: "unicast",
    dst: "10.20.0.0/16",
    table: "100",
    nexthops: [
      { gateway: "172.16.9.1", dev: "eno1" },
      { gateway: "172.16.9.2", dev: "eno1" },
    ],
  },
  {
    type: "local",
    dst: "192.168.1.10",
    table: "local",
    dev: "eno1",
    protocol: "kernel",
    scope: "host",
    prefsrc: "192.168.1.10",
    flags: [],
  },
  {
    type: "broadcast",
    dst: "192.168.1.255",
    table: "local",
    dev: "eno1",
    protocol: "kernel",
    scope: "link",
    prefsrc: "192.168.1.10",
    flags: [],
  },
]);
const LINKS: HostLink[] = [
  { name: "lo", kind: "loopback", mac: null, state: "unknown", master: null, addresses: ["127.0.0.1/8"] },
  { name: "eno1", kind: null, mac: "aa:bb:cc:dd:ee:01", state: "up", master: null, addresses: ["192.168.1.10/24"] },
  { name: "nf-web", kind: "bridge", mac: "52:54:00:00:00:01", state: "down", master: null, addresses: ["10.70.0.1/24"] },
];
const CATALOG = [{ name: "web", active: true, def: { bridge: "nf-web", cidr: "10.70.0.0/24" } }] as unknown as CatalogEntry[];
const ENDPOINTS = [
  { ip: "10.1.2.3", what: "this host's Redis" },
  { ip: "203.0.113.7", what: "the netforge API" },
  { ip: "8.8.8.8", what: "a DNS resolver of this host (/etc/resolv.conf)" },
  { ip: "10.70.0.53", what: "a DNS resolver of this host (/etc/resolv.conf)" },
];

describe("ip -j route show table all", () => {
  it("keeps every table's routes with their table and next hops, default routes included, broadcast entries dropped", () => {
    expect(parseIpRouteJson(ROUTES)).toEqual([
      { dst: "default", dev: "eno1", table: null, gateways: ["192.168.1.1"] },
      { dst: "192.168.1.0/24", dev: "eno1", table: null, gateways: [] },
      { dst: "10.70.0.0/24", dev: "nf-web", table: null, gateways: [] },
      { dst: "default", dev: "eno1", table: "100", gateways: ["100.64.0.1"] },
      { dst: "10.20.0.0/16", dev: "eno1", table: "100", gateways: ["172.16.9.1", "172.16.9.2"] },
      { dst: "192.168.1.10/32", dev: "eno1", table: "local", gateways: [] },
    ]);
  });

  it("next hops of every table, not through netforge's bridges", () => {
    expect(nextHopsOf(parseIpRouteJson(ROUTES), new Set(["nf-web"])).map((p) => `${p.ip}: ${p.what}`)).toEqual([
      "192.168.1.1: next hop of this host's default route via eno1",
      "100.64.0.1: next hop of this host's default route via eno1, table 100",
      "172.16.9.1: next hop of this host's route to 10.20.0.0/16 via eno1, table 100",
      "172.16.9.2: next hop of this host's route to 10.20.0.0/16 via eno1, table 100",
    ]);
  });
});

describe("protected addresses", () => {
  const occupied = occupiedSubnets(LINKS, parseIpRouteJson(ROUTES), CATALOG, undefined, ENDPOINTS);
  const refusal = (cidr: string) => {
    try {
      assertNoOverlap(cidr, "h1", occupied);
      return null;
    } catch (err) {
      return err as { code: string; message: string; details: Record<string, unknown> };
    }
  };

  it("are listed as /32 unless a subnet already listed (or one of our networks) holds them", () => {
    expect(occupied.filter((o) => o.cidr.endsWith("/32") && !o.owner.startsWith("route"))).toEqual([
      { owner: "10.1.2.3, this host's Redis", cidr: "10.1.2.3/32" },
      { owner: "203.0.113.7, the netforge API", cidr: "203.0.113.7/32" },
      { owner: "8.8.8.8, a DNS resolver of this host (/etc/resolv.conf)", cidr: "8.8.8.8/32" },
      { owner: "100.64.0.1, next hop of this host's default route via eno1, table 100", cidr: "100.64.0.1/32" },
      { owner: "172.16.9.1, next hop of this host's route to 10.20.0.0/16 via eno1, table 100", cidr: "172.16.9.1/32" },
      { owner: "172.16.9.2, next hop of this host's route to 10.20.0.0/16 via eno1, table 100", cidr: "172.16.9.2/32" },
    ]);
    // Routes of other tables occupy their subnets like table main's.
    expect(occupied).toContainEqual({ owner: "route via eno1 (table 100)", cidr: "10.20.0.0/16" });
  });

  it.each([
    ["10.0.0.0/8", "10.0.0.0/8 contains 10.1.2.3, this host's Redis (host h1)"],
    ["8.8.8.0/24", "8.8.8.0/24 contains 8.8.8.8, a DNS resolver of this host (/etc/resolv.conf) (host h1)"],
    ["100.64.0.0/10", "100.64.0.0/10 contains 100.64.0.1, next hop of this host's default route via eno1, table 100 (host h1)"],
    ["203.0.113.0/24", "203.0.113.0/24 contains 203.0.113.7, the netforge API (host h1)"],
    ["172.16.9.0/30", "172.16.9.0/30 contains 172.16.9.1, next hop of this host's route to 10.20.0.0/16 via eno1, table 100"],
    ["10.20.1.0/24", "10.20.1.0/24 overlaps route via eno1 (table 100) (10.20.0.0/16) on host h1"],
  ])("%s is refused with CIDR_CONFLICT naming what it would cut off", (cidr, message) => {
    const err = refusal(cidr);
    expect(err?.code).toBe("CIDR_CONFLICT");
    expect(err?.message).toContain(message);
  });

  it("a subnet clear of all of them passes", () => {
    expect(refusal("10.2.0.0/16")).toBeNull();
    expect(refusal("172.16.10.0/24")).toBeNull();
  });
});

describe("reading the endpoints", () => {
  it("resolv.conf: IPv4 nameservers, once each", () => {
    expect(
      parseResolvConf(
        "# x\nsearch lan\nnameserver 10.255.255.53\n  nameserver 10.255.255.53\nnameserver fd00::1\nnameserver 1.1.1.1 # c\n",
      ),
    ).toEqual(["10.255.255.53", "1.1.1.1"]);
  });

  it("a socket's IPv4 peer, unwrapped; none for unix sockets, IPv6 and loopback", () => {
    expect(peerIPv4("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(peerIPv4("10.1.2.3")).toBe("10.1.2.3");
    expect(peerIPv4(undefined)).toBeNull();
    expect(peerIPv4("127.0.0.1")).toBeNull();
    expect(peerIPv4("fd00::5")).toBeNull();
  });
});
