/** unassign-static-ip at the API: a change checked at the door against the published spec; its dry run is the planned change. */
import { planOfChange } from "../dry-run";
import { prepareChange } from "../job-preparers";
import { apiHalf } from "./half";

export const unassignStaticIp = apiHalf("unassign-static-ip", {
  prepare: prepareChange("unassign-static-ip", {
    // The parsed body is the payload (the action route took dryRun off).
    payloadOf: (body) => body,
    withoutAddressing: "no DHCP to configure",
  }),
  plan: planOfChange,
});
