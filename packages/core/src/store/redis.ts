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
  if (url.startsWith("redis-sentinel://")) return sentinelOptionsFromUrl(url);
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
 * A Sentinel-managed Redis (high availability):
 * `redis-sentinel://[:password@]host1:26379,host2:26379,host3:26379/<master name>[?db=N&sentinelPassword=…&tls=1]`.
 * Clients ask the sentinels for the current primary, connect to it, and on a
 * failover (the connection drops, a READONLY answer from a demoted primary, or
 * sentinel's +switch-master) connect to the new one. The password is the
 * data nodes' password; sentinels have their own (sentinelPassword).
 */
function sentinelOptionsFromUrl(url: string): RedisOptions {
  const m = /^redis-sentinel:\/\/(?:([^@/]*)@)?([^/?]+)\/([^/?]+)(?:\?(.*))?$/.exec(url);
  if (!m) throw new Error("REDIS_URL: expected redis-sentinel://[:password@]host:port[,host:port…]/<master name>[?db=N]");
  const [, auth, hostList, name, query] = m;
  const sentinels = (hostList as string).split(",").map((hp) => {
    const i = hp.lastIndexOf(":");
    const host = i > 0 ? hp.slice(0, i).replace(/^\[|\]$/g, "") : hp;
    const port = i > 0 ? Number(hp.slice(i + 1)) : 26379;
    if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`REDIS_URL: bad sentinel address '${hp}'`);
    return { host, port };
  });
  const q = new URLSearchParams(query ?? "");
  const opts: RedisOptions = {
    sentinels,
    name: decodeURIComponent(name as string),
    db: Number(q.get("db") ?? "0"),
    // A demoted primary answers writes with READONLY: reconnect (through the sentinels) without re-sending the
    // command, so a write is never applied twice or after its caller gave up.
    reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 1 : false),
    // Not ioredis's failoverDetector: its disconnect on +switch-master can land while a reconnect is asking the
    // sentinels, and that connect then fails with "Connection is closed" and ends the client for good (seen in
    // test/redis-ha.test.ts). A dead primary drops our connections anyway, and a demoted one answers READONLY.
  };
  if (auth) {
    const [user, pass] = auth.includes(":") ? auth.split(":", 2) : ["", auth];
    if (user) opts.username = decodeURIComponent(user);
    if (pass) opts.password = decodeURIComponent(pass);
  }
  const sentinelPassword = q.get("sentinelPassword");
  if (sentinelPassword) opts.sentinelPassword = sentinelPassword;
  if (q.get("tls") === "1") {
    opts.tls = {};
    opts.enableTLSForSentinelMode = true;
  }
  return opts;
}

/** True for a client of a Sentinel-managed (replicated) Redis. */
export function isReplicatedRedis(redis: Redis): boolean {
  return (redis.options.sentinels?.length ?? 0) > 0;
}

/**
 * On a replicated Redis, wait (up to `timeoutMs`) until at least one replica
 * has every write this connection made so far: a write acknowledged to a
 * client must survive a failover (replication is asynchronous; a primary that
 * dies right after answering would otherwise take it along). True when a
 * replica confirmed, or when the primary has no replica connected at all (then
 * no failover can happen and the write lives or dies with the one node, as on
 * a single Redis); false when replicas are connected but none confirmed in time.
 */
export async function confirmedOnReplica(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (!isReplicatedRedis(redis)) return true;
  // WAIT blocks the whole connection (every request sharing it) until it returns: never WAIT for a replica that
  // is not there (after a failover the new primary has none until the old one comes back as its replica).
  if ((await connectedReplicas(redis)) === 0) return await sentinelsNameThisNode(redis, timeoutMs);
  if (Number(await redis.call("WAIT", "1", String(Math.max(1, Math.floor(timeoutMs))))) >= 1) return true;
  replicaCounts.delete(redis);
  return (await connectedReplicas(redis)) === 0 && (await sentinelsNameThisNode(redis, timeoutMs));
}

