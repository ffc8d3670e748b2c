/**
 * IPv6 dual stack (issue 18, first slice), proven with real traffic on a sandbox host: a nat network with an
 * IPv6 /64 in slaac mode gives a namespace VM a SLAAC address in the prefix and a default route (dnsmasq's
 * router advertisements); the VM reaches a TCP service in the outside namespace over IPv6 and the service sees
 * the host's uplink address (NAT66 in netforge's table); a dhcpv6-mode network leases a VM an address inside
 * its range (`dhclient -6`); ND/RA still work under an inbound default drop; refusals (a bridge network with
 * ipv6, a reserved or overlapping prefix, a host whose routes come from router advertisements) change nothing.
 * Second slice: an IPv6 reservation by DUID gives the client with that DUID its address and not another one;
 * list-network-ips lists DHCPv6 leases (DUID, IAID) and SLAAC addresses from the bridge's neighbour table.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createNamespaceVm, type NamespaceVm, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

const HOST = "hv6";
let c: Cluster;
let h: SandboxHost;
const vms: NamespaceVm[] = [];
const SLAAC = {
  name: "v6nat",
  cidr: "10.86.0.0/24",
  prefix: "fd00:86::",
  cidr6: "fd00:86::/64",
  gateway6: "fd00:86::1",
  bridge: "nf-v6nat",
};
const ROUTED = { name: "v6rt", cidr: "10.88.0.0/24", prefix: "fd00:88::", cidr6: "fd00:88::/64", bridge: "nf-v6rt" };
const DHCP6 = {
  name: "v6dhcp",
  cidr: "10.87.0.0/24",
  cidr6: "fd00:87::/64",
  start: "fd00:87::100",
  end: "fd00:87::1ff",
  bridge: "nf-v6dhcp",
};
/** The outside's and the host uplink's IPv6 addresses (a link of their own, as the IPv4 one). */
const OUTSIDE6 = "fd00:99::1";
/** A second outside source (the one a deny rule names). */
const OUTSIDE6_B = "fd00:99::3";
const UPLINK6 = "fd00:99::2";

/** A TCP service answering "hello <client address>" on every IPv6 address of the outside namespace. */
const SERVICE = `import socket
t = socket.socket(socket.AF_INET6); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("::", 7600)); t.listen(16)
while True:
    c, a = t.accept(); c.sendall(("hello %s\\n" % a[0]).encode()); c.close()
`;
const CLIENT = `import socket, sys
src = (sys.argv[3], 0) if len(sys.argv) > 3 else None
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3, source_address=src); print(s.recv(1024).decode().strip())
`;
/**
 * A router solicitation from the VM, as a guest sends at boot (the kernel's own went out before port security knew the
 * VM's MAC); waits up to argv[2] seconds for the advertisement. Prints what came back.
 */
const SOLICIT = `import socket, sys, time, select
ifname = sys.argv[1]
idx = socket.if_nametoindex(ifname)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, idx))
end = time.time() + float(sys.argv[2])
got = []
while time.time() < end:
    r, _, _ = select.select([s], [], [], max(0, end - time.time()))
    if not r: break
    data, addr = s.recvfrom(2048)
    got.append("%d from %s" % (data[0], addr[0]))
    if data[0] == 134: break
print("received:", ", ".join(got) or "nothing")
`;
const dir = () => join(h.dir, "www-hv6");

/**
 * A namespace VM on `bridge` with its IPv4 lease first: port security lets IPv6 from a VM port through only from a
 * MAC the network knows (a reservation or a lease), so a VM's first router solicitations may be dropped: it
 * solicits again (slaacAddress) once the worker knows the MAC.
 */
