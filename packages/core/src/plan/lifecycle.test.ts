import { describe, expect, it } from "vitest";
import type { BridgeNetSpec, NetSpec, RoutedNetSpec, SriovNetSpec } from "../planner/network-spec";
import { renderNetworkChains } from "../render/nft";
import { firewallPartOf, renderNetworkXml } from "../drivers/registry";
import type { HostFacts, NetworkFacts } from "./facts";
import { firewallStep, planCreate, planDelete, planStart, planStop } from "./lifecycle";
import { commandOf, type JobPlan, planHash, planViews, stepView } from "./steps";

const base = { uuid: "00000000-0000-4000-8000-000000000001", description: "", createdAt: "2026-01-01T00:00:00.000Z" };
const nat: RoutedNetSpec = {
  ...base,
  type: "nat",
  name: "web",
  bridge: "nf-web",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.1",
  dhcp: { enabled: true, start: "10.1.0.100", end: "10.1.0.150", leaseTime: 600 },
  reservations: [],
};
const isolated: RoutedNetSpec = { ...nat, type: "isolated", name: "iso", bridge: "nf-iso" };
const createdBridge: BridgeNetSpec = {
  ...base,
  type: "bridge",
  name: "lan",
  bridge: "nf-lan",
  interface: "eth1",
  created: { nic: { up: false, mtu: 1500, master: null } },
};
const hostBridge: BridgeNetSpec = { ...base, type: "bridge", name: "lan0", bridge: "br0", interface: null, created: null };
const sriov: SriovNetSpec = { ...base, type: "sriov", name: "vfs", pf: "eth9", vfs: 4, vlan: null };

const link = (name: string, more: Partial<HostFacts["links"][number]> = {}) => ({
  name,
  master: null,
  mtu: 1500,
  up: false,
  kind: null,
  ...more,
});
const facts: HostFacts = {
  links: [link("eth1"), link("br0", { kind: "bridge", up: true })],
  pfs: [{ pf: "eth9", totalVfs: 8, numVfs: 2, vfsInUse: 0, vfsBound: [] }],
};
const running = (spec: NetSpec, more: Partial<NetworkFacts> = {}): NetworkFacts => ({
  active: true,
  autostart: true,
  xml: "<network>old</network>",
  forwardMode: "open",
  firewall: firewallPartOf(spec),
  ...more,
});
/** Each view as "job step | command line". */
const lines = (plan: JobPlan) => planViews(plan).map((v) => `${v.step} | ${v.command.join(" ")}`);

