/**
 * The underlay of overlay networks (issue 17), on two sandbox hosts cabled to one "fabric" namespace (a
 * top-of-rack switch): each worker reports its underlay address and MTU in list-hosts (NETFORGE_UNDERLAY_IP,
 * else the default route's interface; a setting that is no address of the host says why), and the VXLAN
 * commands netforge renders (core's render/vxlan.ts, no learning, head-end replication, static unicast
 * entries) carry frames between bridges on the two hosts over that fabric: namespace VMs ping each other
 * across hosts, and the largest frame the overlay MTU allows crosses without fragmenting.
 */
import { createFabric, createNamespaceVm, destroyFabric, type Fabric, joinFabric, type SandboxHost } from "@netforge/sandbox";
import { floodEntry, overlayMtu, unicastEntry, vxlanDeviceSetup, vxlanDeviceTeardown, vxlanGuardChain } from "@netforge/core/model";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

const INJECT = join(dirname(fileURLToPath(import.meta.url)), "support", "vxlan-inject.py");

const A = "ula";
const B = "ulb";
let c: Cluster;
let fabric: Fabric;
let ha: SandboxHost;
let hb: SandboxHost;

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: A }, { id: B }], label: "underlay" });
  ha = c.hosts.get(A) as SandboxHost;
  hb = c.hosts.get(B) as SandboxHost;
  fabric = await createFabric("ul");
  await joinFabric(fabric, ha, { cidr: "172.31.0.1/24", mtu: 1600 });
  await joinFabric(fabric, hb, { cidr: "172.31.0.2/24", mtu: 1500 });
});
afterAll(async () => {
  await c?.stop();
  if (fabric) await destroyFabric(fabric);
});

