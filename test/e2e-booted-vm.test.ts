/**
 * A real booted VM (a libvirt domain running a Linux kernel) on a network
 * created through the API: it gets a lease from the network's DHCP range,
 * the host's stats count it, and the network cannot be deleted under it.
 */
import { type SandboxHost, startBootedDomain, stopLibvirtDomain, waitForConsole } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, waitFor } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "vm" }], label: "vm" });
  h = c.hosts.get("vm") as SandboxHost;
});
afterAll(async () => {
  await c?.stop();
});

const inRange = (ip: string, lo: number, hi: number) => {
  const last = Number(ip.split(".")[3]);
  return ip.startsWith("10.76.0.") && last >= lo && last <= hi;
};

describe("a booted libvirt VM on a netforge network", () => {
  it("gets a lease in the range, is counted, and blocks delete until it stops", { timeout: 120_000 }, async () => {
    const r = await c.call(
      "create-network",
      { name: "vmnet", type: "nat", cidr: "10.76.0.0/24", dhcp: { start: "10.76.0.50", end: "10.76.0.60", leaseTime: 900 } },
      { wait: 30 },
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const vm = await startBootedDomain(h, { name: "guest1", network: "vmnet", mac: "52:54:00:aa:bb:01" });
    try {
      // The guest's own console says what it was given ...
      const m = await waitForConsole(vm, /lease \w+: ip=(\d+\.\d+\.\d+\.\d+)\//, 90_000);
      const ip = m[1] as string;
      expect(inRange(ip, 50, 60)).toBe(true);
      // ... and libvirt's lease table agrees, with the guest's hostname.
      const leases = await h.virsh(["net-dhcp-leases", "vmnet"]);
      expect(leases.stdout).toContain("52:54:00:aa:bb:01");
      expect(leases.stdout).toContain(ip);
      expect(leases.stdout).toContain("guest1");
      // The guest answers on the network.
      expect((await h.exec(["busybox", "ping", "-c", "1", "-W", "2", ip], { reject: false })).exitCode).toBe(0);

      const stats = await waitFor("stats to count the VM", async () => {
        const s = (await c.call("describe-network", { name: "vmnet" })).body.network.stats;
        return s.connectedVms === 1 && s.allocatedIps === 1 ? s : null;
      });
      expect(stats.observedAt).not.toBeNull();

      const del = await c.call("delete-network", { name: "vmnet" }, { wait: 30 });
      expect(del.status).toBe(409);
      expect(del.body.error.code).toBe("NETWORK_IN_USE");
      expect(del.body.error.details.attached).toEqual([expect.objectContaining({ kind: "domain", name: "guest1" })]);
    } catch (err) {
      // The console tells why a guest did not get its lease.
      console.error(await import("node:fs/promises").then((fs) => fs.readFile(vm.consoleLog, "utf8")).catch(() => ""));
      throw err;
    } finally {
      await stopLibvirtDomain(h, "guest1");
    }
    const del = await c.call("delete-network", { name: "vmnet" }, { wait: 30 });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
  });
});
