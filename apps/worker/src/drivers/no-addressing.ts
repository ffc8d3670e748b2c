/**
 * The change methods of a type whose addressing netforge does not own
 * (bridge: the LAN's DHCP server; sriov: VFs on the physical LAN): the type's
 * model refuses their changes (UNSUPPORTED_FOR_TYPE), so there is nothing to
 * apply and nothing a host can lose.
 */
import type { NetworkDriver } from "./driver";

export const noAddressingChanges: Pick<NetworkDriver, "applyPlan" | "lostState"> = {
  async applyPlan() {
    return { applied: [] };
  },
  lostState: () => [],
};
