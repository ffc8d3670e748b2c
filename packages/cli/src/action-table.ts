/**
 * What the CLI needs of the API's action table: each action's name, kind, role, summary, command words and
 * its request body as JSON Schema (the flags are made from it). Computed from core's ACTIONS here; the
 * compiled command (scripts/build.ts, dist/netforge.js) gets this module replaced by the table computed at
 * build time, so it carries neither zod nor core's schemas and starts faster. Export nothing else from here
 * (the replacement exports actionTable only).
 */
import { ACTIONS, type ActionDef } from "@netforge/core/contract";
import { z } from "zod";

export interface ActionEntry {
  name: string;
  kind: "job" | "query";
  role: string;
  summary: string;
  cli: string[];
  /** It removes something for good: the CLI asks on a terminal before sending it. */
  irreversible: boolean;
  /** The request body as JSON Schema (input side). */
  schema: Record<string, unknown>;
}

let table: ActionEntry[] | null = null;

export function actionTable(): ActionEntry[] {
  table ??= (Object.entries(ACTIONS) as [string, ActionDef][]).map(([name, d]) => ({
    name,
    kind: d.kind,
    role: d.role,
    summary: d.summary,
    cli: [...d.cli],
    irreversible: d.irreversible === true,
    schema: z.toJSONSchema(d.body, { io: "input", unrepresentable: "any" }) as Record<string, unknown>,
  }));
  return table;
}
