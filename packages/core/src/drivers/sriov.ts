/**
 * sriov networks: a libvirt hostdev pool over a PF's VFs; each VM takes a VF of its own, so there is no
 * bridge, no address, no DHCP and no host firewall path. The host half (the PF's VF count) is
 * apps/worker/src/drivers/sriov.ts.
 */
import { AppError } from "../errors";
import { renderSriovXml } from "../render/network-xml";
import { type L2Request, validationError } from "../schemas/network";
import type { SpecBase } from "../planner/network-spec";
import type { DeviceDoor } from "./door";
import { sriovHostSteps } from "./host-steps";
import type { DriverModel } from "./model";
import { noAddressingParts } from "./no-addressing";
import { planVfWrites, refuseForeignPf } from "./sriov-vfs";

/** sriov networks: a libvirt hostdev pool over a PF's VFs; each VM takes a VF of its own. */
export interface SriovNetSpec extends SpecBase {
  type: "sriov";
  pf: string;
  /** VFs netforge ensures on the PF; null: use the VFs the PF has. */
  vfs: number | null;
  /** 802.1Q tag libvirt sets on every VF of the pool; null: untagged. */
  vlan: number | null;
}

type SriovRequest = Extract<L2Request, { kind: "sriov" }>;

/** The request of an sriov create (the schema builds it from the body; anything else is a bad request). */
function sriovRequest(req: L2Request): SriovRequest {
  if (req.kind !== "sriov") throw validationError([{ path: "pf", message: "required" }]);
  return req;
}

/**
 * The sriov door: a host can take the network when its inventory lists the PF (or an interface of that name:
 * the worker tells why it has no SR-IOV), no other tool's libvirt network names it, the VF count can be set,
 * and no other network of the index uses it.
 */
const sriovDoor: DeviceDoor<SriovNetSpec> = {
  refusal(l2, host, networks, name) {
    const req = sriovRequest(l2);
    const ifs = new Set(host.interfaces.map((i) => i.name));
    // A PF the host lists, or at least an interface of that name (the worker tells why it has no SR-IOV).
    if (!host.sriovPfs.some((p) => p.pf === req.pf) && !ifs.has(req.pf)) {
      // `field`: the body field the refusal concerns (a form marks it).
      return new AppError("SRIOV_UNAVAILABLE", `host ${host.id} has no SR-IOV PF ${req.pf} (no such interface)`, {
        host: host.id,
        pf: req.pf,
        field: "pf",
      });
    }
    const pf = host.sriovPfs.find((p) => p.pf === req.pf);
    try {
      refuseForeignPf(req.pf, host.id, pf?.foreignNetworks ?? []);
      // VFs bound to any driver: a count change would remove them (the worker re-reads sysfs before writing).
      if (pf && req.vfs !== null && (pf.vfsBound ?? []).length > 0) {
        planVfWrites(
          { pf: pf.pf, totalVfs: pf.vfsTotal, numVfs: pf.vfsConfigured, vfsInUse: pf.vfsInUse ?? 0, vfsBound: pf.vfsBound },
          req.vfs,
        );
      }
    } catch (err) {
      if (err instanceof AppError && (err.code === "NOT_ALLOWED" || err.code === "INVALID_STATE")) {
        return new AppError(err.code, err.message.includes(host.id) ? err.message : `${err.message} (host ${host.id})`, {
          ...err.details,
          host: host.id,
        });
      }
      if (!(err instanceof AppError)) throw err;
    }
    const other = networks.find((n) => n.host === host.id && n.name !== name && n.sriov?.pf === req.pf);
    return other
      ? new AppError("INVALID_STATE", `SR-IOV PF ${req.pf} on host ${host.id} is already used by network '${other.name}'`, {
          host: host.id,
          usedBy: other.name,
        })
      : null;
  },
  lacks(l2, host) {
    if (l2.kind !== "sriov") return false;
    return !host.sriovPfs.some((p) => p.pf === l2.pf) && !host.interfaces.some((i) => i.name === l2.pf);
  },
  noHostHas(l2) {
    const req = sriovRequest(l2);
    return new AppError("SRIOV_UNAVAILABLE", `no online host has SR-IOV PF ${req.pf}`, { pf: req.pf, field: "pf" });
  },
  specFor(payload, l2, host) {
    const req = sriovRequest(l2);
    const pf = host.sriovPfs.find((p) => p.pf === req.pf);
    if (pf) refuseForeignPf(pf.pf, host.id, pf.foreignNetworks ?? []);
    return {
      type: "sriov",
      name: payload.name,
      uuid: payload.uuid,
      description: payload.description,
      createdAt: payload.createdAt,
      ...(payload.managedBy === undefined ? {} : { managedBy: payload.managedBy }),
      pf: req.pf,
      vfs: req.vfs,
      vlan: req.vlan,
    };
  },
};

/** The sriov driver's pure half. */
export const sriovModel: DriverModel<SriovNetSpec> = {
  type: "sriov",
  is: (spec): spec is SriovNetSpec => spec.type === "sriov",
  render: renderSriovXml,
  door: sriovDoor,
  hostSteps: sriovHostSteps,
  ...noAddressingParts<SriovNetSpec>(
    "VMs of an SR-IOV network own their VF directly: addressing belongs to the LAN's DHCP server or to the VM",
  ),
};
