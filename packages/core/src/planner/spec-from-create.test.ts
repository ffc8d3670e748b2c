import { describe, expect, it } from "vitest";
import type { NetworkSpec } from "../schemas/network";
import { modelFor } from "../drivers/registry";
import { isRouted, specFromCreate } from "../drivers/routed";
import type { NetSpec } from "./network-spec";

const created: NetworkSpec = {
  name: "web",
  type: "nat",
  uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
  host: "hv1",
  description: "front end",
  cidr: "10.1.0.0/24",
  gateway: "10.1.0.1",
  dhcp: { enabled: true, start: "10.1.0.128", end: "10.1.0.254", leaseTime: 3600 },
  autostart: true,
  bridge: "nf-web",
  createdAt: "2026-11-28T00:00:00.000Z",
};

describe("specFromCreate: the stored spec of a routed network just created", () => {
  it("keeps the network's own fields, no reservations; leaves out where it runs (host, autostart)", () => {
    for (const type of ["nat", "isolated"] as const) {
      expect(specFromCreate({ ...created, type })).toEqual({
        type,
        name: "web",
        uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
        description: "front end",
        createdAt: "2026-11-28T00:00:00.000Z",
        bridge: "nf-web",
        cidr: "10.1.0.0/24",
        gateway: "10.1.0.1",
        dhcp: { enabled: true, start: "10.1.0.128", end: "10.1.0.254", leaseTime: 3600 },
        reservations: [],
      });
    }
  });
  it("copies the DHCP settings (a later change of the spec does not reach back into the request)", () => {
    const s = specFromCreate(created);
    expect(s.dhcp).not.toBe(created.dhcp);
    expect(s.dhcp).toEqual(created.dhcp);
  });
  it("refuses the layer-2 types, which have no routed spec", () => {
    for (const type of ["bridge", "sriov"] as const) {
      expect(() => specFromCreate({ ...created, type })).toThrow(`no spec shape for type ${type}`);
    }
  });
  it("refuses a routed network without its subnet, gateway or bridge", () => {
    for (const missing of [{ cidr: null }, { gateway: null }, { bridge: null }, { cidr: "" }]) {
      expect(() => specFromCreate({ ...created, ...missing }), JSON.stringify(missing)).toThrow(
        "a routed network needs cidr, gateway and bridge",
      );
    }
  });
});

describe("isRouted and each driver's noAddressing", () => {
  it("nat and isolated specs carry addressing; bridge and sriov specs do not, and each says why", () => {
    const routed = specFromCreate(created);
    const { dhcp: _d, reservations: _r, cidr: _c, gateway: _g, ...base } = routed;
    const l2: NetSpec = { ...base, type: "bridge", interface: "eno1", created: null };
    const sriov: NetSpec = { ...base, type: "sriov", pf: "enp1s0f0", vfs: 4, vlan: null };
    expect([isRouted(routed), isRouted({ ...routed, type: "isolated" }), isRouted(l2), isRouted(sriov)]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(modelFor("nat").noAddressing).toBeNull();
    expect(modelFor("isolated").noAddressing).toBeNull();
    expect(modelFor("bridge").noAddressing).toBe(
      "VMs of a bridge network are on the physical LAN: the LAN's DHCP server owns addressing (configure it there, or address VMs statically)",
    );
    expect(modelFor("sriov").noAddressing).toBe(
      "VMs of an SR-IOV network own their VF directly: addressing belongs to the LAN's DHCP server or to the VM",
    );
  });
});
