/** Bearer-token authentication, role checks and the per-token rate limit for /api/*. */
import { AppError, type Role, roleAllows } from "@netforge/core";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";
import type { TokenBucketRateLimiter } from "./rate-limiter";

/** Routes an EventSource may open: it cannot send headers, so they also take `?access_token=`. */
export function isSseRoute(method: string, path: string): boolean {
  return method === "GET" && (path === "/api/events" || /^\/api\/jobs\/[^/]+\/events$/.test(path));
}

/** The token of a request: `Authorization: Bearer`, or `access_token` on SSE routes. */
function presentedToken(authorization: string | undefined, queryToken: string | undefined, sse: boolean): string | null {
  if (authorization !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return m ? (m[1] as string) : null;
  }
  if (sse && queryToken) return queryToken;
  return null;
}

/** Authenticate, then rate-limit by token. */
export function bearerAuth(tokens: Map<string, Role>, limiter: TokenBucketRateLimiter): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const auth = c.req.header("Authorization");
    const sse = isSseRoute(c.req.method, c.req.path);
    const token = presentedToken(auth, sse ? c.req.query("access_token") : undefined, sse);
    if (token === null) {
      throw new AppError("UNAUTHORIZED", "missing bearer token (Authorization: Bearer <token>)", {
        reason: auth === undefined ? "missing_token" : "malformed_authorization",
      });
    }
    const role = tokens.get(token);
    if (role === undefined) throw new AppError("UNAUTHORIZED", "unknown or revoked token", { reason: "invalid_token" });
    const decision = limiter.take(token);
    if (!decision.allowed) {
      throw new AppError("RATE_LIMITED", `too many requests: retry in ${decision.retryAfterSeconds} s`, {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
    c.set("token", token);
    c.set("role", role);
    await next();
  };
}

/** Refuse with FORBIDDEN unless the caller's role includes `need`. */
export function requireRole(need: Role, what: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const role = c.get("role");
    if (!roleAllows(role, need)) {
      throw new AppError("FORBIDDEN", `role '${role}' may not ${what} (needs '${need}')`, { role, required: need });
    }
    await next();
  };
}
