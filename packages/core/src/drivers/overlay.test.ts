import { describe, expect, it } from "vitest";
import type { AppError } from "../errors";
import type { ChangePlan, NetworkChange } from "../planner/changes";
import { planCreate, planDelete, planStart, planStop } from "../plan/lifecycle";
import type { HostStep } from "../plan/steps";
import { parseNetworkXml } from "../render/network-xml";
import { overlaySpec } from "./__fixtures__/overlay-spec";
import { batchInput } from "../render/vxlan";
import { type OverlayNetSpec, overlayGuardCommands, overlayModel, overlayMtuIssues, overlayTablesScript } from "./overlay";

const spec = (self: string): OverlayNetSpec => overlaySpec(self);
const noFacts = { links: [], pfs: [] };
/** A step as its command line, and what a command reads on stdin as lines "  < ...". */
const lines = (s: HostStep): string[] =>
  s.kind === "command"
    ? [s.argv.join(" "), ...(s.input?.trimEnd().split("\n") ?? []).map((l) => `  < ${l}`)]
    : [s.kind === "virsh" ? `virsh ${s.args.join(" ")}` : s.kind];
const commands = (self: string) =>
  planCreate(spec(self), { start: true, autostart: true }, noFacts, self).phases.flatMap((p) => p.hostSteps.flatMap(lines));

