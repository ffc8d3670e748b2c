/**
 * The device doors (bridge and sriov, through the registry's l2* functions) read from a host's published
 * inventory: what they refuse, what they let through to the worker, and the definition and host steps a dry
 * run shows for a create or a delete.
 */
import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import type { CreateNetworkPayload } from "../jobs";
import type { BridgeNetSpec, NetSpec, RoutedNetSpec, SriovNetSpec } from "../planner/network-spec";
import type { HostRecord, InterfaceInfo } from "../schemas/host";
import type { L2Request } from "../schemas/network";
import { bridgeChoiceFromInventory, bridgeUsers } from "./bridge";
import type { IndexedNetwork } from "./door";
import { factsFromInventory } from "../plan/facts";
import { planCreate } from "../plan/lifecycle";
import { commandOf } from "../plan/steps";
import { l2Refusal, l2SpecFor, l2Unavailable, modelFor, modelOf } from "./registry";

/** A device create's dry run on `host`: the definition, and the host steps before it (planned from the inventory). */
function l2CreatePlan(p: CreateNetworkPayload, host: HostRecord, networks: readonly IndexedNetwork[]) {
  const spec = l2SpecFor(p, host, networks);
  if (!spec) return null;
  const plan = planCreate(spec, { start: false, autostart: false }, factsFromInventory(host), host.id);
  const setUp = plan.phases[0]?.hostSteps.filter((s) => s.kind !== "xml") ?? [];
  return { xml: plan.libvirtXml, steps: setUp.map((s) => ({ name: s.name, command: commandOf(s), live: s.live })) };
}

/** A delete's host steps after the definition is removed, from the inventory. */
function l2DeleteSteps(spec: NetSpec, host: HostRecord) {
  return (modelOf(spec).hostSteps?.tearDown(spec, factsFromInventory(host)) ?? []).map((s) => ({
    name: s.name,
    command: commandOf(s),
    live: s.live,
  }));
}

const link = (name: string, over: Partial<InterfaceInfo> = {}): InterfaceInfo => ({
  name,
  kind: null,
  mac: null,
  state: "up",
  master: null,
  addresses: [],
  ...over,
});

const hostWith = (over: Partial<HostRecord> = {}): HostRecord => ({
  id: "h1",
  hostname: "h1.example",
  libvirtVersion: "10.0.0",
  interfaces: [],
  occupied: [],
  networks: 0,
  sriovPfs: [],
  startedAt: "2026-01-01T00:00:00.000Z",
  lastSeenAt: "2026-01-01T00:00:00.000Z",
  ...over,
});

const indexed = (name: string, host: string, bridge: string | null, nic: string | null = null, pf?: string): IndexedNetwork => ({
  name,
  host,
  bridge: { name: bridge, interface: nic },
  sriov: pf ? { pf, vfsTotal: 8, vfsInUse: 0, vlan: null } : null,
});

const payload = (l2: L2Request, name = "lan1"): CreateNetworkPayload => ({
  name,
  type: l2.kind === "sriov" ? "sriov" : "bridge",
  uuid: "00000000-0000-4000-8000-000000000007",
  host: "h1",
  description: "the lab LAN",
  cidr: null,
  gateway: null,
  dhcp: { enabled: false, start: null, end: null, leaseTime: null },
  autostart: true,
  createdAt: "2026-01-01T00:00:00.000Z",
  l2,
  start: true,
});

const nicReq = (nic: string): L2Request => ({ kind: "interface", interface: nic });
const sriovReq = (pf: string, vfs: number | null = null): L2Request => ({ kind: "sriov", pf, vfs, vlan: null });

const refusalOf = (req: L2Request, host: HostRecord, networks: IndexedNetwork[] = [], name = "lan1") =>
  l2Refusal(req, host, networks, name);

