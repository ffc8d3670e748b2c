import { parseIPv4 } from "@netforge/core/contract";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type SandboxHost,
  type VmImage,
  VmImageUnavailableError,
  createSandboxHost,
  destroySandboxHost,
  ensureVmImage,
  startBootedDomain,
  stopLibvirtDomain,
  waitForConsole,
} from "@netforge/sandbox";

// A real libvirt domain that boots Debian's cloud kernel + a busybox initramfs (QEMU TCG, direct kernel boot)
// and gets a real DHCP lease from a netforge-style NAT network's dnsmasq. Needs root (see /work/shared/SANDBOX.md).
const isRoot = process.getuid?.() === 0;
const HOST_ID = "sbvm1";
const NET = "bvm";
const VM = "bootvm1";
const MAC = "52:54:00:4e:46:01";

const NET_XML = `<network>
  <name>${NET}</name>
  <forward mode='nat'/>
  <bridge name='nf-bvm' stp='off'/>
  <ip address='10.79.0.1' netmask='255.255.255.0'>
    <dhcp><range start='10.79.0.100' end='10.79.0.150'/></dhcp>
  </ip>
</network>
`;

/** Compare addresses as numbers (core's parser; null for a non-address fails the comparison). */
const ipInt = (ip: string) => parseIPv4(ip) ?? Number.NaN;

