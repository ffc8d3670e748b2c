/** Libvirt networks of other tools that name an SR-IOV PF or one of its VFs (read from their definitions). */
import { forwardDevices } from "@netforge/core/model";
import type { CatalogEntry } from "./network-catalog";
import type { PfInfo } from "./sriov-sysfs";

/**
 * The names of the non-netforge libvirt networks whose <forward> names `pf` (a hostdev pool's <pf dev>,
 * a macvtap pool's interface) or one of its VFs by PCI address. `xmlOf` gives a network's cached XML.
 */
export function foreignNetworksOnPf(
  catalog: readonly CatalogEntry[],
  xmlOf: (name: string) => string | undefined,
  pf: Pick<PfInfo, "pf"> & { vfs?: { address: string | null }[] },
): string[] {
  const vfAddresses = new Set((pf.vfs ?? []).flatMap((v) => (v.address ? [v.address] : [])));
  const out: string[] = [];
  for (const c of catalog) {
    if (c.def.managed || c.def.forwardMode === null) continue;
    const xml = xmlOf(c.name);
    if (xml === undefined) continue;
    const d = forwardDevices(xml);
    if (d.pfs.includes(pf.pf) || d.interfaces.includes(pf.pf) || d.pciAddresses.some((a) => vfAddresses.has(a))) out.push(c.name);
  }
  return out.sort();
}
