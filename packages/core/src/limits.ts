/**
 * Documented size caps (issue 15, "Unbounded sizes"): per network, per host and per token. Read from the
 * environment by the API and the worker alike (both check: the API at the door, the worker on the host), and
 * refused with LIMIT_REACHED (409) whose `details` name the limit, its setting and the count it would reach.
 */
import { AppError } from "./errors";

/** The caps; each has a setting (SIZE_LIMIT_SETTINGS) and a default (DEFAULT_SIZE_LIMITS). */
export interface SizeLimits {
  /** Port forwards of one nat network. */
  forwardsPerNetwork: number;
  /** Static DHCP reservations of one network. */
  reservationsPerNetwork: number;
  /** Firewall rules of one network (the body replaces the whole set). */
  firewallRulesPerNetwork: number;
  /** Firewall rules plus port forwards across every network of one host (its nft table). */
  rulesPerHost: number;
  /** Jobs a token has queued or running at once. */
  queuedJobsPerToken: number;
}

export const DEFAULT_SIZE_LIMITS: SizeLimits = {
  forwardsPerNetwork: 1024,
  reservationsPerNetwork: 4096,
  firewallRulesPerNetwork: 500,
  rulesPerHost: 10_000,
  queuedJobsPerToken: 1000,
};

/** The environment variable of each cap. */
export const SIZE_LIMIT_SETTINGS: { [K in keyof SizeLimits]: string } = {
  forwardsPerNetwork: "NETFORGE_MAX_FORWARDS_PER_NETWORK",
  reservationsPerNetwork: "NETFORGE_MAX_RESERVATIONS_PER_NETWORK",
  firewallRulesPerNetwork: "NETFORGE_MAX_FIREWALL_RULES_PER_NETWORK",
  rulesPerHost: "NETFORGE_MAX_RULES_PER_HOST",
  queuedJobsPerToken: "NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN",
};

/** The firewall body's own bound (schema, 400): a firewall cap above it cannot be reached. */
export const FIREWALL_RULES_HARD_MAX = 1000;

let cached: { raw: string; value: SizeLimits } | null = null;

/**
 * The caps from the environment (unset or empty: the default); throws naming the variable when a value is
 * not a whole number of at least 1.
 */
export function sizeLimits(env: Record<string, string | undefined> = process.env): SizeLimits {
  const names = Object.entries(SIZE_LIMIT_SETTINGS) as [keyof SizeLimits, string][];
  const raw = names.map(([, v]) => env[v]?.trim() ?? "").join("|");
  if (cached?.raw === raw) return cached.value;
  const value = { ...DEFAULT_SIZE_LIMITS };
  for (const [k, v] of names) {
    const s = env[v]?.trim() ?? "";
    if (s === "") continue;
    if (!/^[1-9][0-9]{0,8}$/.test(s)) throw new Error(`${v} must be a whole number (at least 1)`);
    value[k] = Number(s);
  }
  cached = { raw, value };
  return value;
}

/** The LIMIT_REACHED refusal of one cap: `count` is what the request would make it. */
export function limitReached(
  which: keyof SizeLimits,
  limit: number,
  count: number,
  what: string,
  extra: Record<string, unknown> = {},
): AppError {
  return new AppError("LIMIT_REACHED", `${what}: limit is ${limit} (${SIZE_LIMIT_SETTINGS[which]}), this would make ${count}`, {
    limit,
    setting: SIZE_LIMIT_SETTINGS[which],
    count,
    ...extra,
  });
}

/**
 * Refuse a change that grows a host's rules past the cap: `others` is the sum over the host's other networks,
 * `before`/`after` this network's count. A change that does not grow the count always passes (an operator who
 * lowers the cap can still shrink).
 */
export function checkHostRules(limit: number, others: number, before: number, after: number, host: string): void {
  if (after <= before || others + after <= limit) return;
  throw limitReached("rulesPerHost", limit, others + after, `host ${host} would carry too many firewall rules and port forwards`, {
    host,
  });
}
