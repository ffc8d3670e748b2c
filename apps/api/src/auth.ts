/**
 * Bearer-token authentication, role checks, the per-token rate limit and the
 * limit of failed authentications per client address for /api/*.
 */
import type { IncomingMessage } from "node:http";
import { AppError, type Role, roleAllows } from "@netforge/core";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";
import type { TokenBucketRateLimiter } from "./rate-limiter";

/**
 * The client address failed authentications are counted against: the TCP
 * peer (X-Forwarded-For is not trusted: anyone can send it). IPv4-mapped IPv6
 * addresses count as their IPv4 address, and IPv6 clients by their /64, since
 * one client usually holds a whole /64. Requests without a socket (in-process
 * tests) share the key "local".
 */
export function clientAddressKey(c: Context<AppEnv>): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const addr = incoming?.socket?.remoteAddress;
  if (!addr) return "local";
  return addressKey(addr);
}

/** Normalise an address to its limiter key (see clientAddressKey). */
export function addressKey(addr: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1] as string;
  if (!addr.includes(":")) return addr;
  const [head = "", tail] = addr.toLowerCase().split("%")[0]!.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

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

function tooManyFailures(retryAfterSeconds: number): AppError {
  return new AppError("RATE_LIMITED", `too many failed authentications from this address: retry in ${retryAfterSeconds} s`, {
    retryAfterSeconds,
    reason: "auth_failures",
  });
}

/**
 * Authenticate, then rate-limit by token. An address whose failed attempts
 * used up its allowance is refused before its token is even looked at (a
 * guesser must not learn which guess was right), until the bucket refills.
 */
export function bearerAuth(
  tokens: Map<string, Role>,
  limiter: TokenBucketRateLimiter,
  authFailures: TokenBucketRateLimiter,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const address = clientAddressKey(c);
    const blocked = authFailures.check(address);
    if (!blocked.allowed) throw tooManyFailures(blocked.retryAfterSeconds);
    const fail = (err: AppError): never => {
      const d = authFailures.take(address);
      throw d.allowed ? err : tooManyFailures(d.retryAfterSeconds);
    };
    const auth = c.req.header("Authorization");
    const sse = isSseRoute(c.req.method, c.req.path);
    const token = presentedToken(auth, sse ? c.req.query("access_token") : undefined, sse);
    if (token === null) {
      return fail(
        new AppError("UNAUTHORIZED", "missing bearer token (Authorization: Bearer <token>)", {
          reason: auth === undefined ? "missing_token" : "malformed_authorization",
        }),
      );
    }
    const role = tokens.get(token);
    if (role === undefined) return fail(new AppError("UNAUTHORIZED", "unknown or revoked token", { reason: "invalid_token" }));
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
