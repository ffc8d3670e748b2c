/** start-network at the API: the network indexed and inactive, its host online. */
import { AppError } from "@netforge/core/contract";
import { planStart, withMemberParts } from "@netforge/core/model";
import { getHost, getNetworkSpec } from "@netforge/core/store";
import { answer, inventoryFacts } from "../dry-run";
import { existingNetwork, refuseState } from "../job-preparers";
import { apiHalf } from "./half";

export const startNetwork = apiHalf("start-network", {
  async prepare(redis, keys, body, commit) {
    const { net } = await existingNetwork(redis, keys, body.name);
    refuseState(net, "active");
    await commit({ network: net.name, host: net.host, payload: { name: net.name }, claim: null });
  },
  // From the spec and the inventory the network's worker published.
  async plan(s, prepared) {
    const { host, network: name } = prepared;
    const [spec, hostRec] = await Promise.all([getNetworkSpec(s.redis, s.keys, name), getHost(s.redis, s.keys, host)]);
    if (!spec) {
      throw new AppError("INVALID_STATE", `the worker of host ${host} has not published network '${name}' yet; retry shortly`, {
        name,
        retryable: true,
      });
    }
    // A published spec is one netforge renders (forward mode 'open'): nothing to redefine first.
    const net = { active: false, autostart: false, xml: "", forwardMode: "open", firewall: null };
    // With each other member's part of an overlay (one job step per host, as the job reports them).
    const plan = withMemberParts(planStart(spec, net, inventoryFacts(hostRec), host), spec, "start-network", {
      active: true,
      autostart: false,
    });
    return answer(host, plan);
  },
});
