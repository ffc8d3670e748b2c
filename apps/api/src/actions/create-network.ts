/** create-network at the API: placement and the name/subnet claim; its dry run plans the definition. */
import { planCreate } from "../dry-run";
import { prepareCreate } from "../job-preparers";
import type { ApiHalf } from "./half";

export const createNetwork: ApiHalf<"create-network"> = { prepare: prepareCreate, plan: planCreate };
