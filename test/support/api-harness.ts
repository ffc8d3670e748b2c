/**
 * The API in-process against the run's private Redis under a unique prefix,
 * plus the few things a test plays on the other side: hosts that heartbeat,
 * networks in the index, and a worker advancing a job (through core's own
 * commitJobEvent, exactly as the worker does).
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { ErrorBody, HostRecord, Role } from "@netforge/core/contract";
import {
  claimNetwork,
  commitJobEvent,
  getJob,
  type JobEventType,
  type JobRecord,
  type NetworkRecord,
  percentOf,
  putHost,
  putNetwork,
} from "@netforge/core/store";
import { type ApiConfig, createApp, type NetforgeApi } from "@netforge/api";
import { pino } from "pino";
import { scanKeys, testRedis } from "./redis";

/** Harness options beyond the app config. */
export interface HarnessOptions {
  /** Use this Redis (e.g. a private one a test stops or pauses) instead of the run's shared one. */
  redisUrl?: string;
  /** Extra tokens besides TOKENS. */
  tokens?: [string, Role][];
}

export const TOKENS = { admin: "adm-token-0123456789", operator: "op-token-0123456789", viewer: "view-token-0123456789" } as const;

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

export interface ApiHarness extends ReturnType<typeof testRedis> {
  api: NetforgeApi;
  /** POST /api/<action> with a JSON body (or a raw string) as `role`. */
  call(
    action: string,
    body?: unknown,
    o?: { role?: keyof typeof TOKENS | null; headers?: Record<string, string>; raw?: string },
  ): Promise<Reply>;
  get(path: string, o?: { role?: keyof typeof TOKENS | null; headers?: Record<string, string> }): Promise<Reply>;
  addHost(id: string, o?: { online?: boolean; networks?: number }): Promise<void>;
  addNetwork(o: Partial<NetworkRecord> & { name: string; host: string }): Promise<NetworkRecord>;
  /** Play the worker: apply `change` to the job record and commit it as an event of `type`. */
  advance(jobId: string, type: JobEventType, change?: (r: JobRecord) => void): Promise<void>;
  /** Every key under the prefix matching a glob after "<prefix>:". */
  keysMatching(glob: string): Promise<string[]>;
  /** Listen on a real port (for SSE); returns the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** A host record that heartbeats now (started a minute ago, no interfaces, networks or listening ports), with `extra` over it. */
export function hostRecord(id: string, extra: Partial<HostRecord> = {}): HostRecord {
  const now = Date.now();
  return {
    id,
    hostname: `${id}.example`,
    libvirtVersion: "10.0.0",
    interfaces: [],
    occupied: [],
    networks: 0,
    sriovPfs: [],
    // What a worker publishes: the ports its processes listen on (none here); without them port forwards are refused.
    listeningPorts: { tcp: [], udp: [] },
    startedAt: new Date(now - 60_000).toISOString(),
    lastSeenAt: new Date(now).toISOString(),
    ...extra,
  };
}

export async function startApiHarness(label: string, config: Partial<ApiConfig> = {}, opts: HarnessOptions = {}): Promise<ApiHarness> {
  const t = testRedis(label, opts.redisUrl);
  const api = createApp({
    redis: t.redis,
    keys: t.keys,
    logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
    tokens: new Map([[TOKENS.admin, "admin"], [TOKENS.operator, "operator"], [TOKENS.viewer, "viewer"], ...(opts.tokens ?? [])]),
    // Scrapes fresh on every request unless a test asks for the cache: tests read counters right after changing them.
    config: { rateLimitPerSecond: 0, metricsCacheSeconds: 0, ...config },
  });
  await api.ready();
  let server: ReturnType<typeof serve> | null = null;

  const auth = (role: keyof typeof TOKENS | null | undefined): Record<string, string> =>
    role === null ? {} : { authorization: `Bearer ${TOKENS[role ?? "admin"]}` };
  const reply = async (res: Response): Promise<Reply> => {
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, body };
  };

