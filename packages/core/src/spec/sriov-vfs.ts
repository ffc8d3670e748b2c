/** SR-IOV VF counts, as pure rules (the worker applies them to sysfs; a dry run shows them). */
import { AppError } from "../errors";

/** What the rules read of a PF. */
export interface PfState {
  pf: string;
  totalVfs: number;
  numVfs: number;
  vfsInUse: number;
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
      });
    }
    return [];
  }
  if (want > info.totalVfs) {
    throw new AppError("SRIOV_UNAVAILABLE", `SR-IOV PF ${info.pf} supports at most ${info.totalVfs} VFs, ${want} asked`, {
      pf: info.pf,
      vfsTotal: info.totalVfs,
      vfs: want,
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
  return [0, want];
}
