/**
 * configure-network-mtu at the API: a change checked at the door against the published spec (on an overlay also
 * against every member's underlay MTU, as a create is: 400 naming the host); its dry run is the planned change,
 * with every member's part on an overlay.
 */
import { validationError } from "@netforge/core/contract";
import { overlayMtuIssues } from "@netforge/core/model";
import { getHost } from "@netforge/core/store";
import { planOfChange } from "../dry-run";
import { prepareChange } from "../job-preparers";
import { apiHalf } from "./half";

export const configureNetworkMtu = apiHalf("configure-network-mtu", {
  prepare: prepareChange("configure-network-mtu", {
    // The parsed body is the payload (the action route took dryRun off).
    payloadOf: (body) => body,
    withoutAddressing: "its MTU is the LAN's own, not netforge's to set",
    // An overlay's frames cross every member's underlay with 50 bytes of VXLAN: the MTU must fit each (the members'
    // own records: their workers publish the underlay with its MTU; each is online, existingNetwork checked).
    check: async (redis, keys, net, payload) => {
      const ids = net.overlay?.hosts.map((m) => m.id) ?? [];
      if (ids.length === 0) return;
      const records = await Promise.all(ids.map((id) => getHost(redis, keys, id)));
      const issues = overlayMtuIssues(
        net.name,
        payload.mtu,
        ids.map((id, i) => {
          const h = records[i];
          return { id, underlayMtu: h?.underlay?.mtu ?? null, ...(h?.underlayProblem ? { underlayProblem: h.underlayProblem } : {}) };
        }),
      );
      if (issues.length > 0) throw validationError(issues);
    },
  }),
  plan: planOfChange,
});
