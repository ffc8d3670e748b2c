/**
 * sriov networks: a libvirt hostdev pool over a PF's VFs; each VM takes a VF of its own, so there is no
 * bridge, no address, no DHCP and no host firewall path. The host half (the PF's VF count) is
 * apps/worker/src/drivers/sriov.ts.
 */
import { renderSriovXml } from "../render/network-xml";
import type { SriovNetSpec } from "../spec/network-spec";
import type { DriverModel } from "./model";
import { noAddressingParts } from "./no-addressing";

/** The sriov driver's pure half. */
export const sriovModel: DriverModel<SriovNetSpec> = {
  type: "sriov",
  is: (spec): spec is SriovNetSpec => spec.type === "sriov",
  render: renderSriovXml,
  ...noAddressingParts<SriovNetSpec>(
    "VMs of an SR-IOV network own their VF directly: addressing belongs to the LAN's DHCP server or to the VM",
  ),
};
