/**
 * SR-IOV networks: a libvirt hostdev pool over a PF's VFs (<forward
 * mode='hostdev' managed='yes'><pf dev=.../></forward>, with the VLAN tag
 * libvirt sets on each VF): each VM takes a VF of its own, so there is no
 * bridge, no address, no DHCP and no host firewall path. netforge ensures the
 * asked VF count through sysfs (no write when it matches; a non-zero count
 * changes only through 0 and only while no VF is in use) before the
 * definition is written and before each start, with the original count
 * restored if the job fails. A host without SR-IOV on that PF fails the job
 * with SRIOV_UNAVAILABLE before anything is written.
 */
import { AppError } from "@netforge/core/contract";
import { type NetSpec, refuseForeignPf, type SriovNetSpec, sriovModel } from "@netforge/core/model";
import type { HostContext } from "../context";
import type { Attachment } from "../host/attachments";
import { foreignNetworksOnPf } from "../host/foreign-pf";
import type { CatalogEntry } from "../host/network-catalog";
import { type PfInfo, planVfWrites, readPf } from "../host/sriov-sysfs";
import { recordFromCatalog } from "../network-record";
import type { NetworkDriver } from "./driver";
import { noAddressingChanges } from "./no-addressing";

const asSriov = (spec: NetSpec | null | undefined): SriovNetSpec | null => (spec && sriovModel.is(spec) ? spec : null);
const rootOf = (ctx: HostContext) => ctx.sysfsRoot ?? "/sys";

/** The PF's SR-IOV state, or SRIOV_UNAVAILABLE naming the PF and the reason. */
function pfOrUnavailable(ctx: HostContext, pf: string): PfInfo {
  const info = readPf(rootOf(ctx), pf);
  if ("unavailable" in info) {
    throw new AppError("SRIOV_UNAVAILABLE", `SR-IOV PF ${pf} on host ${ctx.hostId} is unavailable: ${info.unavailable}`, {
      pf,
      host: ctx.hostId,
      reason: info.unavailable,
      field: "pf",
    });
  }
  return info;
}

/** Refuse a PF another tool's libvirt network names (its hostdev pool, or its VFs by address). */
function refuseIfForeign(ctx: HostContext, catalog: readonly CatalogEntry[], info: PfInfo): void {
  refuseForeignPf(
    info.pf,
    ctx.hostId,
    foreignNetworksOnPf(catalog, (n) => ctx.catalog.xmlOf?.(n), info),
  );
}

/** Domains holding a VF of the pool: libvirt's interfaces whose source is this network. */
async function attachmentsOf(ctx: HostContext, name: string): Promise<Attachment[]> {
  const sources = await ctx.virsh.runningDomainSources();
  return sources.filter((s) => s.source === name).map((s) => ({ kind: "domain", name: s.domain, interface: s.ifname ?? "VF" }));
}

export const sriovDriver: NetworkDriver<SriovNetSpec> = {
  model: sriovModel,
  prepare(ctx, p, host) {
    const req = p.l2;
    if (req?.kind !== "sriov")
      throw new AppError("VALIDATION_FAILED", "an sriov network needs pf", { issues: [{ path: "pf", message: "required" }] });
    const info = pfOrUnavailable(ctx, req.pf);
    refuseIfForeign(ctx, host.catalog, info);
    const other = host.catalog.find((c) => c.name !== p.name && asSriov(c.def.spec)?.pf === req.pf);
    if (other) {
      throw new AppError("INVALID_STATE", `SR-IOV PF ${req.pf} on host ${ctx.hostId} is already used by network '${other.name}'`, {
        pf: req.pf,
        usedBy: other.name,
      });
    }
    planVfWrites(info, req.vfs); // refuses now (nothing written yet) what the host steps could not do
    return {
      type: sriovModel.type,
      name: p.name,
      uuid: p.uuid,
      description: p.description,
      createdAt: p.createdAt,
      ...(p.managedBy === undefined ? {} : { managedBy: p.managedBy }),
      pf: req.pf,
      vfs: req.vfs,
      vlan: req.vlan,
    };
  },
  async verifyStarted() {},
  async hostFacts(ctx, spec) {
    const info = pfOrUnavailable(ctx, spec.pf);
    return {
      links: [],
      pfs: [{ pf: info.pf, totalVfs: info.totalVfs, numVfs: info.numVfs, vfsInUse: info.vfsInUse, vfsBound: info.vfsBound }],
    };
  },
  executeOptions: (ctx) => ({
    // Re-read under the network lock right before writing: another tool's network may name the PF by now.
    beforeVfWrite: async (pfName) => refuseIfForeign(ctx, await ctx.catalog.list(), pfOrUnavailable(ctx, pfName)),
  }),
  attachments: (ctx, entry) => (entry.active ? attachmentsOf(ctx, entry.name) : Promise.resolve([])),
  connectedVms(ctx, entry) {
    const spec = asSriov(entry.def.spec);
    if (!spec || !entry.active) return 0;
    const info = readPf(rootOf(ctx), spec.pf);
    return "vfsInUse" in info ? info.vfsInUse : 0;
  },
  ...noAddressingChanges,
  record(entry, host, updatedAt) {
    const rec = recordFromCatalog(entry, host, updatedAt);
    const spec = asSriov(entry.def.spec);
    if (!spec) return { ...rec, type: sriovModel.type };
    // The pool as the host has it now (the record is rebuilt every reconcile round). record() gets no context:
    // the root is read from the environment the worker's config also reads (NETFORGE_SYSFS_ROOT).
    const info = readPf(process.env.NETFORGE_SYSFS_ROOT ?? "/sys", spec.pf);
    const vfsTotal = "numVfs" in info ? info.numVfs : 0;
    const vfsInUse = "vfsInUse" in info ? info.vfsInUse : 0;
    return {
      ...rec,
      type: sriovModel.type,
      bridge: { name: null, interface: null },
      sriov: { pf: spec.pf, vfsTotal, vfsInUse, vlan: spec.vlan },
    };
  },
};
