/** start-network on the host. */
import { startNetwork as run } from "../handlers/start-network";
import type { WorkerHalf } from "./half";

export const startNetwork: WorkerHalf<"start-network"> = { run };
