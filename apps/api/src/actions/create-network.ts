/** create-network at the API: placement and the name/subnet claim; its dry run plans the definition. */
import { assertAllowedSubnet, subnetOfBody } from "@netforge/core/contract";
import { planCreate } from "../dry-run";
import { prepareCreate } from "../job-preparers";
import type { ApiHalf } from "./half";

export const createNetwork: ApiHalf<"create-network"> = {
  // The operator's subnet pools (NETFORGE_ALLOWED_CIDRS), for the types that take a subnet (the type's schema says).
  admit: (s, body) => {
    const subnet = subnetOfBody(body);
    if (subnet !== null) assertAllowedSubnet(subnet, s.config.allowedCidrs);
  },
  prepare: prepareCreate,
  plan: planCreate,
};
