/**
 * /metrics scraped over HTTP and parsed with a real Prometheus text parser:
 * HTTP requests by route and status, jobs enqueued and finished (counts,
 * duration histogram, retries) per action and outcome, queue depth per host,
 * hosts online/offline, the workers' lock waits and drift repairs, open SSE
 * streams, and process metrics.
 */
import { countWorkerEvent } from "@netforge/core/store";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiHarness, natBody, startApiHarness, TOKENS } from "./support/api-harness";
import { openSse } from "./support/sse-client";

type Family = {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; count?: string; sum?: string; buckets?: Record<string, string> }[];
};

let h: ApiHarness;
let base: string;

async function scrape(): Promise<Map<string, Family>> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  const families = parsePrometheusTextFormat(await res.text()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = fams.get(name);
  if (!f) return Number.NaN;
  const m = f.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m?.value === undefined ? Number.NaN : Number(m.value);
}

beforeAll(async () => {
  h = await startApiHarness("metrics");
  await h.addHost("h1");
  await h.addHost("h2", { online: false });
  base = await h.listen();
});
afterAll(async () => {
  await h?.close();
});

describe("/metrics", () => {
  it("exposes requests, jobs, queues, hosts, worker counters, SSE streams and process metrics", async () => {
    const created = await h.call("create-network", natBody("m1", "10.91.0.0/24"), { role: "operator" });
    expect(created.status).toBe(202);
    const jobId = created.body.job.id as string;
    expect((await h.get(`/api/jobs/${jobId}`, { role: "viewer" })).status).toBe(200);

    // While the job waits in h1's queue.
    let fams = await scrape();
    expect(value(fams, "netforge_queue_jobs", { host: "h1", state: "waiting" })).toBe(1);
    // Its age: waiting since its submission, a moment ago; h2's queue has none waiting.
    const age = value(fams, "netforge_queue_oldest_waiting_seconds", { host: "h1" });
    expect(age).toBeGreaterThan(0);
    expect(age).toBeLessThan(30);
    expect(value(fams, "netforge_queue_oldest_waiting_seconds", { host: "h2" })).toBe(0);
    expect(value(fams, "netforge_hosts", { status: "online" })).toBe(1);
    expect(value(fams, "netforge_hosts", { status: "offline" })).toBe(1);
    expect(value(fams, "netforge_jobs_enqueued_total", { action: "create-network" })).toBe(1);
    expect(value(fams, "netforge_http_requests_total", { method: "GET", route: "/api/jobs/:id", status: "200" })).toBe(1);
    expect(value(fams, "netforge_cluster_scrape_ok")).toBe(1);

    // A stream open, the worker's counters, and the job ending after a retry.
    const sse = await openSse(`${base}/api/jobs/${jobId}/events`, { authorization: `Bearer ${TOKENS.viewer}` });
    await countWorkerEvent(h.redis, h.keys, "h1", "lock_waits", 2);
    await countWorkerEvent(h.redis, h.keys, "h1", "drift_repairs");
    await h.advance(jobId, "progress", (r) => {
      r.state = "running";
      r.attempts = 2;
    });
    fams = await scrape();
    expect(value(fams, "netforge_sse_streams")).toBe(1);
    expect(value(fams, "netforge_lock_waits_total", { host: "h1" })).toBe(2);
    expect(value(fams, "netforge_drift_repairs_total", { host: "h1" })).toBe(1);
    await h.advance(jobId, "succeeded", (r) => {
      r.state = "succeeded";
    });
    // The series exists from zero: wait for it to count the job.
    for (
      let i = 0;
      i < 50 && !(value(await scrape(), "netforge_jobs_finished_total", { action: "create-network", outcome: "succeeded" }) >= 1);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    sse.close();
    fams = await scrape();
    expect(value(fams, "netforge_jobs_finished_total", { action: "create-network", outcome: "succeeded" })).toBe(1);
    expect(value(fams, "netforge_job_retries_total", { action: "create-network" })).toBe(1);
    expect(fams.get("netforge_job_duration_seconds")?.type).toBe("HISTOGRAM");
    // This parser folds labelled histogram series together: their samples are checked on the text itself.
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^netforge_job_duration_seconds_count\{action="create-network",outcome="succeeded"\} 1$/m);
    expect(text).toMatch(/^netforge_job_duration_seconds_bucket\{le="\+Inf",action="create-network",outcome="succeeded"\} 1$/m);
    expect(fams.get("netforge_http_request_duration_seconds")?.type).toBe("HISTOGRAM");
    expect(value(fams, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(fams.has("nodejs_eventloop_lag_seconds")).toBe(true);
    // Existing names kept.
    expect(fams.has("netforge_sse_refused_total")).toBe(true);
    expect(fams.has("netforge_event_bus_listeners")).toBe(true);
    expect(fams.has("netforge_sse_streams_max_per_token")).toBe(true);
  });

  it("has networks per host/type/state, heartbeat age and up per host, and failure series from zero", async () => {
    await h.addNetwork({ name: "gn1", host: "h1", type: "nat", state: "active" });
    await h.addNetwork({ name: "gn2", host: "h1", type: "nat", state: "active" });
    await h.addNetwork({ name: "gn3", host: "h2", type: "isolated", state: "inactive" });
    const fams = await scrape();
    expect(value(fams, "netforge_networks", { host: "h1", type: "nat", state: "active" })).toBe(2);
    expect(value(fams, "netforge_networks", { host: "h2", type: "isolated", state: "inactive" })).toBe(1);
    expect(fams.get("netforge_networks")?.metrics.some((m) => m.labels?.host === "h2" && m.labels?.type === "nat")).toBe(false);
    expect(value(fams, "netforge_host_up", { host: "h1" })).toBe(1);
    expect(value(fams, "netforge_host_up", { host: "h2" })).toBe(0);
    // h1's heartbeat was written when the test started, h2's an hour before.
    expect(value(fams, "netforge_host_heartbeat_age_seconds", { host: "h1" })).toBeLessThan(60);
    expect(value(fams, "netforge_host_heartbeat_age_seconds", { host: "h2" })).toBeGreaterThanOrEqual(3600);
    // No delete-network job ever failed (or ran) here: its series exist, at 0.
    expect(value(fams, "netforge_jobs_finished_total", { action: "delete-network", outcome: "failed" })).toBe(0);
    expect(value(fams, "netforge_jobs_finished_total", { action: "configure-network-port-forward", outcome: "succeeded" })).toBe(0);
    expect(value(fams, "netforge_jobs_enqueued_total", { action: "delete-network" })).toBe(0);
    expect(value(fams, "netforge_drift_repairs_total", { host: "h2" })).toBe(0);
  });
});
