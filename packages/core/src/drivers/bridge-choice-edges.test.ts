/** The edges of bridge-choice.ts: every refusal's exact text and details, the walk up a NIC's uppers, each step in full. */
import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { addressedUppers, type BridgeUser, bridgeSetUpSteps, bridgeTearDownSteps, chooseBridge, type LinkFacts } from "./bridge-choice";

const link = (name: string, o: Partial<LinkFacts> = {}): LinkFacts => ({
  name,
  kind: null,
  state: "up",
  master: null,
  addresses: [],
  link: null,
  ...o,
});

function thrown(f: () => unknown): AppError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error("expected an AppError");
}

const links = [
  link("lo", { kind: "loopback", addresses: ["127.0.0.1/8"] }),
  link("eth1", { mtu: 9000, adminUp: false, state: "down" }),
  link("eth2", { addresses: ["192.0.2.5/24", "192.0.2.6/24"], addresses6: ["2001:db8::5/64"] }),
  link("br0", { kind: "bridge", addresses: ["198.51.100.2/24"], addresses6: ["2001:db8:1::2/64"] }),
  link("eth4", { master: "br0" }),
  link("eth6", { master: "br0" }),
  link("eth5", { master: "bond0" }),
  link("bond0", { kind: "bond" }),
  link("eth7", { master: "ghost0" }),
  link("eth8", {}),
  link("eth8.1", { kind: "vlan", link: "eth8", addresses: ["203.0.113.1/24"] }),
  link("eth8.2", { kind: "vlan", link: "eth8", addresses: ["203.0.113.2/24", "203.0.113.3/24"] }),
  link("plain0", { kind: "dummy" }),
  link("eth9", { state: "up" }),
];
const choose = (req: Parameters<typeof chooseBridge>[0], catalog: BridgeUser[] = [], allowed = ["br0"]) =>
  chooseBridge(req, "lan", "h1", links, catalog, allowed);

describe("chooseBridge: the request", () => {
  it("no request, or an sriov one: VALIDATION_FAILED asking for interface or bridge", () => {
    for (const req of [undefined, { kind: "sriov" as const, pf: "enp1s0f0", vfs: null, vlan: null }]) {
      const e = thrown(() => choose(req));
      expect(e.code).toBe("VALIDATION_FAILED");
      expect(e.details.issues).toEqual([{ path: "interface", message: "a bridge network needs interface or bridge" }]);
    }
  });
  it("each refusal of the named device: its field and its words", () => {
    const issues = (req: Parameters<typeof chooseBridge>[0]) => thrown(() => choose(req)).details.issues;
    expect(issues({ kind: "bridge", bridge: "br9" })).toEqual([{ path: "bridge", message: "host h1 has no bridge br9" }]);
    expect(issues({ kind: "bridge", bridge: "bond0" })).toEqual([
      { path: "bridge", message: "bond0 on host h1 is a bond device, not a Linux bridge" },
    ]);
    expect(issues({ kind: "bridge", bridge: "eth1" })).toEqual([
      { path: "bridge", message: "eth1 on host h1 is a plain device, not a Linux bridge" },
    ]);
    expect(issues({ kind: "interface", interface: "eth99" })).toEqual([{ path: "interface", message: "host h1 has no interface eth99" }]);
    expect(issues({ kind: "interface", interface: "br0" })).toEqual([
      { path: "interface", message: 'br0 is itself a bridge: create the network with "bridge": "br0"' },
    ]);
    expect(issues({ kind: "interface", interface: "lo" })).toEqual([{ path: "interface", message: "lo is the loopback device" }]);
  });
});

