import { describe, expect, it } from "vitest";
import { addressedUppers, type BridgeUser, bridgeSetUpSteps, bridgeTearDownSteps, chooseBridge, type LinkFacts } from "./bridge-choice";
import type { NetSpec } from "../planner/network-spec";

const link = (name: string, o: Partial<LinkFacts> = {}): LinkFacts => ({
  name,
  kind: null,
  state: "up",
  master: null,
  addresses: [],
  addresses6: [],
  mtu: 1500,
  adminUp: true,
  ...o,
});
const entry = (spec: NetSpec): BridgeUser => ({
  name: spec.name,
  bridge: "bridge" in spec ? spec.bridge : null,
  interface: "interface" in spec ? spec.interface : null,
});
const meta = { uuid: "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", description: "", createdAt: "2026-11-29T00:00:00.000Z" };
const links = [
  link("lo", { kind: "loopback", addresses: ["127.0.0.1/8"] }),
  link("eth1", { kind: "veth", mtu: 9000, adminUp: false, state: "down" }),
  link("eth2", { addresses: ["192.0.2.5/24"] }),
  link("eth3", { addresses6: ["2001:db8::5/64"] }),
  link("br0", { kind: "bridge", addresses: ["198.51.100.2/24"] }),
  link("eth4", { master: "br0" }),
  link("bond0", { kind: "bond" }),
  link("eth5", { master: "bond0" }),
];
/** br0 listed in the host's NETFORGE_ALLOWED_INTERFACES (the accepted cases of a host bridge). */
const choose = (req: Parameters<typeof chooseBridge>[0], catalog: BridgeUser[] = []) =>
  chooseBridge(req, "lan", "h1", links, catalog, ["br0"]);

describe("chooseBridge: which bridge a bridge network uses, and every refusal", () => {
  it("an unconfigured NIC: netforge creates nf-<name> and keeps the NIC's state before (down, MTU 9000)", () => {
    expect(choose({ kind: "interface", interface: "eth1" })).toEqual({
      bridge: "nf-lan",
      interface: "eth1",
      created: { nic: { up: false, mtu: 9000, master: null } },
    });
  });
  it("a NIC already in a listed Linux bridge: that bridge, nothing created", () => {
    expect(choose({ kind: "interface", interface: "eth4" })).toEqual({ bridge: "br0", interface: "eth4", created: null });
  });
  it("an existing listed bridge: used as it is", () => {
    expect(choose({ kind: "bridge", bridge: "br0" })).toEqual({ bridge: "br0", interface: null, created: null });
  });
  it("refuses a NIC with an IPv4 or a global IPv6 address, saying why", () => {
    expect(() => choose({ kind: "interface", interface: "eth2" })).toThrow(
      /eth2 on host h1 carries 192.0.2.5\/24: moving a configured NIC into a bridge would cut the host off/,
    );
    expect(() => choose({ kind: "interface", interface: "eth3" })).toThrow(/carries 2001:db8::5\/64/);
  });
  it("refuses a missing NIC or bridge, a non-bridge 'bridge', a bridge given as NIC, a bond port, the loopback", () => {
    expect(() => choose({ kind: "interface", interface: "eth9" })).toThrow(/host h1 has no interface eth9/);
    expect(() => choose({ kind: "bridge", bridge: "br9" })).toThrow(/host h1 has no bridge br9/);
    expect(() => choose({ kind: "bridge", bridge: "eth1" })).toThrow(/eth1 on host h1 is a veth device, not a Linux bridge/);
    expect(() => choose({ kind: "interface", interface: "br0" })).toThrow(/br0 is itself a bridge/);
    expect(() => choose({ kind: "interface", interface: "eth5" })).toThrow(/port of bond0 \(bond\)/);
    expect(() => choose({ kind: "interface", interface: "lo" })).toThrow(/loopback/);
  });
  it("refuses a NIC or bridge another network already uses", () => {
    const other: NetSpec = { type: "bridge", name: "other", ...meta, bridge: "nf-other", interface: "eth1", created: null };
    expect(() => choose({ kind: "interface", interface: "eth1" }, [entry(other)])).toThrow(
      "interface eth1 on host h1 is already used by network 'other'",
    );
    const onBr0: NetSpec = { type: "bridge", name: "office", ...meta, bridge: "br0", interface: null, created: null };
    expect(() => choose({ kind: "bridge", bridge: "br0" }, [entry(onBr0)])).toThrow(
      "bridge br0 on host h1 is already used by network 'office'",
    );
    expect(() => choose({ kind: "interface", interface: "eth4" }, [entry(onBr0)])).toThrow(/bridge br0 \(of interface eth4\)/);
    // Its own earlier definition (a retried create) is not "another" network.
    expect(choose({ kind: "bridge", bridge: "br0" }, [entry({ ...onBr0, name: "lan" })]).bridge).toBe("br0");
  });
  it("picks a free bridge name when nf-<name> is taken", () => {
    const r = chooseBridge({ kind: "interface", interface: "eth1" }, "lan", "h1", [...links, link("nf-lan", { kind: "dummy" })], []);
    expect(r.bridge).not.toBe("nf-lan");
    expect(r.bridge).toMatch(/^nf-lan-[0-9a-f]{5}$/);
  });
});

