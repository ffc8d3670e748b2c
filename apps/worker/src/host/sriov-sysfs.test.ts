import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { listPfs, type PfInfo, planVfWrites, readPf, writeNumVfs } from "./sriov-sysfs";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "nf-sysfs-"));
  mkdirSync(join(root, "class", "net"), { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A fake sysfs: a PF with total/num VFs and VFs bound to the given drivers (null: unbound). */
function pf(name: string, total: number, drivers: (string | null)[]) {
  const dev = join(root, "class", "net", name, "device");
  mkdirSync(dev, { recursive: true });
  writeFileSync(join(dev, "sriov_totalvfs"), `${total}\n`);
  writeFileSync(join(dev, "sriov_numvfs"), `${drivers.length}\n`);
  drivers.forEach((d, i) => {
    mkdirSync(join(dev, `virtfn${i}`));
    if (d) {
      mkdirSync(join(root, "drivers", d), { recursive: true });
      symlinkSync(join(root, "drivers", d), join(dev, `virtfn${i}`, "driver"));
    }
  });
}
const info = (name: string) => readPf(root, name) as PfInfo;

describe("SR-IOV over sysfs", () => {
  it("no SR-IOV: a missing interface, a virtual interface (no device), a device without sriov_totalvfs", () => {
    expect(readPf(root, "eth9")).toEqual({ unavailable: "no interface eth9 on this host" });
    mkdirSync(join(root, "class", "net", "veth0"));
    expect(readPf(root, "veth0")).toEqual({ unavailable: "veth0 is not backed by a PCI device (virtual interface), so it has no SR-IOV" });
    mkdirSync(join(root, "class", "net", "eno1", "device"), { recursive: true });
    expect((readPf(root, "eno1") as { unavailable: string }).unavailable).toMatch(/eno1 has no SR-IOV capability/);
    expect(listPfs(root)).toEqual([]);
  });
  it("0 VFs: listed with its capacity; a pool without a count is refused, with a count it writes N once", () => {
    pf("enp3s0f0", 8, []);
    expect(info("enp3s0f0")).toEqual({ pf: "enp3s0f0", totalVfs: 8, numVfs: 0, vfs: [], vfsInUse: 0, vfsBound: [] });
    expect(() => planVfWrites(info("enp3s0f0"), null)).toThrow(/enp3s0f0 has no VFs configured \(sriov_numvfs is 0\)/);
    expect(planVfWrites(info("enp3s0f0"), 4)).toEqual([4]);
    expect(() => planVfWrites(info("enp3s0f0"), 9)).toThrow("SR-IOV PF enp3s0f0 supports at most 8 VFs, 9 asked");
  });
  it("VFs configured, none bound to a driver: no write when equal, 0 then N to change", () => {
    pf("enp3s0f0", 8, [null, null, null, null]);
    const i = info("enp3s0f0");
    expect(i.numVfs).toBe(4);
    expect(i.vfs.map((v) => v.driver)).toEqual([null, null, null, null]);
    expect(i.vfsInUse).toBe(0);
    expect(i.vfsBound).toEqual([]);
    expect(planVfWrites(i, 4)).toEqual([]);
    expect(planVfWrites(i, null)).toEqual([]);
    expect(planVfWrites(i, 6)).toEqual([0, 6]);
  });
  it("VFs bound to a host kernel driver (not a guest's): not in use by guests, but changing the count is refused naming them", () => {
    pf("enp3s0f0", 8, ["ixgbevf", "ixgbevf", null, "ixgbevf"]);
    const i = info("enp3s0f0");
    expect(i.vfsInUse).toBe(0);
    expect(i.vfsBound).toEqual([
      { index: 0, driver: "ixgbevf" },
      { index: 1, driver: "ixgbevf" },
      { index: 3, driver: "ixgbevf" },
    ]);
    expect(planVfWrites(i, 4)).toEqual([]);
    expect(planVfWrites(i, null)).toEqual([]);
    expect(() => planVfWrites(i, 6)).toThrow(
      "cannot change the VFs of enp3s0f0 from 4 to 6: 3 VF(s) bound to a driver (VF 0 to ixgbevf, VF 1 to ixgbevf, VF 3 to ixgbevf)",
    );
    expect(() => planVfWrites(i, 0)).toThrow(/3 VF\(s\) bound to a driver/);
  });
  it("a VF's PCI address is read from its virtfn link", () => {
    const dev = join(root, "class", "net", "enp3s0f2", "device");
    mkdirSync(join(root, "devices", "0000:03:10.1"), { recursive: true });
    mkdirSync(dev, { recursive: true });
    writeFileSync(join(dev, "sriov_totalvfs"), "4\n");
    writeFileSync(join(dev, "sriov_numvfs"), "1\n");
    symlinkSync(join(root, "devices", "0000:03:10.1"), join(dev, "virtfn0"));
    expect(info("enp3s0f2").vfs).toEqual([{ index: 0, driver: null, inUse: false, address: "0000:03:10.1" }]);
  });
  it("VFs in use (bound to vfio-pci / pci-stub): counted; changing the count is refused, keeping it is fine", () => {
    pf("enp3s0f1", 8, ["vfio-pci", "ixgbevf", "pci-stub"]);
    const i = info("enp3s0f1");
    expect(i.vfsInUse).toBe(2);
    expect(planVfWrites(i, 3)).toEqual([]);
    expect(() => planVfWrites(i, 6)).toThrow(/cannot change the VFs of enp3s0f1 from 3 to 6: 2 VF\(s\) in use by guests/);
  });
  it("lists every capable PF and writes sriov_numvfs", () => {
    pf("enp3s0f0", 8, []);
    pf("enp3s0f1", 4, ["vfio-pci"]);
    mkdirSync(join(root, "class", "net", "lo"));
    expect(listPfs(root).map((p) => [p.pf, p.totalVfs, p.numVfs, p.vfsInUse])).toEqual([
      ["enp3s0f0", 8, 0, 0],
      ["enp3s0f1", 4, 1, 1],
    ]);
    writeNumVfs(root, "enp3s0f0", 2);
    expect(readFileSync(join(root, "class", "net", "enp3s0f0", "device", "sriov_numvfs"), "utf8")).toBe("2\n");
    expect(info("enp3s0f0").numVfs).toBe(2);
  });
});
