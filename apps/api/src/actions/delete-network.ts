/** delete-network at the API: the network indexed, its host online; its dry run answers NETWORK_IN_USE while something is attached. */
import { planStopOrDelete } from "../dry-run";
import { existingNetwork } from "../job-preparers";
import { apiHalf } from "./half";

export const deleteNetwork = apiHalf("delete-network", {
  async prepare(redis, keys, body, commit) {
    const { net } = await existingNetwork(redis, keys, body.name);
    await commit({ network: net.name, host: net.host, payload: { name: net.name }, claim: null });
  },
  plan: planStopOrDelete("delete-network"),
});
