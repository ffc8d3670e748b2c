/**
 * A simulated fleet (BENCH_ONLY=fleet): can the control plane keep up with
 * many hosts? Two phases in one run:
 *  1. Real: one sandbox host with the real worker (concurrency 8, the
 *     default), FLEET_PER_HOST (20) create-network submitted at once through
 *     the API process, BENCH_FLEET_REAL_ROUNDS (2) times (deleted between).
 *     The job records give each create step's latency on a real host under
 *     that load; they are printed, and they are what the simulation sleeps.
 *  2. Simulated: 1, 10 and 100 hosts, each a real worker (startWorker, as
 *     shipped) on a SimulatedHost (bench/simulated-host.ts) that sleeps the
 *     measured step latencies; workers share BENCH_FLEET_PER_PROC (25) per
 *     process. The real API process and a real Redis; the load driver
 *     (bench/fleet-load.ts) in its own process submits 20 creates per host
 *     at once. Per level: create throughput (first submission to last finish,
 *     from the job records), p95 job latency, and the CPU of Redis (INFO cpu),
 *     the API process, the simulated workers and the load driver over the
 *     same window; from these, where it bends and what a larger fleet needs.
 * Target: 100 hosts >= 25x the throughput of 1.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connectRedis, getHost, type JobRecord, type Keys, makeKeys, putHost, type Redis } from "@netforge/core/store";
import { type RedisServer, startRedisServer, TSX_LOADER } from "@netforge/devstack";
import { createSandboxHost, destroySandboxHost } from "@netforge/sandbox";
import { execa, type ResultPromise } from "execa";
import { redisCommandStats, startApiProcess } from "./api-process";
import { startHostWorker } from "./concurrency";
import { jobLatencies, stepSamples, throughput, waitForJobs } from "./job-timing";
import { SIMULATED_STEPS, type StepSamples } from "./simulated-host";
import { median, ms, p95 } from "./stats";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const TOKEN = "bench-fleet-token-0123456789";
const PER_HOST = Number(process.env.FLEET_PER_HOST ?? 20);
/** Fleet sizes; empty (BENCH_FLEET_HOSTS=) runs the real phase only, e.g. to save its samples under the lock. */
const LEVELS = (process.env.BENCH_FLEET_HOSTS ?? "1,10,100").split(",").filter(Boolean).map(Number);
const PER_PROC = Number(process.env.BENCH_FLEET_PER_PROC ?? 25);
const REAL_ROUNDS = Number(process.env.BENCH_FLEET_REAL_ROUNDS ?? 2);
const SIM_ROUNDS = Number(process.env.BENCH_FLEET_ROUNDS ?? 3);
const CLK_TCK = 100;

/** CPU seconds a process used so far (utime + stime from /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** CPU seconds the whole machine spent busy so far (all cores; /proc/stat, everything but idle and iowait). */
function machineBusySeconds(): number {
  const f = (readFileSync("/proc/stat", "utf8").split("\n")[0] as string).trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) / CLK_TCK;
}

/** Redis's own CPU (INFO cpu, main thread and children) and commands served so far. */
async function redisUsage(redis: Redis): Promise<{ cpu: number; commands: number }> {
  const info = `${await redis.info("cpu")}\n${await redis.info("stats")}`;
  const num = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, "m").exec(info)?.[1] ?? 0);
  return { cpu: num("used_cpu_sys") + num("used_cpu_user"), commands: num("total_commands_processed") };
}

interface Stack {
  redisServer: RedisServer;
  redis: Redis;
  keys: Keys;
  prefix: string;
  base: string;
  apiPid: number;
  /** create-network requests' in-server ms (API request log), appended as they come. */
  serverMs: number[];
  stop(): Promise<void>;
}

