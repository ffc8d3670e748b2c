/**
 * A whole netforge for system tests: the run's private Redis (unique prefix),
 * N sandbox hypervisors each with its own worker process inside it, and the
 * API served in-process on a random loopback port. `stop()` removes all of it.
 */
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "@hono/node-server";
import { type ApiConfig, createApp } from "@netforge/api";
import { connectRedis, getHost, hostStatus, makeKeys, type Keys, type Redis } from "@netforge/core/store";
import { spawnWorker, type WorkerProcess } from "@netforge/devstack";
import { createSandboxHost, destroySandboxHost, type SandboxHost } from "@netforge/sandbox";
import pino from "pino";
import { deleteKeysUnder, testRedisUrl, uniquePrefix } from "./redis";

const LOG_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", ".netforge", "test-logs");
mkdirSync(LOG_DIR, { recursive: true });
/** Where a test worker's log goes (kept after the run for diagnosis; .netforge/ is git-ignored). */
export function workerLog(prefix: string, hostId: string): string {
  return join(LOG_DIR, `${prefix}-${hostId}.log`);
}

export const TOKENS = { admin: "admin-token-0123456789", operator: "op-token-0123456789", viewer: "viewer-token-0123456789" } as const;

export interface Cluster {
  prefix: string;
  keys: Keys;
  redis: Redis;
  redisUrl: string;
  hosts: Map<string, SandboxHost>;
  workers: Map<string, WorkerProcess>;
  baseUrl: string;
  /** POST /api/<action> as the operator (or another token). */
  call(
    action: string,
    body: unknown,
    opts?: { token?: string; wait?: number; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  get(path: string, opts?: { token?: string }): Promise<{ status: number; body: any }>;
  /**
   * Start (or restart) the worker of a host and wait until it is online.
   * `env` adds to (and overrides) the cluster's worker environment for this start only; `wrap` replaces the
   * cluster's `workerWrap` for this start.
   */
  startWorker(hostId: string, opts?: { env?: Record<string, string>; wrap?: string[] }): Promise<WorkerProcess>;
  stop(): Promise<void>;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function startCluster(opts: {
  hosts: { id: string; uplinkCidr?: string; uplinkCidr6?: string }[];
  label?: string;
  /** Extra environment for every worker of this cluster (e.g. NETFORGE_STALLED_MS). */
  workerEnv?: Record<string, string>;
  /** Command prefix every worker runs under, inside its host, before node (e.g. setpriv with a unit's capabilities). */
  workerWrap?: string[];
  /** API settings of this cluster (e.g. allowedCidrs: NETFORGE_ALLOWED_CIDRS). */
  apiConfig?: Partial<ApiConfig>;
}): Promise<Cluster> {
  const prefix = uniquePrefix(opts.label ?? "sys");
  const keys = makeKeys(prefix);
  const redisUrl = testRedisUrl();
  const redis = connectRedis(redisUrl);
  const hosts = new Map<string, SandboxHost>();
  const workers = new Map<string, WorkerProcess>();
  const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
  const tokens = new Map([
    [TOKENS.admin, "admin" as const],
    [TOKENS.operator, "operator" as const],
    [TOKENS.viewer, "viewer" as const],
  ]);
  const { app, close: closeApp } = createApp({
    redis,
    keys,
    logger,
    tokens,
    config: { rateLimitPerSecond: 0, metricsCacheSeconds: 0, ...opts.apiConfig },
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;

  const cluster: Cluster = {
    prefix,
    keys,
    redis,
    redisUrl,
    hosts,
    workers,
    baseUrl,
    async call(action, body, o = {}) {
      const headers: Record<string, string> = {
        "content-type": "application/json",
        authorization: `Bearer ${o.token ?? TOKENS.operator}`,
        ...o.headers,
      };
      if (o.wait !== undefined) headers.prefer = `wait=${o.wait}`;
      const res = await fetch(`${baseUrl}/api/${action}`, { method: "POST", headers, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
    },
    async get(path, o = {}) {
      const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${o.token ?? TOKENS.operator}` } });
      const text = await res.text();
      return { status: res.status, body: text.startsWith("{") ? JSON.parse(text) : text };
    },
    async startWorker(hostId, o = {}) {
      const h = hosts.get(hostId);
      if (!h) throw new Error(`no sandbox host ${hostId}`);
      await workers.get(hostId)?.stop();
      // The record the previous worker left (a killed one leaves it looking online for a while): not the new one's.
      const previousStart = (await getHost(redis, keys, hostId))?.startedAt ?? null;
      const w = spawnWorker({
        hostId,
        redisUrl,
        prefix,
        enter: h.nsenterPrefix,
        wrap: o.wrap ?? opts.workerWrap ?? [],
        logFile: workerLog(prefix, hostId),
        env: { NETFORGE_HEARTBEAT_MS: "1000", NETFORGE_RECONCILE_MS: "5000", LOG_LEVEL: "debug", ...opts.workerEnv, ...o.env },
      });
      workers.set(hostId, w);
      const startedAfter = Date.now();
      await waitFor(
        `worker ${hostId} online`,
        async () => {
          if (w.exited) throw new Error(`worker ${hostId} exited; see ${workerLog(prefix, hostId)}`);
          const rec = await getHost(redis, keys, hostId);
          return rec && rec.startedAt !== previousStart && Date.parse(rec.startedAt) >= startedAfter - 1000 && hostStatus(rec) === "online";
        },
        30_000,
      );
      return w;
    },
    async stop() {
      for (const w of workers.values()) await w.stop().catch(() => undefined);
      await closeApp();
      await new Promise<void>((r) => server.close(() => r()));
      // destroySandboxHost verifies that nothing of the host remains; a failure here fails the suite.
      const cleanupErrors: unknown[] = [];
      for (const h of hosts.values()) await destroySandboxHost(h).catch((e: unknown) => cleanupErrors.push(e));
      await deleteKeysUnder(redis, prefix);
      redis.disconnect();
      if (cleanupErrors.length > 0) throw new AggregateError(cleanupErrors, "sandbox cleanup failed");
    },
  };

  try {
    for (const h of opts.hosts) {
      const id = `${h.id}${prefix.slice(-4)}`.slice(0, 12);
      const sh = await createSandboxHost({
        id,
        ...(h.uplinkCidr ? { uplinkCidr: h.uplinkCidr } : {}),
        ...(h.uplinkCidr6 ? { uplinkCidr6: h.uplinkCidr6 } : {}),
      });
      hosts.set(h.id, sh);
    }
    for (const id of hosts.keys()) await cluster.startWorker(id);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
