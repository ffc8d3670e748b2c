/**
 * Every action of the API, one definition each (jobs.ts, queries.ts). The routes, the OpenAPI document, the
 * CLI's commands, the job catalog (JOB_ACTIONS, JOB_STEPS, JobPayloads) and the worker's payload checks are
 * all derived from these definitions; the API's and the worker's halves of each job action are keyed by them.
 * Adding an action: see docs/actions.md.
 */
import { validationError } from "../schemas/network";
import { type ActionDef, DryRunFlag } from "./define";
import { JOB_DEFINITIONS } from "./jobs";
import { QUERY_DEFINITIONS } from "./queries";

export * from "./changes";
export * from "./define";
export * from "./jobs";
export * from "./queries";

/**
 * Every action of the API: the job definitions, then the queries (the order the OpenAPI document and the CLI's
 * help list them). Derived: an action is written down once, in jobs.ts or queries.ts.
 */
export const ACTIONS = { ...JOB_DEFINITIONS, ...QUERY_DEFINITIONS } satisfies Record<string, ActionDef>;
export type ActionName = keyof typeof ACTIONS;

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
