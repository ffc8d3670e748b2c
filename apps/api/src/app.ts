/**
 * createApp: the whole HTTP API as a Hono app over injected dependencies, so
 * tests run it in-process against a real Redis. Middleware order matters:
 * request id (everything after can log and answer with it) -> request log
 * -> auth + rate limit (/api/*) -> body limit -> routes; one onError.
 */
import { ACTIONS, type ActionName, AppError } from "@netforge/core/contract";
import { macConflicts, sizeLimits } from "@netforge/core/model";
import {
  countNetworks,
  readNetworkTraffic,
  type NetworkTrafficRow,
  type OverlayPartState,
  sumOverlayTraffic,
  withOverlayNetwork,
  getAllOverlayParts,
  publishedMacs,
  hostStatus,
  isTerminal,
  listHosts,
  readWorkerCounters,
  type Keys,
  requestRedisClient,
  watchRedisOutage,
} from "@netforge/core/store";
import { Hono } from "hono";
import type { Redis } from "ioredis";
import { routePath } from "hono/route";
import { ApiAddressPublisher } from "./api-addresses";
import { bearerAuth, peerAddress, resolveClientAddress, TrustedProxies } from "./auth";
import { ClaimSweeper } from "./claim-sweeper";
import { type ApiConfig, type AppDeps, type AppEnv, DEFAULT_API_CONFIG, type Services } from "./context";
import { errorResponse, handleError } from "./http-errors";
import { HostQueues } from "./host-queues";
import { bodyLimit } from "./json-body";
import { JobEventBus } from "./job-event-bus";
import { ApiMetrics } from "./metrics";
import { TokenBucketRateLimiter } from "./rate-limiter";
import { acceptOrGenerateRequestId } from "./request-id";
import { registeredActions } from "./routes/action-route";
import { adminRoutes } from "./routes/admin";
import { consoleRoutes } from "./routes/console";
import { docsRoutes } from "./routes/docs";
import { hostRoutes } from "./routes/hosts";
import { jobRoutes } from "./routes/jobs";
import { networkRoutes } from "./routes/networks";
import { whoamiRoutes } from "./routes/whoami";
import { opsRoutes } from "./routes/ops";
import { queueDashboardRoutes, queueDashboardSessionRoutes } from "./routes/queue-dashboard";
import { SseStreams } from "./sse";
import { TokenTable } from "./tokens";

export type { ApiConfig, AppDeps } from "./context";
export { hashToken, TokenTable } from "./tokens";
export { DEFAULT_API_CONFIG } from "./context";

/** A running API: the Hono app and how to stop what it started. */
export interface NetforgeApi {
  app: Hono<AppEnv>;
  /**
   * Refuses new requests (503), ends SSE streams with a reconnect comment, waits for requests in flight
   * (up to inFlightGraceMs, default 10 s), then closes queues, the request client and the event subscriber.
   * Does not close `deps.redis`.
   */
  close(opts?: { inFlightGraceMs?: number }): Promise<void>;
  /** Resolves once the request client is connected and the event subscription is active (tests; the API answers before). */
  ready(): Promise<void>;
  /** Exposed for leak checks in tests. */
  bus: JobEventBus;
  /** One pass of the claim sweeper now (it also runs every claimSweepIntervalMs); the names released. */
  sweepClaims(): Promise<string[]>;
  metrics: ApiMetrics;
}