/**
 * A primary with no replica is alone only if the sentinels still name it: one that was paused (a long stall, a
 * frozen VM) past the failover wakes believing it is the primary, with no replica (its replica was promoted), and
 * answers writes until the sentinels demote it, which then throws those writes away. Found by the chaos run
 * (seed 2602, `redis-pause`): 29 jobs answered 202 in the second after such a wake were lost. So: the node this
 * client is on (its run_id) must be the primary the first sentinel that answers names (SENTINEL MASTER's runid);
 * no sentinel answering, or another primary named, is "not confirmed". Only on this path (no replica connected),
 * so a healthy pair pays nothing for it.
 */
async function sentinelsNameThisNode(redis: Redis, timeoutMs: number): Promise<boolean> {
  // Asked at most every REPLICA_COUNT_TTL_MS per client, like the replica count: while a new primary waits for its
  // replica, every commit would otherwise pay a sentinel connection. A "no" is never cached past that either.
  const cached = sentinelVerdicts.get(redis);
  if (cached && Date.now() - cached.at < REPLICA_COUNT_TTL_MS) return cached.named;
  const named = await askSentinels(redis, timeoutMs);
  sentinelVerdicts.set(redis, { named, at: Date.now() });
  return named;
}

const sentinelVerdicts = new WeakMap<Redis, { named: boolean; at: number }>();

async function askSentinels(redis: Redis, timeoutMs: number): Promise<boolean> {
  const o = redis.options;
  const runId = /run_id:([0-9a-f]+)/.exec(await redis.info("server"))?.[1];
  if (!runId || !o.name) return false;
  for (const s of o.sentinels ?? []) {
    const c = new Redis({
      host: s.host,
      port: s.port,
      ...(o.sentinelPassword ? { password: o.sentinelPassword } : {}),
      ...(o.enableTLSForSentinelMode ? { tls: {} } : {}),
      lazyConnect: true,
      connectTimeout: Math.max(100, timeoutMs),
      commandTimeout: Math.max(100, timeoutMs),
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    c.on("error", () => undefined);
    try {
      await c.connect();
      const fields = (await c.call("SENTINEL", "MASTER", o.name)) as string[];
      const i = fields.indexOf("runid");
      return i >= 0 && fields[i + 1] === runId;
    } catch {
      /* this sentinel is down or slow: ask the next */
    } finally {
      c.disconnect();
    }
  }
  return false;
}

/** Replicas connected to the primary, per client, re-read at most every REPLICA_COUNT_TTL_MS. */
const replicaCounts = new WeakMap<Redis, { n: number; at: number }>();
const REPLICA_COUNT_TTL_MS = 500;
async function connectedReplicas(redis: Redis): Promise<number> {
  const cached = replicaCounts.get(redis);
  if (cached && Date.now() - cached.at < REPLICA_COUNT_TTL_MS) return cached.n;
  const role = (await redis.call("ROLE")) as [string, number, unknown[]];
  const n = role[0] === "master" && Array.isArray(role[2]) ? role[2].length : 0;
  replicaCounts.set(redis, { n, at: Date.now() });
  return n;
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
    // Commands of concurrent requests issued in one tick go out in one write (one syscall, one read on Redis's side).
    enableAutoPipelining: true,
    commandTimeout: timeoutMs,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    lazyConnect: false,
  });
  client.once("ready", () => {
    client.options.enableOfflineQueue = false;
  });
  client.on("ready", () => epochs.set(client, connectionEpoch(client) + 1));
  return client;
}

const epochs = new WeakMap<Redis, number>();
/**
 * How many times a request client has (re)connected. A deadline read with TIME
 * is on one server's clock; after a reconnect (a Sentinel failover) the next
 * command may run on another server, whose clock the deadline does not belong
 * to: callers compare epochs and refuse instead of committing across servers.
 */
export function connectionEpoch(redis: Redis): number {
  return epochs.get(redis) ?? 0;
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
  "READONLY ",
  "NOREPLICAS ",
  "All sentinels are unreachable",
  "Failed to connect to",
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
