/**
 * The exact views a dry run answers for each lifecycle plan (names, commands, live flags, texts, nothing
 * more), the phases they fall in, and a change's planned steps as host steps.
 */
import { describe, expect, it } from "vitest";
import { firewallPartOf } from "../drivers/registry";
import type { ChangePlan } from "../planner/changes";
import type { BridgeNetSpec, RoutedNetSpec } from "../planner/network-spec";
import { renderNetworkChains } from "../render/nft";
import { changeHostSteps, hostStepOf } from "./change-steps";
import type { HostFacts, NetworkFacts } from "./facts";
import { planCreate, planDelete, planStart, planStop } from "./lifecycle";
import { planViews, stepView } from "./steps";

const base = { uuid: "00000000-0000-4000-8000-000000000001", description: "", createdAt: "2026-01-01T00:00:00.000Z" };
const nat: RoutedNetSpec = {
  ...base,
  type: "nat",
  name: "web",
  bridge: "nf-web",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.1",
  dhcp: { enabled: false, start: null, end: null, leaseTime: null },
  reservations: [],
};
const hostBridge: BridgeNetSpec = { ...base, type: "bridge", name: "lan0", bridge: "br0", interface: null, created: null };
const facts: HostFacts = { links: [{ name: "br0", master: null, mtu: 1500, up: true, kind: "bridge" }], pfs: [] };
const net = (more: Partial<NetworkFacts> = {}): NetworkFacts => ({
  active: true,
  autostart: false,
  xml: "<old/>",
  forwardMode: "open",
  firewall: firewallPartOf(nat),
  ...more,
});
const natPart = firewallPartOf(nat);
if (!natPart) throw new Error("a nat network has a part in the table");
const chains = renderNetworkChains(natPart);

describe("lifecycle plans as the dry run shows them", () => {
  it("create", () => {
    const plan = planCreate(nat, { start: true, autostart: false }, facts, "h1");
    expect(plan.warnings).toStrictEqual([]);
    expect(plan.nft).toBe(chains);
    expect(planViews(plan)).toStrictEqual([
      { step: "defining network", name: "define network", command: ["virsh", "net-define", "<file>"], xml: plan.libvirtXml, live: false },
      { step: "starting network", name: "start network", command: ["virsh", "net-start", "web"], live: true },
      { step: "starting network", name: "apply firewall (one nft transaction)", command: ["nft", "-f", "-"], nft: chains, live: true },
      { step: "setting autostart", name: "set autostart", command: ["virsh", "net-autostart", "web", "--disable"], live: false },
    ]);
    const define = plan.phases[0]?.hostSteps[0];
    expect(define).toMatchObject({ undoName: "undefine network" });
    // A type without a part in the table: no nft in the plan.
    expect(planCreate(hostBridge, { start: true, autostart: true }, facts, "h1")).not.toHaveProperty("nft");
  });
  it("start, with the redefinition of an old definition first", () => {
    const plan = planStart(nat, net({ active: false, forwardMode: "nat" }), facts, "h1");
    expect(plan.warnings).toStrictEqual([]);
    expect(plan.nft).toBe(chains);
    expect(plan.phases.map((p) => p.step)).toStrictEqual(["starting network"]);
    expect(planViews(plan)).toStrictEqual([
      {
        step: "starting network",
        name: "move the definition to forward mode 'open'",
        command: ["virsh", "net-define", "<file>"],
        xml: plan.phases[0]?.hostSteps[0]?.kind === "xml" ? plan.phases[0].hostSteps[0].xml : "",
        live: false,
      },
      { step: "starting network", name: "start network", command: ["virsh", "net-start", "web"], live: true },
      { step: "starting network", name: "apply firewall (one nft transaction)", command: ["nft", "-f", "-"], nft: chains, live: true },
    ]);
    expect(plan.phases[0]?.hostSteps[0]).toMatchObject({ undoName: "restore definition of web" });
    expect(planStart(hostBridge, net({ active: false, firewall: null }), facts, "h1")).not.toHaveProperty("nft");
  });
  it("stop and delete", () => {
    const stop = planStop("web", net());
    expect(stop.warnings).toStrictEqual([]);
    expect(stop.phases.map((p) => p.step)).toStrictEqual(["stopping network"]);
    expect(planViews(stop)).toStrictEqual([
      { step: "stopping network", name: "stop network", command: ["virsh", "net-destroy", "web"], live: true },
      { step: "stopping network", name: "remove firewall (one nft transaction)", command: ["nft", "-f", "-"], live: true },
    ]);
    const del = planDelete(nat, "web", net(), facts);
    expect(del.warnings).toStrictEqual([]);
    expect(del.phases.map((p) => p.step)).toStrictEqual(["stopping network", "removing definition"]);
    expect(planViews(del).at(-1)).toStrictEqual({
      step: "removing definition",
      name: "remove definition",
      command: ["virsh", "net-undefine", "web"],
      live: false,
    });
    // Stopped: no stop phase at all, even with a stale part of the table.
    expect(planDelete(nat, "web", net({ active: false }), facts).phases.map((p) => p.step)).toStrictEqual(["removing definition"]);
  });
});

