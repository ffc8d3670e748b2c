/** nat networks: the routed host half (routed.ts) over core's nat driver (its masquerade and port forwards). */
import { natModel } from "@netforge/core/model";
import { routedDriver } from "./routed";

export const natDriver = routedDriver(natModel);
