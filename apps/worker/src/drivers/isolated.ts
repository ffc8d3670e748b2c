/** isolated networks: the routed host half (routed.ts) over core's isolated driver (no way out of the bridge). */
import { isolatedModel } from "@netforge/core/model";
import { routedDriver } from "./routed";

export const isolatedDriver = routedDriver(isolatedModel);
