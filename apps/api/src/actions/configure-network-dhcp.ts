/** configure-network-dhcp at the API: a change checked at the door against the published spec; its dry run is the planned change. */
import { changeOf } from "@netforge/core/model";
import { planOfChange } from "../dry-run";
import { prepareConfigure } from "../job-preparers";
import { apiHalf } from "./half";

export const configureNetworkDhcp = apiHalf("configure-network-dhcp", {
  // The parsed body is the payload (the action route took dryRun off).
  prepare: prepareConfigure(
    "configure-network-dhcp",
    (body) => body,
    (payload) => changeOf("configure-network-dhcp", payload),
  ),
  plan: planOfChange,
});