describe("bridges, NICs that are not netforge's to take", () => {
  const host = [
    ...links,
    link("docker0", { kind: "bridge", addresses: ["172.17.0.1/16"] }),
    link("veth1a2b", { kind: "veth", master: "docker0", link: "eth7" }),
    link("eth7", { kind: "veth", link: "veth1a2b" }),
    link("virbr9", { kind: "bridge" }),
    link("bond1", { kind: "bond" }),
    link("bond1.100", { kind: "vlan", link: "bond1", addresses: ["198.51.100.9/24"] }),
    link("eth8", {}),
    link("mv0", { kind: "macvlan", link: "eth8", addresses6: ["2001:db8::8/64"] }),
    link("eth9", {}),
    link("eth9.5", { kind: "vlan", link: "eth9" }),
    link("br-mgmt", { kind: "bridge", addresses: ["192.0.2.77/24"] }),
    link("eth9.5.7", { kind: "vlan", link: "eth9.5", master: "br-mgmt" }),
    link("eth10", {}),
    link("eth10.3", { kind: "vlan", link: "eth10" }),
  ];
  const pick = (req: Parameters<typeof chooseBridge>[0], allowed: string[] = [], catalog: BridgeUser[] = []) =>
    chooseBridge(req, "lan", "h1", host, catalog, allowed);
  const refusal = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e as { code: string; message: string; details: Record<string, unknown> };
    }
    throw new Error("not refused");
  };
  it("an unlisted bridge carrying the host's address (br0) is NOT_ALLOWED, naming its address, ports and the setting", () => {
    const e = refusal(() => pick({ kind: "bridge", bridge: "br0" }));
    expect(e.code).toBe("NOT_ALLOWED");
    expect(e.message).toBe(
      "bridge br0 on host h1 is not netforge's (it carries 198.51.100.2/24; its ports are eth4): an existing bridge is used only when listed in NETFORGE_ALLOWED_INTERFACES of host h1, and then as it is (netforge never changes its addresses, ports or MTU)",
    );
    expect(e.details).toMatchObject({
      bridge: "br0",
      addresses: ["198.51.100.2/24"],
      ports: ["eth4"],
      setting: "NETFORGE_ALLOWED_INTERFACES",
    });
    // Reached through its port: the same refusal, naming the port.
    const viaPort = refusal(() => pick({ kind: "interface", interface: "eth4" }));
    expect(viaPort.code).toBe("NOT_ALLOWED");
    expect(viaPort.message).toMatch(
      /^interface eth4 on host h1 is a port of bridge br0, which is not netforge's \(it carries 198.51.100.2\/24/,
    );
  });
  it("another tool's bridge (docker0), named or through one of its veths, and an empty unlisted bridge are NOT_ALLOWED", () => {
    expect(refusal(() => pick({ kind: "bridge", bridge: "docker0" })).message).toContain(
      "bridge docker0 on host h1 is not netforge's (it carries 172.17.0.1/16; its ports are veth1a2b)",
    );
    expect(refusal(() => pick({ kind: "interface", interface: "veth1a2b" })).message).toContain(
      "interface veth1a2b on host h1 is a port of bridge docker0, which is not netforge's",
    );
    const empty = refusal(() => pick({ kind: "bridge", bridge: "virbr9" }));
    expect(empty.code).toBe("NOT_ALLOWED");
    expect(empty.message).toContain("(it carries no address; it has no ports)");
  });
  it("a listed bridge is used as it is; listing does not lift 'used by another network'", () => {
    expect(pick({ kind: "bridge", bridge: "docker0" }, ["docker0"])).toEqual({ bridge: "docker0", interface: null, created: null });
    expect(pick({ kind: "interface", interface: "veth1a2b" }, ["docker0"])).toEqual({
      bridge: "docker0",
      interface: "veth1a2b",
      created: null,
    });
    const e = refusal(() =>
      pick({ kind: "bridge", bridge: "docker0" }, ["docker0"], [{ name: "dock", bridge: "docker0", interface: null }]),
    );
    expect(e.code).toBe("INVALID_STATE");
    // Listing the port (not the bridge) does not make the bridge netforge's.
    expect(refusal(() => pick({ kind: "interface", interface: "veth1a2b" }, ["veth1a2b"])).code).toBe("NOT_ALLOWED");
  });
  it("a NIC whose upper devices carry addresses is refused, naming them: a bond's VLAN, a macvlan, a VLAN of a VLAN in an addressed bridge", () => {
    const bond = refusal(() => pick({ kind: "interface", interface: "bond1" }));
    expect(bond.code).toBe("INVALID_STATE");
    expect(bond.message).toContain(
      "interface bond1 on host h1 has upper devices carrying addresses (bond1.100 carries 198.51.100.9/24): moving it into a bridge would cut the host off from them",
    );
    expect(refusal(() => pick({ kind: "interface", interface: "eth8" })).message).toContain("(mv0 carries 2001:db8::8/64)");
    expect(refusal(() => pick({ kind: "interface", interface: "eth9" })).message).toContain("(br-mgmt carries 192.0.2.77/24)");
    // Listing the NIC does not lift it: netforge would still enslave it.
    expect(refusal(() => pick({ kind: "interface", interface: "bond1" }, ["bond1"])).code).toBe("INVALID_STATE");
  });
  it("uppers without addresses, and a veth's peer (not an upper device), do not block a NIC", () => {
    expect(pick({ kind: "interface", interface: "eth10" }).bridge).toBe("nf-lan");
    expect(pick({ kind: "interface", interface: "eth7" }).bridge).toBe("nf-lan");
    expect(addressedUppers("eth7", host)).toEqual([]);
    expect(addressedUppers("eth9", host)).toEqual([{ name: "br-mgmt", addresses: ["192.0.2.77/24"] }]);
  });
});

