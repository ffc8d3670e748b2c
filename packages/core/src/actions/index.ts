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

/**
 * A job action's request as sent: its `dryRun` flag (validated: a boolean) and the rest, its body. The one
 * place `dryRun` is read; the body schemas are parsed without it and no payload ever carries it.
 */
export function splitDryRun(raw: Record<string, unknown>): { dryRun: boolean; rest: Record<string, unknown> } {
  if (!("dryRun" in raw)) return { dryRun: false, rest: raw };
  const { dryRun, ...rest } = raw;
  const flag = DryRunFlag.safeParse(dryRun);
  if (!flag.success || flag.data === undefined) throw validationError([{ path: "dryRun", message: "must be true or false" }]);
  return { dryRun: flag.data, rest };
}
