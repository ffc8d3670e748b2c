/** SR-IOV VF counts, as pure rules (the worker applies them to sysfs; a dry run shows them). */
import { AppError } from "../errors";

/** What the rules read of a PF. */
export interface PfState {
  pf: string;
  totalVfs: number;
  numVfs: number;
  vfsInUse: number;
  /** VFs bound to any driver (a guest's vfio-pci or a host kernel driver such as iavf/ixgbevf/mlx5_core). */
  vfsBound?: { index: number; driver: string }[];
}

/**
 * Refuse a PF that another (non-netforge) libvirt network names (a hostdev pool with <pf dev>, or its
 * VFs / the PF as forward interfaces): its VFs are that tool's to hand out.
 */
export function refuseForeignPf(pf: string, host: string, foreignNetworks: readonly string[]): void {
  if (foreignNetworks.length === 0) return;
  const names = foreignNetworks.map((n) => `'${n}'`).join(", ");
  throw new AppError(
    "NOT_ALLOWED",
    `SR-IOV PF ${pf} on host ${host} is named by libvirt network ${names}, which is not netforge's: its VFs are that network's to hand out`,
    { host, pf, usedBy: [...foreignNetworks] },
  );
}

/**
 * The sriov_numvfs writes that take the PF from its count to `want` (null: keep what it has), or the error
 * why not: the kernel changes a non-zero count only through 0, which would pull VFs from guests using them.
 */
export function planVfWrites(info: PfState, want: number | null): number[] {
  if (want === null) {
    if (info.numVfs === 0) {
      throw new AppError("SRIOV_UNAVAILABLE", `SR-IOV PF ${info.pf} has no VFs configured (sriov_numvfs is 0); give "vfs" to create them`, {
        pf: info.pf,
        vfsTotal: info.totalVfs,
        vfsConfigured: 0,
        field: "vfs",
      });
    }
    return [];
  }
  if (want > info.totalVfs) {
    throw new AppError("SRIOV_UNAVAILABLE", `SR-IOV PF ${info.pf} supports at most ${info.totalVfs} VFs, ${want} asked`, {
      pf: info.pf,
      vfsTotal: info.totalVfs,
      vfs: want,
      field: "vfs",
    });
  }
  if (info.numVfs === want) return [];
  if (info.numVfs === 0) return [want];
  if (info.vfsInUse > 0) {
    throw new AppError(
      "INVALID_STATE",
      `cannot change the VFs of ${info.pf} from ${info.numVfs} to ${want}: ${info.vfsInUse} VF(s) in use by guests (the kernel only changes the count through 0)`,
      { pf: info.pf, vfsConfigured: info.numVfs, vfs: want, vfsInUse: info.vfsInUse },
    );
  }
  const bound = info.vfsBound ?? [];
  if (bound.length > 0) {
    const held = bound.map((b) => `VF ${b.index} to ${b.driver}`).join(", ");
    throw new AppError(
      "INVALID_STATE",
      `cannot change the VFs of ${info.pf} from ${info.numVfs} to ${want}: ${bound.length} VF(s) bound to a driver (${held}); the kernel only changes the count through 0, which would remove them from whoever uses them. Unbind them first`,
      { pf: info.pf, vfsConfigured: info.numVfs, vfs: want, vfsBound: bound },
    );
  }
  return [0, want];
}
