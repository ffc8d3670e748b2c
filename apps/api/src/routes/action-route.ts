/** Registers `POST /api/<action>` from the ACTIONS table: role check, JSON body, schema parse. */
import { ACTIONS, type ActionName, parseOrThrow, validationError } from "@netforge/core/contract";
import type { Context, Hono } from "hono";
import type { z } from "zod";
import { requireRole } from "../auth";
import type { AppEnv } from "../context";
import { readJsonObject } from "../json-body";

/** The parsed body of an action. */
export type ActionBody<N extends ActionName> = z.infer<(typeof ACTIONS)[N]["body"]>;

/** Handler of one action: parsed body plus the body as sent. */
export type ActionHandler<N extends ActionName> = (
  c: Context<AppEnv>,
  body: ActionBody<N>,
  raw: Record<string, unknown>,
) => Promise<Response>;

/** Actions registered so far, so createApp can prove every ACTIONS entry has a route. */
export const registeredActions = new WeakMap<Hono<AppEnv>, Set<ActionName>>();

export function actionRoute<N extends ActionName>(app: Hono<AppEnv>, name: N, handler: ActionHandler<N>): void {
  const def = ACTIONS[name];
  app.post(`/api/${name}`, requireRole(def.role, name), async (c) => {
    const raw = await readJsonObject(c);
    // Every mutating action takes "dryRun" (API.md); it is not part of the action's own schema.
    let dryRun: boolean | undefined;
    let input: Record<string, unknown> = raw;
    if (def.kind === "job" && "dryRun" in raw) {
      const { dryRun: d, ...rest } = raw;
      if (typeof d !== "boolean") throw validationError([{ path: "dryRun", message: "must be true or false" }]);
      dryRun = d;
      input = rest;
    }
    const parsed = parseOrThrow(def.body, input) as ActionBody<N>;
    const body = (dryRun === undefined ? parsed : { ...parsed, dryRun }) as ActionBody<N>;
    return handler(c, body, raw);
  });
  const set = registeredActions.get(app) ?? new Set<ActionName>();
  set.add(name);
  registeredActions.set(app, set);
}
