import { type NetSpec, parseNetworkXml, renderNetworkXml } from "@netforge/core/model";
import { describe, expect, it } from "vitest";
import type { CatalogEntry } from "../host/network-catalog";
import { mergeIpTable } from "../ip-table";
import { natDriver } from "./nat";
import { overlayDriver } from "./overlay";

const spec: NetSpec = {
  type: "nat",
  name: "web",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-web",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.1",
  dhcp: { enabled: true, start: "10.1.0.100", end: "10.1.0.200", leaseTime: 300 },
  reservations: [{ mac: "52:54:00:00:00:01", ip: "10.1.0.10", hostname: "db" }],
};
const entry = (s: NetSpec, active = true): CatalogEntry => ({
  name: s.name,
  active,
  autostart: true,
  persistent: true,
  def: parseNetworkXml(renderNetworkXml(s)),
});

describe("lostState: what a running network lost, from its live definition", () => {
  it("nothing when the live definition says what the spec says", () => {
    expect(natDriver.lostState(entry(spec), renderNetworkXml(spec))).toEqual([]);
  });
  it("a lost reservation, a lost lease time: re-added live from the spec", () => {
    const live = renderNetworkXml({ ...spec, reservations: [], dhcp: { ...spec.dhcp, leaseTime: 3600 } });
    const lost = natDriver.lostState(entry(spec), live);
    expect(lost.map((l) => l.what)).toEqual(["DHCP range 10.1.0.100-10.1.0.200 lease 300 s", "reservation 52:54:00:00:00:01 -> 10.1.0.10"]);
    expect(lost[1]?.commands).toEqual([
      ["net-update", "web", "add", "ip-dhcp-host", "<host mac='52:54:00:00:00:01' name='db' ip='10.1.0.10'/>", "--live"],
    ]);
    expect(lost[0]?.commands.map((c) => c[2])).toEqual(["delete", "add"]);
  });
  it("a lost IPv6 reservation: re-added live on the IPv6 <ip> (--parent-index 1); a changed one deleted first", () => {
    const duid = "00:03:00:01:52:54:00:00:00:02";
    const v6: NetSpec = {
      ...spec,
      ipv6: {
        cidr: "fd10:1::/64",
        gateway: "fd10:1::1",
        mode: "dhcpv6",
        dhcp: { start: "fd10:1::100", end: "fd10:1::1ff", leaseTime: 600 },
        routed: false,
      },
      reservations6: [{ duid, ip: "fd10:1::10", hostname: null }],
    };
    const { reservations6: _r, ...without } = v6 as NetSpec & { reservations6?: unknown };
    expect(natDriver.lostState(entry(v6), renderNetworkXml(v6))).toEqual([]);
    const lost = natDriver.lostState(entry(v6), renderNetworkXml(without as NetSpec));
    expect(lost).toEqual([
      {
        what: `IPv6 reservation ${duid} -> fd10:1::10`,
        commands: [["net-update", "web", "add", "ip-dhcp-host", `<host id='${duid}' ip='fd10:1::10'/>`, "--live", "--parent-index", "1"]],
      },
    ]);
    const moved = natDriver.lostState(
      entry(v6),
      renderNetworkXml({ ...v6, reservations6: [{ duid, ip: "fd10:1::11", hostname: null }] } as NetSpec),
    );
    expect(moved[0]?.commands.map((c) => [c[2], c[4]])).toEqual([
      ["delete", `<host id='${duid}' ip='fd10:1::11'/>`],
      ["add", `<host id='${duid}' ip='fd10:1::10'/>`],
    ]);
  });
  it("a stopped network has nothing live to lose", () => {
    expect(natDriver.lostState(entry(spec, false), renderNetworkXml({ ...spec, reservations: [] }))).toEqual([]);
  });
});

describe("an overlay's lostState: its gateway host's addressing part, as a nat network's", () => {
  const ov = (self: string): NetSpec => ({
    type: "overlay",
    name: "tenant",
    uuid: "7c1a3a0e-6f55-4a2c-9d7e-0a1b2c3d4e5f",
    description: "",
    createdAt: "2026-12-07T09:00:00.000Z",
    bridge: "nfov10000",
    cidr: "10.50.0.0/24",
    gateway: "10.50.0.1",
    dhcp: { enabled: true, start: "10.50.0.128", end: "10.50.0.254", leaseTime: 3600 },
    mtu: 1450,
    vni: 10000,
    gatewayHost: "hv2",
    nat: true,
    members: [
      { id: "hv1", ip: "172.30.9.1" },
      { id: "hv2", ip: "172.30.9.2" },
    ],
    self,
    reservations: [{ mac: "52:54:00:00:00:07", ip: "10.50.0.7", hostname: null }],
    dnsHosts: [{ ip: "10.50.0.7", names: ["db"] }],
  });
  it("on the gateway: a lost reservation and DNS record re-added live; on another member: nothing to lose", () => {
    const gw = ov("hv2");
    expect(overlayDriver.lostState(entry(gw), renderNetworkXml(gw))).toEqual([]);
    const { reservations: _r, dnsHosts: _d, ...bare } = gw as NetSpec & { reservations?: unknown; dnsHosts?: unknown };
    const lost = overlayDriver.lostState(entry(gw), renderNetworkXml(bare as NetSpec));
    expect(lost.map((l) => l.what)).toEqual(["reservation 52:54:00:00:00:07 -> 10.50.0.7", "DNS record db -> 10.50.0.7"]);
    expect(lost[0]?.commands).toEqual([
      ["net-update", "tenant", "add", "ip-dhcp-host", "<host mac='52:54:00:00:00:07' ip='10.50.0.7'/>", "--live"],
    ]);
    expect(overlayDriver.lostState(entry(ov("hv1")), renderNetworkXml(bare as NetSpec))).toEqual([]);
    expect(overlayDriver.lostState(entry(gw, false), renderNetworkXml(bare as NetSpec))).toEqual([]);
  });
});

describe("mergeIpTable", () => {
  it("merges leases with reservations, names MAC owners, orders by IP", () => {
    const leases = [
      { ip: "10.1.0.150", mac: "52:54:00:00:00:99", hostname: "dyn", expiresAt: Date.parse("2026-11-29T10:00:00Z") },
      { ip: "10.1.0.10", mac: "52:54:00:00:00:01", hostname: "db", expiresAt: Date.parse("2026-11-29T09:00:00Z") },
    ];
    const rows = mergeIpTable(spec, leases, new Map([["52:54:00:00:00:99", "vm-dyn"]]));
    expect(rows).toEqual([
      { ip: "10.1.0.10", mac: "52:54:00:00:00:01", vmName: null, hostname: "db", static: true, leaseExpiresAt: "2026-11-29T09:00:00.000Z" },
      {
        ip: "10.1.0.150",
        mac: "52:54:00:00:00:99",
        vmName: "vm-dyn",
        hostname: "dyn",
        static: false,
        leaseExpiresAt: "2026-11-29T10:00:00.000Z",
      },
    ]);
    expect(mergeIpTable(spec, [], new Map())).toEqual([
      { ip: "10.1.0.10", mac: "52:54:00:00:00:01", vmName: null, hostname: "db", static: true, leaseExpiresAt: null },
    ]);
  });
});
