import { describe, expect, it } from "vitest";
import { ApiMetrics } from "./metrics";

describe("ApiMetrics", () => {
  it("renders Prometheus text", () => {
    const m = new ApiMetrics();
    m.observeHttp(200);
    m.observeHttp(202);
    m.observeHttp(404);
    m.jobEnqueued("create-network");
    m.sseOpened();
    m.sseOpened();
    m.sseClosed();
    const text = m.render({ netforge_x: { help: "x", value: 7 } });
    expect(text).toContain('netforge_http_requests_total{class="2xx"} 2');
    expect(text).toContain('netforge_http_requests_total{class="4xx"} 1');
    expect(text).toContain('netforge_jobs_enqueued_total{action="create-network"} 1');
    expect(text).toContain("# TYPE netforge_sse_streams gauge\nnetforge_sse_streams 1");
    expect(text).toContain("netforge_x 7");
    expect(text.endsWith("\n")).toBe(true);
  });
});
