/**
 * configure-network-hosts at the API (issue 17): an overlay's members added and removed in one job on its
 * gateway host. At the door: the overlay and every current member online (existingNetwork), the added hosts
 * registered, online, with an underlay that carries the overlay's MTU, the lists consistent with the members
 * (core's nextOverlayMembers). With gatewayHost, the gateway moves (core's checkGatewayMove: a member, not the
 * gateway itself, alone in its request; every forwarded port free on the new gateway host). VMs on a removed host: its part refuses
 * (NETWORK_IN_USE from its bridge); a dry run answers it from what that host's worker last published. The payload carries the member list after the change with every underlay address.
 */
import { AppError } from "@netforge/core/contract";
import {
  checkGatewayMove,
  modelFor,
  nextOverlayMembers,
  type NetSpec,
  type OverlayNetSpec,
  overlayModel,
  planGatewayMove,
  planMembersChange,
} from "@netforge/core/model";
import { checkPortClaim, getNetworkSpec, getNetworkView, getOverlayParts } from "@netforge/core/store";
import { answer } from "../dry-run";
import { addedMembersAtDoor, existingNetwork } from "../job-preparers";
import { apiHalf } from "./half";

const overlayOf = (spec: NetSpec | null | undefined): OverlayNetSpec | null => (spec && overlayModel.is(spec) ? spec : null);

export const configureNetworkHosts = apiHalf("configure-network-hosts", {
  async prepare(redis, keys, body, commit) {
    const { net, spec: published } = await existingNetwork(redis, keys, body.name, { spec: true });
    // Member hosts are a type that spans hosts (its driver names the other hosts its jobs reach).
    if (!modelFor(net.type).otherHosts) {
      throw new AppError("UNSUPPORTED_FOR_TYPE", `network '${net.name}' is of type ${net.type}: only overlay networks have member hosts`, {
        name: net.name,
        type: net.type,
      });
    }
    const spec = overlayOf(published);
    if (!spec) {
      throw new AppError(
        "UNAVAILABLE",
        `the spec of network '${net.name}' is not in the index yet (its host is re-publishing it); nothing was applied: retry in a few seconds`,
        { reason: "store_rebuilding", phase: "spec", name: net.name },
      );
    }
    const add = body.add ?? [];
    const remove = body.remove ?? [];
    if (body.gatewayHost !== undefined) {
      const to = body.gatewayHost;
      checkGatewayMove(spec, to, { add, remove });
      // The forwards listen on the new gateway host's addresses: a port another network forwards there is taken.
      for (const f of spec.portForwards ?? []) {
        await checkPortClaim(redis, keys, { host: to, protocol: f.protocol, hostPort: f.hostPort, network: net.name });
      }
      await commit({
        network: net.name,
        host: net.host,
        payload: {
          name: net.name,
          add: [],
          remove: [],
          members: spec.members.map((m) => ({ ...m })),
          gateway: { from: spec.gatewayHost, to },
        },
        claim: null,
      });
      return;
    }
    // The lists against the members first (a host twice, a member added, the gateway removed), then the added hosts.
    nextOverlayMembers(spec, { add, remove }, () => "");
    const underlay = await addedMembersAtDoor(redis, keys, net.name, add, spec.mtu);
    const members = nextOverlayMembers(spec, { add, remove }, (id) => underlay[id] as string);
    await commit({
      network: net.name,
      host: net.host,
      payload: { name: net.name, add: [...add], remove: [...remove], members },
      claim: null,
    });
  },
  // Every host's part, from the gateway host's published spec (one job step per host, as the job reports them).
  async plan(s, prepared) {
    const [published, view] = await Promise.all([
      getNetworkSpec(s.redis, s.keys, prepared.network),
      getNetworkView(s.redis, s.keys, prepared.network),
    ]);
    const spec = overlayOf(published);
    if (!spec) throw new AppError("NOT_FOUND", `network '${prepared.network}' does not exist`, { name: prepared.network });
    const net = { active: view?.state === "active", autostart: view?.autostart ?? true };
    const move = prepared.payload.gateway;
    if (move) return answer(prepared.host, planGatewayMove(spec, move.to, net));
    const { remove } = prepared.payload;
    const netName = prepared.network;
    // VMs on a removed member, as that member's worker last counted them: a real call leaves it to that member's
    // part, which reads its bridge (a count published before a VM left would refuse a request that is fine now).
    if (remove.length > 0) {
      const parts = await getOverlayParts(s.redis, s.keys, netName, remove);
      for (const h of remove) {
        const vms = parts.get(h)?.connectedVms ?? 0;
        if (vms > 0) {
          throw new AppError(
            "NETWORK_IN_USE",
            `cannot remove host '${h}' from overlay '${netName}': ${vms} VM${vms === 1 ? "" : "s"} attached there; detach ${vms === 1 ? "it" : "them"} first`,
            { name: netName, host: h, connectedVms: vms },
          );
        }
      }
    }
    return answer(prepared.host, planMembersChange(spec, prepared.payload.members, net));
  },
});
