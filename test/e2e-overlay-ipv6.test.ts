/**
 * IPv6 on overlay networks (issue 17 meets issue 18: ADR 0051 "IPv6 on overlays"), end to end on three sandbox
 * hosts on a fabric with real workers, libvirtd, dnsmasq and nft. The gateway is host A (with an IPv6 uplink to its
 * outside namespace); B and C are plain members. A namespace VM on B gets a SLAAC address and a default route from
 * the gateway's router advertisements over VXLAN, pings the gateway's IPv6 address and C's VM, and reaches A's
 * outside over IPv6 translated to A's address (NAT66); B's bridge has no IPv6 of its own; the firewall on B and C
 * drops and accepts IPv6 flows as IPv4 ones; list-network-ips lists the SLAAC addresses the gateway saw; a dhcpv6
 * overlay leases B's VM an address from the gateway's range (`dhclient -6`), and a reserved one by its DUID; a gateway
 * move to B keeps the VMs' addresses and default router (one gateway MAC); an overlapping prefix is 409
 * CIDR_CONFLICT and an MTU below 1280 is 400, with nothing made. Under the e2e lock.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  createFabric,
  createNamespaceVm,
  destroyFabric,
  type Fabric,
  joinFabric,
  type NamespaceVm,
  type SandboxHost,
} from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

const A = "o6a";
const B = "o6b";
const C = "o6c";
const NAME = "ov6";
const PREFIX = "fd00:6e::";
const CIDR6 = "fd00:6e::/64";
const GW6 = "fd00:6e::1";
const under: Record<string, string> = { [A]: "172.31.16.1", [B]: "172.31.16.2", [C]: "172.31.16.3" };
const workerEnv = (id: string) => ({
  NETFORGE_UNDERLAY_IP: under[id] as string,
  NETFORGE_RECONCILE_MS: "2000",
  NETFORGE_HEARTBEAT_MS: "500",
});

let c: Cluster;
const hosts: Record<string, SandboxHost> = {};
let fabric: Fabric | undefined;
const vms: NamespaceVm[] = [];
let vb: NamespaceVm;
let vc: NamespaceVm;
let ipB6 = "";
let ipC6 = "";
let vni = 0;
const t0 = Date.now();
const lap = (what: string) => console.info(`[overlay-ipv6 ${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
const host = (id: string) => hosts[id] as SandboxHost;
const dir = () => join(host(A).dir, "www-o6");

/** A TCP service answering "hello <client address>" on IPv6 port argv[1]; it ends itself after 10 minutes. */
const SERVICE = `import socket, signal, sys
signal.alarm(600)
t = socket.socket(socket.AF_INET6); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("::", int(sys.argv[1]))); t.listen(16)
while True:
    c, a = t.accept(); c.sendall(("hello %s\\n" % a[0]).encode()); c.close()
`;
const CLIENT = `import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); print(s.recv(1024).decode().strip())
`;
/** A router solicitation from the VM (a guest's own retry); waits up to argv[2] s for an advertisement. */
const SOLICIT = `import socket, sys, time, select
idx = socket.if_nametoindex(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, idx))
end = time.time() + float(sys.argv[2])
while time.time() < end:
    r, _, _ = select.select([s], [], [], max(0, end - time.time()))
    if not r: break
    data, addr = s.recvfrom(2048)
    if data[0] == 134: print("RA from", addr[0]); break
`;

