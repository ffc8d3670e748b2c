/** Test helper: the change a configure action's request body asks for, as the product makes it. */
import { type ConfigureAction, changeOf, JOB_DEFS } from "../../actions/jobs";
import type { NetworkChange } from "../../actions/changes";

/**
 * The body (a network name added when it has none) parsed as the action's payload by its definition, then
 * the definition's change of it; throws the payload parser's issues for a body it refuses.
 */
export function changeOfBody<A extends ConfigureAction>(action: A, body: Record<string, unknown>): NetworkChange {
  const parsed = JOB_DEFS[action].payload({ name: "web", ...body });
  if (!parsed.ok) throw new Error(`payload refused: ${JSON.stringify(parsed.issues)}`);
  return changeOf(action, parsed.value);
}
