import { describe, expect, it } from "vitest";
import { overlaySpec } from "./__fixtures__/overlay-spec";
import { renderOverlayBoot } from "./overlay-boot";
import { floodLimitScript, guardScript } from "./overlay-drift";

const body = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));

describe("an overlay member's boot files", () => {
  it("a non-gateway member: its bridge, the VXLAN device on it, one flood entry per other member, guard and flood limit", () => {
    const f = renderOverlayBoot([overlaySpec("hv1")]);
    expect(body(f.ip)).toEqual([
      "link add nfov10000 type bridge stp_state 0",
      "link set nfov10000 mtu 1450",
      "link set nfov10000 up",
      "link add nfvx10000 type vxlan id 10000 local 172.30.9.1 dstport 4789 nolearning",
      "link set nfvx10000 mtu 1450",
      "link set nfvx10000 master nfov10000",
      "link set dev nfvx10000 type bridge_slave learning off neigh_suppress on",
      "link set nfvx10000 up",
    ]);
    expect(body(f.bridge)).toEqual([
      "fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.2",
      "fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.3",
    ]);
    // The scripts reconcile applies, so the worker's first round finds the tables as it wants them.
    expect(f.nft).toContain(guardScript(overlaySpec("hv1")));
    expect(f.nft).toContain(floodLimitScript(overlaySpec("hv1")));
    expect(f.nft.startsWith("#!/usr/sbin/nft -f\n")).toBe(true);
  });

  it("the gateway: only the tables (its bridge is libvirt's, its device follows libvirt's start)", () => {
    const f = renderOverlayBoot([overlaySpec("hv2")]);
    expect(body(f.ip)).toEqual([]);
    expect(body(f.bridge)).toEqual([]);
    expect(f.nft).toContain(guardScript(overlaySpec("hv2")));
    expect(f.nft).toContain("table bridge netforge-fl10000");
  });

  it("no parts: files with comments only (the unit still succeeds); parts in VNI order", () => {
    const none = renderOverlayBoot([]);
    expect([body(none.ip), body(none.bridge), body(none.nft)]).toEqual([[], [], []]);
    const two = renderOverlayBoot([overlaySpec("hv1", { vni: 10002, bridge: "nfov10002" }), overlaySpec("hv1", { name: "tenant-b" })]);
    expect(body(two.ip)[0]).toBe("link add nfov10000 type bridge stp_state 0");
    expect(body(two.ip)[8]).toBe("link add nfov10002 type bridge stp_state 0");
  });

  it("a word a batch reader would split or read as a comment is refused", () => {
    expect(() => renderOverlayBoot([overlaySpec("hv1", { bridge: "nfov1 0" })])).toThrow(/refusing/);
    expect(() => renderOverlayBoot([overlaySpec("hv1", { bridge: "nfov#1" })])).toThrow(/refusing/);
  });
});
