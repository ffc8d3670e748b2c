/** What createApp is given, and the services its routes share. */
import { type AllowedPools, defaultAllowedPools, type Role } from "@netforge/core/contract";
import type { SizeLimits } from "@netforge/core/model";
import { DEFAULT_VNI_RANGE, type Keys, type Redis, type VniRange } from "@netforge/core/store";
import type { PublishedAddresses } from "./api-addresses";
import type { Logger } from "pino";
import type { HostQueues } from "./host-queues";
import type { JobEventBus } from "./job-event-bus";
import type { ApiMetrics } from "./metrics";
import type { SseStreams } from "./sse";
import type { TokenTable } from "./tokens";

/** Tunables of one API instance. */
export interface ApiConfig {
  /** Largest accepted request body. */
  bodyLimitBytes: number;
  /** Requests per second per token; 0 = no limit. */
  rateLimitPerSecond: number;
  /** Interval of SSE heartbeat comments (also how often a job stream re-reads missed events). */
  sseHeartbeatMs: number;
  /** Upper bound of `Prefer: wait`. */
  maxWaitSeconds: number;
  /** Failed authentications allowed per client address and minute (also the burst); 0 = no limit. */
  authFailuresPerMinute: number;
  /** Open SSE streams allowed per token. */
  sseMaxPerToken: number;
  /** Open SSE streams allowed in total (this API process). */
  sseMaxTotal: number;
  /**
   * Bound of every Redis command of request work, and the time a job
   * submission has to take effect (its deadline, checked by Redis itself).
   */
  redisTimeoutMs: number;
  /** Addresses/CIDRs of reverse proxies whose X-Forwarded-For names the client (NETFORGE_TRUSTED_PROXIES); empty: none. */
  trustedProxies: string[];
  /** When set, GET /metrics needs `Authorization: Bearer <it>` (NETFORGE_METRICS_TOKEN). */
  metricsToken: string | null;
  /** A scrape within this many seconds of the last one gets the same text (NETFORGE_METRICS_CACHE_SECONDS; 0: none). */
  metricsCacheSeconds: number;
  /** How often the claim sweeper runs (0: never; release-network-claim still works). */
  claimSweepIntervalMs: number;
  /** Claims younger than this are never released (a create may be between claim and job); far above any request's life. */
  claimGraceMs: number;
  /** For the sweeper, a network's host still holds its claim while last seen within this long. */
  claimOfflineHostGraceMs: number;
  /** Subnet pools a network must lie wholly inside (NETFORGE_ALLOWED_CIDRS; default 10/8, 172.16/12, 192.168/16). */
  allowedCidrs: AllowedPools;
  /** The VXLAN ids overlay networks are given (NETFORGE_VNI_RANGE; default 10000-19999). */
  vniRange: VniRange;
  /** The addresses this API publishes for workers to protect (none by default: index.ts sets them). */
  publishAddresses: PublishedAddresses;
  /** Size caps (LIMIT_REACHED); absent: from the environment (core's sizeLimits). */
  limits?: Partial<SizeLimits>;
}

export const DEFAULT_API_CONFIG: ApiConfig = {
  bodyLimitBytes: 64 * 1024,
  rateLimitPerSecond: 100,
  sseHeartbeatMs: 15_000,
  maxWaitSeconds: 60,
  authFailuresPerMinute: 30,
  sseMaxPerToken: 100,
  sseMaxTotal: 10_000,
  redisTimeoutMs: 1_000,
  trustedProxies: [],
  metricsToken: null,
  metricsCacheSeconds: 2,
  claimSweepIntervalMs: 60_000,
  claimGraceMs: 300_000,
  claimOfflineHostGraceMs: 86_400_000,
  allowedCidrs: defaultAllowedPools(),
  vniRange: DEFAULT_VNI_RANGE,
  publishAddresses: [],
};

/** Dependencies of createApp. */
export interface AppDeps {
  /** Shared client for commands (not used for SUBSCRIBE: the event bus duplicates it). */
  redis: Redis;
  keys: Keys;
  logger: Logger;
  /** token (or `sha256:<hex>` of one) -> role, or a TokenTable; the app keeps only the hashes. */
  tokens: Map<string, Role> | TokenTable;
  config?: Partial<ApiConfig>;
}

/** Everything a route needs, built once per app. */
export interface Services {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  config: ApiConfig;
  bus: JobEventBus;
  queues: HostQueues;
  metrics: ApiMetrics;
  sse: SseStreams;
  /** The size caps in force (config.limits over the environment's). */
  limits: SizeLimits;
  /** Aborted by close(): ends pending `Prefer: wait` holds. */
  shutdown: AbortSignal;
  /** The last store epoch this process saw (store-epoch.ts): none now means the store lost its data. */
  storeEpochSeen?: string | null;
}

/** Per-request variables set by the middleware. */
export type AppEnv = {
  Variables: {
    requestId: string;
    log: Logger;
    /** The client's address (the TCP peer, or X-Forwarded-For from a trusted proxy); undefined without a socket. */
    clientAddress: string | undefined;
    /** Set by bearer auth on /api/*: the token's id (its hex SHA-256), never the token itself. */
    token: string;
    role: Role;
  };
};
