/** delete-network on the host. */
import { deleteNetwork as run } from "../handlers/delete-network";
import { workerHalf } from "./half";

export const deleteNetwork = workerHalf("delete-network", { run });
