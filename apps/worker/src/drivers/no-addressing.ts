import type { NetworkDriver } from "./driver";

export const noAddressingChanges: Pick<NetworkDriver, "applyPlan" | "lostState"> = {
  async applyPlan() {
    return { applied: [] };
  },
  lostState: () => [],
};
