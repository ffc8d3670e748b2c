/** configure-network-dns at the API: a change checked at the door against the published spec; its dry run is the planned change. */
import { planOfChange } from "../dry-run";
import { prepareChange } from "../job-preparers";
import { apiHalf } from "./half";

export const configureNetworkDns = apiHalf("configure-network-dns", {
  prepare: prepareChange("configure-network-dns", {
    // The parsed body is the payload (the action route took dryRun off).
    payloadOf: (body) => body,
    withoutAddressing: "no DNS server of netforge's to configure",
  }),
  plan: planOfChange,
});
