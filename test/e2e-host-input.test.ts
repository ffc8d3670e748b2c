/**
 * What VMs reach on the hypervisor itself (issue 15, "VMs reach the
 * hypervisor's own services"), proven with real traffic on a sandbox host
 * running a TCP service on every host address (ports 7000 and 7001): VMs of an
 * isolated and of a nat network cannot connect to it, neither on their
 * gateway nor on the host's uplink address, and still get their DHCP lease,
 * DNS answers (UDP and TCP) and a ping answer from their gateway (not from the
 * host's other address); IPv6 neither reaches the host nor leaves a nat
 * network; after opting in tcp 7000 (`hostServices`), 7000 connects and 7001
 * does not, on that network only; the opening survives stop/start, is in the
 * boot copy and holds after a reboot before the worker runs; a bridge-type
 * network (the host's LAN) is not touched.
 */
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  addLanNic,
  createNamespaceVm,
  type NamespaceVm,
  netforgeFirewallBoot,
  rebootSandboxHost,
  type SandboxHost,
} from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

const HOST = "hin";
let c: Cluster;
let h: SandboxHost;
const vms = new Map<string, NamespaceVm>();
/** Each VM's leased address. */
const ips = new Map<string, string>();
const NETS = {
  iso: { name: "hiso", type: "isolated", cidr: "10.84.0.0/24", gateway: "10.84.0.1", bridge: "nf-hiso" },
  nat: { name: "hnat", type: "nat", cidr: "10.85.0.0/24", gateway: "10.85.0.1", bridge: "nf-hnat" },
} as const;
/** The host's own address on the bridge network's LAN (as a host's br0 carries one). */
const LAN_HOST_IP = "192.0.2.2";

/** A TCP service on every host address (IPv4 and IPv6), one listener per port, answering "hello <port> <client>". */
const SERVICE = `import socket, sys, threading
def listen(port):
    t = socket.socket(socket.AF_INET6); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); t.bind(("::", port)); t.listen(16)
    while True:
        c, a = t.accept(); c.sendall(("hello %d %s\\n" % (port, a[0].replace("::ffff:", ""))).encode()); c.close()
for p in sys.argv[1:]:
    threading.Thread(target=listen, args=(int(p),), daemon=True).start()
threading.Event().wait()
`;
const CLIENT = `import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); print(s.recv(1024).decode().strip())
`;
/** One DNS query for an A record over UDP or TCP; prints "<rcode> <answers> <first address>". */
const DNS = `import socket, struct, sys
server, name, mode = sys.argv[1], sys.argv[2], sys.argv[3]
q = struct.pack(">HHHHHH", 0x4e46, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\x00" + struct.pack(">HH", 1, 1)
if mode == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(q, (server, 53)); r = s.recv(512)
else:
    s = socket.create_connection((server, 53), timeout=2); s.sendall(struct.pack(">H", len(q)) + q)
    r = b""
    while len(r) < 2 or len(r) < 2 + struct.unpack(">H", r[:2])[0]:
        d = s.recv(512)
        if not d: break
        r += d
    r = r[2:]
an = struct.unpack(">H", r[6:8])[0]
print(r[3] & 15, an, socket.inet_ntoa(r[-4:]) if an else "-")
`;
const file = (name: string) => join(h.dir, "www-hin", name);

async function startHostService(): Promise<void> {
  await h.exec(["sh", "-c", `python3 ${file("svc.py")} 7000 7001 >/dev/null 2>&1 &`]);
  await waitFor("host service listening", async () => (await h.exec(["ss", "-H", "-t", "-l", "-n", "sport", "=", ":7001"])).stdout.trim());
}

/** Connect from a VM; the service's answer, or "failed" (refused, dropped: a 2 s timeout, unreachable). */
async function connect(vm: string, to: string, port: number): Promise<string> {
  const r = await (vms.get(vm) as NamespaceVm).exec(["python3", file("client.py"), to, String(port)], { reject: false, timeoutMs: 6000 });
  return r.exitCode === 0 ? r.stdout.trim() : "failed";
}
async function dns(vm: string, server: string, name: string, mode: "udp" | "tcp"): Promise<string> {
  const r = await (vms.get(vm) as NamespaceVm).exec(["python3", file("dns.py"), server, name, mode], { reject: false, timeoutMs: 6000 });
  return r.exitCode === 0 ? r.stdout.trim() : "failed";
}
async function ping(vm: string, to: string): Promise<boolean> {
  const family = to.includes(":") ? ["-6"] : [];
  const r = await (vms.get(vm) as NamespaceVm).exec(["busybox", "ping", ...family, "-c", "1", "-W", "1", to], {
    reject: false,
    timeoutMs: 3000,
  });
  return r.exitCode === 0;
}

