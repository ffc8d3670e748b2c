import type { FirewallNetwork, LanCounted, OverlayCounted } from "@netforge/core/model";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { FirewallBackend } from "./backend";
import { HostFirewall } from "./host-firewall";

/** A backend recording what it was asked to apply; `table` plays the kernel's copy. */
class FakeBackend implements FirewallBackend {
  applies: string[][] = [];
  table: string[] | null = null;
  fail = false;
  wholes = 0;
  lan: string[][] = [];
  forgotten: string[] = [];
  overlays: string[][] = [];
  async replace(
    nets: readonly FirewallNetwork[],
    opts: { whole?: boolean; lan?: readonly LanCounted[]; overlays?: readonly OverlayCounted[] } = {},
  ) {
    if (opts.whole) this.wholes++;
    await new Promise((r) => setTimeout(r, 5)); // long enough for a second caller to try to interleave
    if (this.fail) throw new Error("nft failed");
    this.lan.push((opts.lan ?? []).map((l) => `${l.name}@${l.uplink}`));
    this.overlays.push((opts.overlays ?? []).map((o) => `${o.name}@${o.bridge}!${o.gatewayMac}:${(o.ports ?? []).join(",")}`));
    this.table = nets.map((n) => n.name).sort();
    this.applies.push(this.table);
    return "";
  }
  async inPlace() {
    return this.table !== null && JSON.stringify(this.table) === JSON.stringify(this.applies.at(-1));
  }
  async overridingPolicies() {
    return [];
  }
  async clear() {
    this.table = null;
  }
  async forgetTraffic(name: string) {
    this.forgotten.push(`${name} (applied: ${JSON.stringify(this.lan.at(-1))})`);
  }
}
const net = (name: string): FirewallNetwork => ({
  name,
  reachOutside: true,
  masquerade: true,
  forwardsPorts: true,
  bridge: `nf-${name}`,
  cidr: "10.0.0.0/24",
  firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
  portForwards: [],
  ownsTypeRules: true,
});
const make = () => {
  const b = new FakeBackend();
  return { b, fw: new HostFirewall(b, pino({ level: "silent" })) };
};