/** A private Redis and the real API as its own process (bench/api-process.ts). */
async function startStack(): Promise<Stack> {
  const redisServer = await startRedisServer();
  const prefix = `bfleet-${randomBytes(3).toString("hex")}`;
  const keys = makeKeys(prefix);
  const redis = connectRedis(redisServer.url);
  // One token submits every host's creates at once: above the default quota of unfinished jobs per token.
  const api = await startApiProcess({
    redisUrl: redisServer.url,
    prefix,
    token: TOKEN,
    env: { NETFORGE_MAX_QUEUED_JOBS_PER_TOKEN: "100000000" },
  });
  return {
    redisServer,
    redis,
    keys,
    prefix,
    base: api.base,
    apiPid: api.pid,
    // In-server time of each create-network: the API's share of a submission.
    get serverMs() {
      return api.serverMs("/api/create-network");
    },
    async stop() {
      await api.stop();
      redis.disconnect();
      await redisServer.stop();
    },
  };
}

async function post(base: string, action: string, body: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}/api/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

interface LoadOut {
  ids: string[];
  errors: number;
  firstErrors: string[];
  cpuMs: number;
  submitMs: number;
}

/** The load driver (its own process): perHost creates per host, all at once over 32 connections. */
async function runLoad(s: Stack, hostIds: string[], perHost: number, round: number): Promise<LoadOut> {
  const load = await execa(process.execPath, ["--import", TSX_LOADER, join(ROOT, "bench/fleet-load.ts")], {
    env: {
      LOAD_BASE: s.base,
      LOAD_TOKEN: TOKEN,
      FLEET_HOSTS: hostIds.join(","),
      FLEET_PER_HOST: String(perHost),
      FLEET_ROUND: String(round),
    },
  });
  return JSON.parse(load.stdout.trim().split("\n").pop() as string) as LoadOut;
}

/** Delete every network (not measured), 32 at a time, and wait for the jobs. */
async function deleteAll(s: Stack, names: string[]): Promise<void> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < names.length) {
        const r = await post(s.base, "delete-network", { name: names[next++] });
        if (r.status !== 202) throw new Error(`delete: ${r.status} ${JSON.stringify(r.body)}`);
        ids.push(r.body.job.id);
      }
    }),
  );
  const jobs = await waitForJobs(s.redis, s.keys, ids, 300_000);
  const bad = jobs.filter((j) => j.state !== "succeeded");
  if (bad.length) throw new Error(`${bad.length} deletes failed: ${JSON.stringify(bad[0]?.error)}`);
}

/** Phase 1: step latencies and throughput of one real sandbox host (20 creates at once, concurrency 8). */
async function realPhase(): Promise<{ samples: StepSamples; perSec: number[]; jobs: JobRecord[] }> {
  const s = await startStack();
  process.stderr.write("bench fleet: real phase on a sandbox host...\n");
  const h = await createSandboxHost({ id: `fl${randomBytes(2).toString("hex")}` }).catch(async (e) => {
    await s.stop();
    throw e;
  });
  const target = { hostId: "real1", redisUrl: s.redisServer.url, prefix: s.prefix };
  const w = await startHostWorker(h, s.redis, s.keys, target, 8).catch(async (e) => {
    await destroySandboxHost(h);
    await s.stop();
    throw e;
  });
  const jobs: JobRecord[] = [];
  const perSec: number[] = [];
  try {
    for (let r = 0; r < REAL_ROUNDS; r++) {
      const names = Array.from({ length: PER_HOST }, (_, i) => `real${r}x${i}`);
      const res = await Promise.all(
        names.map((name, i) => post(s.base, "create-network", { name, type: "nat", host: "real1", cidr: `10.${140 + r}.${i}.0/24` })),
      );
      const ids = res.map((x) => {
        if (x.status !== 202) throw new Error(`real create: ${x.status} ${JSON.stringify(x.body)}`);
        return x.body.job.id as string;
      });
      const done = await waitForJobs(s.redis, s.keys, ids, 300_000);
      const bad = done.filter((j) => j.state !== "succeeded");
      if (bad.length) throw new Error(`${bad.length} real creates failed: ${JSON.stringify(bad[0]?.error)}`);
      jobs.push(...done);
      perSec.push(throughput(done).perSec);
      await deleteAll(s, names);
    }
  } finally {
    await w.stop(15_000);
    await destroySandboxHost(h);
    await s.stop();
  }
  const all = stepSamples(jobs);
  const samples: StepSamples = {};
  for (const step of SIMULATED_STEPS) samples[step] = all.get(step) ?? [];
  return { samples, perSec, jobs };
}

