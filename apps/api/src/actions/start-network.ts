/** start-network at the API: the network indexed and inactive, its host online. */
import { planStart } from "../dry-run";
import { prepareExisting } from "../job-preparers";
import { apiHalf } from "./half";

export const startNetwork = apiHalf("start-network", {
  prepare: prepareExisting("start-network", (name) => ({ name })),
  plan: planStart,
});
