/** Operational endpoints (no token): liveness, readiness, OpenAPI, metrics. */
import { hostStatus, listHosts } from "@netforge/core";
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

export function opsRoutes(s: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let openapi: Record<string, unknown> | null = null;

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
      redis = `error: ${(err as Error).message}`;
    }
    const ready = redis === "ok" && onlineHosts > 0;
    return c.json({ status: ready ? "ready" : "unready", checks: { redis, onlineHosts } }, ready ? 200 : 503);
  });

  app.get("/openapi.json", (c) => {
    openapi ??= buildOpenApiDocument();
    return c.json(openapi);
  });

  app.get("/metrics", async (c) => {
    const text = await s.metrics.render();
    return c.text(text, 200, { "Content-Type": s.metrics.contentType });
  });

  return app;
}
