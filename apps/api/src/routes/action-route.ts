/** Registers `POST /api/<action>` from the ACTIONS table: role check, JSON body, schema parse. */
import { ACTIONS, type ActionName, type JobRequestOptions, parseOrThrow, splitDryRun } from "@netforge/core/contract";
import type { Context, Hono } from "hono";
import type { z } from "zod";
import { requireRole } from "../auth";
import type { AppEnv } from "../context";
import { readJsonObject } from "../json-body";

/** The parsed body of an action. */
export type ActionBody<N extends ActionName> = z.infer<(typeof ACTIONS)[N]["body"]>;

/** Handler of one action: parsed body, the body as sent, and (job actions) the request's dryRun flag. */
export type ActionHandler<N extends ActionName> = (
  c: Context<AppEnv>,
  body: ActionBody<N>,
  raw: Record<string, unknown>,
  opts: JobRequestOptions,
) => Promise<Response>;

/** Actions registered so far, so createApp can prove every ACTIONS entry has a route. */
export const registeredActions = new WeakMap<Hono<AppEnv>, Set<ActionName>>();

export function actionRoute<N extends ActionName>(app: Hono<AppEnv>, name: N, handler: ActionHandler<N>): void {
  const def = ACTIONS[name];
  app.post(`/api/${name}`, requireRole(def.role, name), async (c) => {
    const raw = await readJsonObject(c);
    // Every mutating action takes "dryRun" and "expectPlan" (API.md) beside its body: taken off here, the one
    // place they are read.
    // If-Match (a network's version) likewise, from its header; queries ignore it.
    const { rest, ...opts } =
      def.kind === "job" ? splitDryRun(raw, c.req.header("If-Match")) : { dryRun: false, expectPlan: null, ifMatch: null, rest: raw };
    const body = parseOrThrow(def.body, rest) as ActionBody<N>;
    return handler(c, body, raw, opts);
  });
  const set = registeredActions.get(app) ?? new Set<ActionName>();
  set.add(name);
  registeredActions.set(app, set);
}