/** A namespace VM on a network's bridge with its DHCP lease (an isolated network's lease has no router: the VM tries its gateway). */
async function vmOn(name: string, net: (typeof NETS)[keyof typeof NETS]): Promise<string> {
  await vms.get(name)?.destroy();
  const vm = await createNamespaceVm(h, { name, bridge: net.bridge });
  vms.set(name, vm);
  const lease = await vm.dhcp();
  ips.set(name, lease.ip);
  if (!lease.router) await vm.exec(["ip", "route", "replace", "default", "via", net.gateway]);
  return lease.ip;
}

async function firewall(name: string, body: Record<string, unknown>) {
  const r = await c.call("configure-network-firewall", { name, ...body }, { wait: 30 });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.job;
}
const tableText = async () => (await h.exec(["nft", "list", "table", "inet", "netforge"], { reject: false })).stdout;
const bootFile = () => join(h.dir, "netforge", HOST, "firewall.nft");

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST }], label: HOST });
  h = c.hosts.get(HOST) as SandboxHost;
  await mkdir(join(h.dir, "www-hin"), { recursive: true });
  await writeFile(file("svc.py"), SERVICE);
  await writeFile(file("client.py"), CLIENT);
  await writeFile(file("dns.py"), DNS);
  for (const n of Object.values(NETS)) {
    const r = await c.call("create-network", { name: n.name, type: n.type, cidr: n.cidr }, { wait: 30 });
    if (r.status !== 200) throw new Error(JSON.stringify(r.body));
    expect(r.body.job.result.bridge.name).toBe(n.bridge);
  }
  await startHostService();
  await vmOn("vi", NETS.iso);
  await vmOn("vn", NETS.nat);
}, 120_000);
afterAll(async () => {
  for (const vm of vms.values()) await vm.destroy().catch(() => undefined);
  await c?.stop();
});

