/**
 * Host reboot: netforge's firewall is in place before libvirtd autostarts the
 * networks, proven on a sandbox hypervisor that is "rebooted" (worker stopped,
 * every process on the host killed, interfaces, nft ruleset, conntrack and
 * /run/libvirt gone, disk kept), then "booted": the ExecStart lines of
 * deploy/netforge-firewall.service run, then libvirtd starts and autostarts
 * the networks. BEFORE the worker starts: a NAT network's VM is masqueraded
 * (seen from outside), an isolated network's VM reaches nothing outside, a
 * port forward answers, and a network that was stopped at the last apply (so
 * not in the copy) but is autostarted forwards nothing (boot guard); then the
 * worker starts and all of it still holds. Fail-closed: with a corrupt boot
 * copy the unit fails, and until the worker starts no netforge bridge
 * forwards anything.
 */
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createNamespaceVm, type NamespaceVm, netforgeFirewallBoot, rebootSandboxHost, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";
import { sourceSeenOutside, writeTcpHello } from "./support/traffic";

let c: Cluster;
let h: SandboxHost;
/** The host object the outside echo server was started for (a reboot gives `h` a new object). */
let h0: SandboxHost;
const HOST = "fwb";
const vms = new Map<string, NamespaceVm>();
/** The NAT VM's reserved address (a DHCP reservation: the same after every reboot). */
const NAT_VM_IP = "10.81.0.50";
const NAT_VM_MAC = "02:4e:46:0b:00:01";

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: HOST }], label: HOST });
  h = c.hosts.get(HOST) as SandboxHost;
  h0 = h;
  // The outside routes the VMs' subnets back to the host: traffic that leaves un-NATed (or an isolated VM's, if it
  // got out) is answered and seen with its own source, so "masqueraded" and "closed" are both told apart from "open".
  await h.execOutside(["ip", "route", "add", "10.80.0.0/12", "via", h.hostAddress]);
  await writeTcpHello(join(h.dir, "www-boot"));
  for (const [name, type, cidr] of [
    ["bnat", "nat", "10.81.0.0/24"],
    ["biso", "isolated", "10.82.0.0/24"],
    ["bdorm", "nat", "10.83.0.0/24"],
  ] as const) {
    const r = await c.call("create-network", { name, type, cidr }, { wait: 30 });
    if (r.status !== 200) throw new Error(JSON.stringify(r.body));
  }
  const s = await c.call("assign-static-ip", { name: "bnat", mac: NAT_VM_MAC, ip: NAT_VM_IP }, { wait: 30 });
  if (s.status !== 200) throw new Error(JSON.stringify(s.body));
  const f = await c.call(
    "configure-network-port-forward",
    { name: "bnat", protocol: "tcp", hostPort: 2222, vmIp: NAT_VM_IP, vmPort: 7000 },
    { wait: 30 },
  );
  if (f.status !== 200) throw new Error(JSON.stringify(f.body));
  // Stopped now, so not in the boot copy; libvirt still autostarts it at the next boot.
  const st = await c.call("stop-network", { name: "bdorm" }, { wait: 30 });
  if (st.status !== 200) throw new Error(JSON.stringify(st.body));
}, 120_000);
afterAll(async () => {
  for (const vm of vms.values()) await vm.destroy().catch(() => undefined);
  await c?.stop();
});