describe("bridge set-up and give-back steps", () => {
  const created = { bridge: "nf-lan", interface: "eth1", created: { nic: { up: false, mtu: 9000, master: null } } };
  it("set-up: bridge, enslave, up; only what is missing", () => {
    expect(bridgeSetUpSteps(created, { bridgeExists: false, nicMaster: null, nicUp: false }).map((s) => s.ip.join(" "))).toEqual([
      "link add name nf-lan type bridge stp_state 0 forward_delay 0",
      "link set dev eth1 master nf-lan",
      "link set dev nf-lan up",
      "link set dev eth1 up",
    ]);
    expect(bridgeSetUpSteps(created, { bridgeExists: true, nicMaster: "nf-lan", nicUp: true }).map((s) => s.ip.join(" "))).toEqual([
      "link set dev nf-lan up",
    ]);
    expect(
      bridgeSetUpSteps({ bridge: "br0", interface: null, created: null }, { bridgeExists: true, nicMaster: null, nicUp: true }),
    ).toEqual([]);
  });
  it("give-back: out of the bridge, MTU and down as recorded, bridge removed; nothing for a host bridge", () => {
    expect(
      bridgeTearDownSteps(created, { bridgeExists: true, nic: { master: "nf-lan", mtu: 1500, up: true } }).map((s) => s.ip.join(" ")),
    ).toEqual(["link set dev eth1 nomaster", "link set dev eth1 mtu 9000", "link set dev eth1 down", "link del nf-lan"]);
    expect(bridgeTearDownSteps(created, { bridgeExists: false, nic: { master: null, mtu: 9000, up: false } })).toEqual([]);
    // A NIC unplugged meanwhile: only the bridge goes.
    expect(bridgeTearDownSteps(created, { bridgeExists: true, nic: null }).map((s) => s.ip.join(" "))).toEqual(["link del nf-lan"]);
    const withMaster = { ...created, created: { nic: { up: true, mtu: 1500, master: "vrf-blue" } } };
    expect(
      bridgeTearDownSteps(withMaster, { bridgeExists: true, nic: { master: "nf-lan", mtu: 1500, up: true } }, { removeBridge: false }).map(
        (s) => s.ip.join(" "),
      ),
    ).toEqual(["link set dev eth1 nomaster", "link set dev eth1 master vrf-blue"]);
    expect(bridgeTearDownSteps({ bridge: "br0", interface: "eth4", created: null }, { bridgeExists: true, nic: null })).toEqual([]);
  });
});
