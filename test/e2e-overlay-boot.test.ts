/**
 * Host reboot of an overlay member (ADR 0051 "Boot"): three sandbox hosts on a fabric, the overlay's gateway on
 * the second. The first (not the gateway) is "rebooted" with its worker stopped (every process and interface
 * but the uplink gone, the nft ruleset flushed, disk kept) and "booted": deploy/netforge-firewall.service's and
 * deploy/netforge-overlay.service's ExecStart lines, then libvirtd, which autostarts the networks. BEFORE its
 * worker starts: libvirt has started the overlay's part (its bridge was there), the VXLAN device is on it with
 * its local address, no learning, ARP suppression and one flood entry per other member, the guard and flood
 * limit tables are in place, a VM plugged in there leases from the gateway's dnsmasq and pings a VM on the third
 * member; a second overlay deleted before the reboot is not made; the unit run a second time changes nothing.
 * Then the worker starts and re-applies nothing (the re-applied counter and the devices stay as they are).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  createFabric,
  createNamespaceVm,
  destroyFabric,
  type Fabric,
  joinFabric,
  netforgeFirewallBoot,
  netforgeOverlayBoot,
  rebootSandboxHost,
  type SandboxHost,
} from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor, workerLog } from "./support/cluster";

const A = "oba"; // rebooted: not the gateway
const B = "obb"; // the gateway
const C = "obc";
const under: Record<string, string> = { [A]: "172.31.8.1", [B]: "172.31.8.2", [C]: "172.31.8.3" };
const workerEnv = (id: string) => ({ NETFORGE_UNDERLAY_IP: under[id] as string });
const NAME = "ob1";
const GONE = "ob2";

let c: Cluster;
let fabric: Fabric | undefined;
let vni = 0;
let goneVni = 0;
const host = (id: string) => c.hosts.get(id) as SandboxHost;

beforeAll(async () => {
  c = await startCluster({
    hosts: [{ id: A }, { id: B, uplinkCidr: "198.51.103.0/24" }, { id: C, uplinkCidr: "198.51.104.0/24" }],
    label: "ovboot",
    workerEnv: { NETFORGE_HOST_LEASE_MS: "3000" },
  });
  fabric = await createFabric("obf");
  for (const id of [A, B, C]) await joinFabric(fabric, host(id), { cidr: `${under[id]}/24` });
  await Promise.all([A, B, C].map((id) => c.startWorker(id, { env: workerEnv(id) })));
  await waitFor("the fabric underlays", async () => {
    const r = await c.call("list-hosts", {});
    return r.body.hosts.every((h: { id: string; underlay?: { ip: string } }) => h.underlay?.ip === under[h.id]);
  });
  const [one, two] = await Promise.all(
    [
      [NAME, "10.97.1.0/24"],
      [GONE, "10.97.2.0/24"],
    ].map(([name, cidr]) => c.call("create-network", { name, type: "overlay", cidr, hosts: [A, B, C], gatewayHost: B }, { wait: 60 })),
  );
  for (const r of [one, two]) expect(r?.status, JSON.stringify(r?.body)).toBe(200);
  vni = (await c.call("describe-network", { name: NAME })).body.network.overlay.vni;
  goneVni = (await c.call("describe-network", { name: GONE })).body.network.overlay.vni;
  const d = await c.call("delete-network", { name: GONE }, { wait: 60 });
  expect(d.status, JSON.stringify(d.body)).toBe(200);
}, 180_000);
afterAll(async () => {
  await c?.stop();
  if (fabric) await destroyFabric(fabric);
});

/** Host A's boot file (in the sandbox, /var/lib/netforge is <dir>/netforge). */
const bootFile = (ext: string) => readFileSync(join(host(A).dir, "netforge", A, `overlay.${ext}`), "utf8");

interface LinkJson {
  ifname: string;
  ifindex: number;
  mtu: number;
  master?: string;
  flags: string[];
  linkinfo?: {
    info_data?: { id?: number; local?: string; learning?: boolean };
    info_slave_data?: { learning?: boolean; neigh_suppress?: boolean };
  };
}
const links = async (): Promise<LinkJson[]> => JSON.parse((await host(A).exec(["ip", "-d", "-j", "link", "show"])).stdout);
const floods = async (): Promise<string[]> =>
  [...(await host(A).exec(["bridge", "fdb", "show", "dev", `nfvx${vni}`])).stdout.matchAll(/^00:00:00:00:00:00 dst (\S+)/gm)]
    .map((m) => m[1] as string)
    .sort();
const tables = async () => (await host(A).exec(["nft", "list", "tables"])).stdout;
/** What the part is made of on A (devices by ifindex: one made again gets a new one), for before/after comparisons. */
async function partState(): Promise<unknown> {
  const l = await links();
  const pick = (n: string) => {
    const x = l.find((y) => y.ifname === n);
    const d = x?.linkinfo?.info_data;
    const p = x?.linkinfo?.info_slave_data;
    return (
      x && {
        ifindex: x.ifindex,
        mtu: x.mtu,
        master: x.master,
        up: x.flags.includes("UP"),
        vxlan: d && { id: d.id, local: d.local, learning: d.learning },
        port: p && { learning: p.learning, neighSuppress: p.neigh_suppress },
      }
    );
  };
  return { bridge: pick(`nfov${vni}`), device: pick(`nfvx${vni}`), floods: await floods(), tables: (await tables()).split("\n").sort() };
}
const reapplied = async () => Number((await c.redis.hget(c.keys.reappliedCounter, A)) ?? 0);

