/** delete-network at the API: the network indexed, its host online; its dry run answers NETWORK_IN_USE while something is attached. */
import { planDelete, withMemberParts } from "@netforge/core/model";
import { getHost } from "@netforge/core/store";
import { answer, inventoryFacts, stoppable } from "../dry-run";
import { existingNetwork } from "../job-preparers";
import { apiHalf } from "./half";

export const deleteNetwork = apiHalf("delete-network", {
  async prepare(redis, keys, body, commit) {
    const { net } = await existingNetwork(redis, keys, body.name);
    await commit({ network: net.name, host: net.host, payload: { name: net.name }, claim: null });
  },
  // The teardown a created bridge's NIC gets, from the inventory.
  async plan(s, prepared) {
    const [{ active, spec, firewall }, hostRec] = await Promise.all([
      stoppable(s, prepared, "delete"),
      getHost(s.redis, s.keys, prepared.host),
    ]);
    const net = { active, autostart: false, xml: "", forwardMode: null, firewall };
    // With each other member's part of an overlay (one job step per host, as the job reports them).
    const plan = withMemberParts(planDelete(spec, prepared.network, net, inventoryFacts(hostRec)), spec, "delete-network", {
      active,
      autostart: false,
    });
    return answer(prepared.host, plan);
  },
});
