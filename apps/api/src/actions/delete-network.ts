/** delete-network at the API: the network indexed, its host online; its dry run answers NETWORK_IN_USE while something is attached. */
import { planStopOrDelete } from "../dry-run";
import { prepareExisting } from "../job-preparers";
import { apiHalf } from "./half";

export const deleteNetwork = apiHalf("delete-network", {
  prepare: prepareExisting("delete-network", (name) => ({ name })),
  plan: planStopOrDelete("delete-network"),
});