async function netnsList(): Promise<string[]> {
  return (await execa("ip", ["netns", "list"])).stdout
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

interface Lease {
  mac: string;
  ip: string;
  prefix: number;
  hostname: string;
}

/** Rows of `virsh net-dhcp-leases`: "<date> <time> <mac> ipv4 <ip>/<prefix> <hostname> <client id>". */
function parseLeases(out: string): Lease[] {
  const leases: Lease[] = [];
  for (const line of out.split("\n")) {
    const cols = line.trim().split(/\s+/);
    const i = cols.findIndex((c) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(c));
    if (i < 0 || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(cols[i + 2] ?? "")) continue;
    const [ip, prefix] = cols[i + 2]!.split("/");
    leases.push({ mac: cols[i]!.toLowerCase(), ip: ip!, prefix: Number(prefix), hostname: cols[i + 3] ?? "" });
  }
  return leases;
}

describe.skipIf(!isRoot)("booted VM (real libvirt domain, direct kernel boot) on a sandbox host", () => {
  let host: SandboxHost | undefined;
  let image: VmImage | undefined;
  let unavailable = "";
  let imageMs = 0;

  beforeAll(async () => {
    await destroySandboxHost(HOST_ID); // leftovers of an interrupted run
    const t0 = Date.now();
    try {
      image = await ensureVmImage();
    } catch (e) {
      // Only "the kernel cannot be fetched from Debian's registry" skips; any other failure fails the suite.
      if (!(e instanceof VmImageUnavailableError)) throw e;
      unavailable = e.message;
    }
    imageMs = Date.now() - t0;
  });

  afterAll(async () => {
    if (host) await stopLibvirtDomain(host, VM).catch(() => undefined);
    await destroySandboxHost(HOST_ID);
    const left = await netnsList();
    expect(left.filter((n) => n.endsWith(`-${HOST_ID}`) || n.startsWith(`nfv-${HOST_ID}-`))).toEqual([]);
  });

  it("boots, gets a DHCP lease visible in virsh net-dhcp-leases (MAC, IP, hostname) and answers ping", async (ctx) => {
    if (!image) ctx.skip(`VM image unavailable (Debian kernel package could not be downloaded): ${unavailable}`);
    const img = image!;
    expect(img.modules).toEqual(expect.arrayContaining(["virtio_ring", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net"]));
    expect(img.modules.indexOf("virtio_ring")).toBeLessThan(img.modules.indexOf("virtio"));
    expect(img.modules.indexOf("virtio_pci")).toBeLessThan(img.modules.indexOf("virtio_net"));
    expect(img.modules.indexOf("net_failover")).toBeLessThan(img.modules.indexOf("virtio_net"));

    // Cached: a second call is cheap and returns the same files.
    const t0 = Date.now();
    expect(await ensureVmImage()).toEqual(img);
    const cachedMs = Date.now() - t0;
    expect(cachedMs).toBeLessThan(2_000);

    const t1 = Date.now();
    host = await createSandboxHost({ id: HOST_ID });
    const h = host;
    const netFile = join(h.dir, `net-${NET}.xml`);
    await writeFile(netFile, NET_XML);
    await h.virsh(["net-define", netFile]);
    await h.virsh(["net-start", NET]);

    // Validation happens before anything reaches XML.
    await expect(startBootedDomain(h, { name: "bad'name", network: NET, image: img })).rejects.toThrow(/invalid domain name/);
    await expect(startBootedDomain(h, { name: "x", network: "n'et", image: img })).rejects.toThrow(/invalid network name/);
    await expect(startBootedDomain(h, { name: "x", network: NET, mac: "01:00:5e:00:00:01", image: img })).rejects.toThrow(/multicast/);
    await expect(startBootedDomain(h, { name: "x", network: NET, memoryMiB: 64, image: img })).rejects.toThrow(/invalid memoryMiB/);
    expect((await h.virsh(["list", "--all", "--name"])).stdout.trim()).toBe("");

    const t2 = Date.now();
    const vm = await startBootedDomain(h, { name: VM, network: NET, mac: MAC, image: img });
    expect(vm.mac).toBe(MAC);
    expect((await h.virsh(["domstate", VM])).stdout.trim()).toBe("running");
    const xml = (await h.virsh(["dumpxml", VM])).stdout;
    expect(xml).toContain(`<kernel>${img.kernel}</kernel>`);
    expect(xml).toContain(`<initrd>${img.initrd}</initrd>`);
    expect(xml).toContain(`nfname=${VM}`);
    await expect(startBootedDomain(h, { name: VM, network: NET, image: img })).rejects.toThrow(/already exists/);
    const qemuPid = Number(readFileSync(join(h.dir, "run", "qemu", `${VM}.pid`), "utf8").trim());
    expect(alive(qemuPid)).toBe(true);

    // The guest boots in the background; wait for its lease to show in libvirt's view of the network.
    let lease: Lease | undefined;
    let leasesOut = "";
    const deadline = Date.now() + 60_000;
    while (!lease && Date.now() < deadline) {
      leasesOut = (await h.virsh(["net-dhcp-leases", NET])).stdout;
      lease = parseLeases(leasesOut).find((l) => l.mac === MAC);
      if (!lease) await new Promise((r) => setTimeout(r, 500));
    }
    const leaseMs = Date.now() - t2;
    if (!lease) {
      const tail = readFileSync(vm.consoleLog, "utf8").slice(-3000);
      const state = (await h.virsh(["domstate", VM, "--reason"], { reject: false })).stdout.trim();
      throw new Error(`no lease for ${MAC} after 60 s (domain: ${state}).\nnet-dhcp-leases:\n${leasesOut}\nconsole:\n${tail}`);
    }
    expect(ipInt(lease.ip)).toBeGreaterThanOrEqual(ipInt("10.79.0.100"));
    expect(ipInt(lease.ip)).toBeLessThanOrEqual(ipInt("10.79.0.150"));
    expect(lease.prefix).toBe(24);
    expect(lease.hostname).toBe(VM);

    // The guest's own account of it, from its serial console.
    const seen = await waitForConsole(vm, /netforge-vm: lease bound: ip=(\S+)\/24 router=(\S+)/, 15_000);
    expect(seen[1]).toBe(lease.ip);
    expect(seen[2]).toBe("10.79.0.1");
    const consoleText = readFileSync(vm.consoleLog, "utf8");
    expect(consoleText).toContain(`netforge-vm: init started: name=${VM} kernel=${img.kernelVersion}`);
    expect(consoleText).toContain(`netforge-vm: eth0 up: mac=${MAC}`);
    expect(consoleText).not.toMatch(/insmod \S+ failed/);

    // The VM answers from the host namespace (ICMP echo handled by its kernel).
    let ping = { exitCode: -1, stdout: "", stderr: "" };
    for (let i = 0; i < 10 && ping.exitCode !== 0; i++) {
      ping = await h.exec(["busybox", "ping", "-c", "2", "-W", "2", lease.ip], { reject: false, timeoutMs: 10_000 });
    }
    expect(ping.exitCode, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/[12] packets received/);
    const neigh = (await h.exec(["ip", "neigh", "show", lease.ip, "dev", "nf-bvm"])).stdout;
    expect(neigh).toContain(MAC);

    // Stopping removes the domain and its QEMU process.
    await stopLibvirtDomain(h, VM);
    await stopLibvirtDomain(h, VM); // idempotent
    expect((await h.virsh(["list", "--all", "--name"])).stdout.trim()).toBe("");
    expect(alive(qemuPid)).toBe(false);
    const totalMs = Date.now() - t1;

    await ctx.annotate(
      `image ${imageMs} ms (cached call ${cachedMs} ms), start→lease ${leaseMs} ms, host+net+vm total ${totalMs} ms, kernel ${img.kernelVersion}`,
    );
    console.log(
      `[booted-vm] image ${imageMs} ms (cached ${cachedMs} ms); start->lease ${leaseMs} ms; lease ${lease.ip} ${lease.hostname}; total ${totalMs} ms`,
    );
  });
});