describe("chooseBridge: other networks of the host", () => {
  const sriov: BridgeUser = { name: "fast", bridge: null, interface: null };
  const nat: BridgeUser = { name: "web", bridge: "nf-web", interface: null };
  it("networks on other bridges, or on none (sriov), use neither the bridge nor the NIC asked for", () => {
    expect(choose({ kind: "bridge", bridge: "br0" }, [sriov, nat])).toEqual({ bridge: "br0", interface: null, created: null });
    expect(choose({ kind: "interface", interface: "eth1" }, [sriov, nat]).interface).toBe("eth1");
    expect(choose({ kind: "interface", interface: "eth4" }, [sriov, nat]).bridge).toBe("br0");
  });
  it("the one that does: INVALID_STATE naming it, the host and what it holds", () => {
    const e = thrown(() => choose({ kind: "bridge", bridge: "br0" }, [sriov, { name: "office", bridge: "br0", interface: null }]));
    expect(e.code).toBe("INVALID_STATE");
    expect(e.message).toBe("bridge br0 on host h1 is already used by network 'office'");
    expect(e.details).toEqual({ host: "h1", usedBy: "office" });
  });
  it("a created bridge's name avoids the host's devices and the bridges other networks have", () => {
    expect(chooseBridge({ kind: "interface", interface: "eth1" }, "web", "h1", links, [nat]).bridge).toMatch(/^nf-web-[0-9a-f]{5}$/);
    expect(chooseBridge({ kind: "interface", interface: "eth1" }, "web", "h1", links, [sriov]).bridge).toBe("nf-web");
  });
});

describe("chooseBridge: bridges that are not netforge's", () => {
  it("an unlisted bridge: NOT_ALLOWED listing every address (v4 and v6) and every port", () => {
    const e = thrown(() => choose({ kind: "bridge", bridge: "br0" }, [], []));
    expect(e.code).toBe("NOT_ALLOWED");
    expect(e.message).toContain("(it carries 198.51.100.2/24, 2001:db8:1::2/64; its ports are eth4, eth6)");
    expect(e.details).toStrictEqual({
      host: "h1",
      bridge: "br0",
      addresses: ["198.51.100.2/24", "2001:db8:1::2/64"],
      ports: ["eth4", "eth6"],
      setting: "NETFORGE_ALLOWED_INTERFACES",
    });
  });
  it("reached through a port: the details also name the port", () => {
    expect(thrown(() => choose({ kind: "interface", interface: "eth6" }, [], [])).details).toMatchObject({
      bridge: "br0",
      interface: "eth6",
    });
  });
  it("a port of something that is no Linux bridge (a bond, or a master the read does not show): INVALID_STATE with its kind", () => {
    const bond = thrown(() => choose({ kind: "interface", interface: "eth5" }));
    expect(bond.code).toBe("INVALID_STATE");
    expect(bond.message).toBe("interface eth5 on host h1 is a port of bond0 (bond), not of a Linux bridge: it cannot join a bridge");
    expect(bond.details).toEqual({ host: "h1", interface: "eth5", master: "bond0" });
    expect(thrown(() => choose({ kind: "interface", interface: "eth7" })).message).toContain(
      "is a port of ghost0 (unknown), not of a Linux bridge",
    );
  });
});

describe("chooseBridge: a NIC netforge would enslave", () => {
  it("with addresses: INVALID_STATE listing all of them", () => {
    const e = thrown(() => choose({ kind: "interface", interface: "eth2" }));
    expect(e.code).toBe("INVALID_STATE");
    expect(e.message).toMatch(
      /^interface eth2 on host h1 carries 192\.0\.2\.5\/24, 192\.0\.2\.6\/24, 2001:db8::5\/64: moving a configured NIC/,
    );
    expect(e.details).toEqual({ host: "h1", interface: "eth2", addresses: ["192.0.2.5/24", "192.0.2.6/24", "2001:db8::5/64"] });
  });
  it("with addressed upper devices: INVALID_STATE naming each with its addresses", () => {
    const e = thrown(() => choose({ kind: "interface", interface: "eth8" }));
    expect(e.code).toBe("INVALID_STATE");
    expect(e.message).toContain("(eth8.1 carries 203.0.113.1/24; eth8.2 carries 203.0.113.2/24, 203.0.113.3/24)");
    expect(e.details).toEqual({
      host: "h1",
      interface: "eth8",
      uppers: [
        { name: "eth8.1", addresses: ["203.0.113.1/24"] },
        { name: "eth8.2", addresses: ["203.0.113.2/24", "203.0.113.3/24"] },
      ],
    });
  });
  it("its state before: admin state from the read, else its operational state; MTU 1500 when the read has none", () => {
    expect(choose({ kind: "interface", interface: "eth9" }).created).toEqual({ nic: { up: true, mtu: 1500, master: null } });
    const down = chooseBridge({ kind: "interface", interface: "eth9" }, "lan", "h1", [link("eth9", { state: "down" })], []);
    expect(down.created).toEqual({ nic: { up: false, mtu: 1500, master: null } });
    const adminDown = chooseBridge({ kind: "interface", interface: "eth9" }, "lan", "h1", [link("eth9", { adminUp: false })], []);
    expect(adminDown.created?.nic.up).toBe(false);
  });
});

