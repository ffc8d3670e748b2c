/** stop-network on the host. */
import { stopNetwork as run } from "../handlers/stop-network";
import type { WorkerHalf } from "./half";

export const stopNetwork: WorkerHalf<"stop-network"> = { run };
