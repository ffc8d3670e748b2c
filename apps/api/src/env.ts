/** The API's configuration, read once from the environment and checked with zod. */
import { type AllowedPools, parseAllowedCidrs } from "@netforge/core/contract";
import { z } from "zod";
import { TrustedProxies } from "./auth";
import { MIN_TOKEN_LENGTH } from "./tokens";
import { parseVniRange, type VniRange } from "@netforge/core/store";
import { parseApiAddresses } from "./api-addresses";

/** A list setting parsed by `parse` (which throws naming the bad entries), as a zod transform with that message. */
const listSetting = <T>(parse: (text: string) => T) =>
  z.string().transform((text, ctx): T => {
    try {
      return parse(text);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  });

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const ApiEnv = z.object({
  // Redis holding the queues, jobs and cluster index: redis://host:port/db, rediss://..., unix:///path/redis.sock,
  // or a Sentinel-managed one: redis-sentinel://host:26379,host:26379/<master name>?db=N
  REDIS_URL: z
    .string({ error: "is required (e.g. redis://127.0.0.1:6379/0)" })
    .refine((s) => /^(redis|rediss|unix|redis-sentinel):\/\//.test(s), "must start with redis://, rediss://, unix:// or redis-sentinel://"),
  // Key and queue prefix, so several installations (or test runs) can share one Redis; braces allow a Redis Cluster hash tag
  NETFORGE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._{}-]{1,64}$/, "must be 1-64 characters of letters, digits, '.', '_', '-', '{', '}'")
    .default("netforge"),
  // TCP port to listen on (0 = any free port)
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  // Address to listen on; the default keeps the API on loopback until an operator opens it up
  HOST: z.string().min(1).default("127.0.0.1"),
  // "token:role,token:role" (or "sha256:<hex>:role") or the path of a file of such entries; unset = one random admin
  // token for this run, only when HOST is a loopback address (the API refuses to start otherwise)
  NETFORGE_TOKENS: z.string().optional(),
  // Reverse proxies (addresses/CIDRs, comma or space separated) whose X-Forwarded-For names the client; unset = none
  NETFORGE_TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return TrustedProxies.parse(v).entries as string[];
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message.replace(/^NETFORGE_TRUSTED_PROXIES: /, "") });
        return z.NEVER;
      }
    }),
  // When set, GET /metrics needs "Authorization: Bearer <it>"; unset = /metrics is open (like /healthz)
  NETFORGE_METRICS_TOKEN: z
    .string()
    .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces")
    .min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters (generate one with: openssl rand -base64 24)`)
    .optional(),
  // A /metrics scrape within this many seconds of the last one gets the same text (0 = render every scrape)
  NETFORGE_METRICS_CACHE_SECONDS: z.coerce.number().min(0).max(300).default(2),
  // pino log level
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  // Requests per second allowed per token (0 = no limit)
  NETFORGE_RATE_LIMIT: z.coerce.number().int().min(0).default(100),
  // Failed authentications allowed per client address and minute, also the burst (0 = no limit)
  NETFORGE_AUTH_FAIL_LIMIT: z.coerce.number().int().min(0).default(30),
  // Open Server-Sent Events streams allowed per token, and in total
  NETFORGE_SSE_MAX_PER_TOKEN: z.coerce.number().int().min(1).default(100),
  NETFORGE_SSE_MAX_TOTAL: z.coerce.number().int().min(1).default(10_000),
  // API processes sharing the port (node:cluster; 1 = no cluster). Rate limits, SSE caps and /metrics are per process.
  NETFORGE_API_PROCESSES: z.coerce.number().int().min(1).max(64).default(1),
  // Bound of each Redis command of a request, and the time a job submission has to take effect
  NETFORGE_REDIS_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(1_000),
  // Subnet pools networks may use, cluster-wide (CIDRs, comma/space separated); unset = 10.0.0.0/8, 172.16.0.0/12,
  // 192.168.0.0/16. A subnet must lie wholly inside one pool, else 422 NOT_ALLOWED.
  NETFORGE_ALLOWED_CIDRS: listSetting<AllowedPools>(parseAllowedCidrs).optional(),
  // The VXLAN ids (VNIs) overlay networks are given, "first-last" (1-16777215); unset = 10000-19999
  NETFORGE_VNI_RANGE: listSetting<VniRange>(parseVniRange).optional(),
  // IPv4 addresses clients and workers reach this API on, published for workers to protect; unset = HOST when it
  // is one concrete address, else the address this API's Redis connection leaves from
  NETFORGE_API_ADDRESSES: listSetting(parseApiAddresses).optional(),
});
export type ApiEnv = z.infer<typeof ApiEnv>;

/** Parse the environment; empty variables count as unset. Throws one Error naming every bad variable. */
export function parseApiEnv(env: Record<string, string | undefined>): ApiEnv {
  const present: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== "") present[k] = v.trim();
  const r = ApiEnv.safeParse(present);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join(".") || "env"}: ${i.message}`);
    throw new Error(`invalid environment:\n${lines.join("\n")}`);
  }
  return r.data;
}
