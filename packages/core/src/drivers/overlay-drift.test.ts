import { describe, expect, it } from "vitest";
import { overlaySpec } from "./__fixtures__/overlay-spec";
import type { OverlayNetSpec } from "./overlay";
import { floodLimitInPlace, floodLimitScript, guardInPlace, guardScript, type OverlayObserved, overlayDrift } from "./overlay-drift";

const spec = (self: string, members = ["172.30.9.1", "172.30.9.2", "172.30.9.3"]): OverlayNetSpec =>
  overlaySpec(self, { members: members.map((ip, i) => ({ id: `hv${i + 1}`, ip })) });

/** The guard as nft lists it (the VNI in hex, counters, sets sorted; one member: no braces). */
const guardText = (set: string, vni = "0x2710") =>
  [
    "table inet netforge-vx10000 {",
    "\tchain guard {",
    "\t\ttype filter hook prerouting priority raw; policy accept;",
    `\t\tudp dport 4789 @th,96,24 ${vni} ip saddr != ${set} counter packets 3 bytes 150 drop comment "overlay tenant-a: VNI 10000 only from its members"`,
    "\t}",
    "}",
    "",
  ].join("\n");

const healthy = (): OverlayObserved => ({
  bridge: { up: true },
  device: { master: "nfov10000", up: true, vni: 10000, local: "172.30.9.1", learning: false, portLearning: false, portNeighSuppress: true },
  floods: ["172.30.9.3", "172.30.9.2"],
  guard: guardText("{ 172.30.9.1, 172.30.9.2, 172.30.9.3 }"),
});
const cmds = (s: OverlayNetSpec, seen: OverlayObserved) =>
  overlayDrift(s, seen).map((r) => ({ what: r.what, commands: r.commands.map((c) => c.argv.join(" ")) }));

describe("an overlay part's drift", () => {
  it("nothing when everything is in place", () => {
    expect(overlayDrift(spec("hv1"), healthy())).toEqual([]);
  });

  it("a flood entry deleted: that one appended; one toward a non-member: deleted", () => {
    expect(cmds(spec("hv1"), { ...healthy(), floods: ["172.30.9.2", "172.30.9.9"] })).toEqual([
      { what: "flood entry to 172.30.9.3", commands: ["bridge fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.3"] },
      {
        what: "flood entry to 172.30.9.9 removed (not a member)",
        commands: ["bridge fdb del 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.9"],
      },
    ]);
  });

  it("the device gone: made again on the bridge with every flood entry (its entries went with it)", () => {
    expect(cmds(spec("hv1"), { ...healthy(), device: null, floods: [] })).toEqual([
      {
        what: "VXLAN device nfvx10000 with 2 flood entries",
        commands: [
          "ip link add nfvx10000 type vxlan id 10000 local 172.30.9.1 dstport 4789 nolearning",
          "ip link set nfvx10000 mtu 1450",
          "ip link set nfvx10000 master nfov10000",
          "ip link set dev nfvx10000 type bridge_slave learning off neigh_suppress on",
          "ip link set nfvx10000 up",
          "bridge fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.2",
          "bridge fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.3",
        ],
      },
    ]);
  });

  it("a device of that name that is not the spec's (learning on, another local address, not VXLAN): replaced", () => {
    for (const device of [
      { ...(healthy().device as NonNullable<OverlayObserved["device"]>), learning: true },
      { ...(healthy().device as NonNullable<OverlayObserved["device"]>), local: "172.30.9.7" },
      { master: null, up: false, vni: null, local: null, learning: null, portLearning: null },
    ]) {
      const r = cmds(spec("hv1"), { ...healthy(), device });
      expect(r).toHaveLength(1);
      expect(r[0]?.commands[0]).toBe("ip link del nfvx10000");
      expect(r[0]?.commands[1]).toBe("ip link add nfvx10000 type vxlan id 10000 local 172.30.9.1 dstport 4789 nolearning");
    }
  });

  it("the device off the bridge, down, or learning on its port: put back on it", () => {
    const dev = healthy().device as NonNullable<OverlayObserved["device"]>;
    expect(cmds(spec("hv1"), { ...healthy(), device: { ...dev, master: null, up: false } })).toEqual([
      {
        what: "VXLAN device nfvx10000 on bridge nfov10000",
        commands: [
          "ip link set nfvx10000 master nfov10000",
          "ip link set dev nfvx10000 type bridge_slave learning off neigh_suppress on",
          "ip link set nfvx10000 up",
        ],
      },
    ]);
    expect(cmds(spec("hv1"), { ...healthy(), device: { ...dev, portLearning: true } })[0]?.commands).toEqual([
      "ip link set dev nfvx10000 type bridge_slave learning off neigh_suppress on",
    ]);
  });

  it("ARP suppression off on the device's port: turned on again (an observation without the flag is not judged)", () => {
    const dev = healthy().device as NonNullable<ReturnType<typeof healthy>["device"]>;
    expect(cmds(spec("hv1"), { ...healthy(), device: { ...dev, portNeighSuppress: false } })[0]?.commands).toEqual([
      "ip link set dev nfvx10000 type bridge_slave learning off neigh_suppress on",
    ]);
    const { portNeighSuppress: _, ...older } = dev;
    expect(cmds(spec("hv1"), { ...healthy(), device: older })).toEqual([]);
  });

  it("a member's bridge gone: made again before its device; the gateway's (libvirt's) is not netforge's to make", () => {
    const r = cmds(spec("hv1"), { ...healthy(), bridge: null, device: null, floods: [] });
    expect(r.map((x) => x.what)).toEqual(["bridge nfov10000", "VXLAN device nfvx10000 with 2 flood entries"]);
    expect(r[0]?.commands).toEqual([
      "ip link add nfov10000 type bridge stp_state 0",
      "ip link set nfov10000 mtu 1450",
      "ip link set nfov10000 up",
    ]);
    expect(overlayDrift(spec("hv2"), { ...healthy(), bridge: null, device: null })).toEqual([]);
  });

  it("the guard: in place as nft lists it; absent, another VNI, another member set or a rule added: replaced whole", () => {
    expect(guardInPlace(spec("hv1"), healthy().guard)).toBe(true);
    expect(guardInPlace(spec("hv1", ["172.30.9.1"]), guardText("172.30.9.1"))).toBe(true);
    expect(guardInPlace(spec("hv1"), null)).toBe(false);
    expect(guardInPlace(spec("hv1"), guardText("{ 172.30.9.1, 172.30.9.2, 172.30.9.3 }", "0x2711"))).toBe(false);
    expect(guardInPlace(spec("hv1"), guardText("{ 172.30.9.1, 172.30.9.2 }"))).toBe(false);
    expect(guardInPlace(spec("hv1"), guardText("{ 172.30.9.1, 172.30.9.2, 172.30.9.3, 172.30.9.66 }"))).toBe(false);
    expect(guardInPlace(spec("hv1"), "table inet netforge-vx10000 {\n}\n")).toBe(false);
    const r = overlayDrift(spec("hv1"), { ...healthy(), guard: null });
    expect(r).toEqual([
      { what: "VXLAN guard table netforge-vx10000", commands: [{ argv: ["nft", "-f", "-"], input: guardScript(spec("hv1")) }] },
    ]);
    // One transaction: the table declared, deleted and made again (no moment without the guard).
    expect(guardScript(spec("hv1")).split("\n").slice(0, 3)).toEqual([
      "table inet netforge-vx10000",
      "delete table inet netforge-vx10000",
      "table inet netforge-vx10000 {",
    ]);
    expect(guardScript(spec("hv1"))).toContain(
      "udp dport 4789 @th,96,24 10000 ip saddr != { 172.30.9.1, 172.30.9.2, 172.30.9.3 } counter drop",
    );
  });
});