export function createApp(deps: AppDeps): NetforgeApi {
  const config: ApiConfig = { ...DEFAULT_API_CONFIG, ...deps.config };
  const shutdown = new AbortController();
  const metrics = new ApiMetrics();
  // Request work gets its own client that fails fast (bounded commands, no offline queue); the event subscriber
  // is background work and waits out an outage. `deps.redis` only lends its connection settings.
  const redis = requestRedisClient(deps.redis, config.redisTimeoutMs);
  const bus = new JobEventBus(deps.redis, deps.keys.eventsChannel, deps.logger);
  watchRedisOutage([redis, bus.connection], deps.logger, "api");
  const services: Services = {
    redis,
    keys: deps.keys,
    logger: deps.logger,
    config,
    bus,
    queues: new HostQueues(redis, deps.keys, deps.logger, config.redisTimeoutMs),
    metrics,
    sse: new SseStreams(metrics, config.sseHeartbeatMs, deps.logger, { maxPerToken: config.sseMaxPerToken, maxTotal: config.sseMaxTotal }),
    limits: { ...sizeLimits(), ...config.limits },
    shutdown: shutdown.signal,
  };
  // Jobs end on the workers; their terminal events pass this bus, which is where the API counts them.
  bus.observe((ev) => {
    if (ev.type !== "progress" && isTerminal(ev.job.state)) metrics.jobFinished(ev.job);
  });
  metrics.addGauge("netforge_event_bus_listeners", "Local listeners on the job event bus.", () => bus.listenerCount());
  metrics.addGauge(
    "netforge_sse_streams_max_per_token",
    `The most event streams one token holds open (cap ${config.sseMaxPerToken}; total cap ${config.sseMaxTotal}).`,
    () => services.sse.maxPerTokenInUse(),
  );
  metrics.setSnapshotSource(async () => {
    const now = Date.now();
    const hosts = await listHosts(redis, deps.keys);
    const ids = hosts.map((h) => h.id);
    const queues = new Map<string, Record<string, number>>();
    const oldestWaiting = new Map<string, number>();
    for (const id of ids) {
      queues.set(id, await services.queues.counts(id));
      oldestWaiting.set(id, await services.queues.oldestWaitingSeconds(id, now));
    }
    return {
      hosts: hosts.map((h) => ({
        id: h.id,
        status: hostStatus(h, now),
        heartbeatAgeSeconds: Math.max(0, (now - Date.parse(h.lastSeenAt)) / 1000),
      })),
      networks: await countNetworks(redis, deps.keys),
      queues,
      oldestWaiting,
      workerCounters: await readWorkerCounters(redis, deps.keys, ids),
      reapplied: new Map(Object.entries(await redis.hgetall(deps.keys.reappliedCounter)).map(([host, n]) => [host, Number(n)])),
      ...(await overlayTrafficAndConflicts(redis, deps.keys, ids, await readNetworkTraffic(redis, deps.keys))),
    };
  });
  const tokens = TokenTable.of(deps.tokens);
  const trustedProxies = new TrustedProxies(config.trustedProxies);
  const limiter = new TokenBucketRateLimiter(config.rateLimitPerSecond);
  const authFailures = new TokenBucketRateLimiter(config.authFailuresPerMinute / 60, config.authFailuresPerMinute);

  const app = new Hono<AppEnv>();
  /** Requests being handled (an SSE stream counts until its response started; the stream itself is SseStreams'). */
  let inFlight = 0;

  app.use("*", async (c, next) => {
    const requestId = acceptOrGenerateRequestId(c.req.header("X-Request-Id"));
    const log = deps.logger.child({ requestId });
    const client = resolveClientAddress(peerAddress(c), c.req.header("X-Forwarded-For"), trustedProxies);
    c.set("clientAddress", client);
    c.set("requestId", requestId);
    c.set("log", log);
    c.header("X-Request-Id", requestId);
    const started = performance.now();
    inFlight += 1;
    try {
      await next();
    } finally {
      inFlight -= 1;
      const status = c.res.status;
      // The route pattern (/api/jobs/:id), not the path; requests no route matched share one label.
      const pattern = routePath(c, -1);
      const route = pattern === "" || pattern === "*" || pattern.endsWith("/*") ? "unmatched" : pattern;
      metrics.observeHttp(c.req.method, route, status, (performance.now() - started) / 1000);
      // The path only: query strings may carry access_token.
      const line = {
        method: c.req.method,
        path: c.req.path,
        status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ...(client === undefined ? {} : { client }),
      };
      // Unexpected errors are logged with their stack by onError; here one line per request.
      if (status >= 500) log.warn(line, "request");
      else log.info(line, "request");
    }
  });

  // Shutting down: requests that reach us on a kept-alive connection after the listener closed are refused fast
  // (nothing of them is applied) and the connection is closed, so the client retries elsewhere / after restart.
  app.use("*", async (c, next) => {
    if (!shutdown.signal.aborted) return next();
    c.header("Connection", "close");
    throw new AppError("UNAVAILABLE", "the API is shutting down; retry", { shuttingDown: true });
  });
  app.use("/api/*", bearerAuth(tokens, limiter, authFailures));
  app.use("/api/*", bodyLimit(config.bodyLimitBytes));

  const subApps = [
    networkRoutes(services),
    jobRoutes(services),
    hostRoutes(services),
    adminRoutes(services),
    opsRoutes(services),
    docsRoutes(),
    consoleRoutes(),
    whoamiRoutes(),
    queueDashboardSessionRoutes(),
    queueDashboardRoutes(services, tokens, authFailures),
  ];
  const routed = new Set<ActionName>();
  for (const sub of subApps) {
    for (const a of registeredActions.get(sub) ?? []) routed.add(a);
    app.route("/", sub);
  }
  const missing = (Object.keys(ACTIONS) as ActionName[]).filter((a) => !routed.has(a));
  if (missing.length > 0) throw new Error(`actions without a route: ${missing.join(", ")}`);

  app.notFound((c) => {
    // An action asked for with GET (a browser, curl without -d): say how it is called instead of "unknown".
    const action = /^\/api\/([a-z-]+)$/.exec(c.req.path)?.[1];
    if (action !== undefined && Object.hasOwn(ACTIONS, action) && c.req.method !== "POST") {
      const hint = `${action} is called with POST and a JSON body (POST /api/${action}), not ${c.req.method}`;
      return errorResponse(c, new AppError("METHOD_NOT_ALLOWED", hint, { action, method: c.req.method }));
    }
    const what = c.req.path.startsWith("/api/") ? `unknown action or resource ${c.req.method} ${c.req.path}` : `not found: ${c.req.path}`;
    return errorResponse(c, new AppError("NOT_FOUND", what, {}));
  });
  app.onError(handleError);

  const sweeper = new ClaimSweeper(deps.redis, deps.keys, config, deps.logger);
  sweeper.start();

  let closing: Promise<void> | null = null;
  const connected = new Promise<void>((resolve, reject) => {
    if (redis.status === "ready") return resolve();
    redis.once("ready", () => resolve());
    redis.once("end", () => reject(new Error("the Redis client was closed")));
  });
  connected.catch(() => undefined);
  const addresses = new ApiAddressPublisher(redis, deps.keys, config.publishAddresses, deps.logger);
  addresses.start(connected);
  return {
    app,
    bus,
    metrics,
    async ready() {
      await Promise.all([connected, bus.ready()]);
    },
    sweepClaims: () => sweeper.sweep(),
    close(opts: { inFlightGraceMs?: number } = {}) {
      closing ??= (async () => {
        shutdown.abort();
        await sweeper.stop();
        addresses.stop();
        services.sse.closeAll();
        // Requests already past the door finish with Redis still open: one cut off after its commit would answer
        // 503 for something that took effect. New ones are refused by the middleware above.
        const requestsDeadline = Date.now() + (opts.inFlightGraceMs ?? 10_000);
        while (inFlight > 0 && Date.now() < requestsDeadline) await new Promise((r) => setTimeout(r, 10));
        // Streams unwind asynchronously; give them a moment so their cleanup runs before the bus goes.
        const deadline = Date.now() + 2_000;
        while (services.sse.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        await Promise.allSettled([services.queues.close(), bus.close()]);
        await redis.quit().catch(() => redis.disconnect());
      })();
      return closing;
    },
  };
}

/**
 * From every host's published overlay parts (one read per host): overlay -> MACs two or more members publish at
 * once, and the traffic rows with each overlay's members' VM-to-VM counts added to its `network` peer (ADR 0044
 * "Overlay members counted").
 */
async function overlayTrafficAndConflicts(
  redis: Redis,
  keys: Keys,
  hosts: readonly string[],
  traffic: NetworkTrafficRow[],
): Promise<{ traffic: NetworkTrafficRow[]; overlayMacConflicts: Map<string, number> }> {
  const byNetwork = new Map<string, Map<string, string[]>>();
  const partsOf = new Map<string, OverlayPartState[]>();
  for (const [host, parts] of await getAllOverlayParts(redis, keys, hosts)) {
    for (const [name, part] of parts) {
      const m = byNetwork.get(name) ?? new Map<string, string[]>();
      m.set(host, publishedMacs(part));
      byNetwork.set(name, m);
      partsOf.set(name, [...(partsOf.get(name) ?? []), part]);
    }
  }
  const rows = traffic.map((t) => {
    const sum = sumOverlayTraffic(partsOf.get(t.network) ?? []);
    return sum ? withOverlayNetwork(t, sum.network) : t;
  });
  return { traffic: rows, overlayMacConflicts: new Map([...byNetwork].map(([name, published]) => [name, macConflicts(published).length])) };
}
