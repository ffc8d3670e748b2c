/**
 * isolated networks: VMs reach each other and the host's gateway address, nothing beyond (netforge's table
 * rejects what would leave the bridge). The routed base (routed.ts) without port forwards.
 */
import { type RoutedModel, routedModel } from "./routed";

/** The isolated driver's pure half. */
export const isolatedModel: RoutedModel<"isolated"> = routedModel("isolated", { portForwards: false, reachOutside: false });
