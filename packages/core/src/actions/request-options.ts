/**
 * What a job action's request carries beside its body: `dryRun` and `expectPlan`, read in one place.
 *
 * Part of the client contract.
 */
import { validationError } from "../schemas/network";
import { DryRunFlag } from "./define";

/** How a job action is to be run, beside its body: previewed (`dryRun`), or only as the plan previewed (`expectPlan`). */
export interface JobRequestOptions {
  dryRun: boolean;
  /** The `planHash` of a dry run: the worker, planning again under the network's lock, runs only that plan. */
  expectPlan: string | null;
}

const PLAN_HASH = /^[0-9a-f]{32}$/;

/**
 * A job action's request as sent: its `dryRun` flag (validated: a boolean), its `expectPlan` (a dry run's
 * `planHash`) and the rest, its body. The one place both are read; the body schemas are parsed without them
 * and no payload ever carries them.
 */
export function splitDryRun(raw: Record<string, unknown>): JobRequestOptions & { rest: Record<string, unknown> } {
  const { dryRun, expectPlan, ...rest } = raw;
  let flag = false;
  if ("dryRun" in raw) {
    const parsed = DryRunFlag.safeParse(dryRun);
    if (!parsed.success || parsed.data === undefined) throw validationError([{ path: "dryRun", message: "must be true or false" }]);
    flag = parsed.data;
  }
  if (expectPlan !== undefined && (typeof expectPlan !== "string" || !PLAN_HASH.test(expectPlan))) {
    throw validationError([{ path: "expectPlan", message: "must be the planHash of a dry run (32 lower-case hex digits)" }]);
  }
  return { dryRun: flag, expectPlan: typeof expectPlan === "string" ? expectPlan : null, rest };
}
