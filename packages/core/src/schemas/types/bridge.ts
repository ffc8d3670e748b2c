/** The bridge type's body: a NIC to bridge (`interface`) or an existing host bridge (`bridge`), exactly one. */
import { z } from "zod";
import { AppError } from "../../errors";
import { commonCreateFields, ifName, validationError } from "../network-fields";
import type { L2Request } from "./l2";

export const BridgeBody = z.strictObject({
  type: z
    .literal("bridge")
    .describe(
      "Network type: nat (a subnet masqueraded to the outside), isolated (a subnet with no way out), bridge (VMs on a NIC's or host bridge's LAN), sriov (a pool of a PF's virtual functions)",
    ),
  ...commonCreateFields,
  interface: ifName("must be an interface name")
    .optional()
    .describe(
      "A NIC of the host to bridge: netforge makes a bridge, moves the NIC into it and gives it back on delete (give interface or bridge)",
    ),
  bridge: ifName("must be a bridge name")
    .optional()
    .describe(
      "An existing bridge of the host to put VMs on; one carrying host addresses or other ports only when listed in NETFORGE_ALLOWED_INTERFACES",
    ),
  ipv6: z.unknown().optional().describe("Not on bridge networks (UNSUPPORTED_FOR_TYPE): their IPv6, like their IPv4, is the LAN's"),
});
export type BridgeBody = z.infer<typeof BridgeBody>;

/** A bridge body names exactly one of `interface` and `bridge`. */
export function bridgeRequest(body: BridgeBody): L2Request {
  if (body.ipv6 !== undefined) throw noIpv6("bridge");
  if (body.interface !== undefined && body.bridge !== undefined) {
    throw validationError([{ path: "bridge", message: "give either interface (a NIC) or bridge (an existing host bridge), not both" }]);
  }
  if (body.interface !== undefined) return { kind: "interface", interface: body.interface };
  if (body.bridge !== undefined) return { kind: "bridge", bridge: body.bridge };
  throw validationError([{ path: "interface", message: "a bridge network needs interface (a NIC) or bridge (an existing host bridge)" }]);
}

/** `ipv6` on a type whose addressing is the LAN's (bridge, sriov): 422 UNSUPPORTED_FOR_TYPE. */
export const noIpv6 = (type: string): AppError =>
  new AppError(
    "UNSUPPORTED_FOR_TYPE",
    `ipv6 is for nat and isolated networks; a ${type} network's addressing (IPv4 and IPv6) is the LAN's, not netforge's`,
    { type, field: "ipv6" },
  );