  return {
    ...t,
    api,
    async call(action, body = {}, o = {}) {
      const res = await api.app.request(`/api/${action}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth(o.role), ...o.headers },
        body: o.raw ?? JSON.stringify(body),
      });
      return reply(res);
    },
    async get(path, o = {}) {
      return reply(await api.app.request(path, { headers: { ...auth(o.role), ...o.headers } }));
    },
    async addHost(id, o = {}) {
      const now = Date.now();
      const lastSeenAt = new Date(o.online === false ? now - 3_600_000 : now).toISOString();
      await putHost(t.redis, t.keys, hostRecord(id, { networks: o.networks ?? 0, lastSeenAt }));
    },
    async addNetwork(o) {
      const now = new Date().toISOString();
      const rec: NetworkRecord = {
        uuid: "00000000-0000-4000-8000-000000000001",
        type: "nat",
        description: "",
        cidr: null,
        gateway: null,
        dhcp: { enabled: false, start: null, end: null, leaseTime: null },
        state: "active",
        autostart: true,
        bridge: { name: `nf-${o.name}`, interface: null },
        sriov: null,
        firewall: { defaultInbound: "accept", defaultOutbound: "accept", rules: [] },
        portForwards: [],
        dnsHosts: [],
        reservations: [],
        managedBy: null,
        mtu: null,
        qos: null,
        createdAt: now,
        updatedAt: now,
        ...o,
      };
      await claimNetwork(t.redis, t.keys, { name: rec.name, host: rec.host, cidr: rec.cidr });
      await putNetwork(t.redis, t.keys, rec);
      return rec;
    },
    async advance(jobId, type, change) {
      const r = await getJob(t.redis, t.keys, jobId);
      if (!r) throw new Error(`no job ${jobId}`);
      const now = new Date().toISOString();
      if (type === "progress") {
        r.state = "running";
        r.attempts = Math.max(1, r.attempts);
        r.startedAt ??= now;
        const step = r.progress.steps.find((s) => s.state === "pending" || s.state === "running");
        if (step) {
          if (step.state === "running") {
            step.state = "succeeded";
            step.finishedAt = now;
          } else {
            step.state = "running";
            step.startedAt = now;
          }
          r.progress.step = step.name;
        }
      } else {
        r.state = type;
        r.finishedAt = now;
        for (const s of r.progress.steps) if (type === "succeeded" && s.state !== "succeeded") s.state = "succeeded";
        if (type === "failed")
          r.error ??= { code: "HOST_COMMAND_FAILED", message: "virsh net-start failed", details: { step: "starting network" } };
      }
      r.progress.percent = percentOf(r.progress.steps);
      change?.(r);
      await commitJobEvent(t.redis, t.keys, r, type);
    },
    keysMatching: (glob) => scanKeys(t.redis, `${t.prefix}:${glob}`),
    async listen() {
      server ??= await new Promise<ReturnType<typeof serve>>((resolve) => {
        const s = serve({ fetch: api.app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
      });
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async close() {
      await api.close();
      if (server) {
        const s = server;
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        // Streams are already ended by api.close(); what is left are idle keep-alive sockets of the test's fetch.
        if ("closeAllConnections" in s) s.closeAllConnections();
        await closed;
      }
      await t.cleanup();
    },
  };
}

/** Assert the one error shape; returns the error object. */
export function expectError(r: Reply, status: number, code: string): ErrorBody {
  const ctx = `${status}/${code} expected, got ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`;
  if (r.status !== status) throw new Error(ctx);
  const e = r.body?.error;
  if (!e || e.code !== code || typeof e.message !== "string" || typeof e.details !== "object" || e.details === null) throw new Error(ctx);
  if (typeof e.requestId !== "string" || e.requestId !== r.headers.get("x-request-id")) {
    throw new Error(`requestId missing or not the X-Request-Id header: ${ctx}`);
  }
  return e as ErrorBody;
}

/** A valid create-network body. */
export function natBody(name: string, cidr = "192.168.100.0/24", extra: Record<string, unknown> = {}) {
  return { name, type: "nat", cidr, ...extra };
}