describe("the overlay driver's pure half", () => {
  it("parse(render(spec)) is the spec, on the gateway host and on another member", () => {
    for (const self of ["hv1", "hv2"]) expect(parseNetworkXml(overlayModel.render(spec(self))).spec).toEqual(spec(self));
    expect(overlayModel.render(spec("hv2"))).toContain("<ip address='10.50.0.1' prefix='24'>");
    expect(overlayModel.render(spec("hv1"))).not.toContain("<ip");
    expect(overlayModel.render(spec("hv1"))).toContain("<forward mode='bridge'/>");
    // The gateway's bridge MAC is fixed by the VNI (10000 = 0x002710), the same on any gateway host; a member's
    // bridge (netforge's) has none.
    expect(overlayModel.render(spec("hv2"))).toContain("<mac address='06:4e:46:00:27:10'/>");
    expect(overlayModel.render({ ...spec("hv1"), gatewayHost: "hv1" })).toContain("<mac address='06:4e:46:00:27:10'/>");
    expect(overlayModel.render(spec("hv1"))).not.toContain("<mac");
    // No STP on the gateway's bridge (the kernel's 2 s minimum forward delay held every port back 4 s).
    expect(overlayModel.render(spec("hv2"))).toContain("<bridge name='nfov10000' stp='off' delay='0'/>");
  });

  it("a member's create: its bridge first, the VXLAN device, flood entries and guard after the start, then its table part", () => {
    expect(commands("hv1")).toEqual([
      "ip link add nfov10000 type bridge stp_state 0",
      "ip -batch -",
      "  < link set nfov10000 mtu 1450",
      "  < link set nfov10000 up",
      "xml",
      "virsh net-start tenant-a",
      "ip link add nfvx10000 type vxlan id 10000 local 172.30.9.1 dstport 4789 nolearning",
      "ip -batch -",
      "  < link set nfvx10000 mtu 1450",
      "  < link set nfvx10000 master nfov10000",
      "  < link set dev nfvx10000 type bridge_slave learning off neigh_suppress on",
      "  < link set nfvx10000 up",
      "bridge -batch -",
      "  < fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.2",
      "  < fdb append 00:00:00:00:00:00 dev nfvx10000 dst 172.30.9.3",
      "nft -f -",
      "  < create table inet netforge-vx10000",
      "  < add chain inet netforge-vx10000 guard { type filter hook prerouting priority raw; policy accept; }",
      `  < ${overlayGuardCommands(spec("hv1"))[2]?.slice(1).join(" ")}`,
      "  < create table bridge netforge-fl10000",
      "  < add set bridge netforge-fl10000 remote { type ether_addr; }",
      "  < add set bridge netforge-fl10000 ports { type ifname; size 65535; flags dynamic,timeout; timeout 1m; }",
      "  < add chain bridge netforge-fl10000 flood { type filter hook forward priority 0; policy accept; }",
      '  < add rule bridge netforge-fl10000 flood oifname "nfvx10000" ether daddr != @remote update @ports { iifname limit rate over 1000/second burst 2000 packets } counter drop comment "flooded frames over nfvx10000: 1000/s per port"',
      "nft",
      "virsh net-autostart tenant-a",
    ]);
  });

  it("four processes make a member's VXLAN part whatever its member count; each batch step's undo is the exact inverse", () => {
    const ten: OverlayNetSpec = {
      ...spec("hv1"),
      members: Array.from({ length: 10 }, (_, i) => ({ id: `hv${i + 1}`, ip: `172.30.9.${i + 1}` })),
    };
    const after = planCreate(ten, { start: true, autostart: true }, noFacts, "hv1").phases.find((p) => p.step === "starting network");
    const cmds = (after?.hostSteps ?? []).filter((s) => s.kind === "command");
    expect(cmds.map((s) => s.argv.slice(0, 3).join(" "))).toEqual(["ip link add", "ip -batch -", "bridge -batch -", "nft -f -"]);
    // libvirt's start, then the device on its bridge (lane 0); the tables, which need nothing of it, and then the
    // network's table part beside it (lane 1).
    expect(after?.hostSteps.map((s, i) => `${after.lanes?.[i]} ${s.kind === "command" ? s.argv.join(" ") : s.kind}`)).toEqual([
      "0 virsh",
      "0 ip link add nfvx10000 type vxlan id 10000 local 172.30.9.1 dstport 4789 nolearning",
      "0 ip -batch -",
      "0 bridge -batch -",
      "1 nft -f -",
      "1 nft",
    ]);
    // Nine flood lines (every other member), in one batch.
    expect(cmds[2]?.input?.match(/^fdb append /gm)).toHaveLength(9);
    // The device's undo removes it (its entries with it); the batches after it have none of their own; the tables'
    // undo takes both away in one transaction.
    expect(cmds.map((s) => s.undo)).toEqual([
      ["ip", "link", "del", "nfvx10000"],
      null,
      null,
      ["nft", "delete table inet netforge-vx10000; delete table bridge netforge-fl10000"],
    ]);
    // Without a flood limit: the guard table alone, and its undo.
    const bare = planCreate({ ...ten, floodLimitPps: 0 }, { start: true, autostart: true }, noFacts, "hv1").phases.flatMap((p) =>
      p.hostSteps.filter((s) => s.kind === "command" && s.argv[0] === "nft"),
    );
    expect(bare.map((s) => (s.kind === "command" ? [s.input?.includes("netforge-fl"), s.undo] : null))).toEqual([
      [false, ["nft", "delete", "table", "inet", "netforge-vx10000"]],
    ]);
    // A word a batch could not read back as itself, or a member address that is none, is refused, not rendered.
    for (const word of ["nfov 1", "a#b", 'x"y', "a\\b", ""]) {
      expect(() => batchInput([["link", "set", word, "up"]])).toThrow(/refusing to render a batch line/);
    }
    const odd = { ...ten, members: [...ten.members.slice(0, 9), { id: "hv10", ip: "172.30.9.10 }; flush ruleset; {" }] };
    expect(() => overlayTablesScript(odd)).toThrow(/member address/);
    expect(() => planCreate(odd, { start: true, autostart: true }, noFacts, "hv1")).toThrow(/refusing/);
  });

  it("the flood limit follows the spec: another rate, none at 0 (nothing to make or remove)", () => {
    const at = (pps: number) => ({ ...spec("hv1"), floodLimitPps: pps });
    const steps = (s: OverlayNetSpec) =>
      planCreate(s, { start: true, autostart: true }, noFacts, "hv1")
        .phases.flatMap((p) => p.hostSteps)
        .flatMap((st) => (st.kind === "command" ? [st.argv.join(" "), ...(st.input?.split("\n") ?? [])] : []));
    expect(steps(at(50)).find((c) => c.includes("add rule bridge"))).toContain("limit rate over 50/second burst 100 packets");
    expect(steps(at(0)).some((c) => c.includes("netforge-fl"))).toBe(false);
    const net = { active: true, autostart: true, xml: "<network/>", forwardMode: "bridge", firewall: null };
    const stop = planStop("tenant-a", net, at(0)).phases[0]?.hostSteps.map((s) => (s.kind === "command" ? s.argv.join(" ") : s.kind));
    expect(stop).toEqual(["nft delete table inet netforge-vx10000", "ip link del nfvx10000", "virsh"]);
  });

  it("the gateway host: libvirt makes the bridge; its table part masquerades and clamps MSS", () => {
    const c = commands("hv2");
    expect(c[0]).toBe("xml");
    expect(c).toContain("nft");
    expect(c).toContain("ip link add nfvx10000 type vxlan id 10000 local 172.30.9.2 dstport 4789 nolearning");
    expect(overlayModel.firewall(spec("hv2"))).toMatchObject({ masquerade: true, clampMss: true, bridge: "nfov10000" });
    // Another member's part: the firewall for its bridge, nothing routed, the gateway's traffic left to the gateway.
    expect(overlayModel.firewall(spec("hv1"))).toMatchObject({
      masquerade: false,
      reachOutside: false,
      forwardsPorts: false,
      overlayMember: { gateway: "10.50.0.1" },
    });
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
    expect(stop).toEqual([
      "nft delete table inet netforge-vx10000",
      "nft delete table bridge netforge-fl10000",
      "ip link del nfvx10000",
      "virsh",
    ]);
    const del = planDelete(spec("hv1"), "tenant-a", net, {
      links: [{ name: "nfov10000", master: null, mtu: 1450, up: true, kind: "bridge" }],
      pfs: [],
    });
    const removal = del.phases.at(-1)?.hostSteps.map((s) => (s.kind === "command" ? s.argv.join(" ") : s.kind)) ?? [];
    expect(removal.slice(0, 2)).toEqual(["virsh", "ip link del nfov10000"]);
  });
});