interface Level {
  hosts: number;
  perSec: number[];
  latencies: number[];
  /** Submission to the job's start (lock taken, first step), per job. */
  waits: number[];
  /** How long the load driver took to have every create accepted, per round. */
  submitMs: number[];
  /** In-server ms of the measured create-network requests. */
  serverMs: number[];
  failed: number;
  rejected: number;
  wallS: number;
  /** CPU seconds over the measured windows. */
  cpu: { redis: number; api: number; workers: number; load: number; machine: number };
  commands: number;
  creates: number;
  /** The machine's 1-minute load average at the end of each round (other work on the box shows here). */
  loadAvg: number[];
  /** The succeeded creates of every round (their step timings are compared with the real ones). */
  simJobs: JobRecord[];
  /** Redis calls and time per command over the measured windows. */
  cmdStats: Map<string, { calls: number; usec: number }>;
  /** The same submissions with no worker consuming (workers stopped, hosts kept online): API + Redis alone. */
  submitOnly: { perSec: number; serverMs: number[]; apiCpu: number; redisCpu: number; wallS: number } | null;
}

/** Phase 2, one fleet size: a fresh Redis + API, the simulated hosts, SIM_ROUNDS rounds of PER_HOST creates per host. */
async function simLevel(n: number, samples: StepSamples): Promise<Level> {
  const s = await startStack();
  const hostIds = Array.from({ length: n }, (_, i) => `sim${String(i + 1).padStart(3, "0")}`);
  const procs: ResultPromise[] = [];
  const lvl: Level = {
    hosts: n,
    perSec: [],
    latencies: [],
    waits: [],
    submitMs: [],
    serverMs: [],
    failed: 0,
    rejected: 0,
    wallS: 0,
    cpu: { redis: 0, api: 0, workers: 0, load: 0, machine: 0 },
    commands: 0,
    creates: 0,
    loadAvg: [],
    simJobs: [],
    cmdStats: new Map(),
    submitOnly: null,
  };
  try {
    for (let i = 0; i < n; i += PER_PROC) {
      // BENCH_FLEET_PROF=<dir>: each simulated-hosts process writes a V8 CPU profile there on exit.
      const prof = process.env.BENCH_FLEET_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_FLEET_PROF] : [];
      const p = execa(process.execPath, [...prof, "--import", TSX_LOADER, join(ROOT, "bench/fleet-hosts.ts")], {
        reject: false,
        cleanup: true,
        stdout: "pipe",
        stderr: "inherit",
        buffer: false,
        env: {
          REDIS_URL: s.redisServer.url,
          NETFORGE_PREFIX: s.prefix,
          FLEET_HOSTS: hostIds.slice(i, i + PER_PROC).join(","),
          FLEET_STEPS: JSON.stringify(samples),
        },
      });
      procs.push(p);
    }
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve, reject) => {
            let out = "";
            const t = setTimeout(() => reject(new Error("simulated hosts did not start")), 120_000);
            p.stdout?.on("data", (d: Buffer) => {
              out += d.toString();
              if (out.includes("ready")) {
                clearTimeout(t);
                resolve();
              }
            });
            void p.then(() => reject(new Error(`simulated hosts exited: ${out}`)));
          }),
      ),
    );
    await new Promise((r) => setTimeout(r, 1000)); // every queue consumer running
    // Warm-up, not measured: one create per host. The API creates each host's BullMQ queue on its first
    // submission (a connection and its scripts) and V8 compiles the hot paths; steady state is what is measured.
    {
      const jobs = await waitForJobs(s.redis, s.keys, (await runLoad(s, hostIds, 1, 9)).ids, 120_000);
      await deleteAll(
        s,
        jobs.filter((j) => j.state === "succeeded").map((j) => j.network),
      );
    }
    for (let round = 0; round < SIM_ROUNDS; round++) {
      process.stderr.write(`bench fleet: ${n} simulated host(s), round ${round + 1}/${SIM_ROUNDS}...\n`);
      const pids = procs.map((p) => p.pid as number);
      const r0 = await redisUsage(s.redis);
      const a0 = cpuSeconds(s.apiPid);
      const w0 = pids.reduce((x, pid) => x + cpuSeconds(pid), 0);
      const m0 = machineBusySeconds();
      const t0 = performance.now();
      const logged = s.serverMs.length;
      const c0 = await redisCommandStats(s.redis);
      const out = await runLoad(s, hostIds, PER_HOST, round);
      lvl.submitMs.push(out.submitMs);
      lvl.serverMs.push(...s.serverMs.slice(logged));
      if (out.errors) process.stderr.write(`bench fleet: ${out.errors} submissions rejected: ${out.firstErrors.join("; ")}\n`);
      lvl.rejected += out.errors;
      // Done when every accepted create is in the index (a cheap ZCARD, not a read of every job), then the records.
      for (let k = 0; (await s.redis.zcard(s.keys.networks)) < out.ids.length && k < 3000; k++)
        await new Promise((r) => setTimeout(r, 100));
      const jobs = await waitForJobs(s.redis, s.keys, out.ids, 120_000);
      const wall = (performance.now() - t0) / 1000;
      const r1 = await redisUsage(s.redis);
      lvl.cpu.redis += r1.cpu - r0.cpu;
      lvl.cpu.api += cpuSeconds(s.apiPid) - a0;
      lvl.cpu.workers += pids.reduce((x, pid) => x + cpuSeconds(pid), 0) - w0;
      lvl.cpu.load += out.cpuMs / 1000;
      lvl.cpu.machine += machineBusySeconds() - m0;
      lvl.commands += r1.commands - r0.commands;
      for (const [cmd, v] of await redisCommandStats(s.redis)) {
        const before = c0.get(cmd) ?? { calls: 0, usec: 0 };
        const acc = lvl.cmdStats.get(cmd) ?? { calls: 0, usec: 0 };
        lvl.cmdStats.set(cmd, { calls: acc.calls + v.calls - before.calls, usec: acc.usec + v.usec - before.usec });
      }
      lvl.wallS += wall;
      lvl.loadAvg.push(loadavg()[0] as number);
      lvl.creates += jobs.length;
      const ok = jobs.filter((j) => j.state === "succeeded");
      lvl.failed += jobs.length - ok.length;
      lvl.perSec.push(throughput(jobs).perSec);
      lvl.latencies.push(...jobLatencies(ok));
      lvl.waits.push(...ok.map((j) => Date.parse(j.startedAt ?? j.createdAt) - Date.parse(j.createdAt)));
      lvl.simJobs.push(...ok);
      await deleteAll(
        s,
        ok.map((j) => j.network),
      );
    }
    // Baseline in the same stack: the same submissions to the same hosts with no worker running (hosts kept
    // online by hand). What the API and Redis do alone; the gap to the rounds above is what workers add.
    for (const p of procs) p.kill("SIGTERM");
    await Promise.allSettled(procs);
    for (const id of hostIds) {
      const rec = await getHost(s.redis, s.keys, id);
      if (rec) await putHost(s.redis, s.keys, { ...rec, stoppedAt: undefined, lastSeenAt: new Date(Date.now() + 3600_000).toISOString() });
    }
    const logged = s.serverMs.length;
    const a0 = cpuSeconds(s.apiPid);
    const r0 = await redisUsage(s.redis);
    const out = await runLoad(s, hostIds, PER_HOST, 5);
    const wallS = out.submitMs / 1000;
    lvl.submitOnly = {
      perSec: out.ids.length / wallS,
      serverMs: s.serverMs.slice(logged),
      apiCpu: cpuSeconds(s.apiPid) - a0,
      redisCpu: (await redisUsage(s.redis)).cpu - r0.cpu,
      wallS,
    };
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await Promise.allSettled(procs);
    await s.stop();
  }
  return lvl;
}

