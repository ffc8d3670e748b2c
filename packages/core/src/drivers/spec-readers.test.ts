import { describe, expect, it } from "vitest";
import type { ParsedNetwork } from "../render/network-xml";
import type { MetaNode } from "../render/xml-metadata";
import type { NetworkType } from "../schemas/network";
import { isRouted, type RoutedNetSpec } from "./routed";
import { readSpec } from "./spec-readers";

// readSpec over metadata nodes in the parser's shape (attributes as "@name", text as strings), with what
// libvirt's own elements said beside it: each branch of "complete the spec from libvirt's elements" alone.

const UUID = "0b6e5c2a-7f1e-4c1a-9a55-2c3d4e5f6a7b";
const parsed = (over: Partial<ParsedNetwork> = {}): ParsedNetwork => ({
  name: "web",
  uuid: UUID,
  managed: true,
  type: "nat",
  description: "d",
  createdAt: "2026-01-01T00:00:00.000Z",
  managedBy: null,
  mtu: null,
  forwardMode: "open",
  bridge: "nf-web",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.1",
  dhcp: null,
  hosts: [],
  hosts6: [],
  dnsHosts: [],
  spec: null,
  ...over,
});
const common = { name: "web", uuid: UUID, description: "d", createdAt: "2026-01-01T00:00:00.000Z" };
/** A nat network's spec read from `meta`; fails the test when it is none or not the routed shape. */
const routed = (meta: MetaNode, p: ParsedNetwork = parsed()): RoutedNetSpec => {
  const spec = readSpec("nat", meta, p);
  if (!spec || !isRouted(spec)) throw new Error(`no routed spec: ${JSON.stringify(spec)}`);
  return spec;
};
const off = { enabled: false, start: null, end: null, leaseTime: null };

describe("readSpec: bridge networks", () => {
  it("takes the bridge from the metadata first, then libvirt's <bridge>; neither is no spec", () => {
    expect(readSpec("bridge", { bridge: "br-meta" }, parsed({ bridge: "br-libvirt" }))).toMatchObject({ bridge: "br-meta" });
    expect(readSpec("bridge", {}, parsed({ bridge: "br-libvirt" }))).toEqual({
      type: "bridge",
      ...common,
      bridge: "br-libvirt",
      interface: null,
      created: null,
    });
    expect(readSpec("bridge", {}, parsed({ bridge: null }))).toBeNull();
  });
  it("keeps the NIC's state before only with a whole MTU; an empty master is none", () => {
    const nic = { "@up": "yes", "@mtu": "1500", "@master": "" };
    expect(readSpec("bridge", { bridge: "br0", interface: "eth1", nic }, parsed())).toMatchObject({
      interface: "eth1",
      created: { nic: { up: true, mtu: 1500, master: null } },
    });
    expect(readSpec("bridge", { bridge: "br0", nic: { "@up": "no", "@mtu": "9000", "@master": "bond0" } }, parsed())).toMatchObject({
      created: { nic: { up: false, mtu: 9000, master: "bond0" } },
    });
    expect(readSpec("bridge", { bridge: "br0", nic: { "@up": "yes", "@mtu": "x" } }, parsed())).toMatchObject({ created: null });
    expect(readSpec("bridge", { bridge: "br0", nic: { "@up": "yes" } }, parsed())).toMatchObject({ created: null });
    expect(readSpec("bridge", { bridge: "br0", nic: { "@up": "yes", "@mtu": "" } }, parsed())).toMatchObject({ created: null });
  });
  it("writes an unknown creation time as empty", () => {
    expect(readSpec("bridge", { bridge: "br0" }, parsed({ createdAt: null }))).toMatchObject({ createdAt: "" });
  });
});

describe("readSpec: sriov networks", () => {
  it("needs the sriov node and its PF", () => {
    expect(readSpec("sriov", {}, parsed())).toBeNull();
    expect(readSpec("sriov", { sriov: { "@vfs": "4" } }, parsed())).toBeNull();
    expect(readSpec("sriov", { sriov: { "@pf": "enp1s0", "@vfs": "4", "@vlan": "12" } }, parsed())).toEqual({
      type: "sriov",
      ...common,
      pf: "enp1s0",
      vfs: 4,
      vlan: 12,
    });
    expect(readSpec("sriov", { sriov: { "@pf": "enp1s0" } }, parsed())).toMatchObject({ vfs: null, vlan: null });
  });
});

