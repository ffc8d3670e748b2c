/**
 * /metrics from prom-client, one registry per API instance (tests build
 * several apps in one process). What the API sees itself (HTTP requests,
 * jobs submitted and finished as their events pass the event bus, SSE
 * streams) is counted as it happens; what lives in Redis (hosts, queue
 * depths, the workers' counters) is read at scrape time, bounded, and left
 * out of that scrape if Redis does not answer.
 */
import { JOB_DEFINITIONS, type JobView } from "@netforge/core/contract";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** What the scrape-time collectors read; set by the app once its services exist. */
export interface ClusterSnapshot {
  /** `heartbeatAgeSeconds`: time since the host's worker last wrote its heartbeat (at scrape time). */
  hosts: { id: string; status: "online" | "offline"; heartbeatAgeSeconds: number }[];
  /** Networks in the index per host, type and state (a network counts once). */
  networks: { host: string; type: string; state: string; count: number }[];
  /** host -> BullMQ state -> jobs. */
  queues: Map<string, Record<string, number>>;
  /** host -> seconds the oldest waiting job of its queue has waited (0: none). */
  oldestWaiting: Map<string, number>;
  /** host -> worker counter -> count. */
  workerCounters: Map<string, Record<string, number>>;
  /** host -> pieces of lost network state its worker re-applied. */
  reapplied: Map<string, number>;
  /** overlay -> MACs published by two or more of its members at once (overlays with a running part only). */
  overlayMacConflicts?: Map<string, number>;
  /** Each network's traffic counters (in = toward its VMs) as its worker last published them. */
  traffic?: {
    network: string;
    bytesIn: number;
    bytesOut: number;
    packetsIn: number;
    packetsOut: number;
    peers?: Record<"outside" | "network", { bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number }>;
  }[];
}

/** Worker counters and the metric each becomes (per host). */
const WORKER_COUNTER_METRICS: Record<string, { name: string; help: string }> = {
  lock_waits: { name: "netforge_lock_waits_total", help: "Jobs that found their network's lock busy and were put back to wait, per host." },
  drift_repairs: {
    name: "netforge_drift_repairs_total",
    help: "Index entries the worker rewrote or removed because they differed from libvirt (drift repairs), per host.",
  },
};