/** The VMs ("booted" again after each reboot: same names, so the same MACs and leases). */
async function bootVms(): Promise<void> {
  for (const vm of vms.values()) await vm.destroy();
  vms.clear();
  const n = await createNamespaceVm(h, { name: "n1", bridge: "nf-bnat", mac: NAT_VM_MAC });
  vms.set("n1", n);
  expect((await n.dhcp()).ip).toBe(NAT_VM_IP);
  await n.exec(["sh", "-c", `python3 ${join(h.dir, "www-boot", "svc.py")} >/dev/null 2>&1 &`]);
  for (const [name, bridge] of [
    ["i1", "nf-biso"],
    ["d1", "nf-bdorm"],
  ] as const) {
    const vm = await createNamespaceVm(h, { name, bridge });
    vms.set(name, vm);
    const lease = await vm.dhcp(); // DHCP from the host works in every state (input is never closed)
    // An isolated network's DHCP gives no router; the VM tries the host anyway.
    if (!lease.router) await vm.exec(["ip", "route", "replace", "default", "via", lease.ip.replace(/\.\d+$/, ".1")]);
  }
}
const vm = (name: string) => vms.get(name) as NamespaceVm;
async function forwardAnswer(): Promise<string> {
  const r = await h.execOutside(["python3", join(h.dir, "www-boot", "client.py"), h.hostAddress, "2222"], {
    reject: false,
    timeoutMs: 5000,
  });
  return r.exitCode === 0 ? r.stdout.trim() : "failed";
}
async function pingOutside(name: string): Promise<boolean> {
  return (
    (await vm(name).exec(["busybox", "ping", "-c", "1", "-W", "1", h.outsideAddress], { reject: false, timeoutMs: 3000 })).exitCode === 0
  );
}
const tableText = async () => (await h.exec(["nft", "list", "table", "inet", "netforge"], { reject: false })).stdout;
/** The boot copy as the worker wrote it (in the sandbox, /var/lib/netforge is <dir>/netforge). */
const bootFile = () => join(h.dir, "netforge", HOST, "firewall.nft");

async function reboot(withUnit = true): Promise<{ argv: string[]; exitCode: number; stderr: string }[]> {
  await c.workers.get(HOST)?.stop();
  for (const v of vms.values()) await v.destroy();
  vms.clear();
  // What systemd would run before libvirtd: deploy/netforge-firewall.service's ExecStart lines.
  const boot = netforgeFirewallBoot(HOST);
  const r = await rebootSandboxHost(h, { boot: withUnit ? boot : [] });
  h = r.host;
  c.hosts.set(HOST, h);
  // libvirtd autostarts the networks (forward mode 'open': it adds no rule of its own).
  await waitFor(
    "networks autostarted",
    async () => {
      const active = (await h.virsh(["net-list", "--name"], { reject: false })).stdout;
      return ["bnat", "biso", "bdorm"].every((n) => active.includes(n));
    },
    30_000,
    200,
  );
  return r.boot;
}

/**
 * Whether a table text has rules of a network: its chains or a jump to them. (A stopped network keeps its traffic
 * counters in the table, issue 19: counters, not rules.)
 */
const carriesRules = (text: string, net: string) => new RegExp(`chain ${net}-|jump ${net}-|ifname "nf-${net}"`).test(text);

