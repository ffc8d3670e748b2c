/** The sriov type's body: the PF whose VFs the network pools, how many VFs, and their VLAN. */
import { z } from "zod";
import { commonCreateFields, ifName } from "../network-fields";
import type { L2Request } from "./l2";

export const SriovBody = z.strictObject({
  type: z.literal("sriov"),
  ...commonCreateFields,
  pf: ifName("must be an interface name"),
  vfs: z.number().int().min(1).max(256).optional(),
  vlan: z.number().int().min(1).max(4094).optional(),
});
export type SriovBody = z.infer<typeof SriovBody>;

/** An sriov body's request: its PF. */
export const sriovRequest = (body: SriovBody): L2Request => ({
  kind: "sriov",
  pf: body.pf,
  vfs: body.vfs ?? null,
  vlan: body.vlan ?? null,
});