describe("changes of an overlay, on its gateway host", () => {
  const host = { active: true, leases: [] };
  const gw = spec("hv2");
  const steps = (p: ChangePlan) => p.steps.map((s) => s.name);
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return `${(e as AppError).code}: ${(e as AppError).message}`;
    }
    return "no error";
  };

  it("a reservation: net-update of the gateway's dnsmasq, then the overlay's own definition with it (parse gives it back)", () => {
    const p = overlayModel.planChange(gw, { kind: "reserve-ip", mac: "52:54:00:AA:00:01", ip: "10.50.0.20", hostname: "db" }, host);
    expect(p.spec).toMatchObject({
      type: "overlay",
      self: "hv2",
      vni: 10000,
      reservations: [{ mac: "52:54:00:aa:00:01", ip: "10.50.0.20" }],
    });
    expect(steps(p)).toEqual(["add DHCP host 52:54:00:aa:00:01 -> 10.50.0.20", "write spec"]);
    expect(p.steps[0]?.virsh).toEqual([
      "net-update",
      "tenant-a",
      "add",
      "ip-dhcp-host",
      "<host mac='52:54:00:aa:00:01' name='db' ip='10.50.0.20'/>",
      "--live",
    ]);
    expect(p.libvirtXml).toContain("<nf:overlay vni='10000'");
    expect(p.libvirtXml).toContain("<host mac='52:54:00:aa:00:01' name='db' ip='10.50.0.20'/>");
    expect(p.steps[1]?.undo?.xml).toBe(overlayModel.render(gw));
    expect(parseNetworkXml(p.libvirtXml).spec).toEqual(p.spec);
    // The routed checks hold: the gateway address is no VM's.
    expect(code(() => overlayModel.checkChange(gw, { kind: "reserve-ip", mac: "52:54:00:aa:00:02", ip: "10.50.0.1" }, host))).toMatch(
      /^IP_CONFLICT: 10.50.0.1 is the gateway/,
    );
    // Released: gone from the spec and the definition.
    const reserved = p.spec as OverlayNetSpec;
    const r = overlayModel.planChange(reserved, { kind: "release-ip", mac: "52:54:00:aa:00:01" }, host);
    expect(steps(r)).toEqual(["delete DHCP host 52:54:00:aa:00:01 -> 10.50.0.20", "write spec"]);
    expect(r.spec).toEqual(gw);
    expect(r.libvirtXml).toBe(overlayModel.render(gw));
  });

  it("a DHCP range: dnsmasq ended, the old range deleted and the new added live, the spec written", () => {
    const p = overlayModel.planChange(gw, { kind: "dhcp", start: "10.50.0.50", end: "10.50.0.60" }, host);
    expect(steps(p)).toEqual([
      "end the DHCP server (dnsmasq) of tenant-a: libvirt starts it again with the new range at once",
      "delete DHCP range 10.50.0.128-10.50.0.254",
      "end the DHCP server (dnsmasq) of tenant-a: libvirt starts it again with the new range at once",
      "add DHCP range 10.50.0.50-10.50.0.60 lease 3600 s",
      "write spec",
    ]);
    expect(p.spec).toMatchObject({ type: "overlay", dhcp: { enabled: true, start: "10.50.0.50", end: "10.50.0.60", leaseTime: 3600 } });
    expect(p.libvirtXml).toContain("<range start='10.50.0.50' end='10.50.0.60'>");
    expect(code(() => overlayModel.checkChange(gw, { kind: "dhcp", start: "10.51.0.50", end: "10.51.0.60" }, host))).toMatch(
      /^VALIDATION_FAILED/,
    );
  });

  it("DNS records: added live to the gateway's dnsmasq and kept in the definition", () => {
    const p = overlayModel.planChange(gw, { kind: "dns", hosts: [{ ip: "10.50.0.20", names: ["db"] }] }, host);
    expect(steps(p)).toEqual(["add DNS record db -> 10.50.0.20", "write spec"]);
    expect(p.libvirtXml).toContain("<dns>");
    expect(parseNetworkXml(p.libvirtXml).spec).toEqual({ ...gw, dnsHosts: [{ ip: "10.50.0.20", names: ["db"] }] });
  });

  it("a port forward: the gateway's table part forwards it (nat); removed, its connections end", () => {
    const add = { kind: "port-forward", op: "add", protocol: "tcp", hostPort: 8080, vmIp: "10.50.0.20", vmPort: 80 } as const;
    const p = overlayModel.planChange(gw, add, host);
    expect(steps(p)).toEqual(["apply firewall (one nft transaction)", "write spec"]);
    expect(p.steps[0]?.part).toMatchObject({ forwardsPorts: true, masquerade: true, clampMss: true, bridge: "nfov10000" });
    expect(p.steps[0]?.part?.portForwards).toEqual([{ protocol: "tcp", hostPort: 8080, vmIp: "10.50.0.20", vmPort: 80 }]);
    expect(p.nft).toContain("ct status dnat goto tenant-a-in-rules");
    const fwd = p.spec as OverlayNetSpec;
    expect(overlayModel.hostRuleCount(fwd)).toBe(1);
    expect(overlayModel.view(fwd).portForwards).toEqual(fwd.portForwards);
    expect(overlayModel.addressing(fwd)?.portForwards).toEqual(fwd.portForwards);
    expect(parseNetworkXml(p.libvirtXml).spec).toEqual(fwd);
    const r = overlayModel.planChange(fwd, { kind: "port-forward", op: "remove", protocol: "tcp", hostPort: 8080 }, host);
    expect(steps(r)).toEqual(["apply firewall (one nft transaction)", "end connections of tcp 8080 -> 10.50.0.20:80", "write spec"]);
    expect(r.spec).toEqual(gw);
    // Without nat the gateway translates nothing; an overlay made without ipv6 takes no IPv6 forward.
    expect(code(() => overlayModel.checkChange({ ...gw, nat: false }, add, host))).toMatch(
      /^UNSUPPORTED_FOR_TYPE: port forwards need an overlay with nat/,
    );
    expect(code(() => overlayModel.checkChange(gw, { ...add, vmIp: "fd00::5" }, host))).toMatch(
      /^UNSUPPORTED_FOR_TYPE: .*made without ipv6/,
    );
  });

  it("the addressing part is the gateway host's only", () => {
    expect(overlayModel.addressing(gw)).toMatchObject({ type: "nat", bridge: "nfov10000", cidr: "10.50.0.0/24", reservations: [] });
    expect(overlayModel.addressing({ ...gw, nat: false })?.type).toBe("isolated");
    expect(overlayModel.addressing(spec("hv1"))).toBeNull();
    expect(
      overlayModel.hostRuleCount({ ...spec("hv1"), portForwards: [{ protocol: "tcp", hostPort: 1, vmIp: "10.50.0.2", vmPort: 1 }] }),
    ).toBe(0);
  });

  it("refused: an IPv6 reservation on an overlay without IPv6 (as on nat), and any change but the firewall, MTU and QoS planned off the gateway host", () => {
    expect(code(() => overlayModel.checkChange(gw, { kind: "reserve-duid", duid: "00:01:02:03", ip: "fd00::5" }, host))).toMatch(
      /^UNSUPPORTED_FOR_TYPE: .*has no IPv6/,
    );
    expect([...overlayModel.unsupported]).toEqual([]);
    expect(code(() => overlayModel.checkChange(spec("hv1"), { kind: "dhcp", start: "10.50.0.50", end: "10.50.0.60" }, host))).toBe(
      "INVALID_STATE: overlay 'tenant-a''s dhcp change is made on its gateway host hv2, not on hv1",
    );
  });
});

