/**
 * Redis connections from REDIS_URL, including unix sockets (how sandbox
 * workers reach Redis from inside their namespace), and the two ways netforge
 * uses them: background work that waits out an outage (workers, the API's
 * event subscriber) and request work that must fail fast instead.
 */
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

/**
 * A new ioredis client for background work: reconnects forever and queues
 * commands while disconnected. `maxRetriesPerRequest: null` is what BullMQ
 * requires for its blocking connections.
 */
export function connectRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis({ ...redisOptionsFromUrl(url), maxRetriesPerRequest: null, lazyConnect: false, ...extra });
}

/**
 * A client for request work, made from any client's connection settings:
 * every command is bounded by `timeoutMs`, nothing waits in an offline queue
 * once the first connection was made (a command while disconnected fails at
 * once), and commands in flight when the connection drops are failed, never
 * re-sent after a reconnect. Until the first connection is up, commands wait
 * for that one attempt only (`maxRetriesPerRequest: 0`), so a request that
 * arrives during startup is not refused for nothing.
 */
export function requestRedisClient(base: Redis, timeoutMs: number): Redis {
  const client = base.duplicate({
    commandTimeout: timeoutMs,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: false,
  });
  client.once("ready", () => {
    client.options.enableOfflineQueue = false;
  });
  return client;
}

/** Messages of ioredis (and Redis) errors that mean "the store cannot be reached right now", not a bug. */
const UNAVAILABLE_MESSAGES = [
  "Command timed out",
  "Stream isn't writeable",
  "Connection is closed",
  "Reached the max retries per request limit",
  "connect ECONNREFUSED",
  "connect ENOENT",
  "connect ETIMEDOUT",
  "read ECONNRESET",
  "write EPIPE",
  "LOADING ",
  "BUSY ",
  "MASTERDOWN ",
  "TRYAGAIN ",
  "CLUSTERDOWN ",
];

/** True when `err` says Redis is unreachable, paused, loading or busy (answered as 503 UNAVAILABLE). */
export function isRedisUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === "MaxRetriesPerRequestError") return true;
  return UNAVAILABLE_MESSAGES.some((m) => err.message.startsWith(m) || err.message.includes(`: ${m}`));
}

/** Redis's own clock in milliseconds (TIME): the one clock deadlines checked inside Lua scripts are measured by. */
export async function redisTimeMs(redis: Redis): Promise<number> {
  const [sec, usec] = await redis.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}

/** The logger calls outage reporting needs (pino's shape). */
export interface OutageLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Log an outage of Redis once when it starts and once when it ends, instead
 * of once per reconnect attempt (ioredis keeps retrying in the background).
 * Several clients of one process share the watch: the outage starts when the
 * first of them loses its connection and ends when all are ready again.
 */
export function watchRedisOutage(clients: Redis[], logger: OutageLogger, what: string): { readonly down: boolean } {
  const lostClients = new Set<Redis>();
  let downSince: number | null = null;
  const lost = (client: Redis, reason: string) => {
    lostClients.add(client);
    if (downSince !== null) return;
    downSince = Date.now();
    logger.warn({ redis: what, reason }, "redis unavailable; retrying in the background (logged once until it is back)");
  };
  for (const client of clients) {
    // Connection errors arrive while (re)connecting; "reconnecting" follows every unplanned close (never quit()).
    client.on("error", (err: Error) => {
      if (client.status !== "ready") lost(client, err.message);
    });
    client.on("reconnecting", () => lost(client, "connection lost"));
    client.on("ready", () => {
      lostClients.delete(client);
      if (downSince === null || lostClients.size > 0) return;
      logger.info({ redis: what, downMs: Date.now() - downSince }, "redis is back");
      downSince = null;
    });
  }
  return {
    get down() {
      return downSince !== null;
    },
  };
}

export type { Redis };
