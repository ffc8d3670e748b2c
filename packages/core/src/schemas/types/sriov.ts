/** The sriov type's body: the PF whose VFs the network pools, how many VFs, and their VLAN. */
import { z } from "zod";
import { commonCreateFields, ifName } from "../network-fields";
import { noIpv6 } from "./bridge";
import type { L2Request } from "./l2";

export const SriovBody = z.strictObject({
  type: z
    .literal("sriov")
    .describe(
      "Network type: nat (a subnet masqueraded to the outside), isolated (a subnet with no way out), bridge (VMs on a NIC's or host bridge's LAN), sriov (a pool of a PF's virtual functions)",
    ),
  ...commonCreateFields,
  pf: ifName("must be an interface name").describe(
    "The SR-IOV physical function (a NIC of the host) whose virtual functions make the pool",
  ),
  vfs: z.number().int().min(1).max(256).optional().describe("How many VFs the PF should have, 1-256 (absent: keep the count it has)"),
  vlan: z.number().int().min(1).max(4094).optional().describe("VLAN id, 1-4094, given to every VF of the pool"),
  ipv6: z.unknown().optional().describe("Not on sriov networks (UNSUPPORTED_FOR_TYPE): their IPv6, like their IPv4, is the LAN's"),
});
export type SriovBody = z.infer<typeof SriovBody>;

/** An sriov body's request: its PF. */
export const sriovRequest = (body: SriovBody): L2Request => {
  if (body.ipv6 !== undefined) throw noIpv6("sriov");
  return { kind: "sriov", pf: body.pf, vfs: body.vfs ?? null, vlan: body.vlan ?? null };
};
