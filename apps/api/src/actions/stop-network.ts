/** stop-network at the API: the network indexed and active, its host online; its dry run answers NETWORK_IN_USE while something is attached. */
import { planStopOrDelete } from "../dry-run";
import { prepareExisting } from "../job-preparers";
import { apiHalf } from "./half";

export const stopNetwork = apiHalf("stop-network", {
  prepare: prepareExisting("stop-network", (name) => ({ name })),
  plan: planStopOrDelete("stop-network"),
});
