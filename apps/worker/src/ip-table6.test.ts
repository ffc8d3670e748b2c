import { describe, expect, it } from "vitest";
import { macOfDuid, parseLeaseRows } from "./host/leases";
import { mergeIpTable, parseNeighbours6 } from "./ip-table";

// list-network-ips with IPv6 (ADR 0045, second slice): DHCPv6 leases from libvirt's status file, IPv6
// reservations by DUID, SLAAC addresses from the bridge's neighbour table.

const NOW = Date.parse("2026-12-07T04:00:00Z");
const later = NOW / 1000 + 600;
const DUID = "00:03:00:01:52:54:00:00:00:02";

describe("libvirt's status file with DHCPv6 leases", () => {
  it("keeps a DHCPv6 row without a MAC (client-id is the DUID, iaid kept); the MAC from a DUID-LL/LLT", () => {
    const rows = parseLeaseRows(
      [
        { "ip-address": "10.1.0.150", "mac-address": "52:54:00:00:00:99", hostname: "a", "expiry-time": later },
        { iaid: "1234", "ip-address": "fd10:1::10", "client-id": DUID.toUpperCase(), hostname: "b", "expiry-time": later },
        {
          iaid: 7,
          "ip-address": "fd10:1::11",
          "mac-address": "52:54:00:00:00:07",
          "client-id": "00:02:00:00:ab:11:01",
          "expiry-time": later,
        },
        { iaid: 8, "ip-address": "fd10:1::12", "client-id": "00:02:00:00:ab:11:02", "expiry-time": NOW / 1000 - 1 },
        { "ip-address": "fd10:1::13", "expiry-time": later },
      ],
      NOW,
    );
    expect(rows).toEqual([
      { ip: "10.1.0.150", mac: "52:54:00:00:00:99", hostname: "a", expiresAt: later * 1000 },
      { ip: "fd10:1::10", mac: "52:54:00:00:00:02", hostname: "b", expiresAt: later * 1000, duid: DUID, iaid: "1234" },
      { ip: "fd10:1::11", mac: "52:54:00:00:00:07", hostname: null, expiresAt: later * 1000, duid: "00:02:00:00:ab:11:01", iaid: "7" },
    ]);
  });
  it("macOfDuid: DUID-LL and DUID-LLT of Ethernet only", () => {
    expect(macOfDuid(DUID)).toBe("52:54:00:00:00:02");
    expect(macOfDuid("00:01:00:01:2a:bc:de:f0:52:54:00:00:00:03")).toBe("52:54:00:00:00:03");
    expect(macOfDuid("00:02:00:00:ab:11:01")).toBeNull();
    expect(macOfDuid("00:03:00:06:52:54:00:00:00:02")).toBeNull();
  });
});

describe("the bridge's IPv6 neighbours", () => {
  it("entries with a MAC, not FAILED or INCOMPLETE", () => {
    const out = JSON.stringify([
      { dst: "fd10:1::5054:ff:fe00:5", dev: "nf-web", lladdr: "52:54:00:00:00:05", state: ["REACHABLE"] },
      { dst: "fe80::5054:ff:fe00:5", dev: "nf-web", lladdr: "52:54:00:00:00:05", state: ["STALE"] },
      { dst: "fd10:1::9", dev: "nf-web", state: ["FAILED"] },
      { dst: "fd10:1::8", dev: "nf-web", lladdr: "52:54:00:00:00:08", state: ["INCOMPLETE"] },
    ]);
    expect(parseNeighbours6(out)).toEqual([
      { ip: "fd10:1::5054:ff:fe00:5", mac: "52:54:00:00:00:05" },
      { ip: "fe80::5054:ff:fe00:5", mac: "52:54:00:00:00:05" },
    ]);
    expect(parseNeighbours6("not json")).toEqual([]);
  });
});

describe("mergeIpTable with IPv6", () => {
  const spec = {
    reservations: [{ mac: "52:54:00:00:00:01", ip: "10.1.0.10", hostname: "db" }],
    reservations6: [
      { duid: DUID, ip: "fd10:1::10", hostname: "b" },
      { duid: "00:03:00:01:52:54:00:00:00:04", ip: "fd10:1::40", hostname: null },
    ],
    ipv6: {
      cidr: "fd10:1::/64",
      gateway: "fd10:1::1",
      mode: "dhcpv6" as const,
      dhcp: { start: "fd10:1::100", end: "fd10:1::1ff", leaseTime: 600 },
      routed: false,
    },
  };
  const leases = [
    { ip: "fd10:1::10", mac: "52:54:00:00:00:02", hostname: "b", expiresAt: later * 1000, duid: DUID, iaid: "1234" },
    { ip: "10.1.0.150", mac: "52:54:00:00:00:02", hostname: "b", expiresAt: later * 1000 },
  ];
  const owners = new Map([
    ["52:54:00:00:00:02", "vm-b"],
    ["52:54:00:00:00:05", "vm-s"],
  ]);
  const neighbours = [
    { ip: "fd10:1::5054:ff:fe00:5", mac: "52:54:00:00:00:05" },
    { ip: "fd10:1::10", mac: "52:54:00:00:00:02" }, // the DHCPv6 lease's address: listed once
    { ip: "fd10:1::1", mac: "52:54:00:00:00:aa" }, // the gateway
    { ip: "fe80::1", mac: "52:54:00:00:00:05" }, // link-local
    { ip: "fd99::5", mac: "52:54:00:00:00:05" }, // outside the prefix
  ];
  it("lists the DHCPv6 lease (reserved: static) with DUID and IAID, the unleased reservation, the SLAAC address; IPv4 first", () => {
    expect(mergeIpTable(spec, leases, owners, neighbours)).toEqual([
      { ip: "10.1.0.10", mac: "52:54:00:00:00:01", vmName: null, hostname: "db", static: true, leaseExpiresAt: null },
      {
        ip: "10.1.0.150",
        mac: "52:54:00:00:00:02",
        vmName: "vm-b",
        hostname: "b",
        static: false,
        leaseExpiresAt: new Date(later * 1000).toISOString(),
      },
      {
        ip: "fd10:1::10",
        mac: "52:54:00:00:00:02",
        vmName: "vm-b",
        hostname: "b",
        static: true,
        leaseExpiresAt: new Date(later * 1000).toISOString(),
        duid: DUID,
        iaid: "1234",
      },
      {
        ip: "fd10:1::40",
        mac: "52:54:00:00:00:04",
        vmName: null,
        hostname: null,
        static: true,
        leaseExpiresAt: null,
        duid: "00:03:00:01:52:54:00:00:00:04",
      },
      {
        ip: "fd10:1::5054:ff:fe00:5",
        mac: "52:54:00:00:00:05",
        vmName: "vm-s",
        hostname: null,
        static: false,
        leaseExpiresAt: null,
        slaac: true,
      },
    ]);
  });
  it("a network without IPv6 lists no neighbour", () => {
    const rows = mergeIpTable({ reservations: [] }, [], owners, neighbours);
    expect(rows).toEqual([]);
  });
});
