/**
 * libvirtd restarts under a running worker (an operator's `systemctl restart
 * libvirtd`): networks keep serving through it, and the worker carries on —
 * the first job after the restart at worst needs one retry of a transient
 * failure, never a worker restart.
 */
import { createNamespaceVm, restartLibvirtd, type SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "rst" }], label: "rst" });
  h = c.hosts.get("rst") as SandboxHost;
});
afterAll(async () => {
  await c?.stop();
});

describe("libvirtd restart", () => {
  it("keeps networks serving and the worker working", async () => {
    const created = await c.call("create-network", { name: "before", type: "nat", cidr: "10.74.0.0/24" }, { wait: 30 });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const vm = await createNamespaceVm(h, { name: "r1", bridge: "nf-before" });
    try {
      const first = await vm.dhcp();

      const oldPid = h.libvirtdPid;
      h = await restartLibvirtd(h);
      c.hosts.set("rst", h);
      expect(h.libvirtdPid).not.toBe(oldPid);

      // The network survived: libvirt still reports it active, and DHCP still serves the VM.
      expect((await h.virsh(["net-info", "before"])).stdout).toMatch(/Active:\s+yes/);
      const again = await vm.dhcp();
      expect(again.ip).toBe(first.ip);

      // The worker (never restarted) takes new work on the restarted daemon.
      const after = await c.call("create-network", { name: "after", type: "isolated", cidr: "10.75.0.0/24" }, { wait: 45 });
      expect(after.status, JSON.stringify(after.body)).toBe(200);
      expect(after.body.job.attempts).toBeLessThanOrEqual(2);
      expect((await h.virsh(["net-info", "after"])).stdout).toMatch(/Active:\s+yes/);
      expect(c.workers.get("rst")?.exited).toBe(false);
    } finally {
      await vm.destroy();
    }
    for (const name of ["before", "after"]) {
      const d = await c.call("delete-network", { name }, { wait: 30 });
      expect(d.status, JSON.stringify(d.body)).toBe(200);
    }
    expect((await h.virsh(["net-list", "--all", "--name"])).stdout.trim()).toBe("");
  });
});
