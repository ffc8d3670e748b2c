/** create-network on the host; a create that failed for good gives its name and subnet back. */
import { getNetwork, releaseNetworkClaim, releaseVni, removeNetwork } from "@netforge/core/store";
import { createNetwork as run } from "../handlers/create-network";
import { workerHalf } from "./half";

export const createNetwork = workerHalf("create-network", {
  run,
  async onFinalFailure(host, network) {
    // The create job itself writes the index record only on success, but a reconcile may have indexed the
    // half-made network meanwhile (the start-up reconcile after a crash mid-create, or a periodic one while
    // it was defined). Libvirt no longer has it (undone), so drop that record now, under the network lock,
    // instead of leaving a ghost network in list/describe until the next reconcile.
    try {
      if ((await host.virsh.info(network)) === null) {
        const rec = await getNetwork(host.redis, host.keys, network);
        if (rec?.host === host.hostId) await removeNetwork(host.redis, host.keys, network);
      }
    } catch (e) {
      host.logger.warn({ err: e, network }, "could not check for a stale index record; the next reconcile removes it");
    }
    // A failed create gives its name and subnet back so a corrected request can be accepted.
    await releaseNetworkClaim(host.redis, host.keys, network, host.hostId);
    // An overlay's VXLAN id, unless a network of that name exists (then the id is that one's).
    if ((await getNetwork(host.redis, host.keys, network)) === null) await releaseVni(host.redis, host.keys, network);
  },
});
