/**
 * The forms' table against the contract: it has every network type the API has and no other, each create form's
 * fields go where the type's body takes them, and what a filled form sends is a body the API's own schema
 * (core's CreateNetworkBody, resolveCreate) accepts as meant.
 */
import { CreateNetworkBody, NETWORK_TYPES, resolveCreate } from "@netforge/core/contract";
import { describe, expect, it } from "vitest";
import { createBody, FORMS, type Host, pageForms, shownFields, TYPES } from "./forms";

/** The create body that a filled form sends, parsed and resolved by the API's schema (throws on a refusal). */
const resolved = (type: string, v: Record<string, string>) => {
  const body = createBody(type, v);
  expect(body, JSON.stringify(v)).not.toBeNull();
  return resolveCreate(CreateNetworkBody.parse(body));
};

const host = (over: Partial<Host>): Host => ({
  id: "h1",
  hostname: "h1",
  status: "online",
  lastSeenAt: null,
  libvirtVersion: null,
  networks: 0,
  interfaces: [],
  sriovPfs: [],
  ...over,
});

describe("the forms' table", () => {
  it("offers every network type of the API, and only those", () => {
    expect([...TYPES].sort()).toEqual([...NETWORK_TYPES].sort());
  });

  it("sends each field to a top-level field of its type's body", () => {
    for (const type of TYPES) {
      const schema = CreateNetworkBody.options.find((o) => o.shape.type.value === type);
      expect(schema, type).toBeDefined();
      const keys = Object.keys(schema?.shape ?? {});
      for (const f of FORMS[type]?.fields ?? []) {
        if (f.local) continue;
        expect(keys, `${type}: ${f.path}`).toContain(f.path.split(".")[0]);
      }
    }
  });

  it("nat: subnet, DHCP range and lease, MTU and IPv6 in dhcpv6 mode with its range, routed", () => {
    const v = {
      name: "web",
      host: "h1",
      cidr: "10.1.0.0/24",
      gateway: "10.1.0.1",
      "dhcp.start": "10.1.0.100",
      "dhcp.end": "10.1.0.150",
      "dhcp.leaseTime": "600",
      mtu: "1400",
      "ipv6.cidr": "fd00:1::/64",
      "ipv6.mode": "dhcpv6",
      "ipv6.dhcp.start": "fd00:1::100",
      "ipv6.dhcp.end": "fd00:1::1ff",
      "ipv6.routed": "on",
    };
    expect(createBody("nat", v)).toEqual({
      name: "web",
      type: "nat",
      host: "h1",
      cidr: "10.1.0.0/24",
      gateway: "10.1.0.1",
      dhcp: { start: "10.1.0.100", end: "10.1.0.150", leaseTime: 600 },
      mtu: 1400,
      ipv6: { cidr: "fd00:1::/64", mode: "dhcpv6", dhcp: { start: "fd00:1::100", end: "fd00:1::1ff" }, routed: true },
    });
    const r = resolved("nat", v);
    expect(r.dhcp).toEqual({ enabled: true, start: "10.1.0.100", end: "10.1.0.150", leaseTime: 600 });
    expect(r).toMatchObject({ mtu: 1400, ipv6: { mode: "dhcpv6", routed: true } });
  });

  it("the IPv6 mode shows its first choice until one is made: that is what is sent; the range only in dhcpv6 mode", () => {
    const v = { name: "web", cidr: "10.1.0.0/24", "ipv6.cidr": "fd00:1::/64", "ipv6.dhcp.start": "fd00:1::100" };
    expect(createBody("nat", v)?.ipv6).toEqual({ cidr: "fd00:1::/64", mode: "slaac" });
    expect(shownFields("nat", v).map((f) => f.path)).not.toContain("ipv6.dhcp.start");
    expect(resolved("nat", v).ipv6?.mode).toBe("slaac");
    // No prefix: no IPv6 field beyond the prefix is shown or sent.
    expect(shownFields("nat", { name: "x" }).filter((f) => f.path.startsWith("ipv6."))).toHaveLength(1);
  });

  it("isolated: DHCP off sends dhcp: false (its range fields hidden); no routed IPv6 field", () => {
    const v = { name: "back", cidr: "10.2.0.0/24", dhcp: "on", "dhcp.start": "10.2.0.5", noAutostart: "on", noStart: "on" };
    expect(createBody("isolated", v)).toEqual({
      name: "back",
      type: "isolated",
      cidr: "10.2.0.0/24",
      dhcp: false,
      autostart: false,
      start: false,
    });
    expect(resolved("isolated", v).dhcp.enabled).toBe(false);
    expect(FORMS.isolated?.fields.map((f) => f.path)).not.toContain("ipv6.routed");
  });

  it("bridge: a NIC by default, or an existing bridge, never both; the attach choice is not sent", () => {
    expect(createBody("bridge", { name: "lan", interface: "eth1" })).toEqual({ name: "lan", type: "bridge", interface: "eth1" });
    expect(createBody("bridge", { name: "lan", attach: "bridge", interface: "eth1", bridge: "br0" })).toEqual({
      name: "lan",
      type: "bridge",
      bridge: "br0",
    });
    expect(resolved("bridge", { name: "lan", attach: "bridge", bridge: "br0" }).l2).toEqual({ kind: "bridge", bridge: "br0" });
    // Incomplete until the device is named.
    expect(createBody("bridge", { name: "lan" })).toBeNull();
  });

  it("sriov: pf, VF count and VLAN as numbers; a count that is no number goes as typed, for the API to name", () => {
    expect(resolved("sriov", { name: "fast", pf: "enp3s0f0", vfs: "8", vlan: "100" }).l2).toEqual({
      kind: "sriov",
      pf: "enp3s0f0",
      vfs: 8,
      vlan: 100,
    });
    const body = createBody("sriov", { name: "fast", pf: "enp3s0f0", vfs: "eight" });
    expect(body?.vfs).toBe("eight");
    expect(CreateNetworkBody.safeParse(body).error?.issues.map((i) => i.path.join("."))).toEqual(["vfs"]);
  });

  it("an unknown type or no name: no body", () => {
    expect(createBody("overlay", { name: "x" })).toBeNull();
    expect(createBody("nat", { cidr: "10.1.0.0/24" })).toBeNull();
    expect(pageForms("overlay").size).toBe(0);
  });

  it("offers NICs without an address for a bridge, allowed bridges, and SR-IOV PFs, from the inventory", () => {
    const h = host({
      interfaces: [
        { name: "lo", kind: null, master: null, addresses: ["127.0.0.1/8"] },
        { name: "eth0", kind: null, master: null, addresses: ["192.0.2.5/24"] },
        { name: "eth1", kind: null, master: null, addresses: [] },
        { name: "br0", kind: "bridge", master: null, addresses: [] },
        { name: "br1", kind: "bridge", master: null, addresses: [] },
      ],
      allowedInterfaces: ["br0"],
      sriovPfs: [{ pf: "enp3s0f0", vfsTotal: 8, vfsConfigured: 2 }],
    });
    const field = (type: string, path: string) => FORMS[type]?.fields.find((f) => f.path === path);
    expect(
      field("bridge", "interface")
        ?.suggest?.([h])
        .map((s) => s.value),
    ).toEqual(["eth1"]);
    expect(
      field("bridge", "bridge")
        ?.suggest?.([h])
        .map((s) => s.value),
    ).toEqual(["br0"]);
    expect(field("sriov", "pf")?.suggest?.([h])).toEqual([{ value: "enp3s0f0", label: "enp3s0f0 on h1 (2/8 VFs)" }]);
  });

  it("a network's page offers the forms its type takes (forwards on nat only; none on bridge or sriov)", () => {
    expect(pageForms("nat").has("forwards")).toBe(true);
    expect(pageForms("isolated").has("forwards")).toBe(false);
    expect(pageForms("isolated").has("dns")).toBe(true);
    expect(pageForms("bridge").size).toBe(0);
    expect(pageForms("sriov").size).toBe(0);
  });
});
