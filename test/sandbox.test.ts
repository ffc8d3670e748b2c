import { parseIPv4 } from "@netforge/core/contract";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type SandboxHost,
  createNamespaceVm,
  createSandboxHost,
  destroySandboxHost,
  loadSandboxHost,
  startLibvirtDomain,
  stopLibvirtDomain,
} from "@netforge/sandbox";

// Real libvirtd/dnsmasq/qemu in network namespaces (see /work/shared/SANDBOX.md). Needs root.
const isRoot = process.getuid?.() === 0;
const IDS = ["sbt1", "sbt2"] as const;

const NET_XML = `<network>
  <name>t1</name>
  <forward mode='nat'/>
  <bridge name='nf-t1' stp='off'/>
  <ip address='10.77.0.1' netmask='255.255.255.0'>
    <dhcp><range start='10.77.0.100' end='10.77.0.150'/></dhcp>
  </ip>
</network>
`;

/** Compare addresses as numbers (core's parser; null for a non-address fails the comparison). */
const ipInt = (ip: string) => parseIPv4(ip) ?? Number.NaN;

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function nsPids(host: SandboxHost): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const { execa } = await import("execa");
  const r = await execa("ip", ["netns", "pids", host.netns]);
  for (const p of r.stdout.split(/\s+/).filter(Boolean)) {
    try {
      out.set(Number(p), readFileSync(`/proc/${p}/comm`, "utf8").trim());
    } catch {
      /* gone */
    }
  }
  return out;
}

async function netnsList(): Promise<string[]> {
  const { execa } = await import("execa");
  return (await execa("ip", ["netns", "list"])).stdout
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);
}

async function defineNatNetwork(h: SandboxHost): Promise<void> {
  const file = join(h.dir, "net-t1.xml");
  await writeFile(file, NET_XML);
  await h.virsh(["net-define", file]);
  await h.virsh(["net-start", "t1"]);
}

