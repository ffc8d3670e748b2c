/**
 * Every action of the API, one definition each (jobs.ts, queries.ts). The routes, the OpenAPI document, the
 * CLI's commands, the job catalog (JOB_ACTIONS, JOB_STEPS, JobPayloads) and the worker's payload checks are
 * all derived from these definitions; the API's and the worker's halves of each job action are keyed by them.
 * Adding an action: see docs/actions.md.
 */
import type { ActionDef } from "./define";
import { JOB_DEFINITIONS } from "./jobs";
import { QUERY_DEFINITIONS } from "./queries";

export * from "./changes";
export * from "./define";
export * from "./jobs";
export * from "./queries";
export * from "./request-options";

/**
 * Every action of the API: the job definitions, then the queries (the order the OpenAPI document and the CLI's
 * help list them). Derived: an action is written down once, in jobs.ts or queries.ts.
 */
export const ACTIONS = { ...JOB_DEFINITIONS, ...QUERY_DEFINITIONS } satisfies Record<string, ActionDef>;
export type ActionName = keyof typeof ACTIONS;