describe("planCreate", () => {
  it("nat, started: the definition, then libvirt's start and the network's part of the table together, then autostart", () => {
    const plan = planCreate(nat, { start: true, autostart: true }, facts, "h1");
    expect(lines(plan)).toEqual([
      "defining network | virsh net-define <file>",
      "starting network | virsh net-start web",
      "starting network | nft -f -",
      "setting autostart | virsh net-autostart web",
    ]);
    expect(plan.phases.map((p) => [p.step, p.concurrent === true, p.overlapsPrevious === true])).toEqual([
      ["defining network", false, false],
      ["starting network", true, false],
      ["setting autostart", false, true],
    ]);
    expect(plan.libvirtXml).toBe(renderNetworkXml(nat));
    expect(plan.phases[0]?.hostSteps[0]).toMatchObject({ kind: "xml", xml: renderNetworkXml(nat), undo: { undefine: true } });
    const part = firewallPartOf(nat);
    expect(plan.nft).toBe(part && renderNetworkChains(part));
    expect(plan.phases[1]?.hostSteps[0]).toMatchObject({
      args: ["net-start", "web"],
      undo: ["net-destroy", "web"],
      undoName: "stop network",
    });
  });
  it("not started: no start, no firewall, and autostart set off when asked (it does not overlap anything)", () => {
    const plan = planCreate(isolated, { start: false, autostart: false }, facts, "h1");
    expect(lines(plan)).toEqual(["defining network | virsh net-define <file>", "setting autostart | virsh net-autostart iso --disable"]);
    expect(plan.nft).toBeUndefined();
    expect(plan.phases.at(-1)?.overlapsPrevious).toBeUndefined();
  });
  it("a bridge netforge creates on a NIC: the bridge made, the NIC enslaved and both up before the definition", () => {
    const plan = planCreate(createdBridge, { start: true, autostart: true }, facts, "h1");
    expect(lines(plan)).toEqual([
      "defining network | ip link add name nf-lan type bridge stp_state 0 forward_delay 0",
      "defining network | ip link set dev eth1 master nf-lan",
      "defining network | ip link set dev nf-lan up",
      "defining network | ip link set dev eth1 up",
      "defining network | virsh net-define <file>",
      "starting network | virsh net-start lan",
      "setting autostart | virsh net-autostart lan",
    ]);
    const [add, enslave] = plan.phases[0]?.hostSteps ?? [];
    expect(add).toMatchObject({ kind: "command", undo: ["ip", "link", "del", "nf-lan"] });
    expect(enslave).toMatchObject({ kind: "command", undo: "restore-nic" });
  });
  it("a host bridge: nothing on the host, and refused when the bridge is gone", () => {
    expect(lines(planCreate(hostBridge, { start: false, autostart: true }, facts, "h1"))[0]).toBe(
      "defining network | virsh net-define <file>",
    );
    expect(() => planCreate(hostBridge, { start: false, autostart: true }, { ...facts, links: [] }, "h1")).toThrow(
      "bridge br0 of network 'lan0' is missing on host h1",
    );
    expect(() => planCreate(createdBridge, { start: false, autostart: true }, { ...facts, links: [] }, "h1")).toThrow(
      "interface eth1 of network 'lan' is missing on host h1",
    );
  });
  it("sriov: the VF count through 0 as two sysfs writes, each undone by the count the PF had", () => {
    const plan = planCreate(sriov, { start: false, autostart: true }, facts, "h1");
    expect(lines(plan).slice(0, 2)).toEqual([
      "defining network | write /sys/class/net/eth9/device/sriov_numvfs 0",
      "defining network | write /sys/class/net/eth9/device/sriov_numvfs 4",
    ]);
    expect(plan.phases[0]?.hostSteps.slice(0, 2).map((s) => (s.kind === "sysfs-vfs" ? s.original : null))).toEqual([2, 2]);
    expect(() => planCreate(sriov, { start: false, autostart: true }, { ...facts, pfs: [] }, "h1")).toThrow(
      "SR-IOV PF eth9 on host h1 is unavailable: its inventory lists no SR-IOV PF of that name",
    );
  });
});

describe("planStart", () => {
  it("a netforge definition: libvirt's start, then the network's part of the table", () => {
    expect(lines(planStart(nat, running(nat, { active: false }), facts, "h1"))).toEqual([
      "starting network | virsh net-start web",
      "starting network | nft -f -",
    ]);
  });
  it("a definition from before netforge owned the rules is first redefined from the spec, undone by the old one", () => {
    const plan = planStart(nat, running(nat, { active: false, forwardMode: "nat" }), facts, "h1");
    expect(lines(plan)[0]).toBe("starting network | virsh net-define <file>");
    expect(plan.phases[0]?.hostSteps[0]).toMatchObject({
      kind: "xml",
      xml: renderNetworkXml(nat),
      undo: { xml: "<network>old</network>" },
    });
  });
  it("a created bridge a reboot removed is made again before the start; a type without a table part has no nft step", () => {
    expect(lines(planStart(createdBridge, running(createdBridge, { active: false }), facts, "h1"))).toEqual([
      "starting network | ip link add name nf-lan type bridge stp_state 0 forward_delay 0",
      "starting network | ip link set dev eth1 master nf-lan",
      "starting network | ip link set dev nf-lan up",
      "starting network | ip link set dev eth1 up",
      "starting network | virsh net-start lan",
    ]);
  });
});

