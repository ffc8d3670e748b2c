/** stop-network on the host. */
import { stopNetwork as run } from "../handlers/stop-network";
import { workerHalf } from "./half";

export const stopNetwork = workerHalf("stop-network", { run });
