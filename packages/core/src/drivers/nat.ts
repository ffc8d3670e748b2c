/**
 * nat networks: VMs reach out through the host (netforge's table masquerades them), and the outside reaches
 * them only through port forwards. The routed base (routed.ts) with port forwards.
 */
import { type RoutedModel, routedModel } from "./routed";

/** The nat driver's pure half. */
export const natModel: RoutedModel<"nat"> = routedModel("nat", { portForwards: true, reachOutside: true });
