/**
 * SR-IOV physical functions as sysfs shows them, under a configurable root
 * (NETFORGE_SYSFS_ROOT, default /sys) so tests can lay out a fake tree:
 * `<root>/class/net/<pf>/device/{sriov_totalvfs,sriov_numvfs,virtfn<N>}`.
 * A VF is in use when it is bound to a passthrough driver (vfio-pci, or the
 * legacy pci-stub): libvirt's managed hostdev detaches it there while a guest
 * holds it. A VF bound to any driver (a host kernel driver such as iavf too)
 * is bound: the VF count is not changed while any is (changing it removes the
 * VFs). Plain file reads and writes (sysfs attributes), no commands.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { PfState } from "@netforge/core/model";

export { planVfWrites } from "@netforge/core/model";

/** Drivers a VF is bound to while a guest owns it. */
const PASSTHROUGH_DRIVERS: ReadonlySet<string> = new Set(["vfio-pci", "pci-stub"]);

export interface VfInfo {
  index: number;
  /** Its driver (basename of virtfn<N>/driver), null when unbound. */
  driver: string | null;
  inUse: boolean;
  /** Its PCI address (basename of the virtfn<N> link: "0000:03:10.1"), null when virtfn<N> is not a link. */
  address: string | null;
}

export interface PfInfo extends PfState {
  pf: string;
  /** sriov_totalvfs: the most VFs the device supports. */
  totalVfs: number;
  /** sriov_numvfs: the VFs configured now. */
  numVfs: number;
  vfs: VfInfo[];
  vfsInUse: number;
  vfsBound: { index: number; driver: string }[];
}

const deviceDir = (root: string, pf: string) => join(root, "class", "net", pf, "device");

function readInt(file: string): number | null {
  try {
    const n = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(n) && n >= 0 ? n : null;
  } catch {
    return null;
  }
}

/** The PF's SR-IOV state, or the reason it has none (no such interface, no device, no SR-IOV capability). */
export function readPf(root: string, pf: string): PfInfo | { unavailable: string } {
  if (!existsSync(join(root, "class", "net", pf))) return { unavailable: `no interface ${pf} on this host` };
  const dev = deviceDir(root, pf);
  if (!existsSync(dev)) return { unavailable: `${pf} is not backed by a PCI device (virtual interface), so it has no SR-IOV` };
  const totalVfs = readInt(join(dev, "sriov_totalvfs"));
  const numVfs = readInt(join(dev, "sriov_numvfs"));
  if (totalVfs === null || numVfs === null || totalVfs === 0) {
    return { unavailable: `${pf} has no SR-IOV capability (no sriov_totalvfs in ${dev})` };
  }
  const vfs: VfInfo[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dev).filter((n) => /^virtfn\d+$/.test(n));
  } catch {
    names = [];
  }
  for (const n of names.sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)))) {
    let driver: string | null = null;
    try {
      driver = basename(readlinkSync(join(dev, n, "driver")));
    } catch {
      driver = null;
    }
    let address: string | null = null;
    try {
      address = basename(readlinkSync(join(dev, n)));
    } catch {
      address = null;
    }
    vfs.push({ index: Number(n.slice(6)), driver, inUse: driver !== null && PASSTHROUGH_DRIVERS.has(driver), address });
  }
  const vfsBound = vfs.flatMap((v) => (v.driver !== null ? [{ index: v.index, driver: v.driver }] : []));
  return { pf, totalVfs, numVfs, vfs, vfsInUse: vfs.filter((v) => v.inUse).length, vfsBound };
}

/** Every SR-IOV capable PF under the root (for the host inventory). */
export function listPfs(root: string): PfInfo[] {
  let names: string[] = [];
  try {
    names = readdirSync(join(root, "class", "net"));
  } catch {
    return [];
  }
  const out: PfInfo[] = [];
  for (const n of names.sort()) {
    if (!existsSync(join(deviceDir(root, n), "sriov_totalvfs"))) continue;
    const info = readPf(root, n);
    if ("pf" in info) out.push(info); // not-a-network-type: a PF read, not its "unavailable" reason
  }
  return out;
}

/** Write sriov_numvfs (the kernel creates or removes the VFs). */
export function writeNumVfs(root: string, pf: string, n: number): void {
  writeFileSync(join(deviceDir(root, pf), "sriov_numvfs"), `${n}\n`);
}
