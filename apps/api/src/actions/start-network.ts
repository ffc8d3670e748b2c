/** start-network at the API: the network indexed and inactive, its host online. */
import { planStart } from "../dry-run";
import { existingNetwork, refuseState } from "../job-preparers";
import { apiHalf } from "./half";

export const startNetwork = apiHalf("start-network", {
  async prepare(redis, keys, body, commit) {
    const { net } = await existingNetwork(redis, keys, body.name);
    refuseState(net, "active");
    await commit({ network: net.name, host: net.host, payload: { name: net.name }, claim: null });
  },
  plan: planStart,
});