describe("addressedUppers: the walk", () => {
  it("a NIC's own addresses are not an upper's, even when a stack of devices leads back to it", () => {
    const loop = [link("a", { addresses: ["10.0.0.1/24"], link: "b", kind: "vlan" }), link("b", { link: "a", kind: "vlan" })];
    expect(addressedUppers("a", loop)).toEqual([]);
  });
  it("a NIC the read does not list, or whose master it does not list, has no known uppers", () => {
    expect(addressedUppers("ghost", links)).toEqual([]);
    expect(addressedUppers("eth7", links)).toEqual([]);
  });
  it("devices stacked on nothing (link null) are not uppers of a NIC without a master", () => {
    const flat = [link("eth1"), link("eth2", { addresses: ["192.0.2.5/24"] })];
    expect(addressedUppers("eth1", flat)).toEqual([]);
  });
  it("masters count with their IPv6 addresses", () => {
    expect(addressedUppers("eth4", links)).toEqual([{ name: "br0", addresses: ["198.51.100.2/24", "2001:db8:1::2/64"] }]);
  });
});

describe("bridge steps in full", () => {
  const created = { bridge: "nf-lan", interface: "eth1", created: { nic: { up: false, mtu: 9000, master: null } } };
  it("set-up: each step's name, ip arguments and undo", () => {
    expect(bridgeSetUpSteps(created, { bridgeExists: false, nicMaster: null, nicUp: false })).toEqual([
      {
        name: "create bridge nf-lan",
        ip: ["link", "add", "name", "nf-lan", "type", "bridge", "stp_state", "0", "forward_delay", "0"],
        undo: ["link", "del", "nf-lan"],
      },
      { name: "enslave eth1 to nf-lan", ip: ["link", "set", "dev", "eth1", "master", "nf-lan"], undo: "restore-nic" },
      { name: "bring nf-lan up", ip: ["link", "set", "dev", "nf-lan", "up"], undo: null },
      { name: "bring eth1 up", ip: ["link", "set", "dev", "eth1", "up"], undo: null },
    ]);
  });
  it("nothing for a spec without a created bridge or without a NIC", () => {
    const have = { bridgeExists: false, nicMaster: null, nicUp: false };
    expect(bridgeSetUpSteps({ ...created, interface: null }, have)).toEqual([]);
    expect(bridgeSetUpSteps({ ...created, created: null }, have)).toEqual([]);
    const now = { bridgeExists: true, nic: { master: "nf-lan", mtu: 1500, up: true } };
    expect(bridgeTearDownSteps({ ...created, interface: null }, now)).toEqual([]);
    expect(bridgeTearDownSteps({ ...created, created: null }, now)).toEqual([]);
  });
  it("give-back: each step's name and ip arguments; up again when it was up", () => {
    const was = { ...created, created: { nic: { up: true, mtu: 1400, master: "vrf-blue" } } };
    expect(bridgeTearDownSteps(was, { bridgeExists: true, nic: { master: "nf-lan", mtu: 1500, up: false } })).toEqual([
      { name: "release eth1", ip: ["link", "set", "dev", "eth1", "nomaster"], undo: null },
      { name: "give eth1 back to vrf-blue", ip: ["link", "set", "dev", "eth1", "master", "vrf-blue"], undo: null },
      { name: "restore MTU 1400 of eth1", ip: ["link", "set", "dev", "eth1", "mtu", "1400"], undo: null },
      { name: "set eth1 up as it was", ip: ["link", "set", "dev", "eth1", "up"], undo: null },
      { name: "remove bridge nf-lan", ip: ["link", "del", "nf-lan"], undo: null },
    ]);
    expect(bridgeTearDownSteps(created, { bridgeExists: false, nic: { master: null, mtu: 9000, up: true } })).toEqual([
      { name: "set eth1 down as it was", ip: ["link", "set", "dev", "eth1", "down"], undo: null },
    ]);
  });
  it("a NIC already back with its former master: not given back again", () => {
    const was = { ...created, created: { nic: { up: true, mtu: 1500, master: "vrf-blue" } } };
    expect(bridgeTearDownSteps(was, { bridgeExists: false, nic: { master: "vrf-blue", mtu: 1500, up: true } })).toEqual([]);
  });
});