describe.skipIf(!isRoot)("sandbox hosts (real libvirtd in network namespaces)", () => {
  const hosts: SandboxHost[] = [];

  beforeAll(async () => {
    for (const id of IDS) await destroySandboxHost(id); // leftovers of an interrupted run
  });

  afterAll(async () => {
    for (const id of IDS) await destroySandboxHost(id);
  });

  it("runs two isolated hosts with NAT networks, namespace VMs, libvirt domains, and removes them completely", async () => {
    const t0 = Date.now();
    const [h1, h2] = await Promise.all(IDS.map((id) => createSandboxHost({ id })));
    hosts.push(h1!, h2!);
    const createMs = Date.now() - t0;
    for (const h of hosts) {
      expect(h.netns).toBe(`nfh-${h.id}`);
      expect(h.outsideNetns).toBe(`nfo-${h.id}`);
      expect(h.hostAddress).toBe("198.51.100.2");
      expect(h.outsideAddress).toBe("198.51.100.1");
      expect(h.nsenterPrefix).toEqual(["nsenter", "-t", String(h.libvirtdPid), "-m", "-n", "--"]);
      expect((await h.virsh(["net-list", "--all", "--name"])).stdout.trim()).toBe(""); // no "default" network
    }
    const [a, b] = hosts as [SandboxHost, SandboxHost];

    // Re-attach from state.json (what the CLI does).
    const loaded = await loadSandboxHost(a.id);
    expect(loaded?.libvirtdPid).toBe(a.libvirtdPid);
    expect((await loaded!.virsh(["version"])).exitCode).toBe(0);

    // The same network (same name, bridge and subnet) on both hosts: they must not interfere.
    await Promise.all([defineNatNetwork(a), defineNatNetwork(b)]);
    const bridgeA = JSON.parse((await a.exec(["ip", "-j", "addr", "show", "dev", "nf-t1"])).stdout);
    expect(bridgeA[0].addr_info.some((x: { local: string }) => x.local === "10.77.0.1")).toBe(true);
    // Processes on the host see the host's own sysfs and libvirt state.
    expect((await a.exec(["ls", "/sys/class/net"])).stdout.split("\n")).toEqual(expect.arrayContaining(["nf-t1", "uplink0", "lo"]));
    expect((await a.exec(["cat", "/var/lib/libvirt/dnsmasq/t1.conf"])).stdout).toContain("dhcp-range=10.77.0.100,10.77.0.150");

    // Namespace VMs get leases from their own host's dnsmasq.
    const [vmA, vmB] = await Promise.all([
      createNamespaceVm(a, { name: "vm1", bridge: "nf-t1" }),
      createNamespaceVm(b, { name: "vm1", bridge: "nf-t1" }),
    ]);
    expect(vmA.netns).toBe("nfv-sbt1-vm1");
    expect(vmA.hostIfname.length).toBeLessThanOrEqual(15);
    const [leaseA, leaseB] = await Promise.all([vmA.dhcp({ timeoutMs: 15_000 }), vmB.dhcp({ timeoutMs: 15_000 })]);
    for (const l of [leaseA, leaseB]) {
      expect(ipInt(l.ip)).toBeGreaterThanOrEqual(ipInt("10.77.0.100"));
      expect(ipInt(l.ip)).toBeLessThanOrEqual(ipInt("10.77.0.150"));
      expect(l.prefix).toBe(24);
      expect(l.router).toBe("10.77.0.1");
    }
    const leasesA = (await a.virsh(["net-dhcp-leases", "t1"])).stdout;
    expect(leasesA).toContain(vmA.mac);
    expect(leasesA).toContain("vm1");

    // VM -> outside through libvirt's NAT: the outside sees the host's uplink address.
    const www = join(a.dir, "www");
    await mkdir(join(www, "cgi-bin"), { recursive: true });
    await writeFile(join(www, "cgi-bin", "ip"), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n');
    await chmod(join(www, "cgi-bin", "ip"), 0o755);
    await a.execOutside(["busybox", "httpd", "-p", `${a.outsideAddress}:8080`, "-h", www]); // daemonizes
    // (no `wget -T`: Debian's busybox-static 1.35 wget segfaults with it; the exec timeout bounds it instead)
    let seen = "";
    for (let i = 0; i < 20 && !seen; i++) {
      const r = await vmA.exec(["busybox", "wget", "-q", "-O", "-", `http://${a.outsideAddress}:8080/cgi-bin/ip`], {
        reject: false,
        timeoutMs: 5_000,
      });
      if (r.exitCode === 0) seen = r.stdout.trim();
      else await new Promise((res) => setTimeout(res, 100));
    }
    expect(seen).toBe(a.hostAddress);
    // The other host's outside has no server: nothing leaks between hosts.
    const other = await vmB.exec(["busybox", "wget", "-q", "-O", "-", `http://${b.outsideAddress}:8080/cgi-bin/ip`], {
      reject: false,
      timeoutMs: 5_000,
    });
    expect(other.exitCode).not.toBe(0);

    // A real libvirt domain holds a port (tap) on the bridge while it runs.
    const dom = await startLibvirtDomain(a, { name: "dom1", network: "t1", mac: "52:54:00:aa:bb:01" });
    expect(dom.mac).toBe("52:54:00:aa:bb:01");
    const ports = () =>
      a.exec(["ip", "-j", "link", "show", "master", "nf-t1"]).then((r) => JSON.parse(r.stdout).map((l: { ifname: string }) => l.ifname));
    expect(await ports()).toEqual(expect.arrayContaining([dom.ifname, vmA.hostIfname]));
    expect((await a.virsh(["domstate", "dom1"])).stdout.trim()).toBe("running");
    await expect(startLibvirtDomain(a, { name: "dom1", network: "t1" })).rejects.toThrow(/already exists/);
    await expect(startLibvirtDomain(a, { name: "bad'name", network: "t1" })).rejects.toThrow(/invalid domain name/);
    await expect(startLibvirtDomain(a, { name: "dom2", network: "t1", mac: "01:00:5e:00:00:01" })).rejects.toThrow(/multicast/);
    // b's bridge only has b's VM.
    const portsB = JSON.parse((await b.exec(["ip", "-j", "link", "show", "master", "nf-t1"])).stdout).map(
      (l: { ifname: string }) => l.ifname,
    );
    expect(portsB).toEqual([vmB.hostIfname]);

    await stopLibvirtDomain(a, "dom1");
    await stopLibvirtDomain(a, "dom1"); // idempotent
    expect(await ports()).not.toContain(dom.ifname);
    const dom2 = await startLibvirtDomain(a, { name: "dom2", network: "t1" }); // left running for destroy to clean up

    // detach removes the VM's bridge port.
    await vmB.detach();
    expect(JSON.parse((await b.exec(["ip", "-j", "link", "show", "master", "nf-t1"])).stdout)).toEqual([]);
    await vmB.destroy();
    await vmB.destroy(); // idempotent
    expect(await netnsList()).not.toContain(vmB.netns);

    // Everything that runs for host a, recorded before destroying it.
    const procs = await nsPids(a);
    const comms = [...procs.values()];
    expect(comms).toContain("libvirtd");
    expect(comms).toContain("dnsmasq");
    expect(comms.some((c) => c.startsWith("qemu-system"))).toBe(true);
    const outsidePids = (await (await import("execa")).execa("ip", ["netns", "pids", a.outsideNetns])).stdout
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    expect(outsidePids.length).toBeGreaterThan(0); // busybox httpd
    const pidsB = [...(await nsPids(b)).keys()];

    const t1 = Date.now();
    await destroySandboxHost(a);
    const destroyMs = Date.now() - t1;
    const t2 = Date.now();
    await destroySandboxHost(b.id, { graceful: false }); // by id, straight to killing
    const destroyFastMs = Date.now() - t2;
    await destroySandboxHost(a.id); // idempotent

    const left = await netnsList();
    for (const id of IDS) expect(left.filter((n) => n.includes(`-${id}`))).toEqual([]);
    for (const p of [...procs.keys(), ...outsidePids, ...pidsB]) expect(alive(p), `pid ${p} (${procs.get(p) ?? "?"})`).toBe(false);
    for (const h of hosts) expect(existsSync(h.dir)).toBe(false);
    expect(await loadSandboxHost(a.id)).toBeNull();
    void dom2;
    console.log(
      `sandbox: create 2 hosts in parallel ${createMs} ms, destroy (graceful, running domain) ${destroyMs} ms, destroy (graceful: false) ${destroyFastMs} ms`,
    );
  }, 90_000);
});
