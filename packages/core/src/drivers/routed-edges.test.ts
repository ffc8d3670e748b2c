/**
 * The routed types' drivers (nat, isolated) and the no-addressing ones (bridge, sriov) as the rest of the
 * code reaches them through the registry: their definition, addressing, nft part, rule count, views and
 * the changes they plan or refuse.
 */
import { describe, expect, it } from "vitest";
import type { NetworkSpec } from "../schemas/network";
import type { NetworkChange } from "../planner/changes";
import type { FirewallSpec } from "../planner/firewall";
import type { BridgeNetSpec, RoutedNetSpec, SriovNetSpec } from "../planner/network-spec";
import {
  addressingOf,
  checkChange,
  firewallNetworkOf,
  firewallPartOf,
  hostRuleCount,
  modelFor,
  modelOf,
  modelOfDefinition,
  planChange,
  renderNetworkXml,
} from "./registry";
import { isRouted, specFromCreate } from "./routed";
import { typeOfEntry } from "./type-of";

const base = { name: "n1", uuid: "00000000-0000-4000-8000-000000000001", description: "", createdAt: "2026-01-01T00:00:00.000Z" };
const rule = {
  direction: "inbound",
  protocol: "tcp",
  source: null,
  destination: null,
  ports: "22",
  action: "accept",
  comment: null,
} as const;
const routed = (type: "nat" | "isolated", over: Partial<RoutedNetSpec> = {}): RoutedNetSpec => ({
  ...base,
  type,
  bridge: "nf-n1",
  cidr: "10.0.0.0/24",
  gateway: "10.0.0.1",
  dhcp: { enabled: true, start: "10.0.0.10", end: "10.0.0.20", leaseTime: 3600 },
  reservations: [{ mac: "52:54:00:00:00:01", ip: "10.0.0.5", hostname: null }],
  ...over,
});
const forward = { protocol: "tcp", hostPort: 8080, vmIp: "10.0.0.5", vmPort: 80 } as const;
const bridge: BridgeNetSpec = { ...base, type: "bridge", bridge: "br0", interface: null, created: null };
const sriov: SriovNetSpec = { ...base, type: "sriov", pf: "eth9", vfs: 2, vlan: null };
const idle = { active: true, leases: [] };

