import { describe, expect, it } from "vitest";
import {
  floodLimitRemoteScript,
  floodEntry,
  overlayGatewayMac,
  overlayMtu,
  unicastEntry,
  vxlanDeviceName,
  vxlanDeviceSetup,
  vxlanDeviceTeardown,
  vxlanGuardChain,
  vxlanGuardRules,
} from "./vxlan";

describe("VXLAN commands of an overlay member", () => {
  it("a device per VNI, no learning, port 4789, enslaved to the overlay's bridge with the overlay MTU", () => {
    expect(vxlanDeviceSetup({ vni: 4242, local: "172.31.0.3", bridge: "nf-tenant", mtu: 1450 })).toEqual([
      ["link", "add", "nfvx4242", "type", "vxlan", "id", "4242", "local", "172.31.0.3", "dstport", "4789", "nolearning"],
      ["link", "set", "nfvx4242", "mtu", "1450"],
      ["link", "set", "nfvx4242", "master", "nf-tenant"],
      ["link", "set", "dev", "nfvx4242", "type", "bridge_slave", "learning", "off", "neigh_suppress", "on"],
      ["link", "set", "nfvx4242", "up"],
    ]);
    expect(vxlanDeviceTeardown(4242)).toEqual(["link", "del", "nfvx4242"]);
  });

  it("one flood entry per other member, a static unicast entry per known MAC", () => {
    expect(floodEntry(7, "172.31.0.4")).toEqual(["fdb", "append", "00:00:00:00:00:00", "dev", "nfvx7", "dst", "172.31.0.4"]);
    expect(unicastEntry(7, "02:4e:46:00:00:01", "172.31.0.4")).toEqual([
      "fdb",
      "replace",
      "02:4e:46:00:00:01",
      "dev",
      "nfvx7",
      "dst",
      "172.31.0.4",
      "static",
    ]);
  });

  it("refuses to render anything it was not meant to (the caller validated; this is the last guard)", () => {
    expect(() => vxlanDeviceName(0)).toThrow(/VNI 0/);
    expect(() => vxlanDeviceName(16_777_216)).toThrow(/VNI/);
    expect(() => vxlanDeviceName(1.5)).toThrow(/VNI/);
    expect(() => floodEntry(7, "172.31.0.4; reboot")).toThrow(/remote/);
    expect(() => unicastEntry(7, "00:00:00:00:00:00", "172.31.0.4")).toThrow(/MAC/);
    expect(() => unicastEntry(7, "02:4E:46:00:00:01", "172.31.0.4")).toThrow(/MAC/);
    expect(() => vxlanDeviceSetup({ vni: 7, local: "::1", bridge: "nf-x", mtu: 1450 })).toThrow(/local/);
    expect(() => vxlanDeviceSetup({ vni: 7, local: "172.31.0.3", bridge: "nf x", mtu: 1450 })).toThrow(/bridge/);
    expect(() => vxlanDeviceSetup({ vni: 7, local: "172.31.0.3", bridge: "nf-x", mtu: 100 })).toThrow(/MTU/);
  });

  it("the overlay MTU is the smallest member underlay MTU less the VXLAN overhead (50 over IPv4, 70 over IPv6)", () => {
    expect(overlayMtu([1500, 9000, 1600])).toBe(1450);
    expect(overlayMtu([9000], true)).toBe(8930);
    expect(() => overlayMtu([])).toThrow(/no member/);
  });
});

describe("the VXLAN guard", () => {
  it("drops an overlay's VNI unless its outer source is one of its members (matched in the raw VXLAN header)", () => {
    expect(
      vxlanGuardRules([
        { name: "tenant-a", vni: 4242, members: ["172.31.0.2", "172.31.0.1", "172.31.0.2"] },
        { name: "tenant-b", vni: 10001, members: ["172.31.0.3"] },
      ]),
    ).toEqual([
      'udp dport 4789 @th,96,24 4242 ip saddr != { 172.31.0.1, 172.31.0.2 } counter drop comment "overlay tenant-a: VNI 4242 only from its member hosts"',
      'udp dport 4789 @th,96,24 10001 ip saddr != { 172.31.0.3 } counter drop comment "overlay tenant-b: VNI 10001 only from its member hosts"',
    ]);
    expect(vxlanGuardChain([{ name: "t", vni: 7, members: ["172.31.0.1"] }])).toBe(
      [
        "\tchain vxlan-guard {",
        "\t\ttype filter hook prerouting priority raw; policy accept;",
        '\t\tudp dport 4789 @th,96,24 7 ip saddr != { 172.31.0.1 } counter drop comment "overlay t: VNI 7 only from its member hosts"',
        "\t}",
      ].join("\n"),
    );
  });
  it("refuses what it was not meant to render", () => {
    expect(() => vxlanGuardRules([{ name: "t", vni: 7, members: [] }])).toThrow(/members/);
    expect(() => vxlanGuardRules([{ name: "t", vni: 7, members: ["172.31.0.1 } accept"] }])).toThrow(/members/);
    expect(() => vxlanGuardRules([{ name: 'a" drop', vni: 7, members: ["172.31.0.1"] }])).toThrow(/overlay name/);
    expect(() => vxlanGuardChain([], "x; flush ruleset")).toThrow(/chain/);
  });
});

describe("the flood limit's known MACs", () => {
  it("replaced in one transaction; a malformed MAC refused", () => {
    expect(floodLimitRemoteScript(7, ["52:54:00:00:00:02", "52:54:00:00:00:01"])).toBe(
      "flush set bridge netforge-fl7 remote\nadd element bridge netforge-fl7 remote { 52:54:00:00:00:01, 52:54:00:00:00:02 }\n",
    );
    expect(floodLimitRemoteScript(7, [])).toBe("flush set bridge netforge-fl7 remote\n");
    expect(() => floodLimitRemoteScript(7, ["52:54:00:00:00:01 }; flush ruleset"])).toThrow(/MAC/);
  });
});

describe("overlayGatewayMac", () => {
  it("a locally administered unicast MAC from the VNI's three bytes, one per VNI", () => {
    expect(overlayGatewayMac(10000)).toBe("06:4e:46:00:27:10");
    expect(overlayGatewayMac(1)).toBe("06:4e:46:00:00:01");
    expect(overlayGatewayMac(16_777_215)).toBe("06:4e:46:ff:ff:ff");
    expect(overlayGatewayMac(10001)).not.toBe(overlayGatewayMac(10000));
    expect(() => overlayGatewayMac(0)).toThrow(/VNI/);
  });
});
