/** create-network at the API: placement and the name/subnet claim; its dry run plans the definition. */
import { assertAllowedSubnet } from "@netforge/core/contract";
import { planCreate } from "../dry-run";
import { prepareCreate } from "../job-preparers";
import { apiHalf } from "./half";

export const createNetwork = apiHalf("create-network", {
  // The operator's subnet pools (NETFORGE_ALLOWED_CIDRS), for the types that take a subnet.
  admit: (s, body) => {
    if ("cidr" in body) assertAllowedSubnet(body.cidr, s.config.allowedCidrs);
  },
  prepare: prepareCreate,
  plan: planCreate,
});
