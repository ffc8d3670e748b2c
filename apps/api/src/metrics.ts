/** In-process Prometheus metrics of one API instance, rendered as text exposition format 0.0.4. */

/** Counters and gauges the API maintains. */
export class ApiMetrics {
  private readonly httpByClass = new Map<string, number>();
  private readonly enqueuedByAction = new Map<string, number>();
  private sse = 0;
  private readonly sseRefusedByScope = new Map<string, number>([
    ["token", 0],
    ["total", 0],
  ]);

  /** Count one answered HTTP request by its status class ("2xx"...). */
  observeHttp(status: number): void {
    const cls = `${Math.floor(status / 100)}xx`;
    this.httpByClass.set(cls, (this.httpByClass.get(cls) ?? 0) + 1);
  }

  /** Count one job put on a queue. */
  jobEnqueued(action: string): void {
    this.enqueuedByAction.set(action, (this.enqueuedByAction.get(action) ?? 0) + 1);
  }

  sseOpened(): void {
    this.sse += 1;
  }

  sseClosed(): void {
    this.sse -= 1;
  }

  /** Count one stream refused by a cap ("token" or "total"). */
  sseRefused(scope: "token" | "total"): void {
    this.sseRefusedByScope.set(scope, (this.sseRefusedByScope.get(scope) ?? 0) + 1);
  }

  /** Open SSE streams right now. */
  get sseStreams(): number {
    return this.sse;
  }

  /** Prometheus text; `gauges` adds point-in-time values computed by the caller. */
  render(gauges: Record<string, { help: string; value: number }> = {}): string {
    const out: string[] = [];
    out.push("# HELP netforge_http_requests_total HTTP requests answered, by status class.");
    out.push("# TYPE netforge_http_requests_total counter");
    for (const [cls, n] of [...this.httpByClass].sort()) out.push(`netforge_http_requests_total{class="${cls}"} ${n}`);
    out.push("# HELP netforge_jobs_enqueued_total Jobs put on a host queue, by action.");
    out.push("# TYPE netforge_jobs_enqueued_total counter");
    for (const [action, n] of [...this.enqueuedByAction].sort()) out.push(`netforge_jobs_enqueued_total{action="${action}"} ${n}`);
    out.push("# HELP netforge_sse_streams Open Server-Sent Events streams.");
    out.push("# TYPE netforge_sse_streams gauge");
    out.push(`netforge_sse_streams ${this.sse}`);
    out.push("# HELP netforge_sse_refused_total Event streams refused by the per-token or total cap.");
    out.push("# TYPE netforge_sse_refused_total counter");
    for (const [scope, n] of [...this.sseRefusedByScope].sort()) out.push(`netforge_sse_refused_total{scope="${scope}"} ${n}`);
    for (const [name, g] of Object.entries(gauges)) {
      out.push(`# HELP ${name} ${g.help}`);
      out.push(`# TYPE ${name} gauge`);
      out.push(`${name} ${g.value}`);
    }
    return `${out.join("\n")}\n`;
  }
}