describe("the bridge door, from a host's inventory", () => {
  it("lets a free NIC through and returns (not throws) each refusal of the bridge choice", () => {
    const host = hostWith({ interfaces: [link("eth1"), link("eth2", { addresses: ["192.0.2.5/24"] })] });
    expect(refusalOf(nicReq("eth1"), host)).toBeNull();
    const err = refusalOf(nicReq("eth2"), host);
    expect(err).toBeInstanceOf(AppError);
    expect(err?.code).toBe("INVALID_STATE");
    expect(err?.message).toContain("carries 192.0.2.5/24");
    expect(refusalOf(nicReq("eth9"), host)?.code).toBe("VALIDATION_FAILED");
  });

  it("counts a NIC's IPv6 addresses and its addressed upper devices (VLAN children) as configured", () => {
    const v6 = hostWith({ interfaces: [link("eth1", { addresses6: ["2001:db8::5/64"] })] });
    expect(refusalOf(nicReq("eth1"), v6)?.message).toContain("carries 2001:db8::5/64");
    const vlan = hostWith({ interfaces: [link("eth1"), link("eth1.10", { kind: "vlan", link: "eth1", addresses: ["192.0.2.9/24"] })] });
    expect(refusalOf(nicReq("eth1"), vlan)?.message).toContain("eth1.10 carries 192.0.2.9/24");
  });

  it("uses an existing bridge only when the host's allow-list names it", () => {
    const interfaces = [link("br0", { kind: "bridge" })];
    expect(refusalOf({ kind: "bridge", bridge: "br0" }, hostWith({ interfaces }))?.code).toBe("NOT_ALLOWED");
    expect(refusalOf({ kind: "bridge", bridge: "br0" }, hostWith({ interfaces, allowedInterfaces: ["br0"] }))).toBeNull();
  });

  it("refuses a NIC or bridge that another network of the same host holds, not one of another host's", () => {
    const host = hostWith({ interfaces: [link("eth1"), link("br0", { kind: "bridge" })], allowedInterfaces: ["br0"] });
    const nicTaken = refusalOf(nicReq("eth1"), host, [indexed("other", "h1", "nf-other", "eth1")]);
    expect(nicTaken?.message).toBe("interface eth1 on host h1 is already used by network 'other'");
    expect(refusalOf(nicReq("eth1"), host, [indexed("other", "h2", "nf-other", "eth1")])).toBeNull();
    const brTaken = refusalOf({ kind: "bridge", bridge: "br0" }, host, [indexed("other", "h1", "br0")]);
    expect(brTaken?.message).toBe("bridge br0 on host h1 is already used by network 'other'");
    // The network itself (a retried create) is not another user.
    expect(refusalOf(nicReq("eth1"), host, [indexed("lan1", "h1", "nf-lan1", "eth1")])).toBeNull();
  });

  it("lists the host's other networks as bridge users: bridge device and NIC, only of that host", () => {
    const host = hostWith();
    expect(bridgeUsers(host, [indexed("a", "h1", "nf-a", "eth1"), indexed("b", "h2", "nf-b", "eth2"), indexed("c", "h1", null)])).toEqual([
      { name: "a", bridge: "nf-a", interface: "eth1" },
      { name: "c", bridge: null, interface: null },
    ]);
  });

  it("sees a netforge bridge that no network holds (a delete just removed it) as gone: its NIC is free, its name too", () => {
    const host = hostWith({
      interfaces: [link("nf-lan1", { kind: "bridge" }), link("eth1", { master: "nf-lan1", mtu: 9000, up: false })],
    });
    expect(bridgeChoiceFromInventory(nicReq("eth1"), host, [], "lan1")).toEqual({
      bridge: "nf-lan1",
      interface: "eth1",
      created: { nic: { up: false, mtu: 9000, master: null } },
    });
  });

  it("keeps a netforge bridge another network of the host holds, and a non-nf or non-bridge device, as present", () => {
    const held = hostWith({
      interfaces: [link("nf-other", { kind: "bridge" }), link("eth1", { master: "nf-other" })],
      allowedInterfaces: ["nf-other"],
    });
    expect(refusalOf(nicReq("eth1"), held, [indexed("other", "h1", "nf-other")])?.message).toBe(
      "bridge nf-other (of interface eth1) on host h1 is already used by network 'other'",
    );
    // Held on another host only: on this host it is a leftover, so the NIC is free (no allow-list needed).
    const leftover = hostWith({ interfaces: [link("nf-other", { kind: "bridge" }), link("eth1", { master: "nf-other" })] });
    expect(refusalOf(nicReq("eth1"), leftover, [indexed("other", "h2", "nf-other")])).toBeNull();
    // A network of the host without a bridge device holds none.
    expect(refusalOf(nicReq("eth1"), leftover, [indexed("vfs", "h1", null, null, "eth9")])).toBeNull();
    const foreign = hostWith({ interfaces: [link("br9", { kind: "bridge" }), link("eth1", { master: "br9" })] });
    expect(refusalOf(nicReq("eth1"), foreign)?.code).toBe("NOT_ALLOWED");
    const notBridge = hostWith({ interfaces: [link("nf-bond", { kind: "bond" }), link("eth1", { master: "nf-bond" })] });
    expect(refusalOf(nicReq("eth1"), notBridge)?.message).toContain("is a port of nf-bond (bond), not of a Linux bridge");
  });

  it("picks a bridge name no device of the host has, and records the NIC's MTU and state (up from its state when the inventory has no flag)", () => {
    const host = hostWith({ interfaces: [link("nf-lan1", { kind: "dummy" }), link("eth1", { state: "up" })] });
    const choice = bridgeChoiceFromInventory(nicReq("eth1"), host, [], "lan1");
    expect(choice.bridge).not.toBe("nf-lan1");
    expect(choice.created).toEqual({ nic: { up: true, mtu: 1500, master: null } });
    const down = hostWith({ interfaces: [link("eth1", { state: "down", mtu: 1400 })] });
    expect(bridgeChoiceFromInventory(nicReq("eth1"), down, [], "lan1").created).toEqual({ nic: { up: false, mtu: 1400, master: null } });
  });

  it("says which device no online host has, per request kind", () => {
    const nic = l2Unavailable(nicReq("eth1"));
    expect([nic.code, nic.message]).toEqual(["VALIDATION_FAILED", "invalid request: interface: no online host has interface eth1"]);
    const br = l2Unavailable({ kind: "bridge", bridge: "br0" });
    expect(br.details).toEqual({ issues: [{ path: "bridge", message: "no online host has bridge br0" }] });
    const pf = l2Unavailable(sriovReq("eth9"));
    expect([pf.code, pf.message, pf.details]).toEqual([
      "SRIOV_UNAVAILABLE",
      "no online host has SR-IOV PF eth9",
      { pf: "eth9", field: "pf" },
    ]);
  });

  it("plans a create on a free NIC: the definition of the chosen bridge and the ip steps, each live", () => {
    const host = hostWith({ interfaces: [link("eth1", { state: "down", mtu: 9000 })] });
    const plan = l2CreatePlan(payload(nicReq("eth1")), host, []);
    expect(plan?.steps).toEqual([
      {
        name: "create bridge nf-lan1",
        command: ["ip", "link", "add", "name", "nf-lan1", "type", "bridge", "stp_state", "0", "forward_delay", "0"],
        live: true,
      },
      { name: "enslave eth1 to nf-lan1", command: ["ip", "link", "set", "dev", "eth1", "master", "nf-lan1"], live: true },
      { name: "bring nf-lan1 up", command: ["ip", "link", "set", "dev", "nf-lan1", "up"], live: true },
      { name: "bring eth1 up", command: ["ip", "link", "set", "dev", "eth1", "up"], live: true },
    ]);
    expect(plan?.xml).toContain("<name>lan1</name>");
    expect(plan?.xml).toContain("<uuid>00000000-0000-4000-8000-000000000007</uuid>");
    expect(plan?.xml).toContain("<nf:interface>eth1</nf:interface>");
    expect(plan?.xml).toContain("<nf:nic up='no' mtu='9000'/>");
    expect(plan?.xml).toContain("<bridge name='nf-lan1'/>");
  });

  it("skips the steps already in place: a bridge left by a delete, a NIC already in it, a NIC up by flag or state", () => {
    const leftover = hostWith({ interfaces: [link("nf-lan1", { kind: "bridge" }), link("eth1", { master: "nf-lan1", up: true })] });
    expect(l2CreatePlan(payload(nicReq("eth1")), leftover, [])?.steps.map((s) => s.name)).toEqual(["bring nf-lan1 up"]);
    const upByState = hostWith({ interfaces: [link("eth1", { state: "up" })] });
    expect(l2CreatePlan(payload(nicReq("eth1")), upByState, [])?.steps.map((s) => s.name)).not.toContain("bring eth1 up");
    const downByFlag = hostWith({ interfaces: [link("eth1", { state: "up", up: false })] });
    expect(l2CreatePlan(payload(nicReq("eth1")), downByFlag, [])?.steps.map((s) => s.name)).toContain("bring eth1 up");
  });

  it("plans no host step on a listed host bridge, and nothing without a device request", () => {
    const host = hostWith({ interfaces: [link("br0", { kind: "bridge" })], allowedInterfaces: ["br0"] });
    const plan = l2CreatePlan(payload({ kind: "bridge", bridge: "br0" }), host, []);
    expect(plan?.steps).toEqual([]);
    expect(plan?.xml).toContain("<bridge name='br0'/>");
    const { l2: _l2, ...noDevice } = payload(nicReq("eth1"));
    expect(l2CreatePlan(noDevice, host, [])).toBeNull();
  });

  it("gives a created bridge's NIC back on delete as the spec recorded it, from the inventory", () => {
    const spec: BridgeNetSpec = {
      type: "bridge",
      name: "lan1",
      uuid: "00000000-0000-4000-8000-000000000007",
      description: "",
      createdAt: "2026-01-01T00:00:00.000Z",
      bridge: "nf-lan1",
      interface: "eth1",
      created: { nic: { up: false, mtu: 1500, master: null } },
    };
    const host = hostWith({
      interfaces: [link("nf-lan1", { kind: "bridge" }), link("eth1", { master: "nf-lan1", mtu: 9000, state: "up" })],
    });
    expect(l2DeleteSteps(spec, host)).toEqual([
      { name: "release eth1", command: ["ip", "link", "set", "dev", "eth1", "nomaster"], live: true },
      { name: "restore MTU 1500 of eth1", command: ["ip", "link", "set", "dev", "eth1", "mtu", "1500"], live: true },
      { name: "set eth1 down as it was", command: ["ip", "link", "set", "dev", "eth1", "down"], live: true },
      { name: "remove bridge nf-lan1", command: ["ip", "link", "del", "nf-lan1"], live: true },
    ]);
    // The up flag wins over the operational state; an MTU the inventory lacks is restored.
    const flagged = hostWith({ interfaces: [link("eth1", { state: "up", up: false })] });
    expect(l2DeleteSteps(spec, flagged).map((s) => s.name)).toEqual(["restore MTU 1500 of eth1"]);
    // Admin up without carrier (operational state down) is up; the recorded MTU already there is left alone.
    const wasUp = { ...spec, created: { nic: { up: true, mtu: 1500, master: null } } };
    const noCarrier = hostWith({ interfaces: [link("eth1", { state: "down", up: true, mtu: 1500 })] });
    expect(l2DeleteSteps(wasUp, noCarrier)).toEqual([]);
    // Without the flag the operational state tells: down is down.
    const down = hostWith({ interfaces: [link("eth1", { state: "down", mtu: 1500 })] });
    expect(l2DeleteSteps(wasUp, down).map((s) => s.name)).toEqual(["set eth1 up as it was"]);
    // The NIC gone from the host: only the bridge (already gone here) would be removed.
    expect(l2DeleteSteps(spec, hostWith())).toEqual([]);
  });
});

