/**
 * /admin/queues: Bull Board showing every host's BullMQ queue, for admins
 * only. A browser cannot send a bearer header with the dashboard's own
 * requests, so the token is kept in an HttpOnly, SameSite=Strict cookie scoped
 * to this path, set by `POST /api/queue-dashboard/session` (the token in the
 * Authorization header: what the web console does, no token in any URL) or,
 * for a person at a browser's address bar, by `GET
 * /admin/queues?access_token=<admin token>` (redirected to the same page
 * without the query); `Authorization: Bearer` works too. The board is read-only: retrying or
 * removing a job behind netforge's back would leave its job record and the
 * network lock out of step. The page's links to Google's web fonts are
 * removed and a Content-Security-Policy keeps it on this origin (it falls back
 * to a local font).
 */
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { serveStatic } from "@hono/node-server/serve-static";
import { AppError } from "@netforge/core/contract";
import { listHosts } from "@netforge/core/store";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { clientAddressKey, requireRole } from "../auth";
import type { AppEnv, Services } from "../context";
import type { TokenBucketRateLimiter } from "../rate-limiter";
import type { TokenTable } from "../tokens";

export const DASHBOARD_PATH = "/admin/queues";
/** Where a client with an admin token in its Authorization header gets the dashboard's cookie. */
export const SESSION_PATH = "/api/queue-dashboard/session";
const COOKIE = "netforge_dashboard";
const CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'";

function dashboardAuth(tokens: TokenTable, authFailures: TokenBucketRateLimiter): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const login = c.req.query("access_token");
    const header = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("Authorization") ?? "")?.[1];
    const token = login ?? header ?? getCookie(c, COOKIE);
    const role = token === undefined ? undefined : tokens.lookup(token)?.role;
    if (token === undefined || role === undefined) {
      // Only failures count against the address, and a known token always passes (as in bearerAuth).
      const d = authFailures.take(clientAddressKey(c));
      if (!d.allowed) {
        throw new AppError("RATE_LIMITED", `too many failed authentications from this address: retry in ${d.retryAfterSeconds} s`, {
          retryAfterSeconds: d.retryAfterSeconds,
          reason: "auth_failures",
        });
      }
      throw new AppError(
        "UNAUTHORIZED",
        `the queue dashboard needs an admin token: sign in at /console, or open ${DASHBOARD_PATH}?access_token=<token>`,
        {
          reason: token === undefined ? "missing_token" : "invalid_token",
        },
      );
    }
    if (role !== "admin")
      throw new AppError("FORBIDDEN", `role '${role}' may not open the queue dashboard (needs 'admin')`, { role, required: "admin" });
    if (login !== undefined) {
      // Keep the token out of the address bar and history: cookie, then the same page without the query.
      setCookie(c, COOKIE, login, cookieOptions(c));
      return c.redirect(DASHBOARD_PATH, 303);
    }
    await next();
    if (c.res.headers.get("content-type")?.startsWith("text/html")) {
      // The page links Google's web fonts: dropped, so the dashboard loads nothing from the internet (system font).
      const html = (await c.res.text()).replace(/<link[^>]*(fonts\.googleapis\.com|fonts\.gstatic\.com)[^>]*>\s*/g, "");
      c.res = new Response(html, { status: c.res.status, headers: c.res.headers });
    }
    c.res.headers.set("Content-Security-Policy", CSP);
    c.res.headers.set("X-Content-Type-Options", "nosniff");
  };
}

/** The cookie's attributes: this path only, no script access, never sent from another site. */
const cookieOptions = (c: Context<AppEnv>) =>
  ({
    path: DASHBOARD_PATH,
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:",
  }) as const;

/**
 * The dashboard's cookie from a bearer header (under /api/*: bearerAuth has checked the token, its rate and
 * the failed-authentication limit): POST sets it for an admin (others: 403 FORBIDDEN), DELETE clears it (a
 * console signing out). A header cannot be sent by another site's page, so no cross-site request sets it.
 */
export function queueDashboardSessionRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.post(`${SESSION_PATH}`, requireRole("admin", "open the queue dashboard"), (c) => {
    const token = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("Authorization") ?? "")?.[1];
    // bearerAuth let the request in with this header's token: it is there.
    if (token === undefined) throw new AppError("UNAUTHORIZED", "missing bearer token", { reason: "missing_token" });
    setCookie(c, COOKIE, token, cookieOptions(c));
    return c.json({ dashboard: DASHBOARD_PATH }, 200);
  });
  app.delete(`${SESSION_PATH}`, requireRole("viewer", "close the queue dashboard"), (c) => {
    deleteCookie(c, COOKIE, cookieOptions(c));
    return c.body(null, 204);
  });
  return app;
}

export function queueDashboardRoutes(s: Services, tokens: TokenTable, authFailures: TokenBucketRateLimiter): Hono<AppEnv> {
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(DASHBOARD_PATH);
  const board = createBullBoard({
    queues: [],
    serverAdapter,
    options: { uiConfig: { boardTitle: "netforge queues" } },
  });
  const shown = new Set<string>();
  /** Hosts register at any time: add the queue of each new one before answering. */
  const syncQueues: MiddlewareHandler<AppEnv> = async (_c, next) => {
    for (const h of await listHosts(s.redis, s.keys)) {
      if (shown.has(h.id)) continue;
      board.addQueue(new BullMQAdapter(s.queues.queue(h.id), { readOnlyMode: true, description: `jobs of host ${h.id}` }));
      shown.add(h.id);
    }
    await next();
  };
  const app = new Hono<AppEnv>();
  app.use(DASHBOARD_PATH, dashboardAuth(tokens, authFailures), syncQueues);
  app.use(`${DASHBOARD_PATH}/*`, dashboardAuth(tokens, authFailures), syncQueues);
  app.route(DASHBOARD_PATH, serverAdapter.registerPlugin());
  return app;
}