/** The VM's usable global IPv6 addresses on eth0 (duplicate address detection done). */
async function globals(vm: NamespaceVm): Promise<string[]> {
  const r = await vm.exec(["ip", "-6", "-j", "addr", "show", "dev", "eth0", "scope", "global", "-tentative"]);
  const rows = JSON.parse(r.stdout || "[]") as { addr_info?: { local: string; family: string }[] }[];
  return rows.flatMap((x) => (x.addr_info ?? []).filter((a) => a.family === "inet6").map((a) => a.local));
}
/** Wait for a SLAAC address in `prefix`, soliciting every 3 s; returns it and how long it took. */
async function slaacAddress(vm: NamespaceVm, prefix: string): Promise<{ ip: string; ms: number }> {
  const start = Date.now();
  for (;;) {
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const a = (await globals(vm)).find((x) => x.startsWith(prefix));
      if (a) return { ip: a, ms: Date.now() - start };
      await new Promise((r) => setTimeout(r, 100));
    }
    if (Date.now() - start > 30_000)
      throw new Error(`no SLAAC address in ${prefix} within 30 s: ${(await vm.exec(["ip", "-6", "addr"])).stdout}`);
    await vm.exec(["python3", join(dir(), "solicit.py"), "eth0", "2"], { reject: false, timeoutMs: 5000 });
  }
}
async function ping6(vm: NamespaceVm, to: string, count = 1): Promise<boolean> {
  const r = await vm.exec(["busybox", "ping", "-6", "-c", String(count), "-W", "2", to], { reject: false, timeoutMs: 5000 + count * 1000 });
  return r.exitCode === 0;
}
async function connect(vm: NamespaceVm, to: string, port: number): Promise<string> {
  const r = await vm.exec(["python3", join(dir(), "client.py"), to, String(port)], { reject: false, timeoutMs: 6000 });
  return r.exitCode === 0 ? r.stdout.trim() : "failed";
}
/** A job followed to its end (Prefer: wait, then polled). */
async function run(action: string, body: unknown): Promise<any> {
  const r = await c.call(action, body, { wait: 60 });
  let job = r.body.job;
  expect(job, JSON.stringify(r.body)).toBeTruthy();
  const deadline = Date.now() + 60_000;
  while (job.state !== "succeeded" && job.state !== "failed" && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 200));
    job = (await c.get(`/api/jobs/${job.id}`)).body.job;
  }
  return job;
}
const took = (job: { startedAt: string; finishedAt: string }) => Date.parse(job.finishedAt) - Date.parse(job.startedAt);

/** A namespace VM on the overlay's bridge of host `id`, its link at the overlay's MTU (as DHCP would set it) unless `linkMtu`. */
async function plug(id: string, name: string, mac: string, bridge: string, linkMtu = 1450): Promise<NamespaceVm> {
  const vm = await createNamespaceVm(host(id), { name, bridge, mac });
  vms.push(vm);
  await vm.exec(["ip", "link", "set", "dev", "eth0", "mtu", String(linkMtu)]);
  return vm;
}

beforeAll(async () => {
  c = await startCluster({
    hosts: [
      { id: A, uplinkCidr: "198.51.121.0/24", uplinkCidr6: "fd00:6f::/64" },
      { id: B, uplinkCidr: "198.51.122.0/24", uplinkCidr6: "fd00:70::/64" },
      { id: C, uplinkCidr: "198.51.123.0/24" },
    ],
    label: "ovip6",
  });
  for (const id of [A, B, C]) hosts[id] = c.hosts.get(id) as SandboxHost;
  await mkdir(dir(), { recursive: true });
  await writeFile(join(dir(), "svc.py"), SERVICE);
  await writeFile(join(dir(), "client.py"), CLIENT);
  await writeFile(join(dir(), "solicit.py"), SOLICIT);
  fabric = await createFabric("o6f");
  await Promise.all(
    [A, B, C].map(async (id) => {
      await joinFabric(fabric as Fabric, host(id), { cidr: `${under[id]}/24` });
      await c.startWorker(id, { env: workerEnv(id) });
    }),
  );
  await waitFor("the fabric underlays", async () => {
    const r = await c.call("list-hosts", {});
    return r.body.hosts.every((h: { id: string; underlay?: { ip: string } }) => h.underlay?.ip === under[h.id]);
  });
  for (const id of [A, B]) {
    await host(id).execOutside(["sh", "-c", `python3 ${join(dir(), "svc.py")} 7600 >/dev/null 2>&1 &`]);
    await waitFor("outside service", async () =>
      (await host(id).execOutside(["ss", "-H", "-t", "-l", "-n", "sport", "=", ":7600"])).stdout.trim(),
    );
  }
  lap("cluster, fabric, outside service");
}, 120_000);
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await c?.stop();
  if (fabric) await destroyFabric(fabric);
});

