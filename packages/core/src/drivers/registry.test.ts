import { describe, expect, it } from "vitest";
import { NETWORK_TYPES } from "../schemas/network";
import type { BridgeNetSpec, RoutedNetSpec, SriovNetSpec } from "../planner/network-spec";
import { firewallPartOf, hostRuleCount, modelFor, modelOf } from "./registry";
import { typeOf } from "./type-of";

const base = { name: "n1", uuid: "00000000-0000-4000-8000-000000000001", description: "", createdAt: "2026-01-01T00:00:00.000Z" };
const routed = (type: "nat" | "isolated"): RoutedNetSpec => ({
  ...base,
  type,
  bridge: "nf-n1",
  cidr: "10.0.0.0/24",
  gateway: "10.0.0.1",
  dhcp: { enabled: true, start: "10.0.0.10", end: "10.0.0.20", leaseTime: 3600 },
  reservations: [],
  portForwards: [{ protocol: "tcp", hostPort: 8080, vmIp: "10.0.0.5", vmPort: 80 }],
});
const bridge: BridgeNetSpec = { ...base, type: "bridge", bridge: "br0", interface: null, created: null };
const sriov: SriovNetSpec = { ...base, type: "sriov", pf: "eth9", vfs: 2, vlan: null };

describe("typeOf", () => {
  it("takes the spec's type, else the metadata's, else libvirt's forward mode (nat, else isolated)", () => {
    expect(typeOf({ spec: bridge, type: "nat", forwardMode: "nat" })).toBe("bridge");
    expect(typeOf({ spec: null, type: "sriov", forwardMode: "nat" })).toBe("sriov");
    expect(typeOf({ spec: null, type: null, forwardMode: "nat" })).toBe("nat");
    expect(typeOf({ spec: null, type: null, forwardMode: "open" })).toBe("isolated");
    expect(typeOf({ type: null, forwardMode: null })).toBe("isolated");
  });
});

describe("the type registry", () => {
  it("has a driver for every network type, typed to that type", () => {
    for (const t of NETWORK_TYPES) expect(modelFor(t).type).toBe(t);
    expect(() => modelFor("vxlan" as never)).toThrow(expect.objectContaining({ code: "UNSUPPORTED_FOR_TYPE" }));
  });

  it("declares the changes each type refuses", () => {
    expect([...modelFor("nat").unsupported]).toEqual([]);
    expect([...modelFor("isolated").unsupported]).toEqual(["port-forward"]);
    for (const t of ["bridge", "sriov"] as const) {
      // A bridge network's bandwidth limits are netforge's (at its uplink NIC); an sriov's VF rates are the NIC's.
      expect([...modelFor(t).unsupported].sort()).toEqual([
        "dhcp",
        "dns",
        "firewall",
        "mtu",
        "port-forward",
        ...(t === "sriov" ? ["qos"] : []),
        "release-duid",
        "release-ip",
        "reserve-duid",
        "reserve-ip",
      ]);
      expect(modelFor(t).noAddressing).toMatch(/DHCP server/);
    }
  });

  it("gives a firewall part, DHCP and forwards only where the type has them", () => {
    expect(firewallPartOf(routed("nat"))?.portForwards).toHaveLength(1);
    expect(firewallPartOf(routed("isolated"))?.portForwards).toEqual([]);
    expect(firewallPartOf(routed("nat"), false)?.ownsTypeRules).toBe(false);
    expect(firewallPartOf(bridge)).toBeNull();
    expect(firewallPartOf(sriov)).toBeNull();
    expect(modelOf(routed("isolated")).view(routed("isolated")).portForwards).toEqual([]);
    expect(modelOf(bridge).view(bridge)).toEqual({
      dhcp: null,
      firewall: null,
      portForwards: [],
      dnsHosts: [],
      reservations: [],
      mtu: null,
      qos: null,
    });
    expect(hostRuleCount(routed("nat"))).toBe(1);
    expect(hostRuleCount(sriov)).toBe(0);
  });

  it("says when a routed definition leaves its type's rules to netforge", () => {
    const nat = modelFor("nat");
    expect(nat.ownsTypeRules("open")).toBe(true);
    expect(nat.ownsTypeRules("nat")).toBe(false);
    expect(nat.redefineBeforeStart("nat")).toBe(true);
    expect(nat.redefineBeforeStart("open")).toBe(false);
    expect(modelFor("bridge").redefineBeforeStart("bridge")).toBe(false);
  });

  it("refuses every change of a type without netforge-managed addressing, naming who owns it", () => {
    const change = { kind: "dhcp", start: "10.0.0.10", end: "10.0.0.20" } as const;
    expect(() => modelOf(bridge).planChange(bridge, change, { active: true, leases: [] })).toThrow(
      expect.objectContaining({ code: "UNSUPPORTED_FOR_TYPE", message: expect.stringContaining("no DHCP settings here") }),
    );
    expect(() => modelOf(sriov).checkChange(sriov, { kind: "release-ip", mac: "52:54:00:00:00:01" }, { active: true, leases: [] })).toThrow(
      expect.objectContaining({ code: "UNSUPPORTED_FOR_TYPE", message: expect.stringContaining("no static IPs here") }),
    );
  });
});
