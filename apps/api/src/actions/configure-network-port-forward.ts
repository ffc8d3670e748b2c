/** configure-network-port-forward at the API: nat only, the host port free on the host and claimed in the commit. */
import { planOfChange } from "../dry-run";
import { preparePortForward } from "../job-preparers";
import { apiHalf } from "./half";

export const configureNetworkPortForward = apiHalf("configure-network-port-forward", { prepare: preparePortForward, plan: planOfChange });