describe("the routed types' drivers", () => {
  it("render a routed definition for nat and isolated, and a device one for bridge and sriov", () => {
    expect(renderNetworkXml(routed("nat"))).toContain("<nf:cidr>10.0.0.0/24</nf:cidr>");
    expect(renderNetworkXml(routed("isolated"))).toContain("<nf:gateway>10.0.0.1</nf:gateway>");
    expect(renderNetworkXml(bridge)).toContain("<forward mode='bridge'/>");
    expect(renderNetworkXml(sriov)).toContain("<pf dev='eth9'/>");
    expect(() => renderNetworkXml({ ...bridge, type: "vxlan" } as unknown as BridgeNetSpec)).toThrow(
      "renderNetworkXml: type vxlan is not rendered by this renderer",
    );
  });

  it("own their spec's addressing; the device types have none", () => {
    const nat = routed("nat");
    expect(addressingOf(nat)).toBe(nat);
    expect(addressingOf(bridge)).toBeNull();
    expect(addressingOf(sriov)).toBeNull();
    expect(addressingOf(null)).toBeNull();
    expect(addressingOf(undefined)).toBeNull();
    expect(modelFor("nat").noAddressing).toBeNull();
    expect(isRouted(nat)).toBe(true);
    expect(isRouted(bridge)).toBe(false);
  });

  it("give the whole nft part: user rules (open when never set), forwards only for nat, MAC/IP pairs of the reservations", () => {
    const nat = routed("nat", { portForwards: [forward] });
    expect(firewallNetworkOf(nat)).toEqual({
      name: "n1",
      // nat's capabilities: reaches the outside through the host's masquerade, takes port forwards.
      reachOutside: true,
      masquerade: true,
      forwardsPorts: true,
      bridge: "nf-n1",
      cidr: "10.0.0.0/24",
      firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
      portForwards: [forward],
      ownsTypeRules: true,
      portSecurity: { pairs: [{ mac: "52:54:00:00:00:01", ip: "10.0.0.5" }] },
    });
    expect(firewallNetworkOf(nat, false).ownsTypeRules).toBe(false);
    expect(firewallNetworkOf(routed("nat")).portForwards).toEqual([]);
    const fw = { defaultInbound: "drop", defaultOutbound: "accept", rules: [rule] } as const;
    const iso = routed("isolated", { portForwards: [forward], firewall: { ...fw, rules: [...fw.rules] } });
    expect(firewallNetworkOf(iso)).toMatchObject({ reachOutside: false, masquerade: false, forwardsPorts: false });
    expect(firewallNetworkOf(iso).firewall).toEqual(fw);
    expect(firewallNetworkOf(iso).portForwards).toEqual([]);
    expect(firewallPartOf(iso)).toEqual(firewallNetworkOf(iso));
    expect(modelFor("isolated").hostFirewall).toBe(true);
    expect(modelFor("bridge").hostFirewall).toBe(false);
  });

  it("count a network's share of the host's nft rules: its firewall rules plus its forwards", () => {
    expect(
      hostRuleCount(
        routed("nat", {
          portForwards: [forward, { ...forward, hostPort: 8081 }],
          firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [rule] },
        }),
      ),
    ).toBe(3);
    expect(hostRuleCount(routed("nat"))).toBe(0);
    expect(
      hostRuleCount(routed("isolated", { firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [rule, rule] } })),
    ).toBe(2);
    expect(hostRuleCount(null)).toBe(0);
    expect(hostRuleCount(bridge)).toBe(0);
  });

  it("serve DHCP only when enabled; the device types never", () => {
    expect(modelOf(routed("nat")).servesDhcp(routed("nat"))).toBe(true);
    const off = routed("isolated", { dhcp: { enabled: false, start: null, end: null, leaseTime: null } });
    expect(modelOf(off).servesDhcp(off)).toBe(false);
    expect(modelOf(bridge).servesDhcp(bridge)).toBe(false);
    expect(modelOf(sriov).servesDhcp(sriov)).toBe(false);
  });

  it("show DHCP, the kept firewall and (nat only) the forwards in views", () => {
    const fw: FirewallSpec = { defaultInbound: "drop", defaultOutbound: "accept", rules: [] };
    const nat = routed("nat", { portForwards: [forward], firewall: fw });
    expect(modelOf(nat).view(nat)).toEqual({
      dhcp: nat.dhcp,
      firewall: fw,
      portForwards: [forward],
      dnsHosts: [],
      reservations: nat.reservations,
      mtu: null,
      ipv6: null,
      qos: null,
    });
    const plain = routed("nat");
    expect(modelOf(plain).view(plain)).toEqual({
      dhcp: plain.dhcp,
      firewall: null,
      portForwards: [],
      dnsHosts: [],
      reservations: plain.reservations,
      mtu: null,
      ipv6: null,
      qos: null,
    });
    const named = routed("isolated", { dnsHosts: [{ ip: "10.0.0.9", names: ["db"] }] });
    expect(modelOf(named).view(named).dnsHosts).toEqual([{ ip: "10.0.0.9", names: ["db"] }]);
    const iso = routed("isolated", { portForwards: [forward] });
    expect(modelOf(iso).view(iso).portForwards).toEqual([]);
    expect(modelOf(sriov).view(sriov)).toEqual({
      dhcp: null,
      firewall: null,
      portForwards: [],
      dnsHosts: [],
      reservations: [],
      mtu: null,
      qos: null,
    });
  });

  it("leave their rules to netforge only under forward mode 'open'; the device types always", () => {
    expect(modelFor("isolated").ownsTypeRules(null)).toBe(false);
    expect(modelFor("isolated").redefineBeforeStart(null)).toBe(true);
    expect(modelFor("sriov").ownsTypeRules("hostdev")).toBe(true);
    expect(modelFor("sriov").redefineBeforeStart("hostdev")).toBe(false);
  });

  it("find a definition's driver by its type (spec, metadata, else libvirt's forward mode)", () => {
    expect(modelOfDefinition({ spec: null, type: null, forwardMode: "nat" }).type).toBe("nat");
    expect(modelOfDefinition({ spec: null, type: "bridge", forwardMode: "bridge" }).type).toBe("bridge");
    expect(modelOfDefinition({ type: null, forwardMode: null }).type).toBe("isolated");
  });

  it("plan a firewall change through the type's own nft part", () => {
    const nat = routed("nat");
    const firewall = { defaultInbound: "drop", defaultOutbound: "accept", rules: [rule] } as const;
    const plan = planChange(nat, { kind: "firewall", firewall: { ...firewall, rules: [...firewall.rules] } }, idle);
    expect(plan.spec).toMatchObject({ firewall });
    const nft = plan.steps.find((s) => s.name === "apply firewall (one nft transaction)");
    expect(nft?.live).toBe(true);
    expect(JSON.stringify(nft)).toContain("nf-n1");
    expect(JSON.stringify(nft)).toContain("22");
  });

  it("check a change to the next spec, and refuse port forwards on isolated", () => {
    const next = checkChange(routed("nat"), { kind: "dhcp", start: "10.0.0.30", end: "10.0.0.40" }, idle);
    expect(next).toMatchObject({ dhcp: { enabled: true, start: "10.0.0.30", end: "10.0.0.40" } });
    const pf = { kind: "port-forward", op: "add", protocol: "tcp", hostPort: 8080, vmIp: "10.0.0.5", vmPort: 80 } as const;
    expect(() => checkChange(routed("isolated"), pf, idle)).toThrow(
      expect.objectContaining({ code: "UNSUPPORTED_FOR_TYPE", message: "port forwards need a nat network; 'n1' is isolated" }),
    );
    expect(() => planChange(routed("isolated"), pf, idle)).toThrow(expect.objectContaining({ code: "UNSUPPORTED_FOR_TYPE" }));
    expect(checkChange(routed("nat"), pf, idle)).toMatchObject({ portForwards: [{ hostPort: 8080, vmIp: "10.0.0.5", vmPort: 80 }] });
  });

  it("refuse every change of a device type with who owns the addressing, naming the network and type", () => {
    const firewall: NetworkChange = { kind: "firewall", firewall: { defaultInbound: "drop", defaultOutbound: "accept", rules: [] } };
    expect(() => planChange(sriov, firewall, idle)).toThrow(
      expect.objectContaining({
        code: "UNSUPPORTED_FOR_TYPE",
        message:
          "network 'n1' is of type sriov: no netforge firewall here; VMs of an SR-IOV network own their VF directly: addressing belongs to the LAN's DHCP server or to the VM",
        details: { name: "n1", type: "sriov" },
      }),
    );
    expect(() => checkChange(bridge, { kind: "dhcp", start: "10.0.0.10", end: "10.0.0.20" }, idle)).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /^network 'n1' is of type bridge: no DHCP settings here; VMs of a bridge network are on the physical LAN/,
        ),
        details: { name: "n1", type: "bridge" },
      }),
    );
  });
});

