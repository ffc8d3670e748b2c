import { describe, expect, it } from "vitest";
import type { QosSpec } from "../actions/changes";
import { JOB_DEFS } from "../actions/jobs";
import type { AppError } from "../errors";
import { changeHostSteps } from "../plan/change-steps";
import { planDelete, planStart } from "../plan/lifecycle";
import { commandOf, stepView } from "../plan/steps";
import { parseNetworkXml, renderRoutedXml } from "../render/network-xml";
import {
  BRIDGE_MAC,
  ifbNameFor,
  inboundIfbOf,
  LAN_MARK,
  macBpf,
  NIC_MAC,
  renderQos,
  renderUplinkQos,
  tcText,
  UPLINK_MAJOR,
} from "../render/tc-qos";
import type { BridgeNetSpec } from "../drivers/bridge";
import { planChange } from "../drivers/registry";
import { ConfigureQosBody } from "../schemas/qos";
import { changeOfBody } from "./__fixtures__/change-of-body";
import type { RoutedNetSpec, SriovNetSpec } from "./network-spec";

const spec: RoutedNetSpec = {
  type: "nat",
  name: "web",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  description: "",
  createdAt: "2026-11-28T00:00:00.000Z",
  bridge: "nf-web",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.1",
  dhcp: { enabled: true, start: "10.1.0.100", end: "10.1.0.200", leaseTime: 3600 },
  reservations: [],
};
const up = { active: true, leases: [] };
const IFB = "nfq-3e3fce454f5";
const IFB_IN = "nfi-3e3fce454f5";
const MAC = "52:54:00:12:34:56";
const SET: QosSpec = {
  network: { inbound: { averageKbps: 100000, peakKbps: 200000, burstKib: 1024 }, outbound: { averageKbps: 50000 } },
  vms: [{ mac: MAC, inbound: { averageKbps: 20000 }, outbound: { averageKbps: 20000 } }],
};

function refusal(f: () => unknown): AppError {
  try {
    f();
  } catch (e) {
    return e as AppError;
  }
  throw new Error("not refused");
}

