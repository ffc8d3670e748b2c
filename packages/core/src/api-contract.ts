/**
 * Roles, and the action table: every `POST /api/<action>` with its body schema, the role it needs and whether
 * it runs as a job. The table is built from the action definitions (actions/); routes, OpenAPI and the job
 * catalog are all driven from it.
 */
export { ACTIONS, type ActionDef, type ActionName } from "./actions/index";

/** Roles, weakest first; each includes the ones before it. */
export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** True when `have` is at least `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** An action answered synchronously from the cluster index. */
export type { QueryDefinition as QueryAction, JobDefinition as JobActionDef } from "./actions/define";
