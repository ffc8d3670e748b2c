/** start-network on the host. */
import { startNetwork as run } from "../handlers/start-network";
import { workerHalf } from "./half";

export const startNetwork = workerHalf("start-network", { run });
