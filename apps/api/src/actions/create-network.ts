/** create-network at the API: placement and the name/subnet claim; its dry run plans the definition. */
import { randomUUID } from "node:crypto";
import { AppError, assertAllowedSubnet, IMPLEMENTED_TYPES, resolveCreate, subnetOfBody } from "@netforge/core/contract";
import { planCreate } from "../dry-run";
import { placeAndClaim } from "../job-preparers";
import { apiHalf } from "./half";

export const createNetwork = apiHalf("create-network", {
  // The operator's subnet pools (NETFORGE_ALLOWED_CIDRS), for the types that take a subnet (the type's schema says).
  admit: (s, body) => {
    const subnet = subnetOfBody(body);
    if (subnet !== null) assertAllowedSubnet(subnet, s.config.allowedCidrs);
  },
  async prepare(redis, keys, body, commit, opts = {}) {
    const spec = resolveCreate(body);
    if (!IMPLEMENTED_TYPES.has(spec.type)) {
      throw new AppError(
        "UNSUPPORTED_FOR_TYPE",
        `network type '${spec.type}' is not supported by this version (supported: ${[...IMPLEMENTED_TYPES].join(", ")})`,
        { type: spec.type, supported: [...IMPLEMENTED_TYPES] },
      );
    }
    const { requestedHost: _requested, ...resolved } = spec;
    const uuid = randomUUID();
    await placeAndClaim(
      redis,
      keys,
      spec,
      async (claim) => {
        const host = claim.target as string;
        await commit({ network: spec.name, host, payload: { ...resolved, uuid, host, createdAt: new Date().toISOString() }, claim });
      },
      opts.checkOnly === true,
    );
  },
  plan: planCreate,
});
