import { describe, expect, it } from "vitest";
import { planCreate, planDelete, planStop } from "../plan/lifecycle";
import { parseNetworkXml } from "../render/network-xml";
import { type OverlayNetSpec, overlayGuardCommands, overlayModel } from "./overlay";

const spec = (self: string): OverlayNetSpec => ({
  type: "overlay",
  name: "tenant-a",
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
    { id: "hv3", ip: "172.30.9.3" },
  ],
  self,
});
const noFacts = { links: [], pfs: [] };
const commands = (self: string) =>
  planCreate(spec(self), { start: true, autostart: true }, noFacts, self).phases.flatMap((p) =>
    p.hostSteps.map((s) => (s.kind === "command" ? s.argv.join(" ") : s.kind === "virsh" ? `virsh ${s.args.join(" ")}` : s.kind)),
  );

describe("the overlay driver's pure half", () => {
  it("parse(render(spec)) is the spec, on the gateway host and on another member", () => {
    for (const self of ["hv1", "hv2"]) expect(parseNetworkXml(overlayModel.render(spec(self))).spec).toEqual(spec(self));
    expect(overlayModel.render(spec("hv2"))).toContain("<ip address='10.50.0.1' prefix='24'>");
    expect(overlayModel.render(spec("hv1"))).not.toContain("<ip");
    expect(overlayModel.render(spec("hv1"))).toContain("<forward mode='bridge'/>");
  });

  it("a member's create: its bridge first, the VXLAN device, flood entries and guard after the start; no table part", () => {
    expect(commands("hv1")).toEqual([
      "ip link add nfov10000 type bridge stp_state 0",
      "ip link set nfov10000 mtu 1450",
      "ip link set nfov10000 up",
      "xml",
      "virsh net-start tenant-a",
      "ip link add nfvx10000 type vxlan id 10000 local 172.30.9.1 dstport 4789 nolearning",
      "ip link set nfvx10000 mtu 1450",
      "ip link set nfvx10000 master nfov10000",
      "ip link set dev nfvx10000 type bridge_slave learning off",
      "ip link set nfvx10000 up",
      "bridge fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.2",
      "bridge fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.3",
      "nft create table inet netforge-vx10000",
      "nft add chain inet netforge-vx10000 guard { type filter hook prerouting priority raw; policy accept; }",
      overlayGuardCommands(spec("hv1"))[2]?.join(" "),
      "virsh net-autostart tenant-a",
    ]);
  });

  it("the gateway host: libvirt makes the bridge; its table part masquerades and clamps MSS", () => {
    const c = commands("hv2");
    expect(c[0]).toBe("xml");
    expect(c).toContain("nft");
    expect(c).toContain("ip link add nfvx10000 type vxlan id 10000 local 172.30.9.2 dstport 4789 nolearning");
    expect(overlayModel.firewall(spec("hv2"))).toMatchObject({ masquerade: true, clampMss: true, bridge: "nfov10000" });
    expect(overlayModel.firewall(spec("hv1"))).toBeNull();
    expect(overlayModel.otherHosts?.(spec("hv2"))).toEqual(["hv1", "hv3"]);
    expect(overlayModel.indexedHere?.(spec("hv2"))).toBe(true);
    expect(overlayModel.indexedHere?.(spec("hv1"))).toBe(false);
  });

  it("the guard accepts the VNI from the members only", () => {
    expect(overlayGuardCommands(spec("hv1"))[2]?.[6]).toBe(
      'udp dport 4789 @th,96,24 10000 ip saddr != { 172.30.9.1, 172.30.9.2, 172.30.9.3 } counter drop comment "overlay tenant-a: VNI 10000 only from its members"',
    );
  });

  it("stop removes the guard and the device before libvirt's stop; delete removes a member's bridge last", () => {
    const net = { active: true, autostart: true, xml: "<network/>", forwardMode: "bridge", firewall: null };
    const stop = planStop("tenant-a", net, spec("hv1")).phases[0]?.hostSteps.map((s) => (s.kind === "command" ? s.argv.join(" ") : s.kind));
    expect(stop).toEqual(["nft delete table inet netforge-vx10000", "ip link del nfvx10000", "virsh"]);
    const del = planDelete(spec("hv1"), "tenant-a", net, {
      links: [{ name: "nfov10000", master: null, mtu: 1450, up: true, kind: "bridge" }],
      pfs: [],
    });
    const removal = del.phases.at(-1)?.hostSteps.map((s) => (s.kind === "command" ? s.argv.join(" ") : s.kind)) ?? [];
    expect(removal.slice(0, 2)).toEqual(["virsh", "ip link del nfov10000"]);
  });

  it("a change is refused: not yet for overlay networks", () => {
    expect(() => overlayModel.checkChange(spec("hv2"), { kind: "dns", hosts: [] } as never, {} as never)).toThrow(/not yet for overlay/);
  });
});
