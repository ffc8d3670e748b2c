/**
 * Parallelism on one host (BENCH_ONLY=concurrency): the real worker on one
 * sandbox host, restarted at NETFORGE_WORKER_CONCURRENCY 1, 4 and 8. At each
 * level: BENCH_CONC_CREATES (default 40) create-network of distinct networks
 * submitted at once, then two firewall changes of each of 10 of those
 * networks submitted at once (two jobs of one network queued together), then
 * every network deleted at once. Throughput comes from the job records
 * (first submission to last finish), and the same records prove the rule:
 * jobs of one network never overlapped, while jobs of different networks did
 * (the most seen running at one instant is printed).
 */
import { loadavg } from "node:os";
import { getHost, hostStatus, type JobRecord, type Keys, type Redis } from "@netforge/core/store";
import { spawnWorker } from "@netforge/devstack";
import type { SandboxHost } from "@netforge/sandbox";
import { jobLatencies, overlaps, stepSamples, throughput, waitForJobs } from "./job-timing";
import { median, ms, p95 } from "./stats";

type Post = (action: string, body: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;

export const CONCURRENCY_LEVELS = [1, 4, 8];
const CREATES = Number(process.env.BENCH_CONC_CREATES ?? 40);

export interface WorkerTarget {
  hostId: string;
  redisUrl: string;
  prefix: string;
}

/** A worker for the sandbox host at the given concurrency, returned once the host shows online again. */
export async function startHostWorker(h: SandboxHost, redis: Redis, keys: Keys, target: WorkerTarget, concurrency: number) {
  const since = Date.now();
  const w = spawnWorker({
    hostId: target.hostId,
    redisUrl: target.redisUrl,
    prefix: target.prefix,
    enter: h.nsenterPrefix,
    env: { LOG_LEVEL: "warn", NETFORGE_WORKER_CONCURRENCY: String(concurrency) },
  });
  for (let i = 0; ; i++) {
    const rec = await getHost(redis, keys, target.hostId);
    if (rec && Date.parse(rec.startedAt) >= since - 1000 && hostStatus(rec) === "online") break;
    if (i > 600 || w.exited) throw new Error("worker did not come online");
    await new Promise((r) => setTimeout(r, 100));
  }
  // The host record is written just before the queue consumer starts; give it a moment so the batch timing
  // below measures jobs, not the worker's start.
  await new Promise((r) => setTimeout(r, 1000));
  return w;
}

/** Submit all at once (no Prefer: wait); the job ids. */
async function submitAll(post: Post, reqs: [string, unknown][]): Promise<string[]> {
  const res = await Promise.all(reqs.map(([a, b]) => post(a, b)));
  return res.map((r, i) => {
    if (r.status !== 202) throw new Error(`${reqs[i]?.[0]}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.job.id as string;
  });
}

/** One level: creates, paired firewall jobs, deletes. The create jobs are returned for their step timings. */
async function level(post: Post, redis: Redis, keys: Keys, host: string, c: number, tag: string) {
  const names = Array.from({ length: CREATES }, (_, i) => `cc${tag}${i}`);
  const creates = await waitForJobs(
    redis,
    keys,
    await submitAll(
      post,
      names.map((name, i) => ["create-network", { name, type: "nat", host, cidr: `10.${120 + c}.${i}.0/24` }]),
    ),
    300_000,
  );
  const failed = creates.filter((j) => j.state !== "succeeded");
  if (failed.length) throw new Error(`concurrency ${c}: ${failed.length} creates failed: ${JSON.stringify(failed[0]?.error)}`);
  // Two jobs of one network queued together: the second must wait for the first (network lock).
  const pairs = names.slice(0, 10).flatMap((name): [string, unknown][] => [
    ["configure-network-firewall", { name, defaultInbound: "drop", rules: [] }],
    ["configure-network-firewall", { name, defaultInbound: "accept", rules: [] }],
  ]);
  const fw = await waitForJobs(redis, keys, await submitAll(post, pairs), 300_000);
  const deletes = await waitForJobs(
    redis,
    keys,
    await submitAll(
      post,
      names.map((name) => ["delete-network", { name }]),
    ),
    300_000,
  );
  const notOk = [...fw, ...deletes].filter((j) => j.state !== "succeeded");
  if (notOk.length) throw new Error(`concurrency ${c}: ${notOk.length} jobs failed: ${JSON.stringify(notOk[0]?.error)}`);
  return { creates, fw, deletes };
}

export async function benchConcurrency(
  h: SandboxHost,
  post: Post,
  redis: Redis,
  keys: Keys,
  target: WorkerTarget,
): Promise<{ rows: string[][]; createsAt8: JobRecord[] }> {
  const rows: string[][] = [];
  const steps: string[][] = [];
  let base = 0;
  let createsAt8: JobRecord[] = [];
  for (const c of CONCURRENCY_LEVELS) {
    process.stderr.write(`bench concurrency: level ${c}...\n`);
    const w = await startHostWorker(h, redis, keys, target, c);
    try {
      const { creates, fw, deletes } = await level(post, redis, keys, target.hostId, c, `${c}x`);
      const all = [...creates, ...fw, ...deletes];
      const ov = overlaps(all);
      // The rule this level must keep: it fails the run, not just a row.
      if (ov.sameNetwork.length) throw new Error(`concurrency ${c}: jobs of one network overlapped: ${ov.sameNetwork.join("; ")}`);
      const tp = throughput(creates);
      const del = throughput(deletes);
      if (c === 1) base = tp.perSec;
      if (c === 8) createsAt8 = creates;
      const lat = jobLatencies(creates);
      rows.push([
        `create-network x${CREATES} at once, worker concurrency ${c}`,
        `${creates.length}`,
        `${tp.perSec.toFixed(2)} creates/s (${tp.seconds.toFixed(1)} s)`,
        `job latency med ${ms(median(lat))}, p95 ${ms(p95(lat))}`,
        `${(tp.perSec / base).toFixed(2)}x conc 1; most running at once ${overlaps(creates).maxParallel}; load avg ${loadavg()[0]?.toFixed(1)}`,
      ]);
      rows.push([
        `  delete-network x${CREATES} at once, concurrency ${c}`,
        `${deletes.length}`,
        `${del.perSec.toFixed(2)} deletes/s`,
        "",
        `same-network overlaps in ${all.length} jobs (incl. ${fw.length} paired firewall jobs): ${ov.sameNetwork.length}`,
      ]);
      for (const [name, xs] of stepSamples(creates))
        steps.push([`  conc ${c} create step: ${name}`, `${xs.length}`, ms(median(xs)), ms(p95(xs)), ""]);
    } finally {
      await w.stop(15_000);
    }
  }
  return { rows: [...rows, ...steps], createsAt8 };
}