const JOB_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ApiMetrics {
  readonly registry = new Registry();
  private sse = 0;
  private snapshot: () => Promise<ClusterSnapshot | null> = async () => null;
  private readonly http = new Counter({
    name: "netforge_http_requests_total",
    help: "HTTP requests answered, by method, route pattern and status.",
    labelNames: ["method", "route", "status"],
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: "netforge_http_request_duration_seconds",
    help: "Time to answer an HTTP request (for SSE: until the stream opened), by method and route pattern.",
    labelNames: ["method", "route"],
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  private readonly enqueued = new Counter({
    name: "netforge_jobs_enqueued_total",
    help: "Jobs put on a host queue, by action.",
    labelNames: ["action"],
    registers: [this.registry],
  });
  private readonly finished = new Counter({
    name: "netforge_jobs_finished_total",
    help: "Jobs that ended, by action and outcome (succeeded, failed).",
    labelNames: ["action", "outcome"],
    registers: [this.registry],
  });
  private readonly jobDuration = new Histogram({
    name: "netforge_job_duration_seconds",
    help: "From a job's submission to its end, by action and outcome.",
    labelNames: ["action", "outcome"],
    buckets: JOB_BUCKETS,
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: "netforge_job_retries_total",
    help: "Extra attempts jobs needed (attempts - 1 of each ended job), by action.",
    labelNames: ["action"],
    registers: [this.registry],
  });
  private readonly sseRefusedCounter = new Counter({
    name: "netforge_sse_refused_total",
    help: "Event streams refused by the per-token or total cap.",
    labelNames: ["scope"],
    registers: [this.registry],
  });

  constructor() {
    const self = this;
    new Gauge({
      name: "netforge_sse_streams",
      help: "Open Server-Sent Events streams.",
      registers: [this.registry],
      collect() {
        this.set(self.sse);
      },
    });
    for (const scope of ["token", "total"]) this.sseRefusedCounter.inc({ scope }, 0);
    // Every job action's outcomes exist from zero: a failure ratio (rate(failed) / rate(all)) and alerts on
    // increase(...{outcome="failed"}) have a series to work on before the first failure, not only after it.
    for (const action of Object.keys(JOB_DEFINITIONS)) {
      this.enqueued.inc({ action }, 0);
      this.retries.inc({ action }, 0);
      for (const outcome of ["succeeded", "failed"]) this.finished.inc({ action, outcome }, 0);
    }
    // One snapshot per scrape, shared by the collectors below (the first of them reads it).
    let pending: Promise<ClusterSnapshot | null> | null = null;
    const read = () => {
      pending ??= this.snapshot()
        .catch(() => null)
        .finally(() => setTimeout(() => (pending = null), 0));
      return pending;
    };
    new Gauge({
      name: "netforge_cluster_scrape_ok",
      help: "1 when this scrape read the cluster state from Redis (hosts, queues, worker counters), 0 when Redis did not answer.",
      registers: [this.registry],
      async collect() {
        this.set((await read()) ? 1 : 0);
      },
    });
    new Gauge({
      name: "netforge_hosts",
      help: "Registered hypervisors by status (online: heartbeat within the timeout).",
      labelNames: ["status"],
      registers: [this.registry],
      async collect() {
        const snap = await read();
        this.reset();
        if (!snap) return;
        for (const status of ["online", "offline"] as const) this.set({ status }, snap.hosts.filter((h) => h.status === status).length);
      },
    });
    new Gauge({
      name: "netforge_host_up",
      help: "1 when the host's worker is online (heartbeat within the timeout, not shut down), else 0; one series per registered host.",
      labelNames: ["host"],
      registers: [this.registry],
      async collect() {
        const snap = await read();
        this.reset();
        for (const h of snap?.hosts ?? []) this.set({ host: h.id }, h.status === "online" ? 1 : 0);
      },
    });
    new Gauge({
      name: "netforge_host_heartbeat_age_seconds",
      help: "Seconds since each registered host's worker last wrote its heartbeat (offline after 15).",
      labelNames: ["host"],
      registers: [this.registry],
      async collect() {
        const snap = await read();
        this.reset();
        for (const h of snap?.hosts ?? []) this.set({ host: h.id }, h.heartbeatAgeSeconds);
      },
    });
    new Gauge({
      name: "netforge_networks",
      help: "Networks in the cluster index by host, type (nat, isolated, bridge, sriov) and state (active, inactive).",
      labelNames: ["host", "type", "state"],
      registers: [this.registry],
      async collect() {
        const snap = await read();
        this.reset();
        for (const n of snap?.networks ?? []) this.set({ host: n.host, type: n.type, state: n.state }, n.count);
      },
    });
    new Gauge({
      name: "netforge_queue_jobs",
      help: "Jobs in each host's queue by BullMQ state (waiting, active, delayed...): the queue depth.",
      labelNames: ["host", "state"],
      registers: [this.registry],
      async collect() {
        const snap = await read();
        this.reset();
        for (const [host, counts] of snap?.queues ?? []) for (const [state, n] of Object.entries(counts)) this.set({ host, state }, n);
      },
    });
    new Gauge({
      name: "netforge_queue_oldest_waiting_seconds",
      help: "Seconds the oldest job waiting in each host's queue has waited since its submission (0: none waiting): the queue's age.",
      labelNames: ["host"],
      registers: [this.registry],
      async collect() {
        const snap = await read();
        this.reset();
        for (const [host, s] of snap?.oldestWaiting ?? []) this.set({ host }, s);
      },
    });
    new Counter({
      name: "netforge_state_reapplied_total",
      help: "Pieces of network state a host had lost, re-applied by its worker.",
      labelNames: ["host"],
      registers: [this.registry],
      async collect() {
        const snap = await read();
        this.reset();
        for (const [host, n] of snap?.reapplied ?? []) this.inc({ host }, n);
      },
    });
    // Traffic per network and direction (no per-VM labels: the label set stays bounded by the networks).
    for (const [name, help, field] of [
      [
        "netforge_network_bytes_total",
        "Bytes across each network's edge on its host, by direction (in: toward its VMs, out: from them).",
        "bytes",
      ],
      [
        "netforge_network_packets_total",
        "Packets across each network's edge on its host, by direction (in: toward its VMs, out: from them).",
        "packets",
      ],
    ] as const) {
      new Counter({
        name,
        help,
        labelNames: ["network", "direction"],
        registers: [this.registry],
        async collect() {
          const snap = await read();
          this.reset();
          for (const t of snap?.traffic ?? []) {
            this.inc({ network: t.network, direction: "in" }, field === "bytes" ? t.bytesIn : t.packetsIn);
            this.inc({ network: t.network, direction: "out" }, field === "bytes" ? t.bytesOut : t.packetsOut);
          }
        },
      });
    }
    // The same split by peer (outside the network, or on it: VM to VM and VM to gateway): one more bounded label.
    for (const [name, help, field] of [
      [
        "netforge_network_peer_bytes_total",
        "Bytes of each network's VMs by direction and peer (outside: beyond the network; network: its other VMs and its gateway).",
        "bytes",
      ],
      [
        "netforge_network_peer_packets_total",
        "Packets of each network's VMs by direction and peer (outside: beyond the network; network: its other VMs and its gateway).",
        "packets",
      ],
    ] as const) {
      new Counter({
        name,
        help,
        labelNames: ["network", "direction", "peer"],
        registers: [this.registry],
        async collect() {
          const snap = await read();
          this.reset();
          for (const t of snap?.traffic ?? []) {
            for (const peer of ["outside", "network"] as const) {
              const p = t.peers?.[peer];
              if (!p) continue;
              this.inc({ network: t.network, direction: "in", peer }, field === "bytes" ? p.bytesIn : p.packetsIn);
              this.inc({ network: t.network, direction: "out", peer }, field === "bytes" ? p.bytesOut : p.packetsOut);
            }
          }
        },
      });
    }
    new Gauge({
      name: "netforge_overlay_mac_conflicts",
      help: "MACs two or more member hosts of an overlay publish at once (no unicast entry is written for them), per overlay.",
      labelNames: ["network"],
      registers: [this.registry],
      async collect() {
        const snap = await read();
        this.reset();
        for (const [network, n] of snap?.overlayMacConflicts ?? []) this.set({ network }, n);
      },
    });
    for (const [key, m] of Object.entries(WORKER_COUNTER_METRICS)) {
      new Counter({
        name: m.name,
        help: m.help,
        labelNames: ["host"],
        registers: [this.registry],
        async collect() {
          const snap = await read();
          this.reset();
          for (const [host, counters] of snap?.workerCounters ?? []) this.inc({ host }, counters[key] ?? 0);
        },
      });
    }
    collectDefaultMetrics({ register: this.registry });
  }

  /** A gauge read from `value` at each scrape. */
  addGauge(name: string, help: string, value: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(value());
      },
    });
  }

  /** Where scrape-time cluster state comes from (createApp sets it). */
  setSnapshotSource(fn: () => Promise<ClusterSnapshot | null>): void {
    this.snapshot = fn;
  }

  /** Count one answered HTTP request; `route` is the matched pattern (never the raw path: ids would explode the series). */
  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.http.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  /** Count one job put on a queue. */
  jobEnqueued(action: string): void {
    this.enqueued.inc({ action });
  }

  /** A job's terminal event passed the event bus. */
  jobFinished(job: Pick<JobView, "action" | "state" | "createdAt" | "finishedAt" | "attempts">): void {
    const outcome = job.state;
    this.finished.inc({ action: job.action, outcome });
    const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
    const seconds = Math.max(0, (end - Date.parse(job.createdAt)) / 1000);
    if (Number.isFinite(seconds)) this.jobDuration.observe({ action: job.action, outcome }, seconds);
    if (job.attempts > 1) this.retries.inc({ action: job.action }, job.attempts - 1);
  }

  sseOpened(): void {
    this.sse += 1;
  }

  sseClosed(): void {
    this.sse -= 1;
  }

  /** Count one stream refused by a cap ("token" or "total"). */
  sseRefused(scope: "token" | "total"): void {
    this.sseRefusedCounter.inc({ scope });
  }

  /** Open SSE streams right now. */
  get sseStreams(): number {
    return this.sse;
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
