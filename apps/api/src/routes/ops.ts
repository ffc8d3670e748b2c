/**
 * Operational endpoints (no API token): liveness, readiness, OpenAPI,
 * metrics. /metrics takes its own optional token (NETFORGE_METRICS_TOKEN) and
 * serves a scrape within metricsCacheSeconds of the last from cache; /readyz
 * says only which check failed, the error itself goes to the log.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { AppError } from "@netforge/core/contract";
import { hostStatus, listHosts } from "@netforge/core/store";
import { Hono } from "hono";
import type { AppEnv, Services } from "../context";
import { buildOpenApiDocument } from "../openapi";

const READY_TIMEOUT_MS = 2_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

export function opsRoutes(s: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let openapi: Record<string, unknown> | null = null;
  // Only the hash of the metrics token is kept; a presented one is hashed and compared in constant time.
  const metricsTokenHash = s.config.metricsToken ? sha256(s.config.metricsToken) : null;
  /** The last scrape's text and when it was started (a scrape in progress is shared too). */
  let cached: { at: number; text: Promise<string> } | null = null;

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/readyz", async (c) => {
    let redis = "ok";
    let onlineHosts = 0;
    try {
      await withTimeout(s.redis.ping(), READY_TIMEOUT_MS, "redis PING");
      const now = Date.now();
      const hosts = await withTimeout(listHosts(s.redis, s.keys), READY_TIMEOUT_MS, "host registry read");
      onlineHosts = hosts.filter((h) => hostStatus(h, now) === "online").length;
    } catch (err) {
      // No token guards /readyz: the raw error (addresses, auth and TLS failures of the store) stays in the log.
      c.get("log").warn({ err: (err as Error).message }, "readiness check: Redis unreachable");
      redis = "error: store unreachable";
    }
    const ready = redis === "ok" && onlineHosts > 0;
    return c.json({ status: ready ? "ready" : "unready", checks: { redis, onlineHosts } }, ready ? 200 : 503);
  });

  app.get("/openapi.json", (c) => {
    openapi ??= buildOpenApiDocument();
    return c.json(openapi);
  });

  app.get("/metrics", async (c) => {
    if (metricsTokenHash) {
      const presented = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("Authorization") ?? "")?.[1];
      if (presented === undefined || !timingSafeEqual(sha256(presented), metricsTokenHash)) {
        throw new AppError("UNAUTHORIZED", "/metrics needs the metrics token (Authorization: Bearer <NETFORGE_METRICS_TOKEN>)", {
          reason: presented === undefined ? "missing_token" : "invalid_token",
        });
      }
    }
    const now = Date.now();
    if (cached === null || now - cached.at >= s.config.metricsCacheSeconds * 1000) {
      const entry = { at: now, text: s.metrics.render() };
      cached = entry;
      entry.text.catch(() => {
        if (cached === entry) cached = null;
      });
    }
    const text = await cached.text;
    return c.text(text, 200, { "Content-Type": s.metrics.contentType });
  });

  return app;
}
