/**
 * Port security (issue 15) on a sandbox hypervisor, with real traffic between
 * namespace VMs on a nat network: honest VMs talk to the gateway, the
 * outside and each other; a VM that takes a neighbour's IP, or a neighbour's
 * MAC, gets nothing through (to the gateway or to a neighbour) and does not
 * take the neighbour's traffic; a VM running its own DHCP server (busybox
 * udhcpd) does not hand out leases: a new VM still gets the network's lease
 * from libvirt's dnsmasq; a newly leased VM talks at once; a VM with a
 * static address talks once it has a reservation (assign-static-ip), and no
 * longer once it is removed.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createNamespaceVm, type NamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "./support/cluster";
import { sourceSeenOutside } from "./support/traffic";

let c: Cluster;
let h: SandboxHost;
let bridge: string;
const NET = "psn";
const GW = "10.77.0.1";
const vms = new Map<string, NamespaceVm>();
const ip: Record<string, string> = {};

/** A namespace VM on the network, once the worker has its port under port security (see portReady). */
async function vm(name: string, mac?: string): Promise<NamespaceVm> {
  const v = await createNamespaceVm(h, { name, bridge, ...(mac ? { mac } : {}) });
  vms.set(name, v);
  await portReady(v);
  return v;
}

/**
 * Wait until the VM's port is in the network's port set. The worker learns ports from link events within
 * milliseconds; a libvirt VM boots for seconds before it sends anything, a namespace VM sends at once.
 */
async function portReady(v: NamespaceVm): Promise<void> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const r = await h.exec(["nft", "list", "set", "bridge", "netforge", `${NET}-ports`], { reject: false });
    if (r.stdout.includes(`"${v.hostIfname}"`)) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  const t = await h.exec(["nft", "list", "table", "bridge", "netforge"], { reject: false });
  throw new Error(`port ${v.hostIfname} of ${v.name} never entered ${NET}-ports: ${t.stdout}${t.stderr}`);
}

async function ping(v: NamespaceVm, to: string): Promise<boolean> {
  return (await v.exec(["busybox", "ping", "-c", "1", "-W", "1", to], { reject: false, timeoutMs: 4000 })).exitCode === 0;
}
/** Give a VM a static address (and default route), forgetting what it had. */
async function setAddress(v: NamespaceVm, addr: string): Promise<void> {
  await v.exec(["ip", "addr", "flush", "dev", "eth0"]);
  await v.exec(["ip", "neigh", "flush", "dev", "eth0"]);
  await v.exec(["ip", "addr", "add", `${addr}/24`, "dev", "eth0"]);
  await v.exec(["ip", "route", "replace", "default", "via", GW]);
}
/** Forget the host's and a VM's ARP entries, so the next packet needs ARP again (where spoofing would act). */
async function flushNeighbours(...vs: NamespaceVm[]): Promise<void> {
  await h.exec(["ip", "neigh", "flush", "dev", bridge], { reject: false });
  for (const v of vs) await v.exec(["ip", "neigh", "flush", "dev", "eth0"], { reject: false });
}
const dropped = async (comment: string): Promise<number> => {
  const r = await h.exec(["nft", "list", "chain", "bridge", "netforge", `${NET}-port`], { reject: false });
  const line = r.stdout.split("\n").find((l) => l.includes(comment)) ?? "";
  return Number(/packets (\d+)/.exec(line)?.[1] ?? "0");
};

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "ps" }], label: "ps" });
  h = c.hosts.get("ps") as SandboxHost;
  const r = await c.call("create-network", { name: NET, type: "nat", cidr: "10.77.0.0/24" }, { wait: 30 });
  if (r.status !== 200) throw new Error(JSON.stringify(r.body));
  bridge = r.body.job.result.bridge.name as string;
  for (const name of ["a", "b"]) ip[name] = (await (await vm(name)).dhcp()).ip;
}, 120_000);
afterAll(async () => {
  for (const v of vms.values()) await v.destroy().catch(() => undefined);
  await c?.stop();
});