describe("HostFirewall", () => {
  it("overlays counted on this member: handed to the backend with their VM ports; a port change applies; a delete takes one out at once", async () => {
    const { b, fw } = make();
    const ov = { name: "ov", bridge: "nfov10001", gatewayMac: "06:4e:46:00:27:11", vxlan: "nfvx10001" };
    await fw.sync([net("ov")], Number.POSITIVE_INFINITY, [], [ov]);
    expect(b.overlays.at(-1)).toEqual(["ov@nfov10001!06:4e:46:00:27:11:"]);
    expect(fw.overlaysCounted()).toEqual([{ name: "ov", bridge: "nfov10001", vxlan: "nfvx10001" }]);
    expect(await fw.setOverlayPorts("ov", ["vnet2", "vnet1"])).toBe(true);
    expect(b.overlays.at(-1)).toEqual(["ov@nfov10001!06:4e:46:00:27:11:vnet1,vnet2"]);
    expect(await fw.setOverlayPorts("ov", ["vnet1", "vnet2"])).toBe(false);
    // The next round keeps the ports (reconcile does not know them).
    expect(await fw.sync([net("ov")], Number.POSITIVE_INFINITY, [], [ov])).toBe("unchanged");
    await fw.forgetTraffic("ov", "nfov10001");
    expect(b.overlays.at(-1)).toEqual([]);
  });

  it("bridge networks counted at their NIC: a changed list applies; a deleted one leaves the table at once, then is forgotten", async () => {
    const { b, fw } = make();
    await fw.sync([net("a")], Number.POSITIVE_INFINITY, [{ name: "lan", uplink: "eth1" }]);
    expect(b.lan.at(-1)).toEqual(["lan@eth1"]);
    const n = b.applies.length;
    expect(await fw.sync([net("a")], Number.POSITIVE_INFINITY, [{ name: "lan", uplink: "eth1" }])).toBe("unchanged");
    expect(b.applies.length).toBe(n);
    await fw.forgetTraffic("lan", "nf-lan");
    expect(b.lan.at(-1)).toEqual([]);
    expect(b.forgotten).toEqual(['lan (applied: ["lan@eth1"])']);
    // (Forgotten first, then the table without it: the whole table after the forget carries no count of it.)
    expect(b.applies.length).toBe(n + 1);
  });

  it("every apply carries every network's part; concurrent jobs never interleave", async () => {
    const { b, fw } = make();
    await Promise.all([fw.set("a", net("a")), fw.set("b", net("b")), fw.set("c", net("c"))]);
    expect(b.applies).toEqual([["a"], ["a", "b"], ["a", "b", "c"]]);
    await fw.set("b", null);
    expect(b.table).toEqual(["a", "c"]);
  });
  it("a failed apply keeps the previous part", async () => {
    const { b, fw } = make();
    await fw.set("a", net("a"));
    b.fail = true;
    await expect(fw.set("a", null)).rejects.toThrow("nft failed");
    expect(fw.get("a")).not.toBeNull();
  });
  it("sync applies only when the desired state or the host's table changed; a flushed table is restored", async () => {
    const { b, fw } = make();
    expect(await fw.sync([net("a")])).toBe("applied");
    expect(await fw.sync([net("a")])).toBe("unchanged");
    b.table = null; // someone ran `nft delete table inet netforge`
    expect(await fw.sync([net("a")])).toBe("restored");
    b.table = [];
    expect(await fw.repairDrift()).toBe(true);
    expect(b.table).toEqual(["a"]);
    expect(b.wholes).toBe(2); // repairs rewrite the whole table, never a delta
    expect(await fw.repairDrift()).toBe(false);
  });
  it("sync leaves the part of a network a job is changing (pinned) as the job set it", async () => {
    const { fw } = make();
    const unpin = fw.pin("a");
    await fw.set("a", { ...net("a"), cidr: "10.9.0.0/24" });
    await fw.sync([net("a"), net("b")]); // reconcile's read of libvirt predates the job's change
    expect(fw.get("a")?.cidr).toBe("10.9.0.0/24");
    expect(fw.get("b")).not.toBeNull();
    unpin();
    await fw.sync([net("b")]);
    expect(fw.get("a")).toBeNull();
  });
});

describe("HostFirewall.sync after a job", () => {
  it("a read of libvirt taken before a job changed a network does not bring its old part back", async () => {
    const fw = new HostFirewall(new FakeBackend(), pino({ level: "silent" }));
    await fw.sync([net("a"), net("b")]);
    const mark = fw.mark(); // reconcile starts reading libvirt: a and b run
    const unpin = fw.pin("a");
    await fw.set("a", null); // a delete job on a finishes meanwhile
    unpin();
    await fw.sync([net("a"), net("b")], mark); // the stale read still lists a
    expect(fw.get("a")).toBeNull();
    await fw.sync([net("b")], fw.mark()); // the next round reads the truth
    expect(fw.get("a")).toBeNull();
    expect(fw.get("b")).not.toBeNull();
  });
  it("a read that began while the job ran (after its nft step, before its libvirt write) does not undo it either", async () => {
    const fw = new HostFirewall(new FakeBackend(), pino({ level: "silent" }));
    await fw.sync([net("a"), net("b")]);
    const unpin = fw.pin("a");
    await fw.set("a", { ...net("a"), cidr: "10.9.0.0/24" }); // the job's nft step (a forward removed, say)
    const mark = fw.mark(); // reconcile starts reading libvirt: the job has not written its definition yet
    unpin(); // the job writes libvirt, then finishes
    await fw.sync([net("a"), net("b")], mark); // the read has a's old definition
    expect(fw.get("a")?.cidr).toBe("10.9.0.0/24");
    await fw.sync([{ ...net("a"), cidr: "10.9.0.0/24" }, net("b")], fw.mark()); // the next round reads the truth
    expect(fw.get("a")?.cidr).toBe("10.9.0.0/24");
  });
});