async function vmOn(name: string, bridge: string): Promise<NamespaceVm> {
  const vm = await createNamespaceVm(h, { name, bridge });
  vms.push(vm);
  await vm.dhcp();
  return vm;
}
/** Wait for a SLAAC address in `prefix`, sending a router solicitation every 3 s (a guest's own retries). */
async function slaacAddress(vm: NamespaceVm, prefix: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const a = (await globals(vm)).find((x) => x.startsWith(prefix));
      if (a) return a;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (Date.now() > deadline) throw new Error(`no SLAAC address in ${prefix} within 30 s\n${await diagnose(vm)}`);
    await vm.exec(["python3", join(dir(), "solicit.py"), "eth0", "2"], { reject: false, timeoutMs: 5000 });
  }
}
/** The VM's usable global IPv6 addresses on eth0 (duplicate address detection done: a tentative one cannot send). */
async function globals(vm: NamespaceVm): Promise<string[]> {
  const r = await vm.exec(["ip", "-6", "-j", "addr", "show", "dev", "eth0", "scope", "global", "-tentative"]);
  const rows = JSON.parse(r.stdout || "[]") as { addr_info?: { local: string; family: string }[] }[];
  return rows.flatMap((x) => (x.addr_info ?? []).filter((a) => a.family === "inet6").map((a) => a.local));
}
async function connect(vm: NamespaceVm, to: string, port: number): Promise<string> {
  const r = await vm.exec(["python3", join(dir(), "client.py"), to, String(port)], { reject: false, timeoutMs: 8000 });
  return r.exitCode === 0 ? r.stdout.trim() : "failed";
}
async function ping6(vm: NamespaceVm, to: string): Promise<boolean> {
  const r = await vm.exec(["busybox", "ping", "-6", "-c", "1", "-W", "2", to], { reject: false, timeoutMs: 5000 });
  return r.exitCode === 0;
}

/** What the host and the VM have, for a failed IPv6 path (the assertion's message). */
async function diagnose(vm: NamespaceVm): Promise<string> {
  const out: string[] = [];
  const run = async (what: string, p: Promise<{ stdout: string; stderr: string }>) => {
    const r = await p.catch((e: Error) => ({ stdout: "", stderr: String(e.message) }));
    out.push(`== ${what}\n${r.stdout}${r.stderr}`);
  };
  await run("vm addr", vm.exec(["ip", "-6", "addr"], { reject: false }));
  await run(
    "vm sysctl",
    vm.exec(["sysctl", "net.ipv6.conf.eth0.accept_ra", "net.ipv6.conf.eth0.forwarding", "net.ipv6.conf.eth0.autoconf"], { reject: false }),
  );
  await run("vm RS/RA", vm.exec(["python3", join(dir(), "solicit.py"), "eth0", "5"], { reject: false, timeoutMs: 8000 }));
  await run(
    "dnsmasq conf",
    h.exec(["sh", "-c", `cat ${join(h.dir, "lib", "dnsmasq")}/*.conf; ps -eo pid,args | grep [d]nsmasq`], { reject: false }),
  );
  await run("vm route", vm.exec(["ip", "-6", "route"], { reject: false }));
  await run("vm ping outside", vm.exec(["busybox", "ping", "-6", "-c", "1", "-W", "2", OUTSIDE6], { reject: false }));
  await run("vm ping uplink", vm.exec(["busybox", "ping", "-6", "-c", "1", "-W", "2", UPLINK6], { reject: false }));
  await run("vm client", vm.exec(["python3", join(dir(), "client.py"), OUTSIDE6, "7600"], { reject: false, timeoutMs: 8000 }));
  await run("host route", h.exec(["ip", "-6", "route"], { reject: false }));
  await run("host addr", h.exec(["ip", "-6", "addr"], { reject: false }));
  await run("host sysctl", h.exec(["sysctl", "net.ipv6.conf.all.forwarding"], { reject: false }));
  await run("host ruleset", h.exec(["nft", "list", "ruleset"], { reject: false }));
  await run("outside", h.execOutside(["ip", "-6", "addr"], { reject: false }));
  await run("outside ss", h.execOutside(["ss", "-tln"], { reject: false }));
  return out.join("\n");
}

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST }], label: HOST });
  h = c.hosts.get(HOST) as SandboxHost;
  await mkdir(dir(), { recursive: true });
  await writeFile(join(dir(), "svc.py"), SERVICE);
  await writeFile(join(dir(), "client.py"), CLIENT);
  await writeFile(join(dir(), "solicit.py"), SOLICIT);
  // The outside world over IPv6: one link between the host's uplink and the outside namespace, the host's
  // default IPv6 route through it; the outside has no route to the VMs' prefix (only NAT66 gets replies back).
  await h.exec(["ip", "-6", "addr", "add", `${UPLINK6}/64`, "dev", h.uplinkInterface, "nodad"]);
  await h.execOutside(["ip", "-6", "addr", "add", `${OUTSIDE6}/64`, "dev", h.outsideInterface, "nodad"]);
  await h.execOutside(["ip", "-6", "addr", "add", `${OUTSIDE6_B}/64`, "dev", h.outsideInterface, "nodad"]);
  await h.exec(["ip", "-6", "route", "add", "default", "via", OUTSIDE6]);
  await h.execOutside(["sh", "-c", `python3 ${join(dir(), "svc.py")} >/dev/null 2>&1 &`]);
  await waitFor("outside service", async () => (await h.execOutside(["ss", "-H", "-t", "-l", "-n", "sport", "=", ":7600"])).stdout.trim());
}, 120_000);
afterAll(async () => {
  for (const vm of vms) await vm.destroy().catch(() => undefined);
  await c?.stop();
});