describe("the flood limit table", () => {
  const listed = (pps: number) =>
    [
      "table bridge netforge-fl10000 {",
      "\tset remote {",
      "\t\ttype ether_addr",
      "\t}",
      "\tchain flood {",
      "\t\ttype filter hook forward priority filter; policy accept;",
      `\t\toifname "nfvx10000" ether daddr != @remote update @ports { iifname limit rate over ${pps}/second burst ${pps * 2} packets } counter packets 4 bytes 240 drop comment "flooded frames over nfvx10000: ${pps}/s per port"`,
      "\t}",
      "}",
    ].join("\n");
  it("in place as nft lists it; another rate, or gone, is put back whole in one transaction", () => {
    const s = spec("hv1");
    expect(floodLimitInPlace(s, listed(1000))).toBe(true);
    expect(floodLimitInPlace(s, listed(500))).toBe(false);
    expect(floodLimitInPlace(s, null)).toBe(false);
    const r = overlayDrift(s, { ...healthy(), floodLimit: null });
    expect(r.map((x) => x.what)).toEqual(["flood limit table netforge-fl10000"]);
    expect(r[0]?.commands[0]?.input).toBe(floodLimitScript(s));
    expect(floodLimitScript(s).split("\n").slice(0, 4)).toEqual([
      "table bridge netforge-fl10000",
      "delete table bridge netforge-fl10000",
      "table bridge netforge-fl10000",
      "add set bridge netforge-fl10000 remote { type ether_addr; }",
    ]);
    // Not read (an older observation): not judged.
    expect(overlayDrift(s, healthy())).toEqual([]);
  });
  it("no limit (0): a table left over is removed; none is in place", () => {
    const s = { ...spec("hv1"), floodLimitPps: 0 };
    expect(floodLimitInPlace(s, null)).toBe(true);
    expect(floodLimitInPlace(s, listed(1000))).toBe(false);
    expect(floodLimitScript(s)).toBe("table bridge netforge-fl10000\ndelete table bridge netforge-fl10000\n");
  });
});
