/** configure-network-mtu at the API: a change checked at the door against the published spec; its dry run is the planned change. */
import { planOfChange } from "../dry-run";
import { prepareChange } from "../job-preparers";
import { apiHalf } from "./half";

export const configureNetworkMtu = apiHalf("configure-network-mtu", {
  prepare: prepareChange("configure-network-mtu", {
    // The parsed body is the payload (the action route took dryRun off).
    payloadOf: (body) => body,
    withoutAddressing: "its MTU is the LAN's own, not netforge's to set",
  }),
  plan: planOfChange,
});
