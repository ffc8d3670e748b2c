import { describe, expect, it } from "vitest";
import { ApiMetrics } from "./metrics";

type Json = { name: string; values: { labels: Record<string, string>; value: number; metricName?: string }[] };

async function byName(m: ApiMetrics): Promise<Map<string, Json>> {
  return new Map(((await m.registry.getMetricsAsJSON()) as unknown as Json[]).map((x) => [x.name, x]));
}

describe("ApiMetrics", () => {
  it("counts HTTP requests by method, route and status, and jobs by action and outcome with durations", async () => {
    const m = new ApiMetrics();
    m.observeHttp("POST", "/api/create-network", 202, 0.01);
    m.observeHttp("POST", "/api/create-network", 202, 0.02);
    m.observeHttp("GET", "/api/jobs/:id", 404, 0.001);
    m.jobEnqueued("create-network");
    m.jobFinished({
      action: "create-network",
      state: "failed",
      createdAt: "2026-01-01T00:00:00.000Z",
      finishedAt: "2026-01-01T00:00:03.000Z",
      attempts: 3,
    });
    m.sseOpened();
    m.sseOpened();
    m.sseClosed();
    const j = await byName(m);
    const http = j.get("netforge_http_requests_total")?.values ?? [];
    expect(http).toContainEqual({ labels: { method: "POST", route: "/api/create-network", status: "202" }, value: 2 });
    expect(http).toContainEqual({ labels: { method: "GET", route: "/api/jobs/:id", status: "404" }, value: 1 });
    expect(j.get("netforge_jobs_finished_total")?.values).toContainEqual({
      labels: { action: "create-network", outcome: "failed" },
      value: 1,
    });
    const sum = j.get("netforge_job_duration_seconds")?.values.find((v) => v.metricName === "netforge_job_duration_seconds_sum");
    expect(sum?.value).toBe(3);
    expect(j.get("netforge_job_retries_total")?.values).toContainEqual({ labels: { action: "create-network" }, value: 2 });
    expect(j.get("netforge_sse_streams")?.values[0]?.value).toBe(1);
    expect(j.has("process_cpu_user_seconds_total")).toBe(true);
  });

  it("leaves the cluster metrics out of a scrape whose snapshot fails, and says so", async () => {
    const m = new ApiMetrics();
    m.setSnapshotSource(async () => {
      throw new Error("Redis is down");
    });
    const j = await byName(m);
    expect(j.get("netforge_cluster_scrape_ok")?.values[0]?.value).toBe(0);
    expect(j.get("netforge_hosts")?.values).toEqual([]);
  });

  it("exposes each network's traffic by direction (bytes and packets), no per-VM labels", async () => {
    const m = new ApiMetrics();
    m.setSnapshotSource(async () => ({
      hosts: [],
      networks: [],
      queues: new Map(),
      oldestWaiting: new Map(),
      workerCounters: new Map(),
      reapplied: new Map(),
      traffic: [
        {
          network: "web",
          bytesIn: 5000,
          bytesOut: 700,
          packetsIn: 9,
          packetsOut: 4,
          peers: {
            outside: { bytesIn: 4000, bytesOut: 600, packetsIn: 7, packetsOut: 3 },
            network: { bytesIn: 1500, bytesOut: 1100, packetsIn: 5, packetsOut: 6 },
          },
        },
        // A network whose host does not count by peer: totals only.
        { network: "old", bytesIn: 1, bytesOut: 2, packetsIn: 1, packetsOut: 1 },
      ],
    }));
    const j = await byName(m);
    expect(j.get("netforge_network_bytes_total")?.values).toEqual([
      { labels: { network: "web", direction: "in" }, value: 5000 },
      { labels: { network: "web", direction: "out" }, value: 700 },
      { labels: { network: "old", direction: "in" }, value: 1 },
      { labels: { network: "old", direction: "out" }, value: 2 },
    ]);
    expect(j.get("netforge_network_packets_total")?.values).toEqual([
      { labels: { network: "web", direction: "in" }, value: 9 },
      { labels: { network: "web", direction: "out" }, value: 4 },
      { labels: { network: "old", direction: "in" }, value: 1 },
      { labels: { network: "old", direction: "out" }, value: 1 },
    ]);
    expect(j.get("netforge_network_peer_bytes_total")?.values).toEqual([
      { labels: { network: "web", direction: "in", peer: "outside" }, value: 4000 },
      { labels: { network: "web", direction: "out", peer: "outside" }, value: 600 },
      { labels: { network: "web", direction: "in", peer: "network" }, value: 1500 },
      { labels: { network: "web", direction: "out", peer: "network" }, value: 1100 },
    ]);
    expect(j.get("netforge_network_peer_packets_total")?.values).toEqual([
      { labels: { network: "web", direction: "in", peer: "outside" }, value: 7 },
      { labels: { network: "web", direction: "out", peer: "outside" }, value: 3 },
      { labels: { network: "web", direction: "in", peer: "network" }, value: 5 },
      { labels: { network: "web", direction: "out", peer: "network" }, value: 6 },
    ]);
  });
});
