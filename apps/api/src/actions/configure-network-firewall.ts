/** configure-network-firewall at the API: a change checked at the door against the published spec and the host's rule cap; its dry run is the planned change. */
import { planOfChange } from "../dry-run";
import { prepareChange } from "../job-preparers";
import { apiHalf } from "./half";

export const configureNetworkFirewall = apiHalf("configure-network-firewall", {
  prepare: prepareChange("configure-network-firewall", {
    // The parsed body is the payload (the action route took dryRun off).
    payloadOf: (body) => body,
    hostRules: true,
    withoutAddressing: "netforge manages no firewall for it",
  }),
  plan: planOfChange,
});