describe("host reboot: the boot copy is loaded before libvirtd", () => {
  it("the worker keeps a complete copy of its table on disk", async () => {
    // Written just after each apply, off the job's path: wait for the copy of the last one (the stop of bdorm,
    // after the forward; an earlier copy already has the forward and still has bdorm). Fails by timing out when
    // the stopped network never leaves the copy.
    await waitFor(
      "boot copy of the last apply",
      async () => {
        const copy = readFileSync(bootFile(), "utf8");
        return copy.includes(`2222 : ${NAT_VM_IP} . 7000`) && !carriesRules(copy, "bdorm");
      },
      10_000,
      100,
    );
    const text = readFileSync(bootFile(), "utf8");
    expect(text).toContain("ip saddr 10.81.0.0/24 ip daddr != 10.81.0.0/24 masquerade");
    expect(text).toContain(`2222 : ${NAT_VM_IP} . 7000`);
    expect(text).toContain("chain biso-out");
    expect(carriesRules(text, "bdorm")).toBe(false);
    expect(text).toContain("netforge boot guard");
  });

  it("without the unit (the gap it closes): until the worker starts, NAT is not masqueraded and isolation is open", async () => {
    expect(await reboot(false)).toEqual([]);
    await bootVms();
    expect(await sourceSeenOutside(h0, vm("n1"))).toBe(NAT_VM_IP);
    expect(await sourceSeenOutside(h0, vm("i1"))).toMatch(/^10\.82\.0\./);
    expect(await forwardAnswer()).toBe("failed");
    await c.startWorker(HOST);
    await waitFor("worker's table applied", async () => (await tableText()).includes("chain bnat-in"), 15_000, 200);
    expect(await sourceSeenOutside(h0, vm("n1"))).toBe(h.hostAddress);
    // bdorm runs after a boot (autostart): stop it again, so the copy does not carry it.
    for (const v of vms.values()) await v.destroy();
    vms.clear();
    expect((await c.call("stop-network", { name: "bdorm" }, { wait: 30 })).status).toBe(200);
  });

  it("before the worker starts: NAT masqueraded, isolated closed, the forward answers, an unknown network closed", async () => {
    const boot = await reboot();
    expect(boot.map((b) => b.exitCode)).toEqual([0, 0]);
    // The reboot really took everything: the bridges were recreated by libvirt's autostart just now.
    expect(await tableText()).toContain("netforge boot guard");
    await bootVms();
    expect(await sourceSeenOutside(h0, vm("n1"))).toBe(h.hostAddress);
    expect(await forwardAnswer()).toBe(`tcp hello ${h.outsideAddress}`);
    expect(await sourceSeenOutside(h0, vm("i1"), 3000)).toBeNull();
    expect(await pingOutside("i1")).toBe(false);
    expect(await pingOutside("d1")).toBe(false);
    expect(c.workers.get(HOST)?.exited).toBe(true);
  });

  it("then the worker starts: everything still holds, and the autostarted network gets its own rules", async () => {
    await c.startWorker(HOST);
    await waitFor("worker's table applied", async () => (await tableText()).includes("chain bdorm-in"), 15_000, 200);
    expect(await tableText()).not.toContain("netforge boot guard");
    expect(await sourceSeenOutside(h0, vm("n1"))).toBe(h.hostAddress);
    expect(await forwardAnswer()).toBe(`tcp hello ${h.outsideAddress}`);
    expect(await sourceSeenOutside(h0, vm("i1"), 3000)).toBeNull();
    expect(await sourceSeenOutside(h0, vm("d1"))).toBe(h.hostAddress);
    // bdorm runs now, so the copy on disk has it (written after the worker's apply).
    await waitFor("boot copy updated", async () => readFileSync(bootFile(), "utf8").includes("chain bdorm-in"), 10_000, 200);
  });

  it("a corrupt copy fails the unit and leaves the fail-closed table: nothing forwards until the worker starts", async () => {
    await writeFile(bootFile(), "table inet netforge {\n\tthis is not nft\n");
    const boot = await reboot();
    expect(boot[0]?.exitCode).toBe(0);
    expect(boot[1]?.exitCode).not.toBe(0);
    await bootVms();
    expect(await sourceSeenOutside(h0, vm("n1"), 3000)).toBeNull();
    expect(await forwardAnswer()).toBe("failed");
    expect(await pingOutside("i1")).toBe(false);
    expect(await pingOutside("d1")).toBe(false);
    await c.startWorker(HOST);
    await waitFor("worker's table applied", async () => !(await tableText()).includes("netforge boot guard"), 15_000, 200);
    expect(await sourceSeenOutside(h0, vm("n1"))).toBe(h.hostAddress);
    expect(await forwardAnswer()).toBe(`tcp hello ${h.outsideAddress}`);
    expect(await sourceSeenOutside(h0, vm("i1"), 3000)).toBeNull();
    await waitFor("boot copy rewritten", async () => readFileSync(bootFile(), "utf8").includes("masquerade"), 10_000, 200);
  });
});