describe("VMs and the hypervisor's own services", () => {
  it("the host's service answers on both addresses from the host itself (the service is really there)", async () => {
    for (const to of [NETS.iso.gateway, h.hostAddress]) {
      const r = await h.exec(["python3", file("client.py"), to, "7000"], { reject: false, timeoutMs: 6000 });
      expect(r.stdout.trim()).toBe(`hello 7000 ${to}`);
    }
  });

  it("isolated and nat VMs cannot connect to it (gateway, the host's other address), yet get DHCP, DNS and a ping answer from the gateway", async () => {
    for (const [vm, net] of [
      ["vi", NETS.iso],
      ["vn", NETS.nat],
    ] as const) {
      const tries = [net.gateway, h.hostAddress].flatMap((to) => [7000, 7001].map((port) => [to, port] as const));
      const answers = await Promise.all(tries.map(([to, port]) => connect(vm, to, port)));
      expect(answers, JSON.stringify(tries)).toEqual(tries.map(() => "failed"));
      // DNS from the network's dnsmasq: the VM's own name (registered by its DHCP request), over UDP and TCP.
      const ip = ips.get(vm);
      expect(await dns(vm, net.gateway, vm, "udp")).toBe(`0 1 ${ip}`);
      expect(await dns(vm, net.gateway, vm, "tcp")).toBe(`0 1 ${ip}`);
      expect(await ping(vm, net.gateway)).toBe(true);
      expect(await ping(vm, h.hostAddress)).toBe(false);
    }
    // The nat VM still reaches the outside through the host (forwarding is not input).
    expect(await ping("vn", h.outsideAddress)).toBe(true);
  });

  it("IPv6 neither reaches the host nor leaves a nat network (even with IPv6 turned on for the bridge by hand)", async () => {
    // netforge configures no IPv6 yet (libvirt keeps it off on the bridge); an operator or a later version may
    // turn it on: v6 on the bridge, a v6 uplink, forwarding, and a VM address with a route through the host.
    const b = NETS.nat.bridge;
    await h.exec(["sysctl", "-q", "-w", `net.ipv6.conf.${b}.disable_ipv6=0`, "net.ipv6.conf.all.forwarding=1"]);
    await h.exec(["ip", "-6", "addr", "add", "fd00:85::1/64", "dev", b, "nodad"]);
    await h.exec(["ip", "-6", "addr", "add", "fd00:99::2/64", "dev", h.uplinkInterface, "nodad"]);
    await h.execOutside(["ip", "-6", "addr", "add", "fd00:99::1/64", "dev", h.outsideInterface, "nodad"]);
    await h.execOutside(["ip", "-6", "route", "add", "fd00:85::/64", "via", "fd00:99::2"]);
    const vm = vms.get("vn") as NamespaceVm;
    await vm.exec(["ip", "-6", "addr", "add", "fd00:85::10/64", "dev", "eth0", "nodad"]);
    await vm.exec(["ip", "-6", "route", "replace", "default", "via", "fd00:85::1"]);
    // Neighbour discovery still works (the host answers the VM's solicitation), nothing else does.
    await ping("vn", "fd00:85::1");
    const neigh = await vm.exec(["ip", "-6", "neigh", "show", "fd00:85::1"]);
    expect(neigh.stdout).toMatch(/lladdr/);
    expect(await ping("vn", "fd00:85::1")).toBe(false);
    expect(await connect("vn", "fd00:85::1", 7000)).toBe("failed");
    expect(await connect("vn", "fd00:99::2", 7000)).toBe("failed");
    expect(await ping("vn", "fd00:99::1")).toBe(false);
    // The path is there: the host itself reaches the outside over IPv6.
    expect((await h.exec(["busybox", "ping", "-6", "-c", "1", "-W", "1", "fd00:99::1"], { reject: false })).exitCode).toBe(0);
  });

  it("after opting in tcp 7000 on the isolated network: 7000 connects (any host address), 7001 does not; the nat network stays closed", async () => {
    const plan = await c.call("configure-network-firewall", {
      name: NETS.iso.name,
      hostServices: [{ protocol: "tcp", ports: "7000" }],
      dryRun: true,
    });
    expect(plan.status, JSON.stringify(plan.body)).toBe(200);
    expect(plan.body.plan.nft).toContain("\t\tmeta nfproto ipv4 tcp dport 7000 accept\n");
    expect(await connect("vi", NETS.iso.gateway, 7000)).toBe("failed"); // a dry run changes nothing
    const job = await firewall(NETS.iso.name, { hostServices: [{ protocol: "tcp", ports: "7000" }] });
    expect(job.result.changed).toContain("host services open to the VMs: tcp 7000");
    const d = await c.call("describe-network", { name: NETS.iso.name });
    expect(d.body.network.firewall.hostServices).toEqual([{ protocol: "tcp", ports: "7000" }]);
    const viIp = ips.get("vi");
    expect(await connect("vi", NETS.iso.gateway, 7000)).toBe(`hello 7000 ${viIp}`);
    expect(await connect("vi", h.hostAddress, 7000)).toBe(`hello 7000 ${viIp}`);
    expect(await connect("vi", NETS.iso.gateway, 7001)).toBe("failed");
    expect(await connect("vi", h.hostAddress, 7001)).toBe("failed");
    expect(await connect("vn", NETS.nat.gateway, 7000)).toBe("failed");
    expect(await connect("vn", h.hostAddress, 7000)).toBe("failed");
    // The isolated network's VMs still reach nothing beyond the host.
    expect(await ping("vi", h.outsideAddress)).toBe(false);
  });

  it("a new rule set without hostServices closes the port again (the body replaces the whole firewall)", async () => {
    await firewall(NETS.iso.name, { defaultInbound: "accept", rules: [] });
    expect(await connect("vi", NETS.iso.gateway, 7000)).toBe("failed");
    expect((await c.call("describe-network", { name: NETS.iso.name })).body.network.firewall.hostServices).toEqual([]);
    await firewall(NETS.iso.name, { hostServices: [{ protocol: "tcp", ports: "7000" }] });
    expect(await connect("vi", NETS.iso.gateway, 7000)).toMatch(/^hello 7000 /);
  });

  it("refuses a bad host service with 400, naming the field; nothing changes", async () => {
    for (const hostServices of [[{ protocol: "icmp", ports: "1" }], [{ protocol: "tcp", ports: "0-22" }], [{ protocol: "tcp" }]]) {
      const r = await c.call("configure-network-firewall", { name: NETS.iso.name, hostServices });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.code).toBe("VALIDATION_FAILED");
      expect(JSON.stringify(r.body.error.details)).toContain("hostServices");
    }
    expect(await connect("vi", NETS.iso.gateway, 7000)).toMatch(/^hello 7000 /);
  });

  it("the opening and the closing survive stop/start", async () => {
    // Unplugged first: stop refuses a network with devices attached.
    await vms.get("vi")?.destroy();
    vms.delete("vi");
    for (const action of ["stop-network", "start-network"]) {
      const r = await c.call(action, { name: NETS.iso.name }, { wait: 30 });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    await vmOn("vi", NETS.iso); // the bridge was recreated: plug the VM in again (and get a lease)
    expect(await connect("vi", NETS.iso.gateway, 7000)).toMatch(/^hello 7000 /);
    expect(await connect("vi", NETS.iso.gateway, 7001)).toBe("failed");
    expect(await connect("vi", h.hostAddress, 7001)).toBe("failed");
  });

  it("a bridge network (the host's LAN) is not touched: its VMs reach the host's address there", async () => {
    await addLanNic(h, { hostIfname: "lan0", outsideIfname: "lan0-peer", outsideCidr: "192.0.2.1/24" });
    await waitFor("lan0 in the inventory", async () => {
      const r = await c.call("list-hosts", {}, { token: "admin-token-0123456789" });
      return r.body.hosts?.[0]?.interfaces?.some((i: { name: string }) => i.name === "lan0");
    });
    const r = await c.call("create-network", { name: "hlan", type: "bridge", interface: "lan0" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // The host has its own address on that LAN, as on a br0.
    await h.exec(["ip", "addr", "add", `${LAN_HOST_IP}/24`, "dev", "nf-hlan"]);
    const vm = await createNamespaceVm(h, { name: "vl", bridge: "nf-hlan" });
    vms.set("vl", vm);
    await vm.exec(["ip", "addr", "add", "192.0.2.50/24", "dev", "eth0"]);
    expect(await connect("vl", LAN_HOST_IP, 7001)).toBe("hello 7001 192.0.2.50");
    expect(await ping("vl", LAN_HOST_IP)).toBe(true);
    expect(await tableText()).not.toContain("nf-hlan");
    // Done with it: a reboot takes the "physical" NIC away.
    await vm.destroy();
    vms.delete("vl");
    expect((await c.call("delete-network", { name: "hlan" }, { wait: 30 })).status).toBe(200);
  });

  it("is in the boot copy, and holds after a reboot before the worker starts", async () => {
    await waitFor("boot copy with the opening", async () => readFileSync(bootFile(), "utf8").includes("tcp dport 7000 accept"), 10_000);
    const copy = readFileSync(bootFile(), "utf8");
    expect(copy).toContain('iifname "nf-hiso" jump hiso-host');
    expect(copy).toContain('iifname "nf-hnat" jump hnat-host');
    await c.workers.get(HOST)?.stop();
    for (const v of vms.values()) await v.destroy();
    vms.clear();
    const boot = await rebootSandboxHost(h, { boot: netforgeFirewallBoot(HOST) });
    expect(boot.boot.map((b) => b.exitCode)).toEqual([0, 0]);
    h = boot.host;
    c.hosts.set(HOST, h);
    await waitFor(
      "networks autostarted",
      async () => {
        const active = (await h.virsh(["net-list", "--name"], { reject: false })).stdout;
        return active.includes(NETS.iso.name) && active.includes(NETS.nat.name);
      },
      30_000,
      200,
    );
    await startHostService();
    await vmOn("vi", NETS.iso);
    await vmOn("vn", NETS.nat);
    expect(c.workers.get(HOST)?.exited).toBe(true);
    expect(await connect("vi", NETS.iso.gateway, 7000)).toMatch(/^hello 7000 /);
    expect(await connect("vi", NETS.iso.gateway, 7001)).toBe("failed");
    expect(await connect("vn", NETS.nat.gateway, 7000)).toBe("failed");
    expect(await connect("vn", h.hostAddress, 7001)).toBe("failed");
    await c.startWorker(HOST);
    await waitFor("worker's table applied", async () => !(await tableText()).includes("netforge boot guard"), 15_000, 200);
    expect(await connect("vi", NETS.iso.gateway, 7000)).toMatch(/^hello 7000 /);
    expect(await connect("vn", NETS.nat.gateway, 7000)).toBe("failed");
  });
});
