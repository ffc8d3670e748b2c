/**
 * Counters a worker keeps in Redis about what happens on its host (lock
 * waits, drift repairs, reconcile re-applies...), so the API's /metrics
 * exposes the whole cluster from one scrape. One HASH per host: field =
 * counter name, value = count since the key was created.
 */
import type { Redis } from "ioredis";
import type { Keys } from "./keys";

/** Counters workers increment. */
export const WORKER_COUNTERS = ["lock_waits", "drift_repairs"] as const;
export type WorkerCounter = (typeof WORKER_COUNTERS)[number] | (string & {});

/** Add `by` to a host's counter (fire-and-forget callers catch: a lost increment must never fail a job). */
export async function countWorkerEvent(redis: Redis, keys: Keys, host: string, counter: WorkerCounter, by = 1): Promise<void> {
  await redis.hincrby(keys.workerCounters(host), counter, by);
}

/** Every counter of each host. */
export async function readWorkerCounters(redis: Redis, keys: Keys, hosts: string[]): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  if (hosts.length === 0) return out;
  const pipe = redis.pipeline();
  for (const h of hosts) pipe.hgetall(keys.workerCounters(h));
  const res = (await pipe.exec()) ?? [];
  hosts.forEach((h, i) => {
    const raw = (res[i]?.[1] ?? {}) as Record<string, string>;
    out.set(h, Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)])));
  });
  return out;
}