describe("the firewall of an overlay (every member's)", () => {
  const host = { active: true, leases: [] };
  const fw: NetworkChange = {
    kind: "firewall",
    firewall: {
      defaultInbound: "drop",
      defaultOutbound: "accept",
      rules: [{ direction: "inbound", protocol: "tcp", source: null, destination: null, ports: "22", action: "accept", comment: null }],
    },
  };

  it("planned on the gateway host: its own chains and definition, and each other member's part", () => {
    const plan = overlayModel.planChange(spec("hv2"), fw, host);
    expect(plan.steps.map((s) => s.name)).toEqual(["apply firewall (one nft transaction)", "write spec"]);
    expect(plan.nft).toContain("tcp dport 22 accept");
    expect(plan.nft).not.toContain("ip saddr 10.50.0.1 accept");
    expect(plan.parts?.map((p) => p.host)).toEqual(["hv1", "hv3"]);
    const hv3 = plan.parts?.[1]?.plan as ChangePlan;
    // A member's chains: DHCP, the gateway's traffic and what leaves the subnet pass before the rules.
    expect(hv3.nft).toContain("udp sport 67 udp dport 68 accept");
    expect(hv3.nft).toContain("ip saddr 10.50.0.1 accept");
    expect(hv3.nft).toContain("ip daddr != 10.50.0.0/24 accept");
    expect(hv3.nft).toContain("ip saddr != 10.50.0.0/24 return");
    expect(hv3.nft).toContain("tcp dport 22 accept");
    expect(hv3.libvirtXml).toContain("<forward mode='bridge'/>");
    expect(hv3.libvirtXml).toContain("defaultInbound='drop'");
    // Each member's definition keeps the firewall: it reads back, and the part is what that member plans itself.
    const kept = parseNetworkXml(hv3.libvirtXml).spec as OverlayNetSpec;
    expect(kept.firewall).toEqual(fw.kind === "firewall" ? fw.firewall : null);
    expect(kept.self).toBe("hv3");
    const own = overlayModel.planChange(spec("hv3"), fw, host);
    expect(own.parts).toBeUndefined();
    expect(own.nft).toBe(hv3.nft);
    expect(overlayModel.hostRuleCount(kept)).toBe(1);
    expect(overlayModel.view(kept).firewall).toEqual(kept.firewall);
  });

  it("the same rule set again changes nothing on any host", () => {
    const withFw = { ...spec("hv2"), firewall: fw.kind === "firewall" ? fw.firewall : undefined } as OverlayNetSpec;
    const plan = overlayModel.planChange(withFw, fw, host);
    expect(plan.steps).toEqual([]);
    expect(plan.parts).toBeUndefined();
  });
});

