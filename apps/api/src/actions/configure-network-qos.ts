/** configure-network-qos at the API: a change checked at the door against the published spec; its dry run is the planned change. */
import { planOfChange } from "../dry-run";
import { prepareChange } from "../job-preparers";
import { apiHalf } from "./half";

export const configureNetworkQos = apiHalf("configure-network-qos", {
  prepare: prepareChange("configure-network-qos", {
    // The parsed body is the payload (the action route took dryRun off).
    payloadOf: (body) => body,
    withoutAddressing: "no bandwidth limits of netforge's here (sriov: VF rate limits are the NIC's own)",
  }),
  plan: planOfChange,
});