async function fabricNft(args: string[]): Promise<string> {
  return (await execa("ip", ["netns", "exec", fabric.netns, "nft", ...args])).stdout;
}
/** The fabric's counters: VXLAN datagrams forwarded and IPv4 fragments forwarded. */
async function fabricCounters(): Promise<{ vxlan: number; fragments: number }> {
  const out = await fabricNft(["list", "chain", "bridge", "fab", "cnt"]);
  const packets = [...out.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
  return { vxlan: packets[0] ?? -1, fragments: packets[1] ?? -1 };
}

async function hostView(id: string): Promise<any> {
  const r = await c.call("list-hosts", {});
  return r.body.hosts.find((h: { id: string }) => h.id === id);
}

describe("underlay in list-hosts", () => {
  it("NETFORGE_UNDERLAY_IP when set (its interface's MTU), else the default route's interface", async () => {
    await c.startWorker(A, { env: { NETFORGE_UNDERLAY_IP: "172.31.0.1" } });
    expect((await hostView(A)).underlay).toEqual({ ip: "172.31.0.1", interface: "underlay0", mtu: 1600, source: "setting" });
    // B has no setting: its default route leaves through its uplink.
    expect((await hostView(B)).underlay).toEqual({ ip: hb.hostAddress, interface: "uplink0", mtu: 1500, source: "default-route" });
  });

  it("a setting that is no address of the host: no underlay, and the reason", async () => {
    await c.startWorker(B, { env: { NETFORGE_UNDERLAY_IP: "172.31.0.99" } });
    const v = await hostView(B);
    expect(v.underlay).toBeNull();
    expect(v.underlayProblem).toContain("172.31.0.99 is not an address of any interface of this host");
    await c.startWorker(B, { env: { NETFORGE_UNDERLAY_IP: "172.31.0.2" } });
    await waitFor("B's underlay", async () => (await hostView(B)).underlay?.ip === "172.31.0.2");
  });
});

describe("the rendered VXLAN commands between two hosts", () => {
  const VNI = 4242;
  const vms: Record<string, Awaited<ReturnType<typeof createNamespaceVm>>> = {};
  let underlay: Record<string, { ip: string; mtu: number }> = {};
  afterAll(async () => {
    for (const [h, id] of [
      [ha, A],
      [hb, B],
    ] as const) {
      await vms[id]?.destroy();
      await h.exec(["ip", ...vxlanDeviceTeardown(VNI)], { reject: false });
      await h.exec(["ip", "link", "del", "nf-ovt"], { reject: false });
      await h.exec(["nft", "delete", "table", "inet", "nfvxtest"], { reject: false });
    }
  });

  it("carry an L2 segment across the fabric: VMs on two hosts ping, the overlay MTU's largest frame unfragmented", async () => {
    underlay = { [A]: (await hostView(A)).underlay, [B]: (await hostView(B)).underlay };
    const mtu = overlayMtu([underlay[A]?.mtu ?? 0, underlay[B]?.mtu ?? 0]);
    expect(mtu).toBe(1450);
    for (const [id, h, other, addr] of [
      [A, ha, B, "10.250.0.1/24"],
      [B, hb, A, "10.250.0.2/24"],
    ] as const) {
      await h.exec(["ip", "link", "add", "nf-ovt", "mtu", String(mtu), "type", "bridge"]);
      await h.exec(["ip", "link", "set", "nf-ovt", "up"]);
      for (const args of vxlanDeviceSetup({ vni: VNI, local: (underlay[id] as { ip: string }).ip, bridge: "nf-ovt", mtu }))
        await h.exec(["ip", ...args]);
      await h.exec(["bridge", ...floodEntry(VNI, (underlay[other] as { ip: string }).ip)]);
      const vm = await createNamespaceVm(h, { name: "ov1", bridge: "nf-ovt" });
      await vm.exec(["ip", "link", "set", "eth0", "mtu", String(mtu)]);
      await vm.exec(["ip", "addr", "add", addr, "dev", "eth0"]);
      vms[id] = vm;
    }
    const vmA = vms[A] as (typeof vms)[string];
    const vmB = vms[B] as (typeof vms)[string];
    // What crosses the fabric, counted in the fabric's own bridge: VXLAN datagrams, and IPv4 fragments of any kind.
    await fabricNft(["add", "table", "bridge", "fab"]);
    await fabricNft(["add", "chain", "bridge", "fab", "cnt", "{ type filter hook forward priority 0; }"]);
    await fabricNft(["add", "rule", "bridge", "fab", "cnt", "udp", "dport", "4789", "counter"]);
    await fabricNft(["add", "rule", "bridge", "fab", "cnt", "ip", "frag-off", "&", "0x3fff", "!=", "0", "counter"]);
    const ping = await vmA.exec(["busybox", "ping", "-c", "3", "-W", "2", "10.250.0.2"], { reject: false });
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
    // Nothing learned, even after traffic: neither a remote (dst) entry of the VXLAN device for B's VM, nor the
    // bridge's own entry for it on the VXLAN port; only the flood entry and the port's own address.
    const learned = (await ha.exec(["bridge", "fdb", "show", "dev", `nfvx${VNI}`])).stdout
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("00:00:00:00:00:00") && !l.includes("permanent"));
    expect(learned).toEqual([]);
    // The largest packet the overlay MTU carries (1450 - 20 IP - 8 ICMP = 1422 bytes of payload) crosses whole.
    const big = await vmA.exec(["busybox", "ping", "-c", "3", "-s", "1422", "-W", "2", "10.250.0.2"], { reject: false });
    expect(big.exitCode, big.stdout + big.stderr).toBe(0);
    const counters = await fabricCounters();
    expect(counters.vxlan).toBeGreaterThanOrEqual(12);
    expect(counters.fragments).toBe(0);
    // A static unicast entry for B's VM: netforge's way of sending known unicast to one member only.
    const macB = (await vmB.exec(["cat", "/sys/class/net/eth0/address"])).stdout.trim();
    await ha.exec(["bridge", ...unicastEntry(VNI, macB, (underlay[B] as { ip: string }).ip)]);
    const fdb = (await ha.exec(["bridge", "fdb", "show", "dev", `nfvx${VNI}`])).stdout;
    expect(fdb).toContain(`${macB} dst ${(underlay[B] as { ip: string }).ip} self static`);
    expect((await vmA.exec(["busybox", "ping", "-c", "1", "-W", "2", "10.250.0.2"], { reject: false })).exitCode).toBe(0);
  });
  it("the guard drops a VNI's datagrams from a stranger on the underlay, and lets its members' through", async () => {
    const vmA = vms[A] as (typeof vms)[string];
    const macA = (await vmA.exec(["cat", "/sys/class/net/eth0/address"])).stdout.trim();
    // What reaches the VM: UDP to port 9999, counted in its own namespace.
    await vmA.exec(["nft", "add", "table", "inet", "seen"]);
    await vmA.exec(["nft", "add", "chain", "inet", "seen", "in", "{ type filter hook input priority 0; }"]);
    await vmA.exec(["nft", "add", "rule", "inet", "seen", "in", "udp", "dport", "9999", "counter"]);
    const seen = async () =>
      Number(/packets (\d+)/.exec((await vmA.exec(["nft", "list", "chain", "inet", "seen", "in"])).stdout)?.[1] ?? -1);
    // A stranger on the fabric (not a member), and the member B, each able to send a hand-made VXLAN datagram.
    const stranger = { id: "vxs", netns: `nfv-${A}-stranger` };
    await execa("ip", ["netns", "add", stranger.netns]);
    try {
      await joinFabric(fabric, stranger, { cidr: "172.31.0.66/24", hostIfname: "underlay0" });
      const inject = (netns: string) =>
        execa("ip", ["netns", "exec", netns, "python3", INJECT, (underlay[A] as { ip: string }).ip, String(VNI), macA, "10.250.0.1"]);
      // Without the guard the stranger's frame reaches the VM: VXLAN itself authenticates nothing.
      await inject(stranger.netns);
      await waitFor("the stranger's frame in the VM", async () => (await seen()) === 1, 3_000, 50);
      // With the guard (its rules as netforge renders them, in a table of their own here) it never does.
      await ha.exec(["nft", "-f", "-"], {
        input: `table inet nfvxtest {\n${vxlanGuardChain([{ name: "ovt", vni: VNI, members: [(underlay[A] as { ip: string }).ip, (underlay[B] as { ip: string }).ip] }])}\n}\n`,
      });
      for (let i = 0; i < 3; i++) await inject(stranger.netns);
      await new Promise((r) => setTimeout(r, 500));
      expect(await seen()).toBe(1);
      const guard = (await ha.exec(["nft", "list", "chain", "inet", "nfvxtest", "vxlan-guard"])).stdout;
      expect(guard).toMatch(/counter packets 3 /);
      // A member's datagram for the VNI still gets through.
      await inject(hb.netns);
      await waitFor("B's frame in the VM", async () => (await seen()) === 2, 3_000, 50);
    } finally {
      await execa("ip", ["netns", "del", stranger.netns], { reject: false });
    }
  });
});
