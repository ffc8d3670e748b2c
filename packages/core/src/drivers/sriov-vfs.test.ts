import { describe, expect, it } from "vitest";
import { AppError } from "../errors";
import { type PfState, planVfWrites, refuseForeignPf } from "./sriov-vfs";

function thrown(f: () => unknown): AppError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error("expected an AppError");
}

const pf = (o: Partial<PfState> = {}): PfState => ({ pf: "enp1s0f0", totalVfs: 8, numVfs: 0, vfsInUse: 0, ...o });

describe("refuseForeignPf: a PF another libvirt network names is not netforge's", () => {
  it("no other network names it: nothing to refuse", () => {
    expect(() => refuseForeignPf("enp1s0f0", "h1", [])).not.toThrow();
  });
  it("named by others: NOT_ALLOWED listing them", () => {
    const e = thrown(() => refuseForeignPf("enp1s0f0", "h1", ["pool-a", "pool-b"]));
    expect(e.code).toBe("NOT_ALLOWED");
    expect(e.message).toBe(
      "SR-IOV PF enp1s0f0 on host h1 is named by libvirt network 'pool-a', 'pool-b', which is not netforge's: its VFs are that network's to hand out",
    );
    expect(e.details).toEqual({ host: "h1", pf: "enp1s0f0", usedBy: ["pool-a", "pool-b"] });
  });
});

describe("planVfWrites: the sriov_numvfs writes, or why not", () => {
  it("no count asked: the VFs the PF has, none written; a PF without VFs is SRIOV_UNAVAILABLE", () => {
    expect(planVfWrites(pf({ numVfs: 4 }), null)).toEqual([]);
    const e = thrown(() => planVfWrites(pf(), null));
    expect(e.code).toBe("SRIOV_UNAVAILABLE");
    expect(e.message).toBe('SR-IOV PF enp1s0f0 has no VFs configured (sriov_numvfs is 0); give "vfs" to create them');
    expect(e.details).toEqual({ pf: "enp1s0f0", vfsTotal: 8, vfsConfigured: 0, field: "vfs" });
  });
  it("more than the PF supports: SRIOV_UNAVAILABLE; exactly its maximum is fine", () => {
    const e = thrown(() => planVfWrites(pf(), 9));
    expect(e.code).toBe("SRIOV_UNAVAILABLE");
    expect(e.message).toBe("SR-IOV PF enp1s0f0 supports at most 8 VFs, 9 asked");
    expect(e.details).toEqual({ pf: "enp1s0f0", vfsTotal: 8, vfs: 9, field: "vfs" });
    expect(planVfWrites(pf(), 8)).toEqual([8]);
  });
  it("already that count: nothing; from 0: one write", () => {
    expect(planVfWrites(pf({ numVfs: 4, vfsInUse: 2 }), 4)).toEqual([]);
    expect(planVfWrites(pf(), 4)).toEqual([4]);
  });
  it("another count, nothing using the VFs: through 0", () => {
    expect(planVfWrites(pf({ numVfs: 4, vfsBound: [] }), 6)).toEqual([0, 6]);
    expect(planVfWrites(pf({ numVfs: 4 }), 2)).toEqual([0, 2]);
  });
  it("another count while guests use VFs: INVALID_STATE naming how many", () => {
    const e = thrown(() => planVfWrites(pf({ numVfs: 4, vfsInUse: 1 }), 6));
    expect(e.code).toBe("INVALID_STATE");
    expect(e.message).toBe(
      "cannot change the VFs of enp1s0f0 from 4 to 6: 1 VF(s) in use by guests (the kernel only changes the count through 0)",
    );
    expect(e.details).toEqual({ pf: "enp1s0f0", vfsConfigured: 4, vfs: 6, vfsInUse: 1 });
  });
  it("another count while VFs are bound to drivers: INVALID_STATE naming each", () => {
    const vfsBound = [
      { index: 0, driver: "vfio-pci" },
      { index: 3, driver: "iavf" },
    ];
    const e = thrown(() => planVfWrites(pf({ numVfs: 4, vfsBound }), 6));
    expect(e.code).toBe("INVALID_STATE");
    expect(e.message).toBe(
      "cannot change the VFs of enp1s0f0 from 4 to 6: 2 VF(s) bound to a driver (VF 0 to vfio-pci, VF 3 to iavf); the kernel only changes the count through 0, which would remove them from whoever uses them. Unbind them first",
    );
    expect(e.details).toEqual({ pf: "enp1s0f0", vfsConfigured: 4, vfs: 6, vfsBound });
  });
});