describe("IPv6 on an overlay (slaac, gateway on A, VMs on B and C)", () => {
  it("the dry run shows the gateway's IPv6 <ip> and the members' bridges without IPv6 of their own, and makes nothing", async () => {
    const body = {
      name: NAME,
      type: "overlay",
      cidr: "10.96.0.0/24",
      hosts: [A, B, C],
      gatewayHost: A,
      ipv6: { cidr: CIDR6, mode: "slaac" },
    };
    const r = await c.call("create-network", { ...body, dryRun: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const text = JSON.stringify(r.body);
    expect(text).toContain(`<ip family='ipv6' address='${GW6}' prefix='64'/>`);
    expect(text).toMatch(/sysctl.*-qw.*net\.ipv6\.conf\.nfov\d+\.disable_ipv6=1/);
    expect(text).toContain(`<nf:ipv6 cidr='${CIDR6}' gateway='${GW6}' mode='slaac' routed='no'/>`);
    expect((await c.call("describe-network", { name: NAME })).status).toBe(404);
  });

  it("creates it over three hosts: describe shows ipv6; A's bridge holds the gateway address and NAT66; B's and C's bridges have no IPv6", async () => {
    const job = await run("create-network", {
      name: NAME,
      type: "overlay",
      cidr: "10.96.0.0/24",
      hosts: [A, B, C],
      gatewayHost: A,
      ipv6: { cidr: CIDR6, mode: "slaac" },
    });
    expect(job.state, JSON.stringify(job)).toBe("succeeded");
    lap(`create job ${took(job)} ms`);
    const d = (await c.call("describe-network", { name: NAME })).body.network;
    vni = d.overlay.vni;
    expect(d.ipv6).toEqual({ cidr: CIDR6, gateway: GW6, mode: "slaac", dhcp: null, routed: false });
    expect(d.mtu).toBe(1450);
    const br = `nfov${vni}`;
    expect((await host(A).exec(["ip", "-6", "addr", "show", "dev", br])).stdout).toContain(`${GW6}/64`);
    const table = (await host(A).exec(["nft", "list", "table", "inet", "netforge"])).stdout;
    expect(table).toMatch(/ip6 saddr fd00:6e::\/64 ip6 daddr != fd00:6e::\/64 masquerade/);
    for (const id of [B, C]) {
      expect((await host(id).exec(["sysctl", "-n", `net.ipv6.conf.${br}.disable_ipv6`])).stdout.trim()).toBe("1");
      const xml = (await host(id).virsh(["net-dumpxml", NAME])).stdout;
      expect(xml).toMatch(/<nf:ipv6 cidr=["']fd00:6e::\/64["']/);
      expect(xml).not.toMatch(/<ip family/);
    }
  });

  it("a VM on member B gets a SLAAC address and a default route from A's advertisements, pings the gateway and C's VM", async () => {
    const br = `nfov${vni}`;
    vb = await plug(B, "o6vb", "52:54:00:96:00:0b", br);
    vc = await plug(C, "o6vc", "52:54:00:96:00:0c", br);
    const [sb, sc] = await Promise.all([slaacAddress(vb, PREFIX), slaacAddress(vc, PREFIX)]);
    ipB6 = sb.ip;
    ipC6 = sc.ip;
    lap(`SLAAC addresses: B's VM ${ipB6} after ${sb.ms} ms, C's VM ${ipC6} after ${sc.ms} ms`);
    const route = await waitFor(
      "IPv6 default route",
      async () => (await vb.exec(["ip", "-6", "route", "show", "default"])).stdout.trim(),
      20_000,
    );
    expect(route).toMatch(/^default via fe80::\S+ dev eth0/);
    expect(await ping6(vb, GW6)).toBe(true);
    expect(await ping6(vb, ipC6, 3)).toBe(true);
    expect(await ping6(vc, ipB6)).toBe(true);
    // B's host took nothing of the overlay's IPv6 for itself (its bridge's IPv6 is off): no address, no route.
    expect((await host(B).exec(["ip", "-6", "addr", "show", "dev", br, "scope", "global"])).stdout).not.toContain("inet6");
    expect((await host(B).exec(["ip", "-6", "route", "show", "dev", br])).stdout.trim()).toBe("");
    expect((await host(B).exec(["ip", "-6", "addr", "show", "dev", br])).stdout).not.toContain("inet6");
  });

  it("B's VM reaches A's outside over IPv6, seen there as A's address (NAT66 on the gateway)", async () => {
    const a = host(A);
    expect(await connect(vb, a.outsideAddress6 as string, 7600)).toBe(`hello ${a.hostAddress6}`);
    expect(await connect(vc, a.outsideAddress6 as string, 7600)).toBe(`hello ${a.hostAddress6}`);
  });

  it("list-network-ips lists the VMs' SLAAC addresses the gateway saw", async () => {
    await ping6(vc, GW6);
    const rows = await waitFor(
      "SLAAC rows",
      async () => {
        const r = await c.call("list-network-ips", { name: NAME });
        const ips = (r.body.ips ?? []) as { ip: string; mac: string; slaac?: boolean }[];
        return ips.some((x) => x.ip === ipB6) && ips.some((x) => x.ip === ipC6) ? ips : null;
      },
      40_000,
    );
    expect(rows.find((x) => x.ip === ipB6)).toMatchObject({ mac: "52:54:00:96:00:0b", slaac: true });
    expect(rows.find((x) => x.ip === ipC6)).toMatchObject({ mac: "52:54:00:96:00:0c", slaac: true });
  });

  it("the firewall on the members applies to IPv6: a CIDR-less rule lets tcp 7100 to C's VM in, 7101 is dropped; ND and RA still pass", async () => {
    for (const p of [7100, 7101]) await vc.exec(["sh", "-c", `python3 ${join(dir(), "svc.py")} ${p} >/dev/null 2>&1 &`]);
    await waitFor("C's VM's services", async () => (await vc.exec(["ss", "-H", "-t", "-l", "-n"])).stdout.includes(":7101"));
    // Open: both connect.
    expect(await connect(vb, ipC6, 7100)).toBe(`hello ${ipB6}`);
    expect(await connect(vb, ipC6, 7101)).toBe(`hello ${ipB6}`);
    const job = await run("configure-network-firewall", {
      name: NAME,
      defaultInbound: "drop",
      defaultOutbound: "accept",
      rules: [{ direction: "inbound", protocol: "tcp", ports: "7100", action: "accept" }],
    });
    expect(job.state, JSON.stringify(job)).toBe("succeeded");
    lap(`firewall job ${took(job)} ms`);
    expect(await connect(vb, ipC6, 7100)).toBe(`hello ${ipB6}`);
    expect(await connect(vb, ipC6, 7101)).toBe("failed");
    // Neighbour discovery and router advertisements still pass: a VM plugged now gets its address and pings the gateway.
    // (Its link left at 1500: the advertisements carry the overlay's MTU, dnsmasq's from A's bridge, and the
    // guest's IPv6 MTU follows them.)
    const vb2 = await plug(B, "o6vb2", "52:54:00:96:00:1b", `nfov${vni}`, 1500);
    const s2 = await slaacAddress(vb2, PREFIX);
    lap(`a new VM's SLAAC address under the drop default after ${s2.ms} ms`);
    expect((await vb2.exec(["sysctl", "-n", "net.ipv6.conf.eth0.mtu"])).stdout.trim()).toBe("1450");
    expect(await ping6(vb2, GW6)).toBe(true);
    // The drop was the members' (C's and B's chains; the frames never reach A's bridge as routed traffic).
    const chains = (await host(C).exec(["nft", "list", "table", "inet", "netforge"])).stdout;
    expect(chains).toContain("udp sport 546 udp dport 547 accept");
    const open = await run("configure-network-firewall", { name: NAME, defaultInbound: "accept", defaultOutbound: "accept", rules: [] });
    expect(open.state).toBe("succeeded");
    expect(await connect(vb, ipC6, 7101)).toBe(`hello ${ipB6}`);
  });

  it("an overlapping IPv6 prefix is 409 CIDR_CONFLICT and an MTU below 1280 is 400, with nothing made", async () => {
    const base = { type: "overlay", hosts: [A, B], gatewayHost: A };
    const r1 = await c.call("create-network", {
      ...base,
      name: "ov6x",
      cidr: "10.97.0.0/24",
      ipv6: { cidr: "fd00:6e::/64", mode: "slaac" },
    });
    expect(r1.status, JSON.stringify(r1.body)).toBe(409);
    expect(r1.body.error.code).toBe("CIDR_CONFLICT");
    const r2 = await c.call("create-network", {
      ...base,
      name: "ov6y",
      cidr: "10.98.0.0/24",
      mtu: 1200,
      ipv6: { cidr: "fd00:6d::/64", mode: "slaac" },
    });
    expect(r2.status, JSON.stringify(r2.body)).toBe(400);
    expect(JSON.stringify(r2.body)).toMatch(/at least 1280/);
    for (const n of ["ov6x", "ov6y"]) expect((await c.call("describe-network", { name: n })).status).toBe(404);
  });
});

describe("a gateway move of an IPv6 overlay (A to B)", () => {
  it("B holds the gateway address and advertises; the VMs keep their addresses and default router (one gateway MAC) and reach B's outside by NAT66", async () => {
    const br = `nfov${vni}`;
    const router = async (vm: NamespaceVm) =>
      /via (fe80::\S+)/.exec((await vm.exec(["ip", "-6", "route", "show", "default"])).stdout)?.[1] ?? null;
    const before = await router(vc);
    expect(before).not.toBeNull();
    const job = await run("configure-network-hosts", { name: NAME, gatewayHost: B });
    expect(job.state, JSON.stringify(job)).toBe("succeeded");
    const end = Date.now();
    lap(`move job ${took(job)} ms`);
    expect((await host(B).exec(["ip", "-6", "addr", "show", "dev", br])).stdout).toContain(`${GW6}/64`);
    // No STP on the new gateway's bridge: its VXLAN port forwards at once (with STP: 4 s of listening and learning).
    expect((await host(B).exec(["cat", `/sys/class/net/${br}/bridge/stp_state`])).stdout.trim()).toBe("0");
    expect((await host(A).exec(["sysctl", "-n", `net.ipv6.conf.${br}.disable_ipv6`])).stdout.trim()).toBe("1");
    expect((await host(A).exec(["ip", "-6", "addr", "show", "dev", br])).stdout).not.toContain("inet6");
    const b = host(B);
    // Where the time goes: C's VXLAN entry for the gateway MAC toward B (the unicast sync), and the first echo reply
    // from B's outside (the VM's default route through the new gateway), both polled from the job's end.
    const mac = `06:4e:46:${vni
      .toString(16)
      .padStart(6, "0")
      .replace(/(..)(..)(..)/, "$1:$2:$3")}`;
    const [fdbMs, pingMs] = await Promise.all([
      waitFor(
        "C's entry for the gateway MAC toward B",
        async () => {
          const r = await host(C).exec(["bridge", "fdb", "show", "dev", `nfvx${vni}`]);
          return r.stdout.includes(`${mac} dst ${under[B]}`) ? Date.now() - end : null;
        },
        30_000,
        50,
      ),
      waitFor(
        "an echo reply from B's outside",
        async () => {
          const r = await vc.exec(["busybox", "ping", "-6", "-c", "1", "-W", "1", b.outsideAddress6 as string], { reject: false });
          return r.exitCode === 0 ? Date.now() - end : null;
        },
        30_000,
        50,
      ),
    ]);
    lap(`after the move job: C's entry for the gateway MAC toward B at ${fdbMs} ms, the first echo reply from B's outside at ${pingMs} ms`);
    const seen = await waitFor(
      "C's VM through the new gateway",
      async () => {
        const r = await connect(vc, b.outsideAddress6 as string, 7600);
        return r === "failed" ? null : r;
      },
      30_000,
      100,
    );
    lap(`C's VM reached B's outside over IPv6 ${Date.now() - end} ms after the move job ended`);
    expect(seen).toBe(`hello ${b.hostAddress6}`);
    expect(await router(vc)).toBe(before);
    // The new gateway's bridge has the overlay's one gateway MAC, so its link-local address is the VMs' router still.
    const addrs = (await host(B).exec(["ip", "-6", "addr", "show", "dev", br])).stdout;
    const link = (await host(B).exec(["ip", "link", "show", "dev", br])).stdout;
    expect(link, link).toContain("link/ether 06:4e:46:");
    expect(addrs, addrs).toContain(`inet6 ${before}/64 scope link`);
    expect(await ping6(vc, GW6)).toBe(true);
    expect(await ping6(vb, ipC6)).toBe(true);
    expect(await connect(vb, b.outsideAddress6 as string, 7600)).toBe(`hello ${b.hostAddress6}`);
    // A VM plugged on A, now a member, gets its address from B's advertisements.
    const va = await plug(A, "o6va", "52:54:00:96:00:0a", br);
    const sa = await slaacAddress(va, PREFIX);
    lap(`a VM on A (now a member) got its SLAAC address after ${sa.ms} ms`);
    expect(await ping6(va, ipC6)).toBe(true);
  });
});

describe("IPv6 on an overlay in dhcpv6 mode", () => {
  it("a VM on member B leases an address from the gateway's DHCPv6 range (dhclient -6)", async () => {
    const job = await run("create-network", {
      name: "ov6d",
      type: "overlay",
      cidr: "10.99.0.0/24",
      hosts: [A, B],
      gatewayHost: A,
      ipv6: { cidr: "fd00:6c::/64", mode: "dhcpv6", dhcp: { start: "fd00:6c::100", end: "fd00:6c::1ff", leaseTime: 600 } },
    });
    expect(job.state, JSON.stringify(job)).toBe("succeeded");
    const d = (await c.call("describe-network", { name: "ov6d" })).body.network;
    const vm = await plug(B, "o6vd", "52:54:00:96:00:0d", `nfov${d.overlay.vni}`);
    await waitFor(
      "link-local address",
      async () => (await vm.exec(["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link", "-tentative"])).stdout.includes("fe80"),
      10_000,
    );
    const lease = join(dir(), "o6vd.leases");
    const pidFile = join(dir(), "o6vd.pid");
    const t = Date.now();
    const got = await vm.exec(["dhclient", "-6", "-1", "-sf", "/bin/true", "-lf", lease, "-pf", pidFile, "eth0"], {
      reject: false,
      timeoutMs: 40_000,
    });
    lap(`DHCPv6 lease over the overlay in ${Date.now() - t} ms`);
    await vm.exec(["sh", "-c", `kill "$(cat ${pidFile})"`], { reject: false });
    const text = await readFile(lease, "utf8").catch(() => "");
    const m = /iaaddr\s+([0-9a-f:]+)\s*\{[^}]*max-life\s+(\d+)/s.exec(text);
    expect(m, `${got.stderr}\n${text}`).not.toBeNull();
    const ip = (m as RegExpExecArray)[1] as string;
    expect(ip.startsWith("fd00:6c::")).toBe(true);
    const n = BigInt(`0x${ip.split("::")[1] ?? "0"}`);
    expect(n >= 0x100n && n <= 0x1ffn, ip).toBe(true);
    expect(Number((m as RegExpExecArray)[2])).toBe(600);
    // The lease is listed at the gateway (its lease file), with the client's DUID.
    const rows = await waitFor(
      "the DHCPv6 lease listed",
      async () => {
        const ips = ((await c.call("list-network-ips", { name: "ov6d" })).body.ips ?? []) as { ip: string; duid?: string }[];
        return ips.find((x) => x.ip === ip) ?? null;
      },
      20_000,
    );
    expect(rows.duid).toBeTruthy();
  });

  it("an IPv6 reservation by DUID on the gateway: a VM on member B with that DUID leases the reserved address; removed, it is gone", async () => {
    const d = (await c.call("describe-network", { name: "ov6d" })).body.network;
    const mac = "52:54:00:96:00:2d";
    const vm = await plug(B, "o6vr", mac, `nfov${d.overlay.vni}`);
    const duid = `00:03:00:01:${mac}`;
    const r = await run("assign-static-ip", { name: "ov6d", duid, ip: "fd00:6c::42", hostname: "o6vr" });
    expect(r.state, JSON.stringify(r)).toBe("succeeded");
    expect((await c.call("describe-network", { name: "ov6d" })).body.network.reservations6).toEqual([
      { duid, ip: "fd00:6c::42", hostname: "o6vr" },
    ]);
    // On the gateway's libvirt (A), in its IPv6 <ip>; not on B's (a member's definition keeps the spec only).
    expect((await host(A).virsh(["net-dumpxml", "ov6d"])).stdout).toMatch(
      /<host id=["']00:03:00:01:52:54:00:96:00:2d["'][^>]*ip=["']fd00:6c::42["']/,
    );
    await waitFor(
      "link-local address",
      async () => (await vm.exec(["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link", "-tentative"])).stdout.includes("fe80"),
      10_000,
    );
    const lease = join(dir(), "o6vr.leases");
    const pidFile = join(dir(), "o6vr.pid");
    const got = await vm.exec(["dhclient", "-6", "-1", "-D", "LL", "-sf", "/bin/true", "-lf", lease, "-pf", pidFile, "eth0"], {
      reject: false,
      timeoutMs: 40_000,
    });
    await vm.exec(["sh", "-c", `kill "$(cat ${pidFile})"`], { reject: false });
    const text = await readFile(lease, "utf8").catch(() => "");
    expect(/iaaddr\s+([0-9a-f:]+)/.exec(text)?.[1], `${got.stderr}\n${text}`).toBe("fd00:6c::42");
    const u = await run("unassign-static-ip", { name: "ov6d", duid });
    expect(u.state, JSON.stringify(u)).toBe("succeeded");
    expect((await host(A).virsh(["net-dumpxml", "ov6d"])).stdout).not.toContain("fd00:6c::42");
  });
});
