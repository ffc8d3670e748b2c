/**
 * IP management with real booted VMs (libvirt domains running a Linux
 * kernel whose udhcpc reports every lease on the serial console):
 * - a VM with a reservation gets exactly the reserved IP, again after
 *   destroy + start, and list-network-ips names it with static: true;
 * - moving the DHCP range of the running network loses no packet of a
 *   continuous ping (every 50 ms) between the gateway and a dynamic VM, and
 *   the VM's tap stays on the bridge (same interface index);
 * - a VM booted afterwards gets an address in the new range with the new
 *   lease time, as the guest itself reports it.
 */
import { rm } from "node:fs/promises";
import { type BootedDomainInfo, type SandboxHost, startBootedDomain, stopLibvirtDomain, waitForConsole } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
const domains: string[] = [];
beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "ipvm" }], label: "ipvm" });
  h = c.hosts.get("ipvm") as SandboxHost;
  const r = await c.call(
    "create-network",
    { name: "vmip", type: "nat", cidr: "10.79.0.0/24", dhcp: { start: "10.79.0.100", end: "10.79.0.120", leaseTime: 600 } },
    { wait: 30 },
  );
  expect(r.status, JSON.stringify(r.body)).toBe(200);
});
afterAll(async () => {
  for (const d of domains) await stopLibvirtDomain(h, d).catch(() => undefined);
  await c?.stop();
});

const LEASE = /lease bound: ip=(\d+\.\d+\.\d+\.\d+)\/\d+ router=\S* lease=(\d+)s/;
const boot = async (name: string, mac?: string): Promise<BootedDomainInfo> => {
  domains.push(name);
  return startBootedDomain(h, { name, network: "vmip", ...(mac ? { mac } : {}) });
};
const lastOctet = (ip: string) => Number(ip.split(".")[3]);
const tapIndex = async (tap: string) => {
  const r = await h.exec(["ip", "-j", "link", "show", "dev", tap]);
  const [link] = JSON.parse(r.stdout) as { ifindex: number; master?: string }[];
  return { ifindex: link?.ifindex, master: link?.master };
};

describe("reservations and DHCP changes with booted VMs", () => {
  it("reserved VM gets its IP (also after destroy + start); dynamic VM pings through a range move; a new VM gets the new range and lease time", {
    timeout: 300_000,
  }, async () => {
    const FIXED_MAC = "52:54:00:7b:00:01";
    const a = await c.call("assign-static-ip", { name: "vmip", mac: FIXED_MAC, ip: "10.79.0.20", hostname: "fixed1" }, { wait: 30 });
    expect(a.status, JSON.stringify(a.body)).toBe(200);

    const fixed = await boot("fixed1", FIXED_MAC);
    const dyn = await boot("dyn1");
    try {
      const f = await waitForConsole(fixed, LEASE, 120_000);
      expect(f[1]).toBe("10.79.0.20");
      const d = await waitForConsole(dyn, LEASE, 120_000);
      const dynIp = d[1] as string;
      expect(lastOctet(dynIp) >= 100 && lastOctet(dynIp) <= 120, dynIp).toBe(true);
      expect(d[2]).toBe("600");

      const row = await waitFor("fixed1 in list-network-ips", async () => {
        const ips = (await c.call("list-network-ips", { name: "vmip" })).body.ips as any[];
        return ips.find((x) => x.mac === FIXED_MAC && x.leaseExpiresAt && x.vmName === "fixed1");
      });
      expect(row).toMatchObject({ ip: "10.79.0.20", static: true, vmName: "fixed1" });
      // Each lease is published when the worker sees it: fixed1's table may predate dyn1's lease.
      const dynRow = await waitFor("dyn1 in list-network-ips", async () =>
        ((await c.call("list-network-ips", { name: "vmip" })).body.ips as any[]).find((x) => x.ip === dynIp && x.vmName === "dyn1"),
      );
      expect(dynRow).toMatchObject({ vmName: "dyn1", static: false });
      const stats = await waitFor("stats", async () => {
        const s = (await c.call("describe-network", { name: "vmip" })).body.network.stats;
        return s.connectedVms === 2 && s.allocatedIps === 2 ? s : null;
      });
      expect(stats.allocatedIps).toBe(2);

      // A continuous ping (every 50 ms, 10 s) between the gateway and the dynamic VM while the range moves.
      const tapBefore = await tapIndex(dyn.ifname);
      expect(tapBefore.master).toBe("nf-vmip");
      const ping = h.exec(["busybox", "ping", "-i", "0.05", "-c", "200", "-W", "2", "-I", "10.79.0.1", dynIp], {
        reject: false,
        timeoutMs: 30_000,
      });
      await new Promise((r) => setTimeout(r, 2000));
      const moved = await c.call(
        "configure-network-dhcp",
        { name: "vmip", start: "10.79.0.50", end: "10.79.0.70", leaseTime: 300 },
        { wait: 30 },
      );
      expect(moved.status, JSON.stringify(moved.body)).toBe(200);
      // netforge ended the network's dnsmasq before each of the two range updates (libvirt then started the new
      // one at once instead of polling the old one's exit): two SIGTERMs, each to the dnsmasq running then.
      const kills = (moved.body.job.result.applied as { command: string[] }[]).filter((a) => a.command.join(" ").startsWith("kill -TERM "));
      expect(kills).toHaveLength(2);
      expect(kills[0]?.command).not.toEqual(kills[1]?.command);
      const p = await ping;
      expect(p.stdout).toMatch(/200 packets transmitted, 200 packets received, 0% packet loss/);
      expect(await tapIndex(dyn.ifname)).toEqual(tapBefore);
      // The leases survive the restarts: the dynamic VM's lease (from the old range) is still in the IP table.
      const kept = ((await c.call("list-network-ips", { name: "vmip" })).body.ips as any[]).find((x) => x.ip === dynIp);
      expect(kept).toMatchObject({ vmName: "dyn1", static: false });
      expect(kept.leaseExpiresAt).toBeTruthy();

      // A VM booted now gets an address from the new range with the new lease time.
      const late = await boot("late1");
      const l = await waitForConsole(late, LEASE, 120_000);
      expect(lastOctet(l[1] as string) >= 50 && lastOctet(l[1] as string) <= 70, l[1]).toBe(true);
      expect(l[2]).toBe("300");
      await stopLibvirtDomain(h, "late1");

      // The reserved VM again gets its IP after destroy + start.
      await h.virsh(["destroy", "fixed1"]);
      await rm(fixed.consoleLog, { force: true });
      await h.virsh(["start", "fixed1"]);
      const again = await waitForConsole(fixed, LEASE, 120_000);
      expect(again[1]).toBe("10.79.0.20");
    } catch (err) {
      for (const vm of [fixed, dyn])
        console.error(vm.name, await import("node:fs/promises").then((fs) => fs.readFile(vm.consoleLog, "utf8")).catch(() => ""));
      throw err;
    }
  });
});
