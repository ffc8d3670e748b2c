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
 * succeeds and describe/delete work. PFs that are not netforge's to take: a
 * VF bound to a host kernel driver blocks a count change, and another tool's
 * libvirt hostdev pool on the PF blocks the PF, both refused before anything
 * is written (at the door from the inventory, and by the worker when the
 * inventory could not tell yet).
 */
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
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
    expect(pfs).toEqual([{ pf: "sr0", vfsTotal: 4, vfsConfigured: 0, vfsInUse: 0, vfsBound: [], foreignNetworks: [] }]);
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

describe("PFs that are not netforge's to take (fake sysfs, real libvirt)", () => {
  /** A fake PF: total/num VFs, VFs virtfn0..num-1, unbound. */
  async function fakePf(name: string, total: number, num: number) {
    const dev = join(fakeSys, "class", "net", name, "device");
    await mkdir(dev, { recursive: true });
    await writeFile(join(dev, "sriov_totalvfs"), `${total}\n`);
    await writeFile(join(dev, "sriov_numvfs"), `${num}\n`);
    for (let i = 0; i < num; i++) await mkdir(join(dev, `virtfn${i}`), { recursive: true });
  }
  /** Bind VF `vf` of `pf` to `driver` (the driver link sysfs shows). */
  async function bind(pf: string, vf: number, driver: string) {
    const drv = join(fakeSys, "bus", "pci", "drivers", driver);
    await mkdir(drv, { recursive: true });
    await symlink(drv, join(fakeSys, "class", "net", pf, "device", `virtfn${vf}`, "driver"));
  }
  const numvfsOf = (pf: string) => readFile(join(fakeSys, "class", "net", pf, "device", "sriov_numvfs"), "utf8");
  const inventoryPf = (pf: string, pred: (p: { vfsBound?: unknown[]; foreignNetworks?: string[] }) => boolean) =>
    waitFor(`${pf} in the inventory`, async () => {
      const r = await c.call("list-hosts", {}, { token: TOKENS.admin });
      const p = r.body.hosts[0].sriovPfs.find((x: { pf: string }) => x.pf === pf);
      return p && pred(p) ? p : null;
    });
  /** Define another tool's hostdev pool on `pf` (not started: libvirt reads the real sysfs at start). */
  async function foreignPool(name: string, pf: string) {
    const file = join(h.dir, `${name}.xml`);
    await writeFile(file, `<network><name>${name}</name><forward mode='hostdev' managed='yes'><pf dev='${pf}'/></forward></network>\n`);
    await h.virsh(["net-define", file]);
  }
  const code = (r: { body: { job?: { error?: { code: string } }; error?: { code: string } } }) =>
    r.body.job?.error?.code ?? r.body.error?.code;
  const message = (r: { body: { job?: { error?: { message: string } }; error?: { message: string } } }) =>
    r.body.job?.error?.message ?? r.body.error?.message ?? "";

  it("a VF bound to a host kernel driver: a count change is 409 naming VF and driver, before any write", async () => {
    await fakePf("sr1", 4, 2);
    await bind("sr1", 1, "iavf");
    const p = await inventoryPf("sr1", (x) => (x.vfsBound ?? []).length > 0);
    expect(p).toMatchObject({ vfsConfigured: 2, vfsInUse: 0, vfsBound: [{ index: 1, driver: "iavf" }] });
    const r = await c.call("create-network", { name: "vf-bound", type: "sriov", pf: "sr1", vfs: 4 }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(r.body.error.code).toBe("INVALID_STATE");
    expect(r.body.error.message).toContain("cannot change the VFs of sr1 from 2 to 4: 1 VF(s) bound to a driver (VF 1 to iavf)");
    expect(await numvfsOf("sr1")).toBe("2\n");
    expect(await defined()).not.toContain("vf-bound");
  });

  it("the worker refuses it too when the VF was bound after the inventory", async () => {
    await fakePf("sr3", 4, 2);
    await inventoryPf("sr3", (x) => (x.vfsBound ?? []).length === 0);
    await bind("sr3", 0, "mlx5_core");
    const r = await c.call("create-network", { name: "vf-bound2", type: "sriov", pf: "sr3", vfs: 3, host: "l2sriov" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(code(r)).toBe("INVALID_STATE");
    expect(message(r)).toContain("(VF 0 to mlx5_core)");
    expect(await numvfsOf("sr3")).toBe("2\n");
    expect(await defined()).not.toContain("vf-bound2");
  });

  it("another tool's hostdev pool on the PF: 422 NOT_ALLOWED naming it; nothing written, the pool untouched", async () => {
    await fakePf("sr2", 4, 0);
    await foreignPool("other-pool", "sr2");
    const before = (await h.virsh(["net-dumpxml", "--inactive", "other-pool"])).stdout;
    await inventoryPf("sr2", (x) => (x.foreignNetworks ?? []).includes("other-pool"));
    const r = await c.call("create-network", { name: "vf-foreign", type: "sriov", pf: "sr2", vfs: 2 }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.code).toBe("NOT_ALLOWED");
    expect(r.body.error.message).toBe(
      "SR-IOV PF sr2 on host l2sriov is named by libvirt network 'other-pool', which is not netforge's: its VFs are that network's to hand out",
    );
    expect(await numvfsOf("sr2")).toBe("0\n");
    expect(await defined()).not.toContain("vf-foreign");
    expect((await h.virsh(["net-dumpxml", "--inactive", "other-pool"])).stdout).toBe(before);
    expect((await c.call("describe-network", { name: "other-pool" })).status).toBe(404);
  });

  it("the worker refuses it too when the pool was defined after the inventory", async () => {
    await fakePf("sr4", 4, 0);
    await inventoryPf("sr4", (x) => (x.foreignNetworks ?? []).length === 0);
    await foreignPool("late-pool", "sr4");
    const r = await c.call("create-network", { name: "vf-foreign2", type: "sriov", pf: "sr4", vfs: 2, host: "l2sriov" }, { wait: 30 });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(code(r)).toBe("NOT_ALLOWED");
    expect(message(r)).toContain("named by libvirt network 'late-pool'");
    expect(await numvfsOf("sr4")).toBe("0\n");
    expect(await defined()).not.toContain("vf-foreign2");
    expect(await defined()).toContain("late-pool");
  });
});