describe("the MTU of an overlay (every member's)", () => {
  const host = { active: true, leases: [] };
  const mtu: NetworkChange = { kind: "mtu", mtu: 1400 };

  it("planned on the gateway host: its links, its DHCP options file and definition, and each other member's links and definition", () => {
    const gw = spec("hv2");
    const plan = overlayModel.planChange(gw, mtu, host);
    expect(plan.steps.map((s) => s.name)).toEqual([
      "set MTU 1400 on bridge nfov10000 and every port on it",
      "hand out MTU 1400 by DHCP (netforge's options file, re-read by the network's dnsmasq)",
      "write spec",
    ]);
    expect(plan.steps[0]?.linkMtu).toEqual({ bridge: "nfov10000", mtu: 1400 });
    expect(plan.steps[1]?.dhcpOptions).toEqual({
      file: `/var/lib/libvirt/dnsmasq/netforge-${gw.uuid}.options`,
      text: "tag:nfov10000,option:mtu,1400\n",
    });
    expect(plan.changed).toEqual([
      "MTU 1450 -> 1400",
      "guests learn MTU 1400 at their next DHCP lease or renewal; until then they keep the one they have",
    ]);
    expect(plan.notLive).toEqual([]);
    // The gateway's definition: libvirt's <mtu> (its next start: bridge, taps, dnsmasq's own option) and the spec.
    expect(plan.libvirtXml).toContain("<mtu size='1400'/>");
    expect(plan.libvirtXml).toContain(`dhcp-optsfile=/var/lib/libvirt/dnsmasq/netforge-${gw.uuid}.options`);
    expect((parseNetworkXml(plan.libvirtXml).spec as OverlayNetSpec).mtu).toBe(1400);
    expect((plan.spec as OverlayNetSpec).mtu).toBe(1400);
    expect(plan.parts?.map((p) => p.host)).toEqual(["hv1", "hv3"]);
    for (const p of plan.parts ?? []) {
      // A member runs no DHCP server: its bridge (with the VXLAN device and VM ports on it) and its definition only.
      expect(
        p.plan.steps.map((s) => s.name),
        p.host,
      ).toEqual(["set MTU 1400 on bridge nfov10000 and every port on it", "write spec"]);
      expect(p.plan.notLive, p.host).toEqual([]);
      const kept = parseNetworkXml(p.plan.libvirtXml).spec as OverlayNetSpec;
      expect(kept, p.host).toMatchObject({ mtu: 1400, self: p.host, gatewayHost: "hv2" });
      expect(p.plan.libvirtXml).toContain("<forward mode='bridge'/>");
      expect(p.plan.libvirtXml).not.toContain("dnsmasq");
      // What that member plans itself from its own definition is the same.
      expect(overlayModel.planChange(spec(p.host), mtu, host).steps).toEqual(p.plan.steps);
    }
  });

  it("the gateway's dnsmasq started without the options file (an overlay made before): the links now, DHCP from its next start", () => {
    const plan = overlayModel.planChange(spec("hv2"), mtu, { ...host, dhcpOptionsLive: false });
    expect(plan.notLive).toEqual([
      "DHCP: the running DHCP server was started without an MTU and hands out MTU 1400 from the network's next start (stop-network + start-network); the bridge and its ports have it now",
    ]);
  });

  it("stopped: only every member's definition; the same MTU again: nothing on any host", () => {
    const stopped = overlayModel.planChange(spec("hv2"), mtu, { active: false, leases: [] });
    expect(stopped.steps.map((s) => s.name)).toEqual(["write spec"]);
    expect(stopped.parts?.map((p) => p.plan.steps.map((s) => s.name))).toEqual([["write spec"], ["write spec"]]);
    const same = overlayModel.planChange(spec("hv2"), { kind: "mtu", mtu: 1450 }, host);
    expect(same.steps).toEqual([]);
    expect(same.parts).toBeUndefined();
  });

  it("the door: the MTU must fit every member's underlay less 50, naming each host it does not fit", () => {
    const members = [
      { id: "hv1", underlayMtu: 1500 },
      { id: "hv2", underlayMtu: 1450 },
      { id: "hv3", underlayMtu: null, underlayProblem: "no default route" },
    ];
    expect(overlayMtuIssues("tenant-a", 1400, members.slice(0, 2))).toEqual([]);
    expect(overlayMtuIssues("tenant-a", 1401, members)).toEqual([
      { path: "mtu", message: "must be at most 1400: host 'hv2''s underlay MTU is 1450, less 50 bytes of VXLAN" },
      { path: "mtu", message: "host 'hv3' of overlay 'tenant-a' has no underlay for VXLAN: no default route" },
    ]);
    expect(overlayMtuIssues("tenant-a", 1450, members.slice(0, 1))).toEqual([]);
    expect(overlayMtuIssues("tenant-a", 1451, members.slice(0, 1))[0]?.message).toContain("host 'hv1'");
  });
});

