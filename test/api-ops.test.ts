/** Operational endpoints: health, readiness, OpenAPI, docs, metrics. */
import { ACTIONS } from "@netforge/core/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, natBody, startApiHarness } from "./support/api-harness";

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness("api-ops");
});
afterAll(() => h.close());

describe("ops endpoints", () => {
  it("/healthz answers without a token", async () => {
    const r = await h.get("/healthz", { role: null });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: "ok" });
    expect(r.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("/readyz: 503 without an online host, 200 with one", async () => {
    const none = await h.get("/readyz", { role: null });
    expect(none.status).toBe(503);
    expect(none.body).toEqual({ status: "unready", checks: { redis: "ok", onlineHosts: 0 } });
    await h.addHost("stale", { online: false });
    expect((await h.get("/readyz", { role: null })).status).toBe(503);
    await h.addHost("h1");
    const ok = await h.get("/readyz", { role: null });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ status: "ready", checks: { redis: "ok", onlineHosts: 1 } });
  });

  it("/openapi.json has every action path and the job routes", async () => {
    const r = await h.get("/openapi.json", { role: null });
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe("3.1.0");
    for (const name of Object.keys(ACTIONS)) expect(r.body.paths[`/api/${name}`]?.post, name).toBeDefined();
    expect(r.body.paths["/api/jobs/{id}"]).toBeDefined();
    expect(r.body.paths["/api/jobs/{id}/events"]).toBeDefined();
    expect(r.body.paths["/api/events"]).toBeDefined();
  });

  it("every action of the table is routed (none answers 404)", async () => {
    for (const name of Object.keys(ACTIONS)) {
      const r = await h.call(name, { "not-a-field": 1 });
      expect(r.status, name).toBe(400);
    }
  });

  it("/docs serves the interactive reference from this process only, pointing at /openapi.json", async () => {
    const r = await h.get("/docs", { role: null });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/html");
    // Nothing from another origin: every script and stylesheet is a path on this server, and the CSP says so.
    expect(String(r.body)).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
    const init = await h.api.app.request("/docs/init.js");
    expect(await init.text()).toContain('url: "/openapi.json"');
    for (const asset of ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"]) {
      const a = await h.api.app.request(asset);
      expect(a.status, asset).toBe(200);
      expect((await a.arrayBuffer()).byteLength, asset).toBeGreaterThan(10_000);
    }
    expect((await h.api.app.request("/docs/..%2Fpackage.json")).status).toBe(404);
  });

  it("/metrics: request counts by route and status, SSE gauge, jobs enqueued", async () => {
    await h.call("create-network", natBody("m1", "10.1.0.0/24"));
    await h.call("describe-network", { name: "missing" });
    const res = await h.api.app.request("/metrics");
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toMatch(/^netforge_http_requests_total\{method="POST",route="\/api\/create-network",status="202"\} \d+$/m);
    expect(text).toMatch(/^netforge_http_requests_total\{method="POST",route="\/api\/describe-network",status="404"\} \d+$/m);
    expect(text).toMatch(/^netforge_http_requests_total\{method="GET",route="\/readyz",status="503"\} \d+$/m);
    expect(text).toContain('netforge_jobs_enqueued_total{action="create-network"} 1');
    expect(text).toMatch(/^# TYPE netforge_sse_streams gauge\nnetforge_sse_streams 0$/m);
  });
});
