/**
 * Boot: environment -> logger -> tokens -> Redis -> createApp -> listen, and
 * a graceful shutdown on SIGTERM/SIGINT (stop accepting, end SSE streams,
 * close queues and Redis). `npm run api` runs this file.
 */
import cluster from "node:cluster";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { serve } from "@hono/node-server";
import { isIP } from "node:net";
import { sizeLimits } from "@netforge/core/model";
import { connectRedis, jobRetention, makeKeys } from "@netforge/core/store";
import { destination, pino } from "pino";
import { publishedAddressesFor } from "./api-addresses";
import { createApp } from "./app";
import { parseApiEnv } from "./env";
import { loadTokens, TokenTable } from "./tokens";

// Importing this module does not start anything (see isMain below): tests, benches and tools build the app with createApp.
export { type ApiConfig, type AppDeps, createApp, DEFAULT_API_CONFIG, type NetforgeApi } from "./app";

/** How long shutdown waits for open connections before cutting them. */
const SHUTDOWN_GRACE_MS = 10_000;

/** How long start-up waits for Redis before listening anyway. */
const STARTUP_REDIS_WAIT_MS = 10_000;

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 (also IPv4-mapped) and "localhost". */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(h)?.[1];
  return v4 !== undefined && isIP(v4) === 4 && v4.startsWith("127.");
}

/**
 * Without NETFORGE_TOKENS the API makes up an admin token and prints it: fine
 * on a developer's loopback, not on an address others reach (the token would
 * sit in container logs, and each API process would make its own).
 */
function refuseOpenWithoutTokens(host: string): void {
  if (isLoopbackHost(host)) return;
  throw new Error(
    `NETFORGE_TOKENS is not set and HOST=${host} is not a loopback address: refusing to serve an API others can reach ` +
      "with a made-up admin token. Set NETFORGE_TOKENS (token:role entries, sha256:<hex>:role, or a file of them; " +
      "generate a token with: openssl rand -base64 24), or bind HOST=127.0.0.1.",
  );
}

/** A listening API process. */
export interface StartedApi {
  url: string;
  close(): Promise<void>;
}

/** Start the API from an environment (process.env by default). */
export async function startApi(env: Record<string, string | undefined> = process.env): Promise<StartedApi> {
  const cfg = parseApiEnv(env);
  jobRetention(env); // fail at start on a bad retention, not on the first job
  sizeLimits(env); // and on a bad size cap
  // Asynchronous stdout: lines written while a write is in flight go out together (one syscall per batch instead of
  // one per line under load; alone, a line is written at once). pino flushes what is pending on exit.
  // Under NETFORGE_API_PROCESSES > 1 each line also names its process.
  const base = cluster.isWorker ? { service: "netforge-api", pid: process.pid } : { service: "netforge-api" };
  const logger = pino({ level: cfg.LOG_LEVEL, base }, destination({ dest: 1, sync: false }));

  let tokens: TokenTable;
  if (cfg.NETFORGE_TOKENS !== undefined) {
    // Only the hashes are kept (TokenTable); the parsed plaintext map is dropped here.
    tokens = new TokenTable(loadTokens(cfg.NETFORGE_TOKENS));
    if (tokens.size === 0) throw new Error("NETFORGE_TOKENS lists no token");
  } else {
    refuseOpenWithoutTokens(cfg.HOST);
    // A usable API out of the box on loopback: one admin token for this run only, shown once on the terminal (never logged).
    const token = randomBytes(24).toString("base64url");
    tokens = new TokenTable([[token, "admin"]]);
    process.stderr.write(`netforge api: NETFORGE_TOKENS is not set; admin token for this run: ${token}\n`);
  }

  // Only a template: createApp makes the request client and the event subscriber from it (lazy: never connects itself).
  const redis = connectRedis(cfg.REDIS_URL, { lazyConnect: true });
  const api = createApp({
    redis,
    keys: makeKeys(cfg.NETFORGE_PREFIX),
    logger,
    tokens,
    config: {
      rateLimitPerSecond: cfg.NETFORGE_RATE_LIMIT,
      authFailuresPerMinute: cfg.NETFORGE_AUTH_FAIL_LIMIT,
      sseMaxPerToken: cfg.NETFORGE_SSE_MAX_PER_TOKEN,
      sseMaxTotal: cfg.NETFORGE_SSE_MAX_TOTAL,
      redisTimeoutMs: cfg.NETFORGE_REDIS_TIMEOUT_MS,
      ...(cfg.NETFORGE_ALLOWED_CIDRS ? { allowedCidrs: cfg.NETFORGE_ALLOWED_CIDRS } : {}),
      ...(cfg.NETFORGE_VNI_RANGE ? { vniRange: cfg.NETFORGE_VNI_RANGE } : {}),
      publishAddresses: publishedAddressesFor(cfg.NETFORGE_API_ADDRESSES, cfg.HOST),
      trustedProxies: cfg.NETFORGE_TRUSTED_PROXIES ?? [],
      metricsToken: cfg.NETFORGE_METRICS_TOKEN ?? null,
      metricsCacheSeconds: cfg.NETFORGE_METRICS_CACHE_SECONDS,
    },
  });

  // Listen once Redis answers (bounded): requests fail fast without it (503), so the first callers of a freshly
  // started API would otherwise get 503s for a moment. A Redis that stays away does not keep the API from
  // starting: /readyz and every request say so.
  const connected = await Promise.race([
    api.ready().then(() => true),
    new Promise<false>((r) => setTimeout(() => r(false), STARTUP_REDIS_WAIT_MS).unref()),
  ]).catch(() => false);
  if (!connected)
    logger.warn({ waitedMs: STARTUP_REDIS_WAIT_MS }, "Redis does not answer yet; listening anyway (requests get 503 until it does)");

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: api.app.fetch, port: cfg.PORT, hostname: cfg.HOST }, () => resolve(s));
    s.once("error", reject);
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  logger.info({ url, prefix: cfg.NETFORGE_PREFIX, tokens: tokens.size }, "netforge api listening");

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      logger.info("shutting down");
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await api.close();
      // Streams are over; idle keep-alive sockets would otherwise hold close() until they time out.
      if ("closeIdleConnections" in server) server.closeIdleConnections();
      const force = setTimeout(() => {
        if ("closeAllConnections" in server) server.closeAllConnections();
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      await closed;
      clearTimeout(force);
      redis.disconnect();
      logger.info("stopped");
    })();
    return closing;
  };
  return { url, close };
}

