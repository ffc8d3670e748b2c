import type { NetworkDriver } from "./driver";

/** Types whose addressing is the LAN's: nothing of theirs is restored from a spec (planChange refuses every change). */
export const noAddressingChanges: Pick<NetworkDriver, "lostState"> = {
  lostState: () => [],
};