describe("planStop and planDelete", () => {
  it("stop: libvirt's stop (undone by a start), then the network's part leaves the table", () => {
    const plan = planStop("web", running(nat));
    expect(lines(plan)).toEqual(["stopping network | virsh net-destroy web", "stopping network | nft -f -"]);
    expect(plan.phases[0]?.hostSteps[0]).toMatchObject({ undo: ["net-start", "web"], undoName: "restart network" });
    expect(plan.phases[0]?.hostSteps[1]).toMatchObject({ kind: "nft", part: null, text: "" });
    // Already stopped by an earlier delivery, its part still in the table: only that part goes.
    expect(lines(planStop("web", running(nat, { active: false })))).toEqual(["stopping network | nft -f -"]);
    expect(lines(planStop("lan", running(createdBridge)))).toEqual(["stopping network | virsh net-destroy lan"]);
  });
  it("delete: stop when running, the definition removed (undone by defining it again with its autostart flag)", () => {
    const plan = planDelete(nat, "web", running(nat), facts);
    expect(lines(plan)).toEqual([
      "stopping network | virsh net-destroy web",
      "stopping network | nft -f -",
      "removing definition | virsh net-undefine web",
    ]);
    expect(plan.phases[1]?.hostSteps[0]).toMatchObject({
      undo: { define: "<network>old</network>", autostart: true },
      undoName: "redefine network",
    });
    expect(lines(planDelete(nat, "web", running(nat, { active: false, firewall: null }), facts))).toEqual([
      "removing definition | virsh net-undefine web",
    ]);
  });
  it("delete of a created bridge gives the NIC back as recorded, and removes the bridge", () => {
    const now: HostFacts = {
      ...facts,
      links: [link("eth1", { master: "nf-lan", up: true, mtu: 9000 }), link("nf-lan", { kind: "bridge" })],
    };
    expect(lines(planDelete(createdBridge, "lan", running(createdBridge, { active: false, firewall: null }), now))).toEqual([
      "removing definition | virsh net-undefine lan",
      "removing definition | ip link set dev eth1 nomaster",
      "removing definition | ip link set dev eth1 mtu 1500",
      "removing definition | ip link set dev eth1 down",
      "removing definition | ip link del nf-lan",
    ]);
    // A host bridge, an SR-IOV pool, a network without a spec: nothing to give back.
    expect(lines(planDelete(hostBridge, "lan0", running(hostBridge, { active: false }), facts))).toHaveLength(1);
    expect(lines(planDelete(sriov, "vfs", running(sriov, { active: false }), facts))).toHaveLength(1);
    expect(lines(planDelete(null, "x", running(nat, { active: false, firewall: null }), facts))).toEqual([
      "removing definition | virsh net-undefine x",
    ]);
  });
});

describe("steps as the dry run shows them, and the plan's hash", () => {
  it("each kind's command line, the XML and chains it carries, and no chains for a removal", () => {
    const fw = firewallStep(nat);
    expect(fw && stepView("starting network", fw)).toEqual({
      step: "starting network",
      name: "apply firewall (one nft transaction)",
      command: ["nft", "-f", "-"],
      nft: fw?.text,
      live: true,
    });
    expect(firewallStep(createdBridge)).toBeNull();
    const removal = planStop("web", running(nat)).phases[0]?.hostSteps[1];
    expect(removal && stepView("stopping network", removal)).toEqual({
      step: "stopping network",
      name: "remove firewall (one nft transaction)",
      command: ["nft", "-f", "-"],
      live: true,
    });
    const define = planCreate(nat, { start: false, autostart: true }, facts, "h1").phases[0]?.hostSteps[0];
    expect(define && stepView("defining network", define)).toMatchObject({ command: ["virsh", "net-define", "<file>"], live: false });
    expect(define && stepView("defining network", define).xml).toContain("<name>web</name>");
    expect(commandOf({ kind: "command", name: "x", argv: ["conntrack", "-D"], undo: null, live: true })).toEqual(["conntrack", "-D"]);
  });
  it("the hash: the same plan the same hash, any difference another; volatile values left out", () => {
    const a = planCreate(nat, { start: true, autostart: true }, facts, "h1");
    expect(planHash(a)).toMatch(/^[0-9a-f]{32}$/);
    expect(planHash(a)).toBe(planHash(planCreate(nat, { start: true, autostart: true }, facts, "h1")));
    expect(planHash(a)).toBe(planHash(planViews(a)));
    expect(planHash(a)).not.toBe(planHash(planCreate(nat, { start: true, autostart: false }, facts, "h1")));
    expect(planHash(a)).not.toBe(
      planHash(planCreate({ ...nat, cidr: "10.2.0.0/24", gateway: "10.2.0.1" }, { start: true, autostart: true }, facts, "h1")),
    );
    // A create previewed with one uuid and run with another is the same plan once both are left out.
    const other = { ...nat, uuid: "00000000-0000-4000-8000-000000000002", createdAt: "2026-02-02T00:00:00.000Z" };
    const b = planCreate(other, { start: true, autostart: true }, facts, "h1");
    expect(planHash(a)).not.toBe(planHash(b));
    expect(planHash(a, [nat.uuid, nat.createdAt])).toBe(planHash(b, [other.uuid, other.createdAt]));
    // An empty volatile value replaces nothing.
    expect(planHash(a, [""])).toBe(planHash(a));
  });
});
