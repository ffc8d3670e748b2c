/**
 * The addresses this host must keep reaching (see core's net/protected.ts):
 * the next hops of its routes in every table, the Redis it is connected to,
 * its DNS resolvers and the addresses the API published. The host's route to
 * any of them (what `ip route get` would answer) leaves through one of those
 * next hops, or through an interface subnet or route already counted as
 * occupied, so protecting the next hops and the addresses themselves covers
 * the way there.
 */
import { readFile } from "node:fs/promises";
import { isIPv4 } from "node:net";
import type { ProtectedAddress } from "@netforge/core/contract";
import { type Redis, readApiAddresses } from "@netforge/core/store";
import type { HostContext } from "../context";
import type { HostRoute } from "./ip";

/** Where the resolvers are read when NETFORGE_RESOLV_CONF does not say. */
export const DEFAULT_RESOLV_CONF = "/etc/resolv.conf";

/** The IPv4 `nameserver` lines of a resolv.conf text. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const ip = m?.[1];
    if (ip && isIPv4(ip) && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/** The next hops of the host's routes (every table), except those through `excludeDevices` (networks' bridges). */
export function nextHopsOf(routes: HostRoute[], excludeDevices: ReadonlySet<string>): ProtectedAddress[] {
  const out: ProtectedAddress[] = [];
  for (const r of routes) {
    if (r.dev && excludeDevices.has(r.dev)) continue;
    const route = r.dst === "default" ? "default route" : `route to ${r.dst}`;
    const where = `${r.dev ? ` via ${r.dev}` : ""}${r.table ? `, table ${r.table}` : ""}`;
    for (const ip of r.gateways ?? []) out.push({ ip, what: `next hop of this host's ${route}${where}` });
  }
  return out;
}

/** An IPv4 peer address of a socket ("::ffff:a.b.c.d" unwrapped); null for unix sockets, IPv6 and loopback. */
export function peerIPv4(address: string | undefined | null): string | null {
  if (!address) return null;
  const ip = address.startsWith("::ffff:") ? address.slice(7) : address;
  return isIPv4(ip) && !ip.startsWith("127.") ? ip : null;
}

/** Last peer address seen per Redis client: a reconnecting client has no socket for a moment. */
const lastRedisPeer = new WeakMap<Redis, string>();

/** The address this worker's Redis connection goes to (null over a unix socket or loopback). */
export function redisPeer(redis: Redis): string | null {
  // ioredis types the socket as always there; it is not before the first connect (nor while reconnecting).
  const stream: { remoteAddress?: string } | undefined = redis.stream;
  const ip = peerIPv4(stream?.remoteAddress);
  if (ip) lastRedisPeer.set(redis, ip);
  return ip ?? lastRedisPeer.get(redis) ?? null;
}

/**
 * The endpoints this host must keep reaching, read now: its Redis, the API's published addresses, its DNS
 * resolvers (next hops come from the routes, with the rest of the host read).
 */
export async function readProtectedEndpoints(ctx: Pick<HostContext, "redis" | "keys" | "resolvConf">): Promise<ProtectedAddress[]> {
  const out: ProtectedAddress[] = [];
  const redis = redisPeer(ctx.redis);
  if (redis) out.push({ ip: redis, what: "this host's Redis" });
  for (const ip of await readApiAddresses(ctx.redis, ctx.keys)) {
    if (peerIPv4(ip)) out.push({ ip, what: "the netforge API" });
  }
  const file = ctx.resolvConf ?? DEFAULT_RESOLV_CONF;
  const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return "";
    throw err;
  });
  for (const ip of parseResolvConf(text)) if (peerIPv4(ip)) out.push({ ip, what: `a DNS resolver of this host (${file})` });
  return out;
}