describe("the QoS body", () => {
  it("takes the contract's example; a MAC is lower-cased; peak below average, 0 and unknown fields are refused", () => {
    const ok = ConfigureQosBody.safeParse({ name: "web", ...SET, vms: [{ ...SET.vms[0], mac: MAC.toUpperCase() }] });
    expect(ok.success).toBe(true);
    expect(changeOfBody("configure-network-qos", { network: SET.network, vms: [{ ...SET.vms[0], mac: MAC.toUpperCase() }] })).toEqual({
      kind: "qos",
      qos: SET,
    });
    expect(changeOfBody("configure-network-qos", {})).toEqual({ kind: "qos", qos: { network: null, vms: [] } });
    for (const bad of [
      { name: "web", network: { inbound: { averageKbps: 1000, peakKbps: 999 } } },
      { name: "web", network: { inbound: { averageKbps: 0 } } },
      { name: "web", network: { inbound: { averageKbps: 1.5 } } },
      { name: "web", network: { sideways: { averageKbps: 10 } } },
      { name: "web", vms: [{ mac: "nope", inbound: { averageKbps: 10 } }] },
      { name: "web", vms: [{ mac: MAC, inbound: { averageKbps: 10, burstKib: 0 } }] },
    ]) {
      expect(ConfigureQosBody.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(JOB_DEFS["configure-network-qos"].payload({ name: "web", network: { inbound: { averageKbps: -1 } } }).ok).toBe(false);
  });
});

describe("the tc renderer", () => {
  it("an IFB name of 15 characters from the uuid", () => {
    expect(ifbNameFor(spec.uuid)).toBe(IFB);
    expect(ifbNameFor("not-a-uuid")).toMatch(/^nfq-[0-9a-f]{11}$/);
    expect(inboundIfbOf(IFB)).toBe(IFB_IN);
  });

  it("inbound on the bridge (ether dst), outbound on the IFB (ether src, to the bridge's MAC) fed from every port; between VMs the VM's own classes", () => {
    const p = renderQos("nf-web", IFB, SET, null);
    expect(p.ifb).toBe(true);
    expect(p.ifbIn).toBe(true);
    // The internal filters carry no handle: they go as a whole before they are added again.
    expect(p.cleanup).toEqual([
      `filter del dev ${IFB} parent 1: protocol all prio 2`,
      `filter del dev ${IFB_IN} parent 1: protocol all prio 2`,
    ]);
    expect(p.qdiscs).toEqual([
      { dev: "nf-web", kind: "htb", defaultClass: 2 },
      { dev: IFB, kind: "htb", defaultClass: 3 },
      { dev: IFB_IN, kind: "htb", defaultClass: 3 },
    ]);
    expect(p.feedPorts).toEqual({ bridge: "nf-web", ifb: IFB });
    expect(p.feedPortsIn).toEqual({ bridge: "nf-web", ifb: IFB_IN });
    expect(p.unfeedPorts).toBeNull();
    expect(p.unfeedPortsIn).toBeNull();
    expect(p.batch).toEqual([
      // A peak with a burst: ceil = peak, cburst tc's own (about a tick at the peak): the burst goes at up to the peak.
      "class replace dev nf-web parent 1: classid 1:1 htb rate 100000kbit ceil 200000kbit burst 1048576 quantum 200000",
      // 1:2's own rate: what the VMs' classes leave of the network's average (100000 - 20000); it borrows the rest.
      "class replace dev nf-web parent 1:1 classid 1:2 htb rate 80000kbit ceil 200000kbit burst 1048576 quantum 200000",
      "class replace dev nf-web parent 1:1 classid 1:10 htb rate 20000kbit ceil 20000kbit quantum 200000",
      `filter replace dev nf-web parent 1: protocol all prio 1 handle 800::1 u32 match ether dst ${MAC} flowid 1:10`,
      `class replace dev ${IFB} parent 1: classid 1:1 htb rate 50000kbit ceil 50000kbit quantum 200000`,
      `class replace dev ${IFB} parent 1:1 classid 1:2 htb rate 30000kbit ceil 50000kbit quantum 200000`,
      `class replace dev ${IFB} parent 1: classid 1:3 htb rate 100000000kbit ceil 100000000kbit quantum 200000`,
      `class replace dev ${IFB} parent 1:1 classid 1:10 htb rate 20000kbit ceil 20000kbit quantum 200000`,
      `filter replace dev ${IFB} parent 1: protocol all prio 1 handle 800::1 u32 match ether src ${MAC} match ether dst ${BRIDGE_MAC} flowid 1:10`,
      `filter replace dev ${IFB} parent 1: protocol all prio 1 handle 800::fff u32 match ether dst ${BRIDGE_MAC} flowid 1:2`,
      // A's frames to the network's other VMs: its own class, a root class (not under the network's 1:1).
      `class replace dev ${IFB} parent 1: classid 1:2010 htb rate 20000kbit ceil 20000kbit quantum 200000`,
      `filter add dev ${IFB} parent 1: protocol all prio 2 u32 match ether src ${MAC} flowid 1:2010`,
      // Toward A from the network's other VMs: the inbound IFB; frames from the bridge's MAC (the edge) pass.
      `class replace dev ${IFB_IN} parent 1: classid 1:3 htb rate 100000000kbit ceil 100000000kbit quantum 200000`,
      `filter replace dev ${IFB_IN} parent 1: protocol all prio 1 handle 800::fff u32 match ether src ${BRIDGE_MAC} flowid 1:3`,
      `class replace dev ${IFB_IN} parent 1: classid 1:2010 htb rate 20000kbit ceil 20000kbit quantum 200000`,
      `filter add dev ${IFB_IN} parent 1: protocol all prio 2 u32 match ether dst ${MAC} flowid 1:2010`,
    ]);
    expect(tcText(p).split("\n").slice(0, 10)).toEqual([
      `tc filter del dev ${IFB} parent 1: protocol all prio 2    # if present`,
      `tc filter del dev ${IFB_IN} parent 1: protocol all prio 2    # if present`,
      "tc qdisc replace dev nf-web root handle 1: htb default 2    # unless present",
      `tc qdisc replace dev ${IFB} root handle 1: htb default 3    # unless present`,
      `tc qdisc replace dev ${IFB_IN} root handle 1: htb default 3    # unless present`,
      "tc qdisc add dev <each port> handle ffff: ingress    # on each port of nf-web, unless present",
      `tc filter replace dev <each port> parent ffff: protocol all prio 1 handle 800::1 u32 match u32 0 0 action mirred egress redirect dev ${IFB}`,
      "tc qdisc add dev <each port> root handle 1: htb    # on each port of nf-web, unless present",
      // The edge's frames (from the bridge's MAC) go to the port's direct queue, the rest to the inbound IFB.
      `tc filter replace dev <each port> parent 1: protocol all prio 1 handle 800::1 u32 match ether src ${BRIDGE_MAC} flowid 1:0`,
      `tc filter replace dev <each port> parent 1: protocol all prio 1 handle 800::2 u32 match u32 0 0 action mirred egress redirect dev ${IFB_IN}`,
    ]);
  });

  it("no network limit: the root class runs at 100 Gbit/s; a direction nobody limits gets nothing", () => {
    const p = renderQos("nf-web", IFB, { network: null, vms: [{ mac: MAC, inbound: { averageKbps: 5000 } }] }, null);
    expect(p.ifb).toBe(false);
    expect(p.feedPorts).toBeNull();
    expect(p.qdiscs).toEqual([
      { dev: "nf-web", kind: "htb", defaultClass: 2 },
      { dev: IFB_IN, kind: "htb", defaultClass: 3 },
    ]);
    expect(p.batch[0]).toBe("class replace dev nf-web parent 1: classid 1:1 htb rate 100000000kbit ceil 100000000kbit quantum 200000");
    expect(p.batch.join("\n")).not.toContain(IFB);
    // Only a network limit: nothing between the VMs, no inbound IFB.
    const net = renderQos("nf-web", IFB, { network: { inbound: { averageKbps: 5000 } }, vms: [] }, null);
    expect(net.ifbIn).toBe(false);
    expect(net.feedPortsIn).toBeNull();
    expect(JSON.stringify(net)).not.toContain(IFB_IN);
  });

  it("the class of unlimited VMs (1:2) is guaranteed only what the VMs' classes leave of the network's average", () => {
    const over: QosSpec = {
      network: { inbound: { averageKbps: 30000 } },
      vms: [
        { mac: MAC, inbound: { averageKbps: 20000 } },
        { mac: "52:54:00:00:00:02", inbound: { averageKbps: 20000 } },
      ],
    };
    expect(renderQos("nf-web", IFB, over, null).batch[1]).toBe(
      "class replace dev nf-web parent 1:1 classid 1:2 htb rate 1kbit ceil 30000kbit quantum 1514",
    );
  });

  it("takes away what the previous set had and this one has not: a VM's filter then its class, a whole direction", () => {
    const two: QosSpec = {
      network: null,
      vms: [SET.vms[0] as QosSpec["vms"][0], { mac: "52:54:00:00:00:02", inbound: { averageKbps: 1000 } }],
    };
    const p = renderQos("nf-web", IFB, { network: null, vms: [{ mac: MAC, inbound: { averageKbps: 1000 } }] }, two);
    expect(p.cleanup).toEqual([
      "filter del dev nf-web parent 1: protocol all prio 1 handle 800::2 u32",
      "class del dev nf-web classid 1:11",
      `qdisc del dev ${IFB} root`,
      `filter del dev ${IFB_IN} parent 1: protocol all prio 2`,
      `class del dev ${IFB_IN} classid 1:2011`,
    ]);
    expect(p.ifb).toBe(false);
    expect(p.unfeedPorts).toBe("nf-web");
    expect(p.unfeedPortsIn).toBeNull();
    // A VM's outbound limit gone while the network's stays: its edge filter and class, its internal class.
    const out = renderQos("nf-web", IFB, { network: { outbound: { averageKbps: 1000 } }, vms: [] }, SET);
    expect(out.cleanup.slice(0, 5)).toEqual([
      "qdisc del dev nf-web root",
      `filter del dev ${IFB} parent 1: protocol all prio 2`,
      `filter del dev ${IFB} parent 1: protocol all prio 1 handle 800::1 u32`,
      `class del dev ${IFB} classid 1:10`,
      `class del dev ${IFB} classid 1:2010`,
    ]);
    expect(out.unfeedPortsIn).toBe("nf-web");
    const none = renderQos("nf-web", IFB, null, SET);
    expect(none).toEqual({
      ifb: false,
      cleanup: ["qdisc del dev nf-web root", `qdisc del dev ${IFB} root`],
      qdiscs: [],
      feedPorts: null,
      unfeedPorts: "nf-web",
      ifbIn: false,
      feedPortsIn: null,
      unfeedPortsIn: "nf-web",
      batch: [],
    });
  });
});

describe("peak and burst", () => {
  const l = (averageKbps: number, peakKbps?: number, burstKib?: number) => ({
    averageKbps,
    ...(peakKbps === undefined ? {} : { peakKbps }),
    ...(burstKib === undefined ? {} : { burstKib }),
  });
  const vmClass = (p: ReturnType<typeof renderQos>) =>
    p.batch.find((b) => b.startsWith("class replace dev nf-web parent 1:1 classid 1:10"));

  it("a burst alone goes at line rate: ceil = rate, both buckets the burst", () => {
    const p = renderQos("nf-web", IFB, { network: null, vms: [{ mac: MAC, inbound: l(8000, undefined, 4096) }] }, null);
    expect(vmClass(p)).toBe(
      "class replace dev nf-web parent 1:1 classid 1:10 htb rate 8000kbit ceil 8000kbit burst 4194304 cburst 4194304 quantum 100000",
    );
    expect(p.batch.join("\n")).not.toContain("tbf");
  });

  it("a peak with a burst: a VM's class under the network's gets a TBF leaf holding the average; its root class between VMs needs none", () => {
    const p = renderQos("nf-web", IFB, { network: null, vms: [{ mac: MAC, outbound: l(8000, 24000, 4096) }] }, null);
    expect(p.batch).toContain(
      `class replace dev ${IFB} parent 1:1 classid 1:10 htb rate 8000kbit ceil 24000kbit burst 4194304 quantum 100000`,
    );
    expect(p.batch).toContain(
      `qdisc replace dev ${IFB} parent 1:10 handle 10: tbf rate 8000kbit burst 4194304 peakrate 24000kbit mtu 65536 latency 100ms`,
    );
    // The TBF comes after its class and before the filter sending frames to it.
    const at = (prefix: string) => p.batch.findIndex((b) => b.startsWith(prefix));
    expect(at(`qdisc replace dev ${IFB} parent 1:10`)).toBeGreaterThan(at(`class replace dev ${IFB} parent 1:1 classid 1:10`));
    expect(p.batch).toContain(
      `class replace dev ${IFB} parent 1: classid 1:2010 htb rate 8000kbit ceil 24000kbit burst 4194304 quantum 100000`,
    );
    expect(p.batch.filter((b) => b.includes("tbf"))).toHaveLength(1);
  });

  it("a peak without a burst (or equal to the average) is no peak: the class runs at its average", () => {
    for (const lim of [l(8000, 24000), l(8000, 8000, 64)]) {
      const p = renderQos("nf-web", IFB, { network: null, vms: [{ mac: MAC, inbound: lim }] }, null);
      expect(vmClass(p)).toMatch(/htb rate 8000kbit ceil 8000kbit /);
      expect(p.batch.join("\n")).not.toContain("tbf");
    }
  });

  it("a peak taken away from a VM that stays: its TBF leaf goes first", () => {
    const had: QosSpec = { network: null, vms: [{ mac: MAC, outbound: l(8000, 24000, 4096) }] };
    const p = renderQos("nf-web", IFB, { network: null, vms: [{ mac: MAC, outbound: l(8000) }] }, had);
    expect(p.cleanup).toContain(`qdisc del dev ${IFB} parent 1:10 handle 10:`);
    expect(renderQos("nf-web", IFB, had, had).cleanup.join("\n")).not.toContain("handle 10:");
  });
});

describe("configure-network-qos planned", () => {
  it("one live tc step (undone by the previous set) then the spec; describe's view and the metadata keep the set", () => {
    const plan = planChange(spec, { kind: "qos", qos: SET }, up);
    const steps = changeHostSteps(plan);
    expect(steps.map(commandOf)).toEqual([
      ["tc", "-batch", "-"],
      ["virsh", "net-define", "<file>"],
    ]);
    const [tc] = steps;
    if (tc?.kind !== "qos") throw new Error("no qos step");
    expect(tc.name).toBe(`apply bandwidth limits on bridge nf-web, ${IFB} and ${IFB_IN} (tc)`);
    expect(tc.apply).toEqual(renderQos("nf-web", IFB, SET, null));
    expect(tc.undo).toEqual(renderQos("nf-web", IFB, null, SET));
    expect(stepView("applying change", tc).tc).toBe(tcText(tc.apply));
    expect(plan.spec).toEqual({ ...spec, qos: SET });
    expect(plan.changed).toEqual([
      "network limit: inbound 100000 kbit/s (peak 200000) burst 1024 KiB, outbound 50000 kbit/s",
      `VM limits: ${MAC} inbound 20000 kbit/s, outbound 20000 kbit/s`,
    ]);
    const parsed = parseNetworkXml(plan.libvirtXml).spec;
    expect(parsed).toEqual({ ...spec, qos: SET });
    expect(renderRoutedXml(parsed as RoutedNetSpec)).toBe(plan.libvirtXml);
  });

  it("the same set changes nothing; an empty set clears it; a stopped network only gets its spec", () => {
    const withSet = { ...spec, qos: SET };
    expect(planChange(withSet, { kind: "qos", qos: SET }, up).steps).toEqual([]);
    const clear = planChange(withSet, { kind: "qos", qos: { network: null, vms: [] } }, up);
    expect(clear.spec).toEqual(spec);
    expect(clear.changed).toEqual(["bandwidth limits removed (netforge's qdiscs and IFB taken away)"]);
    expect(planChange(spec, { kind: "qos", qos: { network: {}, vms: [] } }, up).steps).toEqual([]);
    const stopped = planChange(spec, { kind: "qos", qos: SET }, { active: false, leases: [] });
    expect(changeHostSteps(stopped).map((s) => s.kind)).toEqual(["xml"]);
  });

  it("refuses a MAC in two entries, or an entry without a limit (VALIDATION_FAILED naming it)", () => {
    const twice = refusal(() =>
      planChange(
        spec,
        { kind: "qos", qos: { network: null, vms: [SET.vms[0] as QosSpec["vms"][0], { mac: MAC, outbound: { averageKbps: 1 } }] } },
        up,
      ),
    );
    expect(twice.code).toBe("VALIDATION_FAILED");
    expect(JSON.stringify(twice.details)).toContain("vms.1.mac");
    const empty = refusal(() => planChange(spec, { kind: "qos", qos: { network: null, vms: [{ mac: MAC }] } }, up));
    expect(JSON.stringify(empty.details)).toContain("needs an inbound or an outbound limit");
  });

  it("sriov refuses it, saying VF rate limits are the NIC's", () => {
    const sriov: SriovNetSpec = {
      type: "sriov",
      name: "fast",
      uuid: spec.uuid,
      description: "",
      createdAt: spec.createdAt,
      pf: "enp3s0f0",
      vfs: 2,
      vlan: null,
    };
    const err = refusal(() => planChange(sriov, { kind: "qos", qos: SET }, up));
    expect(err.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(err.message).toContain("VF rate limits are the NIC's own");
  });

  it("delete-network of a network with outbound or VM inbound limits removes its IFBs (gone already is fine)", () => {
    const net = { active: false, autostart: false, xml: "<network/>", forwardMode: "open", firewall: null };
    const plan = planDelete({ ...spec, qos: SET }, "web", net, { links: [], pfs: [] });
    const [ifbStep, ifbInStep] = plan.phases.at(-1)?.hostSteps.slice(-2) ?? [];
    expect(ifbStep).toMatchObject({ kind: "command", argv: ["ip", "link", "del", IFB], allowFailure: true });
    expect(ifbInStep).toMatchObject({ kind: "command", argv: ["ip", "link", "del", IFB_IN], allowFailure: true });
    const inboundOnly = planDelete({ ...spec, qos: { network: { inbound: { averageKbps: 1 } }, vms: [] } }, "web", net, {
      links: [],
      pfs: [],
    });
    expect(JSON.stringify(inboundOnly)).not.toContain(IFB);
  });

  it("start-network applies the set once libvirt made the bridge (after the firewall); none without a set", () => {
    const net = { active: false, autostart: false, xml: "<network/>", forwardMode: "open", firewall: null };
    const facts = { links: [], pfs: [] };
    const steps = planStart({ ...spec, qos: SET }, net, facts, "h1").phases.flatMap((p) => p.hostSteps);
    expect(steps.map((s) => s.kind)).toEqual(["virsh", "nft", "qos"]);
    expect(steps[2]).toMatchObject({ apply: renderQos("nf-web", IFB, SET, null), undo: renderQos("nf-web", IFB, null, SET) });
    expect(planStart(spec, net, facts, "h1").phases.flatMap((p) => p.hostSteps.map((s) => s.kind))).toEqual(["virsh", "nft"]);
  });
});

describe("a bridge network's bandwidth limits (at its uplink NIC)", () => {
  const br: BridgeNetSpec = {
    type: "bridge",
    name: "lan",
    uuid: spec.uuid,
    description: "",
    createdAt: spec.createdAt,
    bridge: "nf-lan",
    interface: "eth1",
    created: { nic: { up: true, mtu: 1500, master: null } },
  };
  const M = UPLINK_MAJOR;

  it("outbound on the NIC's egress (netforge's handle), inbound on the IFB fed from its ingress; the host's own frames in class 3", () => {
    const p = renderUplinkQos("nf-lan", "eth1", IFB, SET, null);
    const IFB_OUT = "nfo-3e3fce454f5";
    expect(p.qdiscs).toEqual([
      { dev: "eth1", kind: "htb", defaultClass: 3, major: M },
      { dev: IFB, kind: "htb", defaultClass: 3 },
      { dev: IFB_OUT, kind: "htb", defaultClass: 3 },
      { dev: IFB_IN, kind: "htb", defaultClass: 3 },
    ]);
    expect(p.uplink).toEqual({ dev: "eth1", bridge: "nf-lan", root: true, feedTo: IFB, releaseRoot: false, releaseIngress: false });
    expect(p.ifb).toBe(true);
    // Between two VMs (sixth round): the VM ports (not the NIC) feed nfo- (ingress) and nfi- (egress, LAN-marked
    // frames passing); each VM with a limit has its own root class there.
    expect(p.feedPorts).toEqual({ bridge: "nf-lan", ifb: IFB_OUT });
    expect(p.feedPortsIn).toEqual({ bridge: "nf-lan", ifb: IFB_IN });
    expect(p.vmPorts).toEqual({ ifbOut: true, except: "eth1", select: { out: [MAC], in: [MAC] } });
    expect(p.ifbIn).toBe(true);
    expect(p.batch).toEqual(
      expect.arrayContaining([
        `class replace dev ${IFB_OUT} parent 1: classid 1:2010 htb rate 20000kbit ceil 20000kbit quantum 200000`,
        `filter add dev ${IFB_OUT} parent 1: protocol all prio 2 u32 match ether src ${MAC} flowid 1:2010`,
        `filter replace dev ${IFB_OUT} parent 1: protocol all prio 1 handle 800::ffc u32 match ether dst ${BRIDGE_MAC} flowid 1:3`,
        `filter replace dev ${IFB_OUT} parent 1: protocol all prio 1 handle 800::ffd u32 match ether dst ${NIC_MAC} flowid 1:3`,
        `class replace dev ${IFB_IN} parent 1: classid 1:2010 htb rate 20000kbit ceil 20000kbit quantum 200000`,
        `filter add dev ${IFB_IN} parent 1: protocol all prio 2 u32 match ether dst ${MAC} flowid 1:2010`,
      ]),
    );
    expect(tcText(p)).toContain(
      `tc filter replace dev <each port> parent 1: protocol all prio 2 handle 1 bpf bytecode "${macBpf([MAC], "dst", true)}" action mirred egress redirect dev ${IFB_IN}`,
    );
    expect(tcText(p)).toContain(
      `tc filter replace dev <each port> parent ffff: protocol all prio 1 handle 1 bpf bytecode "${macBpf([MAC], "src", false)}" action mirred egress redirect dev ${IFB_OUT}`,
    );
    expect(tcText(p)).toContain("# on each port of nf-lan but eth1, unless present");
    expect(p.batch).toEqual(
      expect.arrayContaining([
        `class replace dev eth1 parent ${M}: classid ${M}:1 htb rate 50000kbit ceil 50000kbit quantum 200000`,
        `class replace dev eth1 parent ${M}: classid ${M}:3 htb rate 100000000kbit ceil 100000000kbit quantum 200000`,
        `filter replace dev eth1 parent ${M}: protocol all prio 1 handle 800::1 u32 match ether src ${MAC} flowid ${M}:10`,
        `filter replace dev eth1 parent ${M}: protocol all prio 1 handle 800::ffc u32 match ether src ${BRIDGE_MAC} flowid ${M}:3`,
        `filter replace dev eth1 parent ${M}: protocol all prio 1 handle 800::ffd u32 match ether src ${NIC_MAC} flowid ${M}:3`,
        `filter replace dev eth1 parent ${M}: protocol all prio 1 handle 800::fff u32 match u32 0 0 flowid ${M}:2`,
        `filter replace dev ${IFB} parent 1: protocol all prio 1 handle 800::1 u32 match ether dst ${MAC} flowid 1:10`,
        `filter replace dev ${IFB} parent 1: protocol all prio 1 handle 800::ffe u32 match u8 0x01 0x01 at -14 flowid 1:3`,
      ]),
    );
    // The catch-all is the last of each table (u32 tries a table's nodes in handle order).
    const text = tcText(p);
    expect(text).toContain(`tc qdisc add dev eth1 handle ffff: ingress    # unless present`);
    expect(text).toContain(
      `tc filter replace dev eth1 parent ffff: protocol all prio 1 handle 800::1 u32 match u32 0 0 action mirred egress redirect dev ${IFB}`,
    );
    expect(text).toContain("# uplink eth1: refused if its root or ingress qdisc is another tool's");
  });

  it("the feeds' classic BPF selects frames by MAC (and, on egress, not the LAN's marked ones): run in a small interpreter", () => {
    /** The classic BPF of cls_bpf over a frame (its bytes from the MAC header) and a mark: -1 match, 0 none. */
    const run = (code: string, frame: number[], mark: number): number => {
      const ins = code
        .split(",")
        .slice(1)
        .map((i) => i.split(" ").map(Number) as [number, number, number, number]);
      let a = 0;
      for (let pc = 0; pc < ins.length; pc++) {
        const [op, jt, jf, k] = ins[pc] as [number, number, number, number];
        if (op === 32)
          a = k === 4294963220 ? mark : ((frame[k]! << 24) | (frame[k + 1]! << 16) | (frame[k + 2]! << 8) | frame[k + 3]!) >>> 0;
        else if (op === 40) a = (frame[k]! << 8) | frame[k + 1]!;
        else if (op === 21) pc += a === k ? jt : jf;
        else if (op === 69) pc += (a & k) !== 0 ? jt : jf;
        else if (op === 6) return k === 4294967295 ? -1 : k;
        else throw new Error(`opcode ${op}`);
      }
      throw new Error("fell off the end");
    };
    const bytes = (mac: string) => mac.split(":").map((x) => Number.parseInt(x, 16));
    const frame = (dst: string, src: string) => [...bytes(dst), ...bytes(src), 0x08, 0x00, 0x45];
    const macs = Array.from({ length: 5 }, (_, i) => `52:54:00:00:0${i}:${(0xf0 + i).toString(16)}`);
    const other = "52:54:00:00:00:f1"; // shares 4 bytes with macs[0]
    const lan = "00:11:22:33:44:55";
    const egress = macBpf(macs, "dst", true);
    const ingress = macBpf(macs, "src", false);
    for (const m of macs) {
      expect(run(egress, frame(m, lan), 0)).toBe(-1);
      expect(run(egress, frame(m, lan), LAN_MARK | 0x7)).toBe(0);
      expect(run(egress, frame(m, lan), 0x7)).toBe(-1);
      expect(run(ingress, frame(lan, m), 0)).toBe(-1);
      expect(run(ingress, frame(m, lan), 0)).toBe(0);
    }
    expect(run(egress, frame(other, lan), 0)).toBe(0);
    expect(run(ingress, frame(lan, other), 0)).toBe(0);
    // Past 63 MACs (jumps of 8 bits): every unmarked frame.
    const many = Array.from({ length: 64 }, (_, i) => `52:54:00:00:01:${i.toString(16).padStart(2, "0")}`);
    expect(run(macBpf(many, "dst", true), frame(lan, lan), 0)).toBe(-1);
    expect(run(macBpf(many, "dst", true), frame(lan, lan), LAN_MARK)).toBe(0);
    const most = many.slice(0, 63);
    expect(run(macBpf(most, "dst", true), frame(most[62] as string, lan), 0)).toBe(-1);
    expect(run(macBpf(most, "dst", true), frame(lan, lan), 0)).toBe(0);
  });

  it("taking limits away releases only netforge's qdiscs on the NIC (guarded), and a VM gone takes its filter and class", () => {
    const out = renderUplinkQos("nf-lan", "eth1", IFB, { network: { outbound: { averageKbps: 1000 } }, vms: [] }, SET);
    expect(out.uplink).toMatchObject({ root: true, feedTo: null, releaseRoot: false, releaseIngress: true });
    expect(out.ifb).toBe(false);
    expect(out.cleanup).toEqual([
      `filter del dev eth1 parent ${M}: protocol all prio 1 handle 800::1 u32`,
      `class del dev eth1 classid ${M}:10`,
    ]);
    // The VMs' limits gone: the VM ports' feeds go (not the NIC's), and with them nfo- and nfi- (applyTc).
    expect(out.unfeedPorts).toBe("nf-lan");
    expect(out.unfeedPortsIn).toBe("nf-lan");
    expect(out.vmPorts).toEqual({ ifbOut: false, except: "eth1", select: { out: [], in: [] } });
    expect(out.ifbIn).toBe(false);
    const none = renderUplinkQos("nf-lan", "eth1", IFB, null, SET);
    expect(none.uplink).toMatchObject({ root: false, feedTo: null, releaseRoot: true, releaseIngress: true });
    expect(none.batch).toEqual([]);
    expect(tcText(none)).toContain(`tc qdisc del dev eth1 root    # if netforge's htb ${M}:`);
  });

  it("planned like the routed types' (tc step, then the spec with the set in its metadata); start applies it, delete takes it off the NIC first", () => {
    const plan = planChange(br, { kind: "qos", qos: SET }, up);
    const steps = changeHostSteps(plan);
    expect(steps.map((s) => s.kind)).toEqual(["qos", "xml"]);
    expect(steps[0]).toMatchObject({
      name: `apply bandwidth limits on uplink eth1 of bridge nf-lan and ${IFB}, nfo-${IFB.slice(4)}, nfi-${IFB.slice(4)} (tc)`,
      apply: renderUplinkQos("nf-lan", "eth1", IFB, SET, null),
      undo: renderUplinkQos("nf-lan", "eth1", IFB, null, SET),
    });
    expect(parseNetworkXml(plan.libvirtXml).spec).toEqual({ ...br, qos: SET });
    expect(planChange({ ...br, qos: SET }, { kind: "qos", qos: SET }, up).steps).toEqual([]);
    // VM limits hold between two VMs of the network too (sixth round): nothing left for the job to warn of.
    expect(SET.vms.length).toBeGreaterThan(0);
    expect(plan.warnings).toEqual([]);
    expect(planChange(br, { kind: "qos", qos: { network: SET.network, vms: [] } }, up).warnings).toEqual([]);
    const net = { active: true, autostart: false, xml: "<network/>", forwardMode: "bridge", firewall: null };
    const links = [
      { name: "eth1", master: "nf-lan", mtu: 1500, up: true, kind: null },
      { name: "nf-lan", master: null, mtu: 1500, up: true, kind: "bridge" },
    ];
    const start = planStart({ ...br, qos: SET }, { ...net, active: false }, { links, pfs: [] }, "h1").phases.flatMap((p) => p.hostSteps);
    expect(start.at(-1)).toMatchObject({ kind: "qos", apply: renderUplinkQos("nf-lan", "eth1", IFB, SET, null) });
    const del = planDelete({ ...br, qos: SET }, "lan", net, { links, pfs: [] }).phases.flatMap((p) => p.hostSteps);
    const at = del.findIndex((s) => s.kind === "qos");
    expect(del[at]).toMatchObject({ apply: renderUplinkQos("nf-lan", "eth1", IFB, null, SET) });
    // Before the NIC is given back (the bridge's teardown), and no separate IFB removal (the step removes it).
    expect(at).toBeGreaterThan(del.findIndex((s) => s.kind === "virsh" && s.args[0] === "net-undefine"));
    expect(at).toBeLessThan(del.findIndex((s) => s.kind === "command" && s.argv.join(" ").includes("nomaster")));
    expect(JSON.stringify(del.filter((s) => s.kind === "command"))).not.toContain(IFB);
  });

  it("refuses a bridge network made on an existing bridge (no uplink known), and still every other change", () => {
    const onBridge = { ...br, interface: null, created: null };
    const err = refusal(() => planChange(onBridge, { kind: "qos", qos: SET }, up));
    expect(err.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(err.message).toContain("uplink NIC");
    expect(refusal(() => planChange(br, { kind: "mtu", mtu: 1400 }, up)).code).toBe("UNSUPPORTED_FOR_TYPE");
  });
});