describe("the sriov door, from a host's inventory", () => {
  const pf = (over: Partial<HostRecord["sriovPfs"][number]> = {}): HostRecord["sriovPfs"][number] => ({
    pf: "eth9",
    vfsTotal: 8,
    vfsConfigured: 2,
    ...over,
  });

  it("refuses a host with neither the PF nor an interface of its name; an interface alone is the worker's to explain", () => {
    const err = refusalOf(sriovReq("eth9"), hostWith({ interfaces: [link("eth1")] }));
    expect([err?.code, err?.message, err?.details]).toEqual([
      "SRIOV_UNAVAILABLE",
      "host h1 has no SR-IOV PF eth9 (no such interface)",
      { host: "h1", pf: "eth9", field: "pf" },
    ]);
    expect(refusalOf(sriovReq("eth9"), hostWith({ interfaces: [link("eth9")] }))).toBeNull();
    expect(refusalOf(sriovReq("eth9"), hostWith({ sriovPfs: [pf()] }))).toBeNull();
    // An interface of that name with a VF count asked: still the worker's to explain.
    expect(refusalOf(sriovReq("eth9", 4), hostWith({ interfaces: [link("eth9")] }))).toBeNull();
    // Another PF listed is not this one.
    expect(refusalOf(sriovReq("eth9"), hostWith({ sriovPfs: [pf({ pf: "eth8" })] }))?.code).toBe("SRIOV_UNAVAILABLE");
  });

  it("reads the asked PF's own record among several", () => {
    const host = hostWith({ sriovPfs: [pf({ pf: "eth8", foreignNetworks: ["vf-pool"] }), pf({ vfsConfigured: 0 })] });
    expect(refusalOf(sriovReq("eth9", 4), host)).toBeNull();
    expect(refusalOf(sriovReq("eth8", 4), host)?.code).toBe("NOT_ALLOWED");
    expect(l2CreatePlan(payload(sriovReq("eth9", 4)), host, [])?.steps.map((s) => s.command)).toEqual([
      ["write", "/sys/class/net/eth9/device/sriov_numvfs", "4"],
    ]);
  });

  it("refuses a PF another tool's libvirt network names, with the host and who uses it", () => {
    const err = refusalOf(sriovReq("eth9"), hostWith({ sriovPfs: [pf({ foreignNetworks: ["vf-pool"] })] }));
    expect(err?.code).toBe("NOT_ALLOWED");
    expect(err?.message).toBe(
      "SR-IOV PF eth9 on host h1 is named by libvirt network 'vf-pool', which is not netforge's: its VFs are that network's to hand out",
    );
    expect(err?.details).toEqual({ host: "h1", pf: "eth9", usedBy: ["vf-pool"] });
  });

  it("refuses a VF count change while VFs are bound or in use, naming the host; keeps the count otherwise", () => {
    const bound = hostWith({ sriovPfs: [pf({ vfsBound: [{ index: 0, driver: "iavf" }] })] });
    const err = refusalOf(sriovReq("eth9", 4), bound);
    expect(err?.code).toBe("INVALID_STATE");
    expect(err?.message).toMatch(/^cannot change the VFs of eth9 from 2 to 4: 1 VF\(s\) bound to a driver \(VF 0 to iavf\).* \(host h1\)$/);
    expect(err?.details).toEqual({ pf: "eth9", vfsConfigured: 2, vfs: 4, vfsBound: [{ index: 0, driver: "iavf" }], host: "h1" });
    // Keeping the count (vfs null, or the same count) touches no VF.
    expect(refusalOf(sriovReq("eth9"), bound)).toBeNull();
    expect(refusalOf(sriovReq("eth9", 2), bound)).toBeNull();
    const inUse = hostWith({ sriovPfs: [pf({ vfsInUse: 1, vfsBound: [{ index: 1, driver: "vfio-pci" }] })] });
    expect(refusalOf(sriovReq("eth9", 4), inUse)?.message).toMatch(/1 VF\(s\) in use by guests.* \(host h1\)$/);
    // Without bound VFs the count is the worker's to check on the host (it re-reads sysfs).
    expect(refusalOf(sriovReq("eth9", 4), hostWith({ sriovPfs: [pf({ vfsInUse: 1 })] }))).toBeNull();
    // A count beyond the PF's is not this door's refusal either: the worker names it.
    expect(refusalOf(sriovReq("eth9", 99), bound)).toBeNull();
  });

  it("refuses a PF another network of the same host uses, not itself nor another host's", () => {
    const host = hostWith({ sriovPfs: [pf()] });
    const err = refusalOf(sriovReq("eth9"), host, [indexed("vfs1", "h1", null, null, "eth9")]);
    expect([err?.code, err?.message, err?.details]).toEqual([
      "INVALID_STATE",
      "SR-IOV PF eth9 on host h1 is already used by network 'vfs1'",
      { host: "h1", usedBy: "vfs1" },
    ]);
    expect(refusalOf(sriovReq("eth9"), host, [indexed("lan1", "h1", null, null, "eth9")])).toBeNull();
    expect(refusalOf(sriovReq("eth9"), host, [indexed("vfs1", "h2", null, null, "eth9")])).toBeNull();
    expect(refusalOf(sriovReq("eth9"), host, [indexed("vfs1", "h1", null, null, "eth8")])).toBeNull();
    // Networks of other types on the host (no PF) are no users of it.
    expect(refusalOf(sriovReq("eth9"), host, [indexed("lan", "h1", "br0", "eth1")])).toBeNull();
  });

  it("plans the sysfs writes that take the PF to the asked count, and its hostdev definition", () => {
    const fresh = l2CreatePlan(payload(sriovReq("eth9", 4)), hostWith({ sriovPfs: [pf({ vfsConfigured: 0 })] }), []);
    expect(fresh?.steps).toEqual([
      { name: "set 4 VFs on eth9", command: ["write", "/sys/class/net/eth9/device/sriov_numvfs", "4"], live: true },
    ]);
    expect(fresh?.xml).toContain("<name>lan1</name>");
    expect(fresh?.xml).toContain("<nf:sriov pf='eth9' vfs='4'/>");
    expect(fresh?.xml).toContain("<pf dev='eth9'/>");
    const through0 = l2CreatePlan(payload(sriovReq("eth9", 4)), hostWith({ sriovPfs: [pf()] }), []);
    expect(through0?.steps.map((s) => s.command[2])).toEqual(["0", "4"]);
    expect(l2CreatePlan(payload(sriovReq("eth9")), hostWith({ sriovPfs: [pf()] }), [])?.steps).toEqual([]);
  });

  it("throws what the worker would for a PF the inventory lacks, another tool's PF, or VFs in use", () => {
    expect(() => l2CreatePlan(payload(sriovReq("eth9", 4)), hostWith({ interfaces: [link("eth9")] }), [])).toThrow(
      expect.objectContaining({
        code: "SRIOV_UNAVAILABLE",
        message: "SR-IOV PF eth9 on host h1 is unavailable: its inventory lists no SR-IOV PF of that name",
        details: { pf: "eth9", host: "h1", field: "pf" },
      }),
    );
    expect(() => l2CreatePlan(payload(sriovReq("eth9", 4)), hostWith({ sriovPfs: [pf({ foreignNetworks: ["x"] })] }), [])).toThrow(
      expect.objectContaining({ code: "NOT_ALLOWED" }),
    );
    expect(() => l2CreatePlan(payload(sriovReq("eth9", 4)), hostWith({ sriovPfs: [pf({ vfsInUse: 1 })] }), [])).toThrow(
      expect.objectContaining({ code: "INVALID_STATE", message: expect.stringContaining("1 VF(s) in use by guests") }),
    );
    expect(() =>
      l2CreatePlan(payload(sriovReq("eth9", 4)), hostWith({ sriovPfs: [pf({ vfsBound: [{ index: 0, driver: "iavf" }] })] }), []),
    ).toThrow(expect.objectContaining({ code: "INVALID_STATE", message: expect.stringContaining("VF 0 to iavf") }));
    expect(() => l2CreatePlan(payload(sriovReq("eth9")), hostWith({ sriovPfs: [pf({ vfsConfigured: 0 })] }), [])).toThrow(
      expect.objectContaining({ code: "SRIOV_UNAVAILABLE", message: expect.stringContaining("has no VFs configured") }),
    );
  });

  it("runs no host step on delete (the VF count stays), nor does a routed network", () => {
    const spec: SriovNetSpec = {
      type: "sriov",
      name: "vfs1",
      uuid: "00000000-0000-4000-8000-000000000008",
      description: "",
      createdAt: "2026-01-01T00:00:00.000Z",
      pf: "eth9",
      vfs: 4,
      vlan: null,
    };
    expect(l2DeleteSteps(spec, hostWith({ sriovPfs: [pf()] }))).toEqual([]);
    expect(modelFor("sriov").hostSteps?.tearDown(spec, factsFromInventory(hostWith({ sriovPfs: [pf()] })))).toEqual([]);
    const routed: RoutedNetSpec = {
      type: "nat",
      name: "n1",
      uuid: "00000000-0000-4000-8000-000000000009",
      description: "",
      createdAt: "2026-01-01T00:00:00.000Z",
      bridge: "nf-n1",
      cidr: "10.0.0.0/24",
      gateway: "10.0.0.1",
      dhcp: { enabled: false, start: null, end: null, leaseTime: null },
      reservations: [],
    };
    expect(l2DeleteSteps(routed, hostWith())).toEqual([]);
  });
});