describe("an overlay member's reboot: its part is made before libvirtd", () => {
  it("the worker keeps the boot files of its running parts (a deleted one leaves them)", async () => {
    await waitFor("A's boot files without the deleted overlay", async () => {
      try {
        return (
          bootFile("ip").includes(`nfvx${vni} `) && !bootFile("ip").includes(`nfvx${goneVni}`) && !bootFile("nft").includes(`fl${goneVni}`)
        );
      } catch {
        return false;
      }
    });
    expect(bootFile("ip")).toContain(`link add nfvx${vni} type vxlan id ${vni} local ${under[A]} dstport 4789 nolearning`);
    expect(bootFile("bridge")).toContain(`dst ${under[C]}`);
    expect(bootFile("nft")).toContain(`table inet netforge-vx${vni} {`);
  });

  it("rebooted with its worker stopped: autostarted part, device, entries, tables; a VM there reaches the others; the worker then changes nothing", async () => {
    const before = await reapplied();
    await c.workers.get(A)?.stop();
    const r = await rebootSandboxHost(host(A), { boot: [...netforgeFirewallBoot(A), ...netforgeOverlayBoot(A)] });
    c.hosts.set(A, r.host);
    for (const b of r.boot) expect(b, b.argv.join(" ")).toMatchObject({ exitCode: 0 });
    // The underlay NIC is an interface the sandbox's reboot removes: cabled again (a real host's is there at boot).
    await joinFabric(fabric as Fabric, host(A), { cidr: `${under[A]}/24` });
    await waitFor(
      "libvirt's autostart of the part",
      async () => (await host(A).virsh(["net-list", "--name"], { reject: false })).stdout.includes(NAME),
      30_000,
      200,
    );
    expect((await host(A).virsh(["net-info", NAME])).stdout).toMatch(/Active:\s+yes/);
    const l = await links();
    const br = l.find((x) => x.ifname === `nfov${vni}`);
    expect(br).toMatchObject({ mtu: 1450 });
    expect(br?.flags).toContain("UP");
    const dev = l.find((x) => x.ifname === `nfvx${vni}`);
    expect(dev).toMatchObject({ master: `nfov${vni}`, mtu: 1450 });
    expect(dev?.flags).toContain("UP");
    expect(dev?.linkinfo?.info_data).toMatchObject({ id: vni, local: under[A], learning: false });
    expect(dev?.linkinfo?.info_slave_data).toMatchObject({ learning: false, neigh_suppress: true });
    expect(await floods()).toEqual([under[B], under[C]].sort());
    expect(await tables()).toContain(`table inet netforge-vx${vni}`);
    expect(await tables()).toContain(`table bridge netforge-fl${vni}`);
    // The overlay deleted before the reboot: nothing of it.
    expect(l.filter((x) => x.ifname.endsWith(String(goneVni))).map((x) => x.ifname)).toEqual([]);
    expect(await tables()).not.toContain(String(goneVni));

    // Run again on the running host: the same state (the "link add" lines answer "File exists", nothing else).
    const first = await partState();
    for (const argv of netforgeOverlayBoot(A)) {
      const again = await host(A).exec(argv, { reject: false });
      if (again.exitCode !== 0) {
        expect(argv[0]).toBe("/usr/sbin/ip");
        const answers = again.stderr.split("\n").filter((s) => s.startsWith("RTNETLINK"));
        // One per "link add" line (the bridge and the device), nothing else.
        expect(answers).toEqual(["RTNETLINK answers: File exists", "RTNETLINK answers: File exists"]);
      }
    }
    expect(await partState()).toEqual(first);

    // A VM plugged in on A before its worker starts leases from the gateway's dnsmasq (B) and reaches C's VM.
    const [va, vc] = await Promise.all([
      createNamespaceVm(host(A), { name: "bva", bridge: `nfov${vni}` }),
      createNamespaceVm(host(C), { name: "bvc", bridge: `nfov${vni}` }),
    ]);
    try {
      // Each port with the network's MTU, as libvirt gives a domain's tap on a network with <mtu> (the worker would
      // otherwise put it right, counted as re-applied: the namespace VM's veth starts at 1500).
      for (const [h, vm] of [
        [A, va],
        [C, vc],
      ] as const) {
        await host(h).exec(["ip", "link", "set", vm.hostIfname, "mtu", "1450"]);
        await vm.exec(["ip", "link", "set", "eth0", "mtu", "1450"]);
      }
      // Both at the same moment (two members' VMs booting together): dnsmasq's ping check of each offered address
      // holds its DHCP service 3 s, so the second lease comes about 6 s in (ADR 0051 "Boot", two VMs at once).
      const [la, lc] = await Promise.all([va.dhcp({ timeoutMs: 20_000 }), vc.dhcp({ timeoutMs: 20_000 })]);
      expect(la.ip).toMatch(/^10\.97\.1\./);
      const ping = await va.exec(["busybox", "ping", "-c", "1", "-W", "2", lc.ip], { reject: false });
      expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);

      // The worker starts: its start-up reconcile finds the part whole.
      const settled = await partState();
      const startedAt = Date.now();
      await c.startWorker(A, { env: { ...workerEnv(A), NETFORGE_RECONCILE_MS: "1000" } });
      await waitFor(
        "A's first reconcile round",
        async () =>
          readFileSync(workerLog(c.prefix, A), "utf8")
            .split("\n")
            .some((line) => line.includes('"reconcile round"') && Number(/"time":(\d+)/.exec(line)?.[1] ?? 0) >= startedAt),
        30_000,
        200,
      );
      expect(await reapplied()).toBe(before);
      expect(await partState()).toEqual(settled);
      const again = await va.exec(["busybox", "ping", "-c", "1", "-W", "2", lc.ip], { reject: false });
      expect(again.exitCode).toBe(0);
    } finally {
      await va.destroy();
      await vc.destroy();
    }
  });
});