describe("the bandwidth limits of an overlay (every member's: docs/adr/0044-network-qos.md, Overlay networks)", () => {
  const host = { active: true, leases: [] };
  const mac = "52:54:00:00:00:0b";
  const vm = { mac, inbound: { averageKbps: 20_000 }, outbound: { averageKbps: 20_000 } };
  const qos = (network: boolean, vms = [vm]): NetworkChange => ({
    kind: "qos",
    qos: { network: network ? { inbound: { averageKbps: 40_000 }, outbound: { averageKbps: 40_000 } } : null, vms },
  });
  const tcOf = (plan: ChangePlan | undefined) => plan?.steps.find((s) => s.qos)?.qos;

  it("planned on the gateway host: its own tree with the VXLAN port fed for the edge only, and each other member's part", () => {
    const plan = overlayModel.planChange(spec("hv2"), qos(true), host);
    expect(plan.parts?.map((p) => p.host)).toEqual(["hv1", "hv3"]);
    const gwTc = tcOf(plan);
    // The gateway: nat's tree (the network's 1:1, the VM's edge class under it) on the bridge and the IFB.
    expect(gwTc?.apply.batch).toContain(
      "class replace dev nfov10000 parent 1: classid 1:1 htb rate 40000kbit ceil 40000kbit quantum 200000",
    );
    expect(gwTc?.apply.batch.join("\n")).toContain(`match ether src ${mac} match ether dst <bridge-mac> flowid 1:10`);
    expect(gwTc?.apply.tunnel).toEqual({ dev: "nfvx10000", gateway: true });
    // A member: no tree on its bridge, no network class; the VM's own classes (root classes) on both IFBs.
    const memberTc = tcOf(plan.parts?.[0]?.plan);
    expect(memberTc?.apply.tunnel).toEqual({ dev: "nfvx10000", gateway: false });
    expect(memberTc?.apply.qdiscs.map((q) => q.dev)).toEqual([memberTc?.ifb, `nfi-${memberTc?.ifb.slice(4)}`]);
    const text = memberTc?.apply.batch.join("\n") ?? "";
    expect(text).not.toContain("nfov10000");
    expect(text).not.toContain("classid 1:1 ");
    expect(text).not.toContain("<bridge-mac>");
    expect(text).toContain(`filter add dev ${memberTc?.ifb} parent 1: protocol all prio 2 u32 match ether src ${mac} flowid 1:2010`);
    expect(text).toContain(`prio 2 u32 match ether dst ${mac} flowid 1:2010`);
    // Each member's definition keeps the set (a start, a reconcile there read it).
    expect(parseNetworkXml(plan.parts?.[0]?.plan.libvirtXml ?? "").spec).toMatchObject({ self: "hv1", qos: { vms: [vm] } });
    expect(parseNetworkXml(plan.libvirtXml).spec).toMatchObject({ self: "hv2", qos: { vms: [vm] } });
  });

  it("only a network limit: nothing on the other members but their definition", () => {
    const plan = overlayModel.planChange(spec("hv2"), qos(true, []), host);
    expect(tcOf(plan)).toBeDefined();
    for (const p of plan.parts ?? []) expect(p.plan.steps.map((s) => s.name)).toEqual(["write spec"]);
  });

  it("the dry run's text: the VXLAN port is named, fed on the gateway (frames to the gateway only), on a member not at all", async () => {
    const { tcText } = await import("../render/tc-qos");
    const plan = overlayModel.planChange(spec("hv2"), qos(true), host);
    const gwText = tcText(tcOf(plan)?.apply as never);
    expect(gwText).toContain("# nfvx10000 (VXLAN) is no VM's port: only its frames to the gateway feed the outbound IFB");
    expect(gwText).toMatch(
      /filter replace dev nfvx10000 parent ffff: .* match ether dst <bridge-mac> action mirred egress redirect dev nfq-/,
    );
    const memberText = tcText(tcOf(plan.parts?.[1]?.plan)?.apply as never);
    expect(memberText).toContain("# nfvx10000 (VXLAN) is no VM's port: not fed");
    expect(memberText).not.toContain("dev nfvx10000 ");
  });

  it("a start applies each member's part; the member's IFBs go with a delete", () => {
    const withQos = (self: string): OverlayNetSpec => ({ ...spec(self), qos: { network: null, vms: [vm] } });
    const facts = { active: false, autostart: true, xml: "", forwardMode: null, firewall: null };
    const starting = (self: string) =>
      planStart(withQos(self), facts, noFacts, self)
        .phases.flatMap((p) => p.hostSteps)
        .filter((s) => s.kind === "qos");
    expect(starting("hv1").map((s) => s.name)).toEqual([expect.stringContaining("VMs' bandwidth limits on this member's ports")]);
    expect(starting("hv2")).toHaveLength(1);
    const del = planDelete(withQos("hv1"), "tenant-a", facts, noFacts)
      .phases.flatMap((p) => p.hostSteps)
      .flatMap((s) => (s.kind === "command" ? [s.argv.join(" ")] : []));
    expect(del.filter((c) => c.includes("nfq-") || c.includes("nfi-"))).toHaveLength(2);
  });

  it("the set taken away: a member's feeds and IFBs go, nothing of the network's tree is asked of it", () => {
    const gw2 = { ...spec("hv2"), qos: { network: null, vms: [vm] } };
    const plan = overlayModel.planChange(gw2, { kind: "qos", qos: { network: null, vms: [] } }, host);
    const m = tcOf(plan.parts?.[0]?.plan)?.apply;
    expect(m).toMatchObject({ ifb: false, ifbIn: false, unfeedPorts: "nfov10000", unfeedPortsIn: "nfov10000", batch: [] });
    expect(m?.cleanup.some((l) => l.includes("nfov10000"))).toBe(false);
  });
});
