import { describe, expect, it } from "vitest";
import { addressedUppers, chooseBridge, type LinkFacts } from "./bridge-choice";

const link = (name: string, over: Partial<LinkFacts> = {}): LinkFacts => ({
  name,
  kind: null,
  state: "up",
  master: null,
  addresses: [],
  ...over,
});

describe("the bridge choice, beyond its main paths", () => {
  it("does not take a peer (veth, vxcan, netkit) linked to the NIC for an upper device", () => {
    for (const kind of ["veth", "vxcan", "netkit"]) {
      const links = [link("eth1"), link("p0", { kind, link: "eth1", addresses: ["192.0.2.7/24"] })];
      expect(addressedUppers("eth1", links), kind).toEqual([]);
    }
    const vlan = [link("eth1"), link("eth1.5", { kind: "vlan", link: "eth1", addresses: ["192.0.2.7/24"] })];
    expect(addressedUppers("eth1", vlan)).toEqual([{ name: "eth1.5", addresses: ["192.0.2.7/24"] }]);
  });

  it("names a foreign bridge's addresses when the host read gives no IPv6 list", () => {
    const links = [link("br9", { kind: "bridge", addresses: ["192.0.2.1/24"] }), link("eth1", { master: "br9" })];
    expect(() => chooseBridge({ kind: "interface", interface: "eth1" }, "lan1", "h1", links, [])).toThrow(
      expect.objectContaining({ code: "NOT_ALLOWED", details: expect.objectContaining({ addresses: ["192.0.2.1/24"], ports: ["eth1"] }) }),
    );
  });
});
