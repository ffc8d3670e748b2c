/**
 * The change methods of a type whose addressing netforge does not own
 * (bridge: the LAN's DHCP server; sriov: VFs on the physical LAN): core's
 * planChange refuses their changes (UNSUPPORTED_FOR_TYPE), so there is
 * nothing to apply and nothing a host can lose.
 */
import { planChange } from "@netforge/core/model";
import type { NetworkDriver } from "./driver";

export const noAddressingChanges: Pick<NetworkDriver, "planChange" | "applyPlan" | "lostState"> = {
  planChange,
  async applyPlan() {
    return { applied: [] };
  },
  lostState: () => [],
};
