/**
 * What the concurrency and fleet benchmarks read from job records (the
 * timestamps the worker itself writes): throughput of a batch, job latency,
 * per-step latency samples, and whether two jobs of one network ever ran at
 * the same time.
 */
import { getJobs, type JobRecord, type Keys, type Redis } from "@netforge/core/store";

const t = (iso: string | null | undefined) => (iso ? Date.parse(iso) : Number.NaN);

/** Wait until every job is succeeded or failed (polls Redis, not the API); throws after timeoutMs. */
export async function waitForJobs(redis: Redis, keys: Keys, ids: string[], timeoutMs: number): Promise<JobRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const jobs = await getJobs(redis, keys, ids);
    const open = jobs.filter((j) => j.state !== "succeeded" && j.state !== "failed");
    if (jobs.length === ids.length && open.length === 0) return jobs;
    if (Date.now() > deadline)
      throw new Error(`${open.length + ids.length - jobs.length} of ${ids.length} jobs unfinished after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Jobs per second of a batch: from the first submission to the last finish (both from the records). */
export function throughput(jobs: JobRecord[]): { perSec: number; seconds: number } {
  const first = Math.min(...jobs.map((j) => t(j.createdAt)));
  const last = Math.max(...jobs.map((j) => t(j.finishedAt)));
  const seconds = (last - first) / 1000;
  return { perSec: jobs.length / seconds, seconds };
}

/** Submission to finish, per job (ms). */
export const jobLatencies = (jobs: JobRecord[]) => jobs.map((j) => t(j.finishedAt) - t(j.createdAt));

/** Every finished step's duration (ms), by step name. */
export function stepSamples(jobs: JobRecord[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const j of jobs)
    for (const s of j.progress.steps) {
      if (s.state !== "succeeded" || !s.startedAt || !s.finishedAt) continue;
      const xs = out.get(s.name) ?? [];
      xs.push(t(s.finishedAt) - t(s.startedAt));
      out.set(s.name, xs);
    }
  return out;
}

/** When a job held its network: from its start (lock taken) to its finish. */
const span = (j: JobRecord): [number, number] => [t(j.startedAt ?? j.progress.steps[0]?.startedAt), t(j.finishedAt)];

/**
 * Pairs of jobs of the SAME network whose runs overlapped (must be none), and
 * the most jobs of DIFFERENT networks seen running at one instant (the
 * parallelism the worker actually reached).
 */
export function overlaps(jobs: JobRecord[]): { sameNetwork: string[]; maxParallel: number } {
  const byNet = new Map<string, JobRecord[]>();
  for (const j of jobs) byNet.set(j.network, [...(byNet.get(j.network) ?? []), j]);
  const sameNetwork: string[] = [];
  for (const [net, js] of byNet)
    for (let a = 0; a < js.length; a++)
      for (let b = a + 1; b < js.length; b++) {
        const [s1, e1] = span(js[a] as JobRecord);
        const [s2, e2] = span(js[b] as JobRecord);
        if (s1 < e2 && s2 < e1) sameNetwork.push(`${net}: ${js[a]?.action} and ${js[b]?.action}`);
      }
  // Sweep over start/end events; an end at the same ms as a start counts first (touching is not overlapping).
  const events = jobs.flatMap((j) => {
    const [s, e] = span(j);
    return [
      [s, 1],
      [e, -1],
    ] as [number, number][];
  });
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let cur = 0;
  let maxParallel = 0;
  for (const [, d] of events) {
    cur += d;
    maxParallel = Math.max(maxParallel, cur);
  }
  return { sameNetwork, maxParallel };
}
