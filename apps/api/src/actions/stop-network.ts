/** stop-network at the API: the network indexed and active, its host online; its dry run answers NETWORK_IN_USE while something is attached. */
import { planStop, withMemberParts } from "@netforge/core/model";
import { answer, stoppable } from "../dry-run";
import { existingNetwork, refuseState } from "../job-preparers";
import { apiHalf } from "./half";

export const stopNetwork = apiHalf("stop-network", {
  async prepare(redis, keys, body, commit) {
    const { net } = await existingNetwork(redis, keys, body.name);
    refuseState(net, "inactive");
    await commit({ network: net.name, host: net.host, payload: { name: net.name }, claim: null });
  },
  async plan(s, prepared) {
    const { active, firewall, spec } = await stoppable(s, prepared, "stop");
    // With each other member's part of an overlay (one job step per host, as the job reports them).
    const plan = withMemberParts(planStop(prepared.network, { active, firewall }, spec), spec, "stop-network", {
      active,
      autostart: false,
    });
    return answer(prepared.host, plan);
  },
});
