import { type NetSpec, parseNetworkXml, renderNetworkXml } from "@netforge/core/model";
import { describe, expect, it } from "vitest";
import type { CatalogEntry } from "../host/network-catalog";
import { mergeIpTable } from "../ip-table";
import { natDriver } from "./nat";

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
  it("a stopped network has nothing live to lose", () => {
    expect(natDriver.lostState(entry(spec, false), renderNetworkXml({ ...spec, reservations: [] }))).toEqual([]);
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
