/** The host registry as clients see it. */
import { listHosts, toHostView } from "@netforge/core/store";
import { Hono } from "hono";
import type { AppEnv, Services } from "../context";
import { actionRoute } from "./action-route";

export function hostRoutes(s: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  actionRoute(app, "list-hosts", async (c) => {
    const now = Date.now();
    return c.json({ hosts: (await listHosts(s.redis, s.keys)).map((h) => toHostView(h, now)) });
  });
  return app;
}