describe("IPv6 on a nat network (slaac, NAT66)", () => {
  it("creates a dual-stack nat network: the definition carries the prefix, describe shows it", async () => {
    const r = await c.call(
      "create-network",
      { name: SLAAC.name, type: "nat", cidr: SLAAC.cidr, ipv6: { cidr: SLAAC.cidr6, mode: "slaac" } },
      { wait: 30 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.state).toBe("succeeded");
    const d = await c.call("describe-network", { name: SLAAC.name });
    expect(d.body.network.ipv6).toEqual({ cidr: SLAAC.cidr6, gateway: SLAAC.gateway6, mode: "slaac", dhcp: null, routed: false });
    const xml = (await h.virsh(["net-dumpxml", SLAAC.name])).stdout;
    expect(xml).toMatch(/<ip family=["']ipv6["'] address=["']fd00:86::1["'] prefix=["']64["']/);
    // The host has the gateway address on the bridge, and IPv6 forwarding (libvirt's, in this host only).
    expect((await h.exec(["ip", "-6", "addr", "show", "dev", SLAAC.bridge])).stdout).toContain(`${SLAAC.gateway6}/64`);
    expect((await h.exec(["sysctl", "-n", "net.ipv6.conf.all.forwarding"])).stdout.trim()).toBe("1");
    const table = (await h.exec(["nft", "list", "table", "inet", "netforge"])).stdout;
    expect(table).toMatch(/ip6 saddr fd00:86::\/64 ip6 daddr != fd00:86::\/64 masquerade/);
  });

  it("a VM gets a SLAAC address in the prefix and a default route from the router advertisements", async () => {
    const vm = await vmOn("s1", SLAAC.bridge);
    expect(await slaacAddress(vm, SLAAC.prefix)).toMatch(/^fd00:86::[0-9a-f:]+$/);
    const route = await waitFor(
      "IPv6 default route",
      async () => (await vm.exec(["ip", "-6", "route", "show", "default"])).stdout.trim(),
      20_000,
    );
    expect(route).toMatch(/^default via fe80::\S+ dev eth0/);
    expect(await ping6(vm, SLAAC.gateway6)).toBe(true);
  });

  it("the VM reaches the outside over IPv6 with its source translated to the host's address (NAT66)", async () => {
    const vm = vms[0] as NamespaceVm;
    const answer = await connect(vm, OUTSIDE6, 7600);
    expect(answer, answer === `hello ${UPLINK6}` ? "" : await diagnose(vm)).toBe(`hello ${UPLINK6}`);
    // The outside has no route to the prefix: without the translation no reply could come back.
    expect((await h.execOutside(["ip", "-6", "route", "get", "fd00:86::10"], { reject: false })).stdout).not.toContain(h.outsideInterface);
  });

  it("list-network-ips lists the VM's SLAAC address, seen in the host's neighbour table on the bridge", async () => {
    const vm = vms[0] as NamespaceVm;
    const addr = (await globals(vm)).find((x) => x.startsWith(SLAAC.prefix)) as string;
    // The host talks to the VM's address (the NAT66 replies above went to it): the bridge's neighbour table has it.
    await ping6(vm, SLAAC.gateway6);
    const row = await waitFor(
      "the SLAAC address in list-network-ips",
      async () => ((await c.call("list-network-ips", { name: SLAAC.name })).body.ips as any[]).find((x) => x.ip === addr),
      20_000,
    );
    expect(row).toMatchObject({ ip: addr, mac: vm.mac, slaac: true, static: false, leaseExpiresAt: null });
  });

  it("an inbound default drop leaves neighbour discovery and router advertisements working (a new VM still gets its address)", async () => {
    const fw = await c.call("configure-network-firewall", { name: SLAAC.name, defaultInbound: "drop", rules: [] }, { wait: 30 });
    expect(fw.status, JSON.stringify(fw.body)).toBe(200);
    const vm = await vmOn("s2", SLAAC.bridge);
    expect(await slaacAddress(vm, SLAAC.prefix)).toMatch(/^fd00:86::/);
    // Outbound connections still work (their replies are established traffic).
    expect(await connect(vm, OUTSIDE6, 7600)).toBe(`hello ${UPLINK6}`);
    // VM to VM is now inbound traffic meeting the drop; neighbour discovery between them still resolves.
    const first = vms[0] as NamespaceVm;
    const firstAddr = (await globals(first)).find((x) => x.startsWith(SLAAC.prefix)) as string;
    expect(await ping6(vm, firstAddr)).toBe(false);
    const neigh = await vm.exec(["ip", "-6", "neigh", "show", firstAddr]);
    expect(neigh.stdout).toMatch(/lladdr/);
  });
});

describe("IPv6 routed (no NAT66) and an IPv6 firewall rule", () => {
  it("the outside, with a route to the prefix, reaches the VM's own address; a v6 deny rule stops one source only", async () => {
    const r = await c.call(
      "create-network",
      { name: ROUTED.name, type: "nat", cidr: ROUTED.cidr, ipv6: { cidr: ROUTED.cidr6, mode: "slaac", routed: true } },
      { wait: 30 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await c.call("describe-network", { name: ROUTED.name })).body.network.ipv6.routed).toBe(true);
    // describe says what the upstream must route: the prefix via the host's uplink address (from its inventory).
    const route = await waitFor("ipv6Route via the uplink", async () => {
      const n = (await c.call("describe-network", { name: ROUTED.name })).body.network;
      return n.ipv6Route?.via?.includes(UPLINK6) ? n.ipv6Route : null;
    });
    expect(route.prefix).toBe(ROUTED.cidr6);
    expect(route.via.every((a: string) => !a.startsWith("fe80:") && !a.startsWith(ROUTED.prefix))).toBe(true);
    const table = (await h.exec(["nft", "list", "table", "inet", "netforge"])).stdout;
    expect(table).not.toMatch(/ip6 saddr fd00:88::\/64 .*masquerade/);
    const vm = await vmOn("r1", ROUTED.bridge);
    const addr = await slaacAddress(vm, ROUTED.prefix);
    // A service in the VM; the upstream (the outside namespace) routes the prefix to the host.
    await vm.exec(["sh", "-c", `python3 ${join(dir(), "svc.py")} >/dev/null 2>&1 &`]);
    await waitFor("VM service", async () => (await vm.exec(["ss", "-H", "-t", "-l", "-n", "sport", "=", ":7600"])).stdout.trim());
    await h.execOutside(["ip", "-6", "route", "add", route.prefix, "via", UPLINK6]);
    const from = async (src: string) => {
      const x = await h.execOutside(["python3", join(dir(), "client.py"), addr, "7600", src], { reject: false, timeoutMs: 8000 });
      return x.exitCode === 0 ? x.stdout.trim() : "failed";
    };
    // Nothing translated: the VM sees the outside's own address.
    expect(await from(OUTSIDE6)).toBe(`hello ${OUTSIDE6}`);
    expect(await from(OUTSIDE6_B)).toBe(`hello ${OUTSIDE6_B}`);
    const fw = await c.call(
      "configure-network-firewall",
      {
        name: ROUTED.name,
        rules: [{ direction: "inbound", protocol: "tcp", source: `${OUTSIDE6_B}/128`, ports: "7600", action: "reject" }],
      },
      { wait: 30 },
    );
    expect(fw.status, JSON.stringify(fw.body)).toBe(200);
    expect(await from(OUTSIDE6_B)).toBe("failed");
    expect(await from(OUTSIDE6)).toBe(`hello ${OUTSIDE6}`);
    // A rule mixing the families is refused at the door (400), naming the field.
    const mixed = await c.call("configure-network-firewall", {
      name: SLAAC.name,
      rules: [{ direction: "inbound", protocol: "any", source: "10.0.0.0/8", destination: "fd00::/8", action: "drop" }],
    });
    expect(mixed.status).toBe(400);
    expect(mixed.body.error.message).toMatch(/destination: source and destination must be of one family/);
  });
});

describe("IPv6 in dhcpv6 mode", () => {
  it("a VM leases an address inside the configured range (dhclient -6)", async () => {
    const r = await c.call(
      "create-network",
      {
        name: DHCP6.name,
        type: "nat",
        cidr: DHCP6.cidr,
        ipv6: { cidr: DHCP6.cidr6, mode: "dhcpv6", dhcp: { start: DHCP6.start, end: DHCP6.end, leaseTime: 600 } },
      },
      { wait: 30 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.state).toBe("succeeded");
    const vm = await vmOn("d1", DHCP6.bridge);
    // Wait for the link-local address (dhclient -6 sends from it), then ask once; the lease is read from its
    // file (no script: nothing of the VM's or the machine's configuration is touched).
    await waitFor(
      "link-local address",
      async () => (await vm.exec(["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link", "-tentative"])).stdout.includes("fe80"),
      10_000,
    );
    const lease = join(dir(), "d1.leases");
    const pidFile = join(dir(), "d1.pid");
    // One try; once it holds a lease dhclient goes to the background (stopped below).
    const got = await vm.exec(["dhclient", "-6", "-1", "-sf", "/bin/true", "-lf", lease, "-pf", pidFile, "eth0"], {
      reject: false,
      timeoutMs: 40_000,
    });
    await vm.exec(["sh", "-c", `kill "$(cat ${pidFile})"`], { reject: false });
    const text = await readFile(lease, "utf8").catch(() => "");
    const m = /iaaddr\s+([0-9a-f:]+)\s*\{[^}]*max-life\s+(\d+)/s.exec(text);
    expect(m, `${got.stderr}\n${text}`).not.toBeNull();
    const ip = (m as RegExpExecArray)[1] as string;
    const n = (a: string) => BigInt(`0x${a.split("::")[1] ?? "0"}`);
    expect(ip.startsWith("fd00:87::")).toBe(true);
    expect(n(ip) >= n(DHCP6.start) && n(ip) <= n(DHCP6.end), ip).toBe(true);
    expect(Number((m as RegExpExecArray)[2])).toBe(600);
  });
});

/** `dhclient -6` once in `vm` with a DUID-LL of its MAC (`-D LL`); the address and lease file text it got. */
async function dhcp6(vm: NamespaceVm): Promise<{ ip: string | null; text: string }> {
  await waitFor(
    "link-local address",
    async () => (await vm.exec(["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link", "-tentative"])).stdout.includes("fe80"),
    10_000,
  );
  const lease = join(dir(), `${vm.name}.leases`);
  const pidFile = join(dir(), `${vm.name}.pid`);
  const got = await vm.exec(["dhclient", "-6", "-1", "-D", "LL", "-sf", "/bin/true", "-lf", lease, "-pf", pidFile, "eth0"], {
    reject: false,
    timeoutMs: 40_000,
  });
  await vm.exec(["sh", "-c", `kill "$(cat ${pidFile})"`], { reject: false });
  const text = await readFile(lease, "utf8").catch(() => "");
  return { ip: /iaaddr\s+([0-9a-f:]+)/.exec(text)?.[1] ?? null, text: `${got.stderr}\n${text}` };
}
const duidLL = (mac: string) => `00:03:00:01:${mac.toLowerCase()}`;

describe("IPv6 reservations by DUID (dhcpv6 mode)", () => {
  it("the client with the reserved DUID gets the reserved address, another DUID does not; list-network-ips shows both leases", async () => {
    const d2 = await vmOn("d2", DHCP6.bridge);
    const d3 = await vmOn("d3", DHCP6.bridge);
    const reserved = "fd00:87::42";
    // A MAC is refused with the reason (libvirt gives IPv6 addresses by DUID).
    const withMac = await c.call("assign-static-ip", { name: DHCP6.name, mac: d2.mac, ip: reserved });
    expect(withMac.status).toBe(400);
    expect(JSON.stringify(withMac.body)).toMatch(/give duid instead/);
    const r = await c.call("assign-static-ip", { name: DHCP6.name, duid: duidLL(d2.mac), ip: reserved, hostname: "d2" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.job.state, JSON.stringify(r.body.job)).toBe("succeeded");
    // Live on the IPv6 <ip> of the running network, and in the persistent definition.
    const live = (await h.virsh(["net-dumpxml", DHCP6.name])).stdout;
    expect(live).toMatch(new RegExp(`<ip family='ipv6'[\\s\\S]*<host id='${duidLL(d2.mac)}' name='d2' ip='${reserved}'/>`));
    const described = (await c.call("describe-network", { name: DHCP6.name })).body.network;
    expect(described.reservations6).toEqual([{ duid: duidLL(d2.mac), ip: reserved, hostname: "d2" }]);
    const got2 = await dhcp6(d2);
    expect(got2.ip, got2.text).toBe(reserved);
    const got3 = await dhcp6(d3);
    expect(got3.ip, got3.text).not.toBeNull();
    expect(got3.ip).not.toBe(reserved);
    const rows = await waitFor(
      "both DHCPv6 leases in list-network-ips",
      async () => {
        const ips = (await c.call("list-network-ips", { name: DHCP6.name })).body.ips as any[];
        const a = ips.find((x) => x.ip === reserved && x.leaseExpiresAt);
        const b = ips.find((x) => x.ip === got3.ip && x.leaseExpiresAt);
        return a && b ? { a, b } : null;
      },
      20_000,
    );
    expect(rows.a).toMatchObject({ duid: duidLL(d2.mac), mac: d2.mac, static: true });
    expect(rows.b).toMatchObject({ duid: duidLL(d3.mac), mac: d3.mac, static: false });
    expect(rows.b.iaid).toEqual(expect.any(String));
    // Unassigned: gone from the running network and from the spec.
    const u = await c.call("unassign-static-ip", { name: DHCP6.name, duid: duidLL(d2.mac) }, { wait: 30 });
    expect(u.status, JSON.stringify(u.body)).toBe(200);
    expect((await h.virsh(["net-dumpxml", DHCP6.name])).stdout).not.toContain(duidLL(d2.mac));
    expect((await h.virsh(["net-dumpxml", "--inactive", DHCP6.name])).stdout).not.toContain("reservation6");
  });
  it("a slaac network refuses an IPv6 reservation (422, saying why)", async () => {
    const r = await c.call("assign-static-ip", { name: SLAAC.name, duid: "00:03:00:01:52:54:00:00:00:01", ip: "fd00:86::42" });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect(r.body.error.message).toMatch(/IPv6 mode is slaac/);
  });
});

describe("IPv6 refusals (nothing changes on the host)", () => {
  const netCount = async () => (await h.virsh(["net-list", "--all", "--name"])).stdout.split("\n").filter((l) => l.trim()).length;

  it("a bridge network with ipv6 (422), a reserved prefix (400), an overlapping prefix (409)", async () => {
    const before = await netCount();
    const bridge = await c.call("create-network", {
      name: "v6br",
      type: "bridge",
      interface: "eth9",
      ipv6: { cidr: "fd00:90::/64", mode: "slaac" },
    });
    expect(bridge.status, JSON.stringify(bridge.body)).toBe(422);
    expect(bridge.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
    const ll = await c.call("create-network", {
      name: "v6ll",
      type: "nat",
      cidr: "10.90.0.0/24",
      ipv6: { cidr: "fe80::/64", mode: "slaac" },
    });
    expect(ll.status).toBe(400);
    expect(ll.body.error.message).toMatch(/ipv6\.cidr: fe80::\/64 cannot be a network's prefix: it overlaps link-local/);
    const slaac56 = await c.call("create-network", {
      name: "v6p",
      type: "nat",
      cidr: "10.90.0.0/24",
      ipv6: { cidr: "fd00:90::/56", mode: "slaac" },
    });
    expect(slaac56.status).toBe(400);
    expect(slaac56.body.error.message).toMatch(/SLAAC needs a \/64/);
    const overlap = await c.call("create-network", {
      name: "v6ov",
      type: "nat",
      cidr: "10.90.0.0/24",
      ipv6: { cidr: "fd00:86::/48", mode: "dhcpv6" },
    });
    expect(overlap.status, JSON.stringify(overlap.body)).toBe(409);
    expect(overlap.body.error.code).toBe("CIDR_CONFLICT");
    expect(overlap.body.error.details.conflictsWith).toEqual({ network: SLAAC.name, cidr: SLAAC.cidr6 });
    expect(await netCount()).toBe(before);
  });

  it("a host learning routes from router advertisements (accept_ra 1) is refused with the reason", async () => {
    const before = await netCount();
    // Inside the sandbox host only: a link whose route came "from an RA", accept_ra left at its default 1.
    await h.exec(["ip", "link", "add", "nfra0", "type", "veth", "peer", "name", "nfra1"]);
    try {
      await h.exec(["ip", "link", "set", "nfra0", "up"]);
      await h.exec(["ip", "link", "set", "nfra1", "up"]);
      await h.exec(["ip", "-6", "route", "add", "fd00:77::/64", "dev", "nfra0", "proto", "ra"]);
      const r = await c.call(
        "create-network",
        { name: "v6ra", type: "nat", cidr: "10.89.0.0/24", ipv6: { cidr: "fd00:89::/64", mode: "slaac" } },
        { wait: 30 },
      );
      expect(r.body.job.state, JSON.stringify(r.body)).toBe("failed");
      expect(r.body.job.error.code).toBe("INVALID_STATE");
      expect(r.body.job.error.message).toMatch(/router advertisements on nfra0 \(accept_ra=1\)/);
      expect(await netCount()).toBe(before);
      expect((await h.exec(["sysctl", "-n", "net.ipv6.conf.nfra0.accept_ra"])).stdout.trim()).toBe("1");
    } finally {
      await h.exec(["ip", "link", "del", "nfra0"], { reject: false });
    }
  });
});
