/**
 * GET /api/whoami: the role of the token that asks. A client (the web console) shows what the role may do
 * (an admin's link to /admin/queues) without trying actions to find out; the token itself is never echoed.
 */
import { Hono } from "hono";
import { requireRole } from "../auth";
import type { AppEnv } from "../context";

export function whoamiRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/api/whoami", requireRole("viewer", "read its role"), (c) => c.json({ role: c.get("role") }));
  return app;
}