describe("each driver knows its own specs", () => {
  it("is() holds for a spec of its type only", () => {
    const specs = [routed("nat"), routed("isolated"), bridge, sriov];
    for (const t of ["nat", "isolated", "bridge", "sriov"] as const) {
      expect(specs.map((s) => modelFor(t).is(s))).toEqual(specs.map((s) => s.type === t));
    }
  });

  it("an unknown type is refused naming it", () => {
    expect(() => modelFor("vxlan" as never)).toThrow(
      expect.objectContaining({
        code: "UNSUPPORTED_FOR_TYPE",
        message: "network type 'vxlan' is not supported by this worker",
        details: { type: "vxlan" },
      }),
    );
  });

  it("a catalog entry's type is its definition's", () => {
    expect(typeOfEntry({ def: { spec: null, type: "sriov", forwardMode: "hostdev" } })).toBe("sriov");
    expect(typeOfEntry({ def: { type: null, forwardMode: "nat" } })).toBe("nat");
  });
});

describe("specFromCreate", () => {
  const spec: NetworkSpec = {
    ...base,
    type: "isolated",
    host: "h1",
    cidr: "10.0.0.0/24",
    gateway: "10.0.0.1",
    dhcp: { enabled: true, start: "10.0.0.128", end: "10.0.0.254", leaseTime: 3600 },
    autostart: true,
    bridge: "nf-n1",
  };

  it("keeps a routed network's own fields, a copy of its DHCP settings and no reservations", () => {
    const s = specFromCreate(spec);
    expect(s).toEqual({
      type: "isolated",
      name: "n1",
      uuid: base.uuid,
      description: "",
      createdAt: base.createdAt,
      bridge: "nf-n1",
      cidr: "10.0.0.0/24",
      gateway: "10.0.0.1",
      dhcp: spec.dhcp,
      reservations: [],
    });
    expect(s.dhcp).not.toBe(spec.dhcp);
    expect(specFromCreate({ ...spec, type: "nat" }).type).toBe("nat");
  });

  it("refuses a device type, and a routed one without subnet, gateway or bridge", () => {
    expect(() => specFromCreate({ ...spec, type: "bridge" })).toThrow("no spec shape for type bridge");
    expect(() => specFromCreate({ ...spec, type: "sriov" })).toThrow("no spec shape for type sriov");
    for (const missing of [{ cidr: null }, { gateway: null }, { bridge: null }]) {
      expect(() => specFromCreate({ ...spec, ...missing })).toThrow("a routed network needs cidr, gateway and bridge");
    }
  });
});
