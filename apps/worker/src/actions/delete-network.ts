/** delete-network on the host. */
import { deleteNetwork as run } from "../handlers/delete-network";
import type { WorkerHalf } from "./half";

export const deleteNetwork: WorkerHalf<"delete-network"> = { run };