/**
 * NETFORGE_API_PROCESSES > 1: a primary that only forks that many API
 * processes (node:cluster; they share the listening port, the primary hands
 * out connections round robin) and relays SIGTERM/SIGINT to them. The
 * submission path keeps no state outside Redis, so any process can take any
 * request; what is per process (token buckets, SSE caps, /metrics, the event
 * bus subscription) is documented in docs/adr/0032-api-request-path.md. A process that dies
 * is replaced (not during shutdown). Node 20 has no SO_REUSEPORT listen option.
 */
function runPrimary(processes: number): void {
  let stopping = false;
  const env = { ...process.env };
  if (!env.NETFORGE_TOKENS?.trim()) {
    // One made-up token for all processes (each would otherwise make its own); on loopback only, as in startApi.
    try {
      refuseOpenWithoutTokens(parseApiEnv(env).HOST);
    } catch (err) {
      process.stderr.write(`netforge api: cannot start: ${(err as Error).message}\n`);
      process.exit(1);
    }
    const token = randomBytes(24).toString("base64url");
    env.NETFORGE_TOKENS = `${token}:admin`;
    process.stderr.write(`netforge api: NETFORGE_TOKENS is not set; admin token for this run: ${token}\n`);
  }
  const fork = () => cluster.fork(env);
  for (let i = 0; i < processes; i++) fork();
  cluster.on("exit", (w, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    process.stderr.write(`netforge api: process ${w.process.pid} exited (${signal ?? code}); starting another\n`);
    setTimeout(fork, 1_000).unref();
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`netforge api: ${signal}, stopping ${processes} processes\n`);
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(0);
    for (const w of workers) w?.process.kill("SIGTERM");
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}

function runProcess(): void {
  startApi()
    .then((api) => {
      const stop = (signal: string) => {
        process.stderr.write(`netforge api: ${signal}, stopping\n`);
        api.close().then(
          () => process.exit(0),
          (err) => {
            process.stderr.write(`netforge api: shutdown failed: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.once("SIGTERM", () => stop("SIGTERM"));
      process.once("SIGINT", () => stop("SIGINT"));
    })
    .catch((err: unknown) => {
      process.stderr.write(`netforge api: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  let processes = 1;
  try {
    processes = parseApiEnv(process.env).NETFORGE_API_PROCESSES;
  } catch {
    // startApi reports the bad environment
  }
  if (cluster.isPrimary && processes > 1) runPrimary(processes);
  else runProcess();
}