describe("port security on a nat network", () => {
  it("honest VMs reach the gateway, each other and the outside", async () => {
    const [a, b] = [vms.get("a"), vms.get("b")] as NamespaceVm[];
    expect(await ping(a as NamespaceVm, GW)).toBe(true);
    expect(await ping(a as NamespaceVm, ip.b as string)).toBe(true);
    expect(await ping(b as NamespaceVm, ip.a as string)).toBe(true);
    expect(await sourceSeenOutside(h, a as NamespaceVm)).not.toBeNull();
  });

  it("a VM that takes a neighbour's IP gets nothing through, and the neighbour keeps its traffic", async () => {
    const m = await vm("m");
    await m.dhcp();
    await setAddress(m, ip.b as string);
    await flushNeighbours(vms.get("a") as NamespaceVm, vms.get("b") as NamespaceVm);
    const before = await dropped("spoofed or unknown");
    expect(await ping(m, GW)).toBe(false);
    expect(await ping(m, ip.a as string)).toBe(false);
    expect(await dropped("spoofed or unknown")).toBeGreaterThan(before);
    // The real owner still talks (the gateway's and a's ARP entries for it were not taken over).
    expect(await ping(vms.get("b") as NamespaceVm, GW)).toBe(true);
    expect(await ping(vms.get("a") as NamespaceVm, ip.b as string)).toBe(true);
    expect(await sourceSeenOutside(h, vms.get("b") as NamespaceVm)).not.toBeNull();
  });

  it("a VM that takes a neighbour's MAC (keeping its own leased IP) gets nothing through", async () => {
    const n = await vm("n");
    const own = (await n.dhcp()).ip;
    expect(await ping(n, GW)).toBe(true);
    // (Changed while up: taking the port down and up would leave the bridge's STP blocking it for seconds.)
    await n.exec(["ip", "link", "set", "eth0", "address", vms.get("a")?.mac as string]);
    await setAddress(n, own);
    await flushNeighbours(vms.get("a") as NamespaceVm);
    expect(await ping(n, GW)).toBe(false);
    expect(await ping(n, ip.b as string)).toBe(false);
    // The bridge did not learn a's MAC on n's port: a still gets its traffic.
    expect(await ping(vms.get("a") as NamespaceVm, GW)).toBe(true);
    expect(await ping(vms.get("b") as NamespaceVm, ip.a as string)).toBe(true);
  });

  it("a VM running a DHCP server hands out nothing: a new VM gets the network's lease from libvirt's dnsmasq", async () => {
    const r = await vm("rogue");
    await setAddress(r, "10.77.0.250");
    const conf = join(h.dir, "rogue-udhcpd.conf");
    await writeFile(
      conf,
      [
        "start 10.77.0.240",
        "end 10.77.0.249",
        "interface eth0",
        "opt router 10.77.0.250",
        "opt dns 10.77.0.250",
        "opt subnet 255.255.255.0",
        `lease_file ${join(h.dir, "rogue-udhcpd.leases")}`,
        `pidfile ${join(h.dir, "rogue-udhcpd.pid")}`,
        "",
      ].join("\n"),
    );
    await writeFile(join(h.dir, "rogue-udhcpd.leases"), "");
    await r.exec(["sh", "-c", `busybox udhcpd -f ${conf} >/dev/null 2>&1 &`]);
    // udhcpd listens before we ask (it answers within milliseconds, before dnsmasq's ping check of a new address).
    const until = Date.now() + 5000;
    while (Date.now() < until && !(await r.exec(["ss", "-uln"], { reject: false })).stdout.includes(":67")) {
      await new Promise((res) => setTimeout(res, 50));
    }
    const before = await dropped("dhcp server reply");
    for (const name of ["c1", "c2"]) {
      const lease = await (await vm(name)).dhcp();
      expect(lease.serverId).toBe(GW);
      expect(lease.router).toBe(GW);
    }
    expect(await dropped("dhcp server reply")).toBeGreaterThan(before);
  });

  it("a newly leased VM talks right after its lease (to the gateway, a neighbour and the outside)", async () => {
    const d = await vm("d");
    const lease = await d.dhcp();
    // The ACK itself made the pair (dnsmasq's reply seen leaving the host), before any lease file was read.
    const acked = await h.exec(["nft", "list", "set", "bridge", "netforge", `${NET}-acked`]);
    // (nft lists the raw 48 . 32 bit elements as hex without leading zeros.)
    const num = (hex: string) => `0x${BigInt(`0x${hex}`).toString(16)}`;
    const ipHex = lease.ip
      .split(".")
      .map((o) => Number(o).toString(16).padStart(2, "0"))
      .join("");
    const hex = `${num(d.mac.replaceAll(":", ""))} . ${num(ipHex)}`;
    expect(acked.stdout).toContain(hex);
    expect(await ping(d, GW)).toBe(true);
    expect(await ping(d, ip.a as string)).toBe(true);
    expect(await sourceSeenOutside(h, d)).not.toBeNull();
    expect(lease.ip).toMatch(/^10\.77\.0\./);
  });

  it("a VM with a static address talks once it has a reservation, and not after it is removed", async () => {
    const mac = "52:54:00:77:00:63";
    const s = await vm("s", mac);
    await setAddress(s, "10.77.0.99");
    expect(await ping(s, GW)).toBe(false);
    const r = await c.call("assign-static-ip", { name: NET, mac, ip: "10.77.0.99" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const until = Date.now() + 5000;
    let ok = false;
    while (!ok && Date.now() < until) ok = await ping(s, GW);
    expect(ok).toBe(true);
    expect(await ping(s, ip.a as string)).toBe(true);
    const u = await c.call("unassign-static-ip", { name: NET, mac }, { wait: 30 });
    expect(u.status, JSON.stringify(u.body)).toBe(200);
    await flushNeighbours(s);
    const gone = Date.now() + 5000;
    let still = true;
    while (still && Date.now() < gone) still = await ping(s, GW);
    expect(still).toBe(false);
  });
});
