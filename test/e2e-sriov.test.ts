/**
 * SR-IOV networks on a real sandbox host (real libvirt, no SR-IOV hardware
 * on this machine). With the real /sys: creating a pool on a virtual
 * interface fails its job with SRIOV_UNAVAILABLE naming the PF and the
 * reason, leaving nothing behind. With a fake sysfs tree (NETFORGE_SYSFS_ROOT)
 * for the worker: the inventory lists the fake PF; no VFs and no count asked
 * is refused before any write; a count is written, the hostdev definition is
 * defined and started by libvirt, whose refusal (no usable VFs: libvirt reads
 * the real sysfs) fails the job with SRIOV_UNAVAILABLE and rolls back both
 * the definition and the VF count; without starting, the define path
 * succeeds and describe/delete work.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SandboxHost } from "@netforge/sandbox";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster, TOKENS, waitFor } from "./support/cluster";

let c: Cluster;
let h: SandboxHost;
let fakeSys: string;
const numvfs = () => readFile(join(fakeSys, "class", "net", "sr0", "device", "sriov_numvfs"), "utf8");
const defined = async () => (await h.virsh(["net-list", "--all", "--name"])).stdout.split("\n").map((s) => s.trim());

beforeAll(async () => {
  c = await startCluster({ hosts: [{ id: "l2sriov" }], label: "l2sriov" });
  h = c.hosts.get("l2sriov") as SandboxHost;
});
afterAll(async () => {
  await c?.stop();
});

describe("a host without SR-IOV (the real sysfs)", () => {
  it("fails the job with SRIOV_UNAVAILABLE naming the PF and why, and leaves nothing behind", async () => {
    const r = await c.call("create-network", { name: "vf-real", type: "sriov", pf: "uplink0", vfs: 2 }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.job.error.code).toBe("SRIOV_UNAVAILABLE");
    expect(r.body.job.error.message).toBe(
      "SR-IOV PF uplink0 on host l2sriov is unavailable: uplink0 is not backed by a PCI device (virtual interface), so it has no SR-IOV",
    );
    expect(await defined()).not.toContain("vf-real");
    expect((await c.call("describe-network", { name: "vf-real" })).status).toBe(404);
    const hosts = await c.call("list-hosts", {}, { token: TOKENS.admin });
    expect(hosts.body.hosts[0].sriovPfs).toEqual([]);
  });
});

describe("a fake SR-IOV PF (NETFORGE_SYSFS_ROOT) on real libvirt", () => {
  beforeAll(async () => {
    fakeSys = join(h.dir, "fake-sys");
    const dev = join(fakeSys, "class", "net", "sr0", "device");
    await mkdir(dev, { recursive: true });
    await writeFile(join(dev, "sriov_totalvfs"), "4\n");
    await writeFile(join(dev, "sriov_numvfs"), "0\n");
    // libvirt reads the real sysfs: give it a real interface of that name (no SR-IOV, like this machine).
    await h.exec(["ip", "link", "add", "sr0", "type", "veth", "peer", "name", "sr0-peer"]);
    await c.startWorker("l2sriov", { env: { NETFORGE_SYSFS_ROOT: fakeSys } });
  });

  it("list-hosts shows the PF from the inventory", async () => {
    const pfs = await waitFor("sr0 in the inventory", async () => {
      const r = await c.call("list-hosts", {}, { token: TOKENS.admin });
      const p = r.body.hosts[0].sriovPfs;
      return p.length > 0 ? p : null;
    });
    expect(pfs).toEqual([{ pf: "sr0", vfsTotal: 4, vfsConfigured: 0, vfsInUse: 0 }]);
  });

  it("no VFs and none asked: SRIOV_UNAVAILABLE before any write or definition", async () => {
    const r = await c.call("create-network", { name: "vf-none", type: "sriov", pf: "sr0" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.job.error.code).toBe("SRIOV_UNAVAILABLE");
    expect(r.body.job.error.message).toContain("SR-IOV PF sr0 has no VFs configured (sriov_numvfs is 0)");
    expect(await defined()).not.toContain("vf-none");
    expect(await numvfs()).toBe("0\n");
  });

  it("define + start runs: libvirt's refusal (no usable VFs) fails the job and rolls back definition and VF count", async () => {
    const r = await c.call("create-network", { name: "vf-pool", type: "sriov", pf: "sr0", vfs: 2, vlan: 100 }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    const job = r.body.job;
    expect(job.error.code).toBe("SRIOV_UNAVAILABLE");
    expect(job.error.message).toMatch(/libvirt could not start the SR-IOV pool: .*sr0/);
    const steps = Object.fromEntries(job.progress.steps.map((s: { name: string; state: string }) => [s.name, s.state]));
    expect(steps["defining network"]).toBe("undone"); // it ran, then the rollback took it back
    expect(steps["starting network"]).toBe("failed");
    expect(await defined()).not.toContain("vf-pool");
    expect(await numvfs()).toBe("0\n");
    expect((await c.call("describe-network", { name: "vf-pool" })).status).toBe(404);
  });

  it("without starting: VFs written, hostdev pool defined, describe shows sriov; delete removes it", async () => {
    const r = await c.call("create-network", { name: "vf-def", type: "sriov", pf: "sr0", vfs: 2, vlan: 100, start: false }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await numvfs()).toBe("2\n");
    const xml = (await h.virsh(["net-dumpxml", "--inactive", "vf-def"])).stdout;
    expect(xml).toMatch(/<forward mode=.hostdev. managed=.yes.>\s*<pf dev=.sr0.\/>/);
    expect(xml).toMatch(/<tag id=.100.\/>/);
    const d = (await c.call("describe-network", { name: "vf-def" })).body.network;
    expect(d).toMatchObject({ type: "sriov", state: "inactive", cidr: null, bridge: { name: null, interface: null } });
    expect(d.sriov).toEqual({ pf: "sr0", vfsTotal: 2, vfsInUse: 0, vlan: 100 });
    const again = await c.call("create-network", { name: "vf-other", type: "sriov", pf: "sr0" });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain("SR-IOV PF sr0 on host l2sriov is already used by network 'vf-def'");
    const dhcp = await c.call("assign-static-ip", { name: "vf-def", mac: "52:54:00:00:00:01", ip: "10.0.0.5" });
    expect(dhcp.status).toBe(422);
    expect(dhcp.body.error.code).toBe("UNSUPPORTED_FOR_TYPE");
    expect((await c.call("delete-network", { name: "vf-def" }, { wait: 30 })).status).toBe(200);
    expect(await defined()).not.toContain("vf-def");
  });
});