describe("host setup refusals name what is missing", () => {
  const created: BridgeNetSpec = {
    ...hostBridge,
    name: "lan",
    bridge: "nf-lan",
    interface: "eth1",
    created: { nic: { up: false, mtu: 1500, master: null } },
  };
  it("a host bridge gone, a NIC gone: INVALID_STATE with the network and the device", () => {
    const noLinks: HostFacts = { links: [], pfs: [] };
    expect(() => planStart(hostBridge, net({ active: false, firewall: null }), noLinks, "h1")).toThrow(
      expect.objectContaining({ code: "INVALID_STATE", details: { name: "lan0", bridge: "br0" } }),
    );
    expect(() => planStart(created, net({ active: false, firewall: null }), noLinks, "h1")).toThrow(
      expect.objectContaining({ code: "INVALID_STATE", details: { name: "lan", interface: "eth1" } }),
    );
    // A link of that name that is no bridge is not the host bridge.
    const notBridge: HostFacts = { links: [{ name: "br0", master: null, mtu: 1500, up: true, kind: null }], pfs: [] };
    expect(() => planStart(hostBridge, net({ active: false, firewall: null }), notBridge, "h1")).toThrow(
      "bridge br0 of network 'lan0' is missing on host h1",
    );
  });
});

describe("a change's plan as host steps", () => {
  const part = firewallPartOf(nat);
  const plan: ChangePlan = {
    spec: nat,
    steps: [
      { name: "apply firewall (one nft transaction)", virsh: [], nft: chains, ...(part ? { part } : {}), undo: null, live: true },
      { name: "end connections", virsh: [], command: ["conntrack", "-D", "-p", "tcp"], undo: null, live: true },
      {
        name: "add DHCP host",
        virsh: ["net-update", "web", "add", "ip-dhcp-host", "<host/>", "--live"],
        undo: { virsh: ["net-update", "web", "delete", "ip-dhcp-host", "<host/>", "--live"] },
        live: true,
      },
      { name: "stop nothing", virsh: ["net-info", "web"], undo: null, live: false },
      {
        name: "write spec",
        virsh: ["net-define", "<file>"],
        xml: "<new/>",
        undo: { virsh: ["net-define", "<file>"], xml: "<old/>" },
        live: false,
      },
      { name: "write first spec", virsh: ["net-define", "<file>"], xml: "<new/>", undo: null, live: false },
    ],
    warnings: [],
    notLive: [],
    changed: [],
    libvirtXml: "<new/>",
  };
  it("each planned step becomes the host step of its kind, with its undo", () => {
    expect(changeHostSteps(plan)).toStrictEqual([
      { kind: "nft", name: "apply firewall (one nft transaction)", network: "web", part, text: chains, live: true },
      { kind: "command", name: "end connections", argv: ["conntrack", "-D", "-p", "tcp"], undo: null, allowFailure: true, live: true },
      {
        kind: "virsh",
        name: "add DHCP host",
        args: ["net-update", "web", "add", "ip-dhcp-host", "<host/>", "--live"],
        undo: ["net-update", "web", "delete", "ip-dhcp-host", "<host/>", "--live"],
        live: true,
      },
      { kind: "virsh", name: "stop nothing", args: ["net-info", "web"], undo: null, live: false },
      { kind: "xml", name: "write spec", network: "web", xml: "<new/>", undo: { xml: "<old/>" }, live: false },
      { kind: "xml", name: "write first spec", network: "web", xml: "<new/>", undo: null, live: false },
    ]);
  });
  it("an nft step without its part removes the network's part; its text stays the planner's", () => {
    const s = hostStepOf("web", { name: "fw", virsh: [], nft: "chain x {}", undo: null, live: true });
    expect(s).toStrictEqual({ kind: "nft", name: "fw", network: "web", part: null, text: "chain x {}", live: true });
    expect(stepView("applying change", s)).toStrictEqual({ step: "applying change", name: "fw", command: ["nft", "-f", "-"], live: true });
  });
});
