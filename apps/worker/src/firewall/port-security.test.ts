import type { FirewallNetwork } from "@netforge/core/model";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { FirewallBackend } from "./backend";
import { HostFirewall } from "./host-firewall";
import { portsByBridge } from "./port-watcher";

/** A backend keeping what each apply carried. */
class Recorder implements FirewallBackend {
  applies: FirewallNetwork[][] = [];
  fail = false;
  async replace(nets: readonly FirewallNetwork[]) {
    if (this.fail) throw new Error("nft failed");
    this.applies.push([...nets]);
    return "";
  }
  async inPlace() {
    return true;
  }
  async overridingPolicies() {
    return [];
  }
  async clear() {}
}
const net = (name: string, pairs = [{ mac: "52:54:00:00:00:01", ip: "10.0.0.10" }]): FirewallNetwork => ({
  name,
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: `nf-${name}`,
  cidr: "10.0.0.0/24",
  firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
  portForwards: [],
  ownsTypeRules: true,
  portSecurity: { pairs },
});
const make = () => {
  const b = new Recorder();
  return { b, fw: new HostFirewall(b, pino({ level: "silent" })) };
};

describe("port security's live pairs and ports", () => {
  it("published pairs replace the spec's reservations, ports are merged in; an unchanged update applies nothing", async () => {
    const { b, fw } = make();
    await fw.set("web", net("web"));
    expect(await fw.setLive("web", { pairs: [{ mac: "52:54:00:00:00:02", ip: "10.0.0.11" }] })).toBe(true);
    expect(await fw.setLive("web", { ports: ["vnet1", "vnet0"] })).toBe(true);
    expect(b.applies.at(-1)?.[0]?.portSecurity).toEqual({
      pairs: [{ mac: "52:54:00:00:00:02", ip: "10.0.0.11" }],
      ports: ["vnet0", "vnet1"],
    });
    const n = b.applies.length;
    expect(await fw.setLive("web", { ports: ["vnet0", "vnet1"] })).toBe(false);
    expect(b.applies.length).toBe(n);
  });

  it("a failed apply keeps the previous live part; a network set to null forgets its leases", async () => {
    const { b, fw } = make();
    await fw.set("web", net("web"));
    await fw.setLive("web", { pairs: [{ mac: "52:54:00:00:00:02", ip: "10.0.0.11" }] });
    b.fail = true;
    await expect(fw.setLive("web", { pairs: [] })).rejects.toThrow(/nft failed/);
    b.fail = false;
    await fw.setLive("web", { ports: ["vnet0"] });
    expect(b.applies.at(-1)?.[0]?.portSecurity?.pairs).toEqual([{ mac: "52:54:00:00:00:02", ip: "10.0.0.11" }]);
    await fw.set("web", null);
    await fw.set("web", net("web"));
    expect(b.applies.at(-1)?.[0]?.portSecurity).toEqual({ pairs: [{ mac: "52:54:00:00:00:01", ip: "10.0.0.10" }] });
  });

  it("networks without port security are not listed for the port watcher and take no live part", async () => {
    const { b, fw } = make();
    await fw.set("old", { ...net("old"), portSecurity: null });
    expect(fw.portSecured()).toEqual([]);
    expect(await fw.setLive("old", { ports: ["vnet0"] })).toBe(false);
    expect(b.applies.at(-1)?.[0]?.portSecurity).toBeNull();
  });

  it("portsByBridge groups `ip -j link show` by master", () => {
    const json = JSON.stringify([
      { ifname: "lo" },
      { ifname: "nf-web" },
      { ifname: "vnet0", master: "nf-web" },
      { ifname: "nv1", master: "nf-web" },
      { ifname: "veth9", master: "docker0" },
    ]);
    expect(portsByBridge(json)).toEqual(
      new Map([
        ["nf-web", ["vnet0", "nv1"]],
        ["docker0", ["veth9"]],
      ]),
    );
    expect(portsByBridge("not json")).toEqual(new Map());
  });
});
