/**
 * Bearer-token authentication, role checks, the per-token rate limit and the
 * limit of failed authentications per client address for /api/*.
 */
import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";
import { AppError, type Role, roleAllows } from "@netforge/core/contract";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";
import type { TokenBucketRateLimiter } from "./rate-limiter";
import type { TokenTable } from "./tokens";

/** `::ffff:1.2.3.4` as `1.2.3.4`; anything else unchanged. */
function unmapped(addr: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr)?.[1] ?? addr;
}

/**
 * NETFORGE_TRUSTED_PROXIES: the addresses and CIDRs of reverse proxies whose
 * X-Forwarded-For is believed. Empty (the default): nobody's is.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly entries: readonly string[];

  /** Throws naming the first entry that is not an IPv4/IPv6 address or CIDR. */
  constructor(entries: readonly string[] = []) {
    this.entries = entries;
    for (const raw of entries) {
      const [addr = "", bits, extra] = raw.split("/");
      const family = isIP(addr);
      const max = family === 4 ? 32 : 128;
      if (family === 0 || extra !== undefined || (bits !== undefined && !/^\d{1,3}$/.test(bits)) || Number(bits ?? 0) > max) {
        throw new Error(`NETFORGE_TRUSTED_PROXIES: '${raw}' is not an IPv4/IPv6 address or CIDR`);
      }
      const type = family === 4 ? "ipv4" : "ipv6";
      if (bits === undefined) this.list.addAddress(addr, type);
      else this.list.addSubnet(addr, Number(bits), type);
    }
  }

  /** Parse the variable: addresses/CIDRs separated by commas and/or spaces. */
  static parse(text: string | undefined): TrustedProxies {
    return new TrustedProxies((text ?? "").split(/[\s,]+/).filter((e) => e !== ""));
  }

  has(addr: string): boolean {
    if (this.entries.length === 0) return false;
    const a = unmapped(addr);
    const family = isIP(a);
    return family !== 0 && this.list.check(a, family === 4 ? "ipv4" : "ipv6");
  }
}

/**
 * The client's address: the TCP peer, unless the peer is a trusted proxy;
 * then the right-most X-Forwarded-For address that is not a trusted proxy
 * (each proxy appends the address it was connected from, so everything left
 * of the first untrusted hop is whatever the client chose to send). When
 * every hop is trusted, the left-most; an entry that is not an address ends
 * the walk at the last trusted hop. Undefined without a socket.
 */
export function resolveClientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: TrustedProxies,
): string | undefined {
  if (peer === undefined || !trusted.has(peer) || !forwardedFor) return peer === undefined ? undefined : unmapped(peer);
  let client = unmapped(peer);
  const hops = forwardedFor.split(",").map((h) => h.trim());
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = unmapped(hops[i] as string);
    if (isIP(hop) === 0) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

/** The TCP peer of a request (undefined without a socket: in-process tests). */
export function peerAddress(c: Context<AppEnv>): string | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.remoteAddress;
}

/**
 * The client address failed authentications are counted against: the
 * client address the first middleware resolved (resolveClientAddress: the TCP
 * peer, or X-Forwarded-For from a trusted proxy only). IPv4-mapped IPv6
 * addresses count as their IPv4 address, and IPv6 clients by their /64, since
 * one client usually holds a whole /64. Requests without a socket (in-process
 * tests) share the key "local".
 */
export function clientAddressKey(c: Context<AppEnv>): string {
  const addr = c.get("clientAddress") ?? peerAddress(c);
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
 * Authenticate, then rate-limit by token. Only requests without a known token
 * count against their address's allowance of failed authentications; once it
 * is used up they get 429 instead of 401 until the bucket refills. A known
 * token always passes: behind a proxy or NAT many users share one address,
 * and a guesser's failures must not lock them out (the tokens' length, not
 * this limit, is what makes guessing hopeless).
 */
export function bearerAuth(
  tokens: TokenTable,
  limiter: TokenBucketRateLimiter,
  authFailures: TokenBucketRateLimiter,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const address = clientAddressKey(c);
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
    const known = tokens.lookup(token);
    if (known === undefined) return fail(new AppError("UNAUTHORIZED", "unknown or revoked token", { reason: "invalid_token" }));
    const { id, role } = known;
    const decision = limiter.take(id);
    if (!decision.allowed) {
      throw new AppError("RATE_LIMITED", `too many requests: retry in ${decision.retryAfterSeconds} s`, {
        retryAfterSeconds: decision.retryAfterSeconds,
      });
    }
    c.set("token", id);
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