const pct = (cpuS: number, wallS: number) => `${((cpuS / wallS) * 100).toFixed(0)}%`;

/**
 * BENCH_FLEET_STEPS_FILE=<json>: take the step latencies from an earlier run's output (written to
 * BENCH_FLEET_STEPS_OUT) instead of the real phase: the simulation alone needs no sandbox host and no lock.
 */
async function stepsFromFile(file: string): Promise<{ samples: StepSamples; perSec: number[]; jobs: JobRecord[] }> {
  const saved = JSON.parse(readFileSync(file, "utf8")) as { samples: StepSamples; perSec: number[]; jobs: JobRecord[] };
  return saved;
}

export async function benchFleet(): Promise<string[][]> {
  const rows: string[][] = [];
  const fromFile = process.env.BENCH_FLEET_STEPS_FILE;
  const real = fromFile ? await stepsFromFile(fromFile) : await realPhase();
  if (process.env.BENCH_FLEET_STEPS_OUT) writeFileSync(process.env.BENCH_FLEET_STEPS_OUT, JSON.stringify(real));
  const realMed = median(real.perSec);
  rows.push([
    `REAL sandbox host: ${PER_HOST} creates at once, concurrency 8 (${REAL_ROUNDS} rounds)`,
    `${real.jobs.length}`,
    `${realMed.toFixed(2)} creates/s`,
    real.jobs.length ? `p95 job latency ${ms(p95(jobLatencies(real.jobs)))}` : "",
    fromFile ? `from ${fromFile} (an earlier run)` : "measured in this run: what the simulation sleeps",
  ]);
  const levels: Level[] = [];
  for (const n of LEVELS) levels.push(await simLevel(n, real.samples));
  if (levels.length === 0) {
    for (const step of SIMULATED_STEPS) {
      const r = real.samples[step] ?? [];
      rows.push([`  step '${step}' (real)`, `${r.length}`, ms(median(r)), `p95 ${ms(p95(r))}`, ""]);
    }
    return rows;
  }
  const base = levels[0] as Level;
  const baseRate = median(base.perSec);
  for (const l of levels) {
    const rate = median(l.perSec);
    const ratio = rate / baseRate;
    const target = l.hosts === 100 ? ` (target >= 25x: ${ratio >= 25 ? "met" : "missed"})` : "";
    rows.push([
      `SIM ${l.hosts} host(s) x ${PER_HOST} creates at once (${SIM_ROUNDS} rounds)`,
      `${l.creates}`,
      `${rate.toFixed(1)} creates/s`,
      `p95 job latency ${ms(p95(l.latencies))}; failed ${l.failed}, rejected ${l.rejected}`,
      `${ratio.toFixed(1)}x 1 host${target}`,
    ]);
    if (l.submitOnly)
      rows.push([
        `  baseline: the same ${l.hosts * PER_HOST} submissions, no worker consuming`,
        "",
        `${l.submitOnly.perSec.toFixed(0)} accepted/s (in API: med ${ms(median(l.submitOnly.serverMs))})`,
        `API ${pct(l.submitOnly.apiCpu, l.submitOnly.wallS)}, Redis ${pct(l.submitOnly.redisCpu, l.submitOnly.wallS)} CPU`,
        `fleet rate = ${((rate / l.submitOnly.perSec) * 100).toFixed(0)}% of it`,
      ]);
    rows.push([
      "  where a job's time goes",
      "",
      `all accepted in ${ms(median(l.submitMs))} (in API: med ${ms(median(l.serverMs))}, p95 ${ms(p95(l.serverMs))})`,
      `queued -> started med ${ms(median(l.waits))}, p95 ${ms(p95(l.waits))}`,
      `job latency med ${ms(median(l.latencies))}`,
    ]);
    const ours = l.cpu.redis + l.cpu.api + l.cpu.workers + l.cpu.load;
    rows.push([
      "  the machine over the same window",
      "",
      `${pct(l.cpu.machine, l.wallS)} busy of ${cpus().length * 100}%`,
      `this benchmark ${pct(ours, l.wallS)}, other work on the box ${pct(Math.max(0, l.cpu.machine - ours), l.wallS)}`,
      "",
    ]);
    rows.push([
      `  CPU over the ${l.wallS.toFixed(1)} s measured (1 core = 100%; load avg ${median(l.loadAvg).toFixed(1)} on ${cpus().length} cores)`,
      "",
      `Redis ${pct(l.cpu.redis, l.wallS)}, API ${pct(l.cpu.api, l.wallS)}`,
      `sim workers ${pct(l.cpu.workers, l.wallS)}, load driver ${pct(l.cpu.load, l.wallS)}`,
      `per create: Redis ${((l.cpu.redis / l.creates) * 1000).toFixed(2)} ms, ${(l.commands / l.creates).toFixed(0)} cmds; API ${((l.cpu.api / l.creates) * 1000).toFixed(2)} ms; worker ${((l.cpu.workers / l.creates) * 1000).toFixed(2)} ms`,
    ]);
  }
  // Where Redis spends its time at the largest level (commandstats over the measured windows).
  const topLevel = levels.at(-1) as Level;
  const totalUsec = [...topLevel.cmdStats.values()].reduce((a, v) => a + v.usec, 0);
  const topCmds = [...topLevel.cmdStats.entries()].sort((a, b) => b[1].usec - a[1].usec).slice(0, 6);
  rows.push([
    `  Redis time by command at ${topLevel.hosts} hosts`,
    `${topLevel.creates}`,
    topCmds
      .slice(0, 3)
      .map(([c, v]) => `${c} ${((v.usec / totalUsec) * 100).toFixed(0)}%`)
      .join(", "),
    topCmds
      .slice(3)
      .map(([c, v]) => `${c} ${((v.usec / totalUsec) * 100).toFixed(0)}%`)
      .join(", "),
    `calls per create: ${topCmds.map(([c, v]) => `${c} ${(v.calls / topLevel.creates).toFixed(1)}`).join(", ")}`,
  ]);
  rows.push([
    "  sim 1 host beside the real host (same 20 creates, concurrency 8)",
    "",
    `${baseRate.toFixed(2)} vs ${realMed.toFixed(2)} creates/s`,
    "",
    `${(baseRate / realMed).toFixed(2)}x real`,
  ]);
  // The steps as measured and as the simulation reproduced them (same names, from the job records).
  const simSteps = stepSamples(base.simJobs);
  for (const step of SIMULATED_STEPS) {
    const r = real.samples[step] ?? [];
    const sm = simSteps.get(step) ?? [];
    rows.push([
      `  step '${step}': real / simulated`,
      `${r.length}/${sm.length}`,
      `${ms(median(r))} / ${ms(median(sm))}`,
      `p95 ${ms(p95(r))} / ${ms(p95(sm))}`,
      "",
    ]);
  }
  // What a larger fleet needs: per-create costs at the largest level, scaled to the demand of more hosts.
  const top = levels.at(-1) as Level;
  const perHostRate = baseRate; // creates/s one busy host produces
  const redisMs = (top.cpu.redis / top.creates) * 1000;
  const apiMs = (top.cpu.api / top.creates) * 1000;
  const redisMax = 1000 / redisMs;
  const apiMax = 1000 / apiMs;
  rows.push([
    "  ceiling: Redis (one core) / one API process, at these per-create costs",
    "",
    `${redisMax.toFixed(0)} / ${apiMax.toFixed(0)} creates/s`,
    `= ${(redisMax / perHostRate).toFixed(0)} / ${(apiMax / perHostRate).toFixed(0)} hosts all creating at once`,
    `1,000 hosts busy: ${(1000 * perHostRate).toFixed(0)} creates/s -> ${Math.ceil((1000 * perHostRate) / apiMax)} API processes, Redis ${(((1000 * perHostRate) / redisMax) * 100).toFixed(0)}% of a core`,
  ]);
  return rows;
}
