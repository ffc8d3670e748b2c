/** Redis connections from REDIS_URL, including unix sockets (how sandbox workers reach Redis from inside their namespace). */
import { Redis, type RedisOptions } from "ioredis";

/**
 * Connection options for a REDIS_URL. Accepts `redis://[:pass@]host:port/db`,
 * `rediss://…`, and `unix:///path/to/redis.sock[?db=N]` (a unix socket works
 * across network namespaces, which a TCP loopback address does not).
 */
export function redisOptionsFromUrl(url: string): RedisOptions {
  if (url.startsWith("unix://")) {
    const u = new URL(url);
    const db = Number(u.searchParams.get("db") ?? "0");
    return { path: decodeURIComponent(u.pathname), db };
  }
  const u = new URL(url);
  const opts: RedisOptions = {
    host: u.hostname || "127.0.0.1",
    port: u.port ? Number(u.port) : 6379,
    db: u.pathname && u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
  };
  if (u.password) opts.password = decodeURIComponent(u.password);
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.protocol === "rediss:") opts.tls = {};
  return opts;
}

/** A new ioredis client. `maxRetriesPerRequest: null` is what BullMQ requires for its blocking connections. */
export function connectRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis({ ...redisOptionsFromUrl(url), maxRetriesPerRequest: null, lazyConnect: false, ...extra });
}

export type { Redis };