describe("readSpec: nat and isolated networks", () => {
  const full: MetaNode = { cidr: "10.2.0.0/24", gateway: "10.2.0.1", bridge: "nf-x" };
  it("takes subnet, gateway and bridge from the metadata, each completed from libvirt's elements", () => {
    expect(readSpec("nat", full, parsed())).toMatchObject({ cidr: "10.2.0.0/24", gateway: "10.2.0.1", bridge: "nf-x" });
    expect(readSpec("isolated", {}, parsed())).toMatchObject({
      type: "isolated",
      cidr: "10.1.0.0/24",
      gateway: "10.1.0.1",
      bridge: "nf-web",
    });
  });
  it("is no spec when any one of subnet, gateway and bridge is unknown", () => {
    expect(readSpec("nat", {}, parsed({ cidr: null }))).toBeNull();
    expect(readSpec("nat", {}, parsed({ gateway: null }))).toBeNull();
    expect(readSpec("nat", {}, parsed({ bridge: null }))).toBeNull();
  });
  it("reads DHCP from the metadata: on with its range (lease 3600 s when none is kept) or off", () => {
    const on = { "@enabled": "yes", "@start": "10.2.0.10", "@end": "10.2.0.20", "@leaseTime": "600" };
    expect(routed({ ...full, dhcp: on }, parsed()).dhcp).toEqual({
      enabled: true,
      start: "10.2.0.10",
      end: "10.2.0.20",
      leaseTime: 600,
    });
    const noLease = { "@enabled": "yes", "@start": "10.2.0.10", "@end": "10.2.0.20" };
    expect(routed({ ...full, dhcp: noLease }, parsed()).dhcp).toMatchObject({ leaseTime: 3600 });
    const libvirtRange = { start: "10.1.0.50", end: "10.1.0.60", leaseTime: 120 };
    expect(routed({ ...full, dhcp: { "@enabled": "no" } }, parsed({ dhcp: libvirtRange })).dhcp).toEqual(off);
  });
  it("without DHCP metadata (or an empty element) takes libvirt's range, or none", () => {
    const libvirtRange = { start: "10.1.0.50", end: "10.1.0.60", leaseTime: 120 };
    expect(routed(full, parsed({ dhcp: libvirtRange })).dhcp).toEqual({ enabled: true, ...libvirtRange });
    expect(routed({ ...full, dhcp: "" }, parsed({ dhcp: libvirtRange })).dhcp).toEqual({ enabled: true, ...libvirtRange });
    expect(routed(full, parsed()).dhcp).toEqual(off);
  });
  it("reads reservations kept in the metadata, skipping one without MAC or IP", () => {
    const reservation = [
      { "@mac": "52:54:00:00:00:01", "@ip": "10.2.0.5", "@hostname": "a" },
      { "@mac": "52:54:00:00:00:02", "@ip": "10.2.0.6" },
      { "@mac": "52:54:00:00:00:03" },
      { "@ip": "10.2.0.8" },
    ];
    const hosts = [{ mac: "52:54:00:00:00:09", ip: "10.1.0.9", hostname: "old" }];
    expect(routed({ ...full, reservation }, parsed({ hosts })).reservations).toEqual([
      { mac: "52:54:00:00:00:01", ip: "10.2.0.5", hostname: "a" },
      { mac: "52:54:00:00:00:02", ip: "10.2.0.6", hostname: null },
    ]);
  });
  it("with DHCP metadata kept, no reservation element means none (libvirt's hosts are not taken over)", () => {
    const hosts = [{ mac: "52:54:00:00:00:09", ip: "10.1.0.9", hostname: "old" }];
    expect(routed({ ...full, dhcp: { "@enabled": "no" } }, parsed({ hosts })).reservations).toEqual([]);
    // Metadata older than the kept spec (no DHCP, no reservations): libvirt's <host> entries are the reservations.
    expect(routed(full, parsed({ hosts })).reservations).toEqual(hosts);
  });
  it("reads port forwards in the element form and the compact list, in that order", () => {
    const spec = readSpec(
      "nat",
      {
        ...full,
        portForward: [
          { "@protocol": "tcp", "@hostPort": "8080", "@vmIp": "10.2.0.5", "@vmPort": "80" },
          { "@protocol": "icmp", "@hostPort": "1", "@vmIp": "10.2.0.5", "@vmPort": "1" },
        ],
        portForwards: "udp,53,10.2.0.6,5353,- tcp,2222,10.2.0.7,22,192.0.2.10",
      },
      parsed(),
    );
    expect(spec).toMatchObject({
      portForwards: [
        { protocol: "tcp", hostPort: 8080, vmIp: "10.2.0.5", vmPort: 80 },
        { protocol: "udp", hostPort: 53, vmIp: "10.2.0.6", vmPort: 5353 },
        { protocol: "tcp", hostPort: 2222, vmIp: "10.2.0.7", vmPort: 22, hostIp: "192.0.2.10" },
      ],
    });
    expect(readSpec("nat", full, parsed())).not.toHaveProperty("portForwards");
  });
  it("reads DNS records, names split at any run of spaces; a record without IP or names is skipped", () => {
    const dnsHost = [
      { "@ip": "10.2.0.5", "@names": "db  db.internal" },
      { "@ip": "10.2.0.6", "@names": "" },
      { "@ip": "10.2.0.7", "@names": "   " },
      { "@ip": "10.2.0.8" },
      { "@names": "orphan" },
    ];
    expect(routed({ ...full, dnsHost }, parsed()).dnsHosts).toEqual([{ ip: "10.2.0.5", names: ["db", "db.internal"] }]);
    expect(readSpec("nat", { ...full, dnsHost: [{ "@ip": "10.2.0.6", "@names": "" }] }, parsed())).not.toHaveProperty("dnsHosts");
  });
  it("keeps the spec fields whole: no firewall key without firewall metadata", () => {
    expect(readSpec("nat", full, parsed({ createdAt: null }))).toEqual({
      type: "nat",
      ...common,
      createdAt: "",
      bridge: "nf-x",
      cidr: "10.2.0.0/24",
      gateway: "10.2.0.1",
      dhcp: off,
      reservations: [],
    });
  });
});

describe("readSpec: a type this build does not know", () => {
  it("is read as the routed shape with its own type kept (a newer netforge's network still parses)", () => {
    const spec = readSpec("vpc" as NetworkType, { cidr: "10.3.0.0/24", gateway: "10.3.0.1", bridge: "nf-o" }, parsed());
    expect(spec).toMatchObject({ type: "vpc", cidr: "10.3.0.0/24", bridge: "nf-o" });
  });
});
